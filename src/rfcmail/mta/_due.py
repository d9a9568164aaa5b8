"""Which queued messages are due: a heap of next-attempt times beside the runner's entries.

The queue runner wakes for every message accepted; finding what is due by
looking at every entry would make each wake cost as much as the queue is
long, and a queue holding a large deferred backlog (a destination down for
hours, RFC 5321 section 4.5.4.1) would slow acceptance for everyone. The
index keeps ``(next_attempt, queue_id)`` pairs in a heap instead: taking
what is due, and the time of the next attempt, cost only the entries that
are due plus stale pairs.

A pair goes stale when its entry is updated (a new ``next_attempt`` pushes a
new pair), finished or removed; stale pairs are dropped as they reach the
top. The entries themselves stay in the runner's dict, which is the truth.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping

from .queue import QueueEntry

__all__ = ["DueIndex"]


class DueIndex:
    """Queue ids ordered by their next attempt, checked against the runner's entries."""

    __slots__ = ("_heap",)

    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        """Pairs held, stale ones included (for tests and diagnostics)."""
        return len(self._heap)

    def push(self, entry: QueueEntry) -> None:
        """Note ``entry``'s next attempt (call whenever an entry is added or updated)."""
        if not entry.done:
            heapq.heappush(self._heap, (entry.next_attempt, entry.queue_id))

    def take_due(self, now: float, entries: Mapping[str, QueueEntry]) -> list[QueueEntry]:
        """Remove and return the unfinished entries due at ``now``, earliest first, each once."""
        heap = self._heap
        due: list[QueueEntry] = []
        seen: set[str] = set()
        while heap and heap[0][0] <= now:
            when, queue_id = heapq.heappop(heap)
            entry = entries.get(queue_id)
            if entry is None or entry.next_attempt != when or queue_id in seen or entry.done:
                continue
            seen.add(queue_id)
            due.append(entry)
        return due

    def next_attempt(self, entries: Mapping[str, QueueEntry]) -> float | None:
        """The earliest next attempt of an unfinished entry, or ``None`` when nothing waits."""
        heap = self._heap
        while heap:
            when, queue_id = heap[0]
            entry = entries.get(queue_id)
            if entry is not None and entry.next_attempt == when and not entry.done:
                return when
            heapq.heappop(heap)
        return None
