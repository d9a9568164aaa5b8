"""Crash safety of the queue: SIGKILL at random moments, and a crash after every step (R1, R3).

A child process (a fresh interpreter, or a fork for the 200-round loop of
SECURITY R3) enqueues messages and reports each queue id as soon as
``enqueue`` returns (the moment a server would send 250). The parent kills it
with SIGKILL at a random time, then recovers the spool and checks:

* every id the child printed is recovered, with exactly the bytes it wrote;
* every recovered entry is intact (no partial file is ever delivered), and
  each message appears exactly once;
* leftovers of the interrupted write are removed or quarantined.

SIGKILL leaves the kernel's page cache in place, so this checks the queue's
logic (ordering of writes and renames, completeness checks), not the disk's
honouring of fsync.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rfcmail.mta import queue as queue_module
from rfcmail.mta.queue import DeliveryState, Envelope, Queue, Recipient, RecipientOutcome

CHILD = r"""
import hashlib, sys
from rfcmail.mta.queue import Envelope, Queue, Recipient, RecipientOutcome, DeliveryState

spool, first, journal = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "journal"

def body(i):
    size = 200 + (i * 7919) % 150_000
    seed = hashlib.sha256(str(i).encode()).digest()
    return (seed * (size // 32 + 1))[:size]

queue = Queue(spool, journal=journal)
print("ready", flush=True)
i = first
while True:
    envelope = Envelope(reverse_path="a@example.test",
                        recipients=(Recipient(address="b@example.org"),
                                    Recipient(address="c@example.org")),
                        envid=f"msg-{i}")
    queue_id = queue.enqueue(envelope, body(i))
    print(f"acked {queue_id} {i}", flush=True)
    if i % 3 == 0:
        queue.record_attempt(queue_id, [RecipientOutcome(address="b@example.org",
                                                         state=DeliveryState.DELIVERED)])
        print(f"state {queue_id} {i}", flush=True)
    i += 1
"""


def expected_body(i: int) -> bytes:
    size = 200 + (i * 7919) % 150_000
    seed = hashlib.sha256(str(i).encode()).digest()
    return (seed * (size // 32 + 1))[:size]


def run_child(spool: Path, first: int, kill_after: float, journal: bool = False) -> list[str]:
    """Run the child interpreter until it is killed; return its output lines."""
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(spool), str(first), "journal" if journal else "plain"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    ready = process.stdout.readline()
    assert ready == b"ready\n", process.stderr.read() if process.stderr else b""
    time.sleep(kill_after)
    os.kill(process.pid, signal.SIGKILL)
    try:
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == -signal.SIGKILL, err.decode()
    # A line cut by the kill was never fully reported: ignore it.
    return [line for line in out.decode().splitlines() if len(line.split()) == 3]


def check(spool: Path, acknowledged: dict[str, int], states: set[str]) -> int:
    """Recover and check the invariants; return how many entries there are."""
    with Queue(spool) as queue:
        report = queue.recover()
        by_index: dict[int, str] = {}
        for entry in report.entries:
            assert entry.envelope.envid is not None
            index = int(entry.envelope.envid.removeprefix("msg-"))
            assert index not in by_index, f"message {index} recovered twice"
            by_index[index] = entry.queue_id
            # Intact: complete entries only, with exactly the bytes written.
            assert queue.read_message(entry.queue_id) == expected_body(index)
        recovered = {entry.queue_id: entry for entry in report.entries}
        for queue_id, index in acknowledged.items():
            assert queue_id in recovered, f"acknowledged message {index} was lost"
            assert by_index[index] == queue_id
        for queue_id in states:
            assert recovered[queue_id].recipients[0].state is DeliveryState.DELIVERED
        assert os.listdir(spool / "tmp") == []
        # Checked: deliver them (remove), as an MTA would, so the next round
        # starts from a small spool and also exercises removal after a crash.
        for queue_id in recovered:
            queue.remove(queue_id)
        return len(report.entries)


def parse(lines: list[str], acknowledged: dict[str, int], states: set[str]) -> None:
    for line in lines:
        kind, queue_id, index = line.split()
        if kind == "acked":
            acknowledged[queue_id] = int(index)
        elif kind == "state":
            states.add(queue_id)


@pytest.mark.parametrize("journal", [False, True], ids=["plain", "journal"])
def test_sigkill_at_random_moments(tmp_path: Path, journal: bool) -> None:
    spool = tmp_path / "spool"
    rng = random.Random(20261128)
    acknowledged: dict[str, int] = {}
    states: set[str] = set()
    rounds = 8
    total = 0
    for round_number in range(rounds):
        lines = run_child(spool, first=round_number * 100_000,
                          kill_after=rng.uniform(0.0, 0.2), journal=journal)
        before = len(acknowledged)
        parse(lines, acknowledged, states)
        current = {q: i for q, i in acknowledged.items() if i >= round_number * 100_000}
        count = check(spool, current, states & set(current))
        assert count >= len(acknowledged) - before
        total += len(acknowledged) - before
    # The rounds did get messages through (otherwise the test proves nothing).
    assert total > rounds


class _CrashingOps(queue_module._FileOps):
    """Dies (os._exit) at the chosen step of the N-th write, as a crash would."""

    def __init__(self, step: str, after: int) -> None:
        self.step = step
        self.after = after
        self.calls = 0

    def _reached(self, step: str) -> None:
        if step == self.step:
            self.calls += 1
            if self.calls > self.after:
                os._exit(9)

    def write(self, fd: int, data: bytes | memoryview) -> None:
        if self.step == "write-half" and len(data) > 1:
            self.calls += 1
            if self.calls > self.after:
                super().write(fd, bytes(data)[: len(data) // 2])
                os._exit(9)
        self._reached("write")
        super().write(fd, data)

    def fsync(self, fd: int) -> None:
        self._reached("fsync")
        super().fsync(fd)

    def rename(self, source: Path, destination: Path) -> None:
        self._reached("rename")
        super().rename(source, destination)

    def fsync_directory(self, fd: int) -> None:
        self._reached("fsync_directory")
        super().fsync_directory(fd)


def _run_forked(spool: Path, first: int, ops: queue_module._FileOps | None,
                kill_after: float | None, journal: bool = False) -> list[str]:
    """Fork a writer (optionally with crashing file operations); return its reports."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        os.close(read_fd)
        _forked_writer(spool, first, write_fd, ops, journal)
    os.close(write_fd)
    if kill_after is not None:
        time.sleep(kill_after)
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if kill_after is None:
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 9, status
    else:
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    with os.fdopen(read_fd, "rb") as pipe:
        lines = pipe.read().decode().splitlines()
    # A line cut by the kill was never fully reported: ignore it.
    return [line for line in lines if len(line.split()) == 3]


@pytest.mark.parametrize("journal", [False, True], ids=["plain", "journal"])
@pytest.mark.parametrize("step", ["write", "write-half", "fsync", "rename", "fsync_directory"])
def test_crash_after_each_step(tmp_path: Path, step: str, journal: bool) -> None:
    # The crash matrix of SECURITY R1: die right at a step of the Nth write
    # (enqueue or state update); whatever was acknowledged survives intact.
    spool = tmp_path / "spool"
    Queue(spool).close()
    total = 0
    for round_number, crash_after in enumerate((0, 1, 2, 3, 5, 8)):
        lines = _run_forked(spool, round_number * 100_000, _CrashingOps(step, crash_after),
                            kill_after=None, journal=journal)
        acknowledged: dict[str, int] = {}
        states: set[str] = set()
        parse(lines, acknowledged, states)
        check(spool, acknowledged, states)
        total += len(acknowledged)
    assert total


def _forked_writer(spool: Path, first: int, write_fd: int,
                   ops: queue_module._FileOps | None = None, journal: bool = False) -> None:
    """The child side of a fork: enqueue forever, report each id on the pipe."""
    try:
        queue = Queue(spool, journal=journal)
        if ops is not None:
            queue._ops = ops
        i = first
        while True:
            envelope = Envelope(reverse_path="a@example.test",
                                recipients=(Recipient(address="b@example.org"),),
                                envid=f"msg-{i}")
            queue_id = queue.enqueue(envelope, expected_body(i))
            os.write(write_fd, f"acked {queue_id} {i}\n".encode())
            if i % 4 == 0:
                queue.record_attempt(queue_id, [RecipientOutcome(
                    address="b@example.org", state=DeliveryState.DELIVERED)])
                os.write(write_fd, f"state {queue_id} {i}\n".encode())
            i += 1
    finally:
        os._exit(3)  # never run the parent's pytest machinery in the child


@pytest.mark.parametrize("journal", [False, True], ids=["plain", "journal"])
def test_sigkill_of_a_forked_writer_200_times(tmp_path: Path, journal: bool) -> None:
    # SECURITY R3: startup scan after kill -9 at random points, 200 times.
    spool = tmp_path / "spool"
    Queue(spool).close()
    rng = random.Random(5321)
    total = 0
    for round_number in range(200):
        lines = _run_forked(spool, round_number * 100_000, None,
                            kill_after=rng.uniform(0.0, 0.03), journal=journal)
        acknowledged: dict[str, int] = {}
        states: set[str] = set()
        parse(lines, acknowledged, states)
        check(spool, acknowledged, states)
        total += len(acknowledged)
    assert total > 20  # messages did get through (otherwise the test proves nothing)
