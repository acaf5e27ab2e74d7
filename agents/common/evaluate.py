"""Evaluation of a policy on any list of (robot, task) pairs: one episode per env copy."""

from __future__ import annotations

import torch
from agents.common.contract import ActorCriticPolicy
from agents.common.device import device_of
from agents.common.multipair import MultiPairEnv
from agents.common.spec import SuiteSpec


@torch.no_grad()
def evaluate(policy: ActorCriticPolicy, suite, pairs: list[tuple[str, str]], episodes: int = 100, seed: int = 0,
             deterministic: bool = True, action_shares: bool = False) -> list[dict]:
    """Success rate and mean final task distance per pair, over `episodes` episodes each.

    Every copy runs exactly one episode, so short (successful) episodes are not over-counted.
    Sampled actions draw from the RNG seeded with `seed` (the global RNG is restored afterwards);
    they are drawn for the whole batch, so a pair's samples depend on the pairs evaluated beside it.
    With `action_shares` (discrete suites), each record also has "action_shares": {name: share},
    the share of each of the robot's actions (`suite.action_names`) among its copies' steps in their one episode.
    """
    if episodes <= 0:
        raise ValueError(f"episodes must be positive, got {episodes}")
    names = [suite.action_names(robot) for robot, _ in pairs] if action_shares else None
    spec: SuiteSpec = policy.spec
    envs = MultiPairEnv(suite, spec, pairs, episodes, device=device_of(policy))
    was_training = policy.training
    policy.eval()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        success, distance, counts = _run(policy, envs, seed, deterministic)
    envs.close()
    policy.train(was_training)
    records = []
    for p, (robot, task) in enumerate(pairs):
        rows = slice(p * episodes, (p + 1) * episodes)
        records.append({"robot": robot, "task": task, "success_rate": float(success[rows].mean()),
                        "final_distance": float(distance[rows].mean()), "episodes": episodes})
        if names is not None:
            records[-1]["action_shares"] = _shares(counts[rows], names[p])
    return records


def _run(policy: ActorCriticPolicy, envs: MultiPairEnv, seed: int,
         deterministic: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Step every copy until each has finished one episode: its success, its final distance and, for
    discrete actions, how often it took each (padded) action in that episode ([N, A]; None if continuous)."""
    obs = envs.reset(seed)
    finished = torch.zeros(envs.size, dtype=torch.bool, device=envs.device)
    success = torch.zeros(envs.size, device=envs.device)
    distance = torch.zeros(envs.size, device=envs.device)
    counts = torch.zeros(envs.size, envs.spec.action_width, device=envs.device) if envs.spec.discrete else None
    while not bool(finished.all()):
        dist = policy.distribution(obs, {})  # nothing replayed: the full interface, the likeliest choices
        action = dist.mode() if deterministic else dist.sample()
        if counts is not None:
            counts += torch.nn.functional.one_hot(action.long(), envs.spec.action_width) * ~finished.unsqueeze(1)
        step = envs.step(action)
        first = step.ended & ~finished
        success[first], distance[first] = step.success[first].float(), step.distance[first]
        finished |= step.ended
        obs = step.obs
    return success, distance, counts


def _shares(counts: torch.Tensor, names: tuple[str, ...]) -> dict[str, float]:
    """{name: share} of a pair's action counts [n, A] over the robot's own actions (the first len(names))."""
    own = counts[:, : len(names)].sum(0)
    return {name: float(c) for name, c in zip(names, own / own.sum())}
