"""RoutedLayer (bank + router + aggregator) and RoutedNetwork (a stack with a routing level)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from modrl.aggregators import Aggregator, WeightedSum
from modrl.bank import ModuleBank
from modrl.modules.mlp import make_activation
from modrl.routers.base import Router
from modrl.routing import Path, Routing

PLACEMENTS = ("before", "after", "parallel")


class RoutedLayer(nn.Module):
    """h = g({fⱼ(x; θ, φⱼ)}, r(x, ids)).

    `base` (optional) holds shared parameters θ; `placement` says where the modules act:
    "before" base(g(mⱼ(x))) (input composition), "after" g(mⱼ(base(x))) (adapters, FiLM),
    "parallel" base(x) + g(mⱼ(x)) (LoRA, parallel adapters).
    """

    def __init__(self, bank: ModuleBank, router: Router | None = None, aggregator: Aggregator | None = None,
                 base: nn.Module | None = None, placement: str = "after") -> None:
        super().__init__()
        if placement not in PLACEMENTS:
            raise ValueError(f"unknown placement {placement!r}; valid: {list(PLACEMENTS)}")
        if router is not None and router.num_modules != bank.num_modules:
            raise ValueError(f"router routes over {router.num_modules} modules, bank holds {bank.num_modules}")
        self.bank, self.router, self.base, self.placement = bank, router, base, placement
        self.aggregator = aggregator if aggregator is not None else WeightedSum()

    def route(self, x: Tensor, ids: Tensor | None = None) -> Routing:
        if self.router is None:
            raise ValueError("this layer has no router: pass a routing (or a Path to the network)")
        return self.router(x, ids)

    def forward(self, x: Tensor, ids: Tensor | None = None, routing: Routing | None = None) -> tuple[Tensor, Routing]:
        routing = routing if routing is not None else self.route(x, ids)
        if self.base is None:
            return self.aggregator(self.bank, x, routing), routing
        if self.placement == "before":
            return self.base(self.aggregator(self.bank, x, routing)), routing
        if self.placement == "after":
            return self.aggregator(self.bank, self.base(x), routing), routing
        return self.base(x) + self.aggregator(self.bank, x, routing), routing


LEVELS = ("layer", "global")


class RoutedNetwork(nn.Module):
    """A stack of routed layers with an activation between them.

    level="layer": each layer's router reads that layer's input.
    level="global": each layer's router reads the network's input, so the whole
    path is decided up front (hierarchical routing is a `HierarchicalRouter` in each layer).
    A `Path` given to `forward` replaces every router: evolution and routing policies drive
    the same network.
    """

    def __init__(self, layers: Sequence[RoutedLayer], activation: str = "relu", level: str = "layer") -> None:
        super().__init__()
        if level not in LEVELS:
            raise ValueError(f"unknown routing level {level!r}; valid: {list(LEVELS)}")
        if not layers:
            raise ValueError("a RoutedNetwork needs at least one layer")
        self.layers, self.level = nn.ModuleList(layers), level
        self.activation = make_activation(activation)

    def forward(self, x: Tensor, ids: Tensor | None = None, path: Path | None = None) -> tuple[Tensor, list[Routing]]:
        if path is not None and len(path) != len(self.layers):
            raise ValueError(f"path has {len(path)} layers, network has {len(self.layers)}")
        decided: list[Routing] | None = None
        if path is not None:
            decided = [path.routing(i, x.shape[0], x.device) for i in range(len(self.layers))]
        elif self.level == "global":
            decided = [layer.route(x, ids) for layer in self.layers]
        h, routings = x, []
        for i, layer in enumerate(self.layers):
            h, routing = layer(h, ids, decided[i] if decided else None)
            routings.append(routing)
            if i < len(self.layers) - 1:
                h = self.activation(h)
        return h, routings

    @staticmethod
    def aux_loss(routings: Sequence[Routing]) -> Tensor:
        """Sum of every layer's auxiliary losses."""
        return torch.stack([r.aux_loss() for r in routings]).sum()
