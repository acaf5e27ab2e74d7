"""Robot and task modules as files: save each after training, rebuild a policy from any mix of runs."""

from __future__ import annotations

from pathlib import Path

from agents.rl.policies import ModularPolicy
from agents.common.spec import SuiteSpec
from envs import get_suite
from modrl import load_module, read_header, save_bank


def save_modules(policy: ModularPolicy, directory: str | Path, suite: str) -> list[Path]:
    """`directory/robot/<Robot>.pt` and `directory/task/<Task>.pt`, one module each.

    Each file records the suite and its env ids (`env_id_format`, versioned), so a module is never
    recombined with observations it was not trained on."""
    paths = []
    for role, (bank, names) in policy.banks().items():
        paths += save_bank(bank, Path(directory) / role, list(names), **origin(suite), role=role)
    return paths


def origin(suite: str) -> dict[str, str]:
    """The metadata that says which envs a module was trained on."""
    return {"suite": suite, "env_id_format": get_suite(suite).id_format}


def check_origin(path: str | Path, suite: str) -> None:
    """Raise ValueError if the module file at `path` was trained on another suite or suite version.

    Files written before modules recorded their env ids carry only the suite name."""
    metadata = read_header(path)["metadata"]
    want = origin(suite)
    for key in ("suite", "env_id_format"):
        if key in metadata and metadata[key] != want[key]:
            raise ValueError(f"{path} was trained on {key} {metadata[key]!r}, not {want[key]!r}: "
                             "its observations differ from this suite's; train it again")


def _files(directory: Path, names: list[str], role: str) -> dict[str, Path]:
    files = {n: directory / role / f"{n}.pt" for n in names}
    missing = [n for n, f in files.items() if not f.exists()]
    if missing:
        have = sorted(p.stem for p in (directory / role).glob("*.pt"))
        raise FileNotFoundError(f"no {role} module for {missing} under {directory / role}; found {have}")
    return files


def load_policy(spec: SuiteSpec, robots_from: str | Path, tasks_from: str | Path,
                robots: list[str], tasks: list[str], suite: str | None = None) -> ModularPolicy:
    """A modular policy whose robot modules come from `robots_from` and task modules from `tasks_from`.

    The two directories may hold modules of different runs: that is zero-shot recombination.
    With `suite`, every file must have been trained on that suite's current env ids (`check_origin`).
    """
    robot_files = _files(Path(robots_from), robots, "robot")
    task_files = _files(Path(tasks_from), tasks, "task")
    if suite is not None:
        for path in [*robot_files.values(), *task_files.values()]:
            check_origin(path, suite)
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
