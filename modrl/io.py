"""Save and load modules one by one, so modules from different runs can be recombined.

A module file holds one module's kind, config and tensors. Loading uses
`torch.load(weights_only=True)`: it never unpickles arbitrary objects. Every way a file can
be wrong (empty, truncated, not a torch file, pickled objects, a header that is missing keys
or lies about the tensors' shapes, NaN or infinite weights) is one `ValueError` naming the
file and what is wrong with it, in one line, raised before any module is built; a missing
file stays a `FileNotFoundError`.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from modrl.bank import ModuleBank
from modrl.modules.base import Module, build_module

FORMAT = "modrl.module/1"
HEADER_KEYS = {"kind": str, "config": dict, "metadata": dict}
ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format is a zip archive


# -- reading any torch file safely ------------------------------------------------------------


def load_weights(path: str | Path, what: str = "a modrl module file") -> Any:
    """`torch.load(path, weights_only=True)` on the CPU, with every way the file can be bad a one-line
    ValueError naming it (`what` says what it should have been). A missing file is a FileNotFoundError."""
    path = Path(path)
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the file is refused or loads anyway
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):  # these already name the path
        raise
    except Exception as err:  # noqa: BLE001 - whatever torch or pickle raises, the file is at fault
        # from None: torch's own text (which may advise unpickling the file) stays out of the traceback
        raise ValueError(f"{path} {_why_unreadable(path, err)}: not {what}") from None


def _why_unreadable(path: Path, err: Exception) -> str:
    """What is wrong with a file torch.load failed on, in a few words (never torch's advice to unpickle it)."""
    with open(path, "rb") as f:
        start = f.read(len(ZIP_MAGIC))
    if not start:
        return "is empty (0 bytes)"
    if isinstance(err, pickle.UnpicklingError) and "weights only" in str(err).lower():
        return "holds pickled Python objects, not only tensors (refused: unpickling them could run code)"
    if start == ZIP_MAGIC:
        return "is truncated or corrupt (was its writing interrupted?)"
    return "is not a torch file"


def state_dict_mismatch(found: Mapping[str, Any], expected: Mapping[str, torch.Size | tuple[int, ...]]) -> str | None:
    """The first way the tensors `found` differ from `expected` (name → shape), in a few words; None if they fit."""
    not_tensors = [k for k, v in found.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        return f"{_names(not_tensors)} {'is' if len(not_tensors) == 1 else 'are'} not a tensor"
    missing, extra = [k for k in expected if k not in found], [k for k in found if k not in expected]
    if missing or extra:
        return "; ".join(part for part in (missing and f"lacks tensors {_names(missing)}",
                                           extra and f"has unexpected tensors {_names(extra)}") if part)
    for name, shape in expected.items():
        if tuple(found[name].shape) != tuple(shape):
            return f"tensor {name!r} has shape {tuple(found[name].shape)}, expected {tuple(shape)}"
    return None


def nonfinite(state: Mapping[str, Any]) -> str | None:
    """A few words naming the tensors of `state` that hold NaN or infinite values; None if all are finite."""
    bad = [k for k, v in state.items() if isinstance(v, torch.Tensor) and (v.is_floating_point() or v.is_complex())
           and not bool(torch.isfinite(v).all())]
    return f"{_names(bad)} {'holds' if len(bad) == 1 else 'hold'} NaN or infinite values" if bad else None


def _names(names: list[str], most: int = 4) -> str:
    shown = ", ".join(repr(n) for n in names[:most])
    return f"[{shown}{f', ... ({len(names)} in all)' if len(names) > most else ''}]"


def _one_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


# -- writing ----------------------------------------------------------------------------------


def _save_atomically(obj: Any, path: Path) -> None:
    """`torch.save` under the same file name in a temporary folder beside `path`, then rename: a kill
    mid-write leaves the old file or none, and the bytes are those of a direct save (torch names the
    archive inside after the file)."""
    folder = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        torch.save(obj, folder / path.name)
        os.replace(folder / path.name, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def save_module(module: Module, path: str | Path, **metadata: str) -> Path:
    """Write `module` (and string metadata, e.g. robot="Arm3") to `path`, atomically.

    A module with NaN or infinite parameters is refused (ValueError): no such file is ever written."""
    path = Path(path)
    # clone: a parameter that views a larger buffer (modrl.flat) must not save the whole buffer
    state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    problem = nonfinite(state)
    if problem is not None:
        raise ValueError(f"not writing {path}: the {module.kind!r} module's {problem}")
    header = {"format": FORMAT, **module.spec(), "metadata": metadata}
    path.parent.mkdir(parents=True, exist_ok=True)
    _save_atomically({"header": json.dumps(header), "state_dict": state}, path)
    return path


# -- reading module files ---------------------------------------------------------------------


def read_header(path: str | Path) -> dict:
    """The kind, config and metadata of a saved module (and its `state_dict`), the file's structure checked."""
    blob = load_weights(path)
    if not (isinstance(blob, dict) and isinstance(blob.get("header"), str) and isinstance(blob.get("state_dict"), dict)):
        raise ValueError(f"{path} is a torch file but not a modrl module file (it has no header and state_dict)")
    try:
        header = json.loads(blob["header"])
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is damaged: its header is not JSON ({err.msg} at character {err.pos})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else None
        raise ValueError(f"{path} has format {found!r}, expected {FORMAT!r}")
    for key, kind in HEADER_KEYS.items():
        if not isinstance(header.get(key), kind):
            problem = "lacks" if key not in header else f"has a {type(header[key]).__name__} as"
            raise ValueError(f"{path} is damaged: its header {problem} {key!r} (a {kind.__name__})")
    return header | {"state_dict": blob["state_dict"]}


def check_tensors(path: str | Path, header: dict) -> None:
    """Raise ValueError unless the file's tensors are finite and are exactly those its header's kind and
    config make. The expected shapes come from a module built on the `meta` device, which allocates
    nothing: a header that lies (say hidden [100000, 100000] over a 10 kB file) is caught before any
    real module is built."""
    state, kind = header["state_dict"], header["kind"]
    try:
        with torch.device("meta"):
            expected = build_module(kind, **header["config"])
    except Exception as err:  # noqa: BLE001 - unknown kind, bad or missing config values
        raise ValueError(f"{path} is damaged: its header's {kind!r} config does not build: {_one_line(err)}") from None
    problem = state_dict_mismatch(state, {k: v.shape for k, v in expected.state_dict().items()})
    try:  # through load_state_dict, so that a kind that converts an earlier layout of its tensors still loads
        expected.load_state_dict(dict(state), strict=True, assign=True)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"{path}: its tensors do not match its header's {kind!r} config: "
                         f"{problem or _one_line(_detail(err))}") from None
    problem = nonfinite(state)
    if problem is not None:
        raise ValueError(f"{path} is refused: {problem} (saved from a diverged run?)")


def _detail(err: Exception) -> str:
    """torch's load_state_dict error without its first line ("Error(s) in loading state_dict for ...:")."""
    lines = str(err).splitlines()
    return "\n".join(lines[1:]) or str(err)


def load_module(path: str | Path) -> Module:
    """Rebuild a saved module from its file, after checking its header and tensors (`check_tensors`)."""
    header = read_header(path)
    check_tensors(path, header)
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
    module = load_module(path)
    try:
        bank.load_module(index, module)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
