"""What a search trains paths on: a `Problem` gives the module banks and trains or scores one path
on one task. Problems are small frozen dataclasses (sent to workers); their data is built, and
cached, in whichever process uses it.

Supervised problems (binary tasks from scikit-learn's bundled `load_digits`, no download):
`DigitsPairs` (PathNet's binary tasks: digit a vs digit b) and `DigitsSequence` (Digits-MTL's ten
one-vs-rest tasks, for µNet). RL problems live in `agents/evolution/rl.py`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from modrl import ModuleBank, Path, RoutedNetwork

SPLITS = ("train", "val", "test")


class Problem(Protocol):
    """Tasks, module banks, and training / scoring of one path on one task."""

    tasks: tuple[str, ...]
    activation: str  # between routed layers

    @property
    def in_features(self) -> int: ...

    def layer_bank(self, layer: int, width: int, num_modules: int) -> ModuleBank:
        """A bank of `num_modules` modules for hidden layer `layer` (0 reads the problem's input) of `width` units."""

    def head_bank(self, width: int, num_heads: int) -> ModuleBank:
        """A bank of task heads reading `width` units (one per task, or one per candidate in µNet)."""

    def train(self, net: RoutedNetwork, path: Path, task: int, steps: int, lr: float, seed: int) -> float:
        """Train `path` on `task` for `steps` (minibatches or PPO updates); the fitness over that window."""

    def evaluate(self, net: RoutedNetwork, path: Path, task: int, split: str = "val") -> float:
        """Quality of `path` on `task` (accuracy, or success rate in RL)."""


@dataclass(frozen=True)
class TaskSplits:
    """One binary task's inputs [N, 64] in [0, 1] and 0/1 labels, per split."""

    x: dict[str, Tensor]
    y: dict[str, Tensor]


@functools.lru_cache(maxsize=4)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # optional dependency: modrl[supervised]

    bunch = load_digits()
    return bunch.data.astype(np.float32) / 16.0, bunch.target.astype(np.int64)


def _split(idx: np.ndarray, labels: np.ndarray, fractions: tuple[float, float], rng: np.random.Generator,
           images: np.ndarray) -> TaskSplits:
    """Shuffle `idx`, cut off val and test fractions (stratified by label) and build the splits."""
    parts: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for label in (0, 1):
        mine = rng.permutation(idx[labels == label])
        n_val, n_test = (int(round(f * mine.size)) for f in fractions)
        parts["val"].append(mine[:n_val])
        parts["test"].append(mine[n_val:n_val + n_test])
        parts["train"].append(mine[n_val + n_test:])
    label_of = dict(zip(idx.tolist(), labels.tolist()))
    xs, ys = {}, {}
    for s in SPLITS:
        chosen = np.concatenate(parts[s])
        xs[s] = torch.from_numpy(images[chosen])
        ys[s] = torch.tensor([label_of[i] for i in chosen.tolist()], dtype=torch.float32)
    return TaskSplits(xs, ys)


class SupervisedTasks:
    """Binary classification with a linear-module network; subclasses give each task's splits."""

    activation = "relu"
    tasks: tuple[str, ...]
    batch_size: int
    optimizer: str

    @property
    def in_features(self) -> int:
        return 64

    def splits(self, task: int) -> TaskSplits:  # pragma: no cover - abstract
        raise NotImplementedError

    def layer_bank(self, layer: int, width: int, num_modules: int) -> ModuleBank:
        return ModuleBank("linear", num_modules, in_features=self.in_features if layer == 0 else width,
                          out_features=width)

    def head_bank(self, width: int, num_heads: int) -> ModuleBank:
        return ModuleBank("linear", num_heads, in_features=width, out_features=1)

    def train(self, net: RoutedNetwork, path: Path, task: int, steps: int, lr: float, seed: int) -> float:
        """`steps` minibatches of `batch_size` drawn with replacement; the accuracy over them (as the
        network was when each minibatch arrived), PathNet's fitness."""
        data = self.splits(task)
        x, y = data.x["train"], data.y["train"]
        generator = torch.Generator().manual_seed(seed)
        params = [p for p in net.parameters() if p.requires_grad]
        optimizer = (torch.optim.SGD(params, lr=lr) if self.optimizer == "sgd" else torch.optim.Adam(params, lr=lr))
        net.train()
        correct = 0
        for _ in range(steps):
            idx = torch.randint(len(x), (self.batch_size,), generator=generator)
            logits = net(x[idx], path=path)[0][:, 0]
            loss = F.binary_cross_entropy_with_logits(logits, y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            correct += int(((logits.detach() > 0).float() == y[idx]).sum())
        return correct / (steps * self.batch_size)

    @torch.no_grad()
    def evaluate(self, net: RoutedNetwork, path: Path, task: int, split: str = "val") -> float:
        data = self.splits(task)
        net.eval()
        logits = net(data.x[split], path=path)[0][:, 0]
        return float(((logits > 0).float() == data.y[split]).float().mean())


@dataclass(frozen=True)
class DigitsPairs(SupervisedTasks):
    """Task i: digit a vs digit b for `pairs[i] = (a, b)` (label 1 = b), every image of the two digits
    (about 360), split into train / val / test."""

    pairs: tuple[tuple[int, int], ...] = ((3, 8), (1, 7))
    batch_size: int = 16
    optimizer: str = "sgd"
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    seed: int = 0  # the split

    def __post_init__(self) -> None:
        for a, b in self.pairs:
            if not (0 <= a <= 9 and 0 <= b <= 9 and a != b):
                raise ValueError(f"a digit pair needs two different digits in 0..9, got ({a}, {b})")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be sgd or adam, got {self.optimizer!r}")

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(f"{a}v{b}" for a, b in self.pairs)

    def splits(self, task: int) -> TaskSplits:
        return _pair_splits(*self.pairs[task], self.val_fraction, self.test_fraction, self.seed)


@functools.lru_cache(maxsize=64)
def _pair_splits(a: int, b: int, val_fraction: float, test_fraction: float, seed: int) -> TaskSplits:
    images, digits = _digits()
    idx = np.flatnonzero((digits == a) | (digits == b))
    return _split(idx, (digits[idx] == b).astype(np.int64), (val_fraction, test_fraction),
                  np.random.default_rng([seed, a, b]), images)


@dataclass(frozen=True)
class DigitsSequence(SupervisedTasks):
    """Digits-MTL's tasks one at a time: task t is "is this digit t?", balanced (half positives), with
    `train_per_task` training and validation examples and every test-pool positive (plus as many
    negatives) for test, as in `agents.supervised.digits`. The split depends on `seed`."""

    digits: tuple[int, ...] = tuple(range(10))
    train_per_task: int = 100
    val_fraction: float = 0.25
    batch_size: int = 32
    optimizer: str = "adam"
    seed: int = 0

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(f"is{d}" for d in self.digits)

    def splits(self, task: int) -> TaskSplits:
        return _sequence_splits(self.digits[task], self.train_per_task, self.val_fraction, self.seed)


@functools.lru_cache(maxsize=64)
def _sequence_splits(digit: int, train_per_task: int, val_fraction: float, seed: int) -> TaskSplits:
    train, test = _mtl(seed, train_per_task)
    mine = train.of_task(digit)
    rng = np.random.default_rng([seed, digit])
    xs, ys = {}, {}
    val_idx, train_idx = [], []
    for label in (0.0, 1.0):
        rows = rng.permutation(np.flatnonzero(mine.y.numpy() == label))
        n_val = int(round(val_fraction * rows.size))
        val_idx.append(rows[:n_val]), train_idx.append(rows[n_val:])
    for split, rows in (("train", np.concatenate(train_idx)), ("val", np.concatenate(val_idx))):
        xs[split], ys[split] = mine.x[rows], mine.y[rows]
    held = test.of_task(digit)
    xs["test"], ys["test"] = held.x, held.y
    return TaskSplits(xs, ys)


@functools.lru_cache(maxsize=4)
def _mtl(seed: int, train_per_task: int):
    from agents.supervised.digits import make_digits_mtl

    return make_digits_mtl(seed, train_per_task)
