"""``rfcmail serve`` and ``rfcmail send``: the command-line front ends of the MTA.

``serve`` runs :class:`rfcmail.mta.service.MTA` with its embedded defaults:
on 127.0.0.1, an inbound SMTP server (port 2525), a submission server (port
2587, AUTH required, STARTTLS with a self-signed certificate created on the
first run), a POP3 server over the same mailboxes (port 2110, STLS), Maildir delivery under ``./rfcmail-data/mail``, a demo user whose
password is created once and printed at every start, and the queue with MX
(or smart host) delivery for remote domains. SIGINT and SIGTERM stop it
cleanly; queued mail stays in ``./rfcmail-data/queue`` for the next start.

``send`` submits a message file (or one made from options) through a given
server, or straight to the recipients' MX hosts, with a progress bar for
large messages on a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import secrets
import signal
import socket
import sys
import time
from pathlib import Path
from typing import BinaryIO

from ._tls import TLSMode, client_context, ensure_self_signed, server_context
from .errors import RfcmailError

__all__ = ["add_send_command", "add_serve_command"]

_DEMO_USER = "demo"


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, default_port


def _user(text: str) -> tuple[str, str]:
    name, colon, password = text.partition(":")
    if not colon or not name or not password:
        raise argparse.ArgumentTypeError("expected NAME:PASSWORD")
    return name, password


def add_serve_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``rfcmail serve``."""
    serve = commands.add_parser("serve", help="run the MTA: SMTP in, submission, queue, Maildir, delivery")
    serve.add_argument("--data", type=Path, default=Path("rfcmail-data"),
                       help="data directory (queue, mailboxes, TLS files); default ./rfcmail-data")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--hostname", default=None, help="our name in greetings and Received fields")
    serve.add_argument("--smtp-port", type=int, default=2525, help="inbound SMTP port (default 2525)")
    serve.add_argument("--submission-port", type=int, default=2587,
                       help="submission port, AUTH required (default 2587; 0 turns it off)")
    serve.add_argument("--pop3-port", type=int, default=2110,
                       help="POP3 port for the local Maildirs, STLS offered (default 2110; 0 turns it off)")
    serve.add_argument("--domain", action="append", default=[],
                       help="a local domain (repeatable; default localhost)")
    serve.add_argument("--user", action="append", type=_user, default=[],
                       help="a local user NAME:PASSWORD (repeatable; default: a demo user)")
    serve.add_argument("--relay-network", action="append", default=[],
                       help="a client network (CIDR) allowed to relay without AUTH (repeatable)")
    serve.add_argument("--smart-host", default=None, help="send all remote mail through HOST:PORT")
    serve.add_argument("--smart-host-auth", type=_user, default=None, help="USER:PASSWORD for the smart host")
    serve.add_argument("--nameserver", default=None, help="DNS server HOST:PORT for MX lookups")
    serve.add_argument("--delivery-port", type=int, default=25, help="SMTP port of MX hosts (default 25)")
    serve.add_argument("--allow-network", action="append", default=[],
                       help="let MX delivery connect to this network although it is private (repeatable)")
    serve.add_argument("--tls-cert", default=None, help="certificate chain (PEM); default: self-signed")
    serve.add_argument("--tls-key", default=None, help="private key (PEM)")
    serve.add_argument("--retry-first", type=float, default=None, help="seconds before the first retry")
    serve.add_argument("--hold", action="store_true",
                       help="accept and queue mail but deliver nothing until started without --hold")
    serve.add_argument("--workers", type=int, default=1,
                       help="processes accepting SMTP on the same ports, each with its own queue "
                            "and deliveries (default 1; one per core makes use of them all)")
    serve.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    serve.add_argument("--listen-fds", default=None, help=argparse.SUPPRESS)
    serve.set_defaults(func=_serve)


def _demo_password(data: Path) -> str:
    path = data / "demo-password"
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(12)
    path.write_text(password + "\n")
    path.chmod(0o600)
    return password


def _serve(args: argparse.Namespace) -> int:
    from .mta.delivery import SmartHost
    from .mta.schedule import DEFAULT_RETRY_POLICY
    from .mta.service import MTA, MTAConfig
    from .mx import MXConfig

    data: Path = args.data
    data.mkdir(parents=True, exist_ok=True)
    hostname = args.hostname or (socket.getfqdn() if args.host not in ("127.0.0.1", "::1") else "localhost")
    domains = tuple(args.domain) or ("localhost",)
    users = dict(args.user)
    demo: tuple[str, str] | None = None
    if not users:
        demo = (_DEMO_USER, _demo_password(data))
        users = dict([demo])
    tls_dir = data / "tls"
    tls_dir.mkdir(exist_ok=True)
    cert, key = args.tls_cert, args.tls_key
    if cert is None:
        cert, key = str(tls_dir / "cert.pem"), str(tls_dir / "key.pem")
        ensure_self_signed(cert, key, hostname)
    context = server_context(cert, key)
    smart = None
    resolver = None
    if args.smart_host:
        host, port = _host_port(args.smart_host, 25)
        username, password = args.smart_host_auth or (None, None)
        smart = SmartHost(host=host, port=port, username=username, password=password)
    else:
        try:
            from .dns import AsyncDNSResolver, parse_nameserver
        except ImportError:
            print("rfcmail: dnspython is not installed (pip install 'rfcmail[dns]'): remote mail "
                  "stays queued until a --smart-host is given", file=sys.stderr)
        else:
            if args.nameserver:
                ns_host, ns_port = parse_nameserver(args.nameserver)
                resolver = AsyncDNSResolver([ns_host], port=ns_port)
            else:
                resolver = AsyncDNSResolver()
    retry = DEFAULT_RETRY_POLICY
    if args.retry_first is not None:
        retry = type(retry)(first_retry=args.retry_first, max_interval=max(args.retry_first * 8, 1.0))
    if args.workers < 1:
        print("rfcmail: --workers must be at least 1", file=sys.stderr)
        return 2
    config = MTAConfig(
        hostname=hostname, data_dir=data, local_domains=domains, users=users,
        relay_networks=tuple(args.relay_network), smart_host=smart, resolver=resolver,
        delivery_port=args.delivery_port, tls_context=context, retry=retry, hold=args.hold,
        mx_config=MXConfig(allowed_networks=tuple(args.allow_network), local_names=frozenset({hostname})),
        queue_name="queue" if args.worker_index == 0 else f"queue-{args.worker_index}",
    )
    if args.worker_index:
        return asyncio.run(_run_worker(MTA(config), args))
    return asyncio.run(_run_mta(MTA(config), args, demo))


_REUSE_PORT = hasattr(socket, "SO_REUSEPORT")


def _stop_on_signals() -> asyncio.Event:
    """An event that SIGINT and SIGTERM set (in the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


def _listening_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket for ``serve --workers``.

    Where the system has ``SO_REUSEPORT``, every worker binds its own socket
    to the same port and the kernel spreads the connections evenly among
    them; elsewhere the workers inherit this one socket.
    """
    sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                                backlog=1024, reuse_port=_REUSE_PORT)
    sock.set_inheritable(not _REUSE_PORT)
    return sock


async def _run_worker(mta: object, args: argparse.Namespace) -> int:
    """A worker process of ``serve --workers``: SMTP on the parent's sockets, its own queue.

    It stops on SIGINT or SIGTERM, and when its standard input (a pipe from
    the parent) ends: a worker never outlives its parent.
    """
    from .mta.service import MTA

    assert isinstance(mta, MTA)
    stop = _stop_on_signals()
    sockets = []
    for item in (args.listen_fds or "").split(","):
        kind, _, value = item.partition(":")
        if kind == "fd":
            sockets.append(socket.socket(fileno=int(value)))
        elif kind == "port":
            sockets.append(_listening_socket(args.host, int(value)))
    smtp = sockets[0] if sockets else None
    submission = sockets[1] if len(sockets) > 1 else None
    await mta.start(smtp=smtp, submission=submission, pop3=None)
    print(f"rfcmail serve: worker {args.worker_index} ready", flush=True)

    class _ParentGone(asyncio.Protocol):
        def connection_lost(self, exc: Exception | None) -> None:
            stop.set()

    await asyncio.get_running_loop().connect_read_pipe(_ParentGone, sys.stdin)
    await stop.wait()
    await mta.stop()
    return 0


async def _start_worker(args: argparse.Namespace, sockets: list[socket.socket],
                        index: int) -> asyncio.subprocess.Process:
    """Start worker ``index`` of ``serve --workers N`` on the listening ``sockets``."""
    fds = [] if _REUSE_PORT else [sock.fileno() for sock in sockets]
    where = ",".join(f"port:{sock.getsockname()[1]}" if _REUSE_PORT else f"fd:{sock.fileno()}"
                     for sock in sockets)
    argv = [sys.executable, "-m", "rfcmail", "serve", *args.raw_argv,
            "--worker-index", str(index), "--listen-fds", where]
    return await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE, pass_fds=fds)


async def _stop_workers(workers: dict[int, asyncio.subprocess.Process]) -> None:
    running = list(workers.values())
    for worker in running:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
    for worker in running:
        try:
            await asyncio.wait_for(worker.wait(), 60)
        except asyncio.TimeoutError:
            worker.kill()
            await worker.wait()


#: A worker that exits this often within RESTART_WINDOW seconds is not started again.
RESTART_LIMIT = 5
RESTART_WINDOW = 60.0


async def _supervise(mta: object, args: argparse.Namespace, sockets: list[socket.socket],
                     workers: dict[int, asyncio.subprocess.Process], stopping: asyncio.Event) -> None:
    """Replace a worker that exits while ``serve`` runs, and deliver what it had queued.

    Its spool (``queue-<n>``) moves into the main queue and is delivered by
    the main process; a new worker takes its place on the ports. One that
    keeps failing (RESTART_LIMIT exits within RESTART_WINDOW seconds) is
    left stopped, and the others go on.
    """
    from .mta.service import MTA

    assert isinstance(mta, MTA)

    async def watch(index: int) -> None:
        exits: list[float] = []
        while True:
            code = await workers[index].wait()
            if stopping.is_set():
                return
            spool = Path(mta.config.data_dir) / f"queue-{index}"
            try:
                adopted = await asyncio.shield(mta.adopt_spool(spool))
            except (OSError, RfcmailError) as exc:
                # Left where it is: the next start adopts it.
                print(f"rfcmail serve: cannot take over the queue of worker {index}: {exc}",
                      file=sys.stderr, flush=True)
                adopted = 0
            now = time.monotonic()
            exits = [moment for moment in exits if now - moment < RESTART_WINDOW] + [now]
            if len(exits) >= RESTART_LIMIT:
                print(f"rfcmail serve: worker {index} exited (status {code}) {len(exits)} times in "
                      f"{RESTART_WINDOW:.0f} s; not starting it again ({adopted} queued message(s) "
                      "taken over)", file=sys.stderr, flush=True)
                return
            print(f"rfcmail serve: worker {index} exited (status {code}); {adopted} queued message(s) "
                  "taken over, starting it again", file=sys.stderr, flush=True)
            if stopping.is_set():
                return
            try:
                workers[index] = await _start_worker(args, sockets, index)
            except OSError as exc:
                print(f"rfcmail serve: cannot start worker {index} again: {exc}", file=sys.stderr, flush=True)
                return
            if stopping.is_set():  # the stop began while it started
                workers[index].send_signal(signal.SIGTERM)

    for index, outcome in zip(list(workers), await asyncio.gather(
            *(watch(index) for index in list(workers)), return_exceptions=True)):
        if isinstance(outcome, BaseException):
            print(f"rfcmail serve: supervising worker {index} failed: {outcome!r}", file=sys.stderr, flush=True)


async def _run_mta(mta: object, args: argparse.Namespace, demo: tuple[str, str] | None) -> int:
    from .mta.service import MTA

    assert isinstance(mta, MTA)
    stop = _stop_on_signals()
    smtp: tuple[str, int] | socket.socket = (args.host, args.smtp_port)
    submission: tuple[str, int] | socket.socket | None = (
        (args.host, args.submission_port) if args.submission_port else None)
    shared: list[socket.socket] = []
    workers: dict[int, asyncio.subprocess.Process] = {}
    stopping = asyncio.Event()
    try:
        if args.workers > 1:
            smtp = _listening_socket(args.host, args.smtp_port)
            shared.append(smtp)
            if submission is not None:
                submission = _listening_socket(args.host, args.submission_port)
                shared.append(submission)
        pop3 = (args.host, args.pop3_port) if args.pop3_port else None
        await mta.start(smtp=smtp, submission=submission, pop3=pop3)
        for index in range(1, args.workers):
            workers[index] = await _start_worker(args, shared, index)
    except OSError as exc:
        print(f"rfcmail: cannot listen: {exc}", file=sys.stderr)
        await _stop_workers(workers)
        await mta.stop()
        return 1
    queued = len(mta.queue.ids())
    print(f"rfcmail serve: data in {mta.config.data_dir.resolve()}, {queued} queued message(s) recovered",
          flush=True)
    domain = mta.config.local_domains[0]
    if demo is not None:
        print(f"rfcmail serve: demo user {demo[0]}@{domain} password {demo[1]}", flush=True)
    if workers:
        print(f"rfcmail serve: {args.workers} worker processes share the SMTP ports", flush=True)
    for name, host, port in mta.listening():
        extra = {"submission": " (AUTH required, STARTTLS)", "pop3": " (STLS)"}.get(name, " (STARTTLS)")
        print(f"rfcmail serve: {name} listening on {host}:{port}{extra}", flush=True)
    supervisor = asyncio.create_task(_supervise(mta, args, shared, workers, stopping))
    await stop.wait()
    print("rfcmail serve: shutting down; queued mail stays on disk", flush=True)
    stopping.set()
    await _stop_workers(workers)
    await supervisor
    await _stop_workers(workers)  # one started while the stop began
    if workers:
        # Their queued mail joins the main spool now (else at the next start).
        await mta.adopt_worker_spools()
    await mta.stop()
    return 0


# -- send -------------------------------------------------------------------------


def add_send_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``rfcmail send``."""
    send = commands.add_parser("send", help="send a message through a server or by MX lookup")
    send.add_argument("file", nargs="?", type=Path, help="the message (RFC 5322); omit to build one")
    send.add_argument("--from", dest="sender", required=True, help="the envelope sender")
    send.add_argument("--to", action="append", required=True, help="a recipient (repeatable)")
    send.add_argument("--subject", default="", help="subject of a built message")
    send.add_argument("--body", default="", help="text of a built message")
    send.add_argument("--server", default=None, help="HOST:PORT to submit to (default: MX lookup)")
    send.add_argument("--tls", choices=["none", "starttls", "require-starttls", "implicit"],
                      default="starttls", help="TLS use (default: STARTTLS when offered)")
    send.add_argument("--cafile", default=None, help="CA certificates to verify the server with")
    send.add_argument("--insecure", action="store_true", help="do not verify the server certificate")
    send.add_argument("--user", default=None, help="AUTH user")
    send.add_argument("--password", default=None, help="AUTH password")
    send.add_argument("--nameserver", default=None, help="DNS server HOST:PORT for MX lookups")
    send.add_argument("--port", type=int, default=25, help="SMTP port of MX hosts (default 25)")
    send.add_argument("--allow-network", action="append", default=[],
                      help="let MX delivery connect to this network although it is private (repeatable)")
    send.set_defaults(func=_send)


class _Progress(io.RawIOBase):
    """Reads a file and draws a progress bar on stderr."""

    def __init__(self, handle: BinaryIO, total: int) -> None:
        self._handle = handle
        self._total = max(total, 1)
        self._done = 0
        self._shown = -1

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._handle.read(len(buffer))
        buffer[: len(data)] = data
        self._done += len(data)
        percent = self._done * 100 // self._total
        if percent != self._shown:
            self._shown = percent
            bar = "#" * (percent // 4)
            sys.stderr.write(f"\r[{bar:<25}] {percent:3d}% {self._done / 1048576:.1f} MiB")
            if self._done >= self._total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        return len(data)


def _built_message(args: argparse.Namespace) -> bytes:
    """A text/plain message from ``--from``, ``--to``, ``--subject`` and ``--body``."""
    from .message import SMTP, MessageBuilder

    builder = MessageBuilder(from_=args.sender, to=list(args.to), subject=args.subject)
    message: bytes = builder.text(args.body).build(SMTP)
    return message


def _send(args: argparse.Namespace) -> int:
    from .blocking.smtp import SMTPClient, SMTPClientError
    from .errors import RfcmailError

    modes = {"none": TLSMode.NONE, "starttls": TLSMode.STARTTLS_OPPORTUNISTIC,
             "require-starttls": TLSMode.STARTTLS_REQUIRED, "implicit": TLSMode.IMPLICIT}
    mode = modes[args.tls]
    context = client_context(cafile=args.cafile, verify=not args.insecure)
    if args.server:
        server_host, server_port = _host_port(args.server, 25)
        targets: list[tuple[str, str, int]] = [(server_host, server_host, server_port)]
    else:
        domains = {address.rpartition("@")[2] for address in args.to}
        if len(domains) != 1:
            print("rfcmail send: without --server all recipients must share one domain", file=sys.stderr)
            return 2
        from .mx import MXLookupError

        try:
            targets = _mx_targets(domains.pop(), args)
        except MXLookupError as exc:
            print(f"rfcmail send: {exc.reply_hint}", file=sys.stderr)
            return 1
        except ImportError:
            print("rfcmail send: MX lookups need dnspython (pip install 'rfcmail[dns]')", file=sys.stderr)
            return 2
        if mode is not TLSMode.STARTTLS_REQUIRED and not args.cafile:
            context = client_context(verify=False)  # MX hosts: opportunistic TLS (RFC 3207 4.1)
    if args.file is None:
        built = _built_message(args)
        payload: bytes | None = built
        size = len(built)
    else:
        payload = None
        size = args.file.stat().st_size
    last_error = "no server to try"
    for server_name, address, port in targets:
        try:
            with SMTPClient(address, port, tls_mode=mode, tls_context=context,
                            server_hostname=server_name) as client:
                if args.user:
                    client.login(args.user, args.password or "")
                if payload is not None:
                    result = client.send_message(payload, args.sender, args.to)
                else:
                    with open(args.file, "rb") as handle:
                        source: BinaryIO = handle
                        if sys.stderr.isatty() and size > 1024 * 1024:
                            source = io.BufferedReader(_Progress(handle, size))
                        result = client.send_message(source, args.sender, args.to, size=size)
        except (OSError, SMTPClientError, RfcmailError) as exc:
            last_error = f"{server_name} [{address}]:{port}: {exc}"
            print(f"rfcmail send: {last_error}", file=sys.stderr)
            continue
        for item in result.recipients:
            settled = item.data_reply or item.reply
            state = "accepted" if item.accepted else "refused"
            print(f"{item.address}: {state}: {settled.code} {' '.join(settled.lines)}")
        return 0 if result.ok else 1
    print(f"rfcmail send: not sent: {last_error}", file=sys.stderr)
    return 1


def _mx_targets(domain: str, args: argparse.Namespace) -> list[tuple[str, str, int]]:
    from .dns import DNSResolver, parse_nameserver
    from .mx import MXConfig, resolve_targets

    if args.nameserver:
        host, port = parse_nameserver(args.nameserver)
        resolver = DNSResolver([host], port=port)
    else:
        resolver = DNSResolver()
    plan = resolve_targets(domain, resolver, config=MXConfig(allowed_networks=tuple(args.allow_network)))
    return [(host, address, args.port) for host, address in plan.addresses()]
