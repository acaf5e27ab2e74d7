"""Command-line entry: parse a config dataclass with tyro, run, and turn a refusal into one line.

A `ValueError`, `FileNotFoundError` or `FileExistsError` (bad settings, a file that lies, a run
folder in the way) prints `error: <its message>` on stderr and exits with status 2, without a
traceback; anything else is a bug and keeps its traceback."""

from __future__ import annotations

import sys
from typing import Any, Callable, Sequence, TypeVar

import tyro

C = TypeVar("C")
REFUSALS = (ValueError, FileNotFoundError, FileExistsError)


def run_cli(main: Callable[[C], Any], config_cls: type[C], args: Sequence[str] | None = None) -> Any:
    """`main(tyro.cli(config_cls))`, with refusals reported in one line and exit status 2."""
    try:
        return main(tyro.cli(config_cls, args=args))
    except REFUSALS as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
