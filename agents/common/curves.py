"""Learning curves from run folders: training success over environment steps, per policy, with an
interquartile mean and a 95% bootstrap interval over seeds at each point."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from agents.common.intervals import iqm

POINTS = 25  # curve points per policy (updates are thinned to about this many)


def read_histories(run: str | Path) -> dict[str, dict[int, list[dict]]]:
    """policy → seed → PPO's per-update history, from `run/<policy>/seed<k>/checkpoint.pt`."""
    histories: dict[str, dict[int, list[dict]]] = defaultdict(dict)
    for checkpoint in sorted(Path(run).glob("*/seed*/checkpoint.pt")):
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
            history = json.loads(state["history"])
        except Exception as error:  # any unreadable checkpoint: name it, in one line
            raise ValueError(f"{checkpoint}: not a readable modrl checkpoint ({type(error).__name__})") from None
        histories[checkpoint.parent.parent.name][int(checkpoint.parent.name.removeprefix("seed"))] = history
    if not histories:
        raise FileNotFoundError(f"no <policy>/seed<k>/checkpoint.pt under {run}")
    return histories


def success_curve(history: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(global steps, mean training success over the pairs whose episodes ended in that update)."""
    steps, success = [], []
    for record in history:
        pairs = record["pairs"].values()
        if pairs:
            steps.append(record["global_step"])
            success.append(float(np.mean([p["success"] for p in pairs])))
    return np.array(steps), np.array(success)


def plot_curves(runs: list[str | Path], path: str | Path, reps: int = 500) -> Path:
    """One line per policy (IQM over seeds) with its 95% interval band, written to `path` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_policy: dict[str, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    for run in runs:
        for policy, seeds in read_histories(run).items():
            by_policy[policy] += [success_curve(h) for h in seeds.values()]
    fig, ax = plt.subplots(figsize=(7, 4))
    for policy, curves in by_policy.items():
        length = min(len(s) for s, _ in curves)
        if length == 0:
            continue
        at = np.unique(np.linspace(0, length - 1, min(POINTS, length)).astype(int))
        scores = np.stack([c[at] for _, c in curves])  # [seeds, points]
        estimates = [iqm({"x": scores[:, [i]]}, reps)["x"] for i in range(len(at))]
        steps = curves[0][0][at]
        ax.plot(steps, [e.value for e in estimates], label=f"{policy} ({len(curves)} seeds)")
        ax.fill_between(steps, [e.low for e in estimates], [e.high for e in estimates], alpha=0.25)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("training success (IQM over seeds, 95% CI)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
