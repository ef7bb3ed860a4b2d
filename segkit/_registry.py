"""One small registry class, used for models, attention modules, ASPP heads and backbones.

A :class:`Registry` maps a name to an entry (a factory, or a small dataclass holding one and
its metadata). A duplicate name raises; an unknown name raises :class:`UnknownNameError`
listing close matches and every registered name, in one format for all four registries.
"""
from __future__ import annotations

import fnmatch
from typing import Callable, Generic, Iterator, TypeVar

from segkit._utils import did_you_mean

__all__ = ["Registry", "UnknownNameError"]

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """A name no registry entry has: a ``KeyError`` (a failed lookup) and a ``ValueError``
    (it usually comes from a user's argument or config, so the CLI reports it in one line)."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Name -> entry, with did-you-mean errors.

    Args:
        kind: what the entries are ("model", "module", "aspp head", "backbone"); used in errors.
        loader: called before every lookup, e.g. to import the files that register entries.

    Example:
        >>> heads = Registry[type]("aspp head")
        >>> heads.register("aspp", dict)
        >>> heads.get("aspp") is dict
        True
    """

    def __init__(self, kind: str, loader: Callable[[], object] | None = None) -> None:
        self.kind = kind
        self._loader = loader
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, entry: T, aliases: tuple[str, ...] = ()) -> T:
        """Add `entry` under `name` (and older or shorter `aliases`); returns the entry.

        Raises:
            ValueError: the name or an alias is already taken.
        """
        for key in (name, *aliases):
            if key in self._entries or key in self._aliases:
                raise ValueError(f"{self.kind} {key!r} is already registered")
        self._entries[name] = entry
        self._aliases.update({a: name for a in aliases})
        return entry

    def _load(self) -> None:
        if self._loader is not None:
            self._loader()

    def canonical(self, name: str) -> str:
        """The registered name for `name` or one of its aliases.

        Raises:
            UnknownNameError: nothing is registered under `name`.
        """
        self._load()
        if name in self._entries:
            return name
        if name in self._aliases:
            return self._aliases[name]
        raise UnknownNameError(f"unknown {self.kind} {name!r}.{did_you_mean(str(name), self._entries)} "
                               f"Options: {', '.join(sorted(self._entries))}")

    def get(self, name: str) -> T:
        """The entry registered under `name` (or an alias of it); see :meth:`canonical` for errors."""
        return self._entries[self.canonical(name)]

    def names(self, pattern: str | None = None) -> list[str]:
        """Sorted registered names (aliases excluded), optionally filtered by a glob `pattern`."""
        self._load()
        names = sorted(self._entries)
        return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)
