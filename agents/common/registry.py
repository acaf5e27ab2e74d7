"""Name → (config class, builder) tables for agent-level methods, the core's `@register_router` one
floor up: a supervised method, an RL policy family or an evolution strategy is one file and one
decorator line, picked by a string from the command line."""

from __future__ import annotations

import importlib
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
    """One family of methods (e.g. "supervised method", "policy").

    `providers`: packages (by import name) that register more methods of this family when imported,
    such as the routed policies of `agents.routing` for the policy family of `agents.rl`. They are
    imported on the first lookup, so a name resolves in any process (a spawned worker too) without
    the lower package importing the higher one."""

    def __init__(self, what: str, providers: tuple[str, ...] = ()) -> None:
        self.what, self.providers = what, providers
        self._methods: dict[str, Method] = {}
        self._loaded = not providers

    def _load_providers(self) -> None:
        if not self._loaded:
            self._loaded = True
            for package in self.providers:
                importlib.import_module(package)

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
        self._load_providers()
        try:
            return self._methods[name]
        except KeyError:
            raise ValueError(f"unknown {self.what} {name!r}; valid: {self.names()}") from None

    def check(self, name: str) -> None:
        self.get(name)

    def names(self) -> list[str]:
        """Registered names in registration order."""
        self._load_providers()
        return list(self._methods)

    def __contains__(self, name: object) -> bool:
        self._load_providers()
        return name in self._methods
