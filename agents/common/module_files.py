"""Robot and task modules as files: `<dir>/<role>/<name>.pt`, one module each, with where it came from.

Every file records its name, role, suite and the suite's versioned env ids, so a module is never
recombined with observations it was not trained on nor loaded under another name. A module that
never trained (its robot or task had no pair in the train split) is marked `trained: "false"`,
and loading one warns.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

from agents.common.contract import ActorCriticPolicy
from envs import get_suite
from modrl import Module, ModuleBank, load_module, read_header, save_module

ROLES = ("robot", "task")


def origin(suite: str) -> dict[str, str]:
    """The metadata that says which envs a module was trained on."""
    return {"suite": suite, "env_id_format": get_suite(suite).id_format}


def bank_modules(banks: Mapping[str, tuple[ModuleBank, tuple[str, ...]]]) -> dict[str, dict[str, Module]]:
    """role → name → module, from a policy's `banks()`."""
    return {role: {name: bank.module(i) for i, name in enumerate(names)} for role, (bank, names) in banks.items()}


def save_modules(modules: Mapping[str, Mapping[str, Module]] | ActorCriticPolicy, directory: str | Path, suite: str,
                 untrained: Iterable[tuple[str, str]] = ()) -> list[Path]:
    """Write `directory/<role>/<name>.pt` for every module of `modules`: role → name → module, or a
    policy's `banks()`.

    `untrained`: (role, name) of modules that never saw training; their headers say so."""
    if isinstance(modules, ActorCriticPolicy):
        modules = bank_modules(modules.banks())
    untrained = set(untrained)
    paths = []
    for role, named in modules.items():
        if role not in ROLES:
            raise ValueError(f"unknown module role {role!r}; valid: {list(ROLES)}")
        for name, module in named.items():
            mark = {"trained": "false"} if (role, name) in untrained else {}
            paths.append(save_module(module, Path(directory) / role / f"{name}.pt", name=name, **origin(suite),
                                     role=role, **mark))
    return paths


def check_origin(path: str | Path, suite: str, metadata: Mapping[str, str] | None = None) -> None:
    """Raise ValueError if the module file at `path` (whose header's `metadata`, if already read) was
    trained on another suite or suite version."""
    metadata = read_header(path)["metadata"] if metadata is None else metadata
    want = origin(suite)
    for key in ("suite", "env_id_format"):
        if key in metadata and metadata[key] != want[key]:
            raise ValueError(f"{path} was trained on {key} {metadata[key]!r}, not {want[key]!r}: "
                             "its observations differ from this suite's; train it again")


def module_path(directory: str | Path, role: str, name: str) -> Path:
    """Where `role` module `name` lives under `directory`; FileNotFoundError listing what is there."""
    path = Path(directory) / role / f"{name}.pt"
    if not path.exists():
        have = sorted(p.stem for p in (Path(directory) / role).glob("*.pt"))
        raise FileNotFoundError(f"no {role} module {name!r} under {Path(directory) / role}; found {have}")
    return path


def load_module_file(directory: str | Path, role: str, name: str, suite: str | None = None) -> Module:
    """The `role` module `name` from `directory`, checked: a whole modrl module file whose tensors fit its
    header and are finite (`modrl.io.load_module`), trained on `suite` (when given), saved under this name
    and role, and trained at all (a warning otherwise). Each failure is one ValueError naming the file."""
    path = module_path(directory, role, name)
    metadata = read_header(path)["metadata"]
    if suite is not None:
        check_origin(path, suite, metadata)
    for key, want in (("role", role), ("name", name)):
        if key in metadata and metadata[key] != want:
            raise ValueError(f"{path} holds the {metadata.get('role', '?')} module {metadata.get('name', '?')!r}, "
                             f"not {role} {name!r}: was the file renamed?")
    if metadata.get("trained") == "false":
        warnings.warn(f"{path}: {role} module {name!r} never trained (no pair of its run had it in the train split)",
                      stacklevel=2)
    return load_module(path)
