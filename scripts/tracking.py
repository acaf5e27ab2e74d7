"""How closely each robot makes the end-effector move its message asks for, on trained and held-out pairs.

    python scripts/tracking.py runs/sweep/f0.5_s2 --seed 1 [--episodes 50]

Reads a run's split from its `config.json` (a sweep cell, or a `train.py --holdout-fraction` run),
loads its modular policy's modules and evaluates every pair of the suite with
`evaluate(tracking=True)`: per pair the cosine between the moves asked for and made (Σ made·asked /
Σ |made||asked|) and the speed ratio Σ |made| / Σ |asked|; then their mean [min, max] over the
trained and the held-out pairs. A message that means the same move to every robot tracks as well
on the pairs it never trained on as on those it did (docs/results/sweep.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import tyro

import envs
from agents.common.cli import run_cli
from agents.common.evaluate import evaluate
from agents.common.spec import SuiteSpec
from agents.rl.experiment import run_splits
from agents.rl.recombine import load_policy


@dataclass
class TrackingArgs:
    run: tyro.conf.Positional[Path]
    """the run's folder: its config.json and modular/seed<seed>/modules"""
    seed: int = 1
    """the training seed whose modules to evaluate"""
    episodes: int = 50
    """evaluation episodes per pair"""
    eval_seed: int = 0
    """seed of the sampled actions"""


def main(args: TrackingArgs) -> dict[str, list[dict]]:
    config_file, modules = args.run / "config.json", args.run / "modular" / f"seed{args.seed}" / "modules"
    if not config_file.is_file() or not modules.is_dir():
        raise ValueError(f"{args.run} is not a run with modular modules for seed {args.seed}: expected "
                         f"{config_file} and {modules}")
    config = json.loads(config_file.read_text())
    suite = envs.get_suite(config["suite"])
    splits = run_splits(config)
    trained, held = splits["train"], splits["holdout"]
    policy = load_policy(SuiteSpec.from_suite(suite), modules, modules, list(suite.robots), list(suite.tasks),
                         config["suite"])
    records = evaluate(policy, suite, trained + held, args.episodes, args.eval_seed, deterministic=False, tracking=True)
    groups = {"trained": records[: len(trained)], "held out": records[len(trained):]}
    for name, group in groups.items():
        if not group:
            continue
        line = [f"{name:<9} {len(group):>2} pairs"]
        for key, label in (("tracking_cosine", "cosine"), ("tracking_speed", "speed"), ("success_rate", "success")):
            values = [r[key] for r in group]
            line.append(f"{label} {sum(values) / len(values):.2f} [{min(values):.2f}, {max(values):.2f}]")
        print("  ".join(line))
    return groups


if __name__ == "__main__":
    run_cli(main, TrackingArgs)
