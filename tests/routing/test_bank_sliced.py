"""`ModuleBank.forward_grouped` on large groups on one thread (contiguous sorted slices, no padding)
computes what the padded batched call computes, for every module kind and bank type, gradients and
frozen modules included."""

from __future__ import annotations

import pytest
import torch

from modrl import HyperBank, ModuleBank
from modrl.bank import SLICED_ROWS

M = 4


@pytest.fixture(autouse=True)
def one_thread():
    """The sliced path runs on one thread (several threads keep the batched call)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
KINDS = {
    "linear": ("linear", dict(in_features=6, out_features=5)),
    "mlp": ("mlp", dict(in_features=6, out_features=5, hidden=[7, 3])),
    "adapter": ("adapter", dict(in_features=6, bottleneck=3)),
    "lora": ("lora", dict(in_features=6, out_features=5, rank=2)),
    "film": ("film", dict(in_features=6)),
    "actor_critic": ("actor_critic", dict(actor_in=2, critic_in=2, shared_in=2, actor_out=3, critic_out=1,
                                          hidden=[4], log_std=True)),
}
def sliced(bank: ModuleBank) -> ModuleBank:
    bank.slice_from = SLICED_ROWS
    return bank


BANKS = {"bank": lambda kind, cfg: sliced(ModuleBank(kind, M, **cfg)),
         "hyper": lambda kind, cfg: sliced(HyperBank(kind, M, embedding_dim=3, **cfg))}


def _padded(bank: ModuleBank, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """The padded batched call (a bank's default) on the same rows."""
    bank.slice_from = None
    try:
        return bank.forward_grouped(x, indices)
    finally:
        bank.slice_from = SLICED_ROWS


@pytest.mark.parametrize("bank_type", BANKS)
@pytest.mark.parametrize("kind", KINDS)
def test_sliced_groups_match_the_padded_call_and_its_gradients(kind, bank_type):
    torch.manual_seed(0)
    bank = BANKS[bank_type](*KINDS[kind])
    n = SLICED_ROWS * M + 37
    x = torch.randn(n, bank.in_features, requires_grad=True)
    indices = torch.randint(0, M - 1, (n,))  # module M-1 unused: no call, zero gradient
    grad = torch.randn(n, bank.out_features)
    results = []
    for run in (bank.forward_grouped, lambda a, b: _padded(bank, a, b)):
        bank.zero_grad(set_to_none=True)
        x.grad = None
        out = run(x, indices)
        out.backward(grad)
        results.append((out.detach(), x.grad.clone(), [p.grad.clone() for p in bank.parameters() if p.grad is not None]))
    (out, gx, gp), (ref, rgx, rgp) = results
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gx, rgx, rtol=1e-5, atol=1e-5)
    assert len(gp) == len(rgp)
    for a, b in zip(gp, rgp):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_sliced_groups_leave_frozen_modules_alone():
    torch.manual_seed(0)
    bank = sliced(ModuleBank("linear", M, in_features=3, out_features=2))
    bank.freeze(1)
    n = SLICED_ROWS * M
    bank.forward_grouped(torch.randn(n, 3), torch.arange(n) % M).pow(2).sum().backward()
    weight = bank.params[0].grad
    assert torch.all(weight[1] == 0) and torch.all(weight[0] != 0)


def test_large_groups_take_the_sliced_path_on_one_thread_only_when_asked(monkeypatch):
    bank = sliced(ModuleBank("linear", M, in_features=3, out_features=2))
    padded = []
    real = bank._call_stacked
    monkeypatch.setattr(bank, "_call_stacked", lambda p, x: padded.append(x.shape) or real(p, x))
    n = SLICED_ROWS * M
    x, indices = torch.randn(n, 3), torch.arange(n) % M
    bank.forward_grouped(x, indices)
    bank.forward_grouped(x[:-1], indices[:-1])  # below the threshold: padded
    assert len(padded) == 1
    torch.set_num_threads(2)
    bank.forward_grouped(x, indices)
    assert len(padded) == 2
    torch.set_num_threads(1)
    bank.slice_from = None  # a bank's default: always the padded call, the float sums of earlier releases
    bank.forward_grouped(x, indices)
    assert len(padded) == 3
