"""What grounding the interface costs in training speed: the arms6 modular policy with and without it.

Both train with PPO on the same pairs (arms6's F = 0.5 split of --split-seed), their updates
interleaved so load from other processes hits both alike; each update is a rollout and the PPO
epochs. Prints steps per second of each (median update, the first left out as warm-up) and their
ratio, grounded / ungrounded.

    python scripts/bench_grounding.py [--updates 5] [--grounding 0.1]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

import envs
from agents.common.cli import run_cli
from agents.common.multipair import MultiPairEnv
from agents.common.spec import SuiteSpec
from agents.rl.bench import interleaved_steps_per_second
from agents.rl.interface import InterfaceConfig
from agents.rl.policies import ModularPolicy
from agents.rl.ppo import PPO, PPOConfig, seed_everything


@dataclass
class Args:
    updates: int = 5
    """PPO updates per policy (the first is left out as warm-up)"""
    grounding: float = 0.1
    """the grounded policy's weight (the other has 0)"""
    split_seed: int = 0
    """seed of the F = 0.5 split whose trained pairs both train on"""
    threads: int = 1
    """torch threads (training runs use 1)"""
    ppo: PPOConfig = field(default_factory=PPOConfig)

    def __post_init__(self) -> None:
        if self.updates < 2:
            raise ValueError(f"--updates must be >= 2 (the first is warm-up), got {self.updates}")
        if self.grounding <= 0:
            raise ValueError(f"--grounding must be > 0 (the other policy is the ungrounded one), got {self.grounding}")


def main(args: Args) -> dict:
    torch.set_num_threads(args.threads)
    suite = envs.ARMS6
    spec = SuiteSpec.from_suite(suite)
    pairs = suite.splits(suite.random_holdout(0.5, args.split_seed))["train"]
    runs = {}
    for weight in (0.0, args.grounding):
        seed_everything(0)
        policy = ModularPolicy(spec, InterfaceConfig(grounding=weight).resolve("arms6"))
        runs[weight] = PPO(policy, MultiPairEnv(suite, spec, pairs, args.ppo.num_envs), args.ppo, None, progress=False)
    sps = interleaved_steps_per_second(runs, seed=0, updates=args.updates)
    batch = runs[0.0].batch_size
    print(f"PPO on {len(pairs)} arms6 pairs, {batch} steps per update, median of {args.updates - 1} updates, "
          f"{torch.get_num_threads()} thread(s)")
    for weight, value in sps.items():
        print(f"grounding {weight:<6g} {value:>8.0f} steps/s")
    ratio = sps[args.grounding] / sps[0.0]
    print(f"grounded / ungrounded = {ratio:.2f}")
    return {"pairs": len(pairs), "batch": batch, "sps": {str(k): v for k, v in sps.items()}, "ratio": ratio}


if __name__ == "__main__":
    run_cli(main, Args)
