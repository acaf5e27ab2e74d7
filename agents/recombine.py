"""Robot and task modules as files: save each after training, rebuild a policy from any mix of runs."""

from __future__ import annotations

from pathlib import Path

from agents.policy import ModularPolicy
from agents.spaces import SuiteSpec
from modrl import load_module, read_header, save_bank


def save_modules(policy: ModularPolicy, directory: str | Path, suite: str) -> list[Path]:
    """`directory/robot/<Robot>.pt` and `directory/task/<Task>.pt`, one module each."""
    paths = []
    for role, (bank, names) in policy.banks().items():
        paths += save_bank(bank, Path(directory) / role, list(names), suite=suite, role=role)
    return paths


def _files(directory: Path, names: list[str], role: str) -> dict[str, Path]:
    files = {n: directory / role / f"{n}.pt" for n in names}
    missing = [n for n, f in files.items() if not f.exists()]
    if missing:
        have = sorted(p.stem for p in (directory / role).glob("*.pt"))
        raise FileNotFoundError(f"no {role} module for {missing} under {directory / role}; found {have}")
    return files


def load_policy(spec: SuiteSpec, robots_from: str | Path, tasks_from: str | Path,
                robots: list[str], tasks: list[str]) -> ModularPolicy:
    """A modular policy whose robot modules come from `robots_from` and task modules from `tasks_from`.

    The two directories may hold modules of different runs: that is zero-shot recombination.
    """
    robot_files = _files(Path(robots_from), robots, "robot")
    task_files = _files(Path(tasks_from), tasks, "task")
    robot_cfg = read_header(next(iter(robot_files.values())))["config"]
    task_cfg = read_header(next(iter(task_files.values())))["config"]
    if robot_cfg["actor_in"] != task_cfg["actor_out"]:
        raise ValueError(f"robot modules read a {robot_cfg['actor_in']}-wide interface, "
                         f"task modules write {task_cfg['actor_out']}")
    policy = ModularPolicy(spec, interface_dim=task_cfg["actor_out"], task_hidden=tuple(task_cfg["hidden"]),
                           robot_hidden=tuple(robot_cfg["hidden"]))
    for role, files in (("robot", robot_files), ("task", task_files)):
        bank, names = policy.banks()[role]
        for name, path in files.items():
            bank.load_module(list(names).index(name), load_module(path))
    return policy
