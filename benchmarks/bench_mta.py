"""Durable accept rate: the raw fsync/rename ceiling, rfcmail's queue, and aiosmtpd, side by side.

Usage::

    python benchmarks/bench_mta.py            # the sizes docs/performance/mta.rst reports
    python benchmarks/bench_mta.py --quick    # a short run
    python benchmarks/bench_mta.py --dir /var/spool/bench   # measure another disk

What runs, all on the same disk (a fresh directory under ``--dir``), each
writing 10 KiB messages:

* **raw, 1 thread**: write a file, fsync it, rename it into place, fsync the
  directory: the per-message cost of durability, the ceiling.
* **raw, 8 threads**: the same loop in eight threads at once. Both run at
  the start and again after the smtp-source rows (before Postfix and the
  drains), and the eight-thread loop also just before each group of
  smtp-source rows; the ceiling is the best of all these runs.
* **rfcmail queue, sequential**: :meth:`rfcmail.mta.queue.Queue.enqueue` one
  after another (entry framing and checksum on top of the raw loop).
* **rfcmail queue, N threads**: N concurrent enqueuers sharing directory
  fsyncs (group commit); each enqueue still returns only when its own entry
  is durable.
* **rfcmail queue + journal, N threads**: the same with ``journal=True``
  (what ``rfcmail serve`` uses): one ``fdatasync`` of the journal for every
  message waiting at that moment, the entry file written in the background.
* **aiosmtpd, durable handler**: aiosmtpd (if installed) with a handler doing
  the raw durable write in a worker thread (a pool of 32, the size of the
  queue's own) before its 250, driven over
  loopback by a pool of smtplib clients (one connection each, many messages),
  with 8 and with 32 clients.
* **aiosmtpd + rfcmail queue**: the same server with the handler calling
  ``Queue.enqueue_async`` instead, so concurrent sessions share fsyncs.
* **queue drain to a null sink / into Maildir**: the queue's side of
  delivery for each message: load the entry, read the message, deliver it
  (nowhere, or into a Maildir with :mod:`rfcmail.mta.local`: tmp/, fsync,
  link into new/), record the outcome durably, remove the entry
  (sequential and threaded).

* **smtp-source** (Postfix's C load generator, when installed) with 8 and 32
  parallel sessions against the durable aiosmtpd handler and against
  ``rfcmail serve`` (a subprocess with its durable queue, delivering the
  mail to a local Maildir at the same time); afterwards every message must
  be in a Maildir or still in the queue. Every server gets the same load
  ``--repeat`` times (2 by default) while it runs, and its best run counts.
* **rfcmail serve --workers N** (N = the number of CPUs, when above one):
  the same, with N processes on the port (``SO_REUSEPORT``), each with its
  own queue; with and without ``--hold``.
* **Postfix smtp-sink** (when installed), before the ``rfcmail serve`` rows
  at each session count: Postfix's C test server, which answers every
  command and throws each message away. Nothing touches the disk, so its
  rate is about what smtp-source and one SMTP peer can exchange on this
  machine: no durable server can accept faster, whatever the disk.
* **rfcmail SMTP sink**: rfcmail's asyncio SMTP server with a backend that
  discards every message (``bench_smtp.py --serve rfcmail``), under the
  same load: what rfcmail's SMTP layer alone accepts, the most
  ``rfcmail serve`` could reach with a disk that cost nothing.
* **Postfix smtpd** accepting into its own (fsync'ed) queue and delivering to
  Dovecot, started from the test suite's peer setup when Postfix and Dovecot
  are installed, driven by the same smtp-source runs.

The issue's targets (70 % of the raw ceiling, 2x durable aiosmtpd) apply to
``rfcmail serve``; the ratios for it are printed with the others. Rates are
messages per second; ratios are printed last.

The benchmark deletes nothing itself before the end of the run, and the
rows that delete most (the queue drains, and Postfix, whose queue removes
each file once delivered) come after the last ceiling run: on ext4 a file
created within minutes of many deletions nearby costs up to ten times the
CPU (:func:`create_cost` says why), which would slow every row that follows
them, the raw loop included. ``rfcmail serve`` delivering meanwhile deletes
too (the files of entries delivered after they were written, journal
segments), as it would in production; so the cost of creating one file is
printed before every raw loop run and before the drains, and a reader can
tell what state the disk was in for each. Everything stays on disk until the
end: about 20 MiB per row, a few hundred MiB in all.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from rfcmail.mta.queue import (  # noqa: E402
    DeliveryState,
    Envelope,
    Queue,
    QueueEntry,
    Recipient,
    RecipientOutcome,
)

SIZE = 10 * 1024


def make_message(size: int = SIZE) -> bytes:
    head = (b"From: bench@example.test\r\nTo: sink@example.org\r\n"
            b"Subject: durable accept benchmark\r\n\r\n")
    line = b"x" * 76 + b"\r\n"
    body = line * ((size - len(head)) // len(line) + 1)
    return (head + body)[: size - 2] + b"\r\n"


MESSAGE = make_message()
ENVELOPE = Envelope(reverse_path="bench@example.test",
                    recipients=(Recipient(address="sink@example.org"),))


class RawSpool:
    """The raw durable write: tmp file, fsync, rename, fsync of the directory."""

    def __init__(self, directory: Path) -> None:
        self.tmp = directory / "tmp"
        self.new = directory / "new"
        self.tmp.mkdir(parents=True)
        self.new.mkdir()
        self.dir_fd = os.open(self.new, os.O_RDONLY | os.O_DIRECTORY)
        self.counter = 0
        self.lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self.lock:
            self.counter += 1
            name = f"{os.getpid()}.{threading.get_ident()}.{self.counter}"
        temporary = self.tmp / name
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temporary, self.new / name)
        os.fsync(self.dir_fd)

    def close(self) -> None:
        os.close(self.dir_fd)


def run_threads(count: int, threads: int, job: Callable[[], None]) -> float:
    """Run ``job`` ``count`` times spread over ``threads`` threads; return messages/s."""
    per_thread = [count // threads + (1 if i < count % threads else 0) for i in range(threads)]

    def worker(n: int) -> None:
        for _ in range(n):
            job()

    started = time.perf_counter()
    if threads == 1:
        worker(count)
    else:
        pool = [threading.Thread(target=worker, args=(n,)) for n in per_thread]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    return count / (time.perf_counter() - started)


def bench_raw(base: Path, count: int, threads: int) -> float:
    """The raw durable loop in a fresh directory, which stays until the run ends (see create_cost)."""
    directory = Path(tempfile.mkdtemp(prefix=f"raw-{threads}-", dir=base))
    spool = RawSpool(directory)
    try:
        return run_threads(count, threads, lambda: spool.write(MESSAGE))
    finally:
        spool.close()


def create_cost(base: Path, files: int = 500) -> float:
    """Microseconds to create, write (10 KiB) and close one new file in a fresh directory under ``base``.

    Nothing is deleted here: on ext4, creating a file scans past the inodes
    of its block group that were freed in the last one to six minutes
    (``recently_deleted()``, in ``find_inode_bit``, in filesystems without a
    journal, such as this machine's), so one recursive delete of some
    thousand files can make every create of the next minutes cost ten times
    more. The run therefore deletes nothing until its end, the queue drains
    (which remove entries) come last, and this probe is printed at the start
    and before the drains, so that a reader sees what state the disk was in.
    """
    directory = Path(tempfile.mkdtemp(prefix="create-", dir=base))
    started = time.perf_counter()
    for number in range(files):
        fd = os.open(directory / str(number), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, MESSAGE)
        finally:
            os.close(fd)
    return (time.perf_counter() - started) / files * 1e6


def bench_queue(base: Path, count: int, threads: int, journal: bool = False) -> tuple[float, int]:
    """Enqueue rate; the second figure counts directory fsyncs, or journal flushes with ``journal``."""
    with Queue(base / f"queue-{threads}{'-journal' if journal else ''}", journal=journal) as queue:
        def accept() -> None:
            queue.enqueue(ENVELOPE, MESSAGE)

        rate = run_threads(count, threads, accept)
        return rate, queue.journal_flushes if journal else queue.directory_syncs


Deliver = Callable[[QueueEntry, bytes], list[RecipientOutcome]]


def null_sink(entry: QueueEntry, message: bytes) -> list[RecipientOutcome]:
    """Accept every recipient and keep nothing."""
    return [RecipientOutcome(address=status.recipient.address, state=DeliveryState.DELIVERED,
                             reply="250 2.0.0 OK") for status in entry.pending]


def maildir_sink(root: Path) -> Deliver | None:
    """rfcmail.mta.local's Maildir delivery (tmp/, fsync, link into new/), if present."""
    try:
        from rfcmail.mta.local import LocalDelivery
        from rfcmail.store.maildir import MaildirStore
    except ImportError:
        return None
    local = LocalDelivery(MaildirStore(root), hostname="bench.example.test")

    def deliver(entry: QueueEntry, message: bytes) -> list[RecipientOutcome]:
        return local.deliver(entry, entry.pending, message)

    return deliver


def bench_drain(base: Path, name: str, count: int, threads: int,
                deliver: Deliver | None) -> float | None:
    """The queue's side of delivery: load, read, deliver, record the outcome durably, remove."""
    if deliver is None:
        return None
    with Queue(base / f"drain-{name}-{threads}") as queue:
        ids = [queue.enqueue(ENVELOPE, MESSAGE) for _ in range(count)]
        pending = iter(ids)
        lock = threading.Lock()

        def deliver_one() -> None:
            with lock:
                queue_id = next(pending)
            entry = queue.load(queue_id)
            outcomes = deliver(entry, queue.read_message(queue_id))
            if queue.record_attempt(queue_id, outcomes).done:
                queue.remove(queue_id)

        return run_threads(count, threads, deliver_one)


# -- aiosmtpd ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def drive_smtp(port: int, count: int, clients: int) -> float:
    """A pool of smtplib clients, one connection each, sending ``count`` messages in all."""
    per_client = [count // clients + (1 if i < count % clients else 0) for i in range(clients)]
    barrier = threading.Barrier(clients + 1)
    failures: list[str] = []

    def client(n: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            smtp.ehlo("bench.example.test")
            barrier.wait()
            for _ in range(n):
                refused = smtp.sendmail("bench@example.test", ["sink@example.org"], MESSAGE)
                if refused:
                    failures.append(repr(refused))

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client, n) for n in per_client]
        barrier.wait()
        started = time.perf_counter()
        for future in futures:
            future.result()
        elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} messages refused: {failures[:3]}")
    return count / elapsed


def bench_aiosmtpd(base: Path, count: int, clients: int, use_queue: bool) -> float | None:
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        return None
    name = f"aiosmtpd-{'queue' if use_queue else 'raw'}-{clients}"
    raw = None if use_queue else RawSpool(base / name)
    queue = Queue(base / name) if use_queue else None
    writers = ThreadPoolExecutor(32)

    class DurableHandler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            data = envelope.original_content or envelope.content
            if queue is not None:
                await queue.enqueue_async(
                    Envelope(reverse_path=envelope.mail_from,
                             recipients=tuple(Recipient(address=r) for r in envelope.rcpt_tos)),
                    data)
            else:
                assert raw is not None
                # The same number of worker threads as the queue's executor.
                await asyncio.get_running_loop().run_in_executor(writers, raw.write, data)
            return "250 2.0.0 OK: queued"

    port = free_port()
    controller = Controller(DurableHandler(), hostname="127.0.0.1", port=port,
                            data_size_limit=10 * 1024 * 1024)
    controller.start()
    try:
        return drive_smtp(port, count, clients)
    finally:
        controller.stop()
        writers.shutdown()
        if raw is not None:
            raw.close()
        if queue is not None:
            queue.close()


# -- smtp-source (Postfix's C load generator) against aiosmtpd and rfcmail serve ---


#: smtp-source runs per server (``--repeat``); the best counts. The same for
#: every server, so that a moment of noise on a shared machine (other
#: tenants, steal time), which only ever slows a run, favours none of them.
REPEAT = 2


def smtp_source_rate(program: str, port: int, count: int, sessions: int,
                     recipient: str = "sink@bench.test") -> float:
    """Send ``count`` messages of SIZE bytes over ``sessions`` parallel connections, REPEAT times; the best rate."""
    argv = [program, "-d", "-s", str(sessions), "-m", str(count), "-l", str(SIZE),
            "-f", "bench@example.test", "-t", recipient, f"127.0.0.1:{port}"]
    rates = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True, timeout=900,
                                stdin=subprocess.DEVNULL)
        elapsed = time.perf_counter() - started
        if result.returncode != 0 or "fatal" in result.stderr or "error" in result.stderr.lower():
            raise RuntimeError(f"smtp-source failed: {result.stdout}{result.stderr}")
        rates.append(count / elapsed)
    return max(rates)


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def postfix_program(name: str) -> str | None:
    """A Postfix tool (smtp-source, smtp-sink) on PATH or in /usr/sbin, or None."""
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin")


def bench_server_process(argv: list[str], port: int, program: str, count: int, sessions: int,
                         env: dict[str, str] | None = None) -> float:
    """Start the server ``argv`` (listening on ``port``), drive it with smtp-source, stop it.

    The server gets SIGTERM at the end, and SIGKILL if it has not exited
    within a few seconds. Its stderr goes to a temporary file (a pipe nobody
    reads could fill up and stall it) and is shown if it fails to start.
    """
    with tempfile.TemporaryFile() as stderr_file:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=stderr_file, env=env)
        try:
            try:
                wait_for_port(port, process)
            except RuntimeError as exc:
                stderr_file.seek(0)
                detail = stderr_file.read().decode(errors="replace").strip()
                raise RuntimeError(f"{Path(argv[0]).name}: {exc}: {detail}") from None
            return smtp_source_rate(program, port, count, sessions)
        finally:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def bench_postfix_sink(program: str, count: int, sessions: int) -> float | None:
    """Postfix's smtp-sink: accepts everything, keeps nothing; None when not installed."""
    sink = postfix_program("smtp-sink")
    if sink is None:
        return None
    port = free_port()
    # As root smtp-sink must be told whose privileges to switch to once its socket is open.
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    return bench_server_process([sink, *user, f"127.0.0.1:{port}", "256"], port, program, count,
                                sessions)


def bench_rfcmail_sink(program: str, count: int, sessions: int) -> float:
    """rfcmail's asyncio SMTP server with a backend that discards every message (bench_smtp.py)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    argv = [sys.executable, str(HERE / "bench_smtp.py"), "--serve", "rfcmail", "--port", str(port)]
    return bench_server_process(argv, port, program, count, sessions, env=env)


def bench_serve(base: Path, program: str, count: int, sessions: int,
                hold: bool = False, workers: int = 1) -> tuple[float, str]:
    """``rfcmail serve``: durable queue, local Maildir delivery running meanwhile.

    With ``hold`` the server only accepts and queues (``--hold``): the accept
    path alone, the same durable work as the raw loop and the aiosmtpd handler.
    """
    data = base / f"serve-{sessions}{'-hold' if hold else ''}-w{workers}"
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    process = subprocess.Popen(
        [sys.executable, "-m", "rfcmail", "serve", "--data", str(data), "--smtp-port", str(port),
         "--submission-port", "0", "--pop3-port", "0", "--domain", "bench.test",
         "--user", "sink:secret", "--workers", str(workers), *(["--hold"] if hold else [])],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    try:
        wait_for_port(port, process)
        if workers > 1:
            # Every worker must be listening before the load starts.
            time.sleep(1.0 + 0.5 * workers)
        rate = smtp_source_rate(program, port, count, sessions)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    delivered = sum(1 for path in data.rglob("*") if path.is_file() and path.parent.name in
                    ("new", "cur"))
    queued = sum(1 for path in data.rglob("*.msg") if path.parent.name == "queue")
    accounted = delivered + queued
    note = f"({delivered} delivered + {queued} queued at stop)"
    if accounted < count * REPEAT:
        raise RuntimeError(f"rfcmail serve lost mail: {accounted} of {count * REPEAT} {note}")
    return rate, note


def bench_aiosmtpd_source(base: Path, program: str, count: int, sessions: int) -> float | None:
    """The durable aiosmtpd handler, driven by smtp-source instead of smtplib."""
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        return None
    raw = RawSpool(base / f"aiosmtpd-source-{sessions}")
    writers = ThreadPoolExecutor(32)

    class DurableHandler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            data = envelope.original_content or envelope.content
            await asyncio.get_running_loop().run_in_executor(writers, raw.write, data)
            return "250 2.0.0 OK: queued"

    port = free_port()
    controller = Controller(DurableHandler(), hostname="127.0.0.1", port=port,
                            data_size_limit=10 * 1024 * 1024)
    controller.start()
    try:
        return smtp_source_rate(program, port, count, sessions)
    finally:
        controller.stop()
        writers.shutdown()
        raw.close()


def bench_postfix(program: str, count: int, sessions_list: tuple[int, ...]) -> dict[int, float]:
    """Postfix's smtpd accepting into its own queue (fsync'ed), delivering to Dovecot meanwhile.

    Uses the test suite's Dovecot+Postfix setup (tests/interop/realworld.py);
    returns nothing when Postfix, Dovecot or the peer templates are missing.
    """
    sys.path.insert(0, str(HERE.parent))
    try:
        import pytest

        from tests.interop.realworld import start_realworld
    except ImportError:
        return {}
    try:
        world = start_realworld()
    except (pytest.skip.Exception, pytest.fail.Exception, OSError, RuntimeError) as exc:
        print(f"  Postfix could not be started: {exc}")
        return {}
    rates: dict[int, float] = {}
    try:
        port = world.ports["SMTP_PORT"]
        for sessions in sessions_list:
            rates[sessions] = smtp_source_rate(program, port, count, sessions,
                                               recipient="alice@example.test")
    finally:
        world.stop()
        shutil.rmtree(world.root, ignore_errors=True)
    return rates


def main(argv: list[str] | None = None) -> int:
    global REPEAT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--dir", default=None,
                        help="where to write (default: a temp dir beside this repo's benchmarks)")
    parser.add_argument("--threads", type=int, default=8, help="concurrent enqueuers/clients")
    parser.add_argument("--repeat", type=int, default=REPEAT,
                        help="smtp-source runs per server, the best counted (default %(default)s)")
    args = parser.parse_args(argv)
    REPEAT = max(1, args.repeat)
    count = 300 if args.quick else 2000
    base = Path(tempfile.mkdtemp(prefix="bench-mta-", dir=args.dir or tempfile.gettempdir()))
    threads = args.threads
    results: dict[str, float] = {}
    try:
        print(f"durable accept, {SIZE // 1024} KiB messages, {count} per run (smtp-source rows: best of "
              f"{REPEAT} runs), in {base} "
              f"({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})", flush=True)

        def show(name: str, rate: float | None, extra: str = "") -> None:
            if rate is None:
                print(f"  {name:<44} not installed")
                return
            results[name] = rate
            print(f"  {name:<44} {rate:9.0f} msg/s {extra}", flush=True)

        # The disk's speed swings a lot from minute to minute on a shared
        # virtual machine: the raw loops run again before the smtp-source
        # rows and at the end, and the ceiling is the best of all their runs.
        ceilings: list[float] = []

        def show_create_cost(when: str) -> None:
            print(f"  creating a 10 KiB file (no fsync) costs {create_cost(base):.0f} us {when}", flush=True)

        def measure_ceiling(when: str, thread_counts: tuple[int, ...] = (1, threads)) -> None:
            show_create_cost(f"before the raw loop{when}")
            for threads_here in thread_counts:
                rate = bench_raw(base, count, threads_here)
                ceilings.append(rate)
                label = "1 thread" if threads_here == 1 else f"{threads_here} threads"
                show(f"raw fsync+rename loop, {label}{when}", rate)

        measure_ceiling("")
        rate, syncs = bench_queue(base, count, 1)
        show("rfcmail queue, sequential", rate, f"({syncs} dir fsyncs)")
        rate, syncs = bench_queue(base, count, threads)
        show(f"rfcmail queue, {threads} threads (group commit)", rate, f"({syncs} dir fsyncs)")
        rate, syncs = bench_queue(base, count, threads * 4)
        show(f"rfcmail queue, {threads * 4} threads (group commit)", rate,
             f"({syncs} dir fsyncs)")
        for threads_here in (threads, threads * 4):
            rate, flushes = bench_queue(base, count, threads_here, journal=True)
            show(f"rfcmail queue + journal, {threads_here} threads", rate,
                 f"({flushes} journal flushes)")
        for clients in (threads, threads * 4):
            show(f"aiosmtpd, durable handler, {clients} clients",
                 bench_aiosmtpd(base, count, clients, use_queue=False))
            show(f"aiosmtpd + rfcmail queue, {clients} clients",
                 bench_aiosmtpd(base, count, clients, use_queue=True))
        program = postfix_program("smtp-source")
        if program is None:
            print("  smtp-source (Postfix) not installed: no rfcmail serve comparison")
        else:
            for sessions in (threads, threads * 4):
                # The ceiling once more just before the servers it is compared with.
                measure_ceiling(f", before smtp-source x{sessions}", (threads,))
                show(f"aiosmtpd, durable handler, smtp-source x{sessions}",
                     bench_aiosmtpd_source(base, program, count, sessions))
                # CPU references: the same load against servers that store nothing.
                show(f"Postfix smtp-sink (C, nothing stored), smtp-source x{sessions}",
                     bench_postfix_sink(program, count, sessions))
                show(f"rfcmail SMTP sink (nothing stored), smtp-source x{sessions}",
                     bench_rfcmail_sink(program, count, sessions))
                rate, note = bench_serve(base, program, count, sessions)
                show(f"rfcmail serve, smtp-source x{sessions}", rate, note)
                rate, note = bench_serve(base, program, count, sessions, hold=True)
                show(f"rfcmail serve --hold (accept only), smtp-source x{sessions}", rate, note)
                workers = os.cpu_count() or 1
                if workers > 1:
                    rate, note = bench_serve(base, program, count, sessions, workers=workers)
                    show(f"rfcmail serve --workers {workers}, smtp-source x{sessions}", rate, note)
                    rate, note = bench_serve(base, program, count, sessions, hold=True, workers=workers)
                    show(f"rfcmail serve --workers {workers} --hold, smtp-source x{sessions}", rate, note)
        measure_ceiling(", again at the end")
        if program is not None:
            # Postfix deletes each queue file once delivered: after the ceiling, like the drains.
            postfix = bench_postfix(program, count, (threads, threads * 4))
            for sessions, rate in postfix.items():
                show(f"Postfix smtpd (own queue), smtp-source x{sessions}", rate)
        show_create_cost("before the drains")
        for threads_here in (1, threads):
            label = "sequential" if threads_here == 1 else f"{threads_here} threads"
            show(f"queue drain to a null sink, {label}",
                 bench_drain(base, "null", count, threads_here, null_sink))
            show(f"queue drain into Maildir, {label}",
                 bench_drain(base, "maildir", count, threads_here,
                             maildir_sink(base / f"maildir-{threads_here}")))
    finally:
        shutil.rmtree(base, ignore_errors=True)

    ceiling = max(ceilings)
    print(f"ratios (against the best raw loop of the run as the ceiling: {ceiling:.0f} msg/s):")
    for name, rate in results.items():
        if not name.startswith(("raw", "queue drain")):
            print(f"  ratio {name}: {rate / ceiling:.2f} of raw ceiling")
    for sessions in (threads, threads * 4):
        durable = results.get(f"aiosmtpd, durable handler, smtp-source x{sessions}")
        serve = results.get(f"rfcmail serve, smtp-source x{sessions}")
        postfix_rate = results.get(f"Postfix smtpd (own queue), smtp-source x{sessions}")
        postfix_sink = results.get(f"Postfix smtp-sink (C, nothing stored), smtp-source x{sessions}")
        rfcmail_sink = results.get(f"rfcmail SMTP sink (nothing stored), smtp-source x{sessions}")
        if serve and postfix_rate:
            print(f"  ratio rfcmail serve vs Postfix (smtp-source x{sessions}): "
                  f"{serve / postfix_rate:.2f}x")
        workers = os.cpu_count() or 1
        for label, key in (("rfcmail serve", "rfcmail serve"),
                           ("rfcmail serve --hold", "rfcmail serve --hold (accept only)"),
                           (f"rfcmail serve --workers {workers}", f"rfcmail serve --workers {workers}"),
                           (f"rfcmail serve --workers {workers} --hold",
                            f"rfcmail serve --workers {workers} --hold")):
            measured = results.get(f"{key}, smtp-source x{sessions}")
            if durable and measured:
                print(f"  ratio {label} vs durable aiosmtpd (smtp-source x{sessions}): "
                      f"{measured / durable:.2f}x (target 2x)")
                print(f"  ratio {label} (smtp-source x{sessions}) vs raw ceiling: "
                      f"{measured / ceiling:.2f} (target 0.70)")
            if rfcmail_sink and measured:
                print(f"  ratio {label} (smtp-source x{sessions}) vs rfcmail SMTP sink: "
                      f"{measured / rfcmail_sink:.2f} of the no-disk rfcmail sink")
        target = 0.70 * ceiling
        if postfix_sink:
            print(f"  bound for a durable server (smtp-source x{sessions}): min(raw ceiling, Postfix "
                  f"smtp-sink) = {min(ceiling, postfix_sink):.0f} msg/s; 0.70 of the raw ceiling = "
                  f"{target:.0f} msg/s")
        elif rfcmail_sink:
            print(f"  bound for a durable server (smtp-source x{sessions}): raw ceiling = {ceiling:.0f} "
                  f"msg/s (Postfix smtp-sink not installed); 0.70 of the raw ceiling = {target:.0f} msg/s")
        if rfcmail_sink and target > rfcmail_sink:
            print(f"  at this ceiling the 0.70 target ({target:.0f} msg/s) is above what rfcmail's SMTP "
                  f"layer accepts with nothing stored ({rfcmail_sink:.0f} msg/s, smtp-source x{sessions})")
    for clients in (threads, threads * 4):
        durable_aiosmtpd = results.get(f"aiosmtpd, durable handler, {clients} clients")
        if durable_aiosmtpd:
            for name in (f"rfcmail queue, {clients} threads (group commit)",
                         f"aiosmtpd + rfcmail queue, {clients} clients"):
                print(f"  ratio {name} vs durable aiosmtpd ({clients} clients): "
                      f"{results[name] / durable_aiosmtpd:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
