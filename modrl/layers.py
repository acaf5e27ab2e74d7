"""RoutedLayer (bank + router + aggregator) and RoutedNetwork (a stack with a routing level)."""

from __future__ import annotations

from typing import Iterator, Mapping, Sequence, Union

import torch
from torch import Tensor, nn

from modrl.aggregators import Aggregator, WeightedSum, weighted_kinds
from modrl.bank import ModuleBank
from modrl.modules.mlp import make_activation
from modrl.routers.base import Router, anneal_routers
from modrl.routing import Path, Routing

PLACEMENTS = ("before", "after", "parallel")

Ids = Union[Tensor, Mapping[str, Tensor], None]
"""Metadata ids for a layer: one [B] tensor, or named streams (e.g. {"task": t, "robot": r}) it `reads` from."""


def _expect(value: object, cls: type, what: str, build: str) -> None:
    """A TypeError naming what was meant, for the common slip of passing a kind name."""
    a = "an" if cls.__name__[0] in "AEIOU" else "a"
    if isinstance(value, str):
        raise TypeError(f"{what} must be {a} {cls.__name__}, not the kind name {value!r}: "
                        f"build one with {build}({value!r}, ...)")
    if not isinstance(value, cls):
        raise TypeError(f"{what} must be {a} {cls.__name__}, got {type(value).__name__}")


class RoutedLayer(nn.Module):
    """h = g({fⱼ(x; θ, φⱼ)}, r(x, ids)).

    `base` (optional) holds shared parameters θ; `placement` says where the modules act:
    "before" base(g(mⱼ(x))) (input composition), "after" g(mⱼ(base(x))) (adapters, FiLM),
    "parallel" base(x) + g(mⱼ(x)) (LoRA, parallel adapters).
    `reads` names the id stream the router reads when ids come as a dict (e.g. "robot").
    """

    def __init__(self, bank: ModuleBank, router: Router | None = None, aggregator: Aggregator | None = None,
                 base: nn.Module | None = None, placement: str = "after", reads: str | None = None) -> None:
        super().__init__()
        _expect(bank, ModuleBank, "bank", "ModuleBank")
        if router is not None:
            _expect(router, Router, "router", "build_router")
        aggregator = aggregator if aggregator is not None else WeightedSum()
        _expect(aggregator, Aggregator, "aggregator", "build_aggregator")
        if placement not in PLACEMENTS:
            raise ValueError(f"unknown placement {placement!r}; valid: {list(PLACEMENTS)}")
        if reads is not None and not isinstance(reads, str):
            raise TypeError(f"reads must be the name of an id stream, got {type(reads).__name__}")
        if router is not None and router.num_modules != bank.num_modules:
            raise ValueError(f"router routes over {router.num_modules} modules, bank holds {bank.num_modules}")
        if router is not None and not aggregator.uses_weights and router.learns_from_weights():
            raise ValueError(f"{type(aggregator).__name__} aggregation ignores routing weights, so the learned "
                             f"{type(router).__name__} would get no gradient; use an aggregator that uses them: "
                             f"{weighted_kinds()}")
        self.bank, self.router, self.aggregator = bank, router, aggregator
        self.base, self.placement, self.reads = base, placement, reads

    def select_ids(self, ids: Ids) -> Tensor | None:
        """This layer's ids: `ids` itself, or the stream named `reads` from a dict of named streams."""
        if not isinstance(ids, Mapping):
            return ids
        if self.reads is None:
            raise ValueError(f"ids are named streams {sorted(ids)}, but this layer has no `reads`: "
                             "build it with RoutedLayer(..., reads=<stream name>)")
        if self.reads not in ids:
            raise ValueError(f"this layer reads ids {self.reads!r}, but the given streams are {sorted(ids)}")
        return ids[self.reads]

    def route(self, x: Tensor, ids: Ids = None) -> Routing:
        if self.router is None:
            raise ValueError("this layer has no router: pass a routing (or a Path to the network)")
        return self.router(x, self.select_ids(ids))

    def forward(self, x: Tensor, ids: Ids = None, routing: Routing | None = None) -> tuple[Tensor, Routing]:
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
    the same network. `ids` is one [B] tensor for every layer, a list with one entry per
    layer (a [B] tensor or None), or a dict of named streams that each layer `reads` from.
    """

    def __init__(self, layers: Sequence[RoutedLayer], activation: str = "relu", level: str = "layer") -> None:
        super().__init__()
        if level not in LEVELS:
            raise ValueError(f"unknown routing level {level!r}; valid: {list(LEVELS)}")
        if not layers:
            raise ValueError("a RoutedNetwork needs at least one layer")
        self.layers, self.level = nn.ModuleList(layers), level
        self.activation = make_activation(activation)

    def forward(self, x: Tensor, ids: Ids | Sequence[Ids] = None,
                path: Path | None = None) -> tuple[Tensor, list[Routing]]:
        if path is not None and len(path) != len(self.layers):
            raise ValueError(f"path has {len(path)} layers, network has {len(self.layers)}")
        per_layer = self.layer_ids(ids) if path is None else [None] * len(self.layers)
        decided: list[Routing] | None = None
        if path is not None:
            decided = [path.routing(i, x.shape[0], x.device) for i in range(len(self.layers))]
        elif self.level == "global":
            decided = [layer.route(x, i) for layer, i in zip(self.layers, per_layer)]
        h, routings = x, []
        for i, layer in enumerate(self.layers):
            h, routing = layer(h, per_layer[i], decided[i] if decided else None)
            routings.append(routing)
            if i < len(self.layers) - 1:
                h = self.activation(h)
        return h, routings

    def layer_ids(self, ids: Ids | Sequence[Ids]) -> list[Tensor | None]:
        """Each layer's ids, from one tensor for all, one entry per layer, or named streams."""
        if isinstance(ids, (list, tuple)):
            if len(ids) != len(self.layers):
                raise ValueError(f"ids has {len(ids)} entries (one per layer), network has {len(self.layers)} layers")
            return list(ids)
        if isinstance(ids, Mapping):
            missing = [i for i, layer in enumerate(self.layers) if layer.reads is None]
            if missing:
                raise ValueError(f"ids are named streams {sorted(ids)}, but layers {missing} have no `reads`: "
                                 "build them with RoutedLayer(..., reads=<stream name>)")
            return [layer.select_ids(ids) for layer in self.layers]
        return [ids] * len(self.layers)

    def aux_loss(self, routings: Sequence[Routing]) -> Tensor:
        """Sum of every layer's auxiliary losses (load balancing, ...) over the routings `forward` returned."""
        if len(routings) != len(self.layers):
            raise ValueError(f"aux_loss got {len(routings)} routings, network has {len(self.layers)} layers")
        return torch.stack([r.aux_loss() for r in routings]).sum()

    def anneal(self, step: int) -> list[float]:
        """Anneal every router that anneals (Gumbel temperatures, also inside hierarchical routers);
        their temperatures, in layer order."""
        return anneal_routers([layer.router for layer in self.layers if layer.router is not None], step)

    def router_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters under any layer's `router` (for a separate learning rate)."""
        owned = self._router_parameter_ids()
        return (p for p in self.parameters() if id(p) in owned)

    def module_parameters(self) -> Iterator[nn.Parameter]:
        """Every other parameter: banks, bases, aggregators. With `router_parameters`, a partition."""
        owned = self._router_parameter_ids()
        return (p for p in self.parameters() if id(p) not in owned)

    def _router_parameter_ids(self) -> set[int]:
        return {id(p) for layer in self.layers if layer.router is not None for p in layer.router.parameters()}
