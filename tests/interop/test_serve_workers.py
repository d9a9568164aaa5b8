"""``rfcmail serve --workers``: several processes on the same ports, each with its own queue."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .framework import ProcessManager
from .test_serve import maildir, start_serve, wait_until


def _send(port: int, first: int, count: int) -> list[str]:
    """Send ``count`` messages over one connection; return the ids that got their 250."""
    sent: list[str] = []
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        for number in range(first, first + count):
            ident = f"w-{number}"
            client.sendmail("x@remote.test", ["carol@example.test"],
                            f"Message-ID: <{ident}@test>\r\nSubject: {ident}\r\n\r\n{ident}\r\n".encode())
            sent.append(ident)
    return sent


def _delivered(data: Path) -> list[str]:
    return re.findall(r"Message-ID: <(w-\d+)@test>", b"".join(maildir(data, "carol")).decode())


def _worker_pids(data: Path) -> list[int]:
    """The worker processes serving ``data`` (found in /proc by their command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--worker-index" in argv and str(data).encode() in argv:
            found.append(int(entry.name))
    return found


class _Load:
    """Four clients sending one message per connection until stopped; what got its 250 is kept."""

    def __init__(self, port: int) -> None:
        self.acknowledged: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._port = port
        self._threads = [threading.Thread(target=self._client, args=(n * 100_000,)) for n in range(4)]
        for thread in self._threads:
            thread.start()

    def _client(self, number: int) -> None:
        while not self._stop.is_set():
            number += 1
            try:
                ident = _send(self._port, number, 1)[0]
            except (OSError, smtplib.SMTPException):
                time.sleep(0.01)  # refused or cut: not acknowledged
                continue
            with self._lock:
                self.acknowledged.append(ident)

    def stop(self) -> list[str]:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        return self.acknowledged


def _duplicates(data: Path, label: str, acknowledged: list[str]) -> dict[str, int]:
    """The messages delivered more than once (with their counts); prints the tally."""
    counts: dict[str, int] = {}
    for ident in _delivered(data):
        counts[ident] = counts.get(ident, 0) + 1
    duplicates = {k: v for k, v in counts.items() if v > 1}
    print(f"{label}: {len(acknowledged)} acknowledged, {len(counts)} delivered, duplicates {duplicates}")
    return duplicates


def test_workers_share_the_port_and_deliver_everything(processes: ProcessManager, interop_dir: Path) -> None:
    data = interop_dir / "data"
    process, smtp_port, _ = start_serve(processes, data, "--user", "carol:pw", "--workers", "2")
    wait_until(lambda: "worker 1 ready" in process.log(), what="the worker's ready line")
    assert len(_worker_pids(data)) == 1 and "2 worker processes" in process.log()
    with ThreadPoolExecutor(16) as pool:
        sent = [i for batch in pool.map(lambda n: _send(smtp_port, n * 10, 5), range(16)) for i in batch]
    assert len(sent) == 80
    wait_until(lambda: sorted(_delivered(data)) == sorted(sent), what="all 80 messages delivered once")
    # Both processes took connections (the Maildir names carry the delivering pid).
    names = [p.name for p in (data / "mail" / "carol" / "new").iterdir()]
    pids = {re.search(r"P(\d+)Q", name).group(1) for name in names}  # type: ignore[union-attr]
    assert len(pids) == 2, pids
    process.process.send_signal(signal.SIGTERM)
    assert process.process.wait(30) == 0
    wait_until(lambda: not _worker_pids(data), what="the worker stopped with the parent")


def test_held_mail_of_workers_is_adopted_and_delivered_once(processes: ProcessManager, interop_dir: Path) -> None:
    data = interop_dir / "data"
    process, smtp_port, _ = start_serve(processes, data, "--user", "carol:pw", "--workers", "2", "--hold")
    wait_until(lambda: "worker 1 ready" in process.log(), what="the worker's ready line")
    with ThreadPoolExecutor(12) as pool:
        sent = [i for batch in pool.map(lambda n: _send(smtp_port, n * 10, 3), range(12)) for i in batch]
    assert not _delivered(data)
    process.process.send_signal(signal.SIGTERM)
    assert process.process.wait(30) == 0
    # At shutdown the parent took the worker's queue into the main one.
    assert not list(data.glob("queue-*"))
    assert len(list((data / "queue" / "queue").glob("*.msg"))) == len(sent) == 36
    start_serve(processes, data, "--user", "carol:pw", name="serve-again")
    wait_until(lambda: len(_delivered(data)) >= len(sent), what="the held mail delivered")
    time.sleep(0.5)
    assert sorted(_delivered(data)) == sorted(sent)


def test_sigkill_of_the_parent_stops_the_workers_and_loses_nothing(processes: ProcessManager,
                                                                   interop_dir: Path) -> None:
    data = interop_dir / "data"
    process, smtp_port, _ = start_serve(processes, data, "--user", "carol:pw", "--workers", "2")
    wait_until(lambda: "worker 1 ready" in process.log(), what="the worker's ready line")
    load = _Load(smtp_port)
    time.sleep(1.0)
    os.kill(process.process.pid, signal.SIGKILL)
    process.process.wait(10)
    # Its pipe closed: the worker notices and stops on its own.
    wait_until(lambda: not _worker_pids(data), timeout=30, what="the orphaned worker stopped")
    acknowledged = load.stop()
    assert acknowledged
    start_serve(processes, data, "--user", "carol:pw", name="serve-again")
    wait_until(lambda: set(acknowledged) <= set(_delivered(data)), timeout=30,
               what=f"all {len(acknowledged)} acknowledged messages delivered")
    duplicates = _duplicates(data, "workers crash test", acknowledged)
    # The parent's one local delivery in flight may be repeated; the worker stopped cleanly.
    assert sum(v - 1 for v in duplicates.values()) <= 1, duplicates


def test_a_killed_worker_is_replaced_and_its_queue_delivered(processes: ProcessManager,
                                                            interop_dir: Path) -> None:
    """SIGKILL one worker under load: the parent delivers what it acknowledged and starts another."""
    data = interop_dir / "data"
    process, smtp_port, _ = start_serve(processes, data, "--user", "carol:pw", "--workers", "2")
    wait_until(lambda: "worker 1 ready" in process.log(), what="the worker's ready line")
    (first,) = _worker_pids(data)
    load = _Load(smtp_port)
    time.sleep(1.0)
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: "starting it again" in process.log(), what="the parent noticed")
    wait_until(lambda: [pid for pid in _worker_pids(data) if pid != first], what="a new worker")
    wait_until(lambda: process.log().count("worker 1 ready") == 2, what="the new worker's ready line")
    time.sleep(0.5)
    acknowledged = load.stop()
    assert acknowledged
    # Delivered without a restart of serve: the parent took the dead worker's queue over.
    wait_until(lambda: set(acknowledged) <= set(_delivered(data)), timeout=30,
               what=f"all {len(acknowledged)} acknowledged messages delivered")
    duplicates = _duplicates(data, "killed worker test", acknowledged)
    # At most the local delivery the worker had in flight is made again.
    assert sum(v - 1 for v in duplicates.values()) <= 1, duplicates
    process.process.send_signal(signal.SIGTERM)
    assert process.process.wait(30) == 0
    wait_until(lambda: not _worker_pids(data), what="the new worker stopped with the parent")


def test_a_worker_that_keeps_dying_is_left_stopped(processes: ProcessManager, interop_dir: Path) -> None:
    from rfcmail._serve import RESTART_LIMIT

    data = interop_dir / "data"
    process, smtp_port, _ = start_serve(processes, data, "--user", "carol:pw", "--workers", "2")
    for round_ in range(1, RESTART_LIMIT + 1):
        wait_until(lambda: process.log().count("worker 1 ready") == round_, what=f"worker start {round_}")
        (pid,) = _worker_pids(data)
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: pid not in _worker_pids(data), what="the worker gone")
    wait_until(lambda: "not starting it again" in process.log(), what="the parent giving up")
    time.sleep(0.5)
    assert not _worker_pids(data)
    assert process.log().count("taken over, starting it again") == RESTART_LIMIT - 1
    # The parent serves on alone.
    sent = _send(smtp_port, 0, 3)
    wait_until(lambda: sorted(_delivered(data)) == sorted(sent), what="mail delivered by the parent")
    process.process.send_signal(signal.SIGTERM)
    assert process.process.wait(30) == 0
