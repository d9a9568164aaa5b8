"""Group commit for the spool: one journal fsync makes many queue changes durable.

RFC 5321 section 6.1 lets a server answer 250 only once the message cannot
be lost; the plain way (fsync each message file, then its directory) costs
two disk flushes per message. The journal makes the same promise with one
flush for every change that arrived while the previous flush was running:

* a change (a new entry, with all its bytes, or the removal of one) is first
  appended to ``journal/<number>.jnl`` by one committer thread, together with
  every other change waiting at that moment, and the file is ``fdatasync``'ed
  once for all of them; only then does each caller go on (and a server
  answer 250);
* the caller then makes the change in ``queue/`` as usual, without fsync
  (the file was written before the journal flush, the rename or unlink comes
  after it) and reports it done with :meth:`Journal.published`;
* every ``rotate_after`` seconds the journal is closed and a new one started
  (made ahead, with its directory fsync, by the retirer thread, so that a
  rotation on an event loop neither creates a file nor waits for the disk;
  numbers still follow the order of use, since a file made ahead is always
  the next one used); a closed journal whose changes are all published is
  retired: one
  ``os.sync()`` (sync(2): every file written and renamed so far reaches the
  disk) and the journal file is deleted;
* after a crash, :func:`replay` reapplies every journal left over, in order:
  it restores entries whose file in ``queue/`` is missing or damaged (unless
  a later record removed them) and deletes removed ones, syncs, and deletes
  the journals. Replaying twice is harmless.

A record is ``<kind> <length> LF``, the payload and the CRC-32 of both (it
detects a record cut short or garbled by a crash; the entry inside carries
its own SHA-256, checked again when it is read):
kind ``E`` carries a queue id, LF and the entry file's bytes; kind ``R`` a
queue id. A record cut short by a crash fails its checksum and ends the
replay of that journal: nobody was told that it was durable. After a write
or flush error the journal is closed at once, so that no later record sits
behind a damaged one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

__all__ = ["ENTRY", "REMOVAL", "Journal", "read_records"]

ENTRY = b"E"
REMOVAL = b"R"
_HEAD_RE = re.compile(rb"([ER]) (\d{1,12})\n")
_DIGEST = 4
_NAME_RE = re.compile(r"(\d{16})\.jnl\Z")


class _Ops(Protocol):
    def write(self, fd: int, data: bytes | memoryview) -> None: ...

    def fsync(self, fd: int) -> None: ...


def encode(kind: bytes, payload: bytes) -> bytes:
    """One journal record."""
    head = b"%s %d\n" % (kind, len(payload))
    return b"".join((head, payload, _check(head, payload)))


def _check(head: bytes, payload: bytes | memoryview) -> bytes:
    return zlib.crc32(payload, zlib.crc32(head)).to_bytes(4, "big")


def read_records(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """The intact records of a journal file, in order; stops at the first damaged one."""
    raw = path.read_bytes()
    position = 0
    while position < len(raw):
        head = _HEAD_RE.match(raw, position)
        if head is None:
            return
        start = head.end()
        end = start + int(head.group(2))
        if end + _DIGEST > len(raw):
            return
        view = memoryview(raw)
        if _check(raw[position:start], view[start:end]) != raw[end : end + _DIGEST]:
            return
        yield head.group(1), raw[start:end]
        position = end + _DIGEST


def journal_files(directory: Path) -> list[Path]:
    """The journal files in ``directory``, oldest first."""
    return sorted(p for p in directory.iterdir() if _NAME_RE.match(p.name))


class _Waiter:
    __slots__ = ("record", "number", "error", "event", "future")

    def __init__(self, record: bytes) -> None:
        self.record = record
        self.number = -1
        self.error: OSError | None = None
        self.event: threading.Event | None = None
        self.future: asyncio.Future[int] | None = None


def _settle(waiters: list[_Waiter]) -> None:
    for waiter in waiters:
        future = waiter.future
        assert future is not None
        if future.done():
            continue
        if waiter.error is not None:
            future.set_exception(waiter.error)
        else:
            future.set_result(waiter.number)


class _LoopState:
    """An event loop's records waiting for a flush, and whether one is running."""

    __slots__ = ("pending", "in_flight", "scheduled")

    def __init__(self) -> None:
        self.pending: list[_Waiter] = []
        self.in_flight = False
        self.scheduled = False


class Journal:
    """The committer and retirer of a spool's journal (see the module documentation).

    Args:
        directory: ``journal/`` of the spool; must exist. Journals already
            there must have been replayed; new ones are numbered after them.
        ops: the queue's file operations (``write`` and ``fsync``), so that
            tests can inject faults into journal writes too.
        rotate_after: seconds a journal collects records before it is closed
            and retired.
        sync: flushes every written file to the disk (``os.sync``).
    """

    def __init__(self, directory: Path, ops: Callable[[], _Ops], *, rotate_after: float = 0.25,
                 sync: Callable[[], None] = os.sync) -> None:
        self.directory = directory
        self.rotate_after = rotate_after
        self.flushes = 0
        self._ops = ops
        self._sync = sync
        existing = journal_files(directory)
        self._next_number = int(existing[-1].stem) + 1 if existing else 1
        self._condition = threading.Condition()
        self._batch: list[_Waiter] = []
        self._fd: int | None = None
        self._number = 0
        self._opened_at = 0.0
        # Journal number -> changes committed to it and not yet published.
        self._unpublished: dict[int, int] = {}
        self._closed: collections.deque[int] = collections.deque()
        self._stopping = False
        self._threads: list[threading.Thread] = []
        # One file writer at a time: the committer thread and event loops.
        self._io_lock = threading.Lock()
        # The next journal file, made ahead by the retirer thread so that a
        # rotation on an event loop costs no file creation and no directory
        # fsync there. One file is made at a time, under _open_lock, and
        # always used before the next is made, so numbers follow the order
        # of use (a replay depends on it).
        self._open_lock = threading.Lock()
        self._spare: tuple[int, int] | None = None
        self._want_spare = False
        self._loops: dict[asyncio.AbstractEventLoop, _LoopState] = {}
        self._flusher: ThreadPoolExecutor | None = None

    # -- callers

    def commit(self, kind: bytes, payload: bytes) -> int:
        """Append a record and return once it is durable; the result goes to :meth:`published`.

        Raises:
            OSError: the journal could not be written or flushed (nothing
                was made durable; the record must be treated as lost).
        """
        waiter = _Waiter(encode(kind, payload))
        waiter.event = threading.Event()
        self._submit(waiter)
        waiter.event.wait()
        if waiter.error is not None:
            raise waiter.error
        return waiter.number

    async def commit_async(self, kind: bytes, payload: bytes) -> int:
        """:meth:`commit` for a coroutine.

        Each event loop keeps at most one flush in flight: the records given
        while it runs are written (to the page cache, on the loop's thread)
        as one batch as soon as it is done, and that batch's ``fdatasync``
        runs in a helper thread while the loop goes on. Batches thus grow by
        themselves with the load, and the loop hands one batch, not every
        record, to another thread.
        """
        if self._stopping:
            raise OSError("the queue journal is closed")
        self._start_threads()
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopState()
        waiter = _Waiter(encode(kind, payload))
        waiter.future = loop.create_future()
        state.pending.append(waiter)
        if not state.in_flight and not state.scheduled:
            state.scheduled = True
            loop.call_soon(self._start_flush, loop, state)
        return await waiter.future

    def published(self, number: int) -> None:
        """The change committed into journal ``number`` is now made in ``queue/`` as well."""
        with self._condition:
            left = self._unpublished[number] - 1
            self._unpublished[number] = left
            if not left:
                self._condition.notify_all()

    def close(self) -> None:
        """Stop the threads and retire every journal (all changes must be published)."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        for thread in self._threads:
            thread.join()
        self._threads = []
        if self._flusher is not None:
            self._flusher.shutdown(wait=True)
            self._flusher = None
        self._drop_spare()
        with self._io_lock, self._condition:
            self._rotate()
            numbers = list(self._closed)
            self._closed.clear()
        if numbers:
            self._retire(numbers)

    # -- inside

    def _start_threads(self) -> None:
        if not self._threads:
            with self._condition:
                if not self._threads:
                    for target, name in ((self._commit_loop, "committer"), (self._retire_loop, "retirer")):
                        thread = threading.Thread(target=target, name=f"rfcmail-journal-{name}", daemon=True)
                        thread.start()
                        self._threads.append(thread)

    def _submit(self, waiter: _Waiter) -> None:
        self._start_threads()
        with self._condition:
            if self._stopping:
                raise OSError("the queue journal is closed")
            self._batch.append(waiter)
            if len(self._batch) == 1:
                self._condition.notify_all()

    def _rotate(self) -> None:
        """Close the active journal (the condition is held)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._closed.append(self._number)
            self._condition.notify_all()

    def _path(self, number: int) -> Path:
        """Where journal ``number`` lives (the name :func:`journal_files` finds)."""
        return self.directory / f"{number:016d}.jnl"

    def _create(self) -> tuple[int, int]:
        """Make the next journal file, durably named; its number and descriptor (``_open_lock`` is held)."""
        number = self._next_number
        path = self._path(number)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            directory = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        self._next_number = number + 1
        return number, fd

    def _open(self) -> None:
        """Make the next journal file the active one: the spare if one is ready, else a new one here."""
        with self._open_lock:
            spare, self._spare = self._spare, None
            if spare is None:
                spare = self._create()
        number, fd = spare
        with self._condition:
            self._fd = fd
            self._number = number
            self._opened_at = time.monotonic()
            self._unpublished[number] = 0
            # The retirer makes the next one ahead.
            self._want_spare = True
            self._condition.notify_all()

    def _make_spare(self) -> None:
        """In the retirer thread: make the next journal file ahead, if none is waiting."""
        with self._open_lock:
            if self._spare is not None or self._stopping:
                return
            try:
                self._spare = self._create()
            except OSError:
                # The next rotation makes its file itself, and reports the error.
                pass

    def _drop_spare(self) -> None:
        """At close: delete a spare never used (left behind, it would only be an empty journal)."""
        with self._open_lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            number, fd = spare
            os.close(fd)
            with contextlib.suppress(OSError):
                self._path(number).unlink()

    def _rotate_if_old(self) -> None:
        """Close the active journal once it is ``rotate_after`` old (the condition is held)."""
        if self._fd is not None and time.monotonic() - self._opened_at >= self.rotate_after:
            self._rotate()

    def _append(self, records: list[bytes]) -> None:
        """Write ``records`` to the active journal, opening a new one if needed (the I/O lock is held)."""
        with self._condition:
            self._rotate_if_old()
        if self._fd is None:
            self._open()
        assert self._fd is not None
        self._ops().write(self._fd, b"".join(records))

    def _flush_appended(self, count: int) -> tuple[int, OSError | None]:
        """Flush what :meth:`_append` wrote (the I/O lock is held); the journal number, or the error."""
        error: OSError | None = None
        try:
            assert self._fd is not None
            self._ops().fsync(self._fd)
            self.flushes += 1
        except OSError as exc:
            error = exc
        return self._account(count, error)

    def _account(self, count: int, error: OSError | None) -> tuple[int, OSError | None]:
        """Count ``count`` records as committed, or, after an error, close the journal."""
        with self._condition:
            number = self._number
            if error is None:
                self._unpublished[number] += count
            elif self._fd is not None:
                # Nothing may follow a record that was maybe half written.
                self._rotate()
        return number, error

    def _flush(self, records: list[bytes]) -> tuple[int, OSError | None]:
        """Append ``records`` to the active journal and flush it once; the journal number, or the error."""
        with self._io_lock:
            try:
                self._append(records)
            except OSError as exc:
                return self._account(0, exc)
            return self._flush_appended(len(records))

    def _commit_loop(self) -> None:
        condition = self._condition
        while True:
            with condition:
                if not self._batch and not self._stopping:
                    condition.wait(self.rotate_after)
                if self._stopping and not self._batch:
                    return
                batch, self._batch = self._batch, []
            if not batch:
                # Idle: close a journal old enough, so that it can retire.
                with self._io_lock, condition:
                    self._rotate_if_old()
                continue
            number, error = self._flush([waiter.record for waiter in batch])
            for waiter in batch:
                waiter.number = number
                waiter.error = error
                assert waiter.event is not None
                waiter.event.set()

    def _start_flush(self, loop: asyncio.AbstractEventLoop, state: _LoopState) -> None:
        """Write a loop's pending records and start their flush in the helper thread."""
        state.scheduled = False
        if state.in_flight or not state.pending:
            return
        batch, state.pending = state.pending, []
        # Held until the flush is done (released by the helper thread), so
        # that nothing rotates or writes the file in between.
        self._io_lock.acquire()
        try:
            self._append([waiter.record for waiter in batch])
        except OSError as exc:
            number, error = self._account(0, exc)
            self._io_lock.release()
            self._finish(loop, state, batch, number, error)
            return
        except BaseException:
            self._io_lock.release()
            raise
        state.in_flight = True
        if self._flusher is None:
            self._flusher = ThreadPoolExecutor(1, thread_name_prefix="rfcmail-journal-flush")
        self._flusher.submit(self._flush_written, loop, state, batch)

    def _flush_written(self, loop: asyncio.AbstractEventLoop, state: _LoopState, batch: list[_Waiter]) -> None:
        """In the helper thread: flush what :meth:`_start_flush` wrote, release the I/O lock, tell the loop.

        The loop is told with one ``call_soon_threadsafe`` of :meth:`_finish`
        (an asyncio future around the thread's result would take a second
        pass of the loop before the waiters hear of it).
        """
        try:
            number, error = self._flush_appended(len(batch))
        except BaseException as exc:  # noqa: BLE001 - the waiters must never be left hanging
            # Treated as a failed flush: the journal is closed (nothing may
            # follow a record of unknown fate) and the batch is refused.
            number, error = self._account(0, OSError(f"journal flush failed: {exc!r}"))
        finally:
            self._io_lock.release()
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(self._finish, loop, state, batch, number, error)

    def _finish(self, loop: asyncio.AbstractEventLoop, state: _LoopState, batch: list[_Waiter],
                number: int, error: OSError | None) -> None:
        state.in_flight = False
        for waiter in batch:
            waiter.number = number
            waiter.error = error
        _settle(batch)
        if state.pending and not state.scheduled:
            state.scheduled = True
            loop.call_soon(self._start_flush, loop, state)

    def _ready(self) -> list[int]:
        """Closed journals, oldest first, whose changes are all published (the condition is held)."""
        ready: list[int] = []
        for number in self._closed:
            if self._unpublished.get(number, 0):
                break
            ready.append(number)
        return ready

    def _retire_loop(self) -> None:
        condition = self._condition
        while True:
            with condition:
                while not (ready := self._ready()):
                    if self._stopping:
                        return
                    if self._want_spare:
                        self._want_spare = False
                        break
                    condition.wait()
            if ready:
                self._retire(ready)
            else:
                self._make_spare()

    def _retire(self, numbers: list[int]) -> None:
        try:
            self._sync()
            for number in numbers:
                self._path(number).unlink(missing_ok=True)
        except OSError:
            # Kept: the journal is replayed at the next start instead.
            time.sleep(self.rotate_after)
            return
        with self._condition:
            for number in numbers:
                if self._closed and self._closed[0] == number:
                    self._closed.popleft()
                self._unpublished.pop(number, None)
