"""Files that are either whole or absent: write to a temporary name beside the target, then rename."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable


def write_atomically(path: str | Path, data: str | bytes | Callable[[Path], None]) -> Path:
    """Write `data` (text, bytes, or a function that writes the file it is given) to `path`, so that a
    kill mid-write leaves the old file or none, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if callable(data):
        data(tmp)
    elif isinstance(data, bytes):
        tmp.write_bytes(data)
    else:
        tmp.write_text(data)
    os.replace(tmp, path)
    return path


def claim_folder(out: Path, marker: str, what: str, resume: bool, overwrite: bool) -> None:
    """Make `out` ready for a `what` (e.g. "run") whose folder holds `marker` (e.g. config.json): an
    existing one is continued only with `resume` and replaced (deleted) only with `overwrite`; a
    non-empty folder without the marker is never touched."""
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other")
    holds = (out / marker).exists()
    if resume:
        if not holds:
            raise FileNotFoundError(f"--resume: {out} holds no {what} (no {marker}); drop --resume to start one")
    elif out.exists() and any(out.iterdir()):
        if not holds:
            raise FileExistsError(f"{out} is not empty and holds no modrl {what}; choose another --out")
        if not overwrite:
            raise FileExistsError(f"{out} holds a {what} already: pass --resume to continue it, --overwrite to "
                                  "replace it, or another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
