"""Evaluation of a policy on any list of (robot, task) pairs: one episode per env copy."""

from __future__ import annotations

import torch
from agents.common.contract import MESSAGE, ActorCriticPolicy
from agents.common.device import device_of
from agents.common.multipair import MultiPairEnv
from agents.common.spec import SuiteSpec


@torch.no_grad()
def evaluate(policy: ActorCriticPolicy, suite, pairs: list[tuple[str, str]], episodes: int = 100, seed: int = 0,
             deterministic: bool = True, action_shares: bool = False, tracking: bool = False) -> list[dict]:
    """Success rate and mean final task distance per pair, over `episodes` episodes each.

    Every copy runs exactly one episode, so short (successful) episodes are not over-counted.
    Sampled actions draw from the RNG seeded with `seed` (the global RNG is restored afterwards);
    they are drawn for the whole batch, so a pair's samples depend on the pairs evaluated beside it.
    With `action_shares` (discrete suites), each record also has "action_shares": {name: share},
    the share of each of the robot's actions (`suite.action_names`) among its copies' steps in their one episode.
    With `tracking` (a policy whose message asks for an end-effector move, on a suite that reports the
    move made), each record also has "tracking_cosine", the cosine between the moves asked for and made
    over the pair's steps (Σ made·asked / Σ |made||asked|: a step counts by how much it moved and was
    asked to), and "tracking_speed", Σ |made| / Σ |asked| (NaN where nothing was asked or moved).
    """
    if episodes <= 0:
        raise ValueError(f"episodes must be positive, got {episodes}")
    names = [suite.action_names(robot) for robot, _ in pairs] if action_shares else None
    spec: SuiteSpec = policy.spec
    if tracking and "ee_move" not in suite.step_info:
        raise ValueError(f"tracking compares the move asked for with the move made, which {suite.name} does not report: "
                         "evaluate an arms suite")
    envs = MultiPairEnv(suite, spec, pairs, episodes, device=device_of(policy))
    was_training = policy.training
    policy.eval()
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            success, distance, counts, tracked = _run(policy, envs, seed, deterministic, tracking)
    finally:
        envs.close()
        policy.train(was_training)
    records = []
    for p, (robot, task) in enumerate(pairs):
        rows = slice(p * episodes, (p + 1) * episodes)
        records.append({"robot": robot, "task": task, "success_rate": float(success[rows].mean()),
                        "final_distance": float(distance[rows].mean()), "episodes": episodes})
        if names is not None:
            records[-1]["action_shares"] = _shares(counts[rows], names[p])
        if tracked is not None:
            inner, lengths, made, asked = (float(t[rows].sum()) for t in tracked)
            records[-1] |= {"tracking_cosine": inner / lengths if lengths else float("nan"),
                            "tracking_speed": made / asked if asked else float("nan")}
    return records


def _run(policy: ActorCriticPolicy, envs: MultiPairEnv, seed: int, deterministic: bool,
         tracking: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, tuple | None]:
    """Step every copy until each has finished one episode: its success, its final distance, for
    discrete actions how often it took each (padded) action in that episode ([N, A]; None if continuous)
    and, with `tracking`, per copy the sums of made·asked, |made||asked|, |made| and |asked| over its
    episode's steps (None without)."""
    obs = envs.reset(seed)
    finished = torch.zeros(envs.size, dtype=torch.bool, device=envs.device)
    success = torch.zeros(envs.size, device=envs.device)
    distance = torch.zeros(envs.size, device=envs.device)
    counts = torch.zeros(envs.size, envs.spec.action_width, device=envs.device) if envs.spec.discrete else None
    tracked = tuple(torch.zeros(envs.size, device=envs.device) for _ in range(4)) if tracking else None
    while not bool(finished.all()):
        dist = policy.distribution(obs, {})  # nothing replayed: the full interface, the likeliest choices
        action = dist.mode() if deterministic else dist.sample()
        if counts is not None:
            counts += torch.nn.functional.one_hot(action.long(), envs.spec.action_width) * ~finished.unsqueeze(1)
        step = envs.step(action)
        if tracked is not None:
            _track(tracked, dist.extras, step.ee_move, ~finished)
        first = step.ended & ~finished
        success[first], distance[first] = step.success[first].float(), step.distance[first]
        finished |= step.ended
        obs = step.obs
    return success, distance, counts, tracked


def _track(tracked: tuple, extras: dict, made: torch.Tensor, live: torch.Tensor) -> None:
    """Add one step's made·asked, |made||asked|, |made| and |asked| to `tracked`, on the copies still in
    their episode."""
    if MESSAGE not in extras:
        raise ValueError("tracking needs a policy whose message can ask for an end-effector move: the modular policy "
                         "with --interface.coupling affine and --interface.width 2")
    asked, live = extras[MESSAGE], live.float()
    made_length, asked_length = made.norm(dim=-1), asked.norm(dim=-1)
    for total, value in zip(tracked, ((made * asked).sum(-1), made_length * asked_length, made_length, asked_length)):
        total += value * live


def _shares(counts: torch.Tensor, names: tuple[str, ...]) -> dict[str, float]:
    """{name: share} of a pair's action counts [n, A] over the robot's own actions (the first len(names))."""
    own = counts[:, : len(names)].sum(0)
    return {name: float(c) for name, c in zip(names, own / own.sum())}
