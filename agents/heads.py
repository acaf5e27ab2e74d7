"""The module kind of robot and task modules: an actor part and a critic part in one file.

A task module maps its task observation to two interface vectors (one for
the actor, one for the critic); a robot module maps (interface, robot
observation) to action parameters and a value. Keeping actor and critic of
one robot (or task) in one module means one file per robot and per task.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from modrl.modules.base import Module, check_features, check_positive
from modrl.modules.mlp import MLP
from modrl.registry import register_module


@register_module("actor_critic")
class ActorCriticModule(Module):
    """Input [x_actor | x_critic | x_shared] → output [actor(x_actor, x_shared) | critic(x_critic, x_shared)].

    `log_std` (optional) is the state-independent log standard deviation of a
    Gaussian actor: it belongs to the robot, so it lives in the robot's module.
    """

    def __init__(self, actor_in: int, critic_in: int, shared_in: int, actor_out: int, critic_out: int,
                 hidden: list[int] | tuple[int, ...] = (64, 64), activation: str = "tanh",
                 final_activation: bool = False, log_std: bool = False, init_log_std: float = 0.0) -> None:
        hidden = [int(h) for h in hidden]
        check_positive(actor_out=actor_out, critic_out=critic_out)
        if min(actor_in, critic_in, shared_in) < 0 or actor_in + shared_in == 0 or critic_in + shared_in == 0:
            raise ValueError(f"bad input sizes actor_in={actor_in}, critic_in={critic_in}, shared_in={shared_in}")
        super().__init__(actor_in=actor_in, critic_in=critic_in, shared_in=shared_in, actor_out=actor_out,
                         critic_out=critic_out, hidden=hidden, activation=activation,
                         final_activation=final_activation, log_std=log_std, init_log_std=init_log_std)
        self.actor_in, self.critic_in = actor_in, critic_in
        self.in_features = actor_in + critic_in + shared_in
        self.out_features = actor_out + critic_out
        self.actor = MLP(actor_in + shared_in, actor_out, hidden, activation, final_activation)
        self.critic = MLP(critic_in + shared_in, critic_out, hidden, activation, final_activation)
        if not final_activation:  # CleanRL's initialisation: small policy output, unit value output
            _orthogonal(self.actor.net, last_gain=0.01)
            _orthogonal(self.critic.net, last_gain=1.0)
        self.log_std = nn.Parameter(torch.full((actor_out,), float(init_log_std))) if log_std else None

    def forward(self, x: Tensor) -> Tensor:
        check_features(x, self.in_features, "ActorCriticModule")
        xa, xc, xs = x.split([self.actor_in, self.critic_in, x.shape[-1] - self.actor_in - self.critic_in], dim=-1)
        return torch.cat([self.actor(torch.cat([xa, xs], -1)), self.critic(torch.cat([xc, xs], -1))], -1)

    stacks = True

    def apply(self, params: dict[str, Tensor], x: Tensor) -> Tensor:
        if self.actor_in == self.critic_in == 0:  # both parts read the shared input only
            actor_x = critic_x = x
        else:
            xa, xc, xs = x.split([self.actor_in, self.critic_in, x.shape[-1] - self.actor_in - self.critic_in], -1)
            actor_x, critic_x = torch.cat([xa, xs], -1), torch.cat([xc, xs], -1)
        return torch.cat([self.actor.apply(params, actor_x, "actor."), self.critic.apply(params, critic_x, "critic.")], -1)


def _orthogonal(net: nn.Sequential, last_gain: float) -> None:
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for i, layer in enumerate(linears):
        nn.init.orthogonal_(layer.weight, gain=last_gain if i == len(linears) - 1 else 2 ** 0.5)
        nn.init.zeros_(layer.bias)
