"""Modules that adapt a shared base layer: bottleneck adapter, LoRA, FiLM, input composition.

Each is used with a `RoutedLayer` whose `base` holds the shared parameters θ;
the layer's `placement` says where the module acts (before, after or beside θ).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from modrl.modules.base import Module, check_features, check_positive, linear, row
from modrl.modules.mlp import make_activation
from modrl.registry import register_module


@register_module("adapter")
class BottleneckAdapter(Module):
    """Function composition: x + up(act(down(x))) (residual), or up(act(down(x))) for parallel placement."""

    def __init__(self, in_features: int, bottleneck: int = 16, out_features: int | None = None,
                 activation: str = "relu", residual: bool = True) -> None:
        out_features = in_features if out_features is None else out_features
        check_positive(in_features=in_features, bottleneck=bottleneck, out_features=out_features)
        if residual and out_features != in_features:
            raise ValueError("a residual adapter needs out_features == in_features")
        super().__init__(in_features=in_features, bottleneck=bottleneck, out_features=out_features,
                         activation=activation, residual=residual)
        self.in_features, self.out_features, self.residual = in_features, out_features, residual
        self.down = nn.Linear(in_features, bottleneck)
        self.act = make_activation(activation)
        self.up = nn.Linear(bottleneck, out_features)
        nn.init.zeros_(self.up.weight)  # starts as the identity (or as zero beside the base)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: Tensor) -> Tensor:
        check_features(x, self.in_features, "BottleneckAdapter")
        h = self.up(self.act(self.down(x)))
        return x + h if self.residual else h

    stacks = True

    def apply(self, params: dict[str, Tensor], x: Tensor) -> Tensor:
        h = linear(self.act(linear(x, params["down.weight"], params["down.bias"])), params["up.weight"], params["up.bias"])
        return x + h if self.residual else h


@register_module("lora")
class LoRA(Module):
    """Parameter composition W + (α/r)·BA, applied beside the base layer: returns (α/r)·x Aᵀ Bᵀ."""

    def __init__(self, in_features: int, out_features: int, rank: int = 4, alpha: float = 1.0) -> None:
        check_positive(in_features=in_features, out_features=out_features, rank=rank)
        super().__init__(in_features=in_features, out_features=out_features, rank=rank, alpha=alpha)
        self.in_features, self.out_features = in_features, out_features
        self.scale = alpha / rank
        self.A = nn.Parameter(torch.randn(rank, in_features) / math.sqrt(in_features))
        self.B = nn.Parameter(torch.zeros(out_features, rank))

    def delta_weight(self) -> Tensor:
        """The [out, in] update this module adds to the base weight."""
        return self.scale * self.B @ self.A

    def forward(self, x: Tensor) -> Tensor:
        check_features(x, self.in_features, "LoRA")
        return self.scale * (x @ self.A.T) @ self.B.T

    stacks = True

    def apply(self, params: dict[str, Tensor], x: Tensor) -> Tensor:
        return self.scale * (x @ params["A"].transpose(-1, -2)) @ params["B"].transpose(-1, -2)


@register_module("film")
class FiLM(Module):
    """Rescaling: γ ⊙ x + β (γ starts at 1, β at 0; `shift=False` gives plain x ⊙ γ)."""

    def __init__(self, in_features: int, shift: bool = True) -> None:
        check_positive(in_features=in_features)
        super().__init__(in_features=in_features, shift=shift)
        self.in_features = self.out_features = in_features
        self.gamma = nn.Parameter(torch.ones(in_features))
        self.beta = nn.Parameter(torch.zeros(in_features)) if shift else None

    def forward(self, x: Tensor) -> Tensor:
        check_features(x, self.in_features, "FiLM")
        return x * self.gamma + self.beta if self.beta is not None else x * self.gamma

    stacks = True

    def apply(self, params: dict[str, Tensor], x: Tensor) -> Tensor:
        stacked = params["gamma"].dim() == 2
        out = x * row(params["gamma"], stacked)
        return out + row(params["beta"], stacked) if "beta" in params else out


@register_module("prompt")
class InputComposition(Module):
    """Input composition: a learned vector p concatenated to the input, [x, p]."""

    def __init__(self, in_features: int, prompt_features: int = 8) -> None:
        check_positive(in_features=in_features, prompt_features=prompt_features)
        super().__init__(in_features=in_features, prompt_features=prompt_features)
        self.in_features, self.out_features = in_features, in_features + prompt_features
        self.prompt = nn.Parameter(torch.randn(prompt_features) * 0.1)

    def forward(self, x: Tensor) -> Tensor:
        check_features(x, self.in_features, "InputComposition")
        return torch.cat([x, self.prompt.expand(*x.shape[:-1], -1)], dim=-1)

    stacks = True

    def apply(self, params: dict[str, Tensor], x: Tensor) -> Tensor:
        prompt = row(params["prompt"], params["prompt"].dim() == 2)
        return torch.cat([x, prompt.expand(*x.shape[:-1], -1)], dim=-1)
