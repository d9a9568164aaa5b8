"""A durable spool directory: accept only what is on disk, recover everything after a crash.

RFC 5321 section 6.1 says that a server that has answered 250 to the end of
DATA "MUST NOT lose the message for frivolous reasons, such as because the
host later crashes or because of a predictable resource shortage";
section 4.1.1.4 says there are no partial failures at the end of DATA.
SECURITY.md rows R1 (250 only after the message is durable), R2 (duplicates
are acceptable, loss is not), R3 (queue layout and recovery) and R7
(resource shortage is a 4xx) are what this module implements.

Layout of a spool directory::

    tmp/           files being written; anything left here after a crash is deleted
    queue/         <id>.msg   one file per message: envelope, data and a checksummed trailer
                   <id>.state per-recipient delivery state, replaced atomically after attempts
    quarantine/    entries that failed their checks on recovery, kept for a human

How :meth:`Queue.enqueue` makes a message durable:

1. write the whole entry (a header line, the envelope as JSON, the message
   bytes and a trailer holding the data length and a SHA-256 of everything
   before it) to ``tmp/<id>.msg``;
2. ``fsync`` the file;
3. ``rename`` it to ``queue/<id>.msg`` (atomic: the entry appears whole or
   not at all);
4. ``fsync`` the ``queue/`` directory, so that the rename itself survives a
   power cut. Concurrent enqueuers share this step (group commit): each one
   waits for a directory ``fsync`` that *started after its own rename*, so
   none returns before its own entry is durable.

Only then does :meth:`~Queue.enqueue` return the queue id, and only then may
a server answer 250. An entry is complete only when its trailer is present
and its checksum and length agree; on :meth:`~Queue.recover` anything else is
moved to ``quarantine/`` and never delivered.

With ``journal=True`` (what ``rfcmail serve`` uses) steps 2 and 4 are
replaced by group commit through ``journal/`` (:mod:`rfcmail.mta._journal`):
the entry's bytes are appended to a journal that one committer thread
``fdatasync``'s for every message waiting at that moment; that is when
:meth:`Queue.enqueue` returns. A background writer then puts the entry into
``queue/`` (no fsync: the journal covers it; until then it is read from
memory), and journals are retired by one ``sync(2)`` every quarter of a
second. :meth:`Queue.recover` replays any journal left by a
crash before it scans ``queue/``. Removals go through the journal too.
Messages larger than ``journal_max_message``, and streams, take the plain
path.

Per-recipient state (pending, delivered, failed with the reply) lives in
``<id>.state``, written the same way (tmp, fsync, rename, directory fsync) by
:meth:`~Queue.record_attempt` before the next attempt is made.

Delivery is at least once. The in-flight window is the time between the
remote server's 250 for a recipient and the durable write of that
recipient's new state: a crash inside that window makes the recipient
pending again on recovery, and it is delivered a second time. Nothing else
can produce a duplicate, and nothing that :meth:`~Queue.enqueue` returned for
can be lost short of the disk itself failing. (A SIGKILL leaves the kernel's
page cache intact; only the ``fsync`` calls protect against power loss, and
only as far as the disk honours them.)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import errno
import hashlib
import io
import itertools
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import LimitExceeded, RfcmailError
from ..limits import DEFAULT_LIMITS
from . import _journal

__all__ = [
    "DeliveryState",
    "Envelope",
    "Queue",
    "QueueCorruptError",
    "QueueEntry",
    "QueueError",
    "QueueResourceError",
    "ReceivedFrom",
    "Recipient",
    "RecipientOutcome",
    "RecipientStatus",
    "RecoveryReport",
    "UnknownQueueIdError",
]

_NOTIFY_KEYWORDS = frozenset({"NEVER", "SUCCESS", "FAILURE", "DELAY"})
_RESOURCE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EROFS}
)
_ID_RE = re.compile(r"[0-9a-f]{24}\Z")
_MAGIC = b"rfcmail-queue 1\n"
_STATE_MAGIC = b"rfcmail-state 1\n"
_TRAILER_LENGTH = len(b"\nend ") + 16 + 1 + 64 + 1
_TRAILER_RE = re.compile(rb"\nend ([0-9a-f]{16}) ([0-9a-f]{64})\n\Z")
_CHUNK = 64 * 1024
_MAX_ENVELOPE = 16 * 1024 * 1024


# -- errors --------------------------------------------------------------------


class QueueError(RfcmailError):
    """The queue could not do what was asked; nothing was acknowledged.

    Attributes:
        reply_hint: the SMTP reply a server should send instead of 250
            (``451 4.3.0`` unless a subclass says otherwise).
    """

    reply_hint = "451 4.3.0 Requested action aborted: local error in processing"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class QueueResourceError(QueueError):
    """The disk is full, a quota or a descriptor limit was hit, or I/O failed.

    RFC 5321 section 6.1 and RFC 3463 code 4.3.1: the server answers ``452
    4.3.1`` and the client keeps the message; no partial file is left behind
    (SECURITY R7).
    """

    reply_hint = "452 4.3.1 Insufficient system storage"

    def __init__(self, message: str, *, errno_value: int | None) -> None:
        super().__init__(message)
        self.errno = errno_value


class UnknownQueueIdError(QueueError, KeyError):
    """No entry with that queue id exists (or the id is malformed)."""

    def __str__(self) -> str:
        return self.message


class QueueCorruptError(QueueError):
    """An entry failed its checks (truncated, unterminated or damaged)."""


# -- the envelope ----------------------------------------------------------------


_LINE_BREAKING_RE = re.compile("[\r\n\0]")


def _check_text(value: str | None, what: str) -> None:
    if value is not None and _LINE_BREAKING_RE.search(value):
        raise ValueError(f"{what} must not contain CR, LF or NUL: {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipient:
    """One envelope recipient with its RFC 3461 DSN parameters.

    Attributes:
        address: the forward path as given in RCPT TO, without angle brackets.
        notify: the NOTIFY keywords (``NEVER`` alone, or any of ``SUCCESS``,
            ``FAILURE``, ``DELAY``); empty when the client gave none, which
            means "failures, and delays at the MTA's discretion" (RFC 3461
            section 4.1).
        orcpt: the ORCPT parameter, xtext-decoded, as ``addr-type;address``
            (for example ``"rfc822;alice@example.org"``), or ``None``.
    """

    address: str
    notify: frozenset[str] = frozenset()
    orcpt: str | None = None

    def __post_init__(self) -> None:
        _check_text(self.address, "Recipient.address")
        _check_text(self.orcpt, "Recipient.orcpt")
        notify = frozenset(keyword.upper() for keyword in self.notify)
        if not notify <= _NOTIFY_KEYWORDS:
            raise ValueError(f"unknown NOTIFY keywords: {sorted(notify - _NOTIFY_KEYWORDS)}")
        if "NEVER" in notify and len(notify) > 1:
            raise ValueError("NOTIFY=NEVER cannot be combined with other keywords (RFC 3461 4.1)")
        object.__setattr__(self, "notify", notify)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedFrom:
    """Where a message came from, for the Received header and the DSN.

    Attributes:
        helo: the EHLO/HELO argument the client gave.
        address: the client's IP address.
        protocol: the RFC 3848 protocol keyword (``ESMTP``, ``ESMTPSA``...).
        authenticated: the SASL identity, when the client authenticated.
    """

    helo: str | None = None
    address: str | None = None
    protocol: str = "ESMTP"
    authenticated: str | None = None

    def __post_init__(self) -> None:
        for name in ("helo", "address", "protocol", "authenticated"):
            _check_text(getattr(self, name), f"ReceivedFrom.{name}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """The SMTP envelope of a queued message.

    Attributes:
        reverse_path: the MAIL FROM address without brackets; ``""`` is the
            null reverse path (bounces are never sent to it, RFC 5321 6.1).
        recipients: at least one recipient.
        ret: the RET parameter, ``"FULL"`` or ``"HDRS"``, or ``None``.
        envid: the ENVID parameter, xtext-decoded, or ``None``.
        received_from: where the message came from, or ``None``.
    """

    reverse_path: str
    recipients: tuple[Recipient, ...]
    ret: str | None = None
    envid: str | None = None
    received_from: ReceivedFrom | None = None

    def __post_init__(self) -> None:
        _check_text(self.reverse_path, "Envelope.reverse_path")
        _check_text(self.envid, "Envelope.envid")
        object.__setattr__(self, "recipients", tuple(self.recipients))
        if not self.recipients:
            raise ValueError("an envelope needs at least one recipient")
        if self.ret is not None:
            ret = self.ret.upper()
            if ret not in ("FULL", "HDRS"):
                raise ValueError(f"RET must be FULL or HDRS, not {self.ret!r}")
            object.__setattr__(self, "ret", ret)


class DeliveryState(enum.Enum):
    """Where one recipient stands."""

    PENDING = "pending"
    """Not delivered yet; will be tried (again)."""
    DELIVERED = "delivered"
    """Accepted by the next hop or delivered locally: final."""
    FAILED = "failed"
    """Refused permanently or given up: final (a DSN may be due)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientStatus:
    """The persisted state of one recipient.

    Attributes:
        recipient: the recipient and its DSN parameters.
        state: pending, delivered or failed.
        reply: the last reply received for it (``"550 5.1.1 ..."``), if any.
        remote_mta: the host that gave the reply, if any.
        last_attempt: when it was last tried (clock seconds), if ever.
    """

    recipient: Recipient
    state: DeliveryState = DeliveryState.PENDING
    reply: str | None = None
    remote_mta: str | None = None
    last_attempt: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientOutcome:
    """The result of one delivery attempt for one recipient, for :meth:`Queue.record_attempt`.

    Attributes:
        address: the recipient's address, as in the envelope.
        state: the new state (``PENDING`` for a temporary failure).
        reply: the reply received, if any.
        remote_mta: the host that gave it, if any.
    """

    address: str
    state: DeliveryState
    reply: str | None = None
    remote_mta: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueEntry:
    """A queued message as recovered or loaded: envelope, size and state.

    Attributes:
        queue_id: the entry's id.
        envelope: the envelope given to :meth:`Queue.enqueue`.
        arrival_time: when it was accepted (clock seconds).
        size: the message's size in octets.
        attempts: how many delivery attempts were recorded.
        next_attempt: when the next attempt is due (clock seconds).
        delay_warned: whether a "delayed" DSN was already sent.
        recipients: the state of each recipient, in envelope order.
    """

    queue_id: str
    envelope: Envelope
    arrival_time: float
    size: int
    attempts: int = 0
    next_attempt: float = 0.0
    delay_warned: bool = False
    recipients: tuple[RecipientStatus, ...] = ()

    @property
    def pending(self) -> tuple[RecipientStatus, ...]:
        """The recipients still to be delivered."""
        return tuple(r for r in self.recipients if r.state is DeliveryState.PENDING)

    @property
    def done(self) -> bool:
        """True when every recipient is delivered or failed."""
        return not self.pending


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryReport:
    """What :meth:`Queue.recover` found.

    Attributes:
        entries: every complete entry, oldest first.
        quarantined: (queue id or file name, reason) for each entry moved to
            ``quarantine/``.
        removed_temporary: how many unfinished files were deleted from ``tmp/``.
        reset_states: ids whose state file was damaged and was set aside: their
            recipients are pending again (a possible duplicate, never a loss).
    """

    entries: tuple[QueueEntry, ...]
    quarantined: tuple[tuple[str, str], ...] = ()
    removed_temporary: int = 0
    reset_states: tuple[str, ...] = ()


# -- serialisation ---------------------------------------------------------------


def _envelope_to_json(envelope: Envelope) -> dict[str, Any]:
    received = envelope.received_from
    return {
        "reverse_path": envelope.reverse_path,
        "recipients": [
            {"address": r.address, "notify": sorted(r.notify), "orcpt": r.orcpt}
            for r in envelope.recipients
        ],
        "ret": envelope.ret,
        "envid": envelope.envid,
        "received_from": None if received is None else {
            "helo": received.helo, "address": received.address,
            "protocol": received.protocol, "authenticated": received.authenticated,
        },
    }


def _envelope_from_json(data: Mapping[str, Any]) -> Envelope:
    received = data.get("received_from")
    return Envelope(
        reverse_path=str(data["reverse_path"]),
        recipients=tuple(
            Recipient(address=str(r["address"]), notify=frozenset(r.get("notify") or ()),
                      orcpt=r.get("orcpt"))
            for r in data["recipients"]
        ),
        ret=data.get("ret"),
        envid=data.get("envid"),
        received_from=None if received is None else ReceivedFrom(**received),
    )


def _statuses_to_json(entry: QueueEntry) -> dict[str, Any]:
    return {
        "attempts": entry.attempts,
        "next_attempt": entry.next_attempt,
        "delay_warned": entry.delay_warned,
        "recipients": [
            {"state": s.state.value, "reply": s.reply, "remote_mta": s.remote_mta,
             "last_attempt": s.last_attempt}
            for s in entry.recipients
        ],
    }


def _apply_state(entry: QueueEntry, data: Mapping[str, Any]) -> QueueEntry:
    rows = data["recipients"]
    if len(rows) != len(entry.recipients):
        raise ValueError("state file has a different number of recipients")
    statuses = tuple(
        RecipientStatus(recipient=old.recipient, state=DeliveryState(row["state"]),
                        reply=row.get("reply"), remote_mta=row.get("remote_mta"),
                        last_attempt=row.get("last_attempt"))
        for old, row in zip(entry.recipients, rows)
    )
    return dataclasses.replace(entry, attempts=int(data["attempts"]),
                               next_attempt=float(data["next_attempt"]),
                               delay_warned=bool(data["delay_warned"]), recipients=statuses)


def _trailer(length: int, digest: str) -> bytes:
    return b"\nend %016x %s\n" % (length, digest.encode("ascii"))


#: Compact JSON; one encoder for all (``json.dumps`` with options builds a new one per call).
_JSON = json.JSONEncoder(separators=(",", ":"))


def _container(magic: bytes, document: Mapping[str, Any]) -> bytes:
    """A small self-checking file: magic, JSON, trailer (used for state files)."""
    body = magic + _JSON.encode(document).encode("utf-8")
    return body + _trailer(len(body), hashlib.sha256(body).hexdigest())


def _open_container(magic: bytes, raw: bytes) -> Any:
    match = _TRAILER_RE.search(raw[-_TRAILER_LENGTH:]) if len(raw) >= _TRAILER_LENGTH else None
    if match is None:
        raise ValueError("no trailer: the file is truncated or unterminated")
    body = raw[:-_TRAILER_LENGTH]
    if int(match.group(1), 16) != len(body) or not body.startswith(magic):
        raise ValueError("length or header mismatch")
    if hashlib.sha256(body).hexdigest().encode("ascii") != match.group(2):
        raise ValueError("checksum mismatch")
    return json.loads(body[len(magic):])


# -- file operations (one place, so that tests can inject faults) ---------------


class _FileOps:
    """The system calls the queue makes; a test may replace them to inject faults."""

    def create(self, path: Path) -> int:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)

    def write(self, fd: int, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def close(self, fd: int) -> None:
        os.close(fd)

    def rename(self, source: Path, destination: Path) -> None:
        os.rename(source, destination)

    def fsync_directory(self, fd: int) -> None:
        os.fsync(fd)


class _GroupSync:
    """Directory fsync shared by concurrent callers (group commit).

    A caller takes a ticket after its rename; it returns only once a fsync
    that started after its ticket was issued has completed. One caller does
    the fsync for every ticket issued before it started; the others wait.
    """

    def __init__(self, fd: int, ops: Callable[[], _FileOps]) -> None:
        self._fd = fd
        self._ops = ops
        self._condition = threading.Condition()
        self._issued = 0
        self._durable = 0
        self._syncing = False
        self.syncs = 0

    def sync(self) -> None:
        with self._condition:
            self._issued += 1
            ticket = self._issued
            while self._durable < ticket:
                if self._syncing:
                    self._condition.wait()
                    continue
                self._syncing = True
                covered = self._issued
                self._condition.release()
                succeeded = False
                try:
                    self._ops().fsync_directory(self._fd)
                    succeeded = True
                finally:
                    self._condition.acquire()
                    self._syncing = False
                    self._condition.notify_all()
                if succeeded:
                    self.syncs += 1
                    self._durable = max(self._durable, covered)


# -- the queue -----------------------------------------------------------------


class Queue:
    """A durable spool directory (see the module documentation for the layout).

    Args:
        directory: the spool; created (with ``tmp/``, ``queue/`` and
            ``quarantine/``) when missing.
        clock: returns the current time in seconds; ``time.time`` by default.
            Arrival times and attempt times come from it.
        max_message_size: the largest message accepted, in octets (the
            :attr:`~rfcmail.limits.Limits.max_message_size` default).
        max_async_workers: threads used by :meth:`enqueue_async`. Writing is
            I/O-bound (fsync releases the GIL), and the more enqueues are in
            flight at once, the more of them share each directory fsync.
        journal: make entries and removals durable through the group-commit
            journal (one flush for every change waiting at that moment)
            instead of two flushes each. Off by default; ``rfcmail serve``
            turns it on.
        journal_max_message: the largest message (in octets) that goes
            through the journal; larger ones and streams are written and
            fsync'ed on their own.
        journal_memory: octets of journalled entries held in memory until
            their files are written (64 MiB); while they hold half of it or
            more, the oldest are written at once, and enqueuers wait for
            room beyond it.

    Thread-safe: several threads may enqueue at once, and their directory
    syncs are shared (group commit). One delivery worker should own an entry
    at a time; :meth:`record_attempt` calls for the same id are serialised,
    calls for different ids run in parallel.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        max_message_size: int = DEFAULT_LIMITS.max_message_size,
        max_async_workers: int = 32,
        journal: bool = False,
        journal_max_message: int = 1024 * 1024,
        journal_memory: int = 64 * 1024 * 1024,
    ) -> None:
        if max_message_size < 1:
            raise ValueError("max_message_size must be at least 1")
        if journal_max_message < 0:
            raise ValueError("journal_max_message must not be negative")
        if journal_memory < 1:
            raise ValueError("journal_memory must be at least 1")
        if max_async_workers < 1:
            raise ValueError("max_async_workers must be at least 1")
        self.max_async_workers = max_async_workers
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self.directory = Path(directory)
        self.clock = clock
        self.max_message_size = max_message_size
        self._ids = itertools.count(secrets.randbits(32))
        self._tmp = self.directory / "tmp"
        self._queue = self.directory / "queue"
        self._quarantine = self.directory / "quarantine"
        self._journal_dir = self.directory / "journal"
        created = False
        for path in (self.directory, self._tmp, self._queue, self._quarantine, self._journal_dir):
            if not path.is_dir():
                path.mkdir(mode=0o700, exist_ok=True)
                created = True
        if created:
            # The new directories' own entries must survive a power cut too.
            for path in (self.directory, self.directory.parent):
                descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)
        self.journal_max_message = journal_max_message
        self._ops = _FileOps()
        self._queue_fd = os.open(self._queue, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._sync = _GroupSync(self._queue_fd, lambda: self._ops)
        # Striped locks: state writes for one id are serialised, different
        # ids proceed in parallel (and share directory fsyncs).
        self._state_locks = tuple(threading.Lock() for _ in range(64))
        self._closed = False
        self._journal = _journal.Journal(self._journal_dir, lambda: self._ops) if journal else None
        self._writer = (_EntryWriter(self, self._journal, max_bytes=journal_memory)
                        if self._journal is not None else None)

    # -- lifetime

    def close(self) -> None:
        """Release the directory descriptor. Entries stay on disk."""
        if not self._closed:
            self._closed = True
            if self._executor is not None:
                self._executor.shutdown(wait=True)
            if self._writer is not None:
                self._writer.close()
            if self._journal is not None:
                self._journal.close()
            os.close(self._queue_fd)

    def __enter__(self) -> Queue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def directory_syncs(self) -> int:
        """How many directory fsyncs were made (fewer than enqueues under group commit)."""
        return self._sync.syncs

    @property
    def journal_flushes(self) -> int:
        """How many journal flushes were made (each covers every change waiting for it)."""
        return 0 if self._journal is None else self._journal.flushes

    # -- accepting

    def enqueue(self, envelope: Envelope, message: bytes | BinaryIO) -> str:
        """Write a message durably and return its queue id.

        Returns only after the entry is written, fsync'ed, renamed into
        ``queue/`` and the directory fsync'ed: then, and only then, may a
        server answer 250.

        Args:
            envelope: the envelope (reverse path, recipients and DSN
                parameters, where it came from).
            message: the message bytes, or a binary stream read to its end.

        Raises:
            LimitExceeded: the message is larger than ``max_message_size``
                (``reply_hint`` ``552 5.3.4``).
            QueueResourceError: the disk is full or I/O failed (``452 4.3.1``).
            QueueError: any other failure to write (``451 4.3.0``).
            ValueError: ``message`` is not bytes or a binary stream.

        Nothing is left in ``queue/`` or ``tmp/`` when it raises.
        """
        staged = self._journal_container(envelope, message)
        if staged is not None:
            queue_id, container = staged
            journal, writer = self._journal, self._writer
            assert journal is not None and writer is not None
            writer.wait_for_room()
            try:
                number = journal.commit(_journal.ENTRY, queue_id.encode("ascii") + b"\n" + container)
            except OSError as exc:
                raise self._os_error(exc, "writing the queue journal") from exc
            writer.add(queue_id, container, number)
            return queue_id
        queue_id = self._new_id()
        arrival = float(self.clock())
        header = {
            "queue_id": queue_id,
            "arrival_time": arrival,
            "envelope": _envelope_to_json(envelope),
        }
        head = _JSON.encode(header).encode("utf-8")
        prefix = _MAGIC + b"%d\n" % len(head) + head
        temporary = self._tmp / f"{queue_id}.msg"
        final = self._queue / f"{queue_id}.msg"
        fd: int | None = None
        renamed = False
        try:
            fd = self._ops.create(temporary)
            digest = hashlib.sha256(prefix)
            if isinstance(message, (bytes, bytearray, memoryview)):
                data = bytes(message)
                if len(data) > self.max_message_size:
                    raise self._too_big(len(data))
                digest.update(data)
                length = len(prefix) + len(data)
                self._ops.write(fd, prefix + data + _trailer(length, digest.hexdigest()))
            elif hasattr(message, "read"):
                self._ops.write(fd, prefix)
                size = 0
                while chunk := message.read(_CHUNK):
                    size += len(chunk)
                    if size > self.max_message_size:
                        raise self._too_big(size)
                    digest.update(chunk)
                    self._ops.write(fd, chunk)
                self._ops.write(fd, _trailer(len(prefix) + size, digest.hexdigest()))
            else:
                raise ValueError(f"message must be bytes or a binary stream, not {type(message)}")
            self._ops.fsync(fd)
            self._ops.close(fd)
            fd = None
            self._ops.rename(temporary, final)
            renamed = True
            self._sync.sync()
        except BaseException as exc:
            self._discard(fd, temporary, final if renamed else None)
            if isinstance(exc, OSError):
                raise self._os_error(exc, "writing the queue entry") from exc
            raise
        return queue_id

    async def enqueue_async(self, envelope: Envelope, message: bytes | BinaryIO) -> str:
        """:meth:`enqueue` for asyncio servers.

        Concurrent calls share directory syncs (group commit); each returns
        only when its own entry is durable. A stream ``message`` is read in
        a worker thread, so it must be a blocking binary file, not an
        asyncio stream. With the journal, a message of bytes is written to
        the journal on the calling thread (no fsync: that is cheap) and only
        the journal flush, made by a helper thread, is waited for.
        """
        staged = self._journal_container(envelope, message)
        if staged is not None:
            queue_id, container = staged
            journal, writer = self._journal, self._writer
            assert journal is not None and writer is not None
            if writer.full():
                await asyncio.to_thread(writer.wait_for_room)
            try:
                number = await journal.commit_async(_journal.ENTRY,
                                                    queue_id.encode("ascii") + b"\n" + container)
            except OSError as exc:
                raise self._os_error(exc, "writing the queue journal") from exc
            writer.add(queue_id, container, number)
            return queue_id
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.max_async_workers,
                                                    thread_name_prefix="rfcmail-queue")
            executor = self._executor
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, self.enqueue, envelope, message)

    def _entry_bytes(self, queue_id: str, envelope: Envelope, data: bytes) -> bytes:
        """The whole ``queue/<id>.msg`` file for a message given as bytes."""
        header = {
            "queue_id": queue_id,
            "arrival_time": float(self.clock()),
            "envelope": _envelope_to_json(envelope),
        }
        head = _JSON.encode(header).encode("utf-8")
        prefix = _MAGIC + b"%d\n" % len(head) + head
        digest = hashlib.sha256(prefix)
        digest.update(data)
        return b"".join((prefix, data, _trailer(len(prefix) + len(data), digest.hexdigest())))

    def _journal_container(self, envelope: Envelope, message: bytes | BinaryIO) -> tuple[str, bytes] | None:
        """The id and entry bytes of a journal-sized message; ``None`` when the plain path applies."""
        if self._journal is None or not isinstance(message, (bytes, bytearray, memoryview)):
            return None
        data = bytes(message)
        if len(data) > self.journal_max_message:
            return None
        if len(data) > self.max_message_size:
            raise self._too_big(len(data))
        queue_id = self._new_id()
        return queue_id, self._entry_bytes(queue_id, envelope, data)

    def _new_id(self) -> str:
        """A fresh queue id: the time in nanoseconds and a counter from a random start.

        Unique within the process (the counter), and across processes that
        share spools by adoption as unlikely to collide as random ids; no
        system call per message.
        """
        return f"{time.time_ns():016x}{next(self._ids) & 0xFFFFFFFF:08x}"

    def _too_big(self, size: int) -> LimitExceeded:
        return LimitExceeded("max_message_size", self.max_message_size, size,
                             what="message size", reply_hint="552 5.3.4 Message too big")

    def _discard(self, fd: int | None, temporary: Path, final: Path | None) -> None:
        """Remove every trace of a failed write (best effort, errors ignored)."""
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass
        for path in (temporary, final):
            if path is not None:
                try:
                    path.unlink()
                except OSError:
                    pass

    @staticmethod
    def _os_error(exc: OSError, doing: str) -> QueueError:
        reason = f"{doing}: {exc.strerror or exc} (errno {exc.errno})"
        if exc.errno in _RESOURCE_ERRNOS:
            return QueueResourceError(reason, errno_value=exc.errno)
        return QueueError(reason)

    # -- reading

    def _path(self, queue_id: str, suffix: str) -> Path:
        if not isinstance(queue_id, str) or not _ID_RE.match(queue_id):
            raise UnknownQueueIdError(f"malformed queue id {queue_id!r}")
        return self._queue / f"{queue_id}{suffix}"

    def _read_entry(self, path: Path) -> tuple[QueueEntry, int]:
        """Check and parse a message file; return the entry and the data offset."""
        with open(path, "rb") as handle:
            return self._parse_entry(handle, os.fstat(handle.fileno()).st_size, path.stem)

    def _parse_entry(self, handle: BinaryIO, size: int, stem: str,
                     verify: bool = True) -> tuple[QueueEntry, int]:
        """Check and parse the bytes of an entry file from ``handle``.

        ``verify=False`` skips the SHA-256 of the data, for an entry this
        process built and still holds in memory (no disk came in between).
        """
        if size < len(_MAGIC) + _TRAILER_LENGTH or handle.read(len(_MAGIC)) != _MAGIC:
            raise ValueError("missing or wrong header")
        length_line = handle.readline(24)
        if not length_line.endswith(b"\n") or not length_line[:-1].isdigit():
            raise ValueError("bad envelope length line")
        head_length = int(length_line)
        if head_length > min(_MAX_ENVELOPE, size):
            raise ValueError("envelope length out of range")
        head = handle.read(head_length)
        data_offset = len(_MAGIC) + len(length_line) + head_length
        data_length = size - data_offset - _TRAILER_LENGTH
        if len(head) != head_length or data_length < 0:
            raise ValueError("truncated")
        digest = hashlib.sha256(_MAGIC + length_line + head)
        if not verify:
            handle.seek(data_length, io.SEEK_CUR)
        remaining = data_length if verify else 0
        while remaining:
            chunk = handle.read(min(_CHUNK, remaining))
            if not chunk:
                raise ValueError("truncated")
            digest.update(chunk)
            remaining -= len(chunk)
        trailer = handle.read()
        match = _TRAILER_RE.match(trailer)
        if match is None:
            raise ValueError("no trailer: the file is truncated or unterminated")
        if int(match.group(1), 16) != data_offset + data_length:
            raise ValueError("length mismatch")
        if verify and digest.hexdigest().encode("ascii") != match.group(2):
            raise ValueError("checksum mismatch")
        header = json.loads(head)
        envelope = _envelope_from_json(header["envelope"])
        arrival = float(header["arrival_time"])
        if header["queue_id"] != stem:
            raise ValueError("queue id does not match the file name")
        entry = QueueEntry(
            queue_id=stem, envelope=envelope, arrival_time=arrival, size=data_length,
            next_attempt=arrival,
            recipients=tuple(RecipientStatus(recipient=r) for r in envelope.recipients),
        )
        return entry, data_offset

    def _checked_entry(self, queue_id: str) -> tuple[QueueEntry, int, Path | bytes]:
        path = self._path(queue_id, ".msg")
        container = None if self._writer is None else self._writer.pending(queue_id)
        try:
            if container is not None:
                entry, offset = self._parse_entry(io.BytesIO(container), len(container), queue_id,
                                                  verify=False)
                return entry, offset, container
            entry, offset = self._read_entry(path)
        except FileNotFoundError:
            raise UnknownQueueIdError(f"no queue entry {queue_id}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise QueueCorruptError(f"queue entry {queue_id} is damaged: {exc}") from exc
        return entry, offset, path

    def load(self, queue_id: str) -> QueueEntry:
        """The entry ``queue_id`` with its current per-recipient state.

        Raises:
            UnknownQueueIdError: no such entry.
            QueueCorruptError: the entry or its state failed the checks.
        """
        entry, _, _ = self._checked_entry(queue_id)
        try:
            raw = self._path(queue_id, ".state").read_bytes()
        except FileNotFoundError:
            return entry
        try:
            return _apply_state(entry, _open_container(_STATE_MAGIC, raw))
        except (ValueError, KeyError, TypeError) as exc:
            raise QueueCorruptError(f"state of {queue_id} is damaged: {exc}") from exc

    def read_message(self, queue_id: str) -> bytes:
        """The message bytes of ``queue_id`` (checked against the trailer)."""
        with self.open_message(queue_id) as stream:
            return stream.read()

    def open_message(self, queue_id: str) -> BinaryIO:
        """A binary stream over the message bytes of ``queue_id``, for large messages.

        The entry is checked first; the stream reads exactly the message.
        """
        entry, offset, path = self._checked_entry(queue_id)
        handle: BinaryIO = io.BytesIO(path) if isinstance(path, bytes) else open(path, "rb")
        handle.seek(offset)
        return io.BufferedReader(_BoundedReader(handle, entry.size))

    def ids(self) -> list[str]:
        """The ids of the entries in ``queue/``, oldest first (ids sort by time)."""
        found = {p.stem for p in self._queue.glob("*.msg") if _ID_RE.match(p.stem)}
        if self._writer is not None:
            found.update(self._writer.ids())
        return sorted(found)

    def __iter__(self) -> Iterator[QueueEntry]:
        for queue_id in self.ids():
            try:
                yield self.load(queue_id)
            except (UnknownQueueIdError, QueueCorruptError):
                continue

    def due(self, now: float | None = None) -> list[QueueEntry]:
        """The entries with pending recipients whose next attempt is due."""
        moment = self.clock() if now is None else now
        return [e for e in self if not e.done and e.next_attempt <= moment]

    # -- state

    def record_attempt(
        self,
        queue_id: str,
        outcomes: Sequence[RecipientOutcome],
        *,
        next_attempt: float | None = None,
        count_attempt: bool = True,
    ) -> QueueEntry:
        """Persist the result of a delivery attempt before anything else happens.

        Args:
            queue_id: the entry.
            outcomes: the new state of some recipients (by address).
            next_attempt: when to try the pending recipients again; unchanged
                when ``None``.
            count_attempt: add one to the entry's attempt count.

        Returns:
            The entry as now stored.

        Raises:
            UnknownQueueIdError: no such entry, or an address not in it.
            QueueResourceError, QueueError: the state could not be written
                (the previous state stays in force).
        """
        with self._state_lock(queue_id):
            entry = self.load(queue_id)
            by_address = {o.address: o for o in outcomes}
            unknown = set(by_address) - {s.recipient.address for s in entry.recipients}
            if unknown:
                raise UnknownQueueIdError(f"{queue_id} has no recipient {sorted(unknown)}")
            now = float(self.clock())
            statuses = tuple(
                RecipientStatus(recipient=s.recipient, state=o.state, reply=o.reply,
                                remote_mta=o.remote_mta, last_attempt=now)
                if (o := by_address.get(s.recipient.address)) is not None else s
                for s in entry.recipients
            )
            updated = dataclasses.replace(
                entry,
                recipients=statuses,
                attempts=entry.attempts + (1 if count_attempt else 0),
                next_attempt=entry.next_attempt if next_attempt is None else float(next_attempt),
            )
            self._write_state(updated)
            return updated

    def mark_delay_warned(self, queue_id: str) -> QueueEntry:
        """Persist that a "delayed" DSN went out for ``queue_id``."""
        with self._state_lock(queue_id):
            updated = dataclasses.replace(self.load(queue_id), delay_warned=True)
            self._write_state(updated)
            return updated

    def _state_lock(self, queue_id: str) -> threading.Lock:
        return self._state_locks[hash(queue_id) % len(self._state_locks)]

    def _write_state(self, entry: QueueEntry) -> None:
        data = _container(_STATE_MAGIC, _statuses_to_json(entry))
        temporary = self._tmp / f"{entry.queue_id}.state.{secrets.token_hex(4)}"
        final = self._queue / f"{entry.queue_id}.state"
        fd: int | None = None
        try:
            fd = self._ops.create(temporary)
            self._ops.write(fd, data)
            self._ops.fsync(fd)
            self._ops.close(fd)
            fd = None
            self._ops.rename(temporary, final)
            self._sync.sync()
        except OSError as exc:
            self._discard(fd, temporary, None)
            raise self._os_error(exc, f"writing the state of {entry.queue_id}") from exc

    def remove(self, queue_id: str) -> None:
        """Delete a finished entry (message first, then its state), durably.

        Raises:
            UnknownQueueIdError: no such entry.
        """
        message = self._path(queue_id, ".msg")
        journal = self._journal
        if journal is not None:
            # The removal is durable once journalled; the unlinks follow.
            unwritten = self._take_back(queue_id, message)
            try:
                number = journal.commit(_journal.REMOVAL, queue_id.encode("ascii"))
            except OSError as exc:
                raise self._removal_failed(queue_id, unwritten, exc) from exc
            self._finish_removal(queue_id, message, unwritten, number)
            return
        try:
            message.unlink()
        except FileNotFoundError:
            raise UnknownQueueIdError(f"no queue entry {queue_id}") from None
        self._path(queue_id, ".state").unlink(missing_ok=True)
        try:
            self._sync.sync()
        except OSError as exc:
            raise self._os_error(exc, f"removing {queue_id}") from exc

    async def remove_async(self, queue_id: str) -> None:
        """:meth:`remove` for asyncio: with the journal, the removal joins the loop's next flush."""
        journal = self._journal
        if journal is None:
            await asyncio.to_thread(self.remove, queue_id)
            return
        message = self._path(queue_id, ".msg")
        unwritten = self._take_back(queue_id, message)
        try:
            number = await journal.commit_async(_journal.REMOVAL, queue_id.encode("ascii"))
        except OSError as exc:
            raise self._removal_failed(queue_id, unwritten, exc) from exc
        self._finish_removal(queue_id, message, unwritten, number)

    def _take_back(self, queue_id: str, message: Path) -> tuple[bytes, int] | None:
        """Before a journalled removal: the entry if its file is not written yet; raise if there is none."""
        assert self._writer is not None
        unwritten = self._writer.cancel(queue_id)
        if unwritten is None and not message.exists():
            raise UnknownQueueIdError(f"no queue entry {queue_id}")
        return unwritten

    def _removal_failed(self, queue_id: str, unwritten: tuple[bytes, int] | None, exc: OSError) -> QueueError:
        if unwritten is not None:
            assert self._writer is not None
            self._writer.add(queue_id, *unwritten)
        return self._os_error(exc, f"removing {queue_id}")

    def _finish_removal(self, queue_id: str, message: Path, unwritten: tuple[bytes, int] | None,
                        number: int) -> None:
        """After the removal record is durable: delete the files, tell the journal."""
        journal = self._journal
        assert journal is not None
        if unwritten is None:
            message.unlink(missing_ok=True)
        self._path(queue_id, ".state").unlink(missing_ok=True)
        journal.published(number)
        if unwritten is not None:
            journal.published(unwritten[1])

    def cached_message(self, queue_id: str) -> bytes | None:
        """The message bytes of ``queue_id`` when the entry is still held in memory (no disk read), else ``None``."""
        if self._writer is None or self._writer.pending(queue_id) is None:
            return None
        try:
            entry, offset, container = self._checked_entry(queue_id)
        except UnknownQueueIdError:
            return None
        if not isinstance(container, bytes):
            return self.read_message(queue_id)  # written meanwhile: read the file
        return container[offset : offset + entry.size]

    # -- recovery

    def recover(self) -> RecoveryReport:
        """Scan the spool after a start or a crash.

        Call it once at start, before accepting or delivering anything: it
        deletes unfinished files in ``tmp/`` (none of them was acknowledged),
        checks every entry in ``queue/`` (header, envelope, length, checksum),
        moves failing ones to ``quarantine/`` and returns every complete
        entry exactly once, with its latest persisted recipient state.
        """
        self._replay_journals()
        removed = 0
        for path in self._tmp.iterdir():
            path.unlink(missing_ok=True)
            removed += 1
        entries: list[QueueEntry] = []
        quarantined: list[tuple[str, str]] = []
        reset: list[str] = []
        seen: set[str] = set()
        for path in sorted(self._queue.iterdir()):
            stem, suffix = path.stem, path.suffix
            if suffix == ".msg" and _ID_RE.match(stem):
                try:
                    entry, _ = self._read_entry(path)
                except (ValueError, KeyError, TypeError, OSError) as exc:
                    self._move_to_quarantine(path)
                    self._move_to_quarantine(path.with_suffix(".state"))
                    quarantined.append((stem, str(exc)))
                    continue
                state_path = path.with_suffix(".state")
                if state_path.exists():
                    try:
                        entry = _apply_state(entry, _open_container(_STATE_MAGIC,
                                                                    state_path.read_bytes()))
                    except (ValueError, KeyError, TypeError) as exc:
                        self._move_to_quarantine(state_path)
                        quarantined.append((state_path.name, str(exc)))
                        reset.append(stem)
                seen.add(stem)
                entries.append(entry)
        for path in sorted(self._queue.iterdir()):
            if path.suffix == ".state" and path.stem in seen:
                continue
            if path.suffix == ".msg" and path.stem in seen:
                continue
            if path.exists():
                # An orphan state file (its message was removed) or a stray file.
                if path.suffix == ".state":
                    path.unlink(missing_ok=True)
                else:
                    self._move_to_quarantine(path)
                    quarantined.append((path.name, "not a queue entry"))
        self._sync.sync()
        entries.sort(key=lambda e: (e.arrival_time, e.queue_id))
        return RecoveryReport(entries=tuple(entries), quarantined=tuple(quarantined),
                              removed_temporary=removed, reset_states=tuple(reset))

    def adopt(self, other: str | os.PathLike[str]) -> int:
        """Move every entry of another spool into this one, then delete that spool.

        For a spool left by a worker process that is gone (``rfcmail serve
        --workers``). Call it before :meth:`recover`, and only when nothing
        else uses ``other``: that spool is recovered first (its journals
        replayed, damaged entries kept in its quarantine, which moves too),
        then each entry's state file is linked here before its message file
        is renamed here, so that a crash in the middle loses nothing and a
        second call finishes the work.

        Returns:
            How many entries were moved.
        """
        source_dir = Path(other)
        if not source_dir.is_dir():
            return 0
        with Queue(source_dir) as source:
            source.recover()
        moved = 0
        for path in sorted((source_dir / "queue").glob("*.msg")):
            state = path.with_suffix(".state")
            if state.exists():
                with contextlib.suppress(FileExistsError):
                    os.link(state, self._queue / state.name)
            os.rename(path, self._queue / path.name)
            state.unlink(missing_ok=True)
            moved += 1
        for path in sorted((source_dir / "quarantine").iterdir()):
            os.rename(path, self._quarantine / f"{source_dir.name}.{path.name}")
        os.fsync(self._queue_fd)
        shutil.rmtree(source_dir)
        return moved

    def _replay_journals(self) -> None:
        """Reapply the journals a crash left behind, make the result durable, delete them."""
        files = _journal.journal_files(self._journal_dir)
        if not files:
            return
        entries: dict[str, bytes] = {}
        removed: set[str] = set()
        for path in files:
            for kind, payload in _journal.read_records(path):
                if kind == _journal.ENTRY:
                    raw_id, _, container = payload.partition(b"\n")
                    entries[raw_id.decode("ascii", "replace")] = container
                else:
                    name = payload.decode("ascii", "replace")
                    entries.pop(name, None)
                    removed.add(name)
        for queue_id in removed:
            if _ID_RE.match(queue_id):
                self._path(queue_id, ".msg").unlink(missing_ok=True)
                self._path(queue_id, ".state").unlink(missing_ok=True)
        for queue_id, container in entries.items():
            if not _ID_RE.match(queue_id):
                continue
            final = self._path(queue_id, ".msg")
            try:
                self._read_entry(final)
                continue
            except (OSError, ValueError, KeyError, TypeError):
                pass
            temporary = self._tmp / f"{queue_id}.msg"
            fd = self._ops.create(temporary) if not temporary.exists() else os.open(
                temporary, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
            try:
                self._ops.write(fd, container)
                self._ops.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temporary, final)
        os.sync()
        for path in files:
            path.unlink()
        os.fsync(self._queue_fd)

    def _move_to_quarantine(self, path: Path) -> None:
        if path.exists():
            target = self._quarantine / path.name
            if target.exists():
                target = self._quarantine / f"{path.name}.{secrets.token_hex(4)}"
            os.rename(path, target)

    def quarantined(self) -> list[str]:
        """The file names in ``quarantine/``."""
        return sorted(p.name for p in self._quarantine.iterdir())


class _EntryWriter:
    """Writes journalled entries into ``queue/`` in a background thread.

    The journal has made each entry durable before it gets here, so the file
    is written straight to ``queue/<id>.msg`` without fsync: a crash in the
    middle leaves a damaged file that the replay replaces. An entry is
    written ``delay`` seconds after it arrived, so that one delivered and
    removed before then never costs a file; until then it is read from
    memory. At most ``max_bytes`` are held: from half of it on, entries are
    written at once, and enqueuers wait for room beyond it.
    """

    def __init__(self, queue: Queue, journal: _journal.Journal, max_bytes: int = 64 * 1024 * 1024,
                 delay: float = 2.0) -> None:
        self._queue = queue
        self._journal = journal
        self.max_bytes = max_bytes
        self.delay = delay
        # One lock, two conditions: the thread waits on _condition, which is
        # notified only when it has something new to do (a first entry, the
        # memory bound, a stop); cancel() and wait_for_room() wait on _room,
        # notified after each write. Waking the thread for every entry would
        # make it take the GIL from the event loop each time, for nothing.
        lock = threading.RLock()
        self._condition = threading.Condition(lock)
        self._room = threading.Condition(lock)
        self._items: dict[str, tuple[bytes, int, float]] = {}
        self._writing: str | None = None
        self._bytes = 0
        self._thread: threading.Thread | None = None
        self._stopping = False

    def add(self, queue_id: str, container: bytes, number: int) -> None:
        with self._condition:
            self._items[queue_id] = (container, number, time.monotonic())
            self._bytes += len(container)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="rfcmail-queue-writer", daemon=True)
                self._thread.start()
            if len(self._items) == 1 or self._bytes >= self.max_bytes // 2:
                self._condition.notify_all()

    def full(self) -> bool:
        return self._bytes >= self.max_bytes

    def wait_for_room(self) -> None:
        with self._condition:
            while self._bytes >= self.max_bytes and not self._stopping:
                self._room.wait()

    def pending(self, queue_id: str) -> bytes | None:
        with self._condition:
            item = self._items.get(queue_id)
            return None if item is None else item[0]

    def ids(self) -> list[str]:
        with self._condition:
            return list(self._items)

    def cancel(self, queue_id: str) -> tuple[bytes, int] | None:
        """Take back an unwritten entry (it is being removed); ``None`` when its file exists."""
        with self._condition:
            while self._writing == queue_id:
                self._room.wait()
            item = self._items.pop(queue_id, None)
            if item is None:
                return None
            self._bytes -= len(item[0])
            self._room.notify_all()
            return item[0], item[1]

    def close(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
            self._room.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        queue = self._queue
        while True:
            with self._condition:
                while True:
                    if not self._items:
                        if self._stopping:
                            return
                        self._condition.wait()
                        continue
                    queue_id, (container, number, added) = next(iter(self._items.items()))
                    wait = added + self.delay - time.monotonic()
                    if wait <= 0 or self._stopping or self._bytes >= self.max_bytes // 2:
                        break
                    self._condition.wait(wait)
                self._writing = queue_id
            try:
                fd = os.open(queue._queue / f"{queue_id}.msg",
                             os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
                try:
                    queue._ops.write(fd, container)
                finally:
                    os.close(fd)
                written = True
            except OSError:
                written = False
            with self._condition:
                self._writing = None
                if written and self._items.pop(queue_id, None) is not None:
                    self._bytes -= len(container)
                    self._journal.published(number)
                self._room.notify_all()
            if not written:
                # Kept in memory and in the journal; try again a little later.
                time.sleep(0.1)


class _BoundedReader(io.RawIOBase):
    """Reads at most ``remaining`` bytes from an open file, then EOF; closes it."""

    def __init__(self, handle: BinaryIO, remaining: int) -> None:
        super().__init__()
        self._handle = handle
        self._remaining = remaining

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._remaining)
        if want <= 0:
            return 0
        data = self._handle.read(want)
        view[: len(data)] = data
        self._remaining -= len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
        super().close()

