"""The queue runner's index of due entries (``rfcmail.mta._due``), against a plain scan."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from rfcmail.mta._due import DueIndex
from rfcmail.mta.queue import DeliveryState, Envelope, QueueEntry, Recipient, RecipientStatus


def entry(queue_id: str, next_attempt: float, *, done: bool = False) -> QueueEntry:
    recipient = Recipient(address="b@example.org")
    state = DeliveryState.DELIVERED if done else DeliveryState.PENDING
    return QueueEntry(queue_id=queue_id, envelope=Envelope(reverse_path="a@example.test", recipients=(recipient,)),
                      arrival_time=0.0, size=1, next_attempt=next_attempt,
                      recipients=(RecipientStatus(recipient=recipient, state=state),))


def scan(now: float, entries: dict[str, QueueEntry]) -> list[str]:
    """What the runner did before the index: look at every entry."""
    return sorted((e.queue_id for e in entries.values() if not e.done and e.next_attempt <= now),
                  key=lambda queue_id: (entries[queue_id].next_attempt, queue_id))


def test_due_entries_come_earliest_first_and_stale_pairs_are_skipped() -> None:
    entries = {e.queue_id: e for e in (entry("a", 5.0), entry("b", 1.0), entry("c", 50.0))}
    index = DueIndex()
    for e in entries.values():
        index.push(e)
    # "a" moves later, "b" is finished, "c" is removed: their old pairs are stale.
    entries["a"] = dataclasses.replace(entries["a"], next_attempt=20.0)
    index.push(entries["a"])
    entries["b"] = entry("b", 1.0, done=True)
    del entries["c"]
    assert index.take_due(10.0, entries) == []
    assert index.next_attempt(entries) == 20.0
    assert [e.queue_id for e in index.take_due(20.0, entries)] == ["a"]
    # Taken: not due again until pushed again.
    assert index.take_due(100.0, entries) == []
    assert index.next_attempt(entries) is None
    assert len(index) == 0


def test_an_entry_pushed_twice_is_taken_once() -> None:
    entries = {"a": entry("a", 1.0)}
    index = DueIndex()
    index.push(entries["a"])
    index.push(entries["a"])
    assert [e.queue_id for e in index.take_due(1.0, entries)] == ["a"]


operations = st.lists(st.tuples(
    st.sampled_from(["put", "finish", "remove", "take"]),
    st.sampled_from("abcdefgh"),
    st.integers(min_value=0, max_value=20).map(float),
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_the_index_agrees_with_a_scan_of_every_entry(steps: list[tuple[str, str, float]]) -> None:
    """Whatever the order of updates, what is due equals what a full scan finds."""
    entries: dict[str, QueueEntry] = {}
    index = DueIndex()
    taken: set[str] = set()  # taken and not put again: the runner holds them
    for action, queue_id, when in steps:
        if action == "put":
            entries[queue_id] = entry(queue_id, when)
            index.push(entries[queue_id])
            taken.discard(queue_id)
        elif action == "finish" and queue_id in entries:
            entries[queue_id] = entry(queue_id, entries[queue_id].next_attempt, done=True)
            index.push(entries[queue_id])
        elif action == "remove":
            entries.pop(queue_id, None)
        elif action == "take":
            waiting = {k: v for k, v in entries.items() if k not in taken}
            expected = scan(when, waiting)
            got = [e.queue_id for e in index.take_due(when, entries)]
            assert got == expected
            taken.update(got)
            later = [e.next_attempt for k, e in waiting.items() if not e.done and k not in got]
            assert index.next_attempt(entries) == (min(later) if later else None)
