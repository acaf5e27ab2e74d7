"""ModuleBank: M same-shaped modules held as stacked tensors.

A batch whose samples chose different modules runs grouped by module, never as
a Python loop over samples: as one batched call (sort, pad to the largest group,
`vmap` over the modules), or, for large groups on one thread, as one call per
module on contiguous slices of the sorted batch (no padding).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import stack_module_state, vmap

from modrl.modules.base import Module, build_module


SLICED_ROWS = 64
"""A good `ModuleBank.slice_from`: mean rows per module from which contiguous sorted slices, one call
per module, beat one padded batched call on one thread (docs/results/routing.md#speed)."""


class ModuleBank(nn.Module):
    """M modules of one kind and config, stored as [M, ...] parameter tensors."""

    def __init__(self, kind: str, num_modules: int, **config: Any) -> None:
        super().__init__()
        if not isinstance(num_modules, int) or num_modules <= 0:
            raise ValueError(f"num_modules must be a positive int, got {num_modules!r}")
        modules = [build_module(kind, **config) for _ in range(num_modules)]
        if any(True for _ in modules[0].buffers()):
            raise ValueError(f"module kind {kind!r} has buffers; a ModuleBank holds parameters only")
        self.kind, self.config, self.num_modules = kind, dict(modules[0].config), num_modules
        self.slice_from: int | None = None
        """Set to a row count (e.g. `SLICED_ROWS`) to run groups of at least that many rows per module,
        on one thread, as contiguous sorted slices; None: always one padded batched call. The two
        compute the same function, with float sums in another order."""
        self.in_features, self.out_features = modules[0].in_features, modules[0].out_features
        params, _ = stack_module_state(modules)
        self._names = list(params)
        self.params = nn.ParameterList([nn.Parameter(params[n].detach().clone()) for n in self._names])
        # The template gives the computation, never parameters: it lives on the meta device.
        self._template = [copy.deepcopy(modules[0]).to("meta")]
        # Freezing is applied in `stacked()` (not by gradient hooks, which deepcopy and pickling drop).
        self.register_buffer("frozen", torch.zeros(num_modules, dtype=torch.bool), persistent=False)
        self._has_frozen = False  # mirrors frozen.any() as a plain flag: no tensor sync on every forward

    # -- parameters ------------------------------------------------------------------------

    def stacked(self) -> dict[str, Tensor]:
        """Every module's parameters, name → [M, ...]. A hypernetwork bank generates these.

        Frozen modules' slices are detached, so no gradient reaches them."""
        # (ParameterList's own iteration indexes item by item: its dict is the fast path)
        params = self.params._parameters.values()
        if not self._has_frozen:
            return dict(zip(self._names, params))
        return {n: self._stop_frozen(p) for n, p in zip(self._names, params)}

    def _stop_frozen(self, t: Tensor) -> Tensor:
        """`t` [M, ...] with the rows of frozen modules detached (t itself when none is frozen)."""
        if not self._any_frozen:
            return t
        return torch.where(self.frozen.view(-1, *([1] * (t.dim() - 1))), t.detach(), t)

    @property
    def _any_frozen(self) -> bool:
        return self._has_frozen

    def freeze(self, *indices: int) -> None:
        """Stop gradients from reaching modules `indices` (the others keep learning)."""
        for i in indices:
            self._check_index(i)
            self.frozen[i] = True
        self._has_frozen = bool(self.frozen.any())

    def unfreeze(self, *indices: int) -> None:
        for i in indices:
            self._check_index(i)
            self.frozen[i] = False
        self._has_frozen = bool(self.frozen.any())

    def _check_index(self, i: int) -> None:
        if not 0 <= int(i) < self.num_modules:
            raise IndexError(f"module index {i} out of range for a bank of {self.num_modules}")

    def module(self, i: int) -> Module:
        """A standalone copy of module i (for saving, inspection or reuse elsewhere)."""
        self._check_index(i)
        module = build_module(self.kind, **self.config)
        stacked = self.stacked()
        module.load_state_dict({n: stacked[n][i].detach().clone() for n in self._names})
        return module

    @torch.no_grad()
    def load_module(self, i: int, module: Module) -> None:
        """Copy a module's parameters into slot i; it must be of this bank's kind and config."""
        self._check_index(i)
        if module.spec() != {"kind": self.kind, "config": self.config}:
            raise ValueError(f"module {module.spec()} does not fit a bank of {{'kind': {self.kind!r}, 'config': {self.config}}}")
        state = module.state_dict()
        for name, p in zip(self._names, self.params):
            p[i].copy_(state[name])

    # -- computation -----------------------------------------------------------------------

    def _call(self, params: dict[str, Tensor], x: Tensor) -> Tensor:
        """One module's parameters on x [B, in]."""
        return self._template[0].apply(params, x)

    def _call_stacked(self, params: dict[str, Tensor], x: Tensor) -> Tensor:
        """Every module's parameters [M, ...] on its own rows x [M, C, in]."""
        template = self._template[0]
        return template.apply(params, x) if template.stacks else vmap(self._call)(params, x)

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"bank expects inputs [B, {self.in_features}], got {tuple(x.shape)}")

    def forward_one(self, x: Tensor, i: int) -> Tensor:
        """Module i on the whole batch."""
        self._check_index(i)
        if self.num_modules == 1:  # squeeze: a view whose backward allocates nothing, unlike select
            return self._call({n: p.squeeze(0) for n, p in self.stacked().items()}, x)
        return self._call({n: p[i] for n, p in self.stacked().items()}, x)

    def forward_all(self, x: Tensor) -> Tensor:
        """Every module on every sample: [M, B, out] (soft routing)."""
        self._check_input(x)
        stacked = self.stacked()
        if self._template[0].stacks:
            return self._call_stacked(stacked, x.unsqueeze(0).expand(self.num_modules, -1, -1))
        return vmap(self._call, in_dims=(0, None))(stacked, x)

    def forward_grouped(self, x: Tensor, indices: Tensor) -> Tensor:
        """Sample b through module indices[b]: [B, out], grouped by module (top-1 routing).

        Rows are scattered into an [M, C, in] tensor (C = the largest group), the modules run as one
        `vmap`-ed call, and each sample's row is gathered back: flat `index_copy_` / `index_select`
        rather than 2-D advanced indexing, and no sort of x itself. With `slice_from` set, large groups
        (that many rows per module on average) on one thread: x is sorted by module and each module
        runs on its contiguous slice (a grouped matmul without padding). Inside `torch.compile` a one-module bank
        skips the index range check (no host sync in the graph).
        """
        self._check_input(x)
        if indices.shape != (x.shape[0],) or indices.dtype.is_floating_point or indices.dtype == torch.bool:
            raise ValueError(f"indices must be an integer tensor of shape [{x.shape[0]}], "
                             f"got {tuple(indices.shape)} {indices.dtype}")
        n = x.shape[0]
        if n == 0:
            return x.new_zeros(0, self.out_features)
        indices = indices.long()
        if self.num_modules == 1 and torch.compiler.is_compiling():  # trusted: no host sync in a compiled graph
            return self.forward_one(x, 0)
        lo, hi = (int(v) for v in torch.aminmax(indices))
        if lo < 0 or hi >= self.num_modules:
            raise IndexError(f"module indices must lie in [0, {self.num_modules}), got range [{lo}, {hi}]")
        if lo == hi:  # one module for the whole batch: no grouping needed
            return self.forward_one(x, lo)
        if self.slice_from is not None and n >= self.slice_from * self.num_modules and torch.get_num_threads() == 1:
            return self._forward_sliced(x, indices)
        counts = torch.bincount(indices, minlength=self.num_modules)
        capacity = int(counts.max())
        order = torch.argsort(indices, stable=True)
        sorted_idx = indices.index_select(0, order)
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(n, device=x.device) - starts.index_select(0, sorted_idx)
        # pos[b]: the row of sample b in the flattened [M * C] padded batch
        pos = torch.empty_like(indices).index_copy_(0, order, sorted_idx * capacity + rank)
        padded = x.new_zeros(self.num_modules * capacity, x.shape[1]).index_copy_(0, pos, x)
        out = self._call_stacked(self.stacked(), padded.view(self.num_modules, capacity, -1))
        return out.reshape(self.num_modules * capacity, -1).index_select(0, pos)

    def _forward_sliced(self, x: Tensor, indices: Tensor) -> Tensor:
        """`forward_grouped` on contiguous slices of x sorted by module: one call per module that has
        rows, on exactly its rows; `unbind` hands each call its module's parameters (one stack in
        the backward pass, where indexing would write a zero-filled [M, ...] gradient per module)."""
        counts = torch.bincount(indices, minlength=self.num_modules).tolist()
        order = torch.argsort(indices, stable=True)
        stacked = self.stacked()
        modules = [dict(zip(stacked, params)) for params in zip(*(p.unbind(0) for p in stacked.values()))]
        parts = x.index_select(0, order).split(counts)
        out = torch.cat([self._call(modules[j], part) for j, part in enumerate(parts) if counts[j]])
        return torch.index_copy(out.new_empty(out.shape), 0, order, out)  # back to the batch's order

    def forward_topk(self, x: Tensor, indices: Tensor) -> Tensor:
        """Sample b through each of modules indices[b, :]: [B, k, out]."""
        if indices.dim() != 2 or indices.shape[0] != x.shape[0]:
            raise ValueError(f"indices must have shape [{x.shape[0]}, k], got {tuple(indices.shape)}")
        k = indices.shape[1]
        flat = self.forward_grouped(x.repeat_interleave(k, dim=0), indices.reshape(-1))
        return flat.view(x.shape[0], k, -1)

    def merged(self, weights: Tensor) -> dict[str, Tensor]:
        """Routing-weighted average of the modules' parameters: [M] → one module, [B, M] → one per sample."""
        if weights.shape[-1] != self.num_modules or weights.dim() not in (1, 2):
            raise ValueError(f"merge weights must be [M] or [B, M] with M={self.num_modules}, got {tuple(weights.shape)}")
        return {n: torch.tensordot(weights, p, dims=([weights.dim() - 1], [0])) for n, p in self.stacked().items()}

    def forward_merged(self, x: Tensor, weights: Tensor) -> Tensor:
        """One forward pass through the merged module(s)."""
        self._check_input(x)
        params = self.merged(weights)
        if weights.dim() == 1:
            return self._call(params, x)
        return vmap(lambda p, xi: self._call(p, xi.unsqueeze(0)).squeeze(0))(params, x)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, num_modules={self.num_modules}, config={self.config}"
