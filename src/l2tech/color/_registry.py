"""Case-insensitive name registries (STYLE.md rule 4) shared by the color package."""

from __future__ import annotations

import re
from typing import Generic, Iterator, Mapping, TypeVar

from l2tech.errors import UsageError

__all__ = ["Registry", "canonical_key"]

T = TypeVar("T")


def canonical_key(name: str) -> str:
    """Lower-case ``name`` and drop spaces, hyphens, dots and underscores (``"V-Log"`` -> ``"vlog"``)."""
    return re.sub(r"[\s\-._]+", "", str(name)).lower()


class Registry(Mapping[str, T], Generic[T]):
    """A read-only mapping from canonical names to values, looked up case-insensitively.

    ``REG["v-log"]``, ``REG["V_Log"]`` and ``REG["VLog"]`` all find the entry registered as
    ``"V-Log"``. Aliases resolve to the same entry but are not listed by iteration. An unknown
    name raises :class:`~l2tech.errors.UsageError` listing the valid names.
    """

    def __init__(self, kind: str, entries: Mapping[str, T], aliases: Mapping[str, str] | None = None):
        self.kind = kind
        self._names: dict[str, str] = {}
        self._values: dict[str, T] = {}
        for name, value in entries.items():
            self._names[canonical_key(name)] = name
            self._values[name] = value
        for alias, target in (aliases or {}).items():
            self._names[canonical_key(alias)] = target

    def canonical(self, name: str) -> str:
        """The registered spelling of ``name``; raises :class:`UsageError` if unknown."""
        key = canonical_key(name)
        if key not in self._names:
            valid = ", ".join(self._values)
            raise UsageError(f"unknown {self.kind} {name!r}; valid names: {valid}")
        return self._names[key]

    def __getitem__(self, name: str) -> T:
        return self._values[self.canonical(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and canonical_key(name) in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._values)})"
