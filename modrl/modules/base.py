"""The contract every computation function follows."""

from __future__ import annotations

import operator
from typing import Any

import torch

from torch import Tensor, nn
from torch.func import functional_call

from modrl.registry import MODULES, lookup


class Module(nn.Module):
    """A computation function f(x; φ) with its own parameters φ.

    Subclasses take only JSON-able keyword arguments, kept in `config`, so a
    module can be rebuilt from `(kind, config)` and saved on its own.
    """

    kind: str = ""
    in_features: int
    out_features: int

    def __init__(self, **config: Any) -> None:
        super().__init__()
        self.config = dict(config)

    stacks: bool = False
    """True when `apply` also takes parameters with a leading module dim [M, ...] and inputs [M, C, in]."""

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def apply(self, params: dict[str, Tensor], x: Tensor) -> Tensor:
        """This module's computation with the given parameters (how a `ModuleBank` runs it).

        Kinds that set `stacks = True` write it with broadcasting tensor ops, so M modules
        run as batched matmuls without `vmap`; the default swaps parameters into the module.
        """
        return functional_call(self, params, (x,))

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "config": dict(self.config)}


def build_module(kind: str, **config: Any) -> Module:
    """A new module of a registered kind, e.g. `build_module("mlp", in_features=4, out_features=2)`."""
    return lookup(MODULES, kind, "module kind")(**config)


def check_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_hidden(hidden: Any) -> list[int]:
    """`hidden` as a list of layer widths; an int or a string there is a mistake, not one width."""
    if not isinstance(hidden, (list, tuple)):
        raise ValueError(f"hidden must be a list of layer widths, e.g. [64], got {hidden!r}")
    try:
        return [operator.index(h) for h in hidden]
    except TypeError:
        raise ValueError(f"hidden must be a list of integer layer widths, got {hidden!r}") from None


def check_features(x: Tensor, expected: int, who: str) -> None:
    if x.shape[-1] != expected:
        raise ValueError(f"{who} expects inputs with {expected} features, got shape {tuple(x.shape)}")


def linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """x Wᵀ + b for one module ([B, in], [out, in]) or M stacked ones ([M, C, in], [M, out, in])."""
    if weight.dim() == 2:
        return torch.nn.functional.linear(x, weight, bias)
    if bias is None:
        return x @ weight.transpose(-1, -2)
    return torch.baddbmm(bias.unsqueeze(-2), x, weight.transpose(-1, -2))


def row(p: Tensor, stacked: bool) -> Tensor:
    """A per-feature parameter [d] or [M, d], shaped to broadcast over [B, d] or [M, C, d]."""
    return p.unsqueeze(-2) if stacked else p
