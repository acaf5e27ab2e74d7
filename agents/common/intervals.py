"""Interval estimates over seeds (Agarwal et al., 2021, through `rliable`): the interquartile mean
with stratified-bootstrap confidence intervals, and the probability that one policy variant beats
another. A mean ± s.e.m. over 3–5 seeds hides how much two variants overlap; these show it.

Scores are success rates, one per (seed, pair): a (seeds × pairs) matrix per variant and split.
`rliable` is an optional extra (`pip install modrl[stats]`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from agents.common.report import variant

CONFIDENCE = 0.95


def _rliable():
    try:
        from rliable import library, metrics
    except ImportError as error:  # pragma: no cover - the extra is installed by `make test`
        raise ValueError(f"interval estimates need rliable: pip install 'modrl[stats]' ({error})") from None
    return library, metrics


def score_matrices(records: list[dict], split: str) -> dict[str, np.ndarray]:
    """variant → success rates [seeds, pairs] of `split`'s pairs; variants missing a (seed, pair) are refused."""
    scores: dict[str, dict[int, dict[tuple[str, str], float]]] = defaultdict(lambda: defaultdict(dict))
    for r in records:
        if r["split"] == split and r.get("success_rate") is not None:
            scores[variant(r)][r["seed"]][(r["robot"], r["task"])] = r["success_rate"]
    matrices = {}
    for name, by_seed in scores.items():
        pairs = sorted({p for seed in by_seed.values() for p in seed})
        missing = [(s, p) for s, seed in by_seed.items() for p in pairs if p not in seed]
        if missing:
            raise ValueError(f"{name!r} has no {split} record for seed {missing[0][0]}, pair {missing[0][1]}")
        matrices[name] = np.array([[seed[p] for p in pairs] for _, seed in sorted(by_seed.items())])
    return matrices


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.2f} [{self.low:.2f}, {self.high:.2f}]"


def iqm(matrices: dict[str, np.ndarray], reps: int = 2000, seed: int = 0) -> dict[str, Estimate]:
    """Interquartile mean of each variant's scores with a stratified-bootstrap CI (pairs as strata)."""
    library, metrics = _rliable()
    np.random.seed(seed)  # rliable draws from numpy's global generator
    points, intervals = library.get_interval_estimates(
        matrices, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=reps, confidence_interval_size=CONFIDENCE)
    return {k: Estimate(float(points[k][0]), float(intervals[k][0, 0]), float(intervals[k][1, 0])) for k in matrices}


def probability_of_improvement(matrices: dict[str, np.ndarray], pairs: list[tuple[str, str]], reps: int = 2000,
                               seed: int = 0) -> dict[tuple[str, str], Estimate]:
    """P(X > Y) for each (X, Y) in `pairs`: the chance that a run of X beats a run of Y on a random pair."""
    library, metrics = _rliable()
    for x, y in pairs:
        if matrices[x].shape[1] != matrices[y].shape[1]:
            raise ValueError(f"{x!r} and {y!r} were scored on different pairs")
    np.random.seed(seed)
    joined = {f"{x},{y}": (matrices[x], matrices[y]) for x, y in pairs}
    points, intervals = library.get_interval_estimates(
        joined, metrics.probability_of_improvement, reps=reps, confidence_interval_size=CONFIDENCE)
    flat = {key: np.ravel(points[key]) for key in joined}
    bounds = {key: np.ravel(intervals[key]) for key in joined}
    return {(x, y): Estimate(float(flat[f"{x},{y}"][0]), float(bounds[f"{x},{y}"][0]), float(bounds[f"{x},{y}"][-1]))
            for x, y in pairs}


def paired_improvement(x: np.ndarray, y: np.ndarray, reps: int = 2000, seed: int = 0) -> Estimate:
    """P(X > Y) over cells both were scored on (ties count half), with a percentile bootstrap over cells.

    For one run per cell, e.g. (split seed, held-out pair) cells of a sweep, where rliable's per-pair
    comparison of runs would have nothing to resample."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or not len(x):
        raise ValueError(f"paired_improvement takes two equal-length score vectors, got shapes {x.shape} and {y.shape}")
    wins = (x > y) + 0.5 * (x == y)
    boot = wins[np.random.default_rng(seed).integers(0, len(wins), (reps, len(wins)))].mean(1)
    low, high = np.percentile(boot, [100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2])
    return Estimate(float(wins.mean()), float(low), float(high))


def interval_report(records: list[dict], reps: int = 2000) -> str:
    """Markdown: IQM [95% CI] of success per variant and split, then P(row beats column) on held-out pairs."""
    splits = [s for s in ("train", "holdout") if any(r["split"] == s for r in records)]
    by_split = {split: score_matrices(records, split) for split in splits}
    estimates = {split: iqm(m, reps) for split, m in by_split.items()}
    variants = list(dict.fromkeys(v for m in by_split.values() for v in m))
    lines = ["| variant | seeds | " + " | ".join(f"IQM success, {s} [95% CI]" for s in splits) + " |",
             "|---" * (len(splits) + 2) + "|"]
    for name in variants:
        seeds = max(m[name].shape[0] for m in by_split.values() if name in m)
        cells = [str(estimates[s][name]) if name in estimates[s] else "-" for s in splits]
        lines.append(f"| {name} | {seeds} | " + " | ".join(cells) + " |")
    held = by_split.get("holdout", {})
    comparable = [(x, y) for x in held for y in held if x != y and not y.startswith("random")
                  and held[x].shape[1] == held[y].shape[1]]
    if comparable:
        lines += ["", "Probability of improvement on held-out pairs, P(row > column) [95% CI]:", ""]
        improvement = probability_of_improvement(held, comparable, reps)
        columns = list(dict.fromkeys(y for _, y in comparable))
        lines += ["| row \\ column | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for x in dict.fromkeys(x for x, _ in comparable):
            lines.append(f"| {x} | " + " | ".join(str(improvement[(x, y)]) if (x, y) in improvement else "-"
                                                 for y in columns) + " |")
    return "\n".join(lines)
