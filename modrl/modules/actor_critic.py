"""The module kind of robot and task modules: an actor part and a critic part in one file.

A task module maps its task observation to two interface vectors (one for
the actor, one for the critic); a robot module maps (interface, robot
observation) to action parameters and a value. Keeping actor and critic of
one robot (or task) in one module means one file per robot and per task.

Actor and critic have the same hidden sizes, so each layer stores both parts
stacked on a leading dim of 2 (actor, critic) and runs as one batched matmul
rather than two. On PPO's small minibatches the cost of an update is the
number of tensor ops, not their arithmetic: this halves it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from modrl.compat import stack_two_mlp_actor_critic
from modrl.modules.base import Module, check_features, check_hidden, check_positive
from modrl.modules.mlp import ACTIVATIONS, MLP, make_activation
from modrl.registry import register_module


@register_module("actor_critic")
class ActorCriticModule(Module):
    """Input [x_actor | x_critic | x_shared] → output [actor(x_actor, x_shared) | critic(x_critic, x_shared)].

    Parameters (weights are [in, out]; a leading 2 is (actor, critic)):
      input_shared [S, 2, h0], input_own [2, I, h0] (when actor_in = critic_in = I > 0), input_bias [2, h0];
      hidden{j}_weight [2, h_j, h_j+1], hidden{j}_bias [2, h_j+1];
      head_weight [2, h_last, out], head_bias [2, out] when actor_out = critic_out, else
      actor_head_* and critic_head_* ([h_last, out] and [out]);
      log_std [log_std_size or actor_out] (optional): the state-independent log std of a Gaussian actor,
      the robot's own (sized apart when the actor's output is not the action, e.g. an affine map of it).
    Files of the two-`MLP` layout (`actor.net.*`, `critic.net.*`) load through `modrl.compat`.
    """

    def __init__(self, actor_in: int, critic_in: int, shared_in: int, actor_out: int, critic_out: int,
                 hidden: list[int] | tuple[int, ...] = (64, 64), activation: str = "tanh",
                 final_activation: bool = False, log_std: bool = False, init_log_std: float = 0.0,
                 log_std_size: int | None = None) -> None:
        hidden = check_hidden(hidden)
        make_activation(activation)  # fail early on an unknown name
        check_positive(actor_out=actor_out, critic_out=critic_out, **{f"hidden[{i}]": h for i, h in enumerate(hidden)})
        if min(actor_in, critic_in, shared_in) < 0 or actor_in + shared_in == 0 or critic_in + shared_in == 0:
            raise ValueError(f"bad input sizes actor_in={actor_in}, critic_in={critic_in}, shared_in={shared_in}")
        if actor_in != critic_in:
            raise ValueError(f"actor_in and critic_in must be equal (their layers are stacked), got {actor_in} and {critic_in}")
        if not hidden:
            raise ValueError("ActorCriticModule needs at least one hidden layer")
        if log_std_size is not None:
            check_positive(log_std_size=log_std_size)
        extra = {} if log_std_size is None else {"log_std_size": log_std_size}  # recorded only when set
        super().__init__(actor_in=actor_in, critic_in=critic_in, shared_in=shared_in, actor_out=actor_out,
                         critic_out=critic_out, hidden=hidden, activation=activation,
                         final_activation=final_activation, log_std=log_std, init_log_std=init_log_std, **extra)
        self.own_in, self.shared_in, self.actor_out, self.critic_out = actor_in, shared_in, actor_out, critic_out
        self.in_features = actor_in + critic_in + shared_in
        self.out_features = actor_out + critic_out
        self.stacked_head = actor_out == critic_out
        self.activation = ACTIVATIONS[activation][1]
        self.final_activation = final_activation
        self._layers = len(hidden) - 1
        # Built as two MLPs first so both parts get exactly the initialisation they always had.
        actor = MLP(actor_in + shared_in, actor_out, hidden, activation, final_activation)
        critic = MLP(critic_in + shared_in, critic_out, hidden, activation, final_activation)
        if not final_activation:  # CleanRL's initialisation: small policy output, unit value output
            _orthogonal(actor.net, last_gain=0.01)
            _orthogonal(critic.net, last_gain=1.0)
        for name, value in self._stack(actor.state_dict(), critic.state_dict()).items():
            self.register_parameter(name, nn.Parameter(value))
        std_size = actor_out if log_std_size is None else log_std_size
        self.log_std = nn.Parameter(torch.full((std_size,), float(init_log_std))) if log_std else None

    def _stack(self, actor: dict[str, Tensor], critic: dict[str, Tensor]) -> dict[str, Tensor]:
        """Two `MLP` state dicts (weights [out, in]) → this module's stacked parameters."""
        weights = lambda sd: [sd[k] for k in sd if k.endswith("weight")]  # noqa: E731  (in layer order)
        biases = lambda sd: [sd[k] for k in sd if k.endswith("bias")]  # noqa: E731
        (wa, wc), (ba, bc) = (weights(actor), weights(critic)), (biases(actor), biases(critic))
        first = torch.stack([wa[0].t(), wc[0].t()])  # [2, I + S, h0]
        params = {"input_bias": torch.stack([ba[0], bc[0]])}
        if self.shared_in:
            params["input_shared"] = first[:, self.own_in :].transpose(0, 1).contiguous()
        if self.own_in:
            params["input_own"] = first[:, : self.own_in].contiguous()
        for j in range(self._layers):  # weights: first, then the hidden-to-hidden ones, then the head
            params[f"hidden{j}_weight"] = torch.stack([wa[j + 1].t(), wc[j + 1].t()])
            params[f"hidden{j}_bias"] = torch.stack([ba[j + 1], bc[j + 1]])
        if self.stacked_head:
            params["head_weight"], params["head_bias"] = torch.stack([wa[-1].t(), wc[-1].t()]), torch.stack([ba[-1], bc[-1]])
        else:
            params["actor_head_weight"], params["actor_head_bias"] = wa[-1].t().contiguous(), ba[-1].clone()
            params["critic_head_weight"], params["critic_head_bias"] = wc[-1].t().contiguous(), bc[-1].clone()
        return {k: v.detach().clone() for k, v in params.items()}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        stack_two_mlp_actor_critic(state_dict, prefix, self._stack)  # files of the two-MLP layout
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        check_features(x, self.in_features, "ActorCriticModule")
        if x.dim() != 2:
            raise ValueError(f"ActorCriticModule expects inputs [B, {self.in_features}], got {tuple(x.shape)}")
        return self.apply(dict(self.named_parameters()), x)

    stacks = True

    def apply(self, params: dict[str, Tensor], x: Tensor) -> Tensor:
        """One module (x [B, in]) or M stacked ones (x [M, C, in], parameters [M, ...])."""
        lead, rows = x.shape[:-2], x.shape[-2]
        bias = params["input_bias"]
        if self.shared_in:
            shared = params["input_shared"].flatten(-2)  # [.., S, 2·h0]
            pre = _affine(x[..., 2 * self.own_in :], shared, bias.flatten(-2))
        else:
            pre = bias.flatten(-2).unsqueeze(-2).expand(*lead, rows, -1)
        pre = pre.unflatten(-1, (2, -1)).transpose(-3, -2)  # [.., 2, rows, h0]
        if self.own_in:
            own = x[..., : 2 * self.own_in].unflatten(-1, (2, self.own_in)).transpose(-3, -2)  # [.., 2, rows, I]
            pre = _bmm_add(pre, own, params["input_own"])
        h = self.activation(pre)
        for j in range(self._layers):
            h = self.activation(_bmm_add(params[f"hidden{j}_bias"].unsqueeze(-2), h, params[f"hidden{j}_weight"]))
        if self.stacked_head:
            out = _bmm_add(params["head_bias"].unsqueeze(-2), h, params["head_weight"])
            out = out.transpose(-3, -2).flatten(-2)  # [.., rows, 2·out]: [actor | critic]
        else:
            actor = _affine(h.select(-3, 0), params["actor_head_weight"], params["actor_head_bias"])
            critic = _affine(h.select(-3, 1), params["critic_head_weight"], params["critic_head_bias"])
            out = torch.cat([actor, critic], -1)
        return self.activation(out) if self.final_activation else out


def _affine(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """x @ weight + bias for one module ([B, in], [in, out], [out]) or M stacked ones ([M, C, in], [M, in, out], [M, out])."""
    if weight.dim() == 2:
        return torch.addmm(bias, x, weight)
    return torch.baddbmm(bias.unsqueeze(-2), x, weight)


def _bmm_add(bias: Tensor, x: Tensor, weight: Tensor) -> Tensor:
    """bias + x @ weight over the (actor, critic) dim, and a module dim in front when stacked."""
    if x.dim() == 3:
        return torch.baddbmm(bias, x, weight)
    return torch.matmul(x, weight) + bias


def _orthogonal(net: nn.Sequential, last_gain: float) -> None:
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for i, layer in enumerate(linears):
        nn.init.orthogonal_(layer.weight, gain=last_gain if i == len(linears) - 1 else 2 ** 0.5)
        nn.init.zeros_(layer.bias)
