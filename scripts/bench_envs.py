"""Benchmark the envs suites against references measured in the same run.

1. Arms: `gymnasium.make_vec(id, N)` (the native numpy `ArmVectorEnv`) vs
   `make_vec(id, N, vectorization_mode="sync")` (N Python env copies).
   Target: native >= 20x the sync steps/second.
2. Grid: one `modrl/Grid-*` env vs plain `MiniGrid-Empty-8x8-v0`, single env,
   random actions. Target: ours <= 1.3x slower per step.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import gymnasium as gym
import minigrid  # noqa: F401  (registers MiniGrid-* ids)

from agents.common.cli import run_cli
import envs  # noqa: F401  (registers the modrl ids)


@dataclass
class Args:
    arms_id: str = "modrl/Arm3-Push-v1"
    """arms env id to benchmark"""
    num_envs: int = 256
    """copies in each arms vector env"""
    seconds: float = 2.0
    """time budget per measurement"""
    grid_ids: tuple[str, ...] = ("modrl/Grid-Ego-Goal-v0", "modrl/Grid-Cardinal-Door-v0")
    """grid env ids to compare with the MiniGrid reference"""
    grid_reference: str = "MiniGrid-Empty-8x8-v0"
    """plain MiniGrid env used as the reference"""
    json: str | None = None
    """write the figures to this JSON file"""


def vector_steps_per_second(env: gym.vector.VectorEnv, seconds: float) -> float:
    """Env steps (copies x vector steps) per second under random actions."""
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(64)]
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(actions[steps % 64])
        steps += 1
    elapsed = time.perf_counter() - start
    env.close()
    return steps * env.num_envs / elapsed


def single_steps_per_second(env_id: str, seconds: float) -> float:
    """Steps per second of one env under random actions, resetting on episode end."""
    env = gym.make(env_id)
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(256)]
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, _, terminated, truncated, _ = env.step(actions[steps % 256])
        if terminated or truncated:
            env.reset()
        steps += 1
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def main(args: Args) -> dict:
    native = vector_steps_per_second(gym.make_vec(args.arms_id, args.num_envs), args.seconds)
    sync = vector_steps_per_second(
        gym.make_vec(args.arms_id, args.num_envs, vectorization_mode="sync"), args.seconds
    )
    figures = {
        "arms_id": args.arms_id,
        "num_envs": args.num_envs,
        "arms_native_sps": native,
        "arms_sync_sps": sync,
        "arms_speedup": native / sync,
    }
    print(f"{args.arms_id} x{args.num_envs}: native {native:,.0f} steps/s, sync {sync:,.0f} steps/s, "
          f"native/sync = {native / sync:.1f}x (target >= 20x)")
    reference = single_steps_per_second(args.grid_reference, args.seconds)
    figures["grid_reference"] = args.grid_reference
    figures["grid_reference_sps"] = reference
    print(f"{args.grid_reference}: {reference:,.0f} steps/s")
    for env_id in args.grid_ids:
        sps = single_steps_per_second(env_id, args.seconds)
        figures[f"{env_id}_sps"] = sps
        figures[f"{env_id}_slowdown"] = reference / sps
        print(f"{env_id}: {sps:,.0f} steps/s, slowdown vs reference = {reference / sps:.2f}x (target <= 1.3x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    return figures


if __name__ == "__main__":
    run_cli(main, Args)
