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
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(offset: int) -> None:
        number = offset
        while not stop.is_set():
            number += 1
            try:
                ident = _send(smtp_port, number, 1)[0]
            except (OSError, smtplib.SMTPException):
                return
            with lock:
                acknowledged.append(ident)

    senders = [threading.Thread(target=client, args=(n * 100_000,)) for n in range(4)]
    for sender in senders:
        sender.start()
    time.sleep(1.0)
    os.kill(process.process.pid, signal.SIGKILL)
    process.process.wait(10)
    # Its pipe closed: the worker notices and stops on its own.
    wait_until(lambda: not _worker_pids(data), timeout=30, what="the orphaned worker stopped")
    stop.set()
    for sender in senders:
        sender.join(10)
    assert acknowledged
    start_serve(processes, data, "--user", "carol:pw", name="serve-again")
    wait_until(lambda: set(acknowledged) <= set(_delivered(data)), timeout=30,
               what=f"all {len(acknowledged)} acknowledged messages delivered")
    counts: dict[str, int] = {}
    for ident in _delivered(data):
        counts[ident] = counts.get(ident, 0) + 1
    duplicates = {k: v for k, v in counts.items() if v > 1}
    print(f"workers crash test: {len(acknowledged)} acknowledged, {len(counts)} delivered, "
          f"duplicates {duplicates}")
    # The parent's one local delivery in flight may be repeated; the worker stopped cleanly.
    assert sum(v - 1 for v in duplicates.values()) <= 1, duplicates
