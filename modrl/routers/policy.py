"""Routing as a policy: hard choices sampled and trained by REINFORCE or a PPO-style clipped update
(Rosenbaum et al., 2018; Chang et al., 2019). The reward comes from the caller."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Categorical

from modrl.registry import register_router
from modrl.routers.base import Router, ScoreNet
from modrl.routing import Routing


@register_router("policy")
class PolicyRouter(Router):
    """Samples one module per sample (ε-greedy while training, greedy in eval) and keeps its log-probability."""

    def __init__(self, num_modules: int, in_features: int = 0, num_tasks: int = 0, epsilon: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.num_modules, self.epsilon = num_modules, epsilon
        self.scores = ScoreNet(num_modules, in_features, num_tasks)

    def learns_from_weights(self) -> bool:
        """False: its choices carry no weights; it learns from log-probabilities (REINFORCE, PPO)."""
        return False

    def distribution(self, x: Tensor | None, ids: Tensor | None) -> Categorical:
        return Categorical(logits=self.scores(x, ids))

    def forward(self, x: Tensor | None, ids: Tensor | None = None) -> Routing:
        dist = self.distribution(x, ids)
        if not self.training:
            choice = dist.probs.argmax(-1)
            return Routing(indices=choice.unsqueeze(1), log_probs=dist.log_prob(choice), entropy=dist.entropy())
        choice = dist.sample()
        if self.epsilon > 0:
            explore = torch.rand(choice.shape, device=choice.device) < self.epsilon
            choice = torch.where(explore, torch.randint_like(choice, self.num_modules), choice)
        return Routing(indices=choice.unsqueeze(1), log_probs=self._log_prob(dist, choice), entropy=dist.entropy())

    def _log_prob(self, dist: Categorical, choice: Tensor) -> Tensor:
        """log-probability under the behaviour policy: (1 − ε)·π + ε·uniform while training."""
        if not self.training or self.epsilon == 0:
            return dist.log_prob(choice)
        return ((1 - self.epsilon) * dist.log_prob(choice).exp() + self.epsilon / self.num_modules).log()

    def evaluate(self, x: Tensor | None, ids: Tensor | None, indices: Tensor) -> tuple[Tensor, Tensor]:
        """Log-probability and entropy of given choices [B] or [B, 1] under the current policy (for PPO)."""
        dist = self.distribution(x, ids)
        return self._log_prob(dist, indices.reshape(-1)), dist.entropy()


class RewardBaseline(nn.Module):
    """A running mean reward per task, subtracted from the reward to lower REINFORCE's variance."""

    def __init__(self, num_tasks: int = 1, momentum: float = 0.9) -> None:
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self.register_buffer("mean", torch.zeros(num_tasks))
        self.register_buffer("seen", torch.zeros(num_tasks, dtype=torch.bool))

    def forward(self, ids: Tensor | None, batch_size: int) -> Tensor:
        ids = torch.zeros(batch_size, dtype=torch.long) if ids is None else ids
        return self.mean[ids]

    @torch.no_grad()
    def update(self, rewards: Tensor, ids: Tensor | None = None) -> None:
        ids = torch.zeros_like(rewards, dtype=torch.long) if ids is None else ids
        for task in ids.unique():
            r = rewards[ids == task].float().mean()
            t = int(task)
            self.mean[t] = r if not self.seen[t] else self.momentum * self.mean[t] + (1 - self.momentum) * r
            self.seen[t] = True


def collaboration_reward(indices: Tensor, num_modules: int, weight: float = 0.1) -> Tensor:
    """Rosenbaum's collaboration reward: weight × the share of the batch that chose the same module,
    so tasks are pushed to share modules. indices: [B] or [B, 1] → [B]."""
    flat = indices.reshape(-1)
    share = torch.bincount(flat, minlength=num_modules).float() / max(flat.numel(), 1)
    return weight * share[flat]


def reinforce_loss(log_probs: Tensor, rewards: Tensor, baseline: Tensor | None = None,
                   entropy: Tensor | None = None, entropy_coef: float = 0.0) -> Tensor:
    """−E[(r − b) log π(a)] − c·H: the score-function gradient estimator."""
    advantage = rewards - (baseline if baseline is not None else 0.0)
    loss = -(advantage.detach() * log_probs).mean()
    if entropy is not None and entropy_coef:
        loss = loss - entropy_coef * entropy.mean()
    return loss


def ppo_clip_loss(log_probs: Tensor, old_log_probs: Tensor, advantages: Tensor, clip: float = 0.2) -> Tensor:
    """PPO's clipped surrogate: −E[min(ρ A, clip(ρ, 1−ε, 1+ε) A)], ρ = π/π_old."""
    ratio = (log_probs - old_log_probs.detach()).exp()
    advantages = advantages.detach()
    return -torch.min(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages).mean()
