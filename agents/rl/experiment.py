"""One training-and-zero-shot experiment: train policies on a suite's train split, then evaluate
every pair (trained and held out). What `scripts/train.py` runs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import torch

import envs
from agents.common.evaluate import evaluate
from agents.common.module_files import save_modules
from agents.common.multipair import MultiPairEnv
from agents.common.parallel import run_jobs
from agents.common.report import parse_pairs
from agents.common.spec import SuiteSpec
from agents.rl.compat import upgrade_config
from agents.rl.interface import InterfaceConfig
from agents.rl.policies import POLICIES, ModularPolicy
from agents.rl.ppo import PPO, PPOConfig, seed_everything


@dataclass
class EvalConfig:
    episodes: int = 100
    """evaluation episodes per pair"""
    sample: bool = True
    """evaluate the stochastic policy as trained (False: its mean / most likely action, which tends to
    stall just outside the success radius on arms and to loop on grids)"""
    random_baseline: bool = True
    """also evaluate an untrained modular policy (reference for final distance)"""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"--eval.episodes must be >= 1, got {self.episodes}")


@dataclass
class ExperimentConfig:
    suite: str = "arms"
    """robot x task suite: arms or grid"""
    policy: tuple[str, ...] = ("modular",)
    """policies to train, by registered name: modular and/or monolithic (the baseline)"""
    holdout: tuple[str, ...] = ()
    """held-out pairs as Robot:Task (empty: the suite's default diagonal, or none with --pairs)"""
    pairs: tuple[str, ...] = ()
    """train and evaluate only these Robot:Task pairs (empty: every pair of the suite)"""
    seeds: tuple[int, ...] = (1,)
    """one training run per seed and policy"""
    out: Path | None = Path("runs/train")
    """output directory (checkpoints, modules, TensorBoard, zero_shot.json, heatmap); None: keep nothing"""
    resume: bool = False
    """continue each run from its last checkpoint"""
    workers: int = 1
    """(policy, seed) runs trained at once, each in its own process (e.g. the number of CPU cores)"""
    threads: int = 1
    """torch threads per run (small networks on CPU run fastest on one)"""
    progress: bool = True
    """show progress bars"""
    hyper_banks: tuple[Literal["robot", "task"], ...] = ()
    """modular: roles whose modules are generated from a shared base and a code per module"""
    interface: InterfaceConfig = field(default_factory=InterfaceConfig)
    """modular: the task→robot interface (unset: the suite's preset, docs/interface.md)"""
    eval: EvalConfig = field(default_factory=EvalConfig)
    ppo: PPOConfig = field(default_factory=lambda: PPOConfig(total_timesteps=4_000_000))

    def __post_init__(self) -> None:
        envs.get_suite(self.suite)  # unknown suite → ValueError listing the valid ones
        self.interface = self.interface.resolve(self.suite)
        for policy in self.policy:
            POLICIES.check(policy)
        if not self.seeds:
            raise ValueError("give at least one seed")
        if self.workers < 1 or self.threads < 1:
            raise ValueError(f"workers and threads must be >= 1, got {self.workers}, {self.threads}")
        self.splits()  # bad pair names fail here, not after a training run

    def holdout_pairs(self) -> list[tuple[str, str]] | None:
        return parse_pairs(self.holdout) if self.holdout else None

    def splits(self) -> dict[str, list[tuple[str, str]]]:
        """The pairs to train on and the held-out pairs to evaluate zero-shot."""
        suite = envs.get_suite(self.suite)
        if not self.pairs:
            return suite.splits(self.holdout_pairs())
        chosen = parse_pairs(self.pairs)
        for pair in [*chosen, *(self.holdout_pairs() or [])]:
            suite.check(*pair)
        held = [p for p in self.holdout_pairs() or [] if p in chosen]
        train = [p for p in chosen if p not in held]
        if not train:
            raise ValueError(f"--pairs {list(self.pairs)} leaves nothing to train on after --holdout")
        return {"train": train, "holdout": held}

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=str))


MODEL_FLAGS = {"suite": "--suite", "hyper_banks": "--hyper-banks", "interface": "--interface.{}"}


def check_resumable(cfg: ExperimentConfig) -> None:
    """Refuse to resume a run under other model settings than it started with (its `config.json`),
    naming the flags that would continue it: a checkpoint only fits the network it was saved from."""
    path = cfg.out / "config.json"
    if not path.exists():
        return
    started, now = upgrade_config(json.loads(path.read_text())), cfg.to_json()
    flags = []
    for key, flag in MODEL_FLAGS.items():
        was, is_ = started.get(key), now[key]
        if key == "interface":
            flags += [f"{flag.format(k)} {v}" for k, v in was.items() if v != is_[k]]
        elif was != is_:
            flags.append(f"{flag} {' '.join(map(str, was)) if isinstance(was, list) else was}")
    if flags:
        raise ValueError(f"{cfg.out} was started with other model settings; to resume it, pass {' '.join(flags)}")


def run_dir(cfg: ExperimentConfig, policy: str, seed: int) -> Path | None:
    return cfg.out / policy / f"seed{seed}" if cfg.out is not None else None


def untrained_modules(policy: torch.nn.Module, train: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(role, name) of the policy's modules that no training pair used."""
    used = {"robot": {r for r, _ in train}, "task": {t for _, t in train}}
    return [(role, name) for role, (_, names) in policy.banks().items() for name in names if name not in used[role]]


def train_one(cfg: ExperimentConfig, policy_kind: str, seed: int) -> torch.nn.Module:
    """Train (or resume) one policy on the train split; its modules are saved under the run dir."""
    suite = envs.get_suite(cfg.suite)
    spec = SuiteSpec.from_suite(suite)
    splits = cfg.splits()
    seed_everything(seed)
    policy = POLICIES.get(policy_kind).build(spec, cfg)
    ppo_cfg = replace(cfg.ppo, seed=seed)
    train_envs = MultiPairEnv(suite, spec, splits["train"], ppo_cfg.num_envs)
    directory = run_dir(cfg, policy_kind, seed)
    PPO(policy, train_envs, ppo_cfg, directory, progress=cfg.progress).train(resume=cfg.resume)
    train_envs.close()
    if directory is not None and policy.banks():
        save_modules(policy, directory / "modules", cfg.suite,
                     untrained=untrained_modules(policy, splits["train"]))
    return policy


def run_one(cfg: ExperimentConfig, kind: str, seed: int) -> list[dict]:
    """Train one policy ("random": build an untrained modular one) and evaluate it on every pair."""
    torch.set_num_threads(cfg.threads)
    suite = envs.get_suite(cfg.suite)
    splits = cfg.splits()
    split_of = {p: name for name, ps in splits.items() for p in ps}
    if kind == "random":  # an untrained modular network: its width is part of what it was
        seed_everything(seed)
        policy = ModularPolicy(SuiteSpec.from_suite(suite), InterfaceConfig(width=cfg.interface.width))
        variant = {"interface_dim": policy.interface_dim}
    else:
        policy = train_one(cfg, kind, seed)
        variant = policy.describe()
    return [{**r, "split": split_of[(r["robot"], r["task"])], "policy": kind, "seed": seed, "suite": cfg.suite,
             "actions": "sampled" if cfg.eval.sample else "mean", **variant}
            for r in evaluate(policy, suite, splits["train"] + splits["holdout"], cfg.eval.episodes,
                              seed=10_000 + seed, deterministic=not cfg.eval.sample)]


def run(cfg: ExperimentConfig) -> list[dict]:
    """Train every policy and seed, evaluate every pair; records as in `zero_shot.json`.

    With `workers > 1` the runs go to a pool of processes (each with `threads` torch threads, its
    own progress bar off); the records come back in the order of one worker. Finished runs keep
    their checkpoints (`--resume`)."""
    if cfg.out is not None:
        if cfg.resume:
            check_resumable(cfg)
        cfg.out.mkdir(parents=True, exist_ok=True)
        (cfg.out / "config.json").write_text(json.dumps(asdict(cfg), default=str, indent=1))
    kinds = [*cfg.policy, *(["random"] if cfg.eval.random_baseline else [])]
    jobs = [(kind, seed) for seed in cfg.seeds for kind in kinds]
    quiet = cfg if cfg.workers == 1 else replace(cfg, progress=False)
    results = run_jobs(run_one, [(quiet, kind, seed) for kind, seed in jobs], workers=cfg.workers,
                       progress=cfg.progress, desc="runs")
    return [record for records in results for record in records]
