"""Evaluation of a policy on any list of (robot, task) pairs: one episode per env copy."""

from __future__ import annotations

import torch
from agents.common.contract import ActorCriticPolicy
from agents.common.device import device_of
from agents.common.multipair import MultiPairEnv
from agents.common.spec import SuiteSpec


@torch.no_grad()
def evaluate(policy: ActorCriticPolicy, suite, pairs: list[tuple[str, str]], episodes: int = 100, seed: int = 0,
             deterministic: bool = True) -> list[dict]:
    """Success rate and mean final task distance per pair, over `episodes` episodes each.

    Every copy runs exactly one episode, so short (successful) episodes are not over-counted.
    Sampled actions draw from the RNG seeded with `seed` (the global RNG is restored afterwards);
    they are drawn for the whole batch, so a pair's samples depend on the pairs evaluated beside it.
    """
    if episodes <= 0:
        raise ValueError(f"episodes must be positive, got {episodes}")
    spec: SuiteSpec = policy.spec
    envs = MultiPairEnv(suite, spec, pairs, episodes, device=device_of(policy))
    was_training = policy.training
    policy.eval()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        success, distance = _run(policy, envs, seed, deterministic)
    envs.close()
    policy.train(was_training)
    records = []
    for p, (robot, task) in enumerate(pairs):
        rows = slice(p * episodes, (p + 1) * episodes)
        records.append({"robot": robot, "task": task, "success_rate": float(success[rows].mean()),
                        "final_distance": float(distance[rows].mean()), "episodes": episodes})
    return records


def _run(policy: ActorCriticPolicy, envs: MultiPairEnv, seed: int, deterministic: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Step every copy until each has finished one episode; its success and final distance."""
    obs = envs.reset(seed)
    finished = torch.zeros(envs.size, dtype=torch.bool, device=envs.device)
    success = torch.zeros(envs.size, device=envs.device)
    distance = torch.zeros(envs.size, device=envs.device)
    while not bool(finished.all()):
        dist = policy.distribution(obs, {})  # nothing replayed: the full interface, the likeliest choices
        step = envs.step(dist.mode() if deterministic else dist.sample())
        first = step.ended & ~finished
        success[first], distance[first] = step.success[first].float(), step.distance[first]
        finished |= step.ended
        obs = step.obs
    return success, distance
