"""The one registry pattern used for data sources, model families and (later) pruners,
uncertainty methods and explainers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from neuroplast.errors import UserError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """A named table of interchangeable things, filled by explicit imports.

    Example:
        >>> SOURCES: Registry[Callable] = Registry("data source")
        >>> @SOURCES.register("digits")
        ... def load_digits(spec): ...
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered to {self._items[name]!r}.")
            self._items[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        if name not in self._items:
            hint = did_you_mean(name, self._items)
            raise UserError(f"Unknown {self.kind} {name!r}. Known: {', '.join(self.names())}.{hint}")
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items
