"""What the routers did on a batch: module usage per id, routing entropy, grouped-dispatch padding.

Plain numbers, for logs and reports: which modules each task (or robot) uses, whether routing
is collapsing or still undecided, and what hard routing costs the grouped bank call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from modrl.routing import Routing


@dataclass
class LayerStats:
    """One layer's routing on one batch.

    usage:        [num_ids, M] mean routing weight per id (soft routing), or the frequency each
                  module is chosen per id (hard routing; each of k choices counts 1/k).
                  Rows of ids absent from the batch are zero (see `count`).
    count:        [num_ids] samples per id.
    entropy:      mean per-sample routing entropy (nats): `routing.entropy` (the router's
                  distribution) when the router reports one, else the entropy of each sample's
                  dense weights, normalised to sum to one (log k for k equal hard choices).
    load_entropy: entropy (nats) of the batch's mean usage over modules; log M is perfectly
                  balanced, 0 is every sample on one module.
    padding:      hard routing only: rows the grouped bank call computes per routed row,
                  M × largest group / (B·k) (every module gets a slot as large as the largest
                  group; 1.0 when the whole batch uses one module, which runs ungrouped).
    """

    usage: Tensor
    count: Tensor
    entropy: float
    load_entropy: float
    padding: float | None

    def to_dict(self) -> dict:
        return {"usage": self.usage.tolist(), "count": self.count.tolist(), "entropy": self.entropy,
                "load_entropy": self.load_entropy, "padding": self.padding}


def routing_stats(routings: Sequence[Routing], ids: Tensor | Sequence[Tensor | None] | None = None,
                  num_modules: int | None = None) -> list[LayerStats]:
    """Per-layer `LayerStats` of a network's routings (as `RoutedNetwork.forward` returns them).

    ids: one [B] integer tensor for every layer, one per layer (a tensor or None), or None (one
    row for the whole batch). num_modules: the bank size; by default the soft routing's width, or
    the largest chosen index + 1 for hard routing (give it for exact padding and usage width).
    """
    if isinstance(ids, (list, tuple)):
        if len(ids) != len(routings):
            raise ValueError(f"ids has {len(ids)} entries (one per layer), routings has {len(routings)} layers")
        per_layer = list(ids)
    else:
        per_layer = [ids] * len(routings)
    return [_layer_stats(r, i, num_modules) for r, i in zip(routings, per_layer)]


@torch.no_grad()
def _layer_stats(routing: Routing, ids: Tensor | None, num_modules: int | None) -> LayerStats:
    n = routing.batch_size
    m = _width(routing, num_modules)
    choices = _choice_weights(routing, m)  # [B, M]: what each sample uses
    ids = _check_ids(ids, n).to(choices.device)
    num_ids = int(ids.max()) + 1 if n else 1
    count = torch.bincount(ids, minlength=num_ids)
    usage = torch.zeros(num_ids, m, dtype=choices.dtype, device=choices.device).index_add_(0, ids, choices)
    usage = usage / count.clamp_min(1).unsqueeze(1).to(usage)
    if routing.entropy is not None:
        entropy = float(routing.entropy.detach().float().mean()) if n else 0.0
    else:
        dense = routing.dense_weights(m).detach().float()
        entropy = float(_entropy(dense / dense.sum(1, keepdim=True).clamp_min(1e-12)).mean()) if n else 0.0
    load = choices.mean(0) if n else choices.new_zeros(m)
    return LayerStats(usage=usage.cpu(), count=count.cpu(), entropy=entropy,
                      load_entropy=float(_entropy(load / load.sum().clamp_min(1e-12))),
                      padding=_padding(routing.indices, m) if routing.is_hard else None)


def _width(routing: Routing, num_modules: int | None) -> int:
    if routing.is_hard:
        seen = int(routing.indices.max()) + 1 if routing.indices.numel() else 1
        if num_modules is not None and seen > num_modules:
            raise ValueError(f"routing chose module {seen - 1}, but num_modules is {num_modules}")
        return num_modules if num_modules is not None else seen
    if num_modules is not None and num_modules != routing.weights.shape[1]:
        raise ValueError(f"soft routing over {routing.weights.shape[1]} modules, but num_modules is {num_modules}")
    return routing.weights.shape[1]


def _choice_weights(routing: Routing, m: int) -> Tensor:
    """[B, M]: the soft weights, or 1/k for each of a sample's k hard choices."""
    if not routing.is_hard:
        return routing.weights.detach().float()
    k = routing.indices.shape[1]
    ones = torch.full(routing.indices.shape, 1.0 / k, device=routing.indices.device)
    return torch.zeros(routing.batch_size, m, device=ones.device).scatter_add_(1, routing.indices, ones)


def _check_ids(ids: Tensor | None, n: int) -> Tensor:
    if ids is None:
        return torch.zeros(n, dtype=torch.long)
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise ValueError(f"ids must be integer (e.g. torch.long), got {ids.dtype}")
    if ids.shape != (n,):
        raise ValueError(f"ids must have shape [{n}], got {tuple(ids.shape)}")
    if n and int(ids.min()) < 0:
        raise ValueError(f"ids must be >= 0, got {int(ids.min())}")
    return ids.detach().long()


def _entropy(p: Tensor) -> Tensor:
    """Entropy (nats) along the last dim of distributions `p`, with 0 · log 0 = 0."""
    return -(p * p.clamp_min(1e-12).log()).sum(-1)


def _padding(indices: Tensor, m: int) -> float:
    """M × largest group / rows, as `ModuleBank.forward_grouped` pads (top-k flattens the k choices)."""
    flat = indices.reshape(-1)
    if flat.numel() == 0 or bool((flat == flat[0]).all()):
        return 1.0
    largest = int(torch.bincount(flat, minlength=m).max())
    return m * largest / flat.numel()
