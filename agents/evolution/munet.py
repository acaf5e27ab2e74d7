"""µNet (Gesmundo & Dean, 2022): tasks one at a time; each model is a path of modules, and a child is
a mutation of a parent path that clones, adds or drops modules; shared modules of finished tasks
are frozen, so earlier tasks keep their predictions exactly.

The network is one `RoutedNetwork` with a slot per place a module can go, each slot a `ModuleBank`
of `capacity` modules:

    layer0 → adapter0 (one bank per adapter width) → layer1 → adapter1 … → head

A model is a `Path` with one module per slot. In every slot but layer0 and the head, module 0 is
a frozen identity (an identity `Linear` for a dropped layer, a zero adapter for no adapter), so a
path of fixed length expresses models of any depth. Layers and adapters are separated by ReLU;
every input of an identity is already non-negative, so an identity slot changes nothing.

Mutations of a parent path into a child (for task t):
- each module the parent trains for t is copied into a module of the child's own; each frozen
  module of an earlier task becomes, with probability `clone_rate`, a trainable clone, else stays
  shared (frozen);
- the head: the parent's copied if it is of task t, else a fresh head;
- with probability `adapter_rate`, a residual adapter (`BottleneckAdapter`, output initialised to
  zero, so the child starts as its parent) of the child's adapter width goes after a layer that has none;
- with probability `depth_rate`, the top layer is dropped (identity), or a dropped one restored as
  a trainable identity-initialised layer;
- each hyperparameter (learning rate, adapter width), with probability `hyper_rate`, moves one
  step up or down its list.

Score = quality × base^(accounted_params / P_ref): accounted_params sums, over the path's modules,
their parameters divided by the number of tasks sharing them (this one included); P_ref is the
seed model's parameters (every layer and a head). base = 1 gives plain quality.

Search per task: the population starts with the seed model (first task) or with the final model of
every earlier task, each with a fresh trainable head trained once. Each generation, `children`
parents are picked (candidates in decreasing score, each accepted with probability
0.5^(its offspring so far)), each makes one child, the children train (in parallel) for `steps`
minibatches (RL: PPO updates), and a child joins the population only if its score beats its
parent's. At the end of the task the best model is kept and every module it uses is frozen.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from agents.common.parallel import JobPool
from agents.evolution.genotype import derive_seed
from agents.evolution.network import NetworkState, load_network_state, module_parameters, network_state
from agents.evolution.problems import Problem
from modrl import ModuleBank, Path, RoutedLayer, RoutedNetwork, build_module


@dataclass
class MuNetConfig:
    """µNet's search on a sequence of tasks."""

    layers: int = 2
    """hidden layers of the seed model"""
    width: int = 32
    """units of every hidden layer"""
    capacity: int = 48
    """modules per slot (shared, frozen and candidates' own); raise it if a search runs out"""
    generations: int = 6
    """generations per task (0: the first population only)"""
    children: int = 2
    """children per generation (they train in parallel)"""
    steps: int = 100
    """minibatches (RL: PPO updates) each child (and the seed model) trains"""
    lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2)
    """learning-rate list a mutation moves along (the seed model starts in the middle)"""
    adapter_widths: tuple[int, ...] = (4, 16)
    """adapter bottleneck widths a mutation moves along (the seed model starts at the first)"""
    clone_rate: float = 0.2
    """probability that an inherited frozen module becomes a trainable clone"""
    adapter_rate: float = 0.3
    """probability of inserting an adapter"""
    depth_rate: float = 0.1
    """probability of dropping the top layer or restoring a dropped one"""
    hyper_rate: float = 0.2
    """probability that each hyperparameter moves one step"""
    base: float = 0.99
    """score = quality x base^(accounted params / seed model's params); 1: plain quality"""

    def __post_init__(self) -> None:
        for name in ("layers", "width", "capacity", "children", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.generations < 0:
            raise ValueError(f"generations must be >= 0, got {self.generations}")
        if not self.lrs or not self.adapter_widths or min(self.lrs) <= 0 or min(self.adapter_widths) < 1:
            raise ValueError("lrs and adapter_widths need at least one positive entry each")
        for name in ("clone_rate", "adapter_rate", "depth_rate", "hyper_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 < self.base <= 1:
            raise ValueError(f"base must be in (0, 1], got {self.base}")


@dataclass(frozen=True)
class Slot:
    """One place a module can go: a hidden layer, an adapter after layer `layer`, or the head."""

    kind: str  # "layer", "adapter" or "head"
    layer: int = 0
    width: int = 0  # adapter bottleneck

    @property
    def name(self) -> str:
        return {"layer": f"layer{self.layer}", "adapter": f"adapter{self.layer}w{self.width}", "head": "head"}[self.kind]

    @property
    def has_identity(self) -> bool:
        """Module 0 is a frozen identity (every slot but the first layer and the head)."""
        return self.kind == "adapter" or (self.kind == "layer" and self.layer > 0)


def slots(config: MuNetConfig) -> list[Slot]:
    out = []
    for i in range(config.layers):
        out.append(Slot("layer", i))
        out.extend(Slot("adapter", i, w) for w in config.adapter_widths)
    return out + [Slot("head")]


def build_network(problem: Problem, config: MuNetConfig) -> RoutedNetwork:
    """The slot network; identities are in place and frozen."""
    layers = []
    for slot in slots(config):
        if slot.kind == "layer":
            bank = problem.layer_bank(slot.layer, config.width, config.capacity)
        elif slot.kind == "adapter":
            bank = ModuleBank("adapter", config.capacity, in_features=config.width, bottleneck=slot.width)
        else:
            bank = problem.head_bank(config.width, config.capacity)
        layers.append(RoutedLayer(bank))
    net = RoutedNetwork(layers, activation="relu")
    for slot, layer in zip(slots(config), net.layers):
        if slot.has_identity:
            _write_identity(layer.bank, 0)
            layer.bank.freeze(0)
    return net


@torch.no_grad()
def _write_identity(bank: ModuleBank, m: int) -> None:
    """Module m becomes the identity: an identity `Linear`, or an adapter with zero output."""
    if bank.kind not in ("linear", "adapter"):
        raise ValueError(f"µNet needs 'linear' layer modules (DigitsSequence, RLSequence), got {bank.kind!r}")
    module = build_module(bank.kind, **bank.config)
    for name, p in module.named_parameters():
        p.zero_()
        if bank.kind == "linear" and name.endswith("weight"):
            if p.shape[0] != p.shape[1]:
                raise ValueError("an identity layer needs in_features == out_features")
            p.copy_(torch.eye(p.shape[0]))
    bank.load_module(m, module)


@torch.no_grad()
def _write_fresh(bank: ModuleBank, m: int, seed: int) -> None:
    """Module m gets a new module's initial values, drawn under `seed` (an adapter: output zero)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        bank.load_module(m, build_module(bank.kind, **bank.config))


@torch.no_grad()
def _copy_module(bank: ModuleBank, src: int, dst: int) -> None:
    for p in bank.params:
        p[dst].copy_(p[src])


@dataclass
class Model:
    """One candidate for the current task: its path, the modules it trains, hyperparameters, score."""

    id: int
    path: Path
    owned: tuple[tuple[int, int], ...]  # (slot index, module) it trains
    lr: int  # index into config.lrs
    adapter: int  # index into config.adapter_widths
    parent: int | None = None
    quality: float = float("nan")
    score: float = float("-inf")
    offspring: int = 0
    accounted: float = 0.0
    mutations: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"id": self.id, "path": self.path.to_dict(), "owned": [list(o) for o in self.owned], "lr": self.lr,
                "adapter": self.adapter, "parent": self.parent, "quality": self.quality, "score": self.score,
                "offspring": self.offspring, "accounted": self.accounted, "mutations": list(self.mutations)}

    @classmethod
    def from_dict(cls, data: dict) -> "Model":
        return cls(**(data | {"path": Path.from_dict(data["path"]), "owned": tuple(tuple(o) for o in data["owned"])}))


def score(quality: float, accounted: float, reference: float, base: float) -> float:
    """quality × base^(accounted / reference)."""
    return quality * base ** (accounted / reference)


def accounted_parameters(sizes: list[int], sharers: list[int]) -> float:
    """Σ params / (tasks sharing the module, this one included); `sharers[i]` counts this task too."""
    return sum(n / max(k, 1) for n, k in zip(sizes, sharers))


def select_parent(candidates: list[Model], rng: random.Random) -> Model:
    """Candidates in decreasing score, each accepted with probability 0.5^(its offspring so far);
    passes repeat until one is (the first pass takes the best one that has no offspring yet)."""
    if not candidates:
        raise ValueError("no candidate parents")
    ordered = sorted(candidates, key=lambda m: (-m.score, m.id))
    while True:
        for model in ordered:
            if rng.random() < 0.5 ** model.offspring:
                return model


def train_model(problem: Problem, config: MuNetConfig, state: NetworkState, path: dict, owned: list,
                task: int, lr: float, seed: int) -> tuple[float, dict]:
    """One child (a job): train the modules it owns on `task` for `steps`, every other one frozen;
    (validation quality, {"slot:module": [parameter tensors]} of its own modules)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        net = _cached_network(problem, config)
        load_network_state(net, state)
        mine: dict[int, set[int]] = {}
        for s, m in owned:
            mine.setdefault(s, set()).add(m)
        for s, layer in enumerate(net.layers):  # only the banks holding its own modules take gradients
            bank = layer.bank
            bank.unfreeze(*range(bank.num_modules))
            for p in bank.params:
                p.requires_grad_(s in mine)
            if s in mine:
                bank.freeze(*(m for m in range(bank.num_modules) if m not in mine[s]))
        route = Path.from_dict(path)
        problem.train(net, route, task, config.steps, lr, seed)
        quality = problem.evaluate(net, route, task, "val")
        trained = {f"{s}:{m}": [p[m].detach().clone() for p in net.layers[s].bank.params] for s, m in owned}
        return quality, trained
    finally:
        torch.set_num_threads(threads)


_NETWORKS: dict[str, RoutedNetwork] = {}


def _cached_network(problem: Problem, config: MuNetConfig) -> RoutedNetwork:
    """One slot network per (problem, config) and process, reused by every job (its state is loaded)."""
    key = repr((problem, config))
    if key not in _NETWORKS:
        _NETWORKS.clear()
        _NETWORKS[key] = build_network(problem, config)
    return _NETWORKS[key]


class MuNet:
    """A µNet search over a problem's tasks in order (`run_task` for each, or `run`)."""

    def __init__(self, problem: Problem, config: MuNetConfig, seed: int) -> None:
        self.problem, self.config, self.seed = problem, config, seed
        self.slots = slots(config)
        with torch.random.fork_rng():
            torch.manual_seed(derive_seed(seed, 0))
            self.net = build_network(problem, config)
        cap = config.capacity
        # finished tasks whose final model uses each module (those modules are frozen)
        self.users: list[list[list[int]]] = [[[] for _ in range(cap)] for _ in self.slots]
        self.owner: list[list[int | None]] = [[None] * cap for _ in self.slots]  # candidate training it
        self.sizes = [module_parameters(layer.bank) for layer in self.net.layers]
        self.reference = float(sum(n for s, n in zip(self.slots, self.sizes) if s.kind in ("layer", "head")))
        self.task: int | None = None
        self.generation = 0
        self.population: list[Model] = []
        self.next_id = 0
        self.history: list[dict] = []  # one record per generation of the current task
        self.finished: dict[int, dict] = {}  # task → its final model (dict) and test quality

    # -- bookkeeping ------------------------------------------------------------------------

    def _is_identity(self, s: int, m: int) -> bool:
        return self.slots[s].has_identity and m == 0

    def _allocate(self, s: int, owner: int) -> int:
        for m in range(self.config.capacity):
            if not self._is_identity(s, m) and not self.users[s][m] and self.owner[s][m] is None:
                self.owner[s][m] = owner
                return m
        raise RuntimeError(f"slot {self.slots[s].name} is full ({self.config.capacity} modules): "
                           "raise --munet.capacity")

    def _release(self, model: Model) -> None:
        for s, m in model.owned:
            if self.owner[s][m] == model.id:
                self.owner[s][m] = None

    def accounted(self, path: Path, task: int) -> float:
        """Parameters of `path`, each module's divided by the tasks sharing it (`task` included)."""
        sizes, sharers = [], []
        for s, (m,) in enumerate(path.choices):
            if self._is_identity(s, m):
                continue
            sizes.append(self.sizes[s])
            sharers.append(len(set(self.users[s][m]) | {task}))
        return accounted_parameters(sizes, sharers)

    def _score(self, model: Model, quality: float, task: int) -> None:
        model.quality = quality
        model.accounted = self.accounted(model.path, task)
        model.score = score(quality, model.accounted, self.reference, self.config.base)

    # -- models -------------------------------------------------------------------------------

    def _new_model(self, parent: Model | None, rng: random.Random, key: tuple[int, ...], mutate: bool = True) -> Model:
        """A child of `parent` (None: the seed model), its own modules written into the network."""
        cfg = self.config
        model_id = self.next_id
        self.next_id += 1
        if parent is None:
            choices, lr, adapter, same_task = [], len(cfg.lrs) // 2, 0, False
            for slot in self.slots:
                choices.append(0 if slot.kind == "adapter" else -1)  # -1: a fresh module below
        else:
            choices, lr, adapter = [c[0] for c in parent.path.choices], parent.lr, parent.adapter
            same_task = parent.id in {m.id for m in self.population} and parent.owned != ()
        mutations: list[str] = []
        if parent is not None and mutate:
            if rng.random() < cfg.hyper_rate:
                lr = min(max(lr + rng.choice((-1, 1)), 0), len(cfg.lrs) - 1)
                mutations.append(f"lr={cfg.lrs[lr]:g}")
            if rng.random() < cfg.hyper_rate:
                adapter = min(max(adapter + rng.choice((-1, 1)), 0), len(cfg.adapter_widths) - 1)
                mutations.append(f"adapter_width={cfg.adapter_widths[adapter]}")
        parent_owned = set(parent.owned) if (parent is not None and same_task) else set()
        owned: list[tuple[int, int]] = []
        for s, slot in enumerate(self.slots):
            m = choices[s]
            bank = self.net.layers[s].bank
            if m == -1 or (slot.kind == "head" and (s, m) not in parent_owned):
                new = self._allocate(s, model_id)
                _write_fresh(bank, new, derive_seed(self.seed, 5, *key, s))
                choices[s], m = new, new
                owned.append((s, new))
            elif (s, m) in parent_owned:
                new = self._allocate(s, model_id)
                _copy_module(bank, m, new)
                choices[s] = new
                owned.append((s, new))
            elif not self._is_identity(s, m) and mutate and rng.random() < cfg.clone_rate:
                new = self._allocate(s, model_id)
                _copy_module(bank, m, new)
                choices[s] = new
                owned.append((s, new))
                mutations.append(f"clone {slot.name}")
        if parent is not None and mutate:
            owned += self._mutate_structure(choices, adapter, rng, model_id, key, mutations)
        for s, m in owned:  # a module its path no longer uses (a dropped layer) is given back
            if choices[s] != m:
                self.owner[s][m] = None
        owned = [(s, m) for s, m in owned if choices[s] == m]
        for s, m in owned:
            self.net.layers[s].bank.unfreeze(m)
        return Model(model_id, Path(tuple((c,) for c in choices)), tuple(owned), lr, adapter,
                     parent.id if parent is not None else None, mutations=mutations)

    def _mutate_structure(self, choices: list[int], adapter: int, rng: random.Random, model_id: int,
                          key: tuple[int, ...], mutations: list[str]) -> list[tuple[int, int]]:
        """Adapter insertion and top-layer drop / restore, in place on `choices`; the new own modules."""
        cfg, owned = self.config, []
        layer_slot = {slot.layer: s for s, slot in enumerate(self.slots) if slot.kind == "layer"}
        if rng.random() < cfg.adapter_rate:
            free = [i for i in range(cfg.layers)
                    if all(choices[s] == 0 for s, slot in enumerate(self.slots)
                           if slot.kind == "adapter" and slot.layer == i)]
            if free:
                i = rng.choice(free)
                s = next(s for s, slot in enumerate(self.slots) if slot.kind == "adapter" and slot.layer == i
                         and slot.width == cfg.adapter_widths[adapter])
                new = self._allocate(s, model_id)
                _write_fresh(self.net.layers[s].bank, new, derive_seed(self.seed, 6, *key))
                choices[s] = new
                owned.append((s, new))
                mutations.append(f"adapter after layer{i} (width {cfg.adapter_widths[adapter]})")
        if rng.random() < cfg.depth_rate:
            active = [i for i in range(cfg.layers) if i == 0 or choices[layer_slot[i]] != 0]
            top = max(active)
            can_drop, can_restore = top >= 1, top + 1 < cfg.layers
            if can_drop and (not can_restore or rng.random() < 0.5):
                choices[layer_slot[top]] = 0
                mutations.append(f"drop layer{top}")
            elif can_restore:
                s = layer_slot[top + 1]
                new = self._allocate(s, model_id)
                _write_identity(self.net.layers[s].bank, new)
                choices[s] = new
                owned.append((s, new))
                mutations.append(f"restore layer{top + 1}")
        return owned

    def _train(self, models: list[Model], keys: list[tuple[int, ...]], pool: JobPool | None) -> None:
        """Train `models` (each on its own modules) in parallel, write their modules back, score them."""
        state = network_state(self.net)
        jobs = [(self.problem, self.config, state, m.path.to_dict(), [list(o) for o in m.owned], self.task,
                 self.config.lrs[m.lr], derive_seed(self.seed, 7, *key)) for m, key in zip(models, keys)]
        results = (pool or JobPool("serial")).run(train_model, jobs)
        with torch.no_grad():
            for model, (quality, trained) in zip(models, results):
                for s, m in model.owned:
                    for p, value in zip(self.net.layers[s].bank.params, trained[f"{s}:{m}"]):
                        p[m].copy_(value)
                self._score(model, quality, self.task)

    # -- one task --------------------------------------------------------------------------

    def start_task(self, task: int, pool: JobPool | None = None) -> None:
        """The first population of `task`: the seed model, or every finished task's model with a new head."""
        if not 0 <= task < len(self.problem.tasks) or task in self.finished:
            raise ValueError(f"task {task} is out of range or finished")
        self.task, self.generation, self.history, self.population = task, 0, [], []
        rng = random.Random(derive_seed(self.seed, 8, task))
        if not self.finished:
            models = [self._new_model(None, rng, (task, 0, 0))]
        else:
            models = [self._new_model(Model.from_dict(done["model"]), rng, (task, 0, i), mutate=False)
                      for i, done in enumerate(self.finished.values())]
        self._train(models, [(task, 0, i) for i in range(len(models))], pool)
        self.population = models
        self.history.append(self._record(models, [True] * len(models)))

    def step(self, pool: JobPool | None = None) -> dict:
        """One generation: pick parents, make and train children, keep those that beat their parent."""
        if self.task is None:
            raise RuntimeError("call start_task first")
        self.generation += 1
        rng = random.Random(derive_seed(self.seed, 9, self.task, self.generation))
        parents, children, keys = [], [], []
        for c in range(self.config.children):
            parent = select_parent(self.population, rng)
            parent.offspring += 1
            key = (self.task, self.generation, c)
            parents.append(parent), keys.append(key)
            children.append(self._new_model(parent, rng, key))
        self._train(children, keys, pool)
        accepted = []
        for parent, child in zip(parents, children):
            better = child.score > parent.score
            accepted.append(better)
            if better:
                self.population.append(child)
            else:
                self._release(child)
        record = self._record(children, accepted)
        self.history.append(record)
        return record

    def _record(self, models: list[Model], accepted: list[bool]) -> dict:
        best = self.best()
        return {"generation": self.generation, "task": self.task,
                "models": [m.to_dict() | {"accepted": a} for m, a in zip(models, accepted)],
                "best_score": best.score, "best_quality": best.quality}

    def best(self) -> Model:
        return max(self.population, key=lambda m: (m.score, -m.id))

    def finish_task(self) -> Model:
        """Keep the best model of the task, freeze every module it uses, free the others'."""
        best, task = self.best(), self.task
        for model in self.population:
            if model is not best:
                self._release(model)
        for s, (m,) in enumerate(best.path.choices):
            if self._is_identity(s, m):
                continue
            self.users[s][m].append(task)
            self.owner[s][m] = None
            self.net.layers[s].bank.freeze(m)
        self.finished[task] = {"model": best.to_dict(), "test": self.problem.evaluate(self.net, best.path, task, "test"),
                               "new_parameters": sum(self.sizes[s] for s, _ in best.owned),
                               "candidates": sum(len(r["models"]) for r in self.history)}
        self.task, self.population = None, []
        return best

    def run_task(self, task: int, pool: JobPool | None = None,
                 on_generation: Callable[[dict], None] | None = None) -> Model:
        """Search `task` (continuing a resumed one) and finish it."""
        if self.task != task:
            self.start_task(task, pool)
            if on_generation is not None:
                on_generation(self.history[-1])
        while self.generation < self.config.generations:
            record = self.step(pool)
            if on_generation is not None:
                on_generation(record)
        return self.finish_task()

    # -- reading the result ------------------------------------------------------------------

    def path_of(self, task: int) -> Path:
        return Model.from_dict(self.finished[task]["model"]).path

    @torch.no_grad()
    def predict(self, task: int, x: torch.Tensor) -> torch.Tensor:
        """Outputs of task `task`'s final model on `x`."""
        self.net.eval()
        return self.net(x, path=self.path_of(task))[0]

    def summary(self) -> list[dict]:
        """Per finished task: test quality, new and accounted parameters, reused modules, the training
        steps of all its candidates together (what it cost), and its path."""
        rows = []
        for task, done in sorted(self.finished.items()):
            model = Model.from_dict(done["model"])
            reused = sum(1 for s, (m,) in enumerate(model.path.choices)
                         if not self._is_identity(s, m) and (s, m) not in set(model.owned))
            rows.append({"task": task, "name": self.problem.tasks[task], "test": done["test"],
                         "new_parameters": done["new_parameters"], "accounted_parameters": model.accounted,
                         "reused_modules": reused, "lr": self.config.lrs[model.lr],
                         "training_steps": done["candidates"] * self.config.steps,
                         "path": {self.slots[s].name: m for s, (m,) in enumerate(model.path.choices)
                                  if not self._is_identity(s, m)}})
        return rows

    # -- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "network": network_state(self.net), "users": self.users, "owner": self.owner,
                "task": self.task, "generation": self.generation, "next_id": self.next_id,
                "population": [m.to_dict() for m in self.population], "history": self.history,
                "finished": self.finished}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["seed"] != self.seed:
            raise ValueError(f"checkpoint is of seed {state['seed']}, this search has seed {self.seed}")
        load_network_state(self.net, state["network"])
        self.users, self.owner = state["users"], state["owner"]
        self.task, self.generation, self.next_id = state["task"], state["generation"], state["next_id"]
        self.population = [Model.from_dict(m) for m in state["population"]]
        self.history = state["history"]
        self.finished = {int(k): v for k, v in state["finished"].items()}
