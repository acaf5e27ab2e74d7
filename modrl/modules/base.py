"""The contract every computation function follows."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

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

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "config": dict(self.config)}


def build_module(kind: str, **config: Any) -> Module:
    """A new module of a registered kind, e.g. `build_module("mlp", in_features=4, out_features=2)`."""
    return lookup(MODULES, kind, "module kind")(**config)


def check_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_features(x: Tensor, expected: int, who: str) -> None:
    if x.shape[-1] != expected:
        raise ValueError(f"{who} expects inputs with {expected} features, got shape {tuple(x.shape)}")
