"""modrl PPO against stable-baselines3 PPO on one arms pair, in one run, with the same settings.

Trains, one after the other and with the same torch thread count,
  modrl: `agents.rl.ppo.PPO` + `ModularPolicy` on `MultiPairEnv(ARMS, spec, [(robot, task)], num_envs)`;
  sb3:   `stable_baselines3.PPO("MultiInputPolicy")` on the same native numpy vector env
         (`gymnasium.make_vec(id, num_envs)`), seen through `NativeVecEnv`, a small adapter to SB3's
         `VecEnv` API (plus `VecMonitor` for episode returns). Both algorithms then step the very same
         batched env code, so the ratio measures the training loops, not the env vectorisation.
         `--sb3-env dummy` uses SB3's own `make_vec_env` (a `DummyVecEnv` of single envs) instead.
Same rollout length, minibatch size, epochs, learning rate (annealed linearly to 0 in both), gamma,
lambda, clip (also on the value, as modrl does), entropy and value coefficients, gradient clip, and
total timesteps (rounded down to whole rollouts). SB3's net_arch copies our modules' depth and
widths: pi = vf = task hidden + [interface] + robot hidden, tanh, separate actor and critic.

modrl runs three times: eager; with `PPOConfig(compile=True)` (acting, and the minibatch loss with its
backward, `torch.compile`d; the compilation counts in its seconds) on an empty compile cache ("compile"); and
compiled again in a new process that finds the cache the first compiled run left ("compile-warm":
what every later run on the same machine pays, e.g. each seed of a sweep). Each compiled run is its
own spawned process, and the cache is a fresh temporary directory, removed at the end.

Prints steps/second of each and the ratio modrl / sb3 (target >= 2), the seconds spent in rollouts and
in updates (and in the first of each, which hold the compilation) and the milliseconds per minibatch
gradient step after the first update, the mean episode return over the last 10%
of training, and a deterministic evaluation of each on the same seeds.

    python scripts/bench_ppo.py [--pair Arm3:ReachRed] [--timesteps 200000] [--threads 1] [--json out.json]
                                [--modrl eager compile compile-warm]
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Literal

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO as SB3PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecMonitor

from agents.common.cli import run_cli
import envs
from agents.common.multipair import MultiPairEnv
from agents.rl.interface import InterfaceConfig
from agents.rl.policies import ModularPolicy
from agents.rl.ppo import PPO, PPOConfig
from agents.sb3.training import NativeVecEnv, sb3_ppo_kwargs
from agents.common.spec import ObsBatch, SuiteSpec


@dataclass
class Args:
    pair: str = "Arm3:ReachRed"
    """the arms (robot, task) pair, as Robot:Task"""
    timesteps: int = 200_000
    """environment steps for each library (rounded down to whole rollouts)"""
    interface_dim: int = 16
    """width of the task→robot interface (16, the generic width, at which docs/benchmarks.md was measured)"""
    task_hidden: tuple[int, ...] = (64,)
    """task module hidden sizes"""
    robot_hidden: tuple[int, ...] = (64, 64)
    """robot module hidden sizes"""
    threads: int = 1
    """torch.set_num_threads for both"""
    seed: int = 1
    """training seed of both"""
    eval_episodes: int = 64
    """deterministic evaluation episodes (the same seeds for both)"""
    eval_seed: int = 12345
    """seed of the evaluation env"""
    sb3_env: Literal["native", "dummy"] = "native"
    """SB3's env: the native vector env through an adapter, or make_vec_env's DummyVecEnv"""
    modrl: tuple[Literal["eager", "compile", "compile-warm"], ...] = ("eager", "compile", "compile-warm")
    """modrl variants to run: eager PyTorch, PPOConfig(compile=True) on an empty compile cache, and
    compiled again on the cache "compile" left (needs "compile")"""
    json: Path | None = None
    """also write the figures to this JSON file"""
    ppo: PPOConfig = field(default_factory=lambda: PPOConfig(checkpoint_every=10**9))
    """the settings both libraries train with (SB3 gets them through `sb3_ppo_kwargs`)"""


class EpisodeReturns(BaseCallback):
    """(timestep, return) of every episode VecMonitor reports."""

    def __init__(self) -> None:
        super().__init__()
        self.episodes: list[tuple[int, float]] = []

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:
                self.episodes.append((self.num_timesteps, float(info["episode"]["r"])))
        return True


@contextmanager
def timing(seconds: dict[str, float], key: str):
    """Add the time spent in the block to seconds[key]."""
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[key] += time.perf_counter() - start


def new_seconds() -> dict[str, float | None]:
    """Seconds in rollouts and in updates, and in the first of each (None until it ran)."""
    return {"rollout": 0.0, "update": 0.0, "first_rollout": None, "first_update": None}


@contextmanager
def phase_timing(seconds: dict[str, float | None], phase: str) -> Iterator[None]:
    """Time a rollout or an update; the first one also apart (it holds the compilation, or the
    loading of compiled code from the cache)."""
    before = seconds[phase]
    with timing(seconds, phase):
        yield
    if seconds[f"first_{phase}"] is None:
        seconds[f"first_{phase}"] = seconds[phase] - before


class TimedPPO(PPO):
    """modrl's PPO, timing its rollouts and its updates apart."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seconds = new_seconds()

    def collect(self, obs):
        with phase_timing(self.seconds, "rollout"):
            return super().collect(obs)

    def learn(self, rollout):
        with phase_timing(self.seconds, "update"):
            return super().learn(rollout)


class TimedSB3PPO(SB3PPO):
    """stable-baselines3's PPO, timing its rollouts and its updates apart."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seconds = new_seconds()

    def collect_rollouts(self, *args, **kwargs):
        with phase_timing(self.seconds, "rollout"):
            return super().collect_rollouts(*args, **kwargs)

    def train(self) -> None:
        with phase_timing(self.seconds, "update"):
            super().train()


def split_times(seconds: dict[str, float], updates: int, args: Args) -> dict[str, float]:
    """Rollout and update seconds, the first rollout's and the first update's, and milliseconds per
    minibatch gradient step over the updates after the first."""
    steps = (updates - 1) * args.ppo.update_epochs * args.ppo.num_minibatches
    first = seconds["first_update"] or 0.0
    return {"rollout_seconds": seconds["rollout"], "update_seconds": seconds["update"],
            "first_rollout_seconds": seconds["first_rollout"] or 0.0, "first_update_seconds": first,
            "ms_per_minibatch_step": 1000 * (seconds["update"] - first) / steps if steps else float("nan")}


def evaluate(act, env_id: str, episodes: int, seed: int) -> float:
    """Mean return of the first episode of each of `episodes` envs, reset with `seed`; `act(obs) -> actions`."""
    env = gym.make_vec(env_id, episodes)
    obs, _ = env.reset(seed=seed)
    returns, running, done = np.zeros(episodes), np.zeros(episodes), np.zeros(episodes, bool)
    while not done.all():
        obs, reward, term, trunc, _ = env.step(np.clip(act(obs), -1, 1))
        running += reward
        ended = (term | trunc) & ~done
        returns[ended], done = running[ended], done | ended
    env.close()
    return float(returns.mean())


def ppo_config(args: Args, total: int, compiled: bool = False) -> PPOConfig:
    """The settings both libraries train with (SB3 gets them through `sb3_ppo_kwargs`)."""
    return replace(args.ppo, seed=args.seed, total_timesteps=total, compile=compiled)


def train_modrl(args: Args, robot: str, task: str, total: int, compiled: bool = False) -> dict[str, Any]:
    # A policy holds the modules it trains: here one robot and one task module (suite-wide widths).
    spec = SuiteSpec.from_suite(envs.ARMS).subset([robot], [task])
    torch.manual_seed(args.seed)
    policy = ModularPolicy(spec, InterfaceConfig(width=args.interface_dim, dropout=0.0), args.task_hidden,
                           args.robot_hidden)
    config = ppo_config(args, total, compiled)
    env = MultiPairEnv(envs.ARMS, spec, [(robot, task)], args.ppo.num_envs)
    ppo = TimedPPO(policy, env, config, progress=False)
    start = time.perf_counter()
    history = ppo.train()
    seconds = time.perf_counter() - start
    env.close()
    tail = history[-max(1, len(history) // 10):]
    key = f"{robot}-{task}"
    counts = [h["pairs"][key]["episodes"] for h in tail if key in h["pairs"]]
    rets = [h["pairs"][key]["return"] for h in tail if key in h["pairs"]]
    last = float(np.average(rets, weights=counts)) if counts else float("nan")
    rid, tid, width = spec.robot_id(robot), spec.task_id(task), spec.action_dims[robot]

    @torch.no_grad()
    def act(obs: dict[str, np.ndarray]) -> np.ndarray:
        n = obs["robot"].shape[0]
        pad = lambda x, w: torch.nn.functional.pad(torch.as_tensor(x), (0, w - x.shape[1]))  # noqa: E731
        batch = ObsBatch(pad(obs["robot"], spec.robot_width), pad(obs["task"], spec.task_width),
                         torch.full((n,), rid), torch.full((n,), tid))
        return policy.eval().distribution(batch, {}).mode()[:, :width].numpy()

    return {"steps": ppo.update * ppo.batch_size, "seconds": seconds, "sps": ppo.update * ppo.batch_size / seconds,
            **split_times(ppo.seconds, ppo.update, args),
            "train_return_last10pct": last, "eval_return": evaluate(act, envs.ARMS.env_id(robot, task),
                                                                     args.eval_episodes, args.eval_seed)}


def train_modrl_compiled(args: Args, robot: str, task: str, total: int) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    return train_modrl(args, robot, task, total, compiled=True)


def in_fresh_process(fn, *args):
    """fn(*args) in a new spawned process: no compiled code or Dynamo state carried over from this one."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def train_sb3(args: Args, robot: str, task: str, total: int) -> dict[str, Any]:
    env_id = envs.ARMS.env_id(robot, task)
    if args.sb3_env == "native":
        vec = VecMonitor(NativeVecEnv(gym.make_vec(env_id, args.ppo.num_envs)))
    else:
        vec = make_vec_env(env_id, n_envs=args.ppo.num_envs, seed=args.seed)
    layers = [*args.task_hidden, args.interface_dim, *args.robot_hidden]
    model = TimedSB3PPO("MultiInputPolicy", vec, **sb3_ppo_kwargs(ppo_config(args, total)), verbose=0,
                        policy_kwargs=dict(net_arch=dict(pi=layers, vf=layers), activation_fn=torch.nn.Tanh))
    episodes = EpisodeReturns()
    start = time.perf_counter()
    model.learn(total, callback=episodes)
    seconds = time.perf_counter() - start
    vec.close()
    tail = [r for t, r in episodes.episodes if t > 0.9 * model.num_timesteps]
    return {"steps": model.num_timesteps, "seconds": seconds, "sps": model.num_timesteps / seconds,
            **split_times(model.seconds, model.num_timesteps // (args.ppo.num_envs * args.ppo.num_steps), args),
            "train_return_last10pct": float(np.mean(tail)) if tail else float("nan"),
            "eval_return": evaluate(lambda obs: model.predict(obs, deterministic=True)[0], env_id,
                                    args.eval_episodes, args.eval_seed)}


def main(args: Args) -> dict[str, Any]:
    robot, _, task = args.pair.partition(":")
    envs.ARMS.check(robot, task)
    torch.set_num_threads(args.threads)
    batch = args.ppo.num_envs * args.ppo.num_steps
    if args.timesteps < batch or batch % args.ppo.num_minibatches:
        raise ValueError(f"need timesteps >= num_envs*num_steps = {batch}, divisible into {args.ppo.num_minibatches} minibatches")
    total = args.timesteps // batch * batch
    variants = [v for v in ("eager", "compile", "compile-warm") if v in args.modrl]
    if not variants:
        raise ValueError("give at least one modrl variant: eager, compile, compile-warm")
    if "compile-warm" in variants and "compile" not in variants:
        raise ValueError("compile-warm runs on the cache that compile leaves: give both")
    results: dict[str, dict[str, Any]] = {}
    cache, user_cache = tempfile.mkdtemp(prefix="modrl-bench-compile-cache-"), os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache  # inherited by the spawned compiled runs
    try:
        for variant in variants:
            name = {"eager": "modrl", "compile": "modrl_compile", "compile-warm": "modrl_compile_warm"}[variant]
            if variant == "eager":
                results[name] = train_modrl(args, robot, task, total)
            else:
                results[name] = in_fresh_process(train_modrl_compiled, args, robot, task, total)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        if user_cache is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR")
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = user_cache
    results["sb3"] = train_sb3(args, robot, task, total)
    ratios = {name: r["sps"] / results["sb3"]["sps"] for name, r in results.items() if name != "sb3"}
    print(f"pair {robot}:{task}, {total} steps each, {args.ppo.num_envs} envs x {args.ppo.num_steps} steps, "
          f"torch threads {args.threads}, sb3 env {args.sb3_env}")
    print(f"{'':18} {'steps/s':>9} {'seconds':>8} {'rollouts s':>10} {'(1st)':>6} {'updates s':>9} {'(1st)':>6} "
          f"{'ms/minibatch':>12} {'return (last 10%)':>18} {'eval return (det.)':>19}")
    for name, r in results.items():
        print(f"{name:18} {r['sps']:9.0f} {r['seconds']:8.1f} {r['rollout_seconds']:10.1f} {r['first_rollout_seconds']:6.2f} "
              f"{r['update_seconds']:9.1f} {r['first_update_seconds']:6.2f} {r['ms_per_minibatch_step']:12.2f} "
              f"{r['train_return_last10pct']:18.2f} {r['eval_return']:19.2f}")
    print("(ms/minibatch: one gradient step, over the updates after the first)")
    for name, ratio in ratios.items():
        print(f"speed ratio {name}/sb3: {ratio:.2f}x (target >= 2x)")
    figures = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(args).items()},
               "total_timesteps": total, **results, **{f"ratio_{n}_over_sb3": r for n, r in ratios.items()}}
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    run_cli(main, Args)
