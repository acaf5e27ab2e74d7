"""Plain linear and MLP modules."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from modrl.modules.base import Module, check_features, check_hidden, check_positive, linear
from modrl.registry import register_module

# name → (module, the same function): modules for nn.Sequential, functions for `apply`'s fast path
ACTIVATIONS: dict[str, tuple[type[nn.Module], Callable[[Tensor], Tensor]]] = {
    "tanh": (nn.Tanh, torch.tanh), "relu": (nn.ReLU, torch.relu),
    "gelu": (nn.GELU, nn.functional.gelu), "identity": (nn.Identity, lambda x: x),
}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name][0]()


@register_module("linear")
class Linear(Module):
    """y = W x + b."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        check_positive(in_features=in_features, out_features=out_features)
        super().__init__(in_features=in_features, out_features=out_features, bias=bias)
        self.in_features, self.out_features = in_features, out_features
        self.linear = nn.Linear(in_features, out_features, bias=bias)

    stacks = True

    def forward(self, x: Tensor) -> Tensor:
        check_features(x, self.in_features, "Linear")
        return self.linear(x)

    def apply(self, params: dict[str, Tensor], x: Tensor) -> Tensor:
        return linear(x, params["linear.weight"], params.get("linear.bias"))


@register_module("mlp")
class MLP(Module):
    """A stack of linear layers with an activation between them (and optionally after the last)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: list[int] | tuple[int, ...] = (64,),
        activation: str = "tanh",
        final_activation: bool = False,
    ) -> None:
        hidden = check_hidden(hidden)
        make_activation(activation)  # fail early on an unknown name
        check_positive(in_features=in_features, out_features=out_features, **{f"hidden[{i}]": h for i, h in enumerate(hidden)})
        super().__init__(
            in_features=in_features, out_features=out_features, hidden=hidden,
            activation=activation, final_activation=final_activation,
        )
        self.in_features, self.out_features = in_features, out_features
        sizes = [in_features, *hidden, out_features]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2 or final_activation:
                layers.append(make_activation(activation))
        self.net = nn.Sequential(*layers)
        # (weight key, bias key, activate after?) per linear layer: `apply`'s plan, built once
        linears = [i for i, layer in enumerate(layers) if isinstance(layer, nn.Linear)]
        self._plan = [(f"net.{i}.weight", f"net.{i}.bias", i + 1 < len(layers)) for i in linears]

    stacks = True

    def forward(self, x: Tensor) -> Tensor:
        check_features(x, self.in_features, "MLP")
        return self.net(x)

    def apply(self, params: dict[str, Tensor], x: Tensor, prefix: str = "") -> Tensor:
        """The MLP with `params` (keys under `prefix`, e.g. "actor."), one or M stacked modules."""
        activation = ACTIVATIONS[self.config["activation"]][1]
        for weight, bias, activate in self._plan:
            x = linear(x, params[prefix + weight], params[prefix + bias])
            if activate:
                x = activation(x)
        return x
