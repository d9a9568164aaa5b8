"""rfcmail's SMTP servers (asyncio and threaded) through a raw loopback socket.

Errors are replies (a backend's SMTPReplyError as it is, anything else
``451 4.3.0`` and the connection goes on), a refused connection gets 554,
connection limits in total and per IP at N-1, N, N+1, the idle timeout of
RFC 5321 section 4.5.3.2.7, the bad-command limit, over-long lines, SIZE,
sessions that suspend, session lifecycle calls, LMTP with a plain session.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from rfcmail.limits import DEFAULT_LIMITS
from rfcmail.smtp import Config, PeerInfo, Rcpt, SessionContext, SMTPReplyError

from .support import MESSAGE, RecordingBackend, RecordingSession, ServerThread, dot_stuffed


class Wire:
    """A raw client socket that reads whole replies."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.stream = self.sock.makefile("rb")

    def reply(self) -> bytes:
        """One whole reply (all lines of a multi-line one)."""
        lines = []
        while True:
            line = self.stream.readline()
            if not line:
                break
            lines.append(line)
            if line[3:4] != b"-":
                break
        return b"".join(lines)

    def command(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def closed(self) -> bool:
        return self.stream.read() == b""

    def send_message(self) -> None:
        """EHLO, one MAIL and RCPT, DATA and the message with its end, not waiting for the last reply."""
        self.command(b"EHLO raw.example")
        self.command(b"MAIL FROM:<a@example.test>")
        self.command(b"RCPT TO:<b@example.test>")
        self.command(b"DATA")
        self.sock.sendall(dot_stuffed(MESSAGE))

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


@contextmanager
def wire(port: int, *, greet: bool = True) -> Iterator[Wire]:
    client = Wire(port)
    try:
        if greet:
            assert client.reply().startswith(b"220 ")
        yield client
    finally:
        client.close()


@pytest.fixture(params=["aio", "threaded"])
def blocking(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "threaded")


def test_transaction_and_queue_id(blocking: bool) -> None:
    backend = RecordingBackend()
    with ServerThread(backend, blocking=blocking) as server, wire(server.port) as client:
        ehlo = client.command(b"EHLO raw.example")
        assert b"250-PIPELINING" in ehlo and b"CHUNKING" in ehlo
        assert client.command(b"MAIL FROM:<a@example.test>").startswith(b"250 2.1.0")
        assert client.command(b"RCPT TO:<b@example.test>").startswith(b"250 2.1.5")
        assert client.command(b"DATA").startswith(b"354 ")
        client.sock.sendall(dot_stuffed(MESSAGE))
        assert client.reply() == b"250 2.0.0 Ok: message accepted: queued as test\r\n"
        assert client.command(b"QUIT").startswith(b"221 ")
        assert client.closed()
    assert backend.only_message().content == MESSAGE
    assert backend.closed_sessions == 1


def test_pipelined_commands_get_replies_in_order_with_a_suspending_session(blocking: bool) -> None:
    class SlowSession(RecordingSession):
        async def data(self, chunk: bytes, context: SessionContext) -> None:  # type: ignore[override]
            await asyncio.sleep(0.001)
            super().data(chunk, context)

    backend = RecordingBackend(session_type=SlowSession)
    body = b"Subject: slow\r\n\r\n" + b"z" * 70 + b"\r\n"
    with ServerThread(backend, blocking=blocking) as server, wire(server.port) as client:
        client.command(b"EHLO raw.example")
        batch = b""
        for n in range(3):
            batch += (b"MAIL FROM:<a@example.test>\r\nRCPT TO:<r%d@example.test>\r\nDATA\r\n" % n)
            batch += dot_stuffed(body)
        client.sock.sendall(batch)
        replies = [client.reply()[:3] for _ in range(12)]
    assert replies == [b"250", b"250", b"354", b"250"] * 3
    assert [m.recipients for m in backend.messages] == [[f"r{n}@example.test"] for n in range(3)]
    assert all(m.content == body for m in backend.messages)


def test_errors_are_replies_and_the_connection_goes_on(blocking: bool) -> None:
    class PickySession(RecordingSession):
        def rcpt(self, rcpt: Rcpt, context: SessionContext) -> None:
            if rcpt.forward_path.startswith("refused"):
                raise SMTPReplyError(550, "5.1.1", "No such user here")
            if rcpt.forward_path.startswith("crash"):
                raise KeyError("backend bug")
            super().rcpt(rcpt, context)

        def end(self, context: SessionContext) -> str | None:
            if any(r.forward_path.startswith("late") for r in self.recipients):
                raise SMTPReplyError(554, "5.6.0", "Content refused\nsecond line")
            return super().end(context)

    backend = RecordingBackend(session_type=PickySession)
    with ServerThread(backend, blocking=blocking) as server, wire(server.port) as client:
        client.command(b"EHLO raw.example")
        client.command(b"MAIL FROM:<a@example.test>")
        assert client.command(b"RCPT TO:<refused@example.test>") == b"550 5.1.1 No such user here\r\n"
        assert client.command(b"RCPT TO:<crash@example.test>") == b"451 4.3.0 Local error in processing\r\n"
        assert client.command(b"RCPT TO:<late@example.test>").startswith(b"250")
        client.command(b"DATA")
        client.sock.sendall(dot_stuffed(MESSAGE))
        assert client.reply() == b"554-5.6.0 Content refused\r\n554 5.6.0 second line\r\n"
        assert client.command(b"NOOP").startswith(b"250")
    assert backend.messages == []


def test_backend_refusing_the_connection_gets_554(blocking: bool) -> None:
    class Refusing(RecordingBackend):
        def session(self, peer: PeerInfo) -> RecordingSession:
            raise SMTPReplyError(554, "5.7.1", "Your address is blocked")

    with ServerThread(Refusing(), blocking=blocking) as server, wire(server.port, greet=False) as client:
        assert client.reply().startswith(b"554 ")
        assert client.closed()


@pytest.mark.parametrize("limit", [1, 2])
def test_per_ip_connection_limit_at_the_boundary(blocking: bool, limit: int) -> None:
    backend = RecordingBackend()
    with ServerThread(backend, blocking=blocking, max_connections_per_ip=limit) as server:
        clients = [Wire(server.port) for _ in range(limit)]
        try:
            for client in clients:
                assert client.reply().startswith(b"220 ")
            with wire(server.port, greet=False) as extra:
                assert extra.reply() == b"421 4.7.0 Too many connections, try again later\r\n"
                assert extra.closed()
            clients[0].command(b"QUIT")
            clients[0].close()
            clients.pop(0)
            deadline = time.monotonic() + 5
            while True:  # the slot frees once the server has seen the close
                with wire(server.port, greet=False) as again:
                    if again.reply().startswith(b"220 "):
                        break
                assert time.monotonic() < deadline
                time.sleep(0.02)
        finally:
            for client in clients:
                client.close()


def test_total_connection_limit(blocking: bool) -> None:
    """The threaded server's thread count is bounded by the same limit."""
    backend = RecordingBackend()
    with ServerThread(backend, blocking=blocking, max_connections=2, max_connections_per_ip=10) as server:
        with wire(server.port), wire(server.port):
            with wire(server.port, greet=False) as third:
                assert third.reply().startswith(b"421 4.7.0")


def test_idle_client_gets_421_after_the_command_timeout(blocking: bool) -> None:
    backend = RecordingBackend()
    with ServerThread(backend, blocking=blocking, command_timeout=0.3) as server, wire(server.port) as client:
        client.command(b"EHLO raw.example")
        assert client.reply().startswith(b"421 4.4.2")
        assert client.closed()


def test_too_many_bad_commands_closes_with_421(blocking: bool) -> None:
    backend = RecordingBackend()
    limit = 3
    config = Config(limits=DEFAULT_LIMITS.clone(max_bad_commands=limit))
    with ServerThread(backend, blocking=blocking, config=config) as server, wire(server.port) as client:
        client.command(b"EHLO raw.example")
        for _ in range(limit):
            assert client.command(b"BOGUS").startswith(b"500 5.5.2")
        assert client.command(b"BOGUS").startswith(b"421 4.7.0")
        assert client.closed()


def test_long_command_line_is_refused_and_the_connection_goes_on(blocking: bool) -> None:
    backend = RecordingBackend()
    with ServerThread(backend, blocking=blocking) as server, wire(server.port) as client:
        client.command(b"EHLO raw.example")
        assert client.command(b"NOOP " + b"x" * 5000).startswith(b"500 5.5.2")
        assert client.command(b"NOOP").startswith(b"250")


def test_message_over_the_size_limit_is_refused(blocking: bool) -> None:
    backend = RecordingBackend()
    config = Config(limits=DEFAULT_LIMITS.clone(max_message_size=1000))
    with ServerThread(backend, blocking=blocking, config=config) as server, wire(server.port) as client:
        assert b"SIZE 1000" in client.command(b"EHLO raw.example")
        assert client.command(b"MAIL FROM:<a@example.test> SIZE=1001").startswith(b"552 5.3.4")
        client.command(b"MAIL FROM:<a@example.test>")
        client.command(b"RCPT TO:<b@example.test>")
        client.command(b"DATA")
        client.sock.sendall(dot_stuffed(b"Subject: big\r\n\r\n" + (b"x" * 98 + b"\r\n") * 20))
        assert client.reply().startswith(b"552 5.3.4")
        assert client.command(b"NOOP").startswith(b"250")
    assert backend.messages == []


def test_lmtp_with_a_plain_session_answers_each_recipient(blocking: bool) -> None:
    class PlainSession:
        def __init__(self) -> None:
            self.chunks: list[bytes] = []

        def mail(self, mail: Any, context: SessionContext) -> None: ...
        def rcpt(self, rcpt: Any, context: SessionContext) -> None: ...
        def data(self, chunk: bytes, context: SessionContext) -> None:
            self.chunks.append(chunk)

        def end(self, context: SessionContext) -> str | None:
            return None

        def reset(self, context: SessionContext) -> None: ...
        def close(self, context: SessionContext) -> None: ...

    class PlainBackend:
        def session(self, peer: PeerInfo) -> PlainSession:
            return PlainSession()

    config = Config(hostname="lmtp.example", lmtp=True)
    with ServerThread(PlainBackend(), blocking=blocking, config=config) as server, wire(server.port) as client:
        assert client.command(b"EHLO raw.example").startswith(b"500")
        client.command(b"LHLO raw.example")
        client.command(b"MAIL FROM:<a@example.test>")
        client.command(b"RCPT TO:<b@example.test>")
        client.command(b"RCPT TO:<c@example.test>")
        client.command(b"DATA")
        client.sock.sendall(dot_stuffed(MESSAGE))
        assert client.reply().startswith(b"250 ")
        assert client.reply().startswith(b"250 ")


def test_rset_and_new_mail_reset_the_session() -> None:
    resets: list[str] = []

    class CountingSession(RecordingSession):
        def reset(self, context: SessionContext) -> None:
            resets.append(context.helo or "")
            super().reset(context)

    with ServerThread(RecordingBackend(session_type=CountingSession)) as server, wire(server.port) as client:
        client.command(b"EHLO one.example")
        client.command(b"MAIL FROM:<a@example.test>")
        client.command(b"RSET")
        client.command(b"MAIL FROM:<a@example.test>")
        client.command(b"EHLO two.example")
        client.command(b"QUIT")
    assert resets == ["one.example", "one.example"]


def test_a_refused_bdat_chunk_ends_the_transaction(blocking: bool) -> None:
    class FullSession(RecordingSession):
        def data(self, chunk: bytes, context: SessionContext) -> None:
            raise SMTPReplyError(552, "5.2.2", "Mailbox full")

    backend = RecordingBackend(session_type=FullSession)
    with ServerThread(backend, blocking=blocking) as server, wire(server.port) as client:
        client.command(b"EHLO raw.example")
        client.command(b"MAIL FROM:<a@example.test>")
        client.command(b"RCPT TO:<b@example.test>")
        client.sock.sendall(b"BDAT 5\r\nhello")
        assert client.reply() == b"552 5.2.2 Mailbox full\r\n"
        client.sock.sendall(b"BDAT 3 LAST\r\nabc")
        assert client.reply().startswith(b"503")
        assert client.command(b"NOOP").startswith(b"250")


def test_auth_cancel_vrfy_expn_help(blocking: bool) -> None:
    from .support import credentials

    config = Config(require_tls_for_auth=False)
    with ServerThread(RecordingBackend(), blocking=blocking, config=config, credentials=credentials()) as server, \
            wire(server.port) as client:
        assert b"AUTH SCRAM-SHA-256" in client.command(b"EHLO raw.example")
        assert client.command(b"AUTH LOGIN").startswith(b"334 ")
        assert client.command(b"*").startswith(b"501")
        assert client.command(b"AUTH NOSUCH").startswith(b"504")
        assert client.command(b"VRFY alice").startswith(b"252")
        assert client.command(b"EXPN staff").startswith(b"502")
        assert client.command(b"HELP").startswith(b"214")


def test_suspending_session_that_refuses(blocking: bool) -> None:
    class LateRefusal(RecordingSession):
        async def rcpt(self, rcpt: Rcpt, context: SessionContext) -> None:  # type: ignore[override]
            await asyncio.sleep(0.001)
            raise SMTPReplyError(450, "4.2.1", "Try later")

        async def data(self, chunk: bytes, context: SessionContext) -> None:  # type: ignore[override]
            await asyncio.sleep(0)
            raise RuntimeError("disk on fire")

    backend = RecordingBackend(session_type=LateRefusal)
    with ServerThread(backend, blocking=blocking) as server, wire(server.port) as client:
        client.command(b"EHLO raw.example")
        client.command(b"MAIL FROM:<a@example.test>")
        assert client.command(b"RCPT TO:<b@example.test>") == b"450 4.2.1 Try later\r\n"
        assert client.command(b"NOOP").startswith(b"250")


@pytest.mark.parametrize("failure", ["data", "end_lmtp", "count"])
def test_lmtp_failures_answer_every_recipient(blocking: bool, failure: str) -> None:
    class FailingSession(RecordingSession):
        def data(self, chunk: bytes, context: SessionContext) -> None:
            if failure == "data":
                raise SMTPReplyError(452, "4.3.1", "Out of space")
            super().data(chunk, context)

        def end_lmtp(self, context: SessionContext) -> Any:
            if failure == "end_lmtp":
                raise OSError("store down")
            return [None]  # one result for two recipients: a backend bug

    config = Config(hostname="lmtp.example", lmtp=True)
    backend = RecordingBackend(session_type=FailingSession)
    with ServerThread(backend, blocking=blocking, config=config) as server, wire(server.port) as client:
        client.command(b"LHLO raw.example")
        client.command(b"MAIL FROM:<a@example.test>")
        client.command(b"RCPT TO:<b@example.test>")
        client.command(b"RCPT TO:<c@example.test>")
        client.command(b"DATA")
        client.sock.sendall(dot_stuffed(MESSAGE))
        expected = b"452 4.3.1" if failure == "data" else b"451 4.3.0"
        assert client.reply().startswith(expected)
        assert client.reply().startswith(expected)
        assert client.command(b"NOOP").startswith(b"250")


def test_auth_failures_limit_closes_with_421(blocking: bool) -> None:
    """SECURITY A6.3: past max_auth_failures the server says 421 and closes."""
    import base64

    from .support import credentials

    limit = 2
    config = Config(require_tls_for_auth=False, limits=DEFAULT_LIMITS.clone(max_auth_failures=limit))
    wrong = base64.b64encode(b"\0alice\0wrong")
    with ServerThread(RecordingBackend(), blocking=blocking, config=config, credentials=credentials()) as server, \
            wire(server.port) as client:
        client.command(b"EHLO raw.example")
        for _ in range(limit):
            assert client.command(b"AUTH PLAIN " + wrong).startswith(b"535 5.7.8")
        assert client.command(b"AUTH PLAIN " + wrong).startswith(b"421")
        assert client.closed()


@pytest.mark.parametrize("limit", [1, 2])
def test_recipient_limit_at_the_boundary(blocking: bool, limit: int) -> None:
    config = Config(limits=DEFAULT_LIMITS.clone(max_recipients=limit))
    backend = RecordingBackend()
    with ServerThread(backend, blocking=blocking, config=config) as server, wire(server.port) as client:
        client.command(b"EHLO raw.example")
        client.command(b"MAIL FROM:<a@example.test>")
        for n in range(limit):
            assert client.command(b"RCPT TO:<r%d@example.test>" % n).startswith(b"250")
        assert client.command(b"RCPT TO:<over@example.test>").startswith(b"452 4.5.3")
        client.command(b"DATA")
        client.sock.sendall(dot_stuffed(MESSAGE))
        assert client.reply().startswith(b"250")
    assert len(backend.only_message().recipients) == limit


def test_shutdown_tells_connected_clients_421(blocking: bool) -> None:
    backend = RecordingBackend()
    server = ServerThread(backend, blocking=blocking)
    with server:
        client = Wire(server.port)
        assert client.reply().startswith(b"220 ")
        client.command(b"EHLO raw.example")
    try:
        assert client.reply().startswith(b"421 4.3.2")
        assert client.closed()
    finally:
        client.close()
    assert backend.closed_sessions == 1


def test_async_sessions_that_never_suspend(blocking: bool) -> None:
    """Coroutines that finish at once run inline (the asyncio server's fast path), errors included."""
    class EagerSession(RecordingSession):
        async def mail(self, mail: Any, context: SessionContext) -> None:  # type: ignore[override]
            super().mail(mail, context)

        async def rcpt(self, rcpt: Rcpt, context: SessionContext) -> None:  # type: ignore[override]
            if rcpt.forward_path.startswith("no"):
                raise SMTPReplyError(550, "5.1.1", "Unknown")
            super().rcpt(rcpt, context)

        async def data(self, chunk: bytes, context: SessionContext) -> None:  # type: ignore[override]
            super().data(chunk, context)

        async def end(self, context: SessionContext) -> str | None:  # type: ignore[override]
            return super().end(context)

    class EagerBackend(RecordingBackend):
        async def session(self, peer: PeerInfo) -> RecordingSession:  # type: ignore[override]
            return EagerSession(self)

    backend = EagerBackend()
    with ServerThread(backend, blocking=blocking) as server, wire(server.port) as client:
        client.command(b"EHLO raw.example")
        client.command(b"MAIL FROM:<a@example.test>")
        assert client.command(b"RCPT TO:<no@example.test>") == b"550 5.1.1 Unknown\r\n"
        assert client.command(b"RCPT TO:<yes@example.test>").startswith(b"250")
        client.command(b"DATA")
        client.sock.sendall(dot_stuffed(MESSAGE))
        assert client.reply().startswith(b"250 2.0.0")
    assert backend.only_message().content == MESSAGE


def test_client_leaving_while_a_handler_is_suspended(blocking: bool) -> None:
    entered = __import__("threading").Event()

    class SlowEnd(RecordingSession):
        async def end(self, context: SessionContext) -> str | None:  # type: ignore[override]
            entered.set()
            await asyncio.sleep(0.2)
            return super().end(context)

    backend = RecordingBackend(session_type=SlowEnd)
    with ServerThread(backend, blocking=blocking) as server:
        with wire(server.port) as client:
            client.send_message()
            assert entered.wait(5)
        deadline = time.monotonic() + 5
        while backend.closed_sessions == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert backend.closed_sessions == 1  # told once, after its handler finished
    assert len(backend.messages) == 1


def test_failed_starttls_handshake_closes_the_session(blocking: bool, tmp_path: Any) -> None:
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "1", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)

    class Files:
        chain = cert
        key = tmp_path / "key.pem"

    backend = RecordingBackend()
    with ServerThread(backend, blocking=blocking, tls=Files(), max_connections_per_ip=1) as server:
        with wire(server.port) as client:
            client.command(b"EHLO raw.example")
            assert client.command(b"STARTTLS").startswith(b"220")
            client.sock.sendall(b"this is not a TLS ClientHello\r\n" * 10)
            try:
                assert client.closed()
            except ConnectionResetError:
                pass  # closed with our bytes unread: a reset is a close too
        deadline = time.monotonic() + 5
        while backend.closed_sessions == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        with wire(server.port) as again:  # the connection's slot was given back (limit 1 per IP)
            assert again.command(b"NOOP").startswith(b"250")
    assert backend.closed_sessions == 2


def test_a_client_that_does_not_read_its_replies_is_throttled(blocking: bool) -> None:
    """Replies are not buffered without bound: reading stops while the client does not read."""
    count = 30_000
    with ServerThread(RecordingBackend(), blocking=blocking) as server, wire(server.port) as client:
        client.command(b"EHLO raw.example")
        sender = __import__("threading").Thread(target=client.sock.sendall, args=(b"NOOP\r\n" * count,))
        sender.start()
        time.sleep(0.3)  # the server answers until its write buffer is full, then waits
        replies = 0
        while replies < count:
            line = client.stream.readline()
            assert line.startswith(b"250 "), line
            replies += 1
        sender.join(10)
        assert client.command(b"QUIT").startswith(b"221")


def test_async_session_keeps_one_event_loop_per_connection(blocking: bool) -> None:
    """The threaded server runs a connection's coroutines on one loop, so session state stays usable."""
    loops: list[object] = []  # the loops themselves, so that no id is reused

    class LoopSession(RecordingSession):
        async def mail(self, mail: Any, context: SessionContext) -> None:  # type: ignore[override]
            loops.append(asyncio.get_running_loop())
            super().mail(mail, context)

        async def rcpt(self, rcpt: Rcpt, context: SessionContext) -> None:  # type: ignore[override]
            loops.append(asyncio.get_running_loop())
            await asyncio.sleep(0)
            super().rcpt(rcpt, context)

        async def end(self, context: SessionContext) -> str | None:  # type: ignore[override]
            loops.append(asyncio.get_running_loop())
            return super().end(context)

    backend = RecordingBackend(session_type=LoopSession)
    with ServerThread(backend, blocking=blocking) as server, wire(server.port) as client:
        client.send_message()
        assert client.reply().startswith(b"250")
    assert len(loops) == 3 and all(loop is loops[0] for loop in loops)
    assert backend.only_message().content == MESSAGE


@pytest.mark.parametrize("read_ahead", [None, 1000])
def test_input_is_bounded_while_a_handler_is_suspended(read_ahead: int | None) -> None:
    """A client that keeps sending while its DATA is being queued makes the server stop reading.

    Reading goes on while a handler runs (most clients wait for the reply,
    and pausing costs two system calls per command), but only until the
    unprocessed input passes ``ServerSettings.read_ahead`` (default 64 KiB).
    """
    import threading

    from rfcmail.aio.smtp import ServerSettings

    bound = ServerSettings().read_ahead if read_ahead is None else read_ahead
    settings: dict[str, Any] = {} if read_ahead is None else {"read_ahead": read_ahead}
    entered, release = threading.Event(), threading.Event()

    class SlowEnd(RecordingSession):
        async def end(self, context: SessionContext) -> str | None:  # type: ignore[override]
            entered.set()
            while not release.is_set():
                await asyncio.sleep(0.01)
            return super().end(context)

    count = 50_000  # 300 KB, under max_commands
    with ServerThread(RecordingBackend(session_type=SlowEnd), **settings) as server, wire(server.port) as client:
        client.send_message()
        assert entered.wait(5)
        sender = threading.Thread(target=client.sock.sendall, args=(b"NOOP\r\n" * count,))
        sender.start()
        assert server.server is not None
        (protocol,) = server.server._protocols

        def paused() -> bool:
            return protocol.reading_paused

        deadline = time.monotonic() + 5
        while not paused() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert paused()
        assert protocol.driver is not None
        time.sleep(0.2)  # nothing more is read while paused
        # Past the bound, by at most one read of the transport (256 KiB).
        assert bound < protocol.driver.conn.buffered <= bound + 256 * 1024
        release.set()
        assert client.reply().startswith(b"250 2.0.0")
        for _ in range(count):
            assert client.stream.readline().startswith(b"250 ")
        sender.join(10)
        assert not paused()
        assert client.command(b"QUIT").startswith(b"221")


def test_connections_sharing_the_read_buffer_keep_their_own_bytes() -> None:
    """The asyncio server reads every connection into one buffer: each message must stay its own."""
    backend = RecordingBackend()
    clients = 8
    bodies = [b"Subject: %d\r\n\r\n" % n + ((b"%d" % n) * 70 + b"\r\n") * 40 for n in range(clients)]
    with ServerThread(backend) as server:
        wires = [Wire(server.port) for _ in range(clients)]
        try:
            for client in wires:
                assert client.reply().startswith(b"220")
                client.command(b"EHLO raw.example")
                client.command(b"MAIL FROM:<a@example.test>")
                client.command(b"RCPT TO:<b@example.test>")
                assert client.command(b"DATA").startswith(b"354")
            pieces = [dot_stuffed(body) for body in bodies]
            for offset in range(0, max(map(len, pieces)), 1000):  # interleaved, 1000 octets at a time
                for client, piece in zip(wires, pieces):
                    client.sock.sendall(piece[offset : offset + 1000])
                time.sleep(0.001)
            for client in wires:
                assert client.reply().startswith(b"250")
        finally:
            for client in wires:
                client.close()
    assert sorted(m.content for m in backend.messages) == sorted(bodies)


@pytest.mark.parametrize("field", ["max_connections", "max_connections_per_ip", "read_size", "read_ahead"])
def test_server_settings_limits_must_be_at_least_one(field: str) -> None:
    from rfcmail.aio.smtp import ServerSettings

    smallest: dict[str, Any] = {field: 1}
    below: dict[str, Any] = {field: 0}
    assert getattr(ServerSettings(**smallest), field) == 1  # the smallest allowed
    with pytest.raises(ValueError, match=f"ServerSettings.{field} must be at least 1"):
        ServerSettings(**below)


def test_server_settings_timeouts_must_be_positive() -> None:
    from rfcmail.aio.smtp import ServerSettings

    for field in ("command_timeout", "tls_handshake_timeout"):
        zero: dict[str, Any] = {field: 0.0}
        with pytest.raises(ValueError, match="must be positive"):
            ServerSettings(**zero)
    with pytest.raises(ValueError, match="implicit_tls needs a tls_context"):
        ServerSettings(implicit_tls=True)
