"""SMTP benchmark: rfcmail's servers and clients side by side with aiosmtpd, aiosmtplib and smtplib.

Run it standalone::

    python benchmarks/bench_smtp.py            # the sizes docs/performance/smtp.rst reports
    python benchmarks/bench_smtp.py --quick    # a short run (about a minute)

Server side: every server runs in its own subprocess (this script started
again with ``--serve KIND --port PORT``), so its CPU time (``/proc/PID/stat``)
and peak RSS (``VmHWM``) are its own. The same load goes to each:

* ``rfcmail`` -- :class:`rfcmail.aio.smtp.SMTPServer` with a backend that
  discards every chunk;
* ``aiosmtpd`` -- aiosmtpd's ``SMTP`` protocol with a handler that returns
  ``250`` from ``handle_DATA``;
* ``minimal`` -- the ceiling: an asyncio Protocol written here that answers
  each command with a canned reply and frames DATA at CRLF.CRLF correctly,
  and nothing else.

The load comes from Postfix's C load generator ``smtp-source`` when it is
installed (``-s`` parallel sessions, ``-d`` to reuse each connection), else
from a pool of raw asyncio clients in this script. Then each server gets 1000
idle connections (RSS per idle connection) and one 100 MB message streamed
through while its RSS is sampled.

Client side: one ``minimal`` responder in a subprocess is the sink; rfcmail's
asyncio client (PIPELINING on), rfcmail's blocking client, aiosmtplib and
smtplib each send the same 10 KiB messages over one connection; the figure is
messages per second and CPU of this process per message, the best of three
runs (the machine is shared; the least disturbed run is the fairest).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
if SRC.is_dir() and str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVERS = ("rfcmail", "aiosmtpd", "minimal")


# --------------------------------------------------------------------------- servers


class MinimalResponder(asyncio.Protocol):
    """The ceiling: canned replies, and DATA framed at CRLF.CRLF (a dot line after 354 ends it too)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.in_data = False
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 minimal ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies = bytearray()
        while True:
            if self.in_data:
                # The terminator may straddle reads: search from the last four octets seen.
                data = self.tail + bytes(self.buffer)
                position = data.find(b"\r\n.\r\n")
                if position == -1:
                    self.tail = data[-4:]
                    self.buffer.clear()
                    break
                end = position + 5 - len(self.tail)
                del self.buffer[:end]
                self.in_data = False
                self.tail = b""
                replies += b"250 2.0.0 Ok: queued\r\n"
                continue
            position = self.buffer.find(b"\r\n")
            if position == -1:
                if len(self.buffer) > 4096:
                    self.buffer.clear()
                    replies += b"500 5.5.2 Line too long\r\n"
                break
            line = bytes(self.buffer[:position]).upper()
            del self.buffer[:position + 2]
            verb = line[:4]
            if verb == b"EHLO":
                replies += b"250-minimal\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 209715200\r\n"
            elif verb == b"DATA":
                replies += b"354 End data with <CR><LF>.<CR><LF>\r\n"
                self.in_data = True
                # A dot line right after DATA ends an empty message: pretend a CRLF came before.
                self.tail = b"\r\n"
            elif verb == b"QUIT":
                replies += b"221 2.0.0 Bye\r\n"
                assert self.transport is not None
                self.transport.write(bytes(replies))
                self.transport.close()
                return
            else:
                replies += b"250 2.0.0 Ok\r\n"
        if replies and self.transport is not None:
            self.transport.write(bytes(replies))


async def _serve(kind: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    if kind == "minimal":
        server = await loop.create_server(MinimalResponder, "127.0.0.1", port, backlog=2048)
        async with server:
            await server.serve_forever()
    elif kind == "aiosmtpd":
        from aiosmtpd.smtp import SMTP as AiosmtpdSMTP

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                return "250 2.0.0 Ok"

        handler = Handler()
        server = await loop.create_server(
            lambda: AiosmtpdSMTP(handler, data_size_limit=300 * 1024 * 1024, hostname="aiosmtpd"),
            "127.0.0.1", port, backlog=2048)
        async with server:
            await server.serve_forever()
    elif kind == "rfcmail":
        from rfcmail.aio.smtp import ServerSettings, SMTPServer
        from rfcmail.smtp import Config
        from rfcmail.limits import DEFAULT_LIMITS
        from rfcmail.testing import DiscardBackend

        rfc_server = SMTPServer(
            DiscardBackend(),
            config=Config(hostname="rfcmail", limits=DEFAULT_LIMITS.clone(max_message_size=300 * 1024 * 1024)),
            settings=ServerSettings(max_connections=5000, max_connections_per_ip=5000),
        )
        await rfc_server.listen("127.0.0.1", port, backlog=2048)
        await rfc_server.serve_forever()
    else:
        raise SystemExit(f"unknown server kind {kind!r}")


# --------------------------------------------------------------------------- measuring a process


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def wait_listening(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                probe.recv(512)
                probe.sendall(b"QUIT\r\n")
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"server on port {port} did not start")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    kind: str
    port: int
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, kind: str) -> ServerProcess:
        port = free_port()
        process = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port)],
                                   stdin=subprocess.DEVNULL)
        try:
            wait_listening(port)
        except BaseException:
            process.kill()
            process.wait()
            raise
        return cls(kind, port, process)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def rss_kib(self) -> int:
        return status_kib(self.process.pid, "VmRSS")

    def peak_kib(self) -> int:
        return status_kib(self.process.pid, "VmHWM")


# --------------------------------------------------------------------------- load


def message_bytes(size: int) -> bytes:
    """A message of about ``size`` octets: a short header, then 76-character lines."""
    header = b"From: bench@example.test\r\nTo: sink@example.test\r\nSubject: bench\r\n\r\n"
    line = b"x" * 76 + b"\r\n"
    lines = max(1, (size - len(header)) // len(line))
    return header + line * lines


async def _raw_client(port: int, count: int, body: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readline()
    writer.write(b"EHLO load.example\r\n")
    while True:
        line = await reader.readline()
        if line[3:4] != b"-":
            break
    for _ in range(count):
        for command in (b"MAIL FROM:<a@example.test>\r\n", b"RCPT TO:<b@example.test>\r\n", b"DATA\r\n"):
            writer.write(command)
            reply = await reader.readline()
            if reply[:1] not in (b"2", b"3"):
                raise RuntimeError(f"load client: {command!r} -> {reply!r}")
        writer.write(body)
        writer.write(b".\r\n")
        reply = await reader.readline()
        if reply[:1] != b"2":
            raise RuntimeError(f"load client: end of data -> {reply!r}")
    writer.write(b"QUIT\r\n")
    await reader.readline()
    writer.close()


def run_load(port: int, sessions: int, per_session: int, size: int) -> None:
    """Send sessions x per_session messages of ``size`` octets to ``port``."""
    source = shutil.which("smtp-source", path=os.environ.get("PATH", "") + ":/usr/sbin")
    if source:
        subprocess.run([source, "-s", str(sessions), "-m", str(sessions * per_session), "-d",
                        "-l", str(size), "-M", "load.example", "-f", "a@example.test",
                        "-t", "b@example.test", f"127.0.0.1:{port}"],
                       check=True, stdin=subprocess.DEVNULL)
        return
    body = message_bytes(size)

    async def pool() -> None:
        await asyncio.gather(*(_raw_client(port, per_session, body) for _ in range(sessions)))

    asyncio.run(pool())


@dataclass
class ServerFigures:
    kind: str
    size: int
    messages: int
    seconds: float
    cpu: float
    peak_kib: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def megabytes(self) -> float:
        return self.messages * self.size / self.seconds / 1e6

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.messages * 1e6


def bench_server_throughput(kind: str, size: int, sessions: int, per_session: int) -> ServerFigures:
    server = ServerProcess.start(kind)
    try:
        run_load(server.port, sessions, max(1, per_session // 10), size)  # warm-up
        cpu_before = server.cpu()
        started = time.perf_counter()
        run_load(server.port, sessions, per_session, size)
        seconds = time.perf_counter() - started
        cpu = server.cpu() - cpu_before
        return ServerFigures(kind, size, sessions * per_session, seconds, cpu, server.peak_kib())
    finally:
        server.stop()


def bench_idle_connections(kind: str, count: int) -> float:
    """KiB of server RSS per idle connection (greeted, nothing sent)."""
    server = ServerProcess.start(kind)
    sockets: list[socket.socket] = []
    try:
        time.sleep(0.2)
        before = server.rss_kib()
        for _ in range(count):
            connection = socket.create_connection(("127.0.0.1", server.port))
            sockets.append(connection)
        for connection in sockets:
            connection.settimeout(10)
            connection.recv(512)
        time.sleep(0.5)
        after = server.rss_kib()
        return (after - before) / count
    finally:
        for connection in sockets:
            connection.close()
        server.stop()


def bench_big_message(kind: str, megabytes: int) -> tuple[int, int, float, float]:
    """Stream one ``megabytes`` MB message; return (baseline KiB, peak KiB during, seconds, server CPU seconds)."""
    server = ServerProcess.start(kind)
    try:
        time.sleep(0.2)
        baseline = server.rss_kib()
        peak = baseline
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                try:
                    peak = max(peak, server.rss_kib())
                except (FileNotFoundError, KeyError):
                    return
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        cpu_before = server.cpu()
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", server.port)) as connection:
            stream = connection.makefile("rb")
            stream.readline()
            connection.sendall(b"EHLO big.example\r\n")
            while stream.readline()[3:4] == b"-":
                pass
            connection.sendall(b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")
            replies = [stream.readline() for _ in range(3)]
            if not replies[2].startswith(b"354"):
                raise RuntimeError(f"{kind}: DATA refused: {replies!r}")
            block = (b"y" * 998 + b"\r\n") * 64
            remaining = megabytes * 1_000_000
            while remaining > 0:
                connection.sendall(block)
                remaining -= len(block)
            connection.sendall(b".\r\n")
            final = stream.readline()
            if not final.startswith(b"250"):
                raise RuntimeError(f"{kind}: big message refused: {final!r}")
            connection.sendall(b"QUIT\r\n")
            stream.readline()
        seconds = time.perf_counter() - started
        cpu = server.cpu() - cpu_before
        done.set()
        sampler.join()
        peak = max(peak, server.peak_kib())
        return baseline, peak, seconds, cpu
    finally:
        server.stop()


# --------------------------------------------------------------------------- clients


@dataclass
class ClientFigures:
    name: str
    messages: int
    seconds: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.messages * 1e6


def _timed(name: str, count: int, body: Callable[[], None]) -> ClientFigures:
    cpu = time.process_time()
    started = time.perf_counter()
    body()
    return ClientFigures(name, count, time.perf_counter() - started, time.process_time() - cpu)


def client_smtplib(port: int, count: int, message: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.ehlo("bench.example")
        for _ in range(count):
            client.sendmail("a@example.test", ["b@example.test"], message)


def client_aiosmtplib(port: int, count: int, message: bytes) -> None:
    import aiosmtplib

    async def run() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await client.connect()
        for _ in range(count):
            await client.sendmail("a@example.test", ["b@example.test"], message)
        await client.quit()

    asyncio.run(run())


def client_rfcmail_aio(port: int, count: int, message: bytes) -> None:
    from rfcmail.aio.smtp import SMTPClient

    async def run() -> None:
        async with SMTPClient("127.0.0.1", port, local_hostname="bench.example") as client:
            for _ in range(count):
                await client.send_message(message, "a@example.test", ["b@example.test"])

    asyncio.run(run())


def client_rfcmail_blocking(port: int, count: int, message: bytes) -> None:
    from rfcmail.blocking.smtp import SMTPClient

    with SMTPClient("127.0.0.1", port, local_hostname="bench.example") as client:
        for _ in range(count):
            client.send_message(message, "a@example.test", ["b@example.test"])


CLIENTS: dict[str, Callable[[int, int, bytes], None]] = {
    "rfcmail-aio": client_rfcmail_aio,
    "rfcmail-blocking": client_rfcmail_blocking,
    "aiosmtplib": client_aiosmtplib,
    "smtplib": client_smtplib,
}


# --------------------------------------------------------------------------- where the time goes


def smtp_source_transcript(size: int, messages: int) -> list[bytes]:
    """The client side of an smtp-source session (no pipelining), one piece per write."""
    body = message_bytes(size)
    pieces = [b"EHLO load.example\r\n"]
    for _ in range(messages):
        pieces += [b"MAIL FROM:<a@example.test>\r\n", b"RCPT TO:<b@example.test>\r\n", b"DATA\r\n"]
        pieces += [body[i:i + 65536] for i in range(0, len(body), 65536)]
        pieces.append(b".\r\n")
    return pieces


def breakdown(size: int, messages: int) -> tuple[float, float]:
    """CPU microseconds per message without sockets: (the machine alone, the machine and the adapter's driver).

    The machine alone answers every command with ``default_reply``; the
    driver runs the same conversation through the server adapter's logic and
    rfcmail.testing.DiscardBackend. Neither includes asyncio or system calls.
    """
    from rfcmail.blocking.smtp import _ServerDriver
    from rfcmail.limits import DEFAULT_LIMITS
    from rfcmail.smtp import NEED_DATA, PAUSED, SERVER, Config, Connection, Event, MessageChunk, PeerInfo
    from rfcmail.testing import DiscardBackend

    config = Config(hostname="bench", limits=DEFAULT_LIMITS.clone(max_message_size=300 * 1024 * 1024))
    pieces = smtp_source_transcript(size, messages)

    def machine_only() -> None:
        conn = Connection(SERVER, config)
        conn.send(conn.greeting())
        for piece in pieces:
            conn.receive_data(piece)
            while True:
                event = conn.next_event()
                if event is NEED_DATA or event is PAUSED:
                    break
                if not isinstance(event, MessageChunk):
                    assert isinstance(event, Event)
                    conn.send(conn.default_reply(event))

    def with_driver() -> None:
        driver = _ServerDriver(DiscardBackend(), config, None, PeerInfo(), implicit_tls=False)
        for _ in driver.open():
            pass
        conn = driver.conn
        for piece in pieces:
            conn.receive_data(piece)
            while True:
                event = conn.next_event()
                if event is NEED_DATA or event is PAUSED:
                    break
                assert isinstance(event, Event)
                for _ in driver.handle(event):
                    pass
            driver.outbox.clear()

    figures = []
    for run in (machine_only, with_driver):
        best = min(_cpu_of(run) for _ in range(3))
        figures.append(best / messages * 1e6)
    return figures[0], figures[1]


def _cpu_of(function: Callable[[], None]) -> float:
    started = time.process_time()
    function()
    return time.process_time() - started


# --------------------------------------------------------------------------- report


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}x" if denominator else "n/a"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run")
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=("server", "client", "memory", "breakdown"), action="append",
                        help="run only these parts (repeatable)")
    args = parser.parse_args(argv)
    if args.serve:
        try:
            asyncio.run(_serve(args.serve, args.port))
        except KeyboardInterrupt:
            pass
        return 0
    parts = set(args.only or ("server", "client", "memory", "breakdown"))
    sessions = 4
    small_per_session = 250 if args.quick else 1500
    big_per_session = 10 if args.quick else 50
    idle = 200 if args.quick else 1000
    stream_mb = 20 if args.quick else 100
    client_count = 500 if args.quick else 3000
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; load: "
          f"{'smtp-source' if shutil.which('smtp-source', path=os.environ.get('PATH', '') + ':/usr/sbin') else 'asyncio raw clients'}, "
          f"{sessions} sessions")

    if "server" in parts:
        for size, per_session in ((10 * 1024, small_per_session), (1024 * 1024, big_per_session)):
            print(f"\n== server: {sessions * per_session} messages of {size // 1024} KiB ==")
            print(f"{'server':10} {'msg/s':>9} {'MB/s':>8} {'CPU us/msg':>11} {'peak RSS MiB':>13}")
            figures: dict[str, ServerFigures] = {}
            for kind in SERVERS:
                try:
                    measured = bench_server_throughput(kind, size, sessions, per_session)
                except Exception as error:  # a missing peer is reported, not fatal
                    print(f"{kind:10} failed: {error}")
                    continue
                figures[kind] = measured
                print(f"{kind:10} {measured.rate:9.0f} {measured.megabytes:8.1f} {measured.cpu_us:11.0f} "
                      f"{measured.peak_kib / 1024:13.1f}")
            if "rfcmail" in figures:
                ours = figures["rfcmail"]
                for peer in ("aiosmtpd", "minimal"):
                    if peer in figures:
                        print(f"ratio rfcmail/{peer} {size // 1024} KiB: messages/s "
                              f"{ratio(ours.rate, figures[peer].rate)}, MB/s "
                              f"{ratio(ours.megabytes, figures[peer].megabytes)}, CPU/msg "
                              f"{ratio(ours.cpu_us, figures[peer].cpu_us)}")

    if "memory" in parts:
        print(f"\n== server memory: {idle} idle connections, one {stream_mb} MB message ==")
        print(f"{'server':10} {'KiB/idle conn':>14} {'base MiB':>9} {'peak MiB':>9} {'growth MiB':>11} {'MB/s':>7}"
              f" {'CPU ms/MB':>10}")
        for kind in SERVERS:
            try:
                per_connection = bench_idle_connections(kind, idle)
                baseline, peak, seconds, cpu = bench_big_message(kind, stream_mb)
            except Exception as error:
                print(f"{kind:10} failed: {error}")
                continue
            print(f"{kind:10} {per_connection:14.1f} {baseline / 1024:9.1f} {peak / 1024:9.1f} "
                  f"{(peak - baseline) / 1024:11.1f} {stream_mb / seconds:7.1f} {cpu * 1000 / stream_mb:10.1f}")

    if "breakdown" in parts:
        print("\n== server CPU per message without sockets or asyncio (best of 3) ==")
        print(f"{'size':>8} {'machine us':>11} {'+ driver us':>12} {'driver share':>13}")
        for size, count in ((10 * 1024, 300 if args.quick else 2000), (1024 * 1024, 5 if args.quick else 40)):
            machine, driven = breakdown(size, count)
            print(f"{size // 1024:>5} KiB {machine:11.0f} {driven:12.0f} {(driven - machine) / driven:12.0%}")

    if "client" in parts:
        message = message_bytes(10 * 1024)
        print(f"\n== clients: {client_count} messages of 10 KiB over one connection to the minimal sink ==")
        print(f"{'client':17} {'msg/s':>9} {'CPU us/msg':>11}")
        sink = ServerProcess.start("minimal")
        results: dict[str, ClientFigures] = {}
        try:
            for name, client in CLIENTS.items():
                try:
                    client(sink.port, max(1, client_count // 10), message)  # warm-up
                    # Best of three: the machine is shared, and the best run is the least disturbed.
                    runs = [_timed(name, client_count, lambda: client(sink.port, client_count, message))
                            for _ in range(3)]
                    best = min(runs, key=lambda run: run.seconds)
                except Exception as error:
                    print(f"{name:17} failed: {error!r}")
                    continue
                results[name] = best
                print(f"{name:17} {best.rate:9.0f} {best.cpu_us:11.0f}")
        finally:
            sink.stop()
        for client_name in ("rfcmail-aio", "rfcmail-blocking"):
            for peer in ("aiosmtplib", "smtplib"):
                if client_name in results and peer in results:
                    print(f"ratio {client_name}/{peer}: messages/s {ratio(results[client_name].rate, results[peer].rate)}, "
                          f"CPU/msg {ratio(results[client_name].cpu_us, results[peer].cpu_us)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
