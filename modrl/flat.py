"""Parameters and gradients held in one contiguous buffer, for fast optimizer steps.

At reinforcement-learning sizes (a few 10k parameters, minibatches of ~64) an
update costs per tensor, not per element: zeroing, clipping and Adam over the
~20 tensors of a policy cost about as much as its forward pass. After
`flatten_parameters`, every parameter is a view of one flat buffer and its
`.grad` a view of one flat gradient, so those steps run as one op each.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor, nn


def flatten_parameters(params: Iterable[nn.Parameter]) -> nn.Parameter:
    """Move `params` into one buffer and return it as a single Parameter (with a zeroed `.grad`).

    Each parameter keeps its identity, shape and values, but its data and `.grad` become views
    of the returned Parameter's data and `.grad`; backward accumulates into them in place.
    Give the returned Parameter to the optimizer and to gradient clipping, and zero gradients
    with `flat.grad.zero_()`: `set_to_none`, moving the model (`.to`) or loading a state dict with
    `assign=True` would break the views (`is_flat` tells). Two differences from separate tensors:
    a parameter outside the loss has a zero gradient (not None), so Adam's momentum still moves
    it; and an optimizer step is invisible to autograd's in-place checks, so do not backpropagate
    a graph built before the step.
    """
    params = list(params)
    if not params:
        raise ValueError("flatten_parameters needs at least one parameter")
    if len({(p.dtype, p.device) for p in params}) != 1:
        raise ValueError("flatten_parameters needs parameters of one dtype and device")
    if len({id(p) for p in params}) != len(params):
        raise ValueError("flatten_parameters got the same parameter twice")
    with torch.no_grad():
        flat = nn.Parameter(torch.cat([p.detach().reshape(-1) for p in params]))
        flat.grad = torch.zeros_like(flat)
        offset = 0
        for p in params:
            n = p.numel()
            p.data = flat.data[offset : offset + n].view_as(p)
            p.grad = flat.grad[offset : offset + n].view_as(p)
            offset += n
    return flat


def is_flat(params: Iterable[nn.Parameter], flat: nn.Parameter) -> bool:
    """True when every parameter and its gradient still live in `flat`'s buffers."""
    data, grad = flat.untyped_storage().data_ptr(), flat.grad.untyped_storage().data_ptr()
    return all(p.untyped_storage().data_ptr() == data and p.grad is not None
               and p.grad.untyped_storage().data_ptr() == grad for p in params)


def clip_grad_norm_(flat: nn.Parameter, max_norm: float) -> Tensor:
    """`torch.nn.utils.clip_grad_norm_` for one flat Parameter in three ops (its per-call overhead
    is most of an update at these sizes); returns the norm before clipping."""
    norm = torch.linalg.vector_norm(flat.grad)
    flat.grad.mul_((max_norm / (norm + 1e-6)).clamp_(max=1.0))
    return norm
