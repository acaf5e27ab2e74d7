"""Digits-MTL: shared vs independent vs routed networks on ten one-vs-rest digit tasks.

    python scripts/digits_mtl.py                       # every method x 3 seeds, prints the table
    python scripts/digits_mtl.py --methods shared fixed --seeds 0 1 --out runs/digits
    python scripts/digits_mtl.py --train.steps 300 --topk.k 3 --routing-reinforce.reward neg_loss

Prints, per method, the mean ± std over seeds of the mean test accuracy over the ten tasks, and the
parameter count. With `--out DIR` it also writes DIR/digits_mtl.json (one record per run) and
DIR/digits_mtl.png (a bar chart); an existing DIR/digits_mtl.json is refused unless `--overwrite`.
Each task's test set is balanced: chance (majority class) is 0.5. `--train.*` sets what every method
shares; each registered method with settings of its own gets a group (`--<method>.*`). See
`agents/supervised/methods.py` for every method.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path

from tqdm import tqdm

from agents.common.cli import run_cli
from agents.common.files import write_atomically
from agents.common.report import finite_records
from agents.supervised.config import TrainConfig
from agents.supervised.methods import SUPERVISED
from agents.supervised.trainer import run_method

RESULTS = "digits_mtl.json"


@dataclass
class CommonArgs:
    methods: tuple[str, ...] = tuple(SUPERVISED.names())
    """methods to compare (see agents/supervised/methods.py)"""
    seeds: tuple[int, ...] = (0, 1, 2)
    """seeds: each one is a data split, an initialisation and a batch order"""
    out: str | None = None
    """directory for digits_mtl.json and digits_mtl.png (nothing written when unset)"""
    overwrite: bool = False
    """replace an existing digits_mtl.json under --out"""
    train: TrainConfig = field(default_factory=TrainConfig)
    """settings every method shares"""


def with_method_configs(base: type) -> type:
    """`base` plus one field per registered method that has a config class, named after the method."""
    fields = []
    for name in SUPERVISED.names():
        config_cls = SUPERVISED.get(name).config_cls
        if config_cls is None:
            continue
        if name in base.__dataclass_fields__:
            raise ValueError(f"supervised method {name!r} clashes with the script option --{name}")
        fields.append((name, config_cls, field(default_factory=config_cls)))
    return make_dataclass("Args", fields, bases=(base,))


Args = with_method_configs(CommonArgs)


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
        SUPERVISED.check(method)  # fail before any training
    out = None if args.out is None else Path(args.out)
    if out is not None and (out / RESULTS).exists() and not args.overwrite:
        raise FileExistsError(f"{out / RESULTS} exists: pass another --out, or --overwrite to replace it")
    runs = [(m, s) for m in args.methods for s in args.seeds]
    records = []
    for method, seed in tqdm(runs, desc="digits-mtl", unit="run"):
        records.append(run_method(method, seed, args.train, getattr(args, method, None)))
    rows = summarise(records, tuple(args.methods))
    print(format_table(rows))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_atomically(out / RESULTS, json.dumps(finite_records(records), indent=2, allow_nan=False))
        plot(rows, out / "digits_mtl.png")
        print(f"wrote {out / RESULTS} and {out / 'digits_mtl.png'}")
    return records


if __name__ == "__main__":
    run_cli(main, Args)
