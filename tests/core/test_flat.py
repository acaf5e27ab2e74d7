"""Flat parameters: the same gradients, optimizer steps and clipping as per-tensor parameters."""

import copy

import pytest
import torch
from torch import nn

from modrl import ModuleBank
from modrl.flat import clip_grad_norm_, flatten_parameters, is_flat


def make_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))


def loss_of(net: nn.Module) -> torch.Tensor:
    x = torch.linspace(-1, 1, 20).view(4, 5)
    return (net(x) ** 2).sum()


def test_parameters_become_views_with_the_same_values():
    net = make_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    flat = flatten_parameters(net.parameters())
    assert flat.numel() == sum(p.numel() for p in net.parameters())
    for name, p in net.named_parameters():
        assert torch.equal(p, before[name])
        assert p.data_ptr() >= flat.data_ptr() and p.grad is not None
    assert is_flat(net.parameters(), flat)


def test_backward_adam_and_clipping_match_per_tensor_training():
    reference, net = make_net(), make_net()
    params = list(reference.parameters())
    ref_opt = torch.optim.Adam(params, lr=0.05)
    flat = flatten_parameters(net.parameters())
    opt = torch.optim.Adam([flat], lr=0.05)
    for _ in range(5):
        ref_opt.zero_grad()
        loss_of(reference).backward()
        ref_norm = nn.utils.clip_grad_norm_(params, 0.5)
        ref_opt.step()
        flat.grad.zero_()
        loss_of(net).backward()
        norm = clip_grad_norm_(flat, 0.5)
        opt.step()
        torch.testing.assert_close(norm, ref_norm)
    for p, q in zip(reference.parameters(), net.parameters()):
        torch.testing.assert_close(p, q)
        torch.testing.assert_close(p.grad, q.grad)


def test_clipping_leaves_small_gradients_alone():
    net = make_net()
    flat = flatten_parameters(net.parameters())
    flat.grad.fill_(1e-4)
    clip_grad_norm_(flat, 10.0)
    assert torch.all(flat.grad == 1e-4)


def test_state_dict_loading_and_deepcopy_keep_the_views():
    net = make_net()
    flat = flatten_parameters(net.parameters())
    net.load_state_dict({k: torch.ones_like(v) for k, v in net.state_dict().items()})
    assert torch.all(flat == 1)
    clone = copy.deepcopy(net)
    assert all(torch.equal(p, q) for p, q in zip(clone.parameters(), net.parameters()))


def test_bank_parameters_can_be_flattened_and_frozen_rows_get_no_gradient():
    bank = ModuleBank("mlp", 3, in_features=4, out_features=2, hidden=[5])
    bank.freeze(1)
    flat = flatten_parameters(bank.parameters())
    bank.forward_grouped(torch.randn(9, 4), torch.tensor([0, 1, 2] * 3)).sum().backward()
    for p in bank.params:
        assert p.grad[1].abs().sum() == 0 and p.grad[0].abs().sum() > 0
    assert flat.grad.abs().sum() > 0


def test_broken_views_are_detected():
    net = make_net()
    flat = flatten_parameters(net.parameters())
    net.zero_grad(set_to_none=True)
    assert not is_flat(net.parameters(), flat)
    net = make_net()
    flat = flatten_parameters(net.parameters())
    net.load_state_dict({k: v.clone() for k, v in net.state_dict().items()}, assign=True)
    assert not is_flat(net.parameters(), flat)


def test_empty_parameters_stay_flat():
    net = make_net()
    net.empty = nn.Parameter(torch.zeros(0))
    flat = flatten_parameters(net.parameters())
    assert is_flat(net.parameters(), flat)


@pytest.mark.parametrize("params, message", [
    ([], "at least one"),
    ([nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2, dtype=torch.float64))], "one dtype"),
])
def test_bad_inputs_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        flatten_parameters(params)


def test_the_same_parameter_twice_is_refused():
    p = nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match="twice"):
        flatten_parameters([p, p])
