"""Baselines for tasks in sequence: independent networks and fine-tuning of one network.

Both use the seed model's shape (the same hidden layers as µNet's seed model, one head per task)
and the problem's own training; `steps` is one count for every task, or one per task (e.g. what
µNet's candidates used on that task together, the RL runs' matched budget).
"""

from __future__ import annotations

from typing import Sequence

import torch

from agents.evolution.genotype import derive_seed
from agents.evolution.network import module_parameters
from agents.evolution.problems import Problem
from modrl import Path, RoutedLayer, RoutedNetwork


def plain_network(problem: Problem, layers: int, width: int, seed: int) -> RoutedNetwork:
    """`layers` hidden layers of one module each, then one head per task."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        banks = [problem.layer_bank(i, width, 1) for i in range(layers)]
        banks.append(problem.head_bank(width, len(problem.tasks)))
    return RoutedNetwork([RoutedLayer(b) for b in banks], activation=problem.activation)


def plain_path(layers: int, task: int) -> Path:
    return Path(tuple((0,) for _ in range(layers)) + ((task,),))


def steps_per_task(steps: int | Sequence[int], tasks: int) -> list[int]:
    """`steps` for each of `tasks` tasks."""
    counts = [steps] * tasks if isinstance(steps, int) else [int(n) for n in steps]
    if len(counts) != tasks or min(counts) < 1:
        raise ValueError(f"need a positive step count for each of {tasks} tasks, got {steps}")
    return counts


def independent(problem: Problem, layers: int, width: int, steps: int | Sequence[int], lr: float,
                seed: int) -> list[dict]:
    """A fresh network per task; per task its test quality, parameters (layers and its head) and steps."""
    rows = []
    for task, n in enumerate(steps_per_task(steps, len(problem.tasks))):
        net = plain_network(problem, layers, width, derive_seed(seed, 10, task))
        path = plain_path(layers, task)
        problem.train(net, path, task, n, lr, derive_seed(seed, 11, task))
        rows.append({"task": task, "test": problem.evaluate(net, path, task, "test"),
                     "parameters": sum(module_parameters(layer.bank) for layer in net.layers), "steps": n})
    return rows


def finetune(problem: Problem, layers: int, width: int, steps: int | Sequence[int], lr: float,
             seed: int) -> list[dict]:
    """One network trained on the tasks in order (a new head each); per task its test quality just
    after its own training and after the last task (what forgetting leaves)."""
    net = plain_network(problem, layers, width, derive_seed(seed, 12))
    rows = []
    for task, n in enumerate(steps_per_task(steps, len(problem.tasks))):
        path = plain_path(layers, task)
        problem.train(net, path, task, n, lr, derive_seed(seed, 13, task))
        rows.append({"task": task, "test_after_own": problem.evaluate(net, path, task, "test")})
    for row in rows:
        row["test_at_end"] = problem.evaluate(net, plain_path(layers, row["task"]), row["task"], "test")
    return rows
