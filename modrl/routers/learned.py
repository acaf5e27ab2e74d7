"""Learned differentiable routers: soft mixture, noisy top-k, Gumbel-softmax."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from modrl.registry import register_router
from modrl.routers.base import Router, ScoreNet, entropy_of
from modrl.routing import Routing


@register_router("soft")
class SoftMoERouter(Router):
    """Softmax weights over every module, from the input and/or a task embedding."""

    def __init__(self, num_modules: int, in_features: int = 0, num_tasks: int = 0) -> None:
        super().__init__()
        self.num_modules = num_modules
        self.scores = ScoreNet(num_modules, in_features, num_tasks)

    def forward(self, x: Tensor | None, ids: Tensor | None = None) -> Routing:
        logits = self.scores(x, ids)
        return Routing(weights=torch.softmax(logits, -1), entropy=entropy_of(logits))


@register_router("topk")
class TopKRouter(Router):
    """Noisy top-k gating (Shazeer et al., 2017): renormalised weights over k modules (k = 1: the
    chosen module's probability) and a load-balancing loss M · Σᵢ fᵢ Pᵢ (fraction routed × mean
    probability, Switch-style)."""

    def __init__(self, num_modules: int, k: int = 2, in_features: int = 0, num_tasks: int = 0,
                 noisy: bool = True, balance_coef: float = 0.01) -> None:
        super().__init__()
        if not 1 <= k <= num_modules:
            raise ValueError(f"k must be in [1, num_modules={num_modules}], got {k}")
        self.num_modules, self.k, self.noisy, self.balance_coef = num_modules, k, noisy, balance_coef
        self.scores = ScoreNet(num_modules, in_features, num_tasks)
        self.noise = ScoreNet(num_modules, in_features, num_tasks) if noisy else None

    def forward(self, x: Tensor | None, ids: Tensor | None = None) -> Routing:
        clean = self.scores(x, ids)
        logits = clean
        if self.noise is not None and self.training:
            logits = clean + torch.randn_like(clean) * F.softplus(self.noise(x, ids))
        top, indices = logits.topk(self.k, dim=-1)
        probs = torch.softmax(logits, -1)
        routed = F.one_hot(indices[:, 0], self.num_modules).float().mean(0)
        balance = self.num_modules * (routed * probs.mean(0)).sum()
        # k = 1: the renormalised weight would be the constant 1 (no gradient to the router), so the
        # gate is the chosen module's softmax probability, as in Switch Transformers.
        weights = probs.gather(1, indices) if self.k == 1 else torch.softmax(top, -1)
        return Routing(indices=indices, weights=weights, entropy=entropy_of(clean),
                       aux_losses={"load_balance": self.balance_coef * balance})


@register_router("gumbel")
class GumbelRouter(Router):
    """Gumbel-softmax / concrete routing; `hard=True` is straight-through one-hot.

    The temperature follows τ(step) = max(τ_min, τ₀ · exp(-rate · step)); call `anneal(step)`.
    """

    def __init__(self, num_modules: int, in_features: int = 0, num_tasks: int = 0, hard: bool = False,
                 tau: float = 1.0, tau_min: float = 0.1, anneal_rate: float = 0.0) -> None:
        super().__init__()
        if tau <= 0 or tau_min <= 0:
            raise ValueError(f"temperatures must be positive, got tau={tau}, tau_min={tau_min}")
        self.num_modules, self.hard = num_modules, hard
        self.tau0, self.tau, self.tau_min, self.anneal_rate = tau, tau, tau_min, anneal_rate
        self.scores = ScoreNet(num_modules, in_features, num_tasks)

    def anneal(self, step: int) -> float:
        self.tau = max(self.tau_min, self.tau0 * math.exp(-self.anneal_rate * step))
        return self.tau

    def forward(self, x: Tensor | None, ids: Tensor | None = None) -> Routing:
        logits = self.scores(x, ids)
        if not self.training:  # evaluation is deterministic: the most likely module, or the tempered softmax
            if not self.hard:
                return Routing(weights=torch.softmax(logits / self.tau, -1), entropy=entropy_of(logits))
            choice = logits.argmax(-1, keepdim=True)
            return Routing(indices=choice, weights=torch.ones_like(choice, dtype=logits.dtype), entropy=entropy_of(logits))
        sample = F.gumbel_softmax(logits, tau=self.tau, hard=self.hard)
        if self.hard:  # one module per sample, weight 1 carrying the straight-through gradient
            choice = sample.argmax(-1, keepdim=True)
            return Routing(indices=choice, weights=sample.gather(1, choice), entropy=entropy_of(logits))
        return Routing(weights=sample, entropy=entropy_of(logits))
