"""Name → class tables, so a module type, router or aggregator is one file
plus one registration line, picked by a string from a config or the CLI."""

from __future__ import annotations

from typing import Callable, TypeVar

T = TypeVar("T")

MODULES: dict[str, type] = {}
ROUTERS: dict[str, type] = {}
AGGREGATORS: dict[str, type] = {}


def _register(table: dict[str, type], kind: str) -> Callable[[type[T]], type[T]]:
    def decorate(cls: type[T]) -> type[T]:
        if kind in table and table[kind] is not cls:
            raise ValueError(f"{kind!r} is already registered to {table[kind].__name__}")
        table[kind] = cls
        cls.kind = kind  # type: ignore[attr-defined]
        return cls

    return decorate


def register_module(kind: str) -> Callable[[type[T]], type[T]]:
    return _register(MODULES, kind)


def register_router(kind: str) -> Callable[[type[T]], type[T]]:
    return _register(ROUTERS, kind)


def register_aggregator(kind: str) -> Callable[[type[T]], type[T]]:
    return _register(AGGREGATORS, kind)


def lookup(table: dict[str, type], kind: str, what: str) -> type:
    """The class registered as `kind`, or a ValueError listing the valid names."""
    try:
        return table[kind]
    except KeyError:
        raise ValueError(f"unknown {what} {kind!r}; valid: {sorted(table)}") from None
