"""The actor-critic module kind: stacked (actor, critic) layers compute what two separate MLPs would."""

from __future__ import annotations

import pytest
import torch

from modrl.modules.actor_critic import ActorCriticModule
from modrl import ModuleBank
from modrl.modules.mlp import MLP

# (actor_in = critic_in, shared_in, actor_out, critic_out, final_activation): a task module, a robot module,
# the monolithic network, and a module with no shared input
CONFIGS = [(0, 8, 16, 16, True), (16, 9, 3, 1, False), (0, 20, 5, 1, False), (4, 0, 2, 2, False)]
HIDDENS = [[32], [32, 24], [8] * 6]  # no hidden-to-hidden layer, one, and an old file's two-digit layer keys
CASES = [(*config, hidden) for config in CONFIGS for hidden in HIDDENS]


def _mlps(module: ActorCriticModule, hidden: list[int]) -> tuple[MLP, MLP]:
    final, inputs = module.final_activation, module.own_in + module.shared_in
    return (MLP(inputs, module.actor_out, hidden, "tanh", final), MLP(inputs, module.critic_out, hidden, "tanh", final))


def as_mlps(module: ActorCriticModule, hidden: list[int]) -> tuple[MLP, MLP]:
    """The two MLPs (actor, critic) that `module`'s stacked parameters stand for."""
    p = {k: v.detach() for k, v in module.named_parameters()}
    mlps = _mlps(module, hidden)
    for k, (mlp, head) in enumerate(zip(mlps, ("actor_head", "critic_head"))):
        first = torch.cat(([p["input_own"][k]] if module.own_in else []) + ([p["input_shared"][:, k]] if module.shared_in else []), 0)
        inner = [(p[f"hidden{j}_weight"][k], p[f"hidden{j}_bias"][k]) for j in range(len(hidden) - 1)]
        last = (p["head_weight"][k], p["head_bias"][k]) if module.stacked_head else (p[f"{head}_weight"], p[f"{head}_bias"])
        linears = [m for m in mlp.net if isinstance(m, torch.nn.Linear)]
        with torch.no_grad():
            for layer, (w, b) in zip(linears, [(first, p["input_bias"][k]), *inner, last], strict=True):
                layer.weight.copy_(w.t()), layer.bias.copy_(b)
    return mlps


def reference(module: ActorCriticModule, actor: MLP, critic: MLP, x: torch.Tensor) -> torch.Tensor:
    xa, xc, xs = x.split([module.own_in, module.own_in, module.shared_in], -1)
    return torch.cat([actor(torch.cat([xa, xs], -1)), critic(torch.cat([xc, xs], -1))], -1)


def build(own, shared, out_a, out_c, final, hidden, **kwargs) -> ActorCriticModule:
    return ActorCriticModule(own, own, shared, out_a, out_c, hidden=hidden, final_activation=final, **kwargs)


@pytest.mark.parametrize("own, shared, out_a, out_c, final, hidden", CASES)
def test_stacked_layers_match_two_mlps(own, shared, out_a, out_c, final, hidden):
    torch.manual_seed(0)
    module = build(own, shared, out_a, out_c, final, hidden)
    x = torch.randn(7, 2 * own + shared)
    out = module(x)
    assert out.shape == (7, out_a + out_c)
    torch.testing.assert_close(out, reference(module, *as_mlps(module, hidden), x))


@pytest.mark.parametrize("own, shared, out_a, out_c, final, hidden", CASES)
def test_initialisation_is_two_mlps_initialised_as_before(own, shared, out_a, out_c, final, hidden):
    """Orthogonal layers with a 0.01-gain policy head and a unit-gain value head (CleanRL's), or
    `nn.Linear`'s default for modules ending in an activation, drawn in the same order as two MLPs."""
    torch.manual_seed(4)
    module = build(own, shared, out_a, out_c, final, hidden)
    torch.manual_seed(4)
    actor, critic = _mlps(module, hidden)
    if not final:
        for mlp, gain in ((actor, 0.01), (critic, 1.0)):
            linears = [m for m in mlp.net if isinstance(m, torch.nn.Linear)]
            for i, layer in enumerate(linears):
                torch.nn.init.orthogonal_(layer.weight, gain=gain if i == len(linears) - 1 else 2 ** 0.5)
                torch.nn.init.zeros_(layer.bias)
    for mine, theirs in zip(as_mlps(module, hidden), (actor, critic)):
        for a, b in zip(mine.state_dict().values(), theirs.state_dict().values(), strict=True):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("own, shared, out_a, out_c, final, hidden", CASES)
def test_earlier_two_mlp_layout_loads(own, shared, out_a, out_c, final, hidden):
    torch.manual_seed(1)
    module = build(own, shared, out_a, out_c, final, hidden, log_std=True)
    actor, critic = _mlps(module, hidden)
    old = {**{f"actor.{k}": v for k, v in actor.state_dict().items()},
           **{f"critic.{k}": v for k, v in critic.state_dict().items()}, "log_std": torch.full((out_a,), -0.5)}
    module.load_state_dict(old)
    x = torch.randn(5, 2 * own + shared)
    torch.testing.assert_close(module(x), reference(module, actor, critic, x))
    assert torch.equal(module.log_std.detach(), torch.full((out_a,), -0.5))


@pytest.mark.parametrize("own, shared, out_a, out_c, final", CONFIGS)
def test_bank_runs_modules_grouped_all_and_merged_as_each_alone(own, shared, out_a, out_c, final):
    torch.manual_seed(2)
    bank = ModuleBank("actor_critic", 3, actor_in=own, critic_in=own, shared_in=shared, actor_out=out_a,
                      critic_out=out_c, hidden=[32, 24], final_activation=final)
    x, idx = torch.randn(9, 2 * own + shared), torch.tensor([0, 2, 1, 2, 0, 0, 1, 2, 2])
    modules = [bank.module(i) for i in range(3)]
    alone = torch.stack([modules[int(i)](x[j : j + 1])[0] for j, i in enumerate(idx)])
    torch.testing.assert_close(bank.forward_grouped(x, idx), alone)
    torch.testing.assert_close(bank.forward_all(x), torch.stack([m(x) for m in modules]))
    weights = torch.softmax(torch.randn(9, 3), -1)  # one merged module per sample
    merged = [build(own, shared, out_a, out_c, final, [32, 24]) for _ in range(9)]
    for j, m in enumerate(merged):
        m.load_state_dict({n: sum(w * mod.state_dict()[n] for w, mod in zip(weights[j], modules)) for n in m.state_dict()})
    torch.testing.assert_close(bank.forward_merged(x, weights), torch.cat([m(x[j : j + 1]) for j, m in enumerate(merged)]))


def test_gradients_reach_each_part_only_through_its_own_input():
    torch.manual_seed(3)
    module = ActorCriticModule(4, 4, 3, 2, 1, hidden=[32, 24])
    x = torch.randn(6, 11, requires_grad=True)
    module(x)[:, :2].sum().backward()  # the actor's output reads the actor's and the shared input only
    assert x.grad[:, 4:8].abs().max() == 0 and x.grad[:, :4].abs().max() > 0 and x.grad[:, 8:].abs().max() > 0
    assert module.critic_head_weight.grad is None or module.critic_head_weight.grad.abs().max() == 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(actor_in=4, critic_in=2), "must be equal"),
    (dict(hidden=[]), "at least one hidden layer"),
    (dict(hidden=64), r"hidden must be a list of layer widths, e.g. \[64\], got 64"),
    (dict(actor_in=0, critic_in=0, shared_in=0), "bad input sizes"),
    (dict(actor_out=0), "actor_out must be a positive int"),
    (dict(activation="elu"), "unknown activation"),
])
def test_bad_configs_are_refused(kwargs, message):
    config = dict(actor_in=4, critic_in=4, shared_in=3, actor_out=2, critic_out=1) | kwargs
    with pytest.raises(ValueError, match=message):
        ActorCriticModule(**config)


def test_inputs_must_be_a_batch_of_rows():
    module = ActorCriticModule(4, 4, 3, 2, 1, hidden=[8])
    with pytest.raises(ValueError, match=r"expects inputs \[B, 11\]"):
        module(torch.randn(11))
    with pytest.raises(ValueError, match="11"):
        module(torch.randn(5, 10))
