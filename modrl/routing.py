"""Routing decisions as plain values: routers produce them, networks consume them."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class Routing:
    """Which modules a batch uses, and with what weight.

    indices:   [B, k] long, the chosen modules (hard routing), or None.
    weights:   [B, k] weights of the chosen modules when `indices` is set,
               else [B, M] weights over every module (soft routing).
    log_probs: [B] log-probability of a sampled choice (REINFORCE / PPO).
    entropy:   [B] entropy of the routing distribution, when sampled.
    aux_losses: named auxiliary losses (e.g. load balancing) to add to the loss.
    """

    indices: Tensor | None = None
    weights: Tensor | None = None
    log_probs: Tensor | None = None
    entropy: Tensor | None = None
    aux_losses: dict[str, Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.indices is None and self.weights is None:
            raise ValueError("a Routing needs indices, weights, or both")
        if self.indices is not None:
            if self.indices.dim() != 2 or self.indices.dtype != torch.long:
                raise ValueError(f"indices must be a [B, k] long tensor, got {tuple(self.indices.shape)} {self.indices.dtype}")
            if self.weights is not None and self.weights.shape != self.indices.shape:
                raise ValueError(
                    f"weights {tuple(self.weights.shape)} must match indices {tuple(self.indices.shape)}"
                )
        elif self.weights.dim() != 2:
            raise ValueError(f"soft weights must be [B, M], got {tuple(self.weights.shape)}")

    @property
    def is_hard(self) -> bool:
        return self.indices is not None

    @property
    def batch_size(self) -> int:
        return (self.indices if self.indices is not None else self.weights).shape[0]

    def hard_weights(self) -> Tensor:
        """Weights of the chosen modules; uniform over the k choices when none were given."""
        assert self.indices is not None
        if self.weights is not None:
            return self.weights
        k = self.indices.shape[1]
        return torch.full(self.indices.shape, 1.0 / k, device=self.indices.device)

    def dense_weights(self, num_modules: int) -> Tensor:
        """[B, M] weights over every module, whatever the kind of routing."""
        if self.indices is None:
            return self.weights
        dense = torch.zeros(self.batch_size, num_modules, device=self.indices.device, dtype=self.hard_weights().dtype)
        return dense.scatter_add(1, self.indices, self.hard_weights())

    def aux_loss(self) -> Tensor:
        """Sum of the auxiliary losses (0 when there are none)."""
        if not self.aux_losses:
            return torch.zeros((), device=(self.indices if self.indices is not None else self.weights).device)
        return torch.stack([v.reshape(()) for v in self.aux_losses.values()]).sum()


@dataclass(frozen=True)
class Path:
    """One hard choice of module(s) per layer: what PathNet evolves and a routing policy samples.

    `choices[i]` holds the active modules of layer i; their outputs are averaged.
    """

    choices: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        normalised = tuple(tuple(int(m) for m in ((c,) if isinstance(c, int) else c)) for c in self.choices)
        if any(len(c) == 0 for c in normalised):
            raise ValueError(f"every layer of a Path needs at least one module, got {normalised}")
        if any(m < 0 for c in normalised for m in c):
            raise ValueError(f"module indices must be >= 0, got {normalised}")
        object.__setattr__(self, "choices", normalised)

    @classmethod
    def random(cls, num_layers: int, num_modules: int, active: int = 1, rng: random.Random | None = None) -> "Path":
        """A uniformly random path with `active` distinct modules per layer."""
        rng = rng or random.Random()
        if not 1 <= active <= num_modules:
            raise ValueError(f"active must be in [1, {num_modules}], got {active}")
        return cls(tuple(tuple(sorted(rng.sample(range(num_modules), active))) for _ in range(num_layers)))

    def mutate(self, num_modules: int, rate: float, rng: random.Random | None = None, spread: int = 2) -> "Path":
        """PathNet mutation: each choice moves by an offset in [-spread, spread] with probability `rate`."""
        rng = rng or random.Random()
        layers = []
        for layer in self.choices:
            moved = [(m + rng.randint(-spread, spread)) % num_modules if rng.random() < rate else m for m in layer]
            layers.append(tuple(sorted(set(moved))))
        return Path(tuple(layers))

    def routing(self, layer: int, batch_size: int, device: torch.device | str = "cpu") -> Routing:
        """The hard `Routing` this path imposes on one layer, for a whole batch."""
        chosen = torch.tensor(self.choices[layer], dtype=torch.long, device=device)
        return Routing(indices=chosen.expand(batch_size, -1).contiguous())

    def __len__(self) -> int:
        return len(self.choices)

    def to_dict(self) -> dict:
        return {"choices": [list(c) for c in self.choices]}

    @classmethod
    def from_dict(cls, data: dict) -> "Path":
        return cls(tuple(tuple(c) for c in data["choices"]))


def check_ids(ids: Tensor | None, batch_size: int, limit: int, what: str = "task") -> Tensor:
    """Validate a [B] long tensor of metadata ids (task or robot) against `limit` classes
    (the value range only outside `torch.compile`, where checking it would need a host sync)."""
    if ids is None:
        raise ValueError(f"this router needs {what} ids")
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise ValueError(f"{what} ids must be integer (e.g. torch.long), got {ids.dtype}")
    if ids.dim() != 1 or ids.shape[0] != batch_size:
        raise ValueError(f"{what} ids must have shape [{batch_size}], got {tuple(ids.shape)}")
    if ids.numel() and not torch.compiler.is_compiling():  # a compiled graph trusts its ids (no host sync)
        lo, hi = (int(v) for v in torch.aminmax(ids))
        if lo < 0 or hi >= limit:
            raise ValueError(f"{what} ids must lie in [0, {limit}), got range [{lo}, {hi}]")
    return ids.long()
