"""How zero-shot recombination holds up as more of a suite is held out: train each policy on random
splits that hold out a growing fraction of the (robot, task) pairs, and plot held-out success.

    python scripts/sweep.py                                   # arms6: modular vs monolithic, 0.25 0.5 0.75
    python scripts/sweep.py --fractions 0.25 0.5 --split-seeds 0 1 --seeds 1 --workers 2 \\
        --ppo.total-timesteps 500000 --out runs/sweep-small
    python scripts/sweep.py --resume --out runs/sweep        # continue a killed sweep

Each cell (fraction F, split seed S) is one experiment (`agents.rl.experiment.run`, as
scripts/train.py) holding out `Suite.random_holdout(F, S)`, with every --policy and --seeds,
under --out/f{F}_s{S}/; cells run on --workers processes. A fraction the suite cannot hold out
(every robot and task needs a trained partner) is skipped with the reason. Writes sweep.json
(settings, parameter counts, every record, the summary) and sweep.png: held-out success against
the fraction, the interquartile mean over (split seed x training seed x held-out pair) scores with
95% stratified-bootstrap intervals per policy (`agents.common.intervals.iqm`).
docs/results/sweep.md has the cost and a measured run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import envs
from agents.common.cli import run_cli
from agents.common.files import claim_folder, write_atomically
from agents.common.parallel import run_jobs
from agents.common.spec import SuiteSpec
from agents.common.sweep_report import improvement_lines, improvements, plot_fractions, summarise, table
from agents.rl.experiment import EvalConfig, ExperimentConfig, check_resumable, run
from agents.common.routing_config import RoutingConfig
from agents.rl.interface import InterfaceConfig
from agents.rl.policies import POLICIES
from agents.rl.ppo import PPOConfig

RECORDS = "records.json"  # a finished cell's records, in its folder
SETTINGS = "sweep_config.json"  # marks a folder as a sweep's


@dataclass
class SweepConfig:
    suite: str = "arms6"
    """robot x task suite: arms6, arms, grid or grid6"""
    policy: tuple[str, ...] = ("modular", "monolithic")
    """policies to train, by registered name"""
    fractions: tuple[float, ...] = (0.25, 0.5, 0.75)
    """held-out fractions of the suite's pairs (one the suite cannot hold out is skipped)"""
    split_seeds: tuple[int, ...] = (0, 1, 2)
    """seeds of the random splits, one split per fraction and seed"""
    seeds: tuple[int, ...] = (1,)
    """training seeds, one run per split, policy and seed"""
    out: Path = Path("runs/sweep")
    """output folder: a cell per fraction and split seed (f{F}_s{S}/), sweep.json, sweep.png"""
    resume: bool = False
    """keep the finished cells under --out, continue the started ones"""
    overwrite: bool = False
    """delete the sweep under --out first"""
    workers: int = 1
    """cells trained at once, each in its own process (e.g. the number of CPU cores)"""
    threads: int = 1
    """torch threads per cell"""
    episodes: int = 100
    """evaluation episodes per pair"""
    random_baseline: bool = True
    """also evaluate an untrained modular policy in every cell (the floor of the plot)"""
    reps: int = 2000
    """bootstrap resamples per interval"""
    progress: bool = True
    """show a progress bar over cells (and PPO's, with one worker)"""
    monolithic_hidden: tuple[int, ...] | None = None
    """monolithic: hidden layer sizes (unset: two layers of the width whose parameter count is closest
    to the modular policy's, printed with the counts)"""
    hyper_banks: tuple[Literal["robot", "task"], ...] | None = None
    """modular: roles whose modules are generated from a shared base (unset: the suite's preset, task on
    arms6; give the flag with no role for none)"""
    interface: InterfaceConfig = field(default_factory=InterfaceConfig)
    """modular: the task→robot interface (unset: the suite's preset, docs/interface.md)"""
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    """learned routing (routed policies, e.g. --policy routed-reinforce)"""
    ppo: PPOConfig = field(default_factory=lambda: PPOConfig(total_timesteps=4_000_000))

    def __post_init__(self) -> None:
        envs.get_suite(self.suite)  # unknown suite → ValueError listing the valid ones
        for policy in self.policy:
            POLICIES.check(policy)
        if not (self.policy and self.fractions and self.split_seeds and self.seeds):
            raise ValueError("give at least one --policy, --fractions, --split-seeds and --seeds")
        for flag, values in (("--fractions", self.fractions), ("--split-seeds", self.split_seeds), ("--seeds", self.seeds)):
            if len(set(values)) != len(values):
                raise ValueError(f"{flag} repeats a value: {list(values)}")
        bad = [f for f in self.fractions if not 0.0 < f < 1.0]
        if bad:
            raise ValueError(f"--fractions must lie in (0, 1), got {bad}")
        if self.workers < 1 or self.threads < 1 or self.episodes < 1 or self.reps < 1:
            raise ValueError("--workers, --threads, --episodes and --reps must be >= 1")


def cell_dir(out: Path, fraction: float, split_seed: int) -> Path:
    return out / f"f{fraction:g}_s{split_seed}"


def plan(cfg: SweepConfig) -> tuple[list[ExperimentConfig], dict[str, str]]:
    """One experiment per (fraction, split seed) the suite can hold out, and why the others are skipped."""
    suite = envs.get_suite(cfg.suite)
    cells, skipped = [], {}
    hidden = cfg.monolithic_hidden or matched_width(cfg.suite, cfg.interface, cfg.hyper_banks)
    for fraction in cfg.fractions:
        try:
            held = suite.random_holdout(fraction, cfg.split_seeds[0])
            if not held:
                raise ValueError(f"holdout fraction {fraction} holds out no pair of {len(suite.pairs())}")
        except ValueError as error:
            skipped[f"{fraction:g}"] = str(error)
            print(f"skipping fraction {fraction:g} on {cfg.suite}: {error}")
            continue
        for split_seed in cfg.split_seeds:
            out = cell_dir(cfg.out, fraction, split_seed)
            cells.append(ExperimentConfig(
                suite=cfg.suite, policy=cfg.policy, holdout_fraction=fraction, split_seed=split_seed,
                seeds=cfg.seeds, out=out, resume=cfg.resume and (out / "config.json").exists(),
                workers=1, threads=cfg.threads, progress=cfg.progress and cfg.workers == 1,
                interface=cfg.interface, hyper_banks=cfg.hyper_banks, monolithic_hidden=hidden, routing=cfg.routing,
                eval=EvalConfig(episodes=cfg.episodes, random_baseline=cfg.random_baseline),
                ppo=cfg.ppo))
    if not cells:
        raise ValueError(f"no fraction of {list(cfg.fractions)} can be held out on {cfg.suite}: "
                         + "; ".join(skipped.values()))
    return cells, skipped


def prepare_out(cfg: SweepConfig) -> None:
    """Refuse a non-empty --out unless --resume (a sweep's) or --overwrite (a sweep's: deleted first)."""
    out = cfg.out
    claim_folder(out, SETTINGS, "sweep", cfg.resume, cfg.overwrite)
    if not cfg.resume:  # a resumed sweep keeps the settings it started with (sweep.json has the latest)
        write_atomically(out / SETTINGS, json.dumps(asdict(cfg), default=str, indent=1))


def run_cell(cell: ExperimentConfig) -> list[dict]:
    """Train and evaluate one cell, or load it when it finished before (under the same settings)."""
    done = cell.out / RECORDS
    if cell.resume and done.exists():
        check_resumable(cell)  # a finished cell of other settings is refused, not mixed in
        return json.loads(done.read_text())
    records = run(cell)
    write_atomically(done, json.dumps(records, indent=1))
    return records


def matched_width(suite: str, interface: InterfaceConfig,
                  hyper_banks: tuple[str, ...] | None = None) -> tuple[int, int]:
    """Two hidden layers for the monolithic policy whose parameter count is closest to the modular one's."""
    spec = SuiteSpec.from_suite(envs.get_suite(suite))
    cfg = ExperimentConfig(suite=suite, interface=interface, hyper_banks=hyper_banks, out=None)
    target = sum(p.numel() for p in POLICIES.get("modular").build(spec, cfg).parameters())
    count = lambda w: sum(p.numel() for p in POLICIES.get("monolithic").build(  # noqa: E731
        spec, replace(cfg, monolithic_hidden=(w, w))).parameters())
    low, high = 1, 4096  # the count grows with the width: bisect for the first width at or above the target
    while low < high:
        mid = (low + high) // 2
        low, high = (mid + 1, high) if count(mid) < target else (low, mid)
    width = min((max(low - 1, 1), low), key=lambda w: abs(count(w) - target))
    return width, width


def parameter_counts(cfg: SweepConfig, cell: ExperimentConfig) -> dict[str, int]:
    """sum(p.numel()) of each policy as built for the suite."""
    spec = SuiteSpec.from_suite(envs.get_suite(cfg.suite))
    return {name: sum(p.numel() for p in POLICIES.get(name).build(spec, cell).parameters()) for name in cfg.policy}


def main(cfg: SweepConfig) -> dict:
    cells, skipped = plan(cfg)
    prepare_out(cfg)
    counts = parameter_counts(cfg, cells[0])
    print("parameters: " + ", ".join(f"{name} {count:,}" for name, count in counts.items()))
    print(f"{len(cells)} cells x {len(cfg.policy)} policies x {len(cfg.seeds)} seeds = "
          f"{len(cells) * len(cfg.policy) * len(cfg.seeds)} runs of {cfg.ppo.total_timesteps:,} steps")
    results = run_jobs(run_cell, [(cell,) for cell in cells], workers=cfg.workers, progress=cfg.progress,
                       desc="cells")
    records = [record for cell_records in results for record in cell_records]
    rows = summarise(records, cfg.reps)
    compared = improvements(records, reps=cfg.reps)
    print(table(rows), *improvement_lines(compared), sep="\n")
    summary = {"config": json.loads(json.dumps(asdict(cfg), default=str)), "parameters": counts,
               "skipped": skipped, "summary": rows, "improvement": compared, "records": records}
    write_atomically(cfg.out / "sweep.json", json.dumps(summary, indent=1))
    plot_fractions(rows, f"{cfg.suite}: zero-shot recombination vs held-out fraction", cfg.out / "sweep.png")
    print(f"wrote {cfg.out / 'sweep.json'} and {cfg.out / 'sweep.png'}")
    return summary


if __name__ == "__main__":
    run_cli(main, SweepConfig)
