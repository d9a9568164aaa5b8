"""rfcmail's SMTP clients (blocking and asyncio) against rfcmail's servers and against scripted hostile servers.

Message sources, CRLF normalisation and dot transparency (SECURITY A1.3),
BDAT and DATA, per-recipient results, LMTP, refusing credentials over
plaintext (A6.1), STARTTLS required and stripped (A2.3), response injection
after STARTTLS (A2.2), CR/LF/NUL in every argument before anything is sent
(A3.1), and timeouts.
"""

from __future__ import annotations

import asyncio
import io
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from typing import Any

import pytest

from rfcmail._tls import TLSMode
from rfcmail.aio.smtp import SMTPClient as AsyncSMTPClient
from rfcmail.blocking.smtp import (
    ClientTimeouts,
    InsecureConnectionError,
    SendResult,
    SMTPClient,
    SMTPResponseError,
    SMTPTimeoutError,
)
from rfcmail.errors import LocalProtocolError, RemoteProtocolError
from rfcmail.smtp import Config

from ..aio.support import MESSAGE, RecordingBackend, RelayPolicyBackend, ServerThread, credentials, dot_stuffed

Sender = Callable[..., SendResult]


def send_blocking(port: int, message: Any, sender: str, recipients: list[str], **options: Any) -> SendResult:
    with SMTPClient("127.0.0.1", port, local_hostname="client.example", **options) as client:
        return client.send_message(message, sender, recipients)


def send_aio(port: int, message: Any, sender: str, recipients: list[str], **options: Any) -> SendResult:
    async def run() -> SendResult:
        async with AsyncSMTPClient("127.0.0.1", port, local_hostname="client.example", **options) as client:
            return await client.send_message(message, sender, recipients)

    return asyncio.run(run())


@pytest.fixture(params=["blocking", "aio"])
def send(request: pytest.FixtureRequest) -> Sender:
    return send_blocking if request.param == "blocking" else send_aio


@pytest.mark.parametrize("chunking", [True, False], ids=["bdat", "data"])
def test_bytes_arrive_byte_for_byte(send: Sender, chunking: bool) -> None:
    backend = RecordingBackend()
    with ServerThread(backend) as server:
        result = send(server.port, MESSAGE, "a@example.test", ["b@example.test", "c@example.test"], chunking=chunking)
    assert result.ok and result.accepted == ("b@example.test", "c@example.test")
    assert result.data_reply is not None and result.data_reply.code == 250
    assert "queued as test" in result.data_reply.text
    received = backend.only_message()
    assert received.content == MESSAGE
    assert received.helo == "client.example"


def test_line_ends_are_normalised_and_dots_stuffed(send: Sender) -> None:
    """SECURITY A1.3: the client never emits a bare CR or LF, and the message ends with CRLF."""
    backend = RecordingBackend()
    with ServerThread(backend) as server:
        send(server.port, b"Subject: x\n\na\rb\nc\r\n.x\r\n.\n..\r\nend", "a@example.test", ["b@example.test"])
        send(server.port, b"Subject: x\n\na\rb\nc\r\n.x\r\n.\n..\r\nend", "a@example.test", ["b@example.test"],
             chunking=False)
    expected = b"Subject: x\r\n\r\na\r\nb\r\nc\r\n.x\r\n.\r\n..\r\nend\r\n"
    assert [m.content for m in backend.messages] == [expected, expected]


def test_sources_file_iterable_async_iterator_and_email_message() -> None:
    backend = RecordingBackend()
    pieces = [MESSAGE[i:i + 7] for i in range(0, len(MESSAGE), 7)]

    async def agen() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    email = EmailMessage()
    email["Subject"] = "from email"
    email.set_content("body\n.dot\n")
    with ServerThread(backend) as server:
        send_blocking(server.port, io.BytesIO(MESSAGE), "a@example.test", ["b@example.test"])
        send_blocking(server.port, iter(pieces), "a@example.test", ["b@example.test"], chunking=False)
        send_aio(server.port, agen(), "a@example.test", ["b@example.test"])
        send_aio(server.port, email, "a@example.test", ["b@example.test"])
    contents = [m.content for m in backend.messages]
    assert contents[:3] == [MESSAGE, MESSAGE, MESSAGE]
    assert contents[3] == email.as_bytes(policy=email.policy.clone(linesep="\r\n"))


def test_large_file_is_streamed_in_pieces(tmp_path: Any) -> None:
    path = tmp_path / "big.eml"
    line = b"y" * 76 + b"\r\n"
    path.write_bytes(b"Subject: big\r\n\r\n" + line * 40_000)
    backend = RecordingBackend()
    with ServerThread(backend) as server, open(path, "rb") as stream:
        result = send_blocking(server.port, stream, "a@example.test", ["b@example.test"])
    assert result.ok
    received = backend.only_message()
    assert received.content == path.read_bytes()
    assert received.chunks > 10


def test_per_recipient_results(send: Sender) -> None:
    backend = RelayPolicyBackend(local_domains={"example.test"})
    with ServerThread(backend) as server:
        result = send(server.port, MESSAGE, "a@example.test",
                      ["b@example.test", "victim@remote.test", "c@example.test"])
    assert result.accepted == ("b@example.test", "c@example.test")
    (refused,) = result.refused
    assert refused.address == "victim@remote.test"
    assert refused.reply.code == 554 and str(refused.reply.enhanced) == "5.7.1"
    assert refused.data_reply is None
    assert not result.ok
    assert backend.only_message().recipients == ["b@example.test", "c@example.test"]


def test_all_recipients_refused_sends_no_content(send: Sender) -> None:
    backend = RelayPolicyBackend(local_domains={"example.test"})
    with ServerThread(backend) as server:
        result = send(server.port, MESSAGE, "a@example.test", ["x@remote.test"], chunking=False)
    assert result.accepted == () and result.data_reply is None
    assert backend.messages == []


def test_lmtp_client_gets_one_reply_per_recipient(send: Sender) -> None:
    backend = RecordingBackend(refuse_at_data={"full@example.test"})
    with ServerThread(backend, config=Config(hostname="lmtp.example", lmtp=True)) as server:
        result = send(server.port, MESSAGE, "a@example.test", ["ok@example.test", "full@example.test"], lmtp=True)
    by_address = {r.address: r for r in result.recipients}
    assert by_address["ok@example.test"].accepted
    full = by_address["full@example.test"]
    assert full.reply.code == 250 and full.data_reply is not None and full.data_reply.code == 452
    assert result.accepted == ("ok@example.test",)


@pytest.mark.parametrize("sender,recipient", [
    ("a@example.test\r\nRCPT TO:<x@example.test>", "b@example.test"),
    ("a@example.test", "b@example.test\nDATA"),
    ("a@exam\x00ple.test", "b@example.test"),
])
def test_crlf_nul_in_addresses_raise_before_anything_is_sent(sender: str, recipient: str) -> None:
    """SECURITY A3.1."""
    backend = RelayPolicyBackend(local_domains={"example.test"})
    with ServerThread(backend) as server, SMTPClient("127.0.0.1", server.port) as client:
        with pytest.raises(LocalProtocolError):
            client.send_message(MESSAGE, sender, [recipient])
        # Nothing went out: the connection is in step and the next message goes through.
        assert client.send_message(MESSAGE, "a@example.test", ["b@example.test"]).ok
    assert backend.decisions == [("b@example.test", "127.0.0.1", False, None, client._core.local_hostname)]


def test_crlf_in_ehlo_name_and_auth_data_raise() -> None:
    with pytest.raises(LocalProtocolError):
        SMTPClient("127.0.0.1", 1, local_hostname="evil\r\nMAIL FROM:<x@y>")
    backend = RecordingBackend()
    with ServerThread(backend, credentials=credentials(), config=Config(require_tls_for_auth=False)) as server, \
            SMTPClient("127.0.0.1", server.port, allow_insecure_auth=True) as client:
        with pytest.raises(LocalProtocolError):
            client.login("alice\r\nQUIT", "secret", mechanism="PLAIN")
        assert client.noop().code == 250


def test_login_refused_over_plaintext_unless_allowed() -> None:
    """SECURITY A6.1: no credentials leave without TLS unless allow_insecure_auth=True."""
    backend = RecordingBackend()
    config = Config(require_tls_for_auth=False)
    with ServerThread(backend, credentials=credentials(), config=config) as server:
        with SMTPClient("127.0.0.1", server.port) as client:
            assert "PLAIN" in client.extensions.auth_mechanisms
            with pytest.raises(InsecureConnectionError):
                client.login("alice", "secret")
            assert client.authenticated_as is None
        with SMTPClient("127.0.0.1", server.port, allow_insecure_auth=True) as client:
            assert client.login("alice", "secret").startswith("SCRAM-SHA-")
            with pytest.raises(SMTPResponseError) as caught:
                client.login("alice", "secret")
            assert caught.value.reply.code == 503


def test_wrong_password_raises_with_the_reply() -> None:
    backend = RecordingBackend()
    with ServerThread(backend, credentials=credentials(), config=Config(require_tls_for_auth=False)) as server, \
            SMTPClient("127.0.0.1", server.port, allow_insecure_auth=True) as client:
        with pytest.raises(SMTPResponseError) as caught:
            client.login("alice", "nope", mechanism="PLAIN")
        assert caught.value.reply.code == 535


def test_starttls_required_without_offer_fails_before_mail() -> None:
    """SECURITY A2.3: stripped STARTTLS aborts before any AUTH or MAIL."""
    backend = RelayPolicyBackend(local_domains={"example.test"})
    with ServerThread(backend) as server:
        with pytest.raises(InsecureConnectionError):
            SMTPClient("127.0.0.1", server.port, tls_mode=TLSMode.STARTTLS_REQUIRED).connect()
        with SMTPClient("127.0.0.1", server.port, tls_mode=TLSMode.STARTTLS_OPPORTUNISTIC) as client:
            assert not client.tls_active
            assert client.send_message(MESSAGE, "a@example.test", ["b@example.test"]).ok
    assert len(backend.decisions) == 1


# --- scripted servers --------------------------------------------------------------------


class ScriptedServer:
    """A raw loopback server that answers with fixed bytes, for hostile-server cases."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.handler = handler
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.received = bytearray()

    def _run(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            connection.settimeout(5)
            try:
                self.handler(connection)
            except OSError:
                pass

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.thread.join(5)
        self.listener.close()


def _read_line(connection: socket.socket) -> bytes:
    data = bytearray()
    while not data.endswith(b"\n"):
        piece = connection.recv(1)
        if not piece:
            break
        data += piece
    return bytes(data)


def test_response_injection_after_starttls_fails() -> None:
    """SECURITY A2.2: bytes after the 220 to STARTTLS, before the handshake, are an attack."""
    def handler(connection: socket.socket) -> None:
        connection.sendall(b"220 hostile ESMTP\r\n")
        _read_line(connection)
        connection.sendall(b"250-hostile\r\n250 STARTTLS\r\n")
        _read_line(connection)
        connection.sendall(b"220 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n")
        connection.recv(1024)

    with ScriptedServer(handler) as server:
        client = SMTPClient("127.0.0.1", server.port, tls_mode=TLSMode.STARTTLS_REQUIRED)
        with pytest.raises(RemoteProtocolError):
            client.connect()


def test_greeting_timeout_raises() -> None:
    def handler(connection: socket.socket) -> None:
        connection.recv(1024)  # never greets; returns when the client gives up

    with ScriptedServer(handler) as server:
        client = SMTPClient("127.0.0.1", server.port, timeouts=ClientTimeouts(greeting=0.2))
        with pytest.raises(SMTPTimeoutError):
            client.connect()

    async def run(port: int) -> None:
        aio_client = AsyncSMTPClient("127.0.0.1", port, timeouts=ClientTimeouts(greeting=0.2))
        with pytest.raises(SMTPTimeoutError):
            await aio_client.connect()
        await asyncio.sleep(0.01)  # let the transport close before the loop ends

    with ScriptedServer(handler) as server:
        asyncio.run(run(server.port))


def test_greeting_554_is_refused_service() -> None:
    def handler(connection: socket.socket) -> None:
        connection.sendall(b"554 5.7.1 Go away\r\n")
        connection.recv(1024)

    with ScriptedServer(handler) as server:
        with pytest.raises(SMTPResponseError) as caught:
            SMTPClient("127.0.0.1", server.port).connect()
    assert caught.value.reply.code == 554


def test_helo_fallback_for_an_old_server() -> None:
    transcript: list[bytes] = []

    def handler(connection: socket.socket) -> None:
        connection.sendall(b"220 old SMTP\r\n")
        transcript.append(_read_line(connection))
        connection.sendall(b"502 EHLO not implemented\r\n")
        transcript.append(_read_line(connection))
        connection.sendall(b"250 old\r\n")
        transcript.append(_read_line(connection))
        connection.sendall(b"221 bye\r\n")

    with ScriptedServer(handler) as server:
        with SMTPClient("127.0.0.1", server.port, local_hostname="c.example") as client:
            assert not client.extensions.pipelining
    assert transcript == [b"EHLO c.example\r\n", b"HELO c.example\r\n", b"QUIT\r\n"]


@pytest.mark.parametrize("kind", ["blocking", "aio"])
def test_envelope_is_pipelined_when_offered(kind: str) -> None:
    """RFC 2920: MAIL, every RCPT and DATA leave in one group; this server answers only once it has them all."""
    seen: list[bytes] = []

    def handler(connection: socket.socket) -> None:
        connection.sendall(b"220 pipelined ESMTP\r\n")
        _read_line(connection)
        connection.sendall(b"250-pipelined\r\n250 PIPELINING\r\n")
        group = [_read_line(connection) for _ in range(4)]  # MAIL, RCPT, RCPT, DATA before any reply
        seen.extend(group)
        connection.sendall(b"250 ok\r\n250 ok\r\n550 no such user\r\n354 go\r\n")
        content = bytearray()
        while not content.endswith(b"\r\n.\r\n"):
            piece = connection.recv(65536)
            if not piece:
                return
            content += piece
        connection.sendall(b"250 queued\r\n")
        seen.append(bytes(content))
        seen.append(_read_line(connection))
        connection.sendall(b"221 bye\r\n")

    with ScriptedServer(handler) as server:
        sender = send_blocking if kind == "blocking" else send_aio
        result = sender(server.port, MESSAGE, "a@example.test", ["b@example.test", "c@example.test"])
    assert seen[:4] == [b"MAIL FROM:<a@example.test>\r\n", b"RCPT TO:<b@example.test>\r\n",  # no SIZE: not offered
                        b"RCPT TO:<c@example.test>\r\n", b"DATA\r\n"]
    assert seen[4] == dot_stuffed(MESSAGE)
    assert seen[5] == b"QUIT\r\n"
    assert result.accepted == ("b@example.test",)
    assert result.refused[0].reply.code == 550


@pytest.mark.parametrize("kind", ["blocking", "aio"])
def test_response_injection_in_a_later_segment_fails(kind: str) -> None:
    """SECURITY A2.2 when the injected bytes come in their own segment after the 220."""
    def handler(connection: socket.socket) -> None:
        connection.sendall(b"220 hostile ESMTP\r\n")
        _read_line(connection)
        connection.sendall(b"250-hostile\r\n250 STARTTLS\r\n")
        _read_line(connection)
        connection.sendall(b"220 go ahead\r\n")
        time.sleep(0.05)
        connection.sendall(b"250-injected\r\n250 AUTH PLAIN\r\n")
        connection.recv(1024)

    with ScriptedServer(handler) as server:
        if kind == "blocking":
            client = SMTPClient("127.0.0.1", server.port, tls_mode=TLSMode.STARTTLS_REQUIRED)
            with pytest.raises((RemoteProtocolError, ssl.SSLError)):
                client.connect()
        else:
            async def run() -> None:
                aio_client = AsyncSMTPClient("127.0.0.1", server.port, tls_mode=TLSMode.STARTTLS_REQUIRED)
                with pytest.raises((RemoteProtocolError, ssl.SSLError)):
                    await aio_client.connect()

            asyncio.run(run())


def test_an_rfcmail_message_is_sent_as_its_bytes(send: Sender) -> None:
    from rfcmail.message import parse

    message = parse(MESSAGE)
    backend = RecordingBackend()
    with ServerThread(backend) as server:
        assert send(server.port, message, "a@example.test", ["b@example.test"]).ok
    assert backend.only_message().content == bytes(message) == MESSAGE


def test_dsn_and_size_parameters_follow_the_extensions(send: Sender) -> None:
    from rfcmail.smtp import OriginalRecipient

    backend = RecordingBackend()
    with ServerThread(backend) as server:
        send(server.port, MESSAGE, "a@example.test", ["b@example.test"], chunking=False)
        with SMTPClient("127.0.0.1", server.port) as client:
            client.send_message(MESSAGE, "a@example.test", ["b@example.test"], notify=["SUCCESS", "FAILURE"],
                                ret="HDRS", envid="env 1", orcpt=[OriginalRecipient(addr_type="rfc822",
                                                                                    address="b+x@example.test")])
    plain, dsn = backend.messages
    assert plain.mail_params == (("SIZE", str(len(MESSAGE))),)
    assert dict(dsn.mail_params)["RET"] == "HDRS"
    assert dict(dsn.mail_params)["ENVID"] == "env+201"
    assert dict(dsn.rcpt_params[0]) == {"NOTIFY": "SUCCESS,FAILURE", "ORCPT": "rfc822;b+2Bx@example.test"}


@pytest.mark.parametrize("kind", ["blocking", "aio"])
def test_data_block_timeout_when_the_server_stops_reading(kind: str) -> None:
    """RFC 5321 section 4.5.3.2.5: each write of content has its own deadline."""
    release = threading.Event()

    def handler(connection: socket.socket) -> None:
        connection.sendall(b"220 stuck ESMTP\r\n")
        _read_line(connection)
        connection.sendall(b"250 stuck\r\n")
        for reply in (b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n"):
            _read_line(connection)
            connection.sendall(reply)
        release.wait(10)  # and never read the content

    big = b"Subject: big\r\n\r\n" + (b"z" * 76 + b"\r\n") * 400_000
    timeouts = ClientTimeouts(data_block=0.3)
    with ScriptedServer(handler) as server:
        try:
            with pytest.raises(SMTPTimeoutError):
                if kind == "blocking":
                    send_blocking(server.port, big, "a@example.test", ["b@example.test"], timeouts=timeouts)
                else:
                    send_aio(server.port, big, "a@example.test", ["b@example.test"], timeouts=timeouts)
        finally:
            release.set()


@pytest.mark.parametrize("kind", ["blocking", "aio"])
def test_421_in_the_middle_raises(kind: str) -> None:
    def handler(connection: socket.socket) -> None:
        connection.sendall(b"220 busy ESMTP\r\n")
        _read_line(connection)
        connection.sendall(b"250 busy\r\n")
        _read_line(connection)
        connection.sendall(b"421 4.3.2 Shutting down\r\n")

    with ScriptedServer(handler) as server:
        with pytest.raises(SMTPResponseError) as caught:
            if kind == "blocking":
                send_blocking(server.port, MESSAGE, "a@example.test", ["b@example.test"])
            else:
                send_aio(server.port, MESSAGE, "a@example.test", ["b@example.test"])
    assert caught.value.reply.code == 421
