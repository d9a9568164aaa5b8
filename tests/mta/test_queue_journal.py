"""The queue's group-commit journal (``Queue(journal=True)``, what ``rfcmail serve`` uses)."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from rfcmail.mta import _journal
from rfcmail.mta import queue as queue_module
from rfcmail.mta.queue import (
    DeliveryState,
    Envelope,
    Queue,
    QueueResourceError,
    Recipient,
    RecipientOutcome,
)

MESSAGE = b"From: a@example.test\r\nSubject: journal\r\n\r\nbody\r\n"


def envelope(tag: str = "x") -> Envelope:
    return Envelope(reverse_path="a@example.test", recipients=(Recipient(address="b@example.org"),),
                    envid=tag)


def journals(spool: Path) -> list[str]:
    return sorted(p.name for p in (spool / "journal").iterdir())


def snapshot(spool: Path, target: Path) -> Path:
    """What the disk would hold after a crash that keeps the page cache: a copy of the spool."""
    shutil.copytree(spool, target)
    return target


def test_enqueue_is_readable_at_once_and_lands_in_queue(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    with Queue(spool, journal=True) as queue:
        queue_id = queue.enqueue(envelope(), MESSAGE)
        assert queue.read_message(queue_id) == MESSAGE
        assert queue.load(queue_id).envelope.envid == "x"
        assert queue_id in queue.ids()
    # Closed: the entry is an ordinary file and every journal is retired.
    assert (spool / "queue" / f"{queue_id}.msg").exists()
    assert journals(spool) == []
    with Queue(spool) as plain:
        assert [e.queue_id for e in plain.recover().entries] == [queue_id]
        assert plain.read_message(queue_id) == MESSAGE


def test_concurrent_enqueues_share_flushes(tmp_path: Path) -> None:
    with Queue(tmp_path / "spool", journal=True) as queue:
        ids: list[str] = []
        lock = threading.Lock()

        def worker() -> None:
            for _ in range(25):
                queue_id = queue.enqueue(envelope(), MESSAGE)
                with lock:
                    ids.append(queue_id)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(ids)) == 200
        assert 0 < queue.journal_flushes < 200
        assert all(queue.read_message(queue_id) == MESSAGE for queue_id in ids)


def test_async_enqueue_and_removal(tmp_path: Path) -> None:
    spool = tmp_path / "spool"

    async def scenario(queue: Queue) -> list[str]:
        return list(await asyncio.gather(*(queue.enqueue_async(envelope(str(i)), MESSAGE) for i in range(20))))

    with Queue(spool, journal=True) as queue:
        ids = asyncio.run(scenario(queue))
        for queue_id in ids[:10]:
            queue.remove(queue_id)
        assert queue.ids() == sorted(ids[10:])
    with Queue(spool) as plain:
        assert sorted(e.queue_id for e in plain.recover().entries) == sorted(ids[10:])


def test_replay_restores_lost_entries_and_honours_removals(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    queue = Queue(spool, journal=True)
    assert queue._journal is not None
    queue._journal.rotate_after = 60.0  # keep the journal live until the copy below
    kept = queue.enqueue(envelope("kept"), MESSAGE)
    damaged = queue.enqueue(envelope("damaged"), MESSAGE + b"more\r\n")
    removed = queue.enqueue(envelope("removed"), MESSAGE)
    queue.remove(removed)
    # A crash before the journal was retired: copy the spool as it is now.
    crashed = snapshot(spool, tmp_path / "crashed")
    queue.close()
    assert journals(crashed), "the journal was still live at the copy"
    # The files may not have reached the disk: one is missing, one is torn.
    (crashed / "queue" / f"{kept}.msg").unlink(missing_ok=True)
    damaged_file = crashed / "queue" / f"{damaged}.msg"
    damaged_file.write_bytes(b"rfcmail-queue 1\n12\n{\"queue_id\":")
    (crashed / "queue" / f"{removed}.msg").write_bytes(b"resurrected?")
    with Queue(crashed) as recovered:
        report = recovered.recover()
        assert sorted(e.queue_id for e in report.entries) == sorted([kept, damaged])
        assert recovered.read_message(kept) == MESSAGE
        assert recovered.read_message(damaged) == MESSAGE + b"more\r\n"
        assert report.quarantined == ()
    assert journals(crashed) == []
    assert not (crashed / "queue" / f"{removed}.msg").exists()


def test_a_torn_journal_record_ends_the_replay(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    (spool / "journal").mkdir(parents=True)
    with Queue(spool) as queue:
        container = queue._entry_bytes("0" * 24, envelope(), MESSAGE)
    good = _journal.encode(_journal.ENTRY, b"0" * 24 + b"\n" + container)
    torn = _journal.encode(_journal.ENTRY, b"1" * 24 + b"\n" + container)
    (spool / "journal" / f"{1:016d}.jnl").write_bytes(good + torn[: len(torn) // 2])
    with Queue(spool) as queue:
        assert [e.queue_id for e in queue.recover().entries] == ["0" * 24]
    assert list(_journal.read_records(_write(tmp_path / "bad.jnl", good[:-1] + b"X"))) == []


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


class FailingJournalOps(queue_module._FileOps):
    def __init__(self, step: str) -> None:
        self.step = step

    def write(self, fd: int, data: bytes | memoryview) -> None:
        if self.step == "write":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        super().write(fd, data)

    def fsync(self, fd: int) -> None:
        if self.step == "fsync":
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        super().fsync(fd)


@pytest.mark.parametrize("mode", ["thread", "event loop"])
@pytest.mark.parametrize("step", ["write", "fsync"])
def test_a_journal_failure_is_a_resource_error_and_nothing_is_kept(tmp_path: Path, step: str, mode: str) -> None:
    spool = tmp_path / "spool"

    def enqueue(queue: Queue) -> str:
        if mode == "thread":
            return queue.enqueue(envelope(), MESSAGE)
        return asyncio.run(queue.enqueue_async(envelope(), MESSAGE))

    with Queue(spool, journal=True) as queue:
        first = enqueue(queue)
        queue._ops = FailingJournalOps(step)
        with pytest.raises(QueueResourceError) as info:
            enqueue(queue)
        assert info.value.reply_hint.startswith("452 4.3.1")
        queue._ops = queue_module._FileOps()
        # The journal that failed is closed; the next one works.
        second = enqueue(queue)
        assert queue.ids() == sorted([first, second])
    with Queue(spool) as plain:
        assert sorted(e.queue_id for e in plain.recover().entries) == sorted([first, second])


def test_states_of_journalled_entries(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    with Queue(spool, journal=True) as queue:
        queue_id = queue.enqueue(envelope(), MESSAGE)
        updated = queue.record_attempt(queue_id, [RecipientOutcome(address="b@example.org",
                                                                   state=DeliveryState.DELIVERED)])
        assert updated.done
    with Queue(spool) as plain:
        (entry,) = plain.recover().entries
        assert entry.done


def test_large_messages_and_streams_take_the_plain_path(tmp_path: Path) -> None:
    import io

    with Queue(tmp_path / "spool", journal=True, journal_max_message=100) as queue:
        big = queue.enqueue(envelope(), MESSAGE * 10)
        streamed = queue.enqueue(envelope(), io.BytesIO(MESSAGE))
        assert queue.journal_flushes == 0
        assert queue.read_message(big) == MESSAGE * 10 and queue.read_message(streamed) == MESSAGE


class CountingOps(queue_module._FileOps):
    """Counts the writes of whole entry files (the background writer's)."""

    def __init__(self) -> None:
        self.writes = 0

    def write(self, fd: int, data: bytes | memoryview) -> None:
        if bytes(data[:15]) == b"rfcmail-queue 1":
            self.writes += 1
        super().write(fd, data)


def test_an_entry_removed_before_the_writer_delay_never_gets_a_file(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    with Queue(spool, journal=True) as queue:
        assert queue._writer is not None
        queue._writer.delay = 60.0
        ops = CountingOps()
        queue._ops = ops
        gone = queue.enqueue(envelope("gone"), MESSAGE)
        kept = queue.enqueue(envelope("kept"), MESSAGE)
        assert not (spool / "queue" / f"{gone}.msg").exists()
        assert queue.read_message(gone) == MESSAGE  # from memory meanwhile
        queue.remove(gone)
        assert queue.ids() == [kept]
    # Closing wrote the one still queued, and only that one.
    assert ops.writes == 1
    assert (spool / "queue" / f"{kept}.msg").exists() and not (spool / "queue" / f"{gone}.msg").exists()


def test_threads_and_an_event_loop_commit_together(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    with Queue(spool, journal=True) as queue:
        from_threads: list[str] = []

        def worker() -> None:
            for _ in range(20):
                from_threads.append(queue.enqueue(envelope("thread"), MESSAGE))

        async def loop_side() -> list[str]:
            ids: list[str] = []
            for _ in range(10):
                ids += await asyncio.gather(*(queue.enqueue_async(envelope("loop"), MESSAGE) for _ in range(5)))
            return ids

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for thread in threads:
            thread.start()
        from_loop = asyncio.run(loop_side())
        for thread in threads:
            thread.join()
        every = set(from_threads) | set(from_loop)
        assert len(every) == 110
    with Queue(spool) as plain:
        assert {e.queue_id for e in plain.recover().entries} == every


def test_adopt_moves_entries_states_and_journals_of_another_spool(tmp_path: Path) -> None:
    main, worker = tmp_path / "queue", tmp_path / "queue-1"
    other = Queue(worker, journal=True)
    assert other._journal is not None and other._writer is not None
    other._journal.rotate_after = 60.0
    other._writer.delay = 60.0
    plain = other.enqueue(envelope("plain"), MESSAGE)
    with_state = other.enqueue(envelope("state"), MESSAGE)
    other.record_attempt(with_state, [RecipientOutcome(address="b@example.org", state=DeliveryState.DELIVERED)])
    # The worker died: its entries are only in its journal and in memory.
    crashed = snapshot(worker, tmp_path / "crashed-worker")
    other.close()
    with Queue(main) as queue:
        assert queue.adopt(crashed) == 2
        assert queue.adopt(tmp_path / "no-such-spool") == 0
        report = queue.recover()
        by_id = {entry.queue_id: entry for entry in report.entries}
        assert set(by_id) == {plain, with_state}
        assert by_id[with_state].done and not by_id[plain].done
        assert queue.read_message(plain) == MESSAGE
    assert not crashed.exists()


def test_adopt_finishes_a_move_cut_short(tmp_path: Path) -> None:
    main, worker = tmp_path / "queue", tmp_path / "queue-1"
    with Queue(worker) as other:
        queue_id = other.enqueue(envelope(), MESSAGE)
        other.record_attempt(queue_id, [RecipientOutcome(address="b@example.org", state=DeliveryState.DELIVERED)])
    with Queue(main) as queue:
        # A crash right after the state was linked, before the message moved.
        os.link(worker / "queue" / f"{queue_id}.state", main / "queue" / f"{queue_id}.state")
        assert queue.adopt(worker) == 1
        (entry,) = queue.recover().entries
        assert entry.queue_id == queue_id and entry.done


def test_remove_async_and_cached_message(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    with Queue(spool, journal=True) as queue:
        assert queue._writer is not None
        queue._writer.delay = 60.0
        in_memory = queue.enqueue(envelope("memory"), MESSAGE)
        assert queue.cached_message(in_memory) == MESSAGE
        queue._writer.delay = 0.0
        with queue._writer._condition:
            queue._writer._condition.notify_all()
        on_disk = queue.enqueue(envelope("disk"), MESSAGE + b"x\r\n")
        deadline = time.monotonic() + 10
        while queue.cached_message(on_disk) is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert queue.cached_message(on_disk) is None  # written: read from the file again
        assert queue.read_message(on_disk) == MESSAGE + b"x\r\n"

        async def remove_both() -> None:
            await asyncio.gather(queue.remove_async(in_memory), queue.remove_async(on_disk))
            with pytest.raises(queue_module.UnknownQueueIdError):
                await queue.remove_async(on_disk)

        asyncio.run(remove_both())
        assert queue.ids() == []
    with Queue(spool) as plain:
        assert plain.recover().entries == ()


def test_journal_max_message_boundary(tmp_path: Path) -> None:
    limit = len(MESSAGE) * 2
    with Queue(tmp_path / "spool", journal=True, journal_max_message=limit) as queue:
        queue.enqueue(envelope(), MESSAGE * 2)  # exactly the limit: journalled
        assert queue.journal_flushes == 1
        queue.enqueue(envelope(), MESSAGE * 2 + b"x")  # one octet more: the plain path
        assert queue.journal_flushes == 1 and queue.directory_syncs == 1


def test_journal_memory_boundary_writes_entries_at_once(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    # A fixed clock: every entry has the same size.
    with Queue(spool, journal=True, clock=lambda: 1000.0) as probe:
        size = len(probe._entry_bytes("0" * 24, envelope(), MESSAGE))
    with Queue(spool, journal=True, journal_memory=size * 4, clock=lambda: 1000.0) as queue:
        assert queue._writer is not None
        queue._writer.delay = 60.0
        first = queue.enqueue(envelope(), MESSAGE)  # a quarter: stays in memory
        time.sleep(0.2)
        assert not (spool / "queue" / f"{first}.msg").exists()
        second = queue.enqueue(envelope(), MESSAGE)  # half: the oldest is written at once
        deadline = time.monotonic() + 10
        while queue._writer.ids() != [second] and time.monotonic() < deadline:
            time.sleep(0.01)
        # Back below half: the newer one waits for its delay again.
        assert queue._writer.ids() == [second]
        assert (spool / "queue" / f"{first}.msg").exists()
        assert not (spool / "queue" / f"{second}.msg").exists()


def test_journal_limits_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="journal_memory"):
        Queue(tmp_path / "spool", journal_memory=0)
    with pytest.raises(ValueError, match="journal_max_message"):
        Queue(tmp_path / "spool", journal_max_message=-1)
    Queue(tmp_path / "spool", journal_memory=1, journal_max_message=0).close()



def test_the_writer_thread_is_woken_only_when_it_has_new_work(tmp_path: Path) -> None:
    """Each wake-up takes the GIL from the event loop: a new entry behind an older one is no news."""
    with Queue(tmp_path / "spool", journal=True) as queue:
        writer = queue._writer
        assert writer is not None
        writer.delay = 60.0
        wakes: list[int] = []
        original = writer._condition.notify_all

        def counting() -> None:
            wakes.append(1)
            original()

        writer._condition.notify_all = counting  # type: ignore[method-assign]
        ids = [queue.enqueue(envelope(str(n)), MESSAGE) for n in range(5)]
        assert len(wakes) == 1  # the first entry, which the thread now waits for
        for queue_id in ids:
            queue.remove(queue_id)  # taking entries back wakes nobody either
        assert len(wakes) == 1 and writer.ids() == []
        queue.enqueue(envelope("again"), MESSAGE)
        assert len(wakes) == 2


def test_queue_ids_are_unique_within_and_across_queues_at_the_same_instant(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids come from the clock and a counter with a random start: no system call, no repeat."""
    monkeypatch.setattr(time, "time_ns", lambda: 1_700_000_000_000_000_000)
    with Queue(tmp_path / "a", journal=True) as first, Queue(tmp_path / "b", journal=True) as second:
        ids = [first._new_id() for _ in range(1000)] + [second._new_id() for _ in range(1000)]
    assert len(set(ids)) == 2000
    assert all(queue_module._ID_RE.match(queue_id) for queue_id in ids)


def test_an_unexpected_failure_in_the_flush_helper_fails_its_batch_and_nothing_hangs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not only OSError: whatever the helper thread meets reaches the waiters, and the journal goes on."""
    directory = tmp_path / "journal"
    directory.mkdir()
    journal = _journal.Journal(directory, queue_module._FileOps)
    original = journal._flush_appended

    def broken(count: int) -> tuple[int, OSError | None]:
        raise RuntimeError("a bug in the flush")

    async def scenario() -> None:
        monkeypatch.setattr(journal, "_flush_appended", broken)
        with pytest.raises(OSError, match="a bug in the flush"):
            await asyncio.wait_for(journal.commit_async(_journal.REMOVAL, b"q1"), 10)
        monkeypatch.setattr(journal, "_flush_appended", original)
        number = await asyncio.wait_for(journal.commit_async(_journal.REMOVAL, b"q2"), 10)
        journal.published(number)
        # The journal that failed (the first, number 1) was closed: q2 went into a new one.
        assert number == 2

    try:
        asyncio.run(scenario())
    finally:
        journal.close()


def _wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_rotation_on_the_event_loop_takes_the_file_made_ahead(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The next journal is created and its directory fsync'ed by the retirer thread, not on the loop."""
    directory = tmp_path / "journal"
    directory.mkdir()
    journal = _journal.Journal(directory, queue_module._FileOps, rotate_after=0.0, sync=lambda: None)
    directory_syncs: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if (os.fstat(fd).st_mode & 0o170000) == 0o040000:
            directory_syncs.append(threading.get_ident())
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)

    async def scenario() -> list[int]:
        loop_thread = threading.get_ident()
        numbers = []
        for n in range(6):
            numbers.append(await journal.commit_async(_journal.REMOVAL, b"q%d" % n))
            journal.published(numbers[-1])
            if n == 0:
                # Only the very first journal is made on the loop: none was made
                # ahead yet (the retirer may have made the next one since).
                assert directory_syncs[0] == loop_thread
            _wait_for(lambda: journal._spare is not None)
        assert loop_thread not in directory_syncs[1:]
        return numbers

    try:
        numbers = asyncio.run(scenario())
    finally:
        journal.close()
    # One journal per flush (rotate_after=0), used in the order they were numbered.
    assert numbers == list(range(1, 7))
    # The file made ahead and never used is gone with the journal; everything was retired.
    assert journals(tmp_path) == []


def test_journal_numbers_follow_the_order_of_use_whoever_makes_the_file(tmp_path: Path) -> None:
    """Rotations that find a file made ahead and rotations that make their own, mixed."""
    directory = tmp_path / "journal"
    directory.mkdir()
    journal = _journal.Journal(directory, queue_module._FileOps, rotate_after=0.0, sync=lambda: None)
    try:
        numbers = []
        for n in range(40):
            numbers.append(journal.commit(_journal.REMOVAL, b"q%d" % n))
            journal.published(numbers[-1])
            if n % 3 == 0:
                time.sleep(0.01)  # sometimes the retirer gets to make the next file first
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    finally:
        journal.close()
    assert journals(tmp_path) == []


def test_a_crash_with_a_journal_made_ahead_replays_cleanly(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    queue = Queue(spool, journal=True)
    try:
        queue_id = queue.enqueue(envelope(), MESSAGE)
        assert queue._journal is not None
        _wait_for(lambda: queue._journal is not None and queue._journal._spare is not None)
        crashed = snapshot(spool, tmp_path / "crashed")
    finally:
        queue.close()
    assert len(journals(crashed)) >= 2  # the active journal and the empty one made ahead
    with Queue(crashed, journal=True) as recovered:
        assert [e.queue_id for e in recovered.recover().entries] == [queue_id]
        assert recovered.read_message(queue_id) == MESSAGE
    assert journals(crashed) == []


def test_a_journal_that_cannot_be_made_ahead_is_made_by_the_rotation(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "journal"
    directory.mkdir()
    journal = _journal.Journal(directory, queue_module._FileOps, rotate_after=0.0, sync=lambda: None)
    real_create = journal._create
    refused: list[int] = []

    def create() -> tuple[int, int]:
        if threading.current_thread().name == "rfcmail-journal-retirer":
            refused.append(1)
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        return real_create()

    monkeypatch.setattr(journal, "_create", create)
    try:
        numbers = []
        for n in range(5):
            numbers.append(journal.commit(_journal.REMOVAL, b"q%d" % n))
            journal.published(numbers[-1])
            _wait_for(lambda: len(refused) > n)
        assert journal._spare is None
        assert numbers == list(range(1, 6))
    finally:
        journal.close()
    assert journals(tmp_path) == []
