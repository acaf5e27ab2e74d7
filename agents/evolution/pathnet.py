"""PathNet (Fernando et al., 2017): binary-tournament evolution of paths through L layers of M modules.

The genotype (`Genotype`) holds N genes per layer; the phenotype runs the distinct modules of each
layer, summed (the paper) or averaged, then the task's own head (a per-task last layer). One
generation is `tournaments` binary tournaments: pick two genotypes, train each path for T steps
(minibatches, or PPO updates), fitness = training accuracy (or return) over that window, and
overwrite the loser with a mutated copy of the winner.

Shared modules within a generation: every path of a generation trains on its own copy of the
network as it was when the generation began (a snapshot), so the second path of a tournament never
sees what the first has just changed, and the evaluations can run in parallel. The trained modules
are then written back tournament by tournament: the loser's modules first, then the winner's, so
where two paths share a module the winner's training is kept and the loser's is dropped; a module
only the loser used keeps the loser's training (in the paper both paths train the shared network).

Transfer (`finish_task`): "transfer" freezes the modules of the best path of the task (and its head)
and re-initialises every other parameter; a fresh population then starts on the next task, and the
frozen modules stay usable and never change. "independent" re-initialises everything that is not
frozen (the same search, no transfer); "finetune" keeps every parameter as it is, frozen nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Literal

import torch

from agents.common.parallel import JobPool
from agents.evolution.genotype import BOUNDARIES, Genotype, derive_seed, pair_up, tournament
from agents.evolution.network import (
    AGGREGATES, NetworkState, PathAggregate, copy_modules, load_network_state, network_state, reinitialise_unfrozen,
)
from agents.evolution.problems import Problem
from modrl import RoutedLayer, RoutedNetwork

MODES = ("transfer", "independent", "finetune")


@dataclass
class PathNetConfig:
    """PathNet's search; the defaults are the paper's binary-MNIST settings (L=3, M=10, N=3, 64 paths,
    T=50 minibatches of 16, mutation rate 1/(N·L), offsets in [-2, 2] clamped)."""

    layers: int = 3
    """L: layers of modules (each task adds its own head on top)"""
    modules: int = 10
    """M: modules per layer"""
    active: int = 3
    """N: genes per layer (at most N distinct active modules)"""
    width: int = 20
    """output units of every module"""
    population: int = 64
    """genotypes in the population"""
    steps: int = 50
    """T: minibatches (supervised) or PPO updates (RL) each path trains per evaluation"""
    lr: float = 0.05
    """learning rate of each evaluation's optimizer"""
    aggregate: Literal["sum", "mean"] = "sum"
    """how a layer combines its active modules: sum (the paper) or mean"""
    boundary: Literal["clamp", "wrap"] = "clamp"
    """mutation at the edges: clamp to [0, M-1] (the authors' code) or wrap modulo M"""
    spread: int = 2
    """a mutated gene moves by an integer offset in [-spread, spread]"""
    mutation_rate: float | None = None
    """per-gene mutation probability (None: 1/(N·L))"""
    tournaments: int = 1
    """binary tournaments per generation (their 2x paths train in parallel)"""
    threshold: float = 0.99
    """a task is solved when a path's fitness reaches this (training accuracy; RL: success rate)"""
    max_generations: int = 500
    """give up on a task after this many generations"""

    def __post_init__(self) -> None:
        for name in ("layers", "modules", "active", "width", "population", "steps", "tournaments", "max_generations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {list(AGGREGATES)}, got {self.aggregate!r}")
        if self.boundary not in BOUNDARIES:
            raise ValueError(f"boundary must be one of {list(BOUNDARIES)}, got {self.boundary!r}")
        if self.spread < 0 or self.lr <= 0:
            raise ValueError(f"spread must be >= 0 and lr > 0, got {self.spread}, {self.lr}")
        if 2 * self.tournaments > self.population:
            raise ValueError(f"{self.tournaments} tournaments per generation need a population of at least "
                             f"{2 * self.tournaments}, got {self.population}")
        if self.mutation_rate is not None and not 0 <= self.mutation_rate <= 1:
            raise ValueError(f"mutation_rate must be in [0, 1], got {self.mutation_rate}")

    @property
    def rate(self) -> float:
        return self.mutation_rate if self.mutation_rate is not None else 1.0 / (self.active * self.layers)


def build_network(problem: Problem, config: PathNetConfig) -> RoutedNetwork:
    """L layers of M modules, then one head per task of the problem (the last layer)."""
    layers = [RoutedLayer(problem.layer_bank(i, config.width, config.modules),
                          aggregator=PathAggregate(mean=config.aggregate == "mean")) for i in range(config.layers)]
    layers.append(RoutedLayer(problem.head_bank(config.width, len(problem.tasks))))
    return RoutedNetwork(layers, activation=problem.activation)


def train_path(problem: Problem, config: PathNetConfig, state: NetworkState, genes: dict, task: int,
               seed: int) -> tuple[float, dict]:
    """One evaluation (a job): the network from `state`, the genotype's path trained on `task` for
    T steps; (fitness, trained parameters). Runs on one torch thread, whatever the worker."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        net = build_network(problem, config)
        load_network_state(net, state)
        path = Genotype.from_dict(genes).path((task,))
        fitness = problem.train(net, path, task, config.steps, config.lr, seed)
        return fitness, {k: v.detach().clone() for k, v in net.state_dict().items()}
    finally:
        torch.set_num_threads(threads)


class PathNet:
    """A PathNet search over a problem's tasks in sequence (one `start_task` ... `finish_task` each)."""

    def __init__(self, problem: Problem, config: PathNetConfig, seed: int) -> None:
        self.problem, self.config, self.seed = problem, config, seed
        with torch.random.fork_rng():
            torch.manual_seed(derive_seed(seed, 0))
            self.net = build_network(problem, config)
        self.task: int | None = None
        self.generation = 0
        self.population: list[Genotype] = []
        self.history: list[dict] = []  # one record per generation of the current task
        self.best: tuple[float, Genotype] | None = None  # fittest path of the current task so far
        self.paths: dict[int, dict] = {}  # finished task → its best path's genotype and fitness

    # -- one task ------------------------------------------------------------------------------

    def start_task(self, task: int) -> None:
        """A fresh random population on `task` (the same one for a given seed and task)."""
        if not 0 <= task < len(self.problem.tasks):
            raise ValueError(f"task {task} out of range for {len(self.problem.tasks)} tasks")
        rng = random.Random(derive_seed(self.seed, 1, task))
        cfg = self.config
        self.task, self.generation, self.history, self.best = task, 0, [], None
        self.population = [Genotype.random(cfg.layers, cfg.modules, cfg.active, rng) for _ in range(cfg.population)]

    def step(self, pool: JobPool | None = None) -> dict:
        """One generation; its record: each evaluation's individual, genes and fitness, the winners."""
        if self.task is None:
            raise RuntimeError("call start_task first")
        cfg, task, g = self.config, self.task, self.generation
        rng = random.Random(derive_seed(self.seed, 2, task, g))
        pairs = pair_up(cfg.population, cfg.tournaments, rng)
        individuals = [i for pair in pairs for i in pair]
        state = network_state(self.net)
        jobs = [(self.problem, cfg, state, self.population[i].to_dict(), task, derive_seed(self.seed, 3, task, g, j))
                for j, i in enumerate(individuals)]
        results = (pool or JobPool("serial")).run(train_path, jobs)
        fitness = {i: f for i, (f, _) in zip(individuals, results)}
        trained = {i: params for i, (_, params) in zip(individuals, results)}
        evaluations = [{"individual": i, "genes": self.population[i].to_dict()["genes"], "fitness": fitness[i]}
                       for i in individuals]
        winners = []
        for a, b in pairs:
            genotypes = {a: self.population[a], b: self.population[b]}  # before the loser is overwritten
            winner, loser = tournament(self.population, a, b, fitness[a], fitness[b], cfg.modules, cfg.rate, rng,
                                       cfg.spread, cfg.boundary)
            copy_modules(self.net, trained[loser], genotypes[loser].path((task,)))
            copy_modules(self.net, trained[winner], genotypes[winner].path((task,)))  # the winner's on shared ones
            if self.best is None or fitness[winner] > self.best[0]:
                self.best = (fitness[winner], genotypes[winner])
            winners.append(winner)
        self.generation += 1
        record = {"generation": self.generation, "evaluations": evaluations, "winners": winners,
                  "best_fitness": max(fitness.values()), "mean_fitness": sum(fitness.values()) / len(fitness)}
        self.history.append(record)
        return record

    @property
    def solved(self) -> bool:
        return bool(self.history) and self.history[-1]["best_fitness"] >= self.config.threshold

    def run_task(self, pool: JobPool | None = None, on_generation: Callable[[dict], None] | None = None) -> int | None:
        """Generations until solved (None: not within `max_generations`), continuing from where it is."""
        while not self.solved and self.generation < self.config.max_generations:
            record = self.step(pool)
            if on_generation is not None:
                on_generation(record)
        return self.generation if self.solved else None

    def finish_task(self, mode: str = "transfer") -> Genotype:
        """End the current task (see the module docstring for `mode`); returns its best genotype."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; valid: {list(MODES)}")
        if self.best is None:
            raise RuntimeError("no generation has run on this task")
        fitness, best = self.best
        task = self.task
        self.paths[task] = {"genes": best.to_dict()["genes"], "fitness": fitness, "mode": mode}
        if mode == "transfer":
            for layer, modules in zip(self.net.layers, best.path((task,)).choices):
                layer.bank.freeze(*modules)
        if mode in ("transfer", "independent"):
            reinitialise_unfrozen(self.net, derive_seed(self.seed, 4, task))
        self.task, self.population, self.best = None, [], None
        return best

    def frozen(self) -> list[list[int]]:
        """Frozen modules per layer (the head layer last)."""
        return network_state(self.net)["frozen"]

    # -- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "network": network_state(self.net), "task": self.task,
                "generation": self.generation, "population": [g.to_dict() for g in self.population],
                "history": self.history, "paths": self.paths,
                "best": None if self.best is None else (self.best[0], self.best[1].to_dict())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["seed"] != self.seed:
            raise ValueError(f"checkpoint is of seed {state['seed']}, this search has seed {self.seed}")
        load_network_state(self.net, state["network"])
        self.task, self.generation, self.history = state["task"], state["generation"], state["history"]
        self.population = [Genotype.from_dict(g) for g in state["population"]]
        self.paths = {int(k): v for k, v in state["paths"].items()}
        self.best = None if state["best"] is None else (state["best"][0], Genotype.from_dict(state["best"][1]))
