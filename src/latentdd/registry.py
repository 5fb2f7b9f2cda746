"""A tiny timm-style registry: register by decorator, list by wildcard, create by name.

Nets, datasets, objectives and priors each own one :class:`Registry`, so adding a new
variant is one decorated function in the file that defines it -- no if-chains.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories.  ``kind`` is used in error messages ("model", "dataset")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}

    def register(self, name: str | None = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorator(fn: Callable[..., T]) -> Callable[..., T]:
            key = (name or fn.__name__).lower()
            if key in self._entries:
                raise ValueError(f"{self.kind} {key!r} registered twice")
            self._entries[key] = fn
            return fn

        return decorator

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern.lower()))

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._entries

    def get(self, name: str) -> Callable[..., T]:
        try:
            return self._entries[name.lower()]
        except KeyError:
            known = ", ".join(self.names())
            raise UserError(f"unknown {self.kind} {name!r}; choose one of: {known}") from None

    def create(self, name: str, *args: Any, **kwargs: Any) -> T:
        return self.get(name)(*args, **kwargs)
