"""Rebuild a modular policy from module files of any mix of runs: zero-shot recombination."""

from __future__ import annotations

from pathlib import Path

from agents.common.module_files import load_module_file
from agents.common.spec import SuiteSpec
from agents.rl.interface import InterfaceConfig
from agents.rl.policies import ModularPolicy, robot_coupling


def load_policy(spec: SuiteSpec, robots_from: str | Path, tasks_from: str | Path,
                robots: list[str], tasks: list[str], suite: str | None = None) -> ModularPolicy:
    """A modular policy whose robot modules come from `robots_from` and task modules from `tasks_from`.

    The two directories may hold modules of different runs: that is zero-shot recombination.
    With `suite`, every file must have been trained on that suite's current env ids.
    """
    loaded = {"robot": {r: load_module_file(robots_from, "robot", r, suite) for r in robots},
              "task": {t: load_module_file(tasks_from, "task", t, suite) for t in tasks}}
    robot_cfg = next(iter(loaded["robot"].values())).config
    task_cfg = next(iter(loaded["task"].values())).config
    if robot_cfg["actor_in"] != task_cfg["actor_out"]:
        raise ValueError(f"robot modules read a {robot_cfg['actor_in']}-wide interface, "
                         f"task modules write {task_cfg['actor_out']}")
    interface = InterfaceConfig(width=task_cfg["actor_out"], coupling=robot_coupling(robot_cfg, spec))
    policy = ModularPolicy(spec, interface, task_hidden=tuple(task_cfg["hidden"]), robot_hidden=tuple(robot_cfg["hidden"]))
    for role, modules in loaded.items():
        bank, names = policy.banks()[role]
        for name, module in modules.items():
            bank.load_module(list(names).index(name), module)
    return policy
