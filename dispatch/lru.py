"""A bounded least-recently-used map: the caches of values that are not call arguments
(functools.lru_cache keys on the arguments; these key on something derived from them)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["LRU"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most `size` entries; the least recently used goes first. Values are never None
    (None is what `get` answers for a key it does not hold)."""

    def __init__(self, *, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value kept for `key` (now the most recently used), or None."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Keep `value` for `key`, forgetting the least recently used beyond the size."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def get_or_compute(self, key: K | None, compute: Callable[[], V]) -> V:
        """The value kept for `key`, or compute and keep it (a None key: compute only)."""
        if key is None:
            return compute()
        value = self.get(key)
        if value is None:
            value = compute()
            self.put(key, value)
        return value

    def clear(self) -> None:
        """Forget every value."""
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
