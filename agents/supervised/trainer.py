"""Supervised multitask training of routed networks on Digits-MTL (see `digits.py`).

Every method is the same `RoutedNetwork` shape, built from modrl pieces only:

    x [64] → routed layer 0 (bank of Linear 64→hidden) → ReLU → … → routed layer L-1 (hidden→hidden)
           → ReLU → head (bank of 10 Linear hidden→1, FixedRouter.one_per_task) → logit of task t

The head is per task in every method (task t reads only its own output unit, the usual
"hard parameter sharing" head), so the methods differ only in how the trunk layers route: each
registered method (`methods.py`, `SUPERVISED`) builds a `Trunk`, its routers plus an optional
per-step routing loss.

Training: Adam, mini-batches drawn uniformly from the union of the ten training sets (so tasks mix
inside a batch and the banks dispatch grouped by module), a fixed number of steps; router parameters
get the method's `router_lr` and no weight decay. Evaluation: `model.eval()` (greedy routing),
accuracy of `logit > 0` on each task's balanced test set. `parameters` counts every trainable
parameter of the method, routers included.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from agents.common.device import resolve_device
from agents.supervised.config import TrainConfig
from agents.supervised.digits import NUM_FEATURES, NUM_TASKS, TaskData, make_digits_mtl
from agents.supervised.methods import SUPERVISED, StepOutputs, Trunk
from modrl import FixedRouter, ModuleBank, RoutedLayer, RoutedNetwork


def build_trunk(method: str, config: TrainConfig, method_config: Any = None) -> Trunk:
    """The registered method's `Trunk` from its config (the config class's defaults when None)."""
    entry = SUPERVISED.get(method)
    if entry.config_cls is None:
        if method_config is not None:
            raise ValueError(f"method {method!r} takes no config, got {method_config!r}")
    elif method_config is None:
        method_config = entry.config_cls()
    elif not isinstance(method_config, entry.config_cls):
        raise TypeError(f"method {method!r} takes a {entry.config_cls.__name__}, got {type(method_config).__name__}")
    return entry.build(method_config, config)


def _bank(in_features: int, out_features: int, num_modules: int) -> ModuleBank:
    return ModuleBank("linear", num_modules, in_features=in_features, out_features=out_features)


def build_model(trunk: Trunk, config: TrainConfig) -> RoutedNetwork:
    """The method's routed trunk plus the per-task head, as one RoutedNetwork."""
    if config.num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {config.num_layers}")
    layers, width = [], NUM_FEATURES
    for _ in range(config.num_layers):
        router = trunk.router(width)
        layers.append(RoutedLayer(_bank(width, config.hidden, trunk.num_modules), router))
        width = config.hidden
    layers.append(RoutedLayer(_bank(width, 1, NUM_TASKS), FixedRouter.one_per_task(NUM_TASKS)))
    return RoutedNetwork(layers, activation="relu")


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@torch.no_grad()
def evaluate(model: RoutedNetwork, test: TaskData) -> list[float]:
    """Accuracy of `logit > 0` on each task's test set, greedy routing."""
    model.eval()
    logits, _ = model(test.x, test.task)
    correct = ((logits[:, 0] > 0).float() == test.y).float()
    return [float(correct[test.task == t].mean()) for t in range(NUM_TASKS)]


def train(model: RoutedNetwork, trunk: Trunk, train_data: TaskData, config: TrainConfig,
          generator: torch.Generator) -> float:
    """Train in place; returns the mean task loss over the last 10% of steps."""
    router_params, module_params = list(model.router_parameters()), list(model.module_parameters())
    groups = [{"params": module_params, "lr": config.lr, "weight_decay": config.weight_decay}]
    if router_params:
        router_lr = config.lr if trunk.router_lr is None else trunk.router_lr
        groups.append({"params": router_params, "lr": router_lr, "weight_decay": 0.0})
    optimizer = torch.optim.Adam(groups)
    routing_loss = trunk.routing_loss() if trunk.routing_loss is not None else None

    tail, tail_from = [], int(0.9 * config.steps)
    model.train()
    for step in range(config.steps):
        model.anneal(step)  # routers with a temperature schedule (Gumbel)
        idx = torch.randint(len(train_data), (config.batch_size,), generator=generator).to(train_data.x.device)
        x, task, y = train_data.x[idx], train_data.task[idx], train_data.y[idx]
        logits, routings = model(x, task)
        losses = F.binary_cross_entropy_with_logits(logits[:, 0], y, reduction="none")
        loss = losses.mean() + model.aux_loss(routings)
        if routing_loss is not None:  # the terms are added one by one, in order
            loss = sum(routing_loss(StepOutputs(model, task, y, logits[:, 0], losses, routings)), loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= tail_from:
            tail.append(float(losses.detach().mean()))
    return sum(tail) / max(len(tail), 1)


def run_method(method: str, seed: int, config: TrainConfig | None = None, method_config: Any = None) -> dict:
    """Train and evaluate one registered method on one seed (data split, initialisation and batches all
    seeded). `method_config`: an instance of the method's config class (None: its defaults).

    Returns {method, seed, mean_accuracy, per_task_accuracy, parameters, final_loss, seconds}.
    """
    config = config or TrainConfig()
    trunk = build_trunk(method, config, method_config)
    threads = torch.get_num_threads()
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    try:
        start = time.perf_counter()
        device = resolve_device(config.device)
        train_data, test_data = (d.to(device) for d in make_digits_mtl(seed, config.train_per_task, config.test_fraction))
        torch.manual_seed(seed)
        model = build_model(trunk, config).to(device)
        generator = torch.Generator().manual_seed(seed)
        final_loss = train(model, trunk, train_data, config, generator)
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
