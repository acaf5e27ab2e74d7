"""Teach one robot a new module on one task, with a run's task modules frozen, then run it zero-shot
on the other tasks (Devin et al.'s transfer to a new robot): the robot module learns the interface the
task modules already speak, so every task module should drive it.

    python scripts/new_robot.py --modules runs/arms/modular/seed1/modules --robot Arm3Long --task ReachRed
    python scripts/new_robot.py --modules runs/arms/modular/seed1/modules --seeds 1 2 3 --out runs/new_robot

Trains with stable-baselines3 PPO and `agents.sb3.SB3ModularPolicy(tasks_from=..., freeze=("task",))`
under `PPOConfig` hyper-parameters (300k steps by default). Evaluates, on the taught task and the others:
the new robot module; the robot module of the run the task modules came from (trained with them
jointly, for reference, if it has one); and the new module before training (an untrained robot module).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import gymnasium as gym
import torch
from stable_baselines3 import PPO as SB3PPO
from stable_baselines3.common.vec_env import VecMonitor

from agents.common.cli import run_cli
import envs
from agents.common.evaluate import evaluate
from agents.rl.ppo import PPOConfig
from agents.rl.recombine import load_policy
from agents.common.report import publish
from agents.sb3 import SB3ModularPolicy
from agents.sb3.training import NativeVecEnv, sb3_ppo_kwargs
from agents.common.spec import SuiteSpec
from modrl import load_module


@dataclass
class NewRobotArgs:
    modules: Path
    """a run's modules directory (robot/ and task/): its task modules are frozen and reused"""
    robot: str = "Arm3Long"
    """the robot whose module is learned anew"""
    task: str = "ReachRed"
    """the one task it learns on"""
    eval_tasks: tuple[str, ...] = ()
    """tasks to run it on zero-shot (empty: every other task of the suite)"""
    suite: str = "arms"
    """robot x task suite of the modules"""
    seeds: tuple[int, ...] = (1,)
    """one new module per seed"""
    episodes: int = 100
    """evaluation episodes per pair (sampled actions)"""
    ppo: PPOConfig = field(default_factory=lambda: PPOConfig(total_timesteps=300_000))
    """PPO hyper-parameters (compile and checkpoint_every do not apply: SB3 trains)"""
    out: Path | None = Path("runs/new_robot")
    """writes seed<k>/{robot,task}/ (taught), seed<k>/untrained/ modules, SB3's TensorBoard logs (tensorboard/),
    zero_shot.json and zero_shot.png here (None: keep nothing)"""

    def __post_init__(self) -> None:
        suite = envs.get_suite(self.suite)
        for task in self.tasks():
            suite.check(self.robot, task)
        if self.ppo.compile:
            raise ValueError("--ppo.compile is modrl's; here SB3 trains, eagerly")
        if not self.seeds or self.episodes <= 0:
            raise ValueError(f"need at least one seed and episodes > 0, got seeds {self.seeds}, "
                             f"episodes {self.episodes}")
        if not self.modules.is_dir():
            raise FileNotFoundError(f"no modules directory {self.modules}")
        missing = [t for t in self.tasks() if not (self.modules / "task" / f"{t}.pt").exists()]
        if missing:
            raise FileNotFoundError(f"no task module for {missing} under {self.modules / 'task'}")

    def tasks(self) -> list[str]:
        """The taught task first, then the zero-shot ones."""
        others = self.eval_tasks or envs.get_suite(self.suite).tasks
        return list(dict.fromkeys([self.task, *others]))


def teach(args: NewRobotArgs, seed: int, directory: Path) -> Path:
    """Learn `args.robot`'s module on `args.task` with the task module frozen; its files go to `directory`
    (the module before training to `directory/untrained`). SB3's charts (rollout/ep_rew_mean, ep_len_mean,
    success_rate, train/*) go to `args.out/tensorboard/seed<k>_<n>` (n counts reruns)."""
    suite = envs.get_suite(args.suite)
    vec = VecMonitor(NativeVecEnv(gym.make_vec(suite.env_id(args.robot, args.task), args.ppo.num_envs)),
                     info_keywords=("is_success",))
    try:
        config = replace(args.ppo, seed=seed)
        model = SB3PPO(SB3ModularPolicy, vec, verbose=0, **sb3_ppo_kwargs(config),
                       tensorboard_log=None if args.out is None else str(args.out / "tensorboard"),
                       policy_kwargs=dict(suite=args.suite, robot=args.robot, task=args.task,
                                          tasks_from=str(args.modules), freeze=("task",)))
        model.policy.save_modules(directory / "untrained")
        start = time.perf_counter()
        model.learn(config.total_timesteps, tb_log_name=f"seed{seed}")
        print(f"seed {seed}: {args.robot} module taught on {args.task} in {model.num_timesteps} steps, "
              f"{time.perf_counter() - start:.0f} s")
    finally:
        vec.close()
    model.policy.save_modules(directory)
    return directory


def main(args: NewRobotArgs) -> list[dict]:
    """Teach, evaluate, print a table per robot module; records as in `zero_shot.json`. Split "train" is
    the taught task, "holdout" the others; the run's own robot module (if it has one for this robot) is
    evaluated once, as split "reference" and seed None: one module, so its spread is evaluation noise."""
    suite, tasks = envs.get_suite(args.suite), args.tasks()
    spec = SuiteSpec.from_suite(suite)
    pairs = [(args.robot, t) for t in tasks]
    width = load_module(args.modules / "task" / f"{args.task}.pt").config["actor_out"]
    settings = {"suite": args.suite, "actions": "sampled", "interface_dim": width, "modules": str(args.modules),
                "total_timesteps": args.ppo.total_timesteps}

    def run(robots_from: Path, policy: str, seed: int | None, split: str | None = None) -> list[dict]:
        model = load_policy(spec, robots_from, args.modules, [args.robot], tasks, args.suite)
        return [r | {"split": split or ("train" if r["task"] == args.task else "holdout"), "policy": policy,
                     "seed": seed, **settings}
                for r in evaluate(model, suite, pairs, args.episodes, seed=10_000 + (args.seeds[0] if seed is None else seed),
                                  deterministic=False)]

    records = []
    with tempfile.TemporaryDirectory(prefix="modrl-new-robot-") as scratch:
        root = args.out if args.out is not None else Path(scratch)
        for seed in args.seeds:
            directory = teach(args, seed, root / f"seed{seed}")
            records += run(directory, "new robot module", seed)
            records += run(directory / "untrained", "untrained robot module", seed)
    if (args.modules / "robot" / f"{args.robot}.pt").exists():
        records += run(args.modules, "the run's own robot module", None, split="reference")
    else:
        print(f"({args.modules} has no {args.robot} module to compare with)")
    publish(records, [args.robot], tasks, args.out)
    return records


if __name__ == "__main__":
    torch.set_num_threads(1)
    run_cli(main, NewRobotArgs)
