"""Save and load modules one by one, so modules from different runs can be recombined.

A module file holds one module's kind, config and tensors. Loading uses
`torch.load(weights_only=True)`: it never unpickles arbitrary objects.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import torch

from modrl.bank import ModuleBank
from modrl.modules.base import Module, build_module

FORMAT = "modrl.module/1"


def save_module(module: Module, path: str | Path, **metadata: str) -> Path:
    """Write `module` (and string metadata, e.g. robot="Arm3") to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"format": FORMAT, **module.spec(), "metadata": metadata}
    # clone: a parameter that views a larger buffer (modrl.flat) must not save the whole buffer
    state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    torch.save({"header": json.dumps(header), "state_dict": state}, path)
    return path


def read_header(path: str | Path) -> dict:
    """The kind, config and metadata of a saved module."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError) as err:  # not a torch file, or one with objects
        raise ValueError(f"{path} is not a modrl module file ({type(err).__name__})") from err
    if not isinstance(blob, dict) or not isinstance(blob.get("header"), str) or "state_dict" not in blob:
        raise ValueError(f"{path} is not a modrl module file")
    header = json.loads(blob["header"])
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} has format {header.get('format') if isinstance(header, dict) else None!r}, expected {FORMAT!r}")
    return header | {"state_dict": blob["state_dict"]}


def load_module(path: str | Path) -> Module:
    """Rebuild a saved module from its file."""
    header = read_header(path)
    module = build_module(header["kind"], **header["config"])
    module.load_state_dict(header["state_dict"])
    return module


def save_bank(bank: ModuleBank, directory: str | Path, names: list[str] | None = None, **metadata: str) -> list[Path]:
    """One file per module of a bank: `directory/<name>.pt` (names default to the indices)."""
    names = names or [str(i) for i in range(bank.num_modules)]
    if len(names) != bank.num_modules:
        raise ValueError(f"{len(names)} names for a bank of {bank.num_modules}")
    return [save_module(bank.module(i), Path(directory) / f"{n}.pt", name=n, **metadata) for i, n in enumerate(names)]


def load_into_bank(bank: ModuleBank, index: int, path: str | Path) -> None:
    """Put a saved module into slot `index` of a bank (kind and config must match)."""
    bank.load_module(index, load_module(path))
