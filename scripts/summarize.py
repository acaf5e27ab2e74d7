"""Summarise zero-shot records (`zero_shot.json` files) per policy variant, split and task group.

    python scripts/summarize.py results/arms_zero_shot.json --group ReachRed=reach ReachBlue=reach
    python scripts/summarize.py runs/a/zero_shot.json runs/b/zero_shot.json   # several runs at once
    python scripts/summarize.py --curves runs/arms --plot curves.png          # learning curves

First table, each cell: success rate ± standard error over seeds / mean final distance. Then the
interquartile mean of success with 95% stratified-bootstrap intervals and, on held-out pairs, the
probability that one variant beats another (rliable; docs/results/arms.md explains them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import tyro

from agents.common.cli import run_cli
from agents.common.curves import plot_curves
from agents.common.intervals import interval_report
from agents.common.report import summary


@dataclass
class SummarizeArgs:
    files: tyro.conf.Positional[tuple[Path, ...]] = ()
    """zero_shot.json files, read together"""
    group: tuple[str, ...] = ()
    """task groups as Task=column, e.g. ReachRed=reach ReachBlue=reach (other tasks: a column each)"""
    intervals: bool = True
    """also print the IQM with 95% stratified-bootstrap CIs and the probability of improvement (rliable)"""
    curves: tuple[Path, ...] = ()
    """run folders (--out of scripts/train.py) whose learning curves to plot, with intervals over seeds"""
    plot: Path = Path("curves.png")
    """where the learning-curve figure goes (with --curves)"""


def main(args: SummarizeArgs) -> str:
    """Print (and return) the summary table of every record in `args.files`."""
    groups: dict[str, str] = {}
    for item in args.group:
        if item.count("=") != 1:
            raise ValueError(f"groups are written Task=column, got {item!r}")
        task, column = item.split("=")
        groups[task] = column
    records = [r for path in args.files for r in json.loads(Path(path).read_text())]
    text = summary(records, groups) if records else ""
    if records and args.intervals:
        text += "\n\n" + interval_report(records)
    print(text)
    if args.curves:
        print(f"wrote {plot_curves(list(args.curves), args.plot)}")
    return text


if __name__ == "__main__":
    run_cli(main, SummarizeArgs)
