"""The supervised methods, registered by name: how each one routes the trunk of the Digits-MTL network
(see `trainer.py`) and what it adds to the training loss.

A method is one builder and one decorator line; the trainer never names a method:

    @SUPERVISED.register("soft_moe", RouterConfig)
    def soft_moe(config: RouterConfig, train: TrainConfig) -> Trunk:
        return Trunk(config.num_modules, lambda width: SoftMoERouter(...), router_lr=config.router_lr)

- `shared`: 1 module per trunk layer, used by every task (no routing);
- `independent`: 10 modules per trunk layer, task t → module t (FixedRouter.one_per_task);
- `fixed`: `num_modules` modules per layer, task t → the t-th of the (num_modules choose k) module
  sets (FixedRouter with |K| = k; with 5 modules and k = 2 every task has its own pair, and
  every module serves 4 tasks); the outputs of the k modules are averaged;
- `soft_moe`: SoftMoERouter, softmax over every module from the task (and the layer input when
  `router_input`);
- `topk`: TopKRouter, noisy top-k over the modules with its load-balancing loss;
- `gumbel`: GumbelRouter, hard straight-through one-hot, temperature annealed from `tau` to
  `tau_min` over the run;
- `routing_reinforce`: the routing network of Rosenbaum et al. (2018): per layer a PolicyRouter
  with task-only logits (one routing policy per task) picks one module, ε-greedy while training and
  greedy in evaluation; the modules learn by gradient on the task loss, the routers by
  `reinforce_loss` with a per-sample reward (1 for a correct classification, or −loss), a per-task
  `RewardBaseline` and optionally Rosenbaum's collaboration reward.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, Literal

from torch import Tensor, nn

from agents.common.registry import MethodRegistry
from agents.supervised.config import TrainConfig
from agents.supervised.digits import NUM_TASKS
from modrl import (
    FixedRouter, GumbelRouter, PolicyRouter, RewardBaseline, RoutedNetwork, Routing, SoftMoERouter, TopKRouter,
    collaboration_reward, reinforce_loss,
)

SUPERVISED = MethodRegistry("supervised method")
"""Supervised methods by name: `build(config, train) -> Trunk`, `config` an instance of the registered
config class (None for a method without one), `train` the shared `TrainConfig`."""

REWARDS = ("correct", "neg_loss")


# -- what a method gives the trainer -----------------------------------------------------------


@dataclass
class StepOutputs:
    """One training step as a routing loss sees it (B examples)."""

    model: RoutedNetwork
    task: Tensor
    """[B] task ids"""
    y: Tensor
    """[B] 0/1 labels"""
    logits: Tensor
    """[B] each example's logit for its own task"""
    losses: Tensor
    """[B] each example's task loss, still in the graph"""
    routings: list[Routing]
    """one per layer of `model`, the head's last"""


RoutingLoss = Callable[[StepOutputs], list[Tensor]]
"""A step's extra loss terms, added to the task loss in order (e.g. one REINFORCE term per trunk layer)."""


@dataclass
class Trunk:
    """What a method builds: the router of every trunk layer, and what training adds for it."""

    num_modules: int
    """modules in every trunk layer's bank"""
    router: Callable[[int], nn.Module]
    """the router of one trunk layer from its input width; called once per layer, first layer first"""
    router_lr: float | None = None
    """Adam learning rate of the router parameters, which get no weight decay (None: the modules' lr)"""
    routing_loss: Callable[[], RoutingLoss] | None = None
    """makes a fresh routing loss for each training run (None: the task loss and the routers' aux losses only)"""


# -- configs -----------------------------------------------------------------------------------


@dataclass
class FixedConfig:
    """each task its own fixed set of k modules per layer"""

    num_modules: int = 5
    """modules per trunk layer"""
    k: int = 2
    """modules per task and layer (outputs averaged)"""


@dataclass
class RouterConfig:
    """a learned router over the modules of each trunk layer (soft_moe: a softmax over them)"""

    num_modules: int = 5
    """modules per trunk layer"""
    router_input: bool = False
    """routers also read the layer input (else the task id only)"""
    router_lr: float = 3e-2
    """Adam learning rate of the routers"""


@dataclass
class TopKConfig(RouterConfig):
    """noisy top-k routing with a load-balancing loss"""

    k: int = 2
    """active modules per example and layer"""
    balance_coef: float = 0.01
    """weight of the load-balancing loss"""


@dataclass
class GumbelConfig(RouterConfig):
    """hard straight-through Gumbel-softmax routing"""

    tau: float = 1.0
    """initial temperature"""
    tau_min: float = 0.1
    """final temperature, reached at the last step (exponential annealing)"""


@dataclass
class ReinforceConfig:
    """per-task routing policies trained by REINFORCE (Rosenbaum et al., 2018)"""

    num_modules: int = 5
    """modules per trunk layer"""
    router_lr: float = 3e-2
    """Adam learning rate of the routing policies"""
    reward: Literal["correct", "neg_loss"] = "correct"
    """per-sample reward: 1 if classified right else 0, or minus its loss"""
    epsilon: float = 0.1
    """ε-greedy exploration rate while training"""
    baseline_momentum: float = 0.9
    """momentum of the per-task running-mean reward baseline"""
    collaboration: float = 0.0
    """weight of the collaboration reward (share of the batch choosing the same module); 0 = off"""
    entropy_coef: float = 0.0
    """entropy bonus of the routing policies"""


# -- methods -----------------------------------------------------------------------------------


def _router_in(config: RouterConfig, width: int) -> int:
    return width if config.router_input else 0


def _fixed_assignment(num_modules: int, k: int) -> list[list[int]]:
    """Task t → the t-th k-subset of the modules (cycling when there are fewer subsets than tasks)."""
    subsets = list(itertools.combinations(range(num_modules), k))
    rows = []
    for t in range(NUM_TASKS):
        row = [0] * num_modules
        for m in subsets[t % len(subsets)]:
            row[m] = 1
        rows.append(row)
    return rows


@SUPERVISED.register("shared")
def shared(config: None, train: TrainConfig) -> Trunk:
    """One module per layer, used by every task."""
    return Trunk(1, lambda width: FixedRouter([[1]] * NUM_TASKS))


@SUPERVISED.register("independent")
def independent(config: None, train: TrainConfig) -> Trunk:
    """One module per task and layer."""
    return Trunk(NUM_TASKS, lambda width: FixedRouter.one_per_task(NUM_TASKS))


@SUPERVISED.register("fixed", FixedConfig)
def fixed(config: FixedConfig, train: TrainConfig) -> Trunk:
    """Task t → the t-th k-subset of the modules."""
    return Trunk(config.num_modules, lambda width: FixedRouter(_fixed_assignment(config.num_modules, config.k)))


@SUPERVISED.register("soft_moe", RouterConfig)
def soft_moe(config: RouterConfig, train: TrainConfig) -> Trunk:
    """A softmax over every module, from the task (and the layer input)."""

    def router(width: int) -> nn.Module:
        return SoftMoERouter(config.num_modules, in_features=_router_in(config, width), num_tasks=NUM_TASKS)

    return Trunk(config.num_modules, router, router_lr=config.router_lr)


@SUPERVISED.register("topk", TopKConfig)
def topk(config: TopKConfig, train: TrainConfig) -> Trunk:
    """Noisy top-k over the modules, with its load-balancing loss."""

    def router(width: int) -> nn.Module:
        return TopKRouter(config.num_modules, k=config.k, in_features=_router_in(config, width), num_tasks=NUM_TASKS,
                          balance_coef=config.balance_coef)

    return Trunk(config.num_modules, router, router_lr=config.router_lr)


@SUPERVISED.register("gumbel", GumbelConfig)
def gumbel(config: GumbelConfig, train: TrainConfig) -> Trunk:
    """Hard Gumbel-softmax, temperature annealed from tau to tau_min over the run."""
    rate = max(math.log(config.tau / config.tau_min) / max(train.steps - 1, 1), 0.0)

    def router(width: int) -> nn.Module:
        return GumbelRouter(config.num_modules, in_features=_router_in(config, width), num_tasks=NUM_TASKS, hard=True,
                            tau=config.tau, tau_min=config.tau_min, anneal_rate=rate)

    return Trunk(config.num_modules, router, router_lr=config.router_lr)


@SUPERVISED.register("routing_reinforce", ReinforceConfig)
def routing_reinforce(config: ReinforceConfig, train: TrainConfig) -> Trunk:
    """A routing policy per task and layer, trained by REINFORCE."""
    if config.reward not in REWARDS:
        raise ValueError(f"unknown reward {config.reward!r}; valid: {list(REWARDS)}")

    def router(width: int) -> nn.Module:
        return PolicyRouter(config.num_modules, num_tasks=NUM_TASKS, epsilon=config.epsilon)

    return Trunk(config.num_modules, router, router_lr=config.router_lr, routing_loss=lambda: ReinforceLoss(config))


class ReinforceLoss:
    """One REINFORCE term per trunk layer: a per-sample reward against a per-task running-mean baseline."""

    def __init__(self, config: ReinforceConfig) -> None:
        self.config = config
        self.baseline = RewardBaseline(NUM_TASKS, momentum=config.baseline_momentum)

    def reward(self, step: StepOutputs) -> Tensor:
        if self.config.reward == "correct":
            return ((step.logits > 0).float() == step.y).float()
        return -step.losses.detach()

    def __call__(self, step: StepOutputs) -> list[Tensor]:
        c = self.config
        reward = self.reward(step)
        self.baseline.to(step.task.device)
        base = self.baseline(step.task, len(step.task))
        terms = []
        for layer, routing in zip(step.model.layers, step.routings[:-1]):  # the head's routing is fixed
            layer_reward = reward
            if c.collaboration:
                layer_reward = reward + collaboration_reward(routing.indices, layer.bank.num_modules, c.collaboration)
            terms.append(reinforce_loss(routing.log_probs, layer_reward, base, routing.entropy, c.entropy_coef))
        self.baseline.update(reward, step.task)
        return terms
