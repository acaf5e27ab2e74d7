"""Evolutionary path search: PathNet transfer (task A, then task B three ways) or µNet (tasks in order).

    python scripts/evolve.py pathnet --suite digits --seeds 0 1 2 3 4 --workers 2 --out runs/pathnet
    python scripts/evolve.py pathnet --suite arms --seeds 0 --out runs/pathnet-arms
    python scripts/evolve.py munet --suite digits --seeds 0 --out runs/munet
    python scripts/evolve.py munet --suite arms --pairs Arm2:ReachRed Arm3:Push --out runs/munet-arms
    python scripts/evolve.py pathnet --out runs/pathnet --resume      # continue a killed run

The first argument picks the strategy; `--suite` picks the problem and the preset the other
defaults come from (`--help` after both shows them). Writes under --out: `<strategy>.json`
(records, summary, the command), `<strategy>.png`, TensorBoard logs (`tb/`) and checkpoints
(`seed<N>/`). An existing --out is refused unless --resume or --overwrite. docs/results/evolution.md
has the measured results.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import tyro

from agents.common.cli import REFUSALS
from agents.common.files import write_atomically
from agents.common.parallel import JobPool, init_ray, run_jobs
from agents.evolution import EVOLUTION
from agents.evolution.experiment import (
    RL_SEQUENCES, SUITES, MuNetRun, PathNetRun, RunConfig, plot_munet, plot_pathnet, run_munet_seed,
    run_pathnet_seed, summarise_munet, summarise_pathnet, summarise_zero_shot,
)
from agents.evolution.munet import MuNetConfig
from agents.evolution.pathnet import MODES, PathNetConfig


@dataclass
class Common:
    suite: Literal["digits", "arms", "grid"] = "digits"
    """problem: digits (supervised), arms or grid (RL)"""
    seeds: tuple[int, ...] = (0,)
    """one search per seed (data split, initialisation, every individual's seed)"""
    out: Path | None = None
    """output directory; None: write nothing"""
    resume: bool = False
    """continue the run under --out from its checkpoints"""
    overwrite: bool = False
    """delete this script's files under --out first"""
    workers: int = 1
    """worker processes (or Ray tasks)"""
    backend: Literal["serial", "process", "ray"] = "serial"
    """serial, process or ray (workers > 1 with serial: process)"""
    parallel: Literal["seeds", "population"] = "seeds"
    """what the workers run: seeds (one whole search each) or population (a generation's evaluations)"""
    ray_address: str | None = None
    """join this Ray cluster ("auto": the one this machine belongs to); None: start a local one"""
    checkpoint_every: int = 25
    """generations between checkpoints"""
    progress: bool = True
    """show progress bars"""


@dataclass
class PathNetArgs(Common):
    pairs: tuple[str, ...] = ()
    """tasks A and B: "a:b" digit pairs or "Robot:Task" pairs; empty: two random digit pairs per seed
    (digits) or the suite's preset (arms: Arm2:ReachRed Arm2:Push, grid: Ego:Goal Ego:Key)"""
    conditions: tuple[str, ...] = MODES
    """between A and B: transfer, independent, finetune"""
    pathnet: PathNetConfig = field(default_factory=PathNetConfig)


@dataclass
class MuNetArgs(Common):
    digits: tuple[int, ...] = tuple(range(10))
    """digits: Digits-MTL tasks in order ("is this digit d?")"""
    train_per_task: int = 100
    """digits: training + validation examples per task (a quarter validates)"""
    pairs: tuple[str, ...] = ()
    """RL: "Robot:Task" pairs introduced in order"""
    zero_shot_pairs: tuple[str, ...] = ()
    """RL: never-introduced pairs to run zero-shot; empty: every other pair of the suite"""
    baseline_steps: int | None = 300
    """steps per task for the independent and fine-tuned baselines (None: as many as µNet's
    candidates on that task together)"""
    munet: MuNetConfig = field(default_factory=MuNetConfig)


def _rl_pathnet() -> PathNetConfig:
    """RL at toy scale: 2 layers of 6 actor-critic modules, 2 genes each, 8 paths, 3 PPO updates per
    evaluation; solved at a success rate of 0.8 over those updates."""
    return PathNetConfig(layers=2, modules=6, active=2, width=32, population=8, steps=3, lr=3e-3, threshold=0.8,
                         max_generations=30)


def _rl_munet() -> MuNetConfig:
    """RL at small scale: 2 linear layers of 32 units (ReLU) and a head per pair; 6 generations of 2
    children, each trained 8 PPO updates; the baselines get µNet's updates per pair."""
    return MuNetConfig(layers=2, width=32, capacity=24, generations=6, children=2, steps=8)


PRESETS = {
    ("pathnet", "digits"): lambda: PathNetArgs(suite="digits", pathnet=PathNetConfig(lr=0.01, threshold=0.998,
                                                                                      max_generations=300)),
    ("pathnet", "arms"): lambda: PathNetArgs(suite="arms", checkpoint_every=5, pathnet=_rl_pathnet()),
    ("pathnet", "grid"): lambda: PathNetArgs(suite="grid", checkpoint_every=5, pathnet=_rl_pathnet()),
    ("munet", "digits"): lambda: MuNetArgs(suite="digits"),
    ("munet", "arms"): lambda: MuNetArgs(suite="arms", pairs=RL_SEQUENCES["arms"], baseline_steps=None,
                                         checkpoint_every=1, munet=_rl_munet()),
    ("munet", "grid"): lambda: MuNetArgs(suite="grid", pairs=RL_SEQUENCES["grid"], baseline_steps=None,
                                         checkpoint_every=1, munet=_rl_munet()),
}
FILES = ("pathnet.json", "pathnet.png", "munet.json", "munet.png")


def preset(method: str, argv: list[str]) -> PathNetArgs | MuNetArgs:
    """The defaults for `method` on the suite named by --suite in `argv` (digits when absent)."""
    suite = "digits"
    for i, arg in enumerate(argv):
        if arg == "--suite" and i + 1 < len(argv):
            suite = argv[i + 1]
        elif arg.startswith("--suite="):
            suite = arg.split("=", 1)[1]
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; valid: {list(SUITES)}")
    return PRESETS[(method, suite)]()


def prepare_out(args: Common) -> None:
    if args.out is None:
        return
    ours = [args.out / f for f in FILES] + [args.out / "tb"] + sorted(args.out.glob("seed*"))
    present = [p for p in ours if p.exists()]
    if present and not (args.resume or args.overwrite):
        raise FileExistsError(f"{args.out} already holds a run: pass --resume to continue it or --overwrite to replace it")
    if args.overwrite:
        for p in present:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    args.out.mkdir(parents=True, exist_ok=True)


def main(method: str, args: PathNetArgs | MuNetArgs) -> dict:
    """Run every seed; print the summary; write JSON and PNG under --out. Returns the JSON document."""
    if not args.seeds:
        raise ValueError("give at least one seed")
    if args.parallel not in ("seeds", "population"):
        raise ValueError(f"--parallel must be seeds or population, got {args.parallel!r}")
    if args.resume and args.overwrite:
        raise ValueError("--resume and --overwrite exclude each other")
    for mode in getattr(args, "conditions", ()):
        if mode not in MODES:
            raise ValueError(f"unknown condition {mode!r}; valid: {list(MODES)}")
    backend = "process" if args.backend == "serial" and args.workers > 1 else args.backend
    run = RunConfig(out=args.out, checkpoint_every=args.checkpoint_every, progress=args.progress)
    if method == "pathnet":
        experiment = PathNetRun(suite=args.suite, pairs=args.pairs, conditions=args.conditions, search=args.pathnet)
        seed_fn = run_pathnet_seed
    else:
        experiment = MuNetRun(suite=args.suite, digits=args.digits, train_per_task=args.train_per_task,
                              pairs=args.pairs, zero_shot_pairs=args.zero_shot_pairs,
                              baseline_steps=args.baseline_steps, search=args.munet)
        seed_fn = run_munet_seed
    prepare_out(args)
    if backend == "ray" and args.ray_address is not None:
        init_ray(args.ray_address)
    if args.parallel == "seeds":
        quiet = replace(run, progress=args.progress and args.workers == 1)
        records = run_jobs(seed_fn, [(experiment, quiet, seed) for seed in args.seeds], workers=args.workers,
                           backend=backend, progress=args.progress, desc="seeds")
    else:
        with JobPool(backend, args.workers) as pool:
            records = [seed_fn(experiment, run, seed, pool) for seed in args.seeds]
    if method == "pathnet":
        summary = summarise_pathnet(records)
        print(format_pathnet(summary))
    else:
        summary = summarise_munet(records)
        print(format_munet(summary))
    document = {"method": method, "command": " ".join(["scripts/evolve.py", *sys.argv[1:]]),
                "args": json.loads(json.dumps(asdict(args), default=str)), "summary": summary, "records": records}
    if "zero_shot" in records[0]:
        document["zero_shot"] = summarise_zero_shot(records)
        print(format_zero_shot(document["zero_shot"]))
    if args.out is not None:
        write_atomically(args.out / f"{method}.json", json.dumps(document, indent=1))
        if method == "pathnet":
            plot_pathnet(records, args.out / "pathnet.png", args.pathnet)
        else:
            plot_munet(records, summary, args.out / "munet.png")
        print(f"wrote {args.out / (method + '.json')} and {args.out / (method + '.png')}")
    return document


def format_pathnet(summary: dict) -> str:
    lines = [f"task A: {summary['task_A']['mean']:.1f} generations (95% CI {summary['task_A']['ci95'][0]:.1f}–"
             f"{summary['task_A']['ci95'][1]:.1f}), {summary['seeds']} seeds",
             f"{'task B':<12} {'mean gens':>9} {'95% CI':>15} {'median':>7} {'unsolved':>8}"]
    for mode, row in summary["task_B"].items():
        ci = f"{row['ci95'][0]:.1f}–{row['ci95'][1]:.1f}"
        lines.append(f"{mode:<12} {row['mean']:>9.1f} {ci:>15} {row['median']:>7.1f} {row['unsolved']:>8}")
    if "speedup_independent_over_transfer" in summary:
        s = summary["speedup_independent_over_transfer"]
        lines.append(f"speed-up independent/transfer: {s['value']:.2f} (95% CI {s['ci95'][0]:.2f}–{s['ci95'][1]:.2f})")
    return "\n".join(lines)


def format_munet(rows: list[dict]) -> str:
    """Per task (test accuracy, or RL success rate), then the means of quality and sums of parameters."""
    width = max(6, *(len(r["task"]) for r in rows))
    lines = [f"{'task':<{width}} {'µNet':>6} {'new par':>8} {'acct par':>8} {'reused':>6} {'steps':>6} "
             f"{'indep':>6} {'indep par':>9} {'ft own':>7} {'ft end':>7}"]
    for r in rows:
        lines.append(f"{r['task']:<{width}} {r['munet_test']:>6.3f} {r['munet_new_parameters']:>8.0f} "
                     f"{r['munet_accounted_parameters']:>8.0f} {r['munet_reused_modules']:>6.1f} "
                     f"{r['munet_steps']:>6.0f} {r['independent_test']:>6.3f} {r['independent_parameters']:>9.0f} "
                     f"{r['finetune_test_after_own']:>7.3f} {r['finetune_test_at_end']:>7.3f}")
    mean = lambda key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
    total = lambda key: sum(r[key] for r in rows)  # noqa: E731
    lines.append(f"{'all':<{width}} {mean('munet_test'):>6.3f} {total('munet_new_parameters'):>8.0f} {'':>8} "
                 f"{'':>6} {total('munet_steps'):>6.0f} {mean('independent_test'):>6.3f} "
                 f"{total('independent_parameters'):>9.0f} {mean('finetune_test_after_own'):>7.3f} "
                 f"{mean('finetune_test_at_end'):>7.3f}")
    return "\n".join(lines)


def format_zero_shot(rows: list[dict]) -> str:
    """Per never-introduced pair: the rule's path and its success, an untrained network's, and the
    best of every introduced pair's path."""
    width = max([4] + [len(r["pair"]) for r in rows])
    lines = ["zero-shot on pairs never introduced (success rate)",
             f"{'pair':<{width}} {'path of (rule)':>16} {'rule':>6} {'untrained':>9} {'best path of':>16} {'best':>6}"]
    for r in rows:
        best = max(r["by_source"], key=r["by_source"].get)
        rule = "-" if r["success"] is None else f"{r['success']:.3f}"
        lines.append(f"{r['pair']:<{width}} {r['source'] or '-':>16} {rule:>6} {r['untrained']:>9.3f} {best:>16} "
                     f"{r['by_source'][best]:>6.3f}")
    return "\n".join(lines)


def cli(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    methods = EVOLUTION.names()
    if not argv or argv[0] not in methods:
        if argv and argv[0] in ("-h", "--help"):
            print(__doc__)
            raise SystemExit(0)
        print(f"error: the first argument is the strategy, one of {methods}", file=sys.stderr)
        raise SystemExit(2)
    method, rest = argv[0], argv[1:]
    try:
        defaults = preset(method, rest)
        args = tyro.cli(type(defaults), args=rest, default=defaults, prog=f"evolve.py {method}")
        return main(method, args)
    except REFUSALS as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    cli()
