"""Train modular robot∘task policies with PPO on a suite's train split, then evaluate
zero-shot recombination on the held-out pairs.

    python scripts/train.py                                  # arms suite, modular policy
    python scripts/train.py --policy modular monolithic --seeds 1 2 3
    python scripts/train.py --suite grid --holdout Ego:Key Cardinal:Door
"""

from __future__ import annotations


import envs
from agents.common.cli import run_cli
from agents.common.report import publish
from agents.rl.experiment import ExperimentConfig, run


def main(cfg: ExperimentConfig) -> list[dict]:
    records = run(cfg)
    suite = envs.get_suite(cfg.suite)
    publish(records, list(suite.robots), list(suite.tasks), cfg.out)
    return records


if __name__ == "__main__":
    run_cli(main, ExperimentConfig)
