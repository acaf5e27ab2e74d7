"""Pool the records of sweeps (`scripts/sweep.py`) and compare their policy variants cell by cell.

    python scripts/sweep_report.py runs/sweep-f05/sweep.json runs/sweep-f075/sweep.json --plot tasks.png --curve sweep.png

Prints, per held-out fraction, the IQM [95% CI] of success of every variant (held out, trained), the
probability that each variant beats each monolithic one on a held-out (split seed, seed, pair) cell
both were scored on (with its wins, ties and losses), each variant's mean success per task (held out /
trained) and its mean held-out success per run (fraction, split seed, seed); draws the
per-task bars (--plot) and held-out success against the fraction (--curve).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import tyro

from agents.common.cli import run_cli
from agents.common.report import variant
from agents.common.sweep_report import (improvement_lines, improvements, plot_fractions, plot_tasks, split_table,
                                        summarise, table, task_table)


@dataclass
class SweepReportArgs:
    files: tyro.conf.Positional[tuple[Path, ...]] = ()
    """sweep.json files (or a cell's records.json), read together"""
    baseline: str = "monolithic"
    """the policy every other variant is compared with"""
    plot: Path | None = None
    """write a bar chart of held-out success per task and variant here"""
    curve: Path | None = None
    """write held-out success against the held-out fraction, per variant, here"""
    reps: int = 2000
    """bootstrap resamples"""
    fraction: float | None = None
    """report this held-out fraction only (the per-task table and bars pool every fraction given)"""


def read_records(path: Path) -> list[dict]:
    data = json.loads(Path(path).read_text())
    records = data.get("records") if isinstance(data, dict) else data
    if not isinstance(records, list) or any("holdout_fraction" not in r for r in records):
        raise ValueError(f"{path} holds no sweep records (records with a holdout_fraction): give a sweep.json")
    return records


def main(args: SweepReportArgs) -> dict:
    if not args.files:
        raise ValueError("give one or more sweep.json files")
    records = [r for path in args.files for r in read_records(path)]
    if args.fraction is not None:
        records = [r for r in records if r["holdout_fraction"] == args.fraction]
        if not records:
            raise ValueError(f"no records at held-out fraction {args.fraction}")
    for key in ("suite", "actions"):  # cells of another suite or evaluation mode are not the same cells
        if len({r.get(key) for r in records}) > 1:
            raise ValueError(f"the records mix {key}s {sorted({str(r.get(key)) for r in records})}: report them apart")
    rows = summarise([r | {"policy": variant(r)} for r in records], args.reps)  # a row per variant
    compared = improvements(records, args.baseline, args.reps)
    print(table(rows), "", *improvement_lines(compared), "", task_table(records), "", split_table(records), sep="\n")
    if args.plot is not None:
        suite = records[0].get("suite", "")
        plot_tasks(records, args.plot, f"{suite}: held-out success per task")
        print(f"wrote {args.plot}")
    if args.curve is not None:
        plot_fractions(rows, f"{records[0].get('suite', '')}: zero-shot recombination vs held-out fraction", args.curve)
        print(f"wrote {args.curve}")
    return {"summary": rows, "improvement": compared}


if __name__ == "__main__":
    run_cli(main, SweepReportArgs)
