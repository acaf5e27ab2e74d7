"""Zero-shot results as a robot × task table (terminal) and a heatmap (PNG)."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from agents.common.files import write_atomically


def _mean_by_cell(records: list[dict], policy: str, key: str) -> dict[tuple[str, str], tuple[float, float, int]]:
    cells: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in records:
        if r["policy"] == policy:
            cells[(r["robot"], r["task"])].append(r[key])
    return {c: (float(np.mean(v)), float(np.std(v)), len(v)) for c, v in cells.items()}


def table(records: list[dict], robots: list[str], tasks: list[str], policy: str) -> str:
    """Success rate / final distance per (robot, task); held-out pairs are marked with *."""
    split = {(r["robot"], r["task"]): r["split"] for r in records if r["policy"] == policy}
    success = _mean_by_cell(records, policy, "success_rate")
    distance = _mean_by_cell(records, policy, "final_distance")
    width = max(16, *(len(t) + 2 for t in tasks))
    lines = [f"policy: {policy}   cell = success rate / final task distance, * = held out, "
             f"mean over {max((n for _, _, n in success.values()), default=0)} seed(s)",
             "robot".ljust(10) + "".join(t.rjust(width) for t in tasks)]
    for robot in robots:
        row = robot.ljust(10)
        for task in tasks:
            if (robot, task) not in success:
                row += "-".rjust(width)
                continue
            mark = "*" if split[(robot, task)] == "holdout" else " "
            row += f"{success[(robot, task)][0]:.2f} / {distance[(robot, task)][0]:.2f}{mark}".rjust(width)
        lines.append(row)
    for name in dict.fromkeys(split[c] for c in success):
        cells = [c for c in success if split[c] == name]
        if cells:
            lines.append(f"{name:8s} mean success {np.mean([success[c][0] for c in cells]):.2f}, "
                         f"final distance {np.mean([distance[c][0] for c in cells]):.2f} over {len(cells)} pairs")
    return "\n".join(lines)


def heatmap(records: list[dict], robots: list[str], tasks: list[str], path: str | Path) -> Path:
    """One panel per policy: success rate per (robot, task), held-out cells outlined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    policies = list(dict.fromkeys(r["policy"] for r in records))
    fig, axes = plt.subplots(1, len(policies), figsize=(1.6 * len(tasks) * len(policies) + 1.5, 0.7 * len(robots) + 1.8),
                             squeeze=False)
    for ax, policy in zip(axes[0], policies):
        success = _mean_by_cell(records, policy, "success_rate")
        split = {(r["robot"], r["task"]): r["split"] for r in records if r["policy"] == policy}
        grid = np.full((len(robots), len(tasks)), np.nan)
        for (robot, task), (mean, _, _) in success.items():
            grid[robots.index(robot), tasks.index(task)] = mean
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis")
        for i, robot in enumerate(robots):
            for j, task in enumerate(tasks):
                if not np.isnan(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center",
                            color="white" if grid[i, j] < 0.6 else "black", fontsize=9)
                if split.get((robot, task)) == "holdout":
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2.5))
        ax.set_xticks(range(len(tasks)), tasks, rotation=30, ha="right")
        ax.set_yticks(range(len(robots)), robots)
        ax.set_title(f"{policy}: success (red = held out)", fontsize=10)
    fig.subplots_adjust(wspace=0.4)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def finite_records(records: list[dict]) -> list[dict]:
    """The records with every non-finite number replaced by null, and the replaced keys listed under
    "not_finite" (JSON has no NaN; a bare NaN would make the file unreadable to strict parsers)."""
    cleaned = []
    for record in records:
        bad = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
        cleaned.append({k: None if k in bad else v for k, v in record.items()} | ({"not_finite": bad} if bad else {}))
    return cleaned


def write_json(records: list[dict], path: str | Path) -> Path:
    """`records` as strict JSON (non-finite numbers become null), written atomically."""
    return write_atomically(path, json.dumps(finite_records(records), indent=1, allow_nan=False))


def publish(records: list[dict], robots: list[str], tasks: list[str], out: str | Path | None) -> None:
    """Print a table per policy; with `out`, write `zero_shot.json` and `zero_shot.png` there."""
    for policy in dict.fromkeys(r["policy"] for r in records):
        print(table(records, robots, tasks, policy), end="\n\n")
    if out is not None:
        print(f"wrote {write_json(records, Path(out) / 'zero_shot.json')}")
        print(f"wrote {heatmap(records, robots, tasks, Path(out) / 'zero_shot.png')}")


VARIANT_KEYS = {  # record field → (its name in a variant label, the values a label leaves out)
    "interface_dim": ("interface", ()), "interface_dropout": ("dropout", (0.0,)), "dropout_mode": ("mode", ()),
    "interface_noise": ("noise", ("bernoulli",)), "interface_coupling": ("coupling", ("concat",)),
    "interface_grounding": ("grounding", (0.0,)), "interface_turn": ("turn", (0.0,)), "interface_gain": ("gain", (1.0,)),
    "hyper_banks": ("hyper", ([], ())),
    "monolithic_hidden": ("hidden", ()), "routing_layout": ("layout", ("generic",)), "routing_per": ("per", ("step",)),
    "routing_epsilon": ("epsilon", (0.0,)), "routing_router_lr_scale": ("router-lr", (1.0,)),
    "routing_entropy_coef": ("routing-entropy", (0.0,)), "routing_balance_coef": ("balance", (0.0,)),
    "routing_collaboration": ("collaboration", (0.0,)), "routing_layers": ("layers", (3,)),
    "routing_modules": ("modules", (8,)), "routing_hidden": ("routing-hidden", (64,)),
    "routing_head_hidden": ("head-hidden", (64,)), "routing_embedding_dim": ("embedding", (16,)),
    "routing_combine": ("combine", ("add",)), "routing_top_k": ("top-k", (2,)),
    "routing_hierarchical_groups": ("groups", (2,)), "routing_hierarchical_trainer": ("trainer", ("ppo",)),
    "routing_reinforce_coef": ("reinforce-coef", (0.1,)),
    "routing_reinforce_baseline_momentum": ("baseline-momentum", (0.9,)),
}


def variant(record: dict) -> str:
    """What a record's policy was trained as, e.g. "modular interface=2" or "monolithic"; settings at
    their defaults (and settings older records lack) are left out."""
    parts = [record["policy"]]
    for key, (label, plain) in VARIANT_KEYS.items():
        value = record.get(key)
        if value is not None and value not in plain:
            parts.append(f"{label}={','.join(map(str, value)) if isinstance(value, (list, tuple)) else value}")
    return " ".join(parts)


def _markdown_row(entries: list[str]) -> str:
    return "| " + " | ".join(entries) + " |"


def summary(records: list[dict], groups: dict[str, str] | None = None) -> str:
    """A Markdown table with a row per policy variant and a column per (task group, split): success rate ±
    its standard error over seeds / final distance, each the mean over seeds of a seed's mean over the
    column's pairs.

    `groups` maps task names to column names (e.g. both reach tasks to "reach"); other tasks keep their own.
    Two records of one variant, seed and pair are refused: they come from runs the records cannot tell
    apart (written before a setting was recorded), which would be averaged as one."""
    groups = groups or {}
    Cell = dict[int, list[tuple[float, float]]]  # seed → (success, distance) of each pair
    cells: dict[tuple[str, tuple[str, str]], Cell] = defaultdict(lambda: defaultdict(list))
    seen: set[tuple[str, int, str, str]] = set()
    for r in records:
        key = (variant(r), r["seed"], r["robot"], r["task"])
        if key in seen:
            raise ValueError(f"two records of {key[0]!r}, seed {key[1]}, {key[2]}:{key[3]}: summarise runs whose "
                             f"settings the records do not tell apart separately")
        seen.add(key)
        column = (groups.get(r["task"], r["task"]), r["split"])
        cells[(key[0], column)][r["seed"]].append((r["success_rate"], r["final_distance"]))
    rows = list(dict.fromkeys(row for row, _ in cells))
    columns = sorted(dict.fromkeys(column for _, column in cells), key=lambda c: (c[1] != "train", c))
    lines = [_markdown_row(["variant", "seeds", *(f"{group}, {split}" for group, split in columns)]),
             _markdown_row(["---"] * (len(columns) + 2))]
    for row in rows:
        entries = [row, str(max(len(cells[(row, c)]) for c in columns if (row, c) in cells))]
        for column in columns:
            per_seed = cells.get((row, column))
            if not per_seed:
                entries.append("-")
                continue
            success = np.array([np.mean([s for s, _ in pairs]) for pairs in per_seed.values()])
            distance = np.mean([np.mean([d for _, d in pairs]) for pairs in per_seed.values()])
            sem = f" ± {success.std(ddof=1) / np.sqrt(len(success)):.2f}" if len(success) > 1 else ""
            entries.append(f"{success.mean():.2f}{sem} / {distance:.2f}")
        lines.append(_markdown_row(entries))
    return "\n".join(lines)


def parse_pairs(items: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    """["Arm2:ReachRed", ...] → [("Arm2", "ReachRed"), ...]."""
    pairs = []
    for item in items:
        if item.count(":") != 1:
            raise ValueError(f"pairs are written Robot:Task, got {item!r}")
        robot, task = item.split(":")
        pairs.append((robot, task))
    return pairs
