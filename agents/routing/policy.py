"""Learned routing over every (robot, task) pair of a suite, through the policy contract.

A `RoutedPolicy` reads the padded robot and task observations (as `MonolithicPolicy` does). The
actor runs them through a trunk of routed layers, each a bank of modules (linear + tanh) with its
own router, then a per-robot actor-critic head (fixed routing on the robot id, as the robot
modules of `ModularPolicy`). The routers read the pair's robot and task embeddings
(`MetadataEmbedding`) and, with `per="step"`, the layer's input. The critic reads the same
observations and one-hot ids through one unrouted layer into the head's critic part: a routing
choice is an action, and a baseline that saw the choice would cancel its advantage.

How the routers choose and learn (`router` × `trainer`):
  flat or hierarchical hard routing, "ppo": the choices are sampled in `draw`, replayed in the update,
      and their log-probability joins the action's in PPO's ratio (Chang et al., 2019);
  flat or hierarchical hard routing, "reinforce": the path is fixed as replayed for PPO, and the
      routers learn by REINFORCE on the step's advantage minus a per-pair running mean
      (Rosenbaum et al., 2018);
  soft routing, "gradient": softmax weights every step, learned end to end through PPO's loss
      (soft modularization, Yang et al., 2020);
  gumbel, "gradient": hard choices sampled and replayed as above, learned end to end by the
      straight-through estimator (the chosen module's weight is 1 forward, its probability's
      gradient backward);
  topk, "gradient": the k best-scored modules, softmax-weighted, learned end to end (no sampling).
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agents.common.contract import ActionDist, Replay
from agents.common.hold import EpisodeHold
from agents.common.spec import ObsBatch, SuiteSpec
from agents.rl.policies import MASKS
from agents.common.routing_config import RoutingConfig
from agents.routing.factors import factorisation
from agents.routing.routers import (
    FactoredHierarchicalRouter, FactoredRouter, MetadataEmbedding, SoftFactoredRouter, TopKFactoredRouter,
    hard_routing, sample, straight_through,
)
from modrl import MLP, FixedRouter, ModuleBank, RewardBaseline, RoutedLayer, RoutedNetwork, Routing, Sequential
from modrl import WeightedSum
from modrl import collaboration_reward
from modrl.bank import SLICED_ROWS

ROUTING = "routing"  # the replay key of the sampled choices: [B, layers] module indices
DRAWN = "drawn"  # per-episode routing: [B] bool, the rows that drew their path at this step
ROUTERS = ("flat", "hierarchical", "soft", "gumbel", "topk")
TRAINERS = {"flat": ("ppo", "reinforce"), "hierarchical": ("ppo", "reinforce"), "soft": ("gradient",),
            "gumbel": ("gradient",), "topk": ("gradient",)}
SAMPLED = ("flat", "hierarchical", "gumbel")  # routers whose choices are sampled in `draw` and replayed


class RoutedDist(ActionDist):
    """An `ActionDist` that keeps the routing it was computed with: one `Routing` and one [B, M]
    table per layer, log-probabilities (hard routing) or weights (soft), which the routing losses read."""

    def __init__(self, *args, routings: list[Routing], probs: list[Tensor], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.routings, self.probs = routings, probs


class RoutedPolicy(nn.Module):
    """A routed actor trunk over padded (robot, task) observations, an unrouted critic layer, and a
    per-robot actor-critic head.

    `router`: "flat", "hierarchical" (hard choices) or "soft" (weights); `trainer`: "ppo" or
    "reinforce" for hard routing, "gradient" for soft. `name` is the registered policy name it was
    built as (kept in its files)."""

    def __init__(self, spec: SuiteSpec, config: RoutingConfig | None = None, router: str = "flat",
                 trainer: str = "ppo", name: str = "routed-ppo") -> None:
        super().__init__()
        if router not in ROUTERS:
            raise ValueError(f"unknown router {router!r}; valid: {list(ROUTERS)}")
        if trainer not in TRAINERS[router]:
            raise ValueError(f"{router} routing trains by {list(TRAINERS[router])}, not {trainer!r}")
        self.spec, self.config = spec, config or RoutingConfig()
        self.router_kind, self.trainer, self.name = router, trainer, name
        self.hard = router in SAMPLED
        groups = self.config.hierarchical.groups
        if router == "hierarchical" and self.config.modules % groups:
            raise ValueError(f"--routing.hierarchical.groups {groups} must divide --routing.modules {self.config.modules}")
        if not self.hard and self.config.per == "episode":
            raise ValueError(f"{router} routing samples no path to hold for an episode: use --routing.per pair or step")
        cfg = self.config
        self.embedding = MetadataEmbedding(len(spec.robots), len(spec.tasks), cfg.embedding_dim, cfg.combine,
                                           cfg.router_lr_scale)
        self.baseline = RewardBaseline(len(spec.robots) * len(spec.tasks), cfg.reinforce.baseline_momentum)
        self.register_buffer("action_masks", spec.action_masks().float(), persistent=False)
        self._held = EpisodeHold("per-episode routing's path")  # each env copy's path, to its episode's end
        self._build()

    def _build(self) -> None:
        """The generic layout: routed layers over the padded observations, a per-robot head, a critic layer."""
        spec, cfg = self.spec, self.config
        obs_width, h = spec.robot_width + spec.task_width, cfg.hidden
        layers = [self._routed_layer(ModuleBank("mlp", cfg.modules, in_features=obs_width if i == 0 else h,
                                                out_features=h, hidden=[], final_activation=True))
                  for i in range(cfg.layers)]
        self.trunk = RoutedNetwork(layers, activation="identity")  # each module applies its own tanh
        self.critic = MLP(obs_width + len(spec.robots) + len(spec.tasks), h, hidden=[], final_activation=True)
        head = ModuleBank("actor_critic", len(spec.robots), actor_in=h, critic_in=h, shared_in=spec.robot_width,
                          actor_out=spec.action_width, critic_out=1, hidden=[cfg.head_hidden],
                          log_std=not spec.discrete)
        self.head = RoutedLayer(head, FixedRouter.one_per_task(len(spec.robots)), Sequential())

    def _routed_layer(self, bank: ModuleBank) -> RoutedLayer:
        """A routed layer over `bank` (orthogonal init, sliced grouped dispatch) with a router of this policy's kind."""
        bank.slice_from = SLICED_ROWS  # per-step routing sends whole minibatches through grouped dispatch
        _orthogonal(bank)
        learns_from_weights = self.router_kind in ("soft", "gumbel", "topk")
        return RoutedLayer(bank, self._router(bank.in_features), WeightedSum() if learns_from_weights else Sequential())

    def _router(self, width: int) -> FactoredRouter | FactoredHierarchicalRouter:
        cfg = self.config
        reads = width if cfg.per == "step" else 0
        state = "add" if self.hard else "multiply"  # soft modularization: state feature ⊙ embedding

        def make(n: int, cls: type = FactoredRouter) -> FactoredRouter:
            return cls(n, self.embedding, reads, state, cfg.epsilon, cfg.router_lr_scale)

        if self.router_kind == "soft":
            return make(cfg.modules, SoftFactoredRouter)
        if self.router_kind == "topk":
            return TopKFactoredRouter(cfg.modules, self.embedding, reads, cfg.top_k, cfg.router_lr_scale)
        if self.router_kind == "hierarchical":
            groups = cfg.hierarchical.groups
            return FactoredHierarchicalRouter(make(groups), [make(cfg.modules // groups) for _ in range(groups)],
                                              cfg.epsilon)
        return make(cfg.modules)

    # -- the policy contract -----------------------------------------------------------------

    def draw(self, obs: ObsBatch, starts: Tensor | None = None) -> Replay:
        """Hard routing: one module per layer and row, sampled (ε-greedy) to act with; soft: nothing.

        `per="episode"`: rows in `starts` (all of them when None) draw a path, the others keep the
        one their episode started with; `DRAWN` marks the rows that drew."""
        replay = self.draw_interface(obs)
        if not self.hard:
            return replay
        if self.config.per == "step":
            _, routings, _ = self.trunk_forward(obs, None, sampled=True, scored=False, masks=replay.get(MASKS))
            return replay | {ROUTING: torch.cat([r.indices for r in routings], 1)}
        meta = self.meta(obs)  # the routers read metadata only: no module needs to run
        context = self.embedding(meta)
        fresh = torch.stack([sample(layer.router.log_probs(None, meta, context), self.config.epsilon)
                             for layer in self.trunk.layers], 1)
        if self.config.per == "pair":
            return replay | {ROUTING: fresh}
        held, drawn = self._held(fresh, starts)
        return replay | {ROUTING: held, DRAWN: drawn}

    def draw_interface(self, obs: ObsBatch) -> Replay:
        """What the layout samples besides routing (the two-stage layout's interface masks; here nothing)."""
        return {}

    def distribution(self, obs: ObsBatch, replay: Replay) -> RoutedDist:
        """The action distribution given the replayed choices (none: each router's likeliest module).
        With trainer "ppo", the replayed choices' log-probability joins the action's (per episode: only
        on the rows that drew their path at that step)."""
        choices = replay.get(ROUTING) if self.hard else None
        h, routings, probs = self.trunk_forward(obs, choices, sampled=False, masks=replay.get(MASKS))
        params, value, log_std = self.outputs(h, obs, routings)
        choice_log_prob = None
        if choices is not None and self.trainer == "ppo":
            choice_log_prob = torch.stack([r.log_probs for r in routings]).sum(0)
            if DRAWN in replay:
                choice_log_prob = choice_log_prob * replay[DRAWN].to(choice_log_prob)
        mask = self.action_masks.index_select(0, obs.robot_ids)
        return RoutedDist(params, value, mask, self.spec.discrete, log_std, choice_log_prob,
                          routings=routings, probs=probs)

    def outputs(self, h: Tensor, obs: ObsBatch, routings: list[Routing]) -> tuple[Tensor, Tensor, Tensor | None]:
        """(action parameters [B, A], value [B], log std [B, A] or None) from the trunk's output."""
        out, _ = self.head(torch.cat([h, self.critic_features(obs), obs.robot], -1), obs.robot_ids)
        log_std = None if self.spec.discrete else self.head.bank.stacked()["log_std"].index_select(0, obs.robot_ids)
        return out[:, :-1], out[:, -1], log_std

    def aux_losses(self, obs: ObsBatch, dist: RoutedDist, replay: Replay,
                   advantages: Tensor | None = None) -> dict[str, Tensor]:
        """Routing losses: entropy bonus, load balancing, and for hard routing learned by REINFORCE
        (or given a collaboration reward) the score-function loss on the replayed choices.
        `advantages`: the minibatch advantages as PPO's surrogate uses them (REINFORCE's reward)."""
        cfg, losses = self.config, {}
        if cfg.entropy_coef:
            losses["routing_entropy"] = -cfg.entropy_coef * torch.stack([r.entropy.mean() for r in dist.routings]).mean()
        if cfg.balance_coef:
            losses["load_balance"] = cfg.balance_coef * torch.stack(
                [balance(r, p) for r, p in zip(dist.routings, dist.probs)]).mean()
        if not self.hard or ROUTING not in replay or (self.trainer != "reinforce" and not cfg.collaboration):
            return losses
        log_probs = torch.stack([r.log_probs for r in dist.routings], 1)  # [B, L]
        # per episode, a path is one choice: only the rows that drew it score it (with the advantage there)
        drawn = replay[DRAWN].bool() if DRAWN in replay else torch.ones_like(log_probs[:, 0], dtype=torch.bool)
        rewards = torch.zeros_like(log_probs)
        if cfg.collaboration:
            rewards = rewards + torch.stack([collaboration_reward(r.indices, cfg.modules, cfg.collaboration)
                                             for r in dist.routings], 1)
        if self.trainer == "reinforce":
            if advantages is None:
                raise ValueError("REINFORCE routing learns from the minibatch advantages: pass them to aux_losses")
            pairs = obs.robot_ids * len(self.spec.tasks) + obs.task_ids
            rewards = rewards + advantages.detach().unsqueeze(1)
            baseline = self.baseline(pairs, pairs.shape[0]).unsqueeze(1)
            self.baseline.update(rewards.mean(1)[drawn], pairs[drawn])
            losses["reinforce"] = -cfg.reinforce.coef * _mean_over(((rewards - baseline).detach() * log_probs).sum(1), drawn)
        elif cfg.collaboration:
            losses["collaboration"] = -_mean_over((rewards.detach() * log_probs).sum(1), drawn)
        return losses

    def banks(self) -> dict[str, tuple[ModuleBank, tuple[str, ...]]]:
        """The per-robot heads, by robot (what `save_modules` writes; the routed layers, the critic layer
        and the routers are written by `agents.routing.files.save_routed`, which reads `routed_banks`)."""
        return {"robot": (self.head.bank, self.spec.robots)}

    @torch.no_grad()
    def rollout_scalars(self, obs: ObsBatch, replay: Replay) -> dict[str, float]:
        """What the routing sampled in a rollout looks like, per layer, for TensorBoard: the entropy
        of the chosen module and the shares of it the robot, the task and the pair explain
        (`agents.routing.factors`; left out when every row took one module), counted per step. Soft
        routing samples nothing: {}."""
        if ROUTING not in replay:
            return {}
        choices = replay[ROUTING].reshape(-1, len(self.trunk.layers))
        tasks = len(self.spec.tasks)
        pair_of_row = (obs.robot_ids * tasks + obs.task_ids).reshape(-1)
        present, rows = torch.unique(pair_of_row, return_inverse=True)
        pairs = [(self.spec.robots[int(p) // tasks], self.spec.tasks[int(p) % tasks]) for p in present]
        scalars = {}
        for i in range(choices.shape[1]):
            counts = torch.zeros(len(pairs), self.config.modules, device=choices.device)
            counts.index_put_((rows, choices[:, i]), torch.ones_like(rows, dtype=counts.dtype), accumulate=True)
            shares = factorisation((counts / counts.sum(1, keepdim=True)).cpu().numpy(), pairs)
            scalars |= {f"routing/layer{i}/{k}": v for k, v in shares.items()
                        if not k.endswith("accuracy") and math.isfinite(v)}  # NaN: nothing to explain, left out
        return scalars

    def save_files(self, directory: Any, suite: str) -> list:
        """Every module, one file each, and the routers (`agents.routing.files.save_routed`)."""
        from agents.routing.files import save_routed  # it imports this module
        return save_routed(self, directory, suite)

    def routed_banks(self) -> dict[str, tuple[ModuleBank, tuple[str, ...]]]:
        """Every bank: "layer0" … "layer{L-1}" (modules "module0" …) and the "robot" heads."""
        names = tuple(f"module{j}" for j in range(self.config.modules))
        return {f"layer{i}": (layer.bank, names) for i, layer in enumerate(self.trunk.layers)} | self.banks()

    # -- the network -------------------------------------------------------------------------

    @staticmethod
    def meta(obs: ObsBatch) -> Tensor:
        """The routers' metadata ids: [B, 2] (robot id, task id)."""
        return torch.stack([obs.robot_ids, obs.task_ids], 1)

    def critic_features(self, obs: ObsBatch) -> Tensor:
        """The critic's unrouted layer on the observations and one-hot ids: [B, hidden]."""
        return self.critic(torch.cat([obs.robot, obs.task, F.one_hot(obs.robot_ids, len(self.spec.robots)).float(),
                                      F.one_hot(obs.task_ids, len(self.spec.tasks)).float()], -1))

    def trunk_forward(self, obs: ObsBatch, choices: Tensor | None, sampled: bool, scored: bool = True,
                      masks: Tensor | None = None) -> tuple[Tensor, list[Routing], list[Tensor]]:
        """(actor trunk output [B, hidden], each layer's `Routing`, each layer's [B, M] routing
        probabilities (log-probabilities for hard routing)).

        Hard routing takes `choices` [B, L] when given, else samples (`sampled`) or takes each
        router's likeliest module; `scored=False` leaves the chosen modules' log-probabilities and the
        entropy out (acting needs only the choices); `masks`: the replayed interface masks (two-stage)."""
        meta, h = self.meta(obs), self.trunk_input(obs)
        context = self.embedding(meta)  # one embedding lookup for every layer's router
        routings, probs = [], []
        for i, layer in enumerate(self.trunk.layers):
            reads = h if self.config.per == "step" else None
            if self.hard:
                # the routers learn from log-probabilities only: no routing gradient into the modules
                p = layer.router.log_probs(None if reads is None else reads.detach(), meta, context)
                if choices is not None:
                    picked, epsilon = choices[:, i], self.config.epsilon
                elif sampled:
                    picked, epsilon = sample(p, self.config.epsilon), self.config.epsilon
                else:
                    picked, epsilon = p.argmax(-1), 0.0
                routing = hard_routing(p, picked, epsilon) if scored else Routing(indices=picked.unsqueeze(1))
                if self.router_kind == "gumbel":
                    routing.weights = straight_through(p, picked)
            else:
                routing = layer.router.route(reads, meta, context)
                p = routing.dense_weights(self.config.modules)
            h, _ = layer(h, routing=routing)
            h = self.between(i, h, obs, masks)
            routings.append(routing), probs.append(p)
        return h, routings, probs

    def trunk_input(self, obs: ObsBatch) -> Tensor:
        """The first routed layer's input: the padded robot and task observations."""
        return torch.cat([obs.robot, obs.task], -1)

    def between(self, i: int, h: Tensor, obs: ObsBatch, masks: Tensor | None) -> Tensor:
        """Layer `i`'s output as the next layer reads it (the generic trunk passes it on)."""
        return h

    def routing(self, obs: ObsBatch, replay: Replay | None = None) -> list[Routing]:
        """Each layer's routing on `obs`: the replayed choices, or without them the evaluation routing."""
        with torch.no_grad():
            return self.trunk_forward(obs, (replay or {}).get(ROUTING) if self.hard else None, sampled=False)[1]

    def describe(self) -> dict[str, Any]:
        """The settings a result record carries, so runs of other settings are never pooled."""
        flat = {}
        for key, value in asdict(self.config).items():
            if isinstance(value, dict):
                flat |= {f"routing_{key}_{k}": v for k, v in value.items()}
            else:
                flat[f"routing_{key}"] = value
        return {"routing_router": self.router_kind, "routing_trainer": self.trainer, **flat}


def _mean_over(values: Tensor, rows: Tensor) -> Tensor:
    """The mean of `values` [B] over the rows `rows` [B] bool (0 when there are none)."""
    return (values * rows.to(values)).sum() / rows.sum().clamp(min=1)


def balance(routing: Routing, probs: Tensor) -> Tensor:
    """Switch-style load balancing of one layer: M · Σᵢ fᵢ Pᵢ, fᵢ the share of rows routed to module i
    (the mean weight for soft and top-k routing), Pᵢ the mean probability (weight) of module i; 1 when
    balanced."""
    m = probs.shape[1]
    if routing.log_probs is not None:  # a sampled choice per row: `probs` are log-probabilities
        probs = probs.exp()
        share = torch.bincount(routing.indices[:, 0], minlength=m).to(probs) / probs.shape[0]
    else:  # soft or top-k weights
        share = routing.dense_weights(m).mean(0).detach()
    return m * (share * probs.mean(0)).sum()


@torch.no_grad()
def _orthogonal(bank: ModuleBank, gain: float = 2 ** 0.5) -> None:
    """Orthogonal weights (gain √2, CleanRL's hidden layers) and zero biases for every module of a bank."""
    for name, param in zip(bank._names, bank.params):
        for module in param:
            nn.init.orthogonal_(module, gain) if name.endswith("weight") else nn.init.zeros_(module)


def routing_config(cfg: Any) -> RoutingConfig:
    """The experiment's routing settings (`cfg.routing`), or the defaults when it has none."""
    config = getattr(cfg, "routing", None)
    return config if isinstance(config, RoutingConfig) else RoutingConfig()


def make_policy(spec: SuiteSpec, config: RoutingConfig, router: str, trainer: str, name: str,
                interface: Any = None) -> RoutedPolicy:
    """The routed policy of `config.layout` (the two-stage one reads the `interface` settings)."""
    if config.layout == "two-stage":
        from agents.routing.two_stage import TwoStageRoutedPolicy  # it subclasses RoutedPolicy
        return TwoStageRoutedPolicy(spec, config, router, trainer, name, interface)
    return RoutedPolicy(spec, config, router, trainer, name)


def build(name: str, router: str, trainer: str | None = None):
    """A policy builder `build(spec, cfg)` for the registry."""

    def builder(spec: SuiteSpec, cfg: Any) -> RoutedPolicy:
        config = routing_config(cfg)
        return make_policy(spec, config, router, trainer or config.hierarchical.trainer, name,
                           getattr(cfg, "interface", None))

    builder.__doc__ = f"Learned routing: {router} routers trained by {trainer or '--routing.hierarchical.trainer'}."
    return builder

