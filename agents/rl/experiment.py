"""One training-and-zero-shot experiment: train policies on a suite's train split, then evaluate
every pair (trained and held out). What `scripts/train.py` runs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Literal

import torch

import envs
from agents.common.device import DeviceName, resolve_device
from agents.common.evaluate import evaluate
from agents.common.files import claim_folder, write_atomically
from agents.common.module_files import save_modules
from agents.common.multipair import MultiPairEnv
from agents.common.parallel import run_jobs
from agents.common.report import parse_pairs
from agents.common.routing_config import RoutingConfig
from agents.common.spec import SuiteSpec
from agents.common.video import MISSING_MOVIEPY, record_pairs, video_available
from agents.rl.compat import upgrade_config
from agents.rl.interface import InterfaceConfig
from agents.rl.policies import POLICIES, ModularPolicy, hyper_preset
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
    every: int = 0
    """also evaluate every pair, held-out ones included, every this many updates during training and
    log it to TensorBoard (0: only after training)"""
    every_episodes: int = 16
    """episodes per pair of each evaluation during training"""

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.every_episodes < 1:
            raise ValueError(f"--eval.episodes and --eval.every-episodes must be >= 1, got {self.episodes}, "
                             f"{self.every_episodes}")
        if self.every < 0:
            raise ValueError(f"--eval.every must be >= 0 (0: off), got {self.every}")


@dataclass
class ExperimentConfig:
    suite: str = "arms"
    """robot x task suite: arms, arms6, grid or grid6"""
    policy: tuple[str, ...] = ("modular",)
    """policies to train, by registered name: modular and/or monolithic (the baseline)"""
    holdout: tuple[str, ...] = ()
    """held-out pairs as Robot:Task (empty: the suite's default diagonal, or none with --pairs)"""
    pairs: tuple[str, ...] = ()
    """train and evaluate only these Robot:Task pairs (empty: every pair of the suite)"""
    holdout_fraction: float | None = None
    """hold out this share of the suite's pairs, drawn at random with every robot and task trained"""
    split_seed: int = 0
    """seed of the random split of --holdout-fraction"""
    seeds: tuple[int, ...] = (1,)
    """one training run per seed and policy"""
    out: Path | None = Path("runs/train")
    """output directory (checkpoints, modules, TensorBoard, zero_shot.json, heatmap); None: keep nothing"""
    resume: bool = False
    """continue each run under --out from its last checkpoint"""
    overwrite: bool = False
    """replace the run under --out (its files are deleted)"""
    workers: int = 1
    """(policy, seed) runs trained at once, each in its own process (e.g. the number of CPU cores)"""
    threads: int = 1
    """torch threads per run (small networks on CPU run fastest on one)"""
    device: DeviceName = "cpu"
    """where to train: cpu, cuda, or auto (a GPU when torch sees one); these networks are small, so the
    CPU is usually as fast"""
    progress: bool = True
    """show progress bars"""
    capture_video: bool = False
    """record one evaluation episode per pair as a video under --out/videos (needs modrl[video])"""
    monolithic_hidden: tuple[int, ...] = (128, 128)
    """monolithic: hidden layer sizes (scripts/sweep.py matches it to the modular policy's parameter count)"""
    hyper_banks: tuple[Literal["robot", "task"], ...] | None = None
    """modular: roles whose modules are generated from a shared base and a code per module (unset: the
    suite's preset, task on arms6 and none elsewhere; give the flag with no role for none)"""
    interface: InterfaceConfig = field(default_factory=InterfaceConfig)
    """modular: the task→robot interface (unset: the suite's preset, docs/interface.md)"""
    eval: EvalConfig = field(default_factory=EvalConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    """learned routing (routed-ppo, routed-reinforce, soft-modular, hierarchical policies)"""
    ppo: PPOConfig = field(default_factory=lambda: PPOConfig(total_timesteps=4_000_000))

    def __post_init__(self) -> None:
        envs.get_suite(self.suite)  # unknown suite → ValueError listing the valid ones
        resolve_device(self.device)  # a GPU asked for but absent fails here, before any run
        if self.capture_video and (self.out is None or not video_available()):
            raise ValueError("--capture-video needs an --out folder" if self.out is None else MISSING_MOVIEPY)
        self._check_modular_only(InterfaceConfig.for_suite(self.suite))
        self.interface = self.interface.resolve(self.suite)
        if self.hyper_banks is None:
            self.hyper_banks = hyper_preset(self.suite) if "modular" in self.policy else ()
        self.hyper_banks = tuple(self.hyper_banks)
        for policy in self.policy:
            POLICIES.check(policy)
        if not self.seeds:
            raise ValueError("give at least one seed")
        if not self.monolithic_hidden or min(self.monolithic_hidden) < 1:
            raise ValueError(f"--monolithic-hidden needs one or more layer sizes >= 1, got {list(self.monolithic_hidden)}")
        if self.workers < 1 or self.threads < 1:
            raise ValueError(f"workers and threads must be >= 1, got {self.workers}, {self.threads}")
        self.splits()  # bad pair names fail here, not after a training run
        spec = SuiteSpec.from_suite(envs.get_suite(self.suite))
        with torch.random.fork_rng():  # settings a policy refuses (e.g. --routing.*) fail before the first run
            for policy in self.policy:
                POLICIES.get(policy).build(spec, self)

    def _check_modular_only(self, preset: InterfaceConfig) -> None:
        """Refuse interface settings only the modular policy reads, given without it. The suite's own
        preset is not a setting given (a resolved config passes again, as `replace` re-checks it)."""
        if "modular" in self.policy:
            return
        if self.hyper_banks:
            raise ValueError("--hyper-banks is the modular policy's: add --policy modular or drop the flag")
        if self.interface.coupling == "affine" and preset.coupling != "affine":
            raise ValueError("--interface.coupling affine is the modular policy's: add --policy modular or drop the flag")
        if self.interface.grounding and self.interface.grounding != preset.grounding:
            raise ValueError("--interface.grounding is the modular policy's: add --policy modular or drop the flag")
        given = replace(preset, **{name: value for name in ("turn", "gain")
                                   if (value := getattr(self.interface, name)) is not None})
        if given.distorts and (given.turn, given.gain) != (preset.turn, preset.gain):
            raise ValueError("--interface.turn and --interface.gain are the modular policy's: add --policy modular or "
                             "drop the flags")

    def holdout_pairs(self) -> list[tuple[str, str]] | None:
        if self.holdout_fraction is not None:
            return envs.get_suite(self.suite).random_holdout(self.holdout_fraction, self.split_seed)
        return parse_pairs(self.holdout) if self.holdout else None

    def splits(self) -> dict[str, list[tuple[str, str]]]:
        """The pairs to train on and the held-out pairs to evaluate zero-shot."""
        suite = envs.get_suite(self.suite)
        if self.holdout_fraction is not None and (self.holdout or self.pairs):
            raise ValueError("--holdout-fraction draws the held-out pairs from the whole suite: give it without "
                             "--holdout and --pairs")
        if not self.pairs:
            return suite.splits(self.holdout_pairs())
        chosen, held = parse_pairs(self.pairs), self.holdout_pairs() or []
        for flag, pairs in (("--pairs", chosen), ("--holdout", held)):
            for pair in pairs:
                suite.check(*pair)
            repeated = sorted({f"{r}:{t}" for r, t in pairs if pairs.count((r, t)) > 1})
            if repeated:
                raise ValueError(f"{flag} names {repeated} more than once")
        outside = [f"{r}:{t}" for r, t in held if (r, t) not in chosen]
        if outside:
            raise ValueError(f"--holdout {outside} is not among --pairs; add it to --pairs to evaluate it held out")
        train = [p for p in chosen if p not in held]
        if not train:
            raise ValueError(f"--pairs {list(self.pairs)} leaves nothing to train on after --holdout")
        untrained = sorted({r for r, _ in held} - {r for r, _ in train}) + sorted({t for _, t in held} - {t for _, t in train})
        if untrained:
            raise ValueError(f"--holdout leaves {untrained} with no training pair, so its module would never train; "
                             "give it a trained partner in --pairs")
        return {"train": train, "holdout": held}

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=str))


def run_splits(config: dict) -> dict[str, list[tuple[str, str]]]:
    """The train and held-out pairs of a run, from its `config.json` settings."""
    return ExperimentConfig(suite=config["suite"], holdout=tuple(config.get("holdout", ())),
                            pairs=tuple(config.get("pairs", ())), holdout_fraction=config.get("holdout_fraction"),
                            split_seed=config.get("split_seed", 0), out=None).splits()


NOT_COMPARED = ("out", "resume", "overwrite", "workers", "threads", "progress", "device", "capture_video")  # how a run is run, not what it is


def flag(group: str | None, key: str, value) -> str:
    """The command-line words that set `key` (of `group`) to `value`."""
    prefix, name = (f"--{group}." if group else "--"), key.replace("_", "-")
    if isinstance(value, bool):
        return f"{prefix}{name}" if value else f"{prefix}no-{name}"
    return f"{prefix}{name} {' '.join(map(str, value)) if isinstance(value, list) else value}".rstrip()


def check_resumable(cfg: ExperimentConfig) -> None:
    """Refuse to resume a run under other settings than it started with (its `config.json`), naming
    the flags that would continue it. Only --ppo.total-timesteps may grow, to extend a run."""
    path = cfg.out / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"--resume: {cfg.out} holds no run (no config.json); drop --resume to start one")
    started, now = upgrade_config(json.loads(path.read_text())), cfg.to_json()
    flags = []
    for key, value in now.items():
        if key in NOT_COMPARED or key not in started:  # a setting the run did not record cannot be compared
            continue
        was = started[key]
        if isinstance(value, dict):
            for sub, sub_value in value.items():
                if sub not in was:
                    continue
                sub_was = was[sub]
                grows = (key, sub) == ("ppo", "total_timesteps") and sub_was is not None and sub_value >= sub_was
                if sub_was != sub_value and not grows:
                    flags.append(flag(key, sub, sub_was))
        elif was != value:
            flags.append(flag(None, key, was))
    if flags:
        raise ValueError(f"{cfg.out} was started with other settings; to resume it, pass {' '.join(flags)}")


def prepare_out(cfg: ExperimentConfig) -> None:
    """Make `cfg.out` ready for this run and write its `config.json`: a finished or started run there
    is continued only with --resume and replaced only with --overwrite."""
    claim_folder(cfg.out, "config.json", "run", cfg.resume, cfg.overwrite)
    if cfg.resume:
        check_resumable(cfg)
    splits = {name: [f"{r}:{t}" for r, t in pairs] for name, pairs in cfg.splits().items()}
    write_atomically(cfg.out / "config.json", json.dumps(asdict(cfg) | {"splits": splits}, default=str, indent=1))


def run_dir(cfg: ExperimentConfig, policy: str, seed: int) -> Path | None:
    return cfg.out / policy / f"seed{seed}" if cfg.out is not None else None


def untrained_modules(policy: torch.nn.Module, train: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(role, name) of the policy's modules that no training pair used."""
    used = {"robot": {r for r, _ in train}, "task": {t for _, t in train}}
    return [(role, name) for role, (_, names) in policy.banks().items() for name in names if name not in used[role]]


def evaluate_during_training(cfg: ExperimentConfig, splits: dict[str, list[tuple[str, str]]],
                             seed: int) -> Callable[[PPO, Any], None] | None:
    """PPO's `on_update` hook that evaluates every pair each `cfg.eval.every` updates and logs success
    and final distance per pair under eval/ (held-out pairs under eval_holdout/). Evaluation runs on
    its own random generator, so training follows the same path with or without it."""
    if not cfg.eval.every:
        return None
    suite, pairs = envs.get_suite(cfg.suite), splits["train"] + splits["holdout"]
    held = set(splits["holdout"])

    def hook(ppo: PPO, writer: Any) -> None:
        if writer is None or ppo.update % cfg.eval.every:
            return
        step = ppo.update * ppo.batch_size
        for r in evaluate(ppo.policy, suite, pairs, cfg.eval.every_episodes, seed=20_000 + seed,
                          deterministic=not cfg.eval.sample):
            group = "eval_holdout" if (r["robot"], r["task"]) in held else "eval"
            writer.add_scalar(f"{group}/success/{r['robot']}-{r['task']}", r["success_rate"], step)
            writer.add_scalar(f"{group}/distance/{r['robot']}-{r['task']}", r["final_distance"], step)

    return hook


def train_one(cfg: ExperimentConfig, policy_kind: str, seed: int) -> torch.nn.Module:
    """Train (or resume) one policy on the train split; its modules are saved under the run dir."""
    suite = envs.get_suite(cfg.suite)
    spec = SuiteSpec.from_suite(suite)
    splits = cfg.splits()
    seed_everything(seed)
    device = resolve_device(cfg.device)
    policy = POLICIES.get(policy_kind).build(spec, cfg).to(device)
    ppo_cfg = replace(cfg.ppo, seed=seed)
    train_envs = MultiPairEnv(suite, spec, splits["train"], ppo_cfg.num_envs, device=device)
    directory = run_dir(cfg, policy_kind, seed)
    PPO(policy, train_envs, ppo_cfg, directory, progress=cfg.progress,
        on_update=evaluate_during_training(cfg, splits, seed)).train(resume=cfg.resume)
    train_envs.close()
    if directory is not None and hasattr(policy, "save_files"):  # routed: modules by layer, routers beside
        policy.save_files(directory / "modules", cfg.suite)
    elif directory is not None and policy.banks():
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
        policy = ModularPolicy(SuiteSpec.from_suite(suite), InterfaceConfig(width=cfg.interface.width,
                                                                            coupling=cfg.interface.coupling))
        variant = {"interface_dim": policy.interface_dim}
    else:
        policy = train_one(cfg, kind, seed)
        variant = policy.describe()
    if cfg.capture_video:
        record_pairs(policy, suite, splits["train"] + splits["holdout"], cfg.out / "videos" / f"{kind}_seed{seed}",
                     held_out=splits["holdout"], seed=10_000 + seed, sample=cfg.eval.sample)
    drawn = {} if cfg.holdout_fraction is None else {"holdout_fraction": cfg.holdout_fraction,
                                                      "split_seed": cfg.split_seed}
    return [{**r, "split": split_of[(r["robot"], r["task"])], "policy": kind, "seed": seed, "suite": cfg.suite,
             "actions": "sampled" if cfg.eval.sample else "mean", **variant, **drawn}
            for r in evaluate(policy, suite, splits["train"] + splits["holdout"], cfg.eval.episodes,
                              seed=10_000 + seed, deterministic=not cfg.eval.sample)]


def run(cfg: ExperimentConfig) -> list[dict]:
    """Train every policy and seed, evaluate every pair; records as in `zero_shot.json`.

    With `workers > 1` the runs go to a pool of processes (each with `threads` torch threads, its
    own progress bar off); the records come back in the order of one worker. Finished runs keep
    their checkpoints (`--resume`)."""
    if cfg.out is not None:
        prepare_out(cfg)
    kinds = [*cfg.policy, *(["random"] if cfg.eval.random_baseline else [])]
    jobs = [(kind, seed) for seed in cfg.seeds for kind in kinds]
    quiet = cfg if cfg.workers == 1 else replace(cfg, progress=False)
    results = run_jobs(run_one, [(quiet, kind, seed) for kind, seed in jobs], workers=cfg.workers,
                       progress=cfg.progress, desc="runs")
    return [record for records in results for record in records]
