"""Name → (config class, builder) tables for agent-level methods, the core's `@register_router` one
floor up: a supervised method, an RL policy family or an evolution strategy is one file and one
decorator line, picked by a string from the command line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Method:
    """One registered method: its name, its config dataclass (or None) and what builds it."""

    name: str
    config_cls: type | None
    build: Callable[..., Any]


class MethodRegistry:
    """One family of methods (e.g. "supervised method", "policy")."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._methods: dict[str, Method] = {}

    def register(self, name: str, config_cls: type | None = None) -> Callable[[F], F]:
        """Decorator: `@SUPERVISED.register("topk", TopKConfig)` over the function or class that builds it."""

        def decorate(build: F) -> F:
            if name in self._methods and self._methods[name].build is not build:
                raise ValueError(f"{self.what} {name!r} is already registered")
            self._methods[name] = Method(name, config_cls, build)
            return build

        return decorate

    def get(self, name: str) -> Method:
        """The method registered as `name`, or a ValueError listing the valid names."""
        try:
            return self._methods[name]
        except KeyError:
            raise ValueError(f"unknown {self.what} {name!r}; valid: {self.names()}") from None

    def check(self, name: str) -> None:
        self.get(name)

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._methods)

    def __contains__(self, name: object) -> bool:
        return name in self._methods
