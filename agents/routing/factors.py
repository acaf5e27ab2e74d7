"""How well a layer's learned routing factorises into a robot part and a task part (numpy only)."""

from __future__ import annotations

import math

import numpy as np


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def factorisation(usage: np.ndarray, pairs: list[tuple[str, str]]) -> dict[str, float]:
    """Shares of a layer's choice entropy H(C) explained by the robot, the task and the pair, each pair
    weighted alike: I(C; R) / H(C), I(C; T) / H(C), I(C; pair) / H(C) (NaN when every pair uses one
    module), and the accuracy of the best robot-only and task-only predictors of the chosen module.

    `usage` [pairs, M]: how often each pair uses each module (a row sums to 1)."""
    p_choice = usage.mean(0)
    h = _entropy(p_choice)
    out = {"choice_entropy": h}
    for name, keys in (("robot", [r for r, _ in pairs]), ("task", [t for _, t in pairs]), ("pair", pairs)):
        groups = {k: [i for i, key in enumerate(keys) if key == k] for k in dict.fromkeys(keys)}
        conditional = [(len(rows) / len(pairs), usage[rows].mean(0)) for rows in groups.values()]
        info = h - sum(w * _entropy(p) for w, p in conditional)
        out[f"{name}_share"] = info / h if h > 1e-9 else math.nan
        if name != "pair":
            out[f"{name}_accuracy"] = float(sum(w * p.max() for w, p in conditional))
    return out
