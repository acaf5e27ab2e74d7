"""Supervised multitask training of routed networks on Digits-MTL (see `agents/digits.py`).

Every method is the same `RoutedNetwork` shape, built from modrl pieces only:

    x [64] → routed layer 0 (bank of Linear 64→hidden) → ReLU → … → routed layer L-1 (hidden→hidden)
           → ReLU → head (bank of 10 Linear hidden→1, FixedRouter.one_per_task) → logit of task t

The head is per task in every method (task t reads only its own output unit, the usual
"hard parameter sharing" head), so the methods differ only in how the trunk layers route:

- `shared`: 1 module per trunk layer, used by every task (no routing);
- `independent`: 10 modules per trunk layer, task t → module t (FixedRouter.one_per_task);
- `fixed`: `num_modules` modules per layer, task t → the t-th of the (num_modules choose k) module
  sets (FixedRouter with |K| = k; with 5 modules and k = 2 every task has its own pair, and
  every module serves 4 tasks); the outputs of the k modules are averaged;
- `soft_moe`: SoftMoERouter, softmax over every module from the task (and the layer input when
  `router_input`);
- `topk`: TopKRouter, noisy top-k over the modules with its load-balancing loss;
- `gumbel`: GumbelRouter, hard straight-through one-hot, temperature annealed from `gumbel_tau`
  to `gumbel_tau_min` over the run;
- `routing_reinforce`: the routing network of Rosenbaum et al. (2018): per layer a PolicyRouter
  with task-only logits (one routing policy per task) picks one module, ε-greedy while training and
  greedy in evaluation; the modules learn by gradient on the task loss, the routers by
  `reinforce_loss` with a per-sample reward (1 for a correct classification, or −loss), a per-task
  `RewardBaseline` and optionally Rosenbaum's collaboration reward.

Training: Adam, mini-batches drawn uniformly from the union of the ten training sets (so tasks mix
inside a batch and the banks dispatch grouped by module), a fixed number of steps. Evaluation:
`model.eval()` (greedy routing), accuracy of `logit > 0` on each task's balanced test set.
`parameters` counts every trainable parameter of the method, routers included.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agents.supervised.digits import NUM_FEATURES, NUM_TASKS, TaskData, make_digits_mtl
from modrl import (
    FixedRouter, GumbelRouter, ModuleBank, PolicyRouter, RewardBaseline, RoutedLayer, RoutedNetwork,
    SoftMoERouter, TopKRouter, collaboration_reward, reinforce_loss,
)

METHODS = ("shared", "independent", "fixed", "soft_moe", "topk", "gumbel", "routing_reinforce")


@dataclass
class SupervisedConfig:
    """Digits-MTL benchmark settings (one value for every method)."""

    train_per_task: int = 40
    """training examples per task (half positives, half negatives)"""
    test_fraction: float = 0.5
    """share of each digit's images held out for the test pool (never used for training)"""
    hidden: int = 32
    """width of every module's output in the trunk"""
    num_layers: int = 2
    """routed trunk layers (the per-task head comes on top)"""
    num_modules: int = 5
    """modules per trunk layer for fixed / soft_moe / topk / gumbel / routing_reinforce"""
    k: int = 2
    """active modules per task and layer for `fixed` and `topk`"""
    router_input: bool = False
    """soft_moe / topk / gumbel routers also read the layer input (else task id only)"""
    steps: int = 600
    """optimisation steps per run"""
    batch_size: int = 64
    """examples per mini-batch, drawn from every task's training set together"""
    lr: float = 3e-3
    """Adam learning rate of the modules and heads"""
    weight_decay: float = 1e-4
    """Adam (L2) weight decay of the modules and heads"""
    router_lr: float = 3e-2
    """Adam learning rate of every learned router (soft_moe, topk, gumbel, routing_reinforce)"""
    topk_balance_coef: float = 0.01
    """weight of TopKRouter's load-balancing loss"""
    gumbel_tau: float = 1.0
    """initial Gumbel-softmax temperature"""
    gumbel_tau_min: float = 0.1
    """final Gumbel-softmax temperature, reached at the last step (exponential annealing)"""
    reward: str = "correct"
    """routing_reinforce per-sample reward: "correct" (1 if classified right, else 0) or "neg_loss" (minus its loss)"""
    epsilon: float = 0.1
    """routing_reinforce ε-greedy exploration rate while training"""
    baseline_momentum: float = 0.9
    """momentum of the per-task running-mean reward baseline"""
    collaboration: float = 0.0
    """weight of Rosenbaum's collaboration reward (share of the batch choosing the same module); 0 = off"""
    router_entropy_coef: float = 0.0
    """entropy bonus of the routing policies"""
    threads: int = 1
    """torch CPU threads (0 = leave torch's default); these models are tiny, so 1 is fastest and
    avoids thread spin-waiting on a busy machine"""


# -- models ------------------------------------------------------------------------------------


def _bank(in_features: int, out_features: int, num_modules: int) -> ModuleBank:
    return ModuleBank("linear", num_modules, in_features=in_features, out_features=out_features)


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


def _trunk_router(method: str, config: SupervisedConfig, in_features: int) -> tuple[nn.Module, int]:
    """(router, number of modules) of one trunk layer."""
    m, router_in = config.num_modules, in_features if config.router_input else 0
    if method == "shared":
        return FixedRouter([[1]] * NUM_TASKS), 1
    if method == "independent":
        return FixedRouter.one_per_task(NUM_TASKS), NUM_TASKS
    if method == "fixed":
        return FixedRouter(_fixed_assignment(m, config.k)), m
    if method == "soft_moe":
        return SoftMoERouter(m, in_features=router_in, num_tasks=NUM_TASKS), m
    if method == "topk":
        return TopKRouter(m, k=config.k, in_features=router_in, num_tasks=NUM_TASKS,
                          balance_coef=config.topk_balance_coef), m
    if method == "gumbel":
        rate = math.log(config.gumbel_tau / config.gumbel_tau_min) / max(config.steps - 1, 1)
        return GumbelRouter(m, in_features=router_in, num_tasks=NUM_TASKS, hard=True, tau=config.gumbel_tau,
                            tau_min=config.gumbel_tau_min, anneal_rate=max(rate, 0.0)), m
    if method == "routing_reinforce":
        return PolicyRouter(m, num_tasks=NUM_TASKS, epsilon=config.epsilon), m
    raise ValueError(f"unknown method {method!r}; valid: {list(METHODS)}")


def build_model(method: str, config: SupervisedConfig) -> RoutedNetwork:
    """The method's routed trunk plus the per-task head, as one RoutedNetwork."""
    check_method(method)
    if config.num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {config.num_layers}")
    layers, width = [], NUM_FEATURES
    for _ in range(config.num_layers):
        router, m = _trunk_router(method, config, width)
        layers.append(RoutedLayer(_bank(width, config.hidden, m), router))
        width = config.hidden
    layers.append(RoutedLayer(_bank(width, 1, NUM_TASKS), FixedRouter.one_per_task(NUM_TASKS)))
    return RoutedNetwork(layers, activation="relu")


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {list(METHODS)}")


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _is_router_param(name: str) -> bool:
    return ".router." in name


# -- training ----------------------------------------------------------------------------------


def _rewards(config: SupervisedConfig, logits: Tensor, y: Tensor, losses: Tensor) -> Tensor:
    if config.reward == "correct":
        return ((logits > 0).float() == y).float()
    if config.reward == "neg_loss":
        return -losses.detach()
    raise ValueError(f"unknown reward {config.reward!r}; valid: ['correct', 'neg_loss']")


@torch.no_grad()
def evaluate(model: RoutedNetwork, test: TaskData) -> list[float]:
    """Accuracy of `logit > 0` on each task's test set, greedy routing."""
    model.eval()
    logits, _ = model(test.x, test.task)
    correct = ((logits[:, 0] > 0).float() == test.y).float()
    return [float(correct[test.task == t].mean()) for t in range(NUM_TASKS)]


def train(method: str, model: RoutedNetwork, train_data: TaskData, config: SupervisedConfig,
          generator: torch.Generator) -> float:
    """Train in place; returns the mean task loss over the last 10% of steps."""
    reinforce = method == "routing_reinforce"
    router_params = [p for n, p in model.named_parameters() if _is_router_param(n)]
    module_params = [p for n, p in model.named_parameters() if not _is_router_param(n)]
    groups = [{"params": module_params, "lr": config.lr, "weight_decay": config.weight_decay}]
    if router_params:
        groups.append({"params": router_params, "lr": config.router_lr, "weight_decay": 0.0})
    optimizer = torch.optim.Adam(groups)
    baseline = RewardBaseline(NUM_TASKS, momentum=config.baseline_momentum) if reinforce else None
    gumbels = [m for m in model.modules() if isinstance(m, GumbelRouter)]
    if config.reward not in ("correct", "neg_loss"):
        raise ValueError(f"unknown reward {config.reward!r}; valid: ['correct', 'neg_loss']")

    tail, tail_from = [], int(0.9 * config.steps)
    model.train()
    for step in range(config.steps):
        for router in gumbels:
            router.anneal(step)
        idx = torch.randint(len(train_data), (config.batch_size,), generator=generator)
        x, task, y = train_data.x[idx], train_data.task[idx], train_data.y[idx]
        logits, routings = model(x, task)
        losses = F.binary_cross_entropy_with_logits(logits[:, 0], y, reduction="none")
        loss = losses.mean() + RoutedNetwork.aux_loss(routings)
        if reinforce:
            reward = _rewards(config, logits[:, 0], y, losses)
            base = baseline(task, len(idx))
            for layer, routing in zip(model.layers, routings[:-1]):  # the head's routing is fixed
                layer_reward = reward
                if config.collaboration:
                    layer_reward = reward + collaboration_reward(routing.indices, layer.bank.num_modules,
                                                                 config.collaboration)
                loss = loss + reinforce_loss(routing.log_probs, layer_reward, base, routing.entropy,
                                             config.router_entropy_coef)
            baseline.update(reward, task)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= tail_from:
            tail.append(float(losses.detach().mean()))
    return sum(tail) / max(len(tail), 1)


def run_method(method: str, seed: int, config: SupervisedConfig | None = None) -> dict:
    """Train and evaluate one method on one seed (data split, initialisation and batches all seeded).

    Returns {method, seed, mean_accuracy, per_task_accuracy, parameters, final_loss, seconds}.
    """
    check_method(method)
    config = config or SupervisedConfig()
    threads = torch.get_num_threads()
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    try:
        start = time.perf_counter()
        train_data, test_data = make_digits_mtl(seed, config.train_per_task, config.test_fraction)
        torch.manual_seed(seed)
        model = build_model(method, config)
        generator = torch.Generator().manual_seed(seed)
        final_loss = train(method, model, train_data, config, generator)
        per_task = evaluate(model, test_data)
    finally:
        torch.set_num_threads(threads)  # leave the process as we found it
    return {
        "method": method,
        "seed": seed,
        "mean_accuracy": sum(per_task) / len(per_task),
        "per_task_accuracy": per_task,
        "parameters": count_parameters(model),
        "final_loss": final_loss,
        "seconds": time.perf_counter() - start,
    }
