"""The policy contract: what PPO, evaluation and module files need of a policy, and nothing more.

A policy acts in two steps. `draw(obs)` samples whatever the policy chooses besides the action
(interface dropout masks, routing choices) into a `replay` dict; `distribution(obs, replay)` gives
the action distribution and value *given* those choices. PPO stores `replay` with the rollout and
calls `distribution` again with it in the update, so the probability ratio compares the same
choices. Fixed routing replays nothing, a learned router replays its sampled modules, an evolved
`Path` is a constant.

A policy that learns from what its actions did (`wants_ee_move` true) finds two more entries in the
replay PPO hands its `aux_losses`: EE_MOVE, each step's end-effector move as the env reported it
(suites with "ee_move" in `Suite.step_info`), and APPLIED, the action the env applied (clipped).

A policy whose modules are more than one per robot and task (a routed policy's banks by layer and its
routers) also offers `save_files(directory, suite)`, which training calls instead of `save_modules`.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor
from torch.distributions import Categorical

from agents.common.spec import ObsBatch, SuiteSpec
from modrl import ModuleBank

Replay = dict[str, Tensor]
"""What a policy sampled besides the action, and what PPO keeps for it (EE_MOVE, APPLIED), row-aligned
with the batch ([B, ...] tensors)."""

EE_MOVE = "ee_move"  # replay key: the step's end-effector move [B, 2] (policies with `wants_ee_move`)
APPLIED = "applied"  # replay key: the action as the env takes it, clipped to [-1, 1] [B, A] (likewise)
MESSAGE = "message"  # ActionDist extra: the [B, 2] message a robot module maps as an end-effector move (affine, width 2)

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@runtime_checkable
class ActorCriticPolicy(Protocol):
    """A policy over every (robot, task) pair of a suite (an `nn.Module` in practice)."""

    spec: SuiteSpec

    def draw(self, obs: ObsBatch, starts: Tensor | None = None) -> Replay:
        """Sample the choices to act with on `obs` (empty when the policy samples nothing but actions).

        `starts` [B] bool marks the rows whose episode begins at `obs` (PPO passes it while
        collecting: all true after a reset, then each step's `ended`), so a policy may hold a choice
        for a whole episode; None: no episode stream, every row chooses afresh."""

    def distribution(self, obs: ObsBatch, replay: Replay) -> "ActionDist":
        """The action distribution and value on `obs` given `replay` (empty: act without sampled choices)."""

    def aux_losses(self, obs: ObsBatch, dist: "ActionDist", replay: Replay,
                   advantages: Tensor | None = None) -> dict[str, Tensor]:
        """Losses PPO adds to its own in the update (e.g. a dropout-consistency penalty); `dist` is
        `distribution(obs, replay)`, `advantages` [B] the minibatch advantages as PPO's surrogate
        uses them (e.g. the reward of a router learned by REINFORCE)."""

    def banks(self) -> dict[str, tuple[ModuleBank, tuple[str, ...]]]:
        """Module banks by role with their modules' names, for one file per module (empty: none)."""


def index_replay(replay: Replay, index) -> Replay:
    """The rows `index` of every replayed tensor."""
    return {key: value[index] for key, value in replay.items()}


def stack_replays(replays: list[Replay]) -> Replay:
    """[T] replays of [N] rows → one replay of [T, N] rows."""
    return {key: torch.stack([r[key] for r in replays]) for key in replays[0]} if replays else {}


class ActionDist:
    """The action distribution of a padded batch: entries outside a robot's own action are masked out.

    Continuous actions are a diagonal Gaussian written out by hand (mean, state-independent log
    std): a `torch.distributions.Normal` per call cost more than the policy's own layers here.
    `choice_log_prob` [B], when given, is the log-probability of the policy's replayed choices
    (e.g. routing decisions); it joins the action's in `log_prob`, so PPO's ratio covers both.
    `extras`: what the policy's forward pass computed on the way that its `aux_losses` reuse, and
    MESSAGE where the message asks for an end-effector move (evaluation measures how it is tracked).
    """

    def __init__(self, params: Tensor, value: Tensor, mask: Tensor, discrete: bool,
                 log_std: Tensor | None = None, choice_log_prob: Tensor | None = None,
                 extras: dict[str, Tensor] | None = None) -> None:
        self.value, self.mask, self.discrete = value, mask, discrete
        self.choice_log_prob = choice_log_prob
        self.extras = extras or {}
        if discrete:
            self.dist = Categorical(logits=params.masked_fill(mask == 0, -1e9), validate_args=False)
        else:
            if log_std is None:
                raise ValueError("a continuous action distribution needs log_std")
            self.mean, self.log_std = params, log_std
            self.std = log_std.exp()

    def sample(self) -> Tensor:
        if self.discrete:
            return self.dist.sample()
        return ((self.mean + self.std * torch.randn_like(self.mean)) * self.mask).detach()

    def mode(self) -> Tensor:
        return self.dist.probs.argmax(-1) if self.discrete else self.mean * self.mask

    def log_prob(self, action: Tensor) -> Tensor:
        """log π(action | obs, replay), plus the replayed choices' log-probability when there is one."""
        if self.discrete:
            logp = self.dist.log_prob(action.long())
        else:
            z = (action - self.mean) / self.std
            logp = ((-0.5 * z * z - self.log_std - LOG_SQRT_2PI) * self.mask).sum(-1)
        return logp if self.choice_log_prob is None else logp + self.choice_log_prob

    def entropy(self) -> Tensor:
        if self.discrete:
            return self.dist.entropy()
        return ((self.log_std + (0.5 + LOG_SQRT_2PI)) * self.mask).sum(-1)
