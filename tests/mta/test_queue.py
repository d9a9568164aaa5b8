"""rfcmail.mta.queue: durable enqueue, per-recipient state, recovery, resource errors (R1, R3, R7)."""

from __future__ import annotations

import asyncio
import errno
import io
import os
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rfcmail.errors import LimitExceeded
from rfcmail.mta import queue as queue_module
from rfcmail.mta.queue import (
    DeliveryState,
    Envelope,
    Queue,
    QueueCorruptError,
    QueueError,
    QueueResourceError,
    ReceivedFrom,
    Recipient,
    RecipientOutcome,
    UnknownQueueIdError,
)

MESSAGE = b"From: a@example.test\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n"


def envelope(*recipients: str, **extra: object) -> Envelope:
    names = recipients or ("b@example.org",)
    return Envelope(reverse_path="a@example.test",
                    recipients=tuple(Recipient(address=r) for r in names), **extra)  # type: ignore[arg-type]


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- the envelope ----------------------------------------------------------------


def test_envelope_validation() -> None:
    with pytest.raises(ValueError):
        Envelope(reverse_path="a@x", recipients=())
    with pytest.raises(ValueError):
        Envelope(reverse_path="a@x\r\nRCPT TO:<evil>", recipients=(Recipient(address="b@y"),))
    with pytest.raises(ValueError):
        Recipient(address="b@y\n")
    with pytest.raises(ValueError):
        Recipient(address="b@y", notify=frozenset({"NEVER", "SUCCESS"}))
    with pytest.raises(ValueError):
        Recipient(address="b@y", notify=frozenset({"SOMETIMES"}))
    with pytest.raises(ValueError):
        Envelope(reverse_path="", recipients=(Recipient(address="b@y"),), ret="ALL")
    with pytest.raises(ValueError):
        ReceivedFrom(helo="x\r\ny")
    assert Recipient(address="b@y", notify=frozenset({"success"})).notify == {"SUCCESS"}
    assert Envelope(reverse_path="", recipients=[Recipient(address="b@y")],  # type: ignore[arg-type]
                    ret="hdrs").ret == "HDRS"


# -- enqueue and read back ---------------------------------------------------------


def test_enqueue_round_trip(spool: Path) -> None:
    clock = Clock()
    full = Envelope(
        reverse_path="a@example.test",
        recipients=(Recipient(address="b@example.org", notify=frozenset({"SUCCESS", "FAILURE"}),
                              orcpt="rfc822;B@example.org"),
                    Recipient(address="c@example.org")),
        ret="HDRS", envid="QQ314159",
        received_from=ReceivedFrom(helo="client.example", address="192.0.2.7",
                                   protocol="ESMTPS", authenticated="alice"),
    )
    with Queue(spool, clock=clock) as queue:
        queue_id = queue.enqueue(full, MESSAGE)
        entry = queue.load(queue_id)
        assert entry.envelope == full
        assert entry.arrival_time == clock.now and entry.next_attempt == clock.now
        assert entry.size == len(MESSAGE) and entry.attempts == 0
        assert [s.state for s in entry.recipients] == [DeliveryState.PENDING] * 2
        assert queue.read_message(queue_id) == MESSAGE
        assert queue.ids() == [queue_id]
        assert files(spool / "tmp") == []
        assert files(spool / "queue") == [f"{queue_id}.msg"]
        assert (spool / "queue" / f"{queue_id}.msg").stat().st_mode & 0o777 == 0o600


def test_enqueue_from_a_stream_in_chunks(spool: Path) -> None:
    data = os.urandom(300_000)
    with Queue(spool) as queue:
        queue_id = queue.enqueue(envelope(), io.BytesIO(data))
        assert queue.read_message(queue_id) == data
        with queue.open_message(queue_id) as stream:
            pieces = []
            while chunk := stream.read(7000):
                pieces.append(chunk)
        assert b"".join(pieces) == data
        assert queue.load(queue_id).size == len(data)


def test_empty_message(spool: Path) -> None:
    with Queue(spool) as queue:
        queue_id = queue.enqueue(envelope(), b"")
        assert queue.read_message(queue_id) == b""
        assert queue.recover().entries[0].size == 0


def test_constructor_validates(spool: Path) -> None:
    with pytest.raises(ValueError):
        Queue(spool, max_message_size=0)
    with pytest.raises(ValueError):
        Queue(spool, max_async_workers=0)


def test_bad_message_type(spool: Path) -> None:
    with Queue(spool) as queue:
        with pytest.raises(ValueError):
            queue.enqueue(envelope(), "text")  # type: ignore[arg-type]
        assert files(spool / "tmp") == [] and files(spool / "queue") == []


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("size", [99, 100, 101])
def test_max_message_size_boundary(spool: Path, size: int, stream: bool) -> None:
    with Queue(spool, max_message_size=100) as queue:
        data = b"x" * size
        source = io.BytesIO(data) if stream else data
        if size <= 100:
            assert queue.read_message(queue.enqueue(envelope(), source)) == data
        else:
            with pytest.raises(LimitExceeded) as info:
                queue.enqueue(envelope(), source)
            assert info.value.limit_name == "max_message_size" and info.value.limit == 100
            assert info.value.reply_hint is not None and info.value.reply_hint.startswith("552 5.3.4")
            assert files(spool / "tmp") == [] and files(spool / "queue") == []


def test_ids_are_unique_and_ordered(spool: Path) -> None:
    with Queue(spool) as queue:
        ids = [queue.enqueue(envelope(), MESSAGE) for _ in range(50)]
        assert len(set(ids)) == 50
        assert queue.ids() == sorted(ids)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "", "ABC", "0" * 23, "0" * 25, "g" * 24])
def test_malformed_ids_are_refused(spool: Path, bad: str) -> None:
    with Queue(spool) as queue:
        with pytest.raises(UnknownQueueIdError):
            queue.load(bad)
        with pytest.raises(UnknownQueueIdError):
            queue.remove(bad)
    with pytest.raises(KeyError):  # UnknownQueueIdError is also a KeyError
        with Queue(spool) as queue:
            queue.read_message("0" * 24)


# -- per-recipient state ----------------------------------------------------------


def test_record_attempt_persists_before_returning(spool: Path) -> None:
    clock = Clock()
    with Queue(spool, clock=clock) as queue:
        queue_id = queue.enqueue(envelope("b@example.org", "c@example.org"), MESSAGE)
        clock.now += 60
        entry = queue.record_attempt(queue_id, [
            RecipientOutcome(address="b@example.org", state=DeliveryState.DELIVERED,
                             reply="250 2.0.0 OK", remote_mta="mx.example.org"),
            RecipientOutcome(address="c@example.org", state=DeliveryState.PENDING,
                             reply="451 4.3.0 try later", remote_mta="mx.example.org"),
        ], next_attempt=clock.now + 1800)
        assert entry.attempts == 1 and entry.next_attempt == clock.now + 1800
        assert [s.recipient.address for s in entry.pending] == ["c@example.org"]
        assert not entry.done
    # A new process sees exactly that state.
    with Queue(spool, clock=clock) as again:
        [recovered] = again.recover().entries
        assert recovered == entry
        assert recovered.recipients[0].reply == "250 2.0.0 OK"
        assert recovered.recipients[0].last_attempt == clock.now
        final = again.record_attempt(queue_id, [RecipientOutcome(
            address="c@example.org", state=DeliveryState.FAILED, reply="550 5.1.1 no")])
        assert final.done and final.attempts == 2
        assert again.mark_delay_warned(queue_id).delay_warned
        again.remove(queue_id)
        assert again.ids() == [] and files(spool / "queue") == []
        with pytest.raises(UnknownQueueIdError):
            again.remove(queue_id)


def test_record_attempt_refuses_unknown_recipient(spool: Path) -> None:
    with Queue(spool) as queue:
        queue_id = queue.enqueue(envelope(), MESSAGE)
        with pytest.raises(UnknownQueueIdError):
            queue.record_attempt(queue_id, [RecipientOutcome(address="x@y",
                                                             state=DeliveryState.FAILED)])
        assert queue.load(queue_id).attempts == 0


def test_due(spool: Path) -> None:
    clock = Clock()
    with Queue(spool, clock=clock) as queue:
        first = queue.enqueue(envelope(), MESSAGE)
        second = queue.enqueue(envelope(), MESSAGE)
        queue.record_attempt(second, [], next_attempt=clock.now + 100)
        assert [e.queue_id for e in queue.due()] == [first]
        assert {e.queue_id for e in queue.due(clock.now + 100)} == {first, second}
        queue.record_attempt(first, [RecipientOutcome(address="b@example.org",
                                                      state=DeliveryState.DELIVERED)])
        assert [e.queue_id for e in queue.due(clock.now + 100)] == [second]


# -- recovery ------------------------------------------------------------------------


def test_recover_finds_everything_once(spool: Path) -> None:
    with Queue(spool) as queue:
        ids = [queue.enqueue(envelope(), MESSAGE + bytes([i])) for i in range(10)]
    with Queue(spool) as queue:
        report = queue.recover()
        assert [e.queue_id for e in report.entries] == ids
        assert report.quarantined == () and report.removed_temporary == 0
        assert [e.queue_id for e in queue.recover().entries] == ids


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate-trailer":
        path.write_bytes(data[:-1])
    elif how == "truncate-half":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flip-data":
        index = data.index(b"body")
        path.write_bytes(data[:index] + b"B" + data[index + 1:])
    elif how == "flip-envelope":
        index = data.index(b"b@example.org")
        path.write_bytes(data[:index] + b"v" + data[index + 1:])
    elif how == "no-header":
        path.write_bytes(data[5:])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "appended":
        path.write_bytes(data + b"more")
    elif how == "huge-length":
        path.write_bytes(data.replace(b"\n", b"\n99999999999", 1))
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["truncate-trailer", "truncate-half", "flip-data",
                                 "flip-envelope", "no-header", "empty", "appended",
                                 "huge-length"])
def test_damaged_entries_are_quarantined_never_delivered(spool: Path, how: str) -> None:
    with Queue(spool) as queue:
        good = queue.enqueue(envelope(), MESSAGE)
        bad = queue.enqueue(envelope(), MESSAGE)
        _damage(spool / "queue" / f"{bad}.msg", how)
        with pytest.raises(QueueCorruptError):
            queue.load(bad)
        with pytest.raises(QueueCorruptError):
            queue.read_message(bad)
        assert [e.queue_id for e in queue] == [good]
        report = queue.recover()
        assert [e.queue_id for e in report.entries] == [good]
        assert [name for name, _ in report.quarantined] == [bad]
        assert queue.quarantined() == [f"{bad}.msg"]
        assert queue.ids() == [good]


def test_leftovers_in_tmp_are_deleted(spool: Path) -> None:
    with Queue(spool) as queue:
        (spool / "tmp" / "0123456789abcdef01234567.msg").write_bytes(b"rfcmail-queue 1\n12\n{")
        (spool / "tmp" / "junk").write_bytes(b"x")
        report = queue.recover()
        assert report.removed_temporary == 2 and files(spool / "tmp") == []


def test_stray_and_orphan_files(spool: Path) -> None:
    with Queue(spool) as queue:
        queue_id = queue.enqueue(envelope(), MESSAGE)
        (spool / "queue" / "stray.txt").write_bytes(b"?")
        (spool / "queue" / "0123456789abcdef01234567.state").write_bytes(b"orphan")
        report = queue.recover()
        assert [e.queue_id for e in report.entries] == [queue_id]
        assert ("stray.txt", "not a queue entry") in report.quarantined
        assert files(spool / "queue") == [f"{queue_id}.msg"]


def test_damaged_state_resets_to_pending(spool: Path) -> None:
    with Queue(spool) as queue:
        queue_id = queue.enqueue(envelope(), MESSAGE)
        queue.record_attempt(queue_id, [RecipientOutcome(address="b@example.org",
                                                         state=DeliveryState.DELIVERED)])
        state = spool / "queue" / f"{queue_id}.state"
        state.write_bytes(state.read_bytes()[:-3])
        with pytest.raises(QueueCorruptError):
            queue.load(queue_id)
        report = queue.recover()
        assert report.reset_states == (queue_id,)
        # At least once: the recipient is pending again, the message is not lost.
        assert report.entries[0].pending


# -- resource shortage and I/O errors (R7) -----------------------------------------


class FailingOps(queue_module._FileOps):
    def __init__(self, step: str, error: int, after: int = 0) -> None:
        self.step = step
        self.error = error
        self.after = after

    def _maybe_fail(self, step: str) -> None:
        if step == self.step:
            if self.after == 0:
                raise OSError(self.error, os.strerror(self.error))
            self.after -= 1

    def write(self, fd: int, data: bytes | memoryview) -> None:
        self._maybe_fail("write")
        super().write(fd, data)

    def fsync(self, fd: int) -> None:
        self._maybe_fail("fsync")
        super().fsync(fd)

    def rename(self, source: Path, destination: Path) -> None:
        self._maybe_fail("rename")
        super().rename(source, destination)

    def fsync_directory(self, fd: int) -> None:
        self._maybe_fail("fsync_directory")
        super().fsync_directory(fd)


@pytest.mark.parametrize("step", ["write", "fsync", "rename", "fsync_directory"])
@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EIO, errno.EDQUOT])
def test_resource_shortage_is_452_and_leaves_nothing(spool: Path, step: str, error: int) -> None:
    with Queue(spool) as queue:
        queue._ops = FailingOps(step, error)
        with pytest.raises(QueueResourceError) as info:
            queue.enqueue(envelope(), MESSAGE)
        assert info.value.reply_hint.startswith("452 4.3.1")
        assert info.value.errno == error
        assert files(spool / "tmp") == [] and files(spool / "queue") == []
        queue._ops = queue_module._FileOps()
        assert queue.recover().entries == ()


def test_enospc_in_the_middle_of_a_stream(spool: Path) -> None:
    with Queue(spool) as queue:
        queue._ops = FailingOps("write", errno.ENOSPC, after=3)
        with pytest.raises(QueueResourceError):
            queue.enqueue(envelope(), io.BytesIO(os.urandom(1_000_000)))
        assert files(spool / "tmp") == [] and files(spool / "queue") == []


def test_other_os_errors_are_451(spool: Path) -> None:
    with Queue(spool) as queue:
        queue._ops = FailingOps("rename", errno.EACCES)
        with pytest.raises(QueueError) as info:
            queue.enqueue(envelope(), MESSAGE)
        assert not isinstance(info.value, QueueResourceError)
        assert info.value.reply_hint.startswith("451 4.3.0")


def test_state_write_failure_keeps_the_old_state(spool: Path) -> None:
    with Queue(spool) as queue:
        queue_id = queue.enqueue(envelope(), MESSAGE)
        queue._ops = FailingOps("fsync", errno.ENOSPC)
        with pytest.raises(QueueResourceError):
            queue.record_attempt(queue_id, [RecipientOutcome(address="b@example.org",
                                                             state=DeliveryState.DELIVERED)])
        queue._ops = queue_module._FileOps()
        assert queue.load(queue_id).pending and files(spool / "tmp") == []


# -- group commit -----------------------------------------------------------------------


class RecordingOps(queue_module._FileOps):
    """Logs renames and directory fsyncs with a sequence number; fsyncs are slow."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, str]] = []

    def _log(self, kind: str, what: str) -> None:
        with self.lock:
            self.events.append((kind, what))

    def rename(self, source: Path, destination: Path) -> None:
        super().rename(source, destination)
        self._log("renamed", destination.stem)

    def fsync_directory(self, fd: int) -> None:
        self._log("sync-start", "")
        time.sleep(0.02)  # a slow disk, so that enqueuers pile up behind one sync
        super().fsync_directory(fd)
        self._log("sync-end", "")


def test_group_commit_never_returns_before_its_own_sync(spool: Path) -> None:
    with Queue(spool) as queue:
        ops = RecordingOps()
        queue._ops = ops
        returned: list[tuple[str, int]] = []
        lock = threading.Lock()

        def worker() -> None:
            for _ in range(5):
                queue_id = queue.enqueue(envelope(), MESSAGE)
                with ops.lock:
                    position = len(ops.events)
                with lock:
                    returned.append((queue_id, position))

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(returned) == 40
        events = ops.events
        for queue_id, position in returned:
            renamed_at = events.index(("renamed", queue_id))
            # Some sync started after the rename and ended before enqueue returned.
            starts = [i for i in range(renamed_at + 1, position) if events[i][0] == "sync-start"]
            assert any(("sync-end", "") in events[start + 1:position] for start in starts), queue_id
        # The syncs were shared: fewer directory fsyncs than enqueues.
        assert queue.directory_syncs < 40
        assert sorted(e.queue_id for e in queue.recover().entries) == sorted(i for i, _ in returned)


def test_enqueue_async(spool: Path) -> None:
    with Queue(spool) as queue:
        async def main() -> list[str]:
            return list(await asyncio.gather(*(queue.enqueue_async(envelope(), MESSAGE + bytes([i]))
                                               for i in range(20))))

        ids = asyncio.run(main())
        assert sorted(ids) == queue.ids()
        assert {queue.read_message(i)[-1] for i in ids} == set(range(20))


# -- hypothesis ---------------------------------------------------------------------------

addresses = st.from_regex(r"[a-z0-9.+-]{1,20}@[a-z0-9-]{1,20}\.(test|org)", fullmatch=True)
recipient_strategy = st.builds(
    Recipient, address=addresses,
    notify=st.one_of(st.just(frozenset({"NEVER"})),
                     st.frozensets(st.sampled_from(["SUCCESS", "FAILURE", "DELAY"]))),
    orcpt=st.one_of(st.none(), addresses.map(lambda a: f"rfc822;{a}")),
)
envelope_strategy = st.builds(
    Envelope, reverse_path=st.one_of(st.just(""), addresses),
    recipients=st.lists(recipient_strategy, min_size=1, max_size=5).map(tuple),
    ret=st.sampled_from([None, "FULL", "HDRS"]),
    envid=st.one_of(st.none(), st.text(st.characters(min_codepoint=33, max_codepoint=0x2fff),
                                       max_size=30)),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(envelope_value=envelope_strategy, data=st.binary(max_size=5000))
def test_round_trip_property(tmp_path: Path, envelope_value: Envelope, data: bytes) -> None:
    with Queue(tmp_path / "spool") as queue:
        queue_id = queue.enqueue(envelope_value, data)
        entry = queue.load(queue_id)
        assert entry.envelope == envelope_value and queue.read_message(queue_id) == data
        queue.remove(queue_id)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(max_size=400), keep=st.integers(0, 400))
def test_arbitrary_files_never_break_recovery(tmp_path: Path, garbage: bytes, keep: int) -> None:
    with Queue(tmp_path / "spool") as queue:
        good = queue.enqueue(envelope(), MESSAGE)
        real = (tmp_path / "spool" / "queue" / f"{good}.msg").read_bytes()
        name = "fedcba9876543210fedcba98"
        (tmp_path / "spool" / "queue" / f"{name}.msg").write_bytes(real[:keep] + garbage)
        report = queue.recover()
        ids = [e.queue_id for e in report.entries]
        assert good in ids
        if name in ids:  # only possible when the file is byte-for-byte a valid entry
            assert queue.read_message(name) is not None
        for entry in report.entries:
            queue.remove(entry.queue_id)
        for path in (tmp_path / "spool" / "quarantine").iterdir():
            path.unlink()


def test_the_in_flight_window_gives_a_duplicate_never_a_loss(spool: Path) -> None:
    # SECURITY R2 / the documented at-least-once window: the next hop said 250
    # but the process died before record_attempt; after recovery the
    # recipient is pending again (it will be delivered twice, not lost).
    with Queue(spool) as queue:
        queue_id = queue.enqueue(envelope("b@example.org", "c@example.org"), MESSAGE)
        queue.record_attempt(queue_id, [RecipientOutcome(address="b@example.org",
                                                         state=DeliveryState.DELIVERED)])
        # ... "250" for c@example.org arrives here, then the crash ...
    with Queue(spool) as restarted:
        [entry] = restarted.recover().entries
        assert [s.recipient.address for s in entry.pending] == ["c@example.org"]
        assert entry.recipients[0].state is DeliveryState.DELIVERED
