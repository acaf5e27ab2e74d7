"""Routers that read factored metadata: one embedding per robot id and one per task id.

A pair's routing context is its robot embedding and its task embedding, added or concatenated, so a
(robot, task) pair never trained together still gets a routing from two embeddings that each
trained with other partners. Metadata ids are a [B, 2] long tensor: (robot id, task id).

Every router here gives log-probabilities over the M modules of its layer (`log_probs`), which is
all that sampling, replaying, ε-greedy and REINFORCE / PPO need; the soft one gives weights.
`forward(x, ids)` is the core's `Router` contract (sampled in training mode, greedy in eval mode),
so these routers also drive a plain `RoutedNetwork` or sit inside a `HierarchicalRouter`.

`scale`: parameters are stored divided by it and multiplied back in the forward pass, so Adam
(invariant to the scale of a gradient) moves them `scale` times as fast as the rest of the policy:
a router learning rate apart without a second optimizer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modrl import HierarchicalRouter, Router, Routing
from modrl.routers.base import entropy_of

COMBINES = ("add", "concat")


def check_meta(meta: Tensor | None, batch: int | None = None) -> Tensor:
    if meta is None or meta.dim() != 2 or meta.shape[1] != 2 or meta.dtype.is_floating_point:
        raise ValueError(f"metadata ids must be a [B, 2] integer tensor (robot id, task id), "
                         f"got {None if meta is None else (tuple(meta.shape), meta.dtype)}")
    if batch is not None and meta.shape[0] != batch:
        raise ValueError(f"metadata ids have {meta.shape[0]} rows, inputs {batch}")
    return meta.long()


class ScaledLinear(nn.Module):
    """A linear layer whose parameters are stored divided by `scale` (see the module docstring)."""

    def __init__(self, in_features: int, out_features: int, scale: float = 1.0, std: float | None = None) -> None:
        super().__init__()
        layer = nn.Linear(in_features, out_features)
        if std is not None:  # near-uniform routing at the start, ties broken
            nn.init.normal_(layer.weight, std=std)
            nn.init.zeros_(layer.bias)
        self.scale = scale
        self.weight = nn.Parameter(layer.weight.detach() / scale)
        self.bias = nn.Parameter(layer.bias.detach() / scale)

    def forward(self, x: Tensor) -> Tensor:
        if self.scale == 1.0:
            return F.linear(x, self.weight, self.bias)
        return F.linear(x, self.weight * self.scale, self.bias * self.scale)


class MetadataEmbedding(nn.Module):
    """[B, 2] (robot id, task id) → [B, dim]: the robot's embedding and the task's, added or concatenated
    (concatenated: then mixed by a linear layer back to `dim`)."""

    def __init__(self, num_robots: int, num_tasks: int, dim: int, combine: str = "add", scale: float = 1.0) -> None:
        super().__init__()
        if combine not in COMBINES:
            raise ValueError(f"unknown combine {combine!r}; valid: {list(COMBINES)}")
        self.num_robots, self.num_tasks, self.dim, self.combine, self.scale = num_robots, num_tasks, dim, combine, scale
        self.robot = nn.Parameter(torch.randn(num_robots, dim) / (math.sqrt(dim) * scale))
        self.task = nn.Parameter(torch.randn(num_tasks, dim) / (math.sqrt(dim) * scale))
        self.mix = ScaledLinear(2 * dim, dim, scale) if combine == "concat" else None

    def forward(self, meta: Tensor) -> Tensor:
        meta = check_meta(meta)
        robot, task = self.robot.index_select(0, meta[:, 0]), self.task.index_select(0, meta[:, 1])
        if self.mix is not None:
            return self.mix(torch.cat([robot, task], -1) * self.scale)
        return robot + task if self.scale == 1.0 else (robot + task) * self.scale


class FactoredRouter(Router):
    """Routing logits over `num_modules` from a pair's metadata embedding and, with `in_features`, the
    layer input: logits = head(tanh(embedding [+|⊙] proj(x))).

    `state`: "add" (embedding + projected input) or "multiply" (soft modularization's
    state feature ⊙ task embedding, Yang et al. 2020). The embedding module may be shared by the
    routers of several layers. `epsilon`: ε-greedy share of uniform choices while sampling."""

    def __init__(self, num_modules: int, embedding: MetadataEmbedding, in_features: int = 0, state: str = "add",
                 epsilon: float = 0.0, scale: float = 1.0) -> None:
        super().__init__()
        if num_modules < 1:
            raise ValueError(f"num_modules must be positive, got {num_modules}")
        if state not in ("add", "multiply"):
            raise ValueError(f"unknown state combination {state!r}; valid: ['add', 'multiply']")
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.num_modules, self.in_features, self.state, self.epsilon = num_modules, in_features, state, epsilon
        self.embedding = embedding
        self.proj = ScaledLinear(in_features, embedding.dim, scale) if in_features > 0 else None
        self.head = ScaledLinear(embedding.dim, num_modules, scale, std=0.01)

    def learns_from_weights(self) -> bool:
        """False: hard choices carry no weights; it learns from log-probabilities (REINFORCE, PPO)."""
        return False

    def logits(self, x: Tensor | None, meta: Tensor, context: Tensor | None = None) -> Tensor:
        """[B, M] routing logits; `context`: `embedding(meta)` when the caller has it already."""
        z = self.embedding(meta) if context is None else context
        if self.proj is not None:
            if x is None or x.dim() != 2 or x.shape[1] != self.in_features:
                raise ValueError(f"router expects x of shape [B, {self.in_features}], "
                                 f"got {None if x is None else tuple(x.shape)}")
            p = self.proj(x)
            z = z * p if self.state == "multiply" else z + p
        return self.head(torch.tanh(z))

    def log_probs(self, x: Tensor | None, meta: Tensor, context: Tensor | None = None) -> Tensor:
        """[B, M] log-probabilities of each module."""
        return torch.log_softmax(self.logits(x, meta, context), -1)

    def forward(self, x: Tensor | None, ids: Tensor | None = None) -> Routing:
        log_probs = self.log_probs(x, check_meta(ids, None if x is None else x.shape[0]))
        indices = sample(log_probs, self.epsilon) if self.training else log_probs.argmax(-1)
        return hard_routing(log_probs, indices, self.epsilon if self.training else 0.0)


class SoftFactoredRouter(FactoredRouter):
    """Softmax weights over every module from the same factored scores (soft modularization)."""

    def learns_from_weights(self) -> bool:
        return True

    def forward(self, x: Tensor | None, ids: Tensor | None = None) -> Routing:
        return self.route(x, check_meta(ids, None if x is None else x.shape[0]))

    def route(self, x: Tensor | None, meta: Tensor, context: Tensor | None = None) -> Routing:
        """The soft `Routing` (weights and entropy); `context` as in `logits`."""
        logits = self.logits(x, meta, context)
        return Routing(weights=torch.softmax(logits, -1), entropy=entropy_of(logits))


class TopKFactoredRouter(SoftFactoredRouter):
    """The `k` best-scored modules per row, weighted by a softmax over their scores (others 0), so
    only k modules run; deterministic, learned end to end through the weights."""

    def __init__(self, num_modules: int, embedding: MetadataEmbedding, in_features: int = 0, k: int = 2,
                 scale: float = 1.0) -> None:
        super().__init__(num_modules, embedding, in_features, "add", 0.0, scale)
        if not 1 <= k <= num_modules:
            raise ValueError(f"top-k routing needs 1 <= k <= {num_modules} modules, got k = {k}")
        self.k = k

    def route(self, x: Tensor | None, meta: Tensor, context: Tensor | None = None) -> Routing:
        logits = self.logits(x, meta, context)
        top, indices = logits.topk(self.k, -1)
        return Routing(indices=indices, weights=torch.softmax(top, -1), entropy=entropy_of(logits))


def straight_through(log_probs: Tensor, indices: Tensor) -> Tensor:
    """[B, 1] weights of the chosen modules: 1 forward, the gradient of their probability backward
    (Gumbel straight-through on a replayed choice)."""
    chosen = log_probs.gather(1, indices.unsqueeze(1)).exp()
    return chosen + (1.0 - chosen).detach()


class FactoredHierarchicalRouter(HierarchicalRouter):
    """The core's `HierarchicalRouter` over factored routers, with joint log-probabilities:
    log p(module g·S + w) = log p_upper(g) + log p_lower_g(w), so sampling, replaying and ε-greedy
    work on the hierarchy as on a flat router."""

    def __init__(self, upper: FactoredRouter, lower: list[FactoredRouter], epsilon: float = 0.0) -> None:
        super().__init__(upper, lower)
        self.epsilon = epsilon

    def learns_from_weights(self) -> bool:
        return False

    def log_probs(self, x: Tensor | None, meta: Tensor, context: Tensor | None = None) -> Tensor:
        context = self.upper.embedding(meta) if context is None else context  # one embedding for every level
        top = self.upper.log_probs(x, meta, context)  # [B, G]
        within = torch.stack([r.log_probs(x, meta, context) for r in self.lower], 1)  # [B, G, S]
        return (top.unsqueeze(-1) + within).flatten(1)


def sample(log_probs: Tensor, epsilon: float = 0.0) -> Tensor:
    """One module per row from `log_probs` [B, M], uniformly at random with probability `epsilon`."""
    # Gumbel-max: argmax(log π − log E), E ~ Exp(1), is a sample of π (fewer ops than `Categorical`)
    choice = (log_probs - torch.empty_like(log_probs).exponential_().log()).argmax(-1)
    if epsilon > 0:
        explore = torch.rand(choice.shape, device=choice.device) < epsilon
        choice = torch.where(explore, torch.randint_like(choice, log_probs.shape[-1]), choice)
    return choice


def behaviour_log_prob(log_probs: Tensor, indices: Tensor, epsilon: float = 0.0) -> Tensor:
    """log-probability of `indices` [B] under the sampling rule: (1 − ε)·π + ε/M."""
    chosen = log_probs.gather(1, indices.unsqueeze(1)).squeeze(1)
    if epsilon == 0:
        return chosen
    return torch.logaddexp(chosen + math.log1p(-epsilon) if epsilon < 1 else torch.full_like(chosen, -math.inf),
                           torch.full_like(chosen, math.log(epsilon / log_probs.shape[-1])))


def hard_routing(log_probs: Tensor, indices: Tensor, epsilon: float = 0.0) -> Routing:
    """The `Routing` of choices `indices` [B]: their behaviour log-probability and the router's entropy."""
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    return Routing(indices=indices.long().unsqueeze(1), log_probs=behaviour_log_prob(log_probs, indices, epsilon),
                   entropy=entropy)
