"""The actor-critic module kind: stacked (actor, critic) layers compute what two separate MLPs would."""

from __future__ import annotations

import pytest
import torch

from agents.heads import ActorCriticModule
from modrl import ModuleBank
from modrl.modules.mlp import MLP

# (actor_in = critic_in, shared_in, actor_out, critic_out, final_activation): a task module, a robot module,
# the monolithic network, and a module with no shared input
CONFIGS = [(0, 8, 16, 16, True), (16, 9, 3, 1, False), (0, 20, 5, 1, False), (4, 0, 2, 2, False)]
HIDDEN = [32, 24]


def as_mlps(module: ActorCriticModule) -> tuple[MLP, MLP]:
    """The two MLPs (actor, critic) that `module`'s stacked parameters stand for."""
    own, shared, out_a, out_c, final = module.own_in, module.shared_in, module.actor_out, module.critic_out, module.final_activation
    p = {k: v.detach() for k, v in module.named_parameters()}
    mlps = []
    for k, (out, head) in enumerate([(out_a, "actor_head"), (out_c, "critic_head")]):
        mlp = MLP(own + shared, out, HIDDEN, "tanh", final)
        first = torch.cat(([p["input_own"][k]] if own else []) + ([p["input_shared"][:, k]] if shared else []), 0)
        weights = [first, p["hidden0_weight"][k], p["head_weight"][k] if out_a == out_c else p[f"{head}_weight"]]
        biases = [p["input_bias"][k], p["hidden0_bias"][k], p["head_bias"][k] if out_a == out_c else p[f"{head}_bias"]]
        linears = [m for m in mlp.net if isinstance(m, torch.nn.Linear)]
        with torch.no_grad():
            for layer, w, b in zip(linears, weights, biases):
                layer.weight.copy_(w.t()), layer.bias.copy_(b)
        mlps.append(mlp)
    return mlps[0], mlps[1]


def reference(module: ActorCriticModule, actor: MLP, critic: MLP, x: torch.Tensor) -> torch.Tensor:
    xa, xc, xs = x.split([module.own_in, module.own_in, module.shared_in], -1)
    return torch.cat([actor(torch.cat([xa, xs], -1)), critic(torch.cat([xc, xs], -1))], -1)


@pytest.mark.parametrize("own, shared, out_a, out_c, final", CONFIGS)
def test_stacked_layers_match_two_mlps(own, shared, out_a, out_c, final):
    torch.manual_seed(0)
    module = ActorCriticModule(own, own, shared, out_a, out_c, hidden=HIDDEN, final_activation=final)
    x = torch.randn(7, 2 * own + shared)
    out = module(x)
    assert out.shape == (7, out_a + out_c)
    torch.testing.assert_close(out, reference(module, *as_mlps(module), x))


@pytest.mark.parametrize("own, shared, out_a, out_c, final", CONFIGS)
def test_earlier_two_mlp_layout_loads(own, shared, out_a, out_c, final):
    torch.manual_seed(1)
    actor, critic = MLP(own + shared, out_a, HIDDEN, "tanh", final), MLP(own + shared, out_c, HIDDEN, "tanh", final)
    old = {**{f"actor.{k}": v for k, v in actor.state_dict().items()},
           **{f"critic.{k}": v for k, v in critic.state_dict().items()}, "log_std": torch.full((out_a,), -0.5)}
    module = ActorCriticModule(own, own, shared, out_a, out_c, hidden=HIDDEN, final_activation=final, log_std=True)
    module.load_state_dict(old)
    x = torch.randn(5, 2 * own + shared)
    torch.testing.assert_close(module(x), reference(module, actor, critic, x))
    assert torch.equal(module.log_std.detach(), torch.full((out_a,), -0.5))


@pytest.mark.parametrize("own, shared, out_a, out_c, final", CONFIGS)
def test_bank_runs_modules_grouped_as_each_alone(own, shared, out_a, out_c, final):
    torch.manual_seed(2)
    bank = ModuleBank("actor_critic", 3, actor_in=own, critic_in=own, shared_in=shared, actor_out=out_a,
                      critic_out=out_c, hidden=HIDDEN, final_activation=final)
    x, idx = torch.randn(9, 2 * own + shared), torch.tensor([0, 2, 1, 2, 0, 0, 1, 2, 2])
    alone = torch.stack([bank.module(int(i))(x[j : j + 1])[0] for j, i in enumerate(idx)])
    torch.testing.assert_close(bank.forward_grouped(x, idx), alone)


def test_gradients_reach_each_part_only_through_its_own_input():
    torch.manual_seed(3)
    module = ActorCriticModule(4, 4, 3, 2, 1, hidden=HIDDEN)
    x = torch.randn(6, 11, requires_grad=True)
    module(x)[:, :2].sum().backward()  # the actor's output reads the actor's and the shared input only
    assert x.grad[:, 4:8].abs().max() == 0 and x.grad[:, :4].abs().max() > 0 and x.grad[:, 8:].abs().max() > 0
    assert module.critic_head_weight.grad is None or module.critic_head_weight.grad.abs().max() == 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(actor_in=4, critic_in=2), "must be equal"),
    (dict(hidden=[]), "at least one hidden layer"),
    (dict(actor_in=0, critic_in=0, shared_in=0), "bad input sizes"),
    (dict(actor_out=0), "actor_out must be a positive int"),
])
def test_bad_configs_are_refused(kwargs, message):
    config = dict(actor_in=4, critic_in=4, shared_in=3, actor_out=2, critic_out=1) | kwargs
    with pytest.raises(ValueError, match=message):
        ActorCriticModule(**config)
