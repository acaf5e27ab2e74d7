"""Teach one robot a new module on one task, with a run's task modules frozen, then run it zero-shot
on the other tasks (Devin et al.'s transfer to a new robot): the robot module learns the interface the
task modules already speak, so every task module should drive it.

    python scripts/new_robot.py --modules runs/arms/modular/seed1/modules --robot Arm3Long --task ReachRed
    python scripts/new_robot.py --modules runs/arms/modular/seed1/modules --seeds 1 2 3 --out runs/new_robot

Trains with stable-baselines3 PPO and `agents.sb3.SB3ModularPolicy(tasks_from=..., freeze=("task",))`
under the same PPO settings as `scripts/train.py`. Evaluates, on the taught task and the others:
the new robot module; the robot module of the run the task modules came from (trained with them
jointly, for reference); and the new module before training (an untrained robot module).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import gymnasium as gym
import torch
import tyro
from stable_baselines3 import PPO as SB3PPO

import envs
from agents.evaluate import evaluate
from agents.ppo import PPOConfig
from agents.recombine import load_policy
from agents.report import publish
from agents.sb3 import SB3ModularPolicy, save_modules
from agents.sb3_training import NativeVecEnv, sb3_ppo_kwargs
from agents.spaces import SuiteSpec


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
    """PPO settings (num_envs, num_steps, ... as in scripts/train.py)"""
    out: Path | None = Path("runs/new_robot")
    """writes seed<k>/{robot,task}/ modules, zero_shot.json and zero_shot.png here (None: keep nothing)"""


def teach(args: NewRobotArgs, seed: int, directory: Path) -> Path:
    """Learn `args.robot`'s module on `args.task` with the task module frozen; its files go to `directory`
    (the module before training to `directory/untrained`)."""
    suite = envs.get_suite(args.suite)
    vec = NativeVecEnv(gym.make_vec(suite.env_id(args.robot, args.task), args.ppo.num_envs))
    config = replace(args.ppo, seed=seed)
    model = SB3PPO(SB3ModularPolicy, vec, verbose=0, **sb3_ppo_kwargs(config),
                   policy_kwargs=dict(suite=args.suite, robot=args.robot, task=args.task,
                                      tasks_from=str(args.modules), freeze=("task",)))
    save_modules(model.policy, directory / "untrained")
    start = time.perf_counter()
    model.learn(config.total_timesteps)
    print(f"seed {seed}: {args.robot} module taught on {args.task} in {model.num_timesteps} steps, "
          f"{time.perf_counter() - start:.0f} s")
    vec.close()
    save_modules(model.policy, directory)
    return directory


def main(args: NewRobotArgs) -> list[dict]:
    """Teach, evaluate, print a table per robot module; records as in `zero_shot.json` (split "train" is
    the taught task, "holdout" the tasks the new module never trained with)."""
    suite = envs.get_suite(args.suite)
    suite.check(args.robot, args.task)
    tasks = [args.task, *[t for t in args.eval_tasks or suite.tasks if t != args.task]]
    for task in tasks:
        suite.check(args.robot, task)
    spec = SuiteSpec.from_suite(suite)
    torch.set_num_threads(1)
    records = []
    with tempfile.TemporaryDirectory(prefix="modrl-new-robot-") as scratch:
        root = args.out if args.out is not None else Path(scratch)
        for seed in args.seeds:
            directory = teach(args, seed, root / f"seed{seed}")
            sources = {"new robot module": directory, "untrained robot module": directory / "untrained",
                       "jointly trained robot module": args.modules}
            for name, robots_from in sources.items():
                policy = load_policy(spec, robots_from, args.modules, [args.robot], tasks, args.suite)
                for r in evaluate(policy, suite, [(args.robot, t) for t in tasks], args.episodes,
                                  seed=10_000 + seed, deterministic=False):
                    records.append(r | {"split": "train" if r["task"] == args.task else "holdout", "policy": name,
                                        "seed": seed, "suite": args.suite, "actions": "sampled"})
    publish(records, [args.robot], tasks, args.out)
    return records


if __name__ == "__main__":
    main(tyro.cli(NewRobotArgs))
