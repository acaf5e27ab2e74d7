"""PPO for policies over many (robot, task) pairs at once.

Follows CleanRL's `ppo_continuous_action.py` (clipped objective, GAE, value
clipping, advantage normalisation, entropy bonus, gradient clipping, Adam
with eps 1e-5 and a linearly annealed learning rate), plus bootstrapping
from the final observation on time-limit truncation. Every pair runs as its
own batched env; one update trains all modules together, through one flat
parameter buffer (`modrl.flat`) so Adam, clipping and zeroing are one op each.

Reproducible resume: training runs in segments of `checkpoint_every`
updates. Each segment starts by seeding torch and resetting the envs from
(seed, update), and ends with a checkpoint, so a run resumed from its last
checkpoint follows exactly the path of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import random
import time
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import torch
import tyro
from torch import Tensor

from agents.common.contract import APPLIED, EE_MOVE, ActorCriticPolicy, Replay, index_replay, stack_replays
from agents.common.multipair import MultiPairEnv
from agents.common.spec import ObsBatch
from modrl.flat import clip_grad_norm_, flatten_parameters, is_flat
from modrl.io import load_weights, nonfinite, state_dict_mismatch


CHECKPOINT_FORMAT = 2  # 2: one flat parameter buffer, actor and critic layers stacked


@dataclass
class PPOConfig:
    seed: tyro.conf.Suppress[int] = 1
    """seed of torch, numpy and the environments (set by the experiment's --seeds)"""
    total_timesteps: int = 1_000_000
    """environment steps over all pairs"""
    num_envs: int = 16
    """parallel copies of each (robot, task) pair"""
    num_steps: int = 64
    """steps per copy per rollout"""
    learning_rate: float = 1e-3
    """Adam learning rate"""
    anneal_lr: bool = True
    """anneal the learning rate linearly to 0"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 0.95
    """lambda of generalised advantage estimation"""
    num_minibatches: int = 16
    """minibatches per epoch"""
    update_epochs: int = 10
    """epochs over each rollout"""
    norm_adv: bool = True
    """normalise advantages per minibatch"""
    clip_coef: float = 0.2
    """the surrogate clipping coefficient"""
    clip_vloss: bool = True
    """clip the value loss as in PPO2"""
    ent_coef: float = 0.0
    """entropy bonus coefficient"""
    vf_coef: float = 0.5
    """value loss coefficient"""
    max_grad_norm: float = 0.5
    """global gradient norm clip"""
    target_kl: float | None = None
    """stop the epoch loop early past this approximate KL (None: never)"""
    checkpoint_every: int = 10
    """updates per checkpoint (and per reseeded segment)"""
    compile: bool = False
    """`torch.compile` acting and the minibatch loss with its backward. The first run on a machine pays
    the compilation (~20 s on 2 CPU cores), later ones find it in torch's compile cache (~3 s); see
    the README's benchmark. Meant for one pair: banks of several modules route data-dependently and
    fall back to eager between graph pieces. Compiled sampling and dropout draw other random numbers
    than eager, so a compiled run is reproducible but not identical to an eager one."""

    def __post_init__(self) -> None:
        positive = ("total_timesteps", "num_envs", "num_steps", "num_minibatches", "update_epochs", "checkpoint_every")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 < self.gamma <= 1 or not 0 <= self.gae_lambda <= 1:
            raise ValueError(f"gamma must be in (0, 1] and gae_lambda in [0, 1], got {self.gamma}, {self.gae_lambda}")
        if self.learning_rate <= 0 or self.clip_coef <= 0:
            raise ValueError("learning_rate and clip_coef must be positive")
        if not self.max_grad_norm > 0:  # a negative clip flips the gradient: ascent instead of descent
            raise ValueError(f"--ppo.max-grad-norm must be positive, got {self.max_grad_norm}")
        if self.vf_coef < 0 or self.ent_coef < 0:
            raise ValueError(f"--ppo.vf-coef and --ppo.ent-coef must be >= 0, got {self.vf_coef}, {self.ent_coef}")
        if self.target_kl is not None and not self.target_kl > 0:
            raise ValueError(f"--ppo.target-kl must be positive (or None), got {self.target_kl}")


@dataclass
class Rollout:
    """What PPO learns from: [T, N] steps from `collect`, or [B] samples once flattened."""

    obs: ObsBatch
    replay: Replay  # what the policy sampled besides the actions (and PPO kept for it), replayed in the update
    actions: Tensor
    log_probs: Tensor
    values: Tensor
    advantages: Tensor
    returns: Tensor

    def flatten(self) -> "Rollout":
        """[T, N, ...] → [T·N, ...]."""
        flat = lambda t: None if t is None else t.flatten(0, 1)  # noqa: E731
        return Rollout(self.obs.flatten(), {k: flat(v) for k, v in self.replay.items()}, flat(self.actions),
                       flat(self.log_probs),
                       flat(self.values), flat(self.advantages), flat(self.returns))

    def __getitem__(self, index) -> "Rollout":
        pick = lambda t: None if t is None else t[index]  # noqa: E731
        return Rollout(self.obs[index], index_replay(self.replay, index), pick(self.actions), pick(self.log_probs),
                       pick(self.values), pick(self.advantages), pick(self.returns))


class StepStats(NamedTuple):
    """What one minibatch step leaves for the update's summary (detached)."""

    policy_loss: Tensor
    value_loss: Tensor
    entropy: Tensor
    log_ratio: Tensor  # per sample, for approximate KL and clip fraction
    aux: dict[str, Tensor]  # the policy's own losses (`aux_losses`), by name


@dataclass
class EpisodeLog:
    """Episodes that ended, per pair: returns, successes, final distances."""

    returns: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    success: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    distance: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            f"{r}-{t}": {"return": float(np.mean(v)), "success": float(np.mean(self.success[(r, t)])),
                         "distance": float(np.mean(self.distance[(r, t)])), "episodes": len(v)}
            for (r, t), v in self.returns.items()
        }


def gae(rewards: Tensor, values: Tensor, next_value: Tensor, ended: Tensor, gamma: float, lam: float) -> Tensor:
    """Generalised advantage estimates [T, N] of a rollout; `ended[t]` cuts the trace after step t.

    The TD errors are one vectorised expression; the backward recursion runs in numpy, whose
    per-op cost on [N] rows is a fraction of torch's."""
    following = torch.cat([values[1:], next_value.unsqueeze(0)])
    going_on = (~ended).float()
    delta = (rewards + gamma * following * going_on - values).detach().cpu().numpy()
    decay = (gamma * lam * going_on).cpu().numpy()
    advantages = np.empty_like(delta)
    last = np.zeros_like(delta[0])
    for t in range(len(delta) - 1, -1, -1):
        last = advantages[t] = delta[t] + decay[t] * last
    return torch.from_numpy(advantages).to(rewards.device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class TrainingDiverged(ValueError):
    """The loss or the gradient stopped being finite; parameters and checkpoints keep their last finite values."""


class PPO:
    """Trains `policy` on every pair of `envs`; `run_dir` (optional) gets checkpoints and TensorBoard logs."""

    def __init__(self, policy: ActorCriticPolicy, envs: MultiPairEnv, config: PPOConfig, run_dir: str | Path | None = None,
                 progress: bool = True, on_update: Callable[["PPO", Any], None] | None = None) -> None:
        self.policy, self.envs, self.config, self.progress = policy, envs, config, progress
        self.on_update = on_update  # called after each update with (this PPO, its SummaryWriter or None)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.parameters = [p for p in policy.parameters() if p.requires_grad]
        # One flat buffer: zeroing, clipping and Adam run as one op each instead of one per tensor.
        self.flat = flatten_parameters(self.parameters)
        self.optimizer = torch.optim.Adam([self.flat], lr=config.learning_rate, eps=1e-5, fused=True)
        self.batch_size = envs.size * config.num_steps
        self.num_updates = max(1, config.total_timesteps // self.batch_size)
        if config.total_timesteps < self.batch_size:
            warnings.warn(f"--ppo.total-timesteps {config.total_timesteps} is less than one rollout "
                          f"({envs.size} envs x {config.num_steps} steps): training one update of "
                          f"{self.batch_size} steps", stacklevel=2)
        self.minibatch_size = max(1, self.batch_size // config.num_minibatches)
        self.update = 0
        self.history: list[dict] = []
        self._returns = torch.zeros(envs.size, device=envs.device)
        self._starts = torch.ones(envs.size, dtype=torch.bool, device=envs.device)  # rows beginning an episode
        self._wants_ee_move = bool(getattr(policy, "wants_ee_move", False))
        if self._wants_ee_move and not envs.reports_ee_move:
            raise ValueError("this policy learns from the end effector's move (--interface.grounding > 0), which only "
                             "the arms suites report; set --interface.grounding 0 on this suite")
        self._pair_of_row = envs.pair_of_row()
        # cpp_wrapper: the compiled graphs are called from C++, not Python (~10% less per call on one pair)
        compiled = lambda fn: torch.compile(fn, options={"cpp_wrapper": True})  # noqa: E731
        self._loss = compiled(self._losses) if config.compile else self._losses
        self._acting = compiled(self._act) if config.compile else self._act

    # -- checkpoints ------------------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path | None:
        return self.run_dir / "checkpoint.pt" if self.run_dir is not None else None

    def save_checkpoint(self) -> None:
        if self.checkpoint_path is None:
            return
        if not bool(torch.isfinite(self.flat).all()):
            raise TrainingDiverged(f"update {self.update}: parameters are not finite; not writing "
                                   f"{self.checkpoint_path}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        state = {"format": CHECKPOINT_FORMAT, "policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "update": self.update,
                 "config": json.dumps(asdict(self.config)), "history": json.dumps(self.history)}
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)  # atomic: a kill never leaves half a checkpoint

    def load_checkpoint(self) -> bool:
        """Continue from the last checkpoint, if there is one; True when it was loaded. A checkpoint that is
        truncated, holds pickled objects, is of other sizes or damaged is one ValueError naming it, raised
        before anything of this run changes."""
        path = self.checkpoint_path
        if path is None or not path.exists():
            return False
        state = load_weights(path, "a PPO checkpoint")  # weights_only: never runs code from the file
        damaged = f"cannot resume: {path} is damaged"
        if not isinstance(state, dict) or not isinstance(state.get("config"), str):
            raise ValueError(f"{damaged}: it has no run config (is it a PPO checkpoint?)")
        try:
            saved, history = json.loads(state["config"]), json.loads(state.get("history", "[]"))
        except (json.JSONDecodeError, TypeError) as error:
            raise ValueError(f"{damaged}: its config or history is not JSON ({error})") from None
        if not isinstance(saved, dict) or not isinstance(history, list):
            raise ValueError(f"{damaged}: its config is not a JSON object or its history not a list")
        for key in ("seed", "num_envs", "num_steps", "checkpoint_every"):
            if key in saved and saved[key] != getattr(self.config, key):
                raise ValueError(f"cannot resume: {path} has {key}={saved[key]}, this run {getattr(self.config, key)}")
        if state.get("format") != CHECKPOINT_FORMAT:  # e.g. per-tensor Adam state, or unstacked actor-critic layers
            raise ValueError(f"cannot resume: {path} was written by an earlier modrl whose parameter "
                             "layout differs; start the run again")
        optimizer = state.get("optimizer")
        if not isinstance(state.get("policy"), dict) or not isinstance(optimizer, dict) \
                or not isinstance(optimizer.get("param_groups"), list) or not isinstance(optimizer.get("state"), dict) \
                or not isinstance(state.get("update"), int):
            raise ValueError(f"{damaged}: it lacks the policy's weights, the optimizer's state or the update number")
        problem = state_dict_mismatch(state["policy"], {k: v.shape for k, v in self.policy.state_dict().items()})
        groups = [len(g.get("params", ())) if isinstance(g, dict) else None for g in optimizer["param_groups"]]
        if problem is None and groups != [len(g["params"]) for g in self.optimizer.param_groups]:
            problem = f"its optimizer has parameter groups of {groups} tensors, this run's optimizer " \
                      f"{[len(g['params']) for g in self.optimizer.param_groups]}"
        moments = [v for s in optimizer["state"].values() if isinstance(s, dict) for v in s.values()
                   if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape != self.flat.shape]
        if problem is None and moments:
            problem = f"its optimizer state is for {moments[0].numel()} parameters, this run trains {self.flat.numel()}"
        if problem is not None:
            raise ValueError(f"cannot resume: {path} holds a network of other sizes or layout than this policy "
                             f"(start it as the run began, e.g. with its --interface.width): {problem}")
        problem = nonfinite(state["policy"])
        if problem is not None:
            raise ValueError(f"{damaged}: its policy's {problem}")
        try:
            self.policy.load_state_dict(state["policy"])
            self.optimizer.load_state_dict(optimizer)
        except (RuntimeError, ValueError, KeyError, TypeError) as error:  # checked above; whatever is left
            detail = next((line.strip() for line in str(error).splitlines()[1:] if line.strip()), str(error).strip())
            raise ValueError(f"{damaged}: {detail}") from None
        self.update, self.history = state["update"], history
        return True

    # -- training ---------------------------------------------------------------------------

    def train(self, resume: bool = False) -> list[dict]:
        """Run (or, with `resume`, continue) training; returns one summary dict per update."""
        from torch.utils.tensorboard import SummaryWriter
        from tqdm.auto import tqdm

        if resume:
            self.load_checkpoint()
        writer = None
        if self.run_dir is not None:  # on resume, drop what the interrupted run logged past its checkpoint
            writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.update * self.batch_size if resume else None)
            writer.add_text("hyperparameters", "|setting|value|\n|-|-|\n" + "\n".join(
                f"|{key}|{value}|" for key, value in asdict(self.config).items()))
        bar = tqdm(total=self.num_updates, initial=self.update, disable=not self.progress, desc="ppo", unit="update")
        obs = None
        try:
            while self.update < self.num_updates:
                if self.update % self.config.checkpoint_every == 0 or obs is None:
                    seed = self.config.seed * 1_000_003 + self.update
                    seed_everything(seed)
                    obs = self.envs.reset(seed)
                    self._returns.zero_()
                    self._starts.fill_(True)
                if self.config.anneal_lr:
                    frac = 1.0 - self.update / self.num_updates
                    self.optimizer.param_groups[0]["lr"] = frac * self.config.learning_rate
                start = time.perf_counter()
                rollout, obs, episodes = self.collect(obs)
                losses = self.learn(rollout)
                self.update += 1
                record = {"update": self.update, "global_step": self.update * self.batch_size,
                          "sps": self.batch_size / (time.perf_counter() - start), **losses,
                          "pairs": episodes.summary(), "scalars": self._policy_scalars(rollout)}
                self.history.append(record)
                self._log(writer, record)
                if self.on_update is not None:
                    self.on_update(self, writer)
                bar.update(1)
                bar.set_postfix(self._postfix(record))
                if self.update % self.config.checkpoint_every == 0 or self.update == self.num_updates:
                    self.save_checkpoint()
        finally:
            bar.close()
            if writer is not None:
                writer.close()
        return self.history

    @torch.no_grad()
    def collect(self, obs: ObsBatch) -> tuple[Rollout, ObsBatch, EpisodeLog]:
        cfg, policy = self.config, self.policy
        policy.eval()  # acting: only what `draw` samples is random besides the action
        observations, replays, actions, log_probs, values, rewards, ended = [], [], [], [], [], [], []
        episodes = EpisodeLog()
        for _ in range(cfg.num_steps):
            replay = policy.draw(obs, self._starts)
            action, log_prob, value = self._acting(obs, replay)
            step = self.envs.step(action)
            reward = step.reward
            if step.final_obs is not None:  # episodes ended: bootstrap a time-limit cut from its final observation
                truncated_only = step.truncated & ~step.terminated
                if truncated_only.any():
                    final_values = policy.distribution(step.final_obs, index_replay(replay, step.ended)).value
                    reward = reward.clone()
                    reward[step.ended.nonzero().flatten()] += cfg.gamma * final_values * truncated_only[step.ended].float()
            if self._wants_ee_move:  # what the action did, for a policy that learns from it (contract.EE_MOVE)
                replay = replay | {EE_MOVE: step.ee_move, APPLIED: action.clamp(-1, 1)}
            observations.append(obs), replays.append(replay)
            actions.append(action), log_probs.append(log_prob)
            values.append(value), rewards.append(reward), ended.append(step.ended)
            self._record(step, episodes)
            obs, self._starts = step.obs, step.ended
        next_value = policy.distribution(obs, policy.draw(obs, self._starts)).value  # held choices, as acting would
        values_t, rewards_t, ended_t = torch.stack(values), torch.stack(rewards), torch.stack(ended)
        advantages = gae(rewards_t, values_t, next_value, ended_t, cfg.gamma, cfg.gae_lambda)
        rollout = Rollout(ObsBatch.stack(observations), stack_replays(replays), torch.stack(actions), torch.stack(log_probs),
                          values_t, advantages, advantages + values_t)
        return rollout, obs, episodes

    def _act(self, obs: ObsBatch, replay: Replay) -> tuple[Tensor, Tensor, Tensor]:
        """One acting step of the policy: (sampled action, its log-probability, value)."""
        dist = self.policy.distribution(obs, replay)
        action = dist.sample()
        return action, dist.log_prob(action), dist.value

    def _record(self, step, episodes: EpisodeLog) -> None:
        self._returns += step.reward
        if step.final_obs is None:  # no episode ended
            return
        for row in step.ended.nonzero().flatten().tolist():
            pair = self._pair_of_row[row]
            episodes.returns[pair].append(float(self._returns[row]))
            episodes.success[pair].append(float(step.success[row]))
            episodes.distance[pair].append(float(step.distance[row]))
        self._returns[step.ended] = 0.0

    def learn(self, rollout: Rollout) -> dict[str, float]:
        cfg, policy = self.config, self.policy
        if [p for p in policy.parameters() if p.requires_grad] != self.parameters or not is_flat(self.parameters, self.flat):
            raise RuntimeError("the policy's parameters no longer view PPO's flat buffer (was zero_grad(set_to_none=True), "
                               ".to() or load_state_dict(assign=True) called on the policy, or another PPO built on it?)")
        policy.train()  # the update: dropout modules active unless masks are replayed
        batch = rollout.flatten()
        stats: list[StepStats] = []
        for _ in range(cfg.update_epochs):
            order = torch.randperm(self.batch_size, device=self.envs.device)
            shuffled = batch[order]  # one gather per epoch; minibatches are slices
            for start in range(0, self.batch_size, self.minibatch_size):
                stats.append(self._minibatch_step(shuffled[start : start + self.minibatch_size]))
            if cfg.target_kl is not None and self._summary(stats[-cfg.num_minibatches:])["approx_kl"] > cfg.target_kl:
                break
        spread = batch.returns.var() if self.batch_size > 1 else torch.zeros(())
        explained = float(1 - (batch.returns - batch.values).var() / spread) if spread > 0 else float("nan")
        return self._summary(stats) | {"explained_variance": explained}

    def _minibatch_step(self, mb: Rollout) -> StepStats:
        """One gradient step on a minibatch."""
        loss, stats = self._loss(mb)
        self.flat.grad.zero_()
        loss.backward()
        norm = clip_grad_norm_(self.flat, self.config.max_grad_norm)
        if not bool(torch.isfinite(loss) & torch.isfinite(norm)):
            self._diverged(loss, norm)
        self.optimizer.step()
        return stats

    def _diverged(self, loss: Tensor, norm: Tensor) -> None:
        what = "loss" if not bool(torch.isfinite(loss)) else "gradient norm"
        kept = (f"; the last good checkpoint (update {self.update // self.config.checkpoint_every * self.config.checkpoint_every}) "
                f"is kept in {self.run_dir}" if self.run_dir is not None else "")
        raise TrainingDiverged(f"update {self.update + 1}: the PPO {what} is {float(loss if what == 'loss' else norm)}"
                               f"{kept}; try a lower --ppo.learning-rate")

    def _losses(self, mb: Rollout) -> tuple[Tensor, StepStats]:
        """The PPO loss of a minibatch and its parts (what `config.compile` compiles)."""
        cfg = self.config
        dist = self.policy.distribution(mb.obs, mb.replay)
        log_ratio = dist.log_prob(mb.actions) - mb.log_probs
        ratio = log_ratio.exp()
        adv = mb.advantages
        if cfg.norm_adv and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef)).mean()
        value = dist.value
        if cfg.clip_vloss:
            clipped = mb.values + (value - mb.values).clamp(-cfg.clip_coef, cfg.clip_coef)
            v_loss = 0.5 * torch.max((value - mb.returns) ** 2, (clipped - mb.returns) ** 2).mean()
        else:
            v_loss = 0.5 * ((value - mb.returns) ** 2).mean()
        entropy = dist.entropy().mean()
        loss = pg_loss - cfg.ent_coef * entropy + cfg.vf_coef * v_loss
        aux = self.policy.aux_losses(mb.obs, dist, mb.replay, adv)  # e.g. dropout consistency
        for extra in aux.values():
            loss = loss + extra
        return loss, StepStats(pg_loss.detach(), v_loss.detach(), entropy.detach(), log_ratio.detach(),
                               {name: term.detach() for name, term in aux.items()})

    def _summary(self, stats: list[StepStats]) -> dict[str, float]:
        """Mean losses over minibatches; approximate KL and clip fraction over their samples
        (computed here, once, rather than in every minibatch)."""
        losses = torch.stack([torch.stack([s.policy_loss, s.value_loss, s.entropy]) for s in stats]).mean(0).tolist()
        log_ratio = torch.cat([s.log_ratio for s in stats])
        ratio = log_ratio.exp()
        aux = {f"aux/{name}": float(torch.stack([s.aux[name] for s in stats]).mean()) for name in stats[0].aux}
        return {**dict(zip(("policy_loss", "value_loss", "entropy"), losses)), **aux,
                "approx_kl": float(((ratio - 1) - log_ratio).mean()),
                "clipfrac": float(((ratio - 1).abs() > self.config.clip_coef).float().mean())}

    def _policy_scalars(self, rollout: Rollout) -> dict[str, float]:
        """A policy's own figures about a rollout (e.g. what its routers chose), if it offers
        `rollout_scalars(obs, replay)`; logged to TensorBoard under their names."""
        scalars = getattr(self.policy, "rollout_scalars", None)
        return {} if scalars is None else scalars(rollout.obs, rollout.replay)

    def _log(self, writer, record: dict) -> None:
        if writer is None:
            return
        step = record["global_step"]  # CleanRL's tags where they apply, so its plotting tools read the runs
        for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "explained_variance"):
            writer.add_scalar(f"losses/{key}", record[key], step)
        for key in (k for k in record if k.startswith("aux/")):  # the policy's own losses
            writer.add_scalar(f"losses/{key[4:]}", record[key], step)
        writer.add_scalar("charts/SPS", record["sps"], step)
        writer.add_scalar("charts/learning_rate", self.optimizer.param_groups[0]["lr"], step)
        pairs = record["pairs"]
        if pairs:
            episodes = sum(s["episodes"] for s in pairs.values())
            writer.add_scalar("charts/episodic_return", sum(s["return"] * s["episodes"] for s in pairs.values()) / episodes,
                              step)
        for pair, s in pairs.items():
            writer.add_scalar(f"return/{pair}", s["return"], step)
            writer.add_scalar(f"success/{pair}", s["success"], step)
        for name, value in record.get("scalars", {}).items():
            writer.add_scalar(name, value, step)

    @staticmethod
    def _postfix(record: dict) -> dict[str, str]:
        pairs = record["pairs"].values()
        if not pairs:
            return {"sps": f"{record['sps']:.0f}"}
        return {"success": f"{np.mean([p['success'] for p in pairs]):.2f}",
                "return": f"{np.mean([p['return'] for p in pairs]):.1f}", "sps": f"{record['sps']:.0f}"}
