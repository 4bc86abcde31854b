"""A name -> backend mapping built on first use, for backends whose import is heavy.

Importing torchcodec loads torch and FFmpeg's shared libraries, and the ik_llama backend
subclasses a class of the module that lists it: neither may be imported merely because a
registry module was. The mapping asks its ``find`` function on first access, keeps the
backends it returned (None entries are those unusable here) in the given preference order,
and is keyed by each backend's ``BACKEND_NAME``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

Backend = TypeVar("Backend")


class LazyRegistry(Mapping[str, Backend]):
    """Backends by name, in preference order, found the first time the mapping is read."""

    def __init__(self, find: Callable[[], Iterable[Backend | None]], label: str) -> None:
        self._find = find
        self._label = label
        self._found: dict[str, Backend] | None = None

    def _backends(self) -> dict[str, Backend]:
        if self._found is None:
            found: Any = filter(None, self._find())
            self._found = {b.BACKEND_NAME: b for b in found}
        return self._found

    def __getitem__(self, name: str) -> Backend:
        return self._backends()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._backends())

    def __len__(self) -> int:
        return len(self._backends())

    def __repr__(self) -> str:
        return f"{self._label}({list(self._backends())})"
