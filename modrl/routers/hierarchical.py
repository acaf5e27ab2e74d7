"""Hierarchical routing: an upper router picks a group, a lower router picks within it."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from modrl.registry import register_router
from modrl.routers.base import Router, anneal_routers
from modrl.routing import Routing


@register_router("hierarchical")
class HierarchicalRouter(Router):
    """Module index = group · group_size + index within the group.

    Both levels hard with k = 1: one module per sample, log-probabilities add.
    Both levels soft: weights are the outer product, a distribution over every module.
    """

    def __init__(self, upper: Router, lower: list[Router]) -> None:
        super().__init__()
        if len(lower) != upper.num_modules:
            raise ValueError(f"upper router has {upper.num_modules} groups but {len(lower)} lower routers were given")
        sizes = {r.num_modules for r in lower}
        if len(sizes) != 1:
            raise ValueError(f"every group needs the same size, got {sorted(sizes)}")
        self.upper, self.lower = upper, nn.ModuleList(lower)
        self.group_size = sizes.pop()
        self.num_modules = upper.num_modules * self.group_size

    def anneal(self, step: int) -> list[float]:
        """Anneal the upper and lower routers that anneal; their temperatures, upper first."""
        return anneal_routers([self.upper, *self.lower], step)

    def learns_from_weights(self) -> bool:
        return self.upper.learns_from_weights() or any(r.learns_from_weights() for r in self.lower)

    def forward(self, x: Tensor | None, ids: Tensor | None = None) -> Routing:
        top = self.upper(x, ids)
        subs = [r(x, ids) for r in self.lower]  # every group's choice for every sample: G small, no per-sample loop
        aux = {**top.aux_losses, **{f"group{g}.{k}": v for g, s in enumerate(subs) for k, v in s.aux_losses.items()}}
        if top.is_hard and all(s.is_hard for s in subs):
            if top.indices.shape[1] != 1 or any(s.indices.shape[1] != 1 for s in subs):
                raise ValueError("hard hierarchical routing needs k = 1 at both levels")
            group = top.indices[:, 0]
            rows = torch.arange(group.shape[0], device=group.device)
            within = torch.stack([s.indices[:, 0] for s in subs], 1)[rows, group]
            weight = top.hard_weights()[:, 0] * torch.stack([s.hard_weights()[:, 0] for s in subs], 1)[rows, group]
            log_probs = None
            if top.log_probs is not None and all(s.log_probs is not None for s in subs):
                log_probs = top.log_probs + torch.stack([s.log_probs for s in subs], 1)[rows, group]
            return Routing(indices=(group * self.group_size + within).unsqueeze(1), weights=weight.unsqueeze(1),
                           log_probs=log_probs, entropy=top.entropy, aux_losses=aux)
        if top.is_hard or any(s.is_hard for s in subs):
            raise ValueError("hierarchical routing needs both levels hard or both soft")
        inner = torch.stack([s.weights for s in subs], 1)  # [B, G, group_size]
        return Routing(weights=(top.weights.unsqueeze(-1) * inner).flatten(1), aux_losses=aux)
