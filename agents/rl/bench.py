"""Training speed of PPO runs measured side by side."""

from __future__ import annotations

import statistics
import time

from agents.rl.ppo import PPO


def interleaved_steps_per_second(runs: dict[str, PPO], seed: int, updates: int) -> dict[str, float]:
    """Steps per second of each run's median update (a rollout and the PPO epochs), the first left out
    as warm-up. Updates are interleaved, so load from other processes hits every run alike."""
    obs = {name: ppo.envs.reset(seed) for name, ppo in runs.items()}
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(updates):
        for name, ppo in runs.items():
            start = time.perf_counter()
            rollout, obs[name], _ = ppo.collect(obs[name])
            ppo.learn(rollout)
            seconds[name].append(time.perf_counter() - start)
    return {name: runs[name].batch_size / statistics.median(times[1:]) for name, times in seconds.items()}
