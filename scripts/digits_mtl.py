"""Digits-MTL: shared vs independent vs routed networks on ten one-vs-rest digit tasks.

    python scripts/digits_mtl.py                       # 7 methods x 3 seeds, prints the table
    python scripts/digits_mtl.py --methods shared fixed --seeds 0 1 --out runs/digits

Prints, per method, the mean ± std over seeds of the mean test accuracy over the ten tasks, and the
parameter count. With `--out DIR` it also writes DIR/digits_mtl.json (one record per run) and
DIR/digits_mtl.png (a bar chart). Each task's test set is balanced: chance (majority class) is 0.5.
See `agents/supervised.py` for the model and every method.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import tyro
from tqdm import tqdm

from agents.supervised.trainer import METHODS, SupervisedConfig, check_method, run_method


@dataclass
class Args:
    methods: tuple[str, ...] = METHODS
    """methods to compare (see agents/supervised.py)"""
    seeds: tuple[int, ...] = (0, 1, 2)
    """seeds: each one is a data split, an initialisation and a batch order"""
    out: str | None = None
    """directory for digits_mtl.json and digits_mtl.png (nothing written when unset)"""
    config: SupervisedConfig = field(default_factory=SupervisedConfig)
    """training settings, the same for every method"""


def summarise(records: list[dict], methods: tuple[str, ...]) -> list[dict]:
    """Per method: mean and std (over seeds) of the mean accuracy, parameters, seconds per run."""
    rows = []
    for method in methods:
        runs = [r for r in records if r["method"] == method]
        accs = [r["mean_accuracy"] for r in runs]
        rows.append({
            "method": method,
            "accuracy_mean": statistics.fmean(accs),
            "accuracy_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "parameters": runs[0]["parameters"],
            "seconds": statistics.fmean(r["seconds"] for r in runs),
            "runs": len(runs),
        })
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [f"{'method':<18} {'accuracy (mean ± std)':>22} {'parameters':>11} {'s/run':>6}"]
    for r in rows:
        acc = f"{r['accuracy_mean']:.4f} ± {r['accuracy_std']:.4f}"
        lines.append(f"{r['method']:<18} {acc:>22} {r['parameters']:>11,} {r['seconds']:>6.1f}")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    names = [r["method"] for r in rows]
    means = [r["accuracy_mean"] for r in rows]
    ax.bar(names, means, yerr=[r["accuracy_std"] for r in rows], capsize=4, color="tab:blue")
    for i, r in enumerate(rows):
        ax.text(i, 0.505, f"{r['parameters']:,}\nparams", ha="center", va="bottom", fontsize=7, color="white")
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="chance (balanced test sets)")
    ax.set_ylim(0.5, 1.0)
    ax.set_ylabel("mean test accuracy over 10 tasks")
    ax.set_title(f"Digits-MTL (mean ± std over {rows[0]['runs']} seeds)")
    ax.tick_params(axis="x", rotation=20)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(args: Args) -> list[dict]:
    """Run every (method, seed), print the table, write JSON/PNG under `args.out`; returns the records."""
    if not args.methods or not args.seeds:
        raise ValueError("give at least one method and one seed")
    for method in args.methods:
        check_method(method)  # fail before any training
    runs = [(m, s) for m in args.methods for s in args.seeds]
    records = []
    for method, seed in tqdm(runs, desc="digits-mtl", unit="run"):
        records.append(run_method(method, seed, args.config))
    rows = summarise(records, tuple(args.methods))
    print(format_table(rows))
    if args.out is not None:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "digits_mtl.json").write_text(json.dumps(records, indent=2))
        plot(rows, out / "digits_mtl.png")
        print(f"wrote {out / 'digits_mtl.json'} and {out / 'digits_mtl.png'}")
    return records


if __name__ == "__main__":
    main(tyro.cli(Args))
