"""Training speed of a routed policy (per-step hard routing) against the fixed modular policy.

Both train with PPO on the same pairs and settings, in one run, their updates interleaved (so load
from other processes hits both alike): each update is a rollout (`draw`, acting, env steps) and the
PPO epochs. Prints steps per second of each (the median update, the first left out as warm-up) and
their ratio, routed / modular (target >= 0.5).

    python scripts/bench_routed_policy.py [--updates 5] [--policy routed-ppo] [--json out.json]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import torch
import tyro

import envs
from agents.common.multipair import MultiPairEnv
from agents.common.spec import SuiteSpec
from agents.rl.bench import interleaved_steps_per_second
from agents.rl.policies import POLICIES, ModularPolicy
from agents.rl.ppo import PPO, PPOConfig, seed_everything
from agents.routing import RoutingConfig


@dataclass
class Args:
    updates: int = 5
    """PPO updates per policy (the first is left out as warm-up)"""
    policy: str = "routed-ppo"
    """the routed policy, by registered name"""
    suite: str = "arms"
    """robot x task suite; both train on its default train split"""
    threads: int = 1
    """torch threads (training runs use 1)"""
    seed: int = 0
    """torch seed"""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    routing: RoutingConfig = field(default_factory=lambda: RoutingConfig(per="step"))
    json: Path | None = None
    """also write the figures to this JSON file"""

    def __post_init__(self) -> None:
        if self.updates < 2:
            raise ValueError(f"--updates must be >= 2 (the first is warm-up), got {self.updates}")


def main(args: Args) -> dict:
    torch.set_num_threads(args.threads)
    suite = envs.get_suite(args.suite)
    spec = SuiteSpec.from_suite(suite)
    pairs = suite.splits()["train"]
    seed_everything(args.seed)
    routed = POLICIES.get(args.policy).build(spec, SimpleNamespace(routing=args.routing))
    modular = ModularPolicy(spec, robot_hidden=(args.routing.hidden,) * 2, task_hidden=(args.routing.hidden,))
    runs = {name: PPO(policy, MultiPairEnv(suite, spec, pairs, args.ppo.num_envs), args.ppo, None, progress=False)
            for name, policy in (("modular", modular), (args.policy, routed))}
    sps = interleaved_steps_per_second(runs, seed=args.seed, updates=args.updates)
    batch = runs["modular"].batch_size
    for ppo in runs.values():
        ppo.envs.close()
    result = {"suite": args.suite, "pairs": len(pairs), "batch": batch, "updates": args.updates,
              "threads": torch.get_num_threads(), "routed_policy": args.policy, "per": args.routing.per,
              "layers": args.routing.layers, "modules": args.routing.modules, "hidden": args.routing.hidden,
              "modular_sps": sps["modular"], "routed_sps": sps[args.policy],
              "routed_over_modular": sps[args.policy] / sps["modular"]}
    print(f"PPO on {len(pairs)} {args.suite} pairs, {batch} steps per update, median of {args.updates - 1} updates, "
          f"{result['threads']} thread(s)")
    print(f"{'policy':<36}{'steps/s':>10}")
    print(f"{'modular (fixed routing, width ' + str(args.routing.hidden) + ')':<36}{sps['modular']:>10.0f}")
    label = f"{args.policy} ({args.routing.layers}x{args.routing.modules}, per {args.routing.per})"
    print(f"{label:<36}{sps[args.policy]:>10.0f}")
    ok = "ok" if result["routed_over_modular"] >= 0.5 else "MISSED"
    print(f"routed/modular = {result['routed_over_modular']:.2f} (target >= 0.5: {ok})")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(tyro.cli(Args))
