"""One training-and-zero-shot experiment: train a policy on a suite's train split,
then evaluate every pair (trained and held out). What `scripts/train.py` runs."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import torch

import envs
from agents.common.evaluate import evaluate
from agents.common.multipair import MultiPairEnv
from agents.rl.policies import DROPOUT_MODES, NOISE_KINDS, POLICIES, build_policy, suite_interface
from agents.rl.ppo import PPO, PPOConfig, seed_everything
from agents.rl.recombine import save_modules
from agents.common.report import parse_pairs
from agents.common.spec import SuiteSpec


@dataclass
class ExperimentConfig:
    suite: str = "arms"
    """robot x task suite: arms or grid"""
    policy: tuple[str, ...] = ("modular",)
    """policies to train: modular and/or monolithic (the baseline)"""
    holdout: tuple[str, ...] = ()
    """held-out pairs as Robot:Task (empty: the suite's default diagonal, or none with --pairs)"""
    pairs: tuple[str, ...] = ()
    """train and evaluate only these Robot:Task pairs, e.g. one pair alone (empty: every pair of the suite)"""
    seeds: tuple[int, ...] = (1,)
    """one training run per seed and policy"""
    eval_episodes: int = 100
    """evaluation episodes per pair"""
    eval_sample: bool = True
    """evaluate the stochastic policy as trained (False: its mean / most likely action, which tends to
    stall just outside the success radius on arms and to loop on grids)"""
    random_baseline: bool = True
    """also evaluate an untrained modular policy (reference for final distance)"""
    # The four interface settings default (None) to what recombined best on the suite (`suite_interface`):
    # arms: 2 wide, gaussian dropout 0.2 in replay mode; grid: 16 wide, bernoulli dropout 0.2 in update mode.
    interface_dim: int | None = None
    """width of the task→robot interface (None: the suite's default; see README)"""
    interface_dropout: float | None = None
    """dropout on the interface while training, Devin et al.'s regulariser (None: the suite's default)"""
    dropout_mode: Literal["update", "replay", "consistency"] | None = None
    """update: act with the full interface, drop out in the PPO update; replay: act with dropout masks
    and replay them in the update (an exact ratio); consistency: PPO on the full interface plus a penalty
    on how much dropout changes the actor output (None: the suite's default; see README for each)"""
    interface_noise: Literal["bernoulli", "gaussian"] | None = None
    """kind of interface dropout: bernoulli (zero units) or gaussian (multiply every unit by 1 + σ·N(0, 1),
    σ² = p/(1-p): the same variance, no unit silenced, though a unit's sign flips when the factor is < 0)
    (None: the suite's default)"""
    hyper_banks: tuple[Literal["robot", "task"], ...] = ()
    """modular: roles whose modules are generated from a shared base and a learned code per module
    (`modrl.HyperBank`), e.g. --hyper-banks robot (none: every module independent)"""
    out: Path | None = Path("runs/train")
    """output directory (checkpoints, modules, TensorBoard, zero_shot.json, heatmap); None: keep nothing"""
    resume: bool = False
    """continue each run from its last checkpoint"""
    progress: bool = True
    """show progress bars"""
    threads: int = 1
    """torch threads per run (small networks on CPU run fastest on one)"""
    workers: int = 1
    """(policy, seed) runs trained at once, each in its own process (e.g. the number of CPU cores)"""
    ppo: PPOConfig = field(default_factory=lambda: PPOConfig(total_timesteps=4_000_000))

    def __post_init__(self) -> None:
        envs.get_suite(self.suite)  # unknown suite → ValueError listing the valid ones
        for name, value in suite_interface(self.suite).items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.interface_dim < 1:
            raise ValueError(f"interface_dim must be >= 1, got {self.interface_dim}")
        if not 0.0 <= self.interface_dropout < 1.0:
            raise ValueError(f"interface_dropout must be in [0, 1), got {self.interface_dropout}")
        for policy in self.policy:
            if policy not in POLICIES:
                raise ValueError(f"unknown policy {policy!r}; valid: {list(POLICIES)}")
        if not self.seeds:
            raise ValueError("give at least one seed")
        if self.workers < 1 or self.threads < 1:
            raise ValueError(f"workers and threads must be >= 1, got {self.workers}, {self.threads}")
        if self.dropout_mode not in DROPOUT_MODES:
            raise ValueError(f"unknown dropout_mode {self.dropout_mode!r}; valid: {list(DROPOUT_MODES)}")
        if self.interface_noise not in NOISE_KINDS:
            raise ValueError(f"unknown interface_noise {self.interface_noise!r}; valid: {list(NOISE_KINDS)}")
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


MODEL_FIELDS = {"suite": "arms", "interface_dim": 16, "interface_dropout": 0.0, "dropout_mode": "consistency",
                "interface_noise": "bernoulli", "hyper_banks": []}  # → the value a config.json without it meant


def check_resumable(cfg: ExperimentConfig) -> None:
    """Refuse to resume a run under other model settings than it started with (its `config.json`),
    naming the flags that would continue it: a checkpoint only fits the network it was saved from."""
    path = cfg.out / "config.json"
    if not path.exists():
        return
    started = json.loads(path.read_text())
    now = json.loads(json.dumps(asdict(cfg), default=str))
    differ = {k: started.get(k, default) for k, default in MODEL_FIELDS.items() if started.get(k, default) != now[k]}
    if differ:
        flags = " ".join(f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
                         for k, v in differ.items())
        raise ValueError(f"{cfg.out} was started with {differ}; to resume it, pass {flags}")


def run_dir(cfg: ExperimentConfig, policy: str, seed: int) -> Path | None:
    return cfg.out / policy / f"seed{seed}" if cfg.out is not None else None


def train_one(cfg: ExperimentConfig, policy_kind: str, seed: int) -> torch.nn.Module:
    """Train (or resume) one policy on the train split; its modules are saved under the run dir."""
    suite = envs.get_suite(cfg.suite)
    spec = SuiteSpec.from_suite(suite)
    splits = cfg.splits()
    seed_everything(seed)
    policy = build_policy(policy_kind, spec, interface_dim=cfg.interface_dim, interface_dropout=cfg.interface_dropout,
                          dropout_mode=cfg.dropout_mode, hyper_banks=cfg.hyper_banks,
                          interface_noise=cfg.interface_noise) \
        if policy_kind == "modular" else build_policy(policy_kind, spec)
    ppo_cfg = PPOConfig(**(asdict(cfg.ppo) | {"seed": seed}))
    train_envs = MultiPairEnv(suite, spec, splits["train"], ppo_cfg.num_envs)
    directory = run_dir(cfg, policy_kind, seed)
    PPO(policy, train_envs, ppo_cfg, directory, progress=cfg.progress).train(resume=cfg.resume)
    train_envs.close()
    if directory is not None and policy_kind == "modular":
        save_modules(policy, directory / "modules", cfg.suite)
    return policy


def run_one(cfg: ExperimentConfig, kind: str, seed: int) -> list[dict]:
    """Train one policy ("random": build an untrained one) and evaluate it on every pair."""
    torch.set_num_threads(cfg.threads)
    suite = envs.get_suite(cfg.suite)
    splits = cfg.splits()
    split_of = {p: name for name, ps in splits.items() for p in ps}
    if kind == "random":
        seed_everything(seed)
        policy = build_policy("modular", SuiteSpec.from_suite(suite), interface_dim=cfg.interface_dim)
    else:
        policy = train_one(cfg, kind, seed)
    dropout = cfg.interface_dropout > 0
    variant = {"interface_dim": cfg.interface_dim, "interface_dropout": cfg.interface_dropout,
               "hyper_banks": list(cfg.hyper_banks), "dropout_mode": cfg.dropout_mode if dropout else None,
               "interface_noise": cfg.interface_noise if dropout else None} if kind == "modular" else {}
    if kind == "random":  # an untrained modular network: its width is part of what it was
        variant = {"interface_dim": cfg.interface_dim}
    return [{**r, "split": split_of[(r["robot"], r["task"])], "policy": kind, "seed": seed, "suite": cfg.suite,
             "actions": "sampled" if cfg.eval_sample else "mean", **variant}
            for r in evaluate(policy, suite, splits["train"] + splits["holdout"], cfg.eval_episodes,
                              seed=10_000 + seed, deterministic=not cfg.eval_sample)]


def run(cfg: ExperimentConfig) -> list[dict]:
    """Train every policy and seed, evaluate every pair; records as in `zero_shot.json`.

    With `workers > 1` the runs go to a pool of processes (each with `threads` torch threads,
    its own progress bar off); the records come back in the same order as with one worker, and
    the first failing run stops the others. Finished runs keep their checkpoints (`--resume`)."""
    from tqdm.auto import tqdm

    if cfg.out is not None:
        if cfg.resume:
            check_resumable(cfg)
        (cfg.out / "config.json").parent.mkdir(parents=True, exist_ok=True)
        (cfg.out / "config.json").write_text(json.dumps(asdict(cfg), default=str, indent=1))
    kinds = [*cfg.policy, *(["random"] if cfg.random_baseline else [])]
    jobs = [(kind, seed) for seed in cfg.seeds for kind in kinds]
    if cfg.workers == 1:
        results = [run_one(cfg, kind, seed) for kind, seed in jobs]
    else:
        quiet = replace(cfg, progress=False)
        spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch state
        with ProcessPoolExecutor(min(cfg.workers, len(jobs)), mp_context=spawn) as pool:
            futures = {pool.submit(run_one, quiet, kind, seed): i for i, (kind, seed) in enumerate(jobs)}
            results = [[] for _ in jobs]
            try:
                for future in tqdm(as_completed(futures), total=len(jobs), desc="runs", disable=not cfg.progress):
                    results[futures[future]] = future.result()
            except BaseException:
                pool.shutdown(cancel_futures=True)  # fail now, not after every queued run has trained
                raise
    return [record for records in results for record in records]
