"""Crash safety of the queue: SIGKILL at random moments, and a crash after every step (R1, R3).

A child process enqueues messages and prints each queue id as soon as
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

from rfcmail.mta.queue import DeliveryState, Queue

CHILD = r"""
import hashlib, os, sys
from rfcmail.mta import queue as qm
from rfcmail.mta.queue import Envelope, Queue, Recipient, RecipientOutcome, DeliveryState

spool, first, crash_step, crash_after = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])

class CrashingOps(qm._FileOps):
    calls = 0
    def _step(self, name):
        if name == crash_step:
            CrashingOps.calls += 1
            if CrashingOps.calls > crash_after:
                os._exit(9)   # dies in the middle, like a power cut for the process
    def write(self, fd, data):
        if crash_step == "write-half" and len(data) > 1:
            CrashingOps.calls += 1
            if CrashingOps.calls > crash_after:
                super().write(fd, bytes(data)[: len(data) // 2])
                os._exit(9)
        self._step("write"); super().write(fd, data)
    def fsync(self, fd):
        self._step("fsync"); super().fsync(fd)
    def rename(self, source, destination):
        self._step("rename"); super().rename(source, destination)
    def fsync_directory(self, fd):
        self._step("fsync_directory"); super().fsync_directory(fd)

def body(i):
    size = 200 + (i * 7919) % 150_000
    seed = hashlib.sha256(str(i).encode()).digest()
    return (seed * (size // 32 + 1))[:size]

queue = Queue(spool)
if crash_step != "none":
    queue._ops = CrashingOps()
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


def run_child(spool: Path, first: int, kill_after: float | None, crash_step: str = "none",
              crash_after: int = 0) -> list[str]:
    """Run the child until it is killed (or crashes by itself); return its output lines."""
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(spool), str(first), crash_step, str(crash_after)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    ready = process.stdout.readline()
    assert ready == b"ready\n", process.stderr.read() if process.stderr else b""
    if kill_after is not None:
        time.sleep(kill_after)
        os.kill(process.pid, signal.SIGKILL)
    try:
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
    if kill_after is None:
        assert process.returncode == 9, err.decode()
    else:
        assert process.returncode in (-signal.SIGKILL, 9), err.decode()
    return out.decode().splitlines()


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


def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    rng = random.Random(20261128)
    acknowledged: dict[str, int] = {}
    states: set[str] = set()
    rounds = 30
    total = 0
    for round_number in range(rounds):
        lines = run_child(spool, first=round_number * 100_000,
                          kill_after=rng.uniform(0.0, 0.2))
        before = len(acknowledged)
        parse(lines, acknowledged, states)
        current = {q: i for q, i in acknowledged.items() if i >= round_number * 100_000}
        count = check(spool, current, states & set(current))
        assert count >= len(acknowledged) - before
        total += len(acknowledged) - before
    # The rounds did get messages through (otherwise the test proves nothing).
    assert total > rounds


@pytest.mark.parametrize("step", ["write", "write-half", "fsync", "rename", "fsync_directory"])
def test_crash_after_each_step(tmp_path: Path, step: str) -> None:
    # The crash matrix of SECURITY R1: die right at a step of the Nth write
    # (enqueue or state update); whatever was acknowledged survives intact.
    spool = tmp_path / "spool"
    acknowledged: dict[str, int] = {}
    states: set[str] = set()
    total = 0
    for round_number, crash_after in enumerate((0, 1, 3, 6)):
        lines = run_child(spool, first=round_number * 100_000, kill_after=None,
                          crash_step=step, crash_after=crash_after)
        acknowledged.clear()
        states.clear()
        parse(lines, acknowledged, states)
        check(spool, acknowledged, states)
        total += len(acknowledged)
    assert total
