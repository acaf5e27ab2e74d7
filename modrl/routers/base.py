"""The router contract: a pure function of (inputs, metadata ids) that returns a `Routing`."""

from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor, nn

from modrl.registry import ROUTERS, lookup
from modrl.routing import Routing, check_ids


class Router(nn.Module):
    """Maps (x [B, d] or None, ids [B] or None) to a `Routing` over `num_modules` modules."""

    kind: str = ""
    num_modules: int

    def forward(self, x: Tensor | None, ids: Tensor | None = None) -> Routing:  # pragma: no cover
        raise NotImplementedError

    def learns_from_weights(self) -> bool:
        """True when gradients through the routing weights train this router: it has trainable parameters."""
        return any(p.requires_grad for p in self.parameters())


def anneal_routers(routers: Iterable[nn.Module], step: int) -> list[float]:
    """`anneal(step)` on each router that anneals; the temperatures they return, in order."""
    temperatures: list[float] = []
    for router in routers:
        if callable(getattr(router, "anneal", None)):
            tau = router.anneal(step)
            temperatures.extend(tau if isinstance(tau, list) else [tau])
    return temperatures


def build_router(kind: str, **config) -> Router:
    """A new router of a registered kind, e.g. `build_router("topk", in_features=8, num_modules=4, k=2)`."""
    return lookup(ROUTERS, kind, "router kind")(**config)


class ScoreNet(nn.Module):
    """Routing logits from the input, a learned per-task embedding, or both."""

    def __init__(self, num_modules: int, in_features: int = 0, num_tasks: int = 0) -> None:
        super().__init__()
        if num_modules <= 0:
            raise ValueError(f"num_modules must be positive, got {num_modules}")
        if in_features <= 0 and num_tasks <= 0:
            raise ValueError("a learned router needs in_features > 0 (input routing) or num_tasks > 0 (task routing)")
        self.in_features, self.num_tasks = in_features, num_tasks
        self.from_input = nn.Linear(in_features, num_modules) if in_features > 0 else None
        self.from_task = nn.Embedding(num_tasks, num_modules) if num_tasks > 0 else None
        for layer in (self.from_input, self.from_task):
            if layer is not None:  # near-uniform routing at the start, ties broken
                nn.init.normal_(layer.weight, std=0.01)

    def forward(self, x: Tensor | None, ids: Tensor | None) -> Tensor:
        logits = None
        batch = None
        if self.from_input is not None:
            if x is None or x.dim() != 2 or x.shape[1] != self.in_features:
                raise ValueError(f"router expects x of shape [B, {self.in_features}], got {None if x is None else tuple(x.shape)}")
            logits, batch = self.from_input(x), x.shape[0]
        if self.from_task is not None:
            batch = batch if batch is not None else (ids.shape[0] if ids is not None else 0)
            task_logits = self.from_task(check_ids(ids, batch, self.num_tasks))
            logits = task_logits if logits is None else logits + task_logits
        return logits


def entropy_of(logits: Tensor) -> Tensor:
    logp = torch.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1)
