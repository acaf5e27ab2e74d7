"""Aggregators: how the chosen modules' outputs (or parameters) become one output.

Each is called as `aggregator(bank, x, routing)` and owns the computation
pattern, since sequential composition and parameter merging do not compute
every hⱼ first.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from modrl.bank import ModuleBank
from modrl.registry import AGGREGATORS, lookup, register_aggregator
from modrl.routing import Routing


class Aggregator(nn.Module):
    kind: str = ""
    uses_weights: bool = True
    """False when the output ignores the routing weights (so no gradient reaches a router through them)."""

    def forward(self, bank: ModuleBank, x: Tensor, routing: Routing) -> Tensor:  # pragma: no cover
        raise NotImplementedError


def build_aggregator(kind: str, **config) -> Aggregator:
    return lookup(AGGREGATORS, kind, "aggregator kind")(**config)


def weighted_kinds() -> list[str]:
    """The registered aggregator kinds whose output depends on the routing weights."""
    return sorted(kind for kind, cls in AGGREGATORS.items() if cls.uses_weights)


def _check_batch(x: Tensor, routing: Routing) -> None:
    if routing.batch_size != x.shape[0]:
        raise ValueError(f"routing is for a batch of {routing.batch_size}, inputs have {x.shape[0]} rows")


def module_outputs(bank: ModuleBank, x: Tensor, routing: Routing) -> tuple[Tensor, Tensor]:
    """(outputs [B, k, out], weights [B, k]): the chosen modules for hard routing, every module for soft."""
    _check_batch(x, routing)
    if routing.is_hard:
        if routing.indices.shape[1] == 1:
            return bank.forward_grouped(x, routing.indices[:, 0]).unsqueeze(1), routing.hard_weights()
        return bank.forward_topk(x, routing.indices), routing.hard_weights()
    if routing.weights.shape[1] != bank.num_modules:
        raise ValueError(f"soft routing over {routing.weights.shape[1]} modules for a bank of {bank.num_modules}")
    return bank.forward_all(x).transpose(0, 1), routing.weights


@register_aggregator("sum")
class WeightedSum(Aggregator):
    """h = Σⱼ αⱼ hⱼ."""

    def forward(self, bank: ModuleBank, x: Tensor, routing: Routing) -> Tensor:
        outputs, weights = module_outputs(bank, x, routing)
        return (weights.unsqueeze(-1) * outputs).sum(1)


@register_aggregator("attention")
class Attention(Aggregator):
    """Attention over module outputs with a learned query: softmax(q·hⱼ/√d + log αⱼ) weighted sum."""

    def __init__(self, features: int) -> None:
        super().__init__()
        if features <= 0:
            raise ValueError(f"features must be positive, got {features}")
        self.query = nn.Parameter(torch.randn(features) / math.sqrt(features))

    def forward(self, bank: ModuleBank, x: Tensor, routing: Routing) -> Tensor:
        outputs, weights = module_outputs(bank, x, routing)
        if outputs.shape[-1] != self.query.shape[0]:
            raise ValueError(f"attention query has {self.query.shape[0]} features, module outputs {outputs.shape[-1]}")
        scores = outputs @ self.query / math.sqrt(outputs.shape[-1]) + weights.clamp_min(1e-9).log()
        return (torch.softmax(scores, 1).unsqueeze(-1) * outputs).sum(1)


@register_aggregator("sequential")
class Sequential(Aggregator):
    """Function composition of the chosen modules in order: h = m_k(…m₁(x)); weights are ignored."""

    uses_weights = False

    def forward(self, bank: ModuleBank, x: Tensor, routing: Routing) -> Tensor:
        _check_batch(x, routing)
        if not routing.is_hard:
            raise ValueError("sequential aggregation needs hard routing (indices)")
        if routing.indices.shape[1] > 1 and bank.in_features != bank.out_features:
            raise ValueError("composing several modules needs in_features == out_features")
        for j in range(routing.indices.shape[1]):
            x = bank.forward_grouped(x, routing.indices[:, j])
        return x


@register_aggregator("merge")
class Merge(Aggregator):
    """Parameter merging: average the modules' parameters with the routing weights, then one forward pass."""

    def forward(self, bank: ModuleBank, x: Tensor, routing: Routing) -> Tensor:
        _check_batch(x, routing)
        weights = routing.dense_weights(bank.num_modules)
        if bool((weights == weights[:1]).all()):  # the same merge for the whole batch: one module
            return bank.forward_merged(x, weights[0])
        return bank.forward_merged(x, weights)
