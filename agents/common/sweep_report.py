"""Compare policy variants over the records of one or more held-out-fraction sweeps.

A sweep record is one (policy variant, held-out fraction, split seed, training seed, pair) success
rate. Two variants are compared on the held-out cells both were scored on: the probability that
one beats the other on such a cell (`paired_improvement`), and their mean success per task.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from agents.common.intervals import Estimate, iqm, paired_improvement
from agents.common.report import variant

Cell = tuple[float, int, int, str, str]  # (fraction, split seed, seed, robot, task)


def summarise(records: list[dict], reps: int) -> list[dict]:
    """IQM [95% CI] of success per policy, fraction and split, over (split seed, seed, pair) scores."""
    rows = []
    policies = list(dict.fromkeys(r["policy"] for r in records))
    fractions = sorted({r["holdout_fraction"] for r in records})
    for fraction in fractions:
        for policy in policies:
            row = {"policy": policy, "fraction": fraction}
            for split in ("holdout", "train"):
                runs: dict[tuple[int, int], list[float]] = {}
                for r in records:
                    if (r["policy"], r["holdout_fraction"], r["split"]) == (policy, fraction, split):
                        runs.setdefault((r["split_seed"], r["seed"]), []).append(r["success_rate"])
                if not runs:
                    continue
                matrix = np.array([scores for _, scores in sorted(runs.items())])  # [runs, pairs of the split]
                estimate = iqm({policy: matrix}, reps=reps)[policy]
                row |= {f"{split}_iqm": estimate.value, f"{split}_low": estimate.low, f"{split}_high": estimate.high,
                        "runs": len(runs), f"{split}_pairs": matrix.shape[1]}
            if "runs" in row:  # a variant pooled from sweeps need not have run at every fraction
                rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| held out | policy | runs | IQM success, held out [95% CI] | IQM success, trained [95% CI] |",
             "|---|---|---|---|---|"]
    for row in rows:
        cells = [str(Estimate(row[f"{s}_iqm"], row[f"{s}_low"], row[f"{s}_high"])) if f"{s}_iqm" in row else "-"
                 for s in ("holdout", "train")]
        lines.append(f"| {row['fraction']:g} ({row.get('holdout_pairs', 0)} pairs) | {row['policy']} | {row['runs']} | "
                     f"{cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def scores(records: list[dict], split: str = "holdout") -> dict[str, dict[Cell, float]]:
    """variant → {cell: success rate} of `split`'s records; a cell scored twice for one variant is refused."""
    table: dict[str, dict[Cell, float]] = defaultdict(dict)
    for r in records:
        if r["split"] != split or r.get("success_rate") is None:
            continue
        cell = (r["holdout_fraction"], r["split_seed"], r["seed"], r["robot"], r["task"])
        name = variant(r)
        if cell in table[name]:
            raise ValueError(f"two {split} records of {name!r} for fraction {cell[0]}, split seed {cell[1]}, "
                             f"seed {cell[2]}, {cell[3]}:{cell[4]}: pool sweeps of different cells only")
        table[name][cell] = r["success_rate"]
    return dict(table)


def improvements(records: list[dict], baseline: str = "monolithic", reps: int = 2000) -> list[dict]:
    """P(variant > baseline variant) [95% CI] on shared held-out cells, per fraction, for every variant
    against every variant of the `baseline` policy (e.g. monolithic networks of two widths)."""
    held = scores(records)
    baselines = [name for name in held if name.split(" ")[0] == baseline]
    rows = []
    for fraction in sorted({cell[0] for cells in held.values() for cell in cells}):
        for name in held:
            if name.split(" ")[0] in (baseline, "random"):
                continue
            for base in baselines:
                shared = sorted(c for c in held[name] if c[0] == fraction and c in held[base])
                if not shared:
                    continue
                x, y = np.array([held[name][c] for c in shared]), np.array([held[base][c] for c in shared])
                estimate = paired_improvement(x, y, reps)
                rows.append({"fraction": fraction, "variant": name, "baseline": base, "cells": len(shared),
                             "p": estimate.value, "low": estimate.low, "high": estimate.high,
                             "wins": int((x > y).sum()), "ties": int((x == y).sum()), "losses": int((x < y).sum())})
    return rows


def improvement_lines(rows: list[dict]) -> list[str]:
    return [f"P({r['variant']} > {r['baseline']}) on held-out cells at fraction {r['fraction']:g}: "
            f"{Estimate(r['p'], r['low'], r['high'])} over {r['cells']} (split seed, seed, pair) cells "
            f"({r['wins']} won, {r['ties']} tied, {r['losses']} lost)" for r in rows]


def split_table(records: list[dict]) -> str:
    """Markdown: each variant's mean held-out success per (fraction, split seed, seed) run."""
    runs: dict[tuple[str, tuple[float, int, int]], list[float]] = defaultdict(list)
    for name, cells in scores(records).items():
        for cell, value in cells.items():
            runs[(name, cell[:3])].append(value)
    keys = sorted({key for _, key in runs})
    names = list(dict.fromkeys(name for name, _ in runs))
    lines = ["| variant | " + " | ".join(f"F {f:g}, split {s}, seed {t}" for f, s, t in keys) + " |",
             "|---" * (len(keys) + 1) + "|"]
    for name in names:
        cells = [f"{np.mean(runs[(name, key)]):.2f}" if (name, key) in runs else "-" for key in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def task_means(records: list[dict]) -> dict[tuple[str, str, str], float]:
    """(variant, split, task) → mean success over that variant's cells of the task."""
    pooled: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for split in ("holdout", "train"):
        for name, cells in scores(records, split).items():
            for cell, value in cells.items():
                pooled[(name, split, cell[4])].append(value)
    return {key: float(np.mean(values)) for key, values in pooled.items()}


def task_table(records: list[dict]) -> str:
    """Markdown: a row per variant, a column per task, cells "held out / trained" mean success."""
    means = task_means(records)
    names = list(dict.fromkeys(key[0] for key in means))
    tasks = list(dict.fromkeys(r["task"] for r in records))
    lines = ["| variant | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for name in names:
        cells = [" / ".join(f"{means[(name, s, t)]:.2f}" if (name, s, t) in means else "-" for s in ("holdout", "train"))
                 for t in tasks]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_fractions(rows: list[dict], title: str, path: Path) -> None:
    """Held-out success (IQM, 95% CI band) against the held-out fraction per policy variant (`summarise`'s
    rows), trained success dotted; the untrained "random" policy in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["policy"] for r in rows))
    fig, ax = plt.subplots(figsize=(7, 4 + 0.25 * len(names)))
    for i, name in enumerate(names):
        mine = [r for r in rows if r["policy"] == name and "holdout_iqm" in r]
        x = np.array([r["fraction"] for r in mine])
        colour = "0.6" if name.startswith("random") else f"C{i}"
        ax.plot(x, [r["holdout_iqm"] for r in mine], "o-", color=colour, label=f"{name}, held out")
        ax.fill_between(x, [r["holdout_low"] for r in mine], [r["holdout_high"] for r in mine], color=colour, alpha=0.2)
        trained = [r for r in mine if "train_iqm" in r]
        ax.plot([r["fraction"] for r in trained], [r["train_iqm"] for r in trained], ":", color=colour,
                label=f"{name}, trained")
    ax.set(xlabel="fraction of pairs held out", ylabel="success (IQM, 95% CI)", ylim=(-0.02, 1.02), title=title)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=1, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_tasks(records: list[dict], path: Path, title: str) -> None:
    """Grouped bars of held-out mean success per task and variant, trained success as a tick on each bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    means = task_means(records)
    names = [n for n in dict.fromkeys(key[0] for key in means) if not n.startswith("random")]
    tasks = list(dict.fromkeys(r["task"] for r in records))
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(1.2 * len(tasks) + 2, 4 + 0.2 * len(names)))
    for i, name in enumerate(names):
        x = np.arange(len(tasks)) + (i - (len(names) - 1) / 2) * width
        held = [means.get((name, "holdout", t), np.nan) for t in tasks]
        trained = [means.get((name, "train", t), np.nan) for t in tasks]
        ax.bar(x, held, width, color=f"C{i}", label=f"{name}, held out")
        ax.plot(x, trained, "_", color="k", markersize=12, label="trained" if i == 0 else None)
    ax.set_xticks(np.arange(len(tasks)), tasks)
    ax.set(ylabel="mean success", ylim=(0, 1.05), title=title)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=1, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
