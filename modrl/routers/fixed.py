"""Fixed routing from metadata: an assignment matrix A ∈ {0,1}^{T×M}."""

from __future__ import annotations

import torch
from torch import Tensor

from modrl.registry import register_router
from modrl.routers.base import Router
from modrl.routing import Routing, check_ids


@register_router("fixed")
class FixedRouter(Router):
    """Row t of `assignment` lists the modules task (or robot) t uses; their outputs are averaged.

    Every row must have the same number K ≥ 1 of active modules, so the
    decision is a [B, K] index tensor (|K| = 1 is one module per task).
    """

    def __init__(self, assignment: list[list[int]] | Tensor) -> None:
        super().__init__()
        a = torch.as_tensor(assignment)
        if a.dim() != 2 or not bool(((a == 0) | (a == 1)).all()):
            raise ValueError(f"assignment must be a 0/1 matrix [T, M], got shape {tuple(a.shape)}")
        per_row = a.sum(1)
        if int(per_row.min()) == 0 or bool((per_row != per_row[0]).any()):
            raise ValueError(f"every row of the assignment needs the same number (>= 1) of modules, got {per_row.tolist()}")
        self.num_tasks, self.num_modules = a.shape
        self.register_buffer("table", a.nonzero()[:, 1].view(self.num_tasks, -1).long(), persistent=False)

    @classmethod
    def one_per_task(cls, num_tasks: int) -> "FixedRouter":
        """Task t → module t (the robot/task modular policy's routing)."""
        return cls(torch.eye(num_tasks, dtype=torch.long))

    def forward(self, x: Tensor | None, ids: Tensor | None = None) -> Routing:
        batch = x.shape[0] if x is not None else (ids.shape[0] if ids is not None and ids.dim() > 0 else 0)
        return Routing(indices=self.table.index_select(0, check_ids(ids, batch, self.num_tasks, "metadata")))
