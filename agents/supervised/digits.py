"""Digits-MTL: ten one-vs-rest binary tasks built from scikit-learn's bundled `load_digits` (no download).

Task t asks "is this 8x8 image the digit t?". The 1797 images are split, stratified by digit and
seeded, into a training pool and a test pool that share no image. Each task then draws its own
small balanced training set from the training pool (`train_per_task` examples, half positives), so
a task alone sees only a few dozen images and sharing across tasks matters. Each task's test set
holds every positive of the test pool and as many negatives drawn from the other digits (balanced:
the majority-class rate, i.e. chance for a constant predictor, is 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

NUM_TASKS = 10
NUM_FEATURES = 64


@dataclass
class TaskData:
    """Inputs x [N, 64] in [0, 1], task ids [N] long, binary labels y [N] float (1 = "is digit t")."""

    x: Tensor
    task: Tensor
    y: Tensor

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device: torch.device) -> "TaskData":
        return TaskData(self.x.to(device), self.task.to(device), self.y.to(device))

    def of_task(self, t: int) -> "TaskData":
        keep = self.task == t
        return TaskData(self.x[keep], self.task[keep], self.y[keep])


def _draw_task(rng: np.random.Generator, digits: np.ndarray, pool: np.ndarray, t: int,
               positives: int, negatives: int) -> tuple[np.ndarray, np.ndarray]:
    """Image indices and 0/1 labels: `positives` images of digit t and `negatives` of other digits."""
    pos_pool, neg_pool = pool[digits[pool] == t], pool[digits[pool] != t]
    if positives > pos_pool.size or negatives > neg_pool.size:
        raise ValueError(f"task {t}: asked for {positives}+/{negatives}- examples, the pool has "
                         f"{pos_pool.size}+/{neg_pool.size}-")
    pos = rng.choice(pos_pool, positives, replace=False)
    neg = rng.choice(neg_pool, negatives, replace=False)
    idx = np.concatenate([pos, neg])
    return idx, np.concatenate([np.ones(positives), np.zeros(negatives)])


def make_digits_mtl(seed: int, train_per_task: int = 40, test_fraction: float = 0.5) -> tuple[TaskData, TaskData]:
    """(train, test) for the ten tasks; the split and the draws depend only on `seed`."""
    from sklearn.datasets import load_digits  # optional dependency: modrl[supervised]

    if train_per_task < 2:
        raise ValueError(f"train_per_task must be >= 2 (one positive, one negative), got {train_per_task}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    bunch = load_digits()
    images = bunch.data.astype(np.float32) / 16.0  # pixel values are 0..16
    digits = bunch.target.astype(np.int64)
    rng = np.random.default_rng(seed)

    train_pool, test_pool = [], []
    for d in range(NUM_TASKS):  # stratified split: no image is in both pools
        idx = rng.permutation(np.flatnonzero(digits == d))
        n_test = int(round(test_fraction * idx.size))
        test_pool.append(idx[:n_test])
        train_pool.append(idx[n_test:])
    train_pool, test_pool = np.concatenate(train_pool), np.concatenate(test_pool)

    def build(pool: np.ndarray, counts: list[tuple[int, int]]) -> TaskData:
        xs, ts, ys = [], [], []
        for t, (pos, neg) in enumerate(counts):
            idx, labels = _draw_task(rng, digits, pool, t, pos, neg)
            xs.append(images[idx])
            ts.append(np.full(idx.size, t))
            ys.append(labels)
        return TaskData(torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ts)).long(),
                        torch.from_numpy(np.concatenate(ys)).float())

    pos_train = train_per_task // 2
    train = build(train_pool, [(pos_train, train_per_task - pos_train)] * NUM_TASKS)
    test_pos = [int((digits[test_pool] == t).sum()) for t in range(NUM_TASKS)]
    test = build(test_pool, [(p, p) for p in test_pos])
    return train, test
