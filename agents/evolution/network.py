"""The network an evolutionary search drives: a `RoutedNetwork` of module banks, run through a `Path`.

Helpers to ship it to workers and back: its state (parameters plus which modules are frozen, which a
state dict alone does not carry), copying trained modules into it, and re-initialising every
module that is not frozen.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from modrl import Aggregator, ModuleBank, Path, RoutedNetwork, Routing

AGGREGATES = ("sum", "mean")


class PathAggregate(Aggregator):
    """Sum (PathNet's default) or mean of the chosen modules' outputs, for routings that choose the
    same modules for every row (a `Path`): every module of the bank runs as one batched call and
    the chosen outputs are added, which at these sizes costs less than grouping rows by module."""

    uses_weights = False

    def __init__(self, mean: bool = False) -> None:
        super().__init__()
        self.mean = mean

    def forward(self, bank: ModuleBank, x: Tensor, routing: Routing) -> Tensor:
        if not routing.is_hard:
            raise ValueError("PathAggregate needs hard routing (a Path)")
        chosen = routing.indices[0]
        if routing.indices.shape[0] > 1 and not bool((routing.indices == chosen).all()):
            raise ValueError("PathAggregate needs the same modules for every row (a Path)")
        outputs = bank.forward_all(x).index_select(0, chosen)
        return outputs.mean(0) if self.mean else outputs.sum(0)


NetworkState = dict[str, Any]
"""{"params": state dict, "frozen": [[frozen module indices] per layer]}: all a worker needs."""


def network_state(net: RoutedNetwork) -> NetworkState:
    """A detached copy of the network's parameters and frozen modules."""
    return {"params": {k: v.detach().clone() for k, v in net.state_dict().items()},
            "frozen": [torch.nonzero(layer.bank.frozen).flatten().tolist() for layer in net.layers]}


def load_network_state(net: RoutedNetwork, state: NetworkState) -> None:
    net.load_state_dict(state["params"])
    for layer, frozen in zip(net.layers, state["frozen"]):
        layer.bank.unfreeze(*range(layer.bank.num_modules))
        layer.bank.freeze(*frozen)


def bank_key(layer: int, param: int) -> str:
    """The state-dict key of parameter `param` of layer `layer`'s bank."""
    return f"layers.{layer}.bank.params.{param}"


@torch.no_grad()
def copy_modules(net: RoutedNetwork, params: dict[str, Tensor], path: Path) -> None:
    """Copy the modules `path` uses from the state dict `params` into `net`, except frozen ones."""
    for i, (layer, choices) in enumerate(zip(net.layers, path.choices)):
        for m in choices:
            if layer.bank.frozen[m]:
                continue
            for j, p in enumerate(layer.bank.params):
                p[m].copy_(params[bank_key(i, j)][m])


@torch.no_grad()
def reinitialise_unfrozen(net: RoutedNetwork, seed: int) -> None:
    """Give every module that is not frozen fresh initial values (a new bank's, drawn under `seed`);
    frozen modules keep theirs bit for bit."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for layer in net.layers:
            bank = layer.bank
            fresh = ModuleBank(bank.kind, bank.num_modules, **bank.config)
            keep = bank.frozen
            for p, q in zip(bank.params, fresh.params):
                p.copy_(torch.where(keep.view(-1, *([1] * (p.dim() - 1))), p, q))


def module_parameters(bank: ModuleBank) -> int:
    """Parameters of one module of `bank`."""
    return sum(p[0].numel() for p in bank.params)
