"""Attacks sent through the real wire to the running asyncio and threaded servers.

- SMTP smuggling (SECURITY A1.1): every non-canonical end-of-data variant of
  the 2023 research, followed by a smuggled transaction, in one write and in
  one-byte writes: at most one message reaches the backend, never the
  smuggled one, and with the default ``bare_lf="reject"`` the message is
  refused with 550 5.6.11.
- STARTTLS command injection (SECURITY A2.1): a MAIL pipelined after
  STARTTLS in the same packet is discarded (and logged), never executed
  after the handshake.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time

import pytest

from rfcmail.smtp import Config

from ..aio.support import RecordingBackend, ServerThread
from .conftest import TLSMaterial

pytestmark = pytest.mark.interop

VARIANTS = [
    b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r.\n", b"\n.\r", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r", b"\r\n\x00.\r\n",
]
SMUGGLED = (b"MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\n"
            b"From: ceo@example.test\r\n\r\nspoofed\r\n.\r\n")


def _read_reply(stream: socket.SocketIO | object) -> bytes:
    assert hasattr(stream, "readline")
    lines = []
    while True:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        if line[3:4] != b"-":
            break
    return b"".join(lines)


def _smuggle(port: int, variant: bytes, *, bytewise: bool) -> list[bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        stream = sock.makefile("rb")
        _read_reply(stream)
        sock.sendall(b"EHLO attacker.example\r\n")
        _read_reply(stream)
        sock.sendall(b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")
        for _ in range(3):
            _read_reply(stream)
        payload = b"Subject: innocent\r\n\r\nbody" + variant + SMUGGLED + b"\r\n.\r\nQUIT\r\n"
        if bytewise:
            for index in range(len(payload)):
                sock.sendall(payload[index:index + 1])
        else:
            sock.sendall(payload)
        replies = []
        sock.settimeout(5)
        while True:
            reply = _read_reply(stream)
            if not reply:
                break
            replies.append(reply)
            if reply.startswith(b"221"):
                break
        return replies


@pytest.mark.parametrize("blocking", [False, True], ids=["aio", "threaded"])
@pytest.mark.parametrize("bytewise", [False, True], ids=["one-write", "bytewise"])
@pytest.mark.parametrize("variant", VARIANTS, ids=[repr(v)[2:-1] for v in VARIANTS])
def test_smuggling_variants_yield_at_most_one_message(variant: bytes, bytewise: bool, blocking: bool) -> None:
    backend = RecordingBackend()
    with ServerThread(backend, blocking=blocking) as server:
        replies = _smuggle(server.port, variant, bytewise=bytewise)
        deadline = time.monotonic() + 2
        while backend.closed_sessions == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(backend.messages) <= 1
    assert all(m.sender != "evil@attacker.test" for m in backend.messages)
    assert not any(b"evil" in m.content and m.sender == "evil@attacker.test" for m in backend.messages)
    # The default policy refuses bare CR/LF (and the NUL variant is kept as content or refused).
    if variant != b"\r\n\x00.\r\n":
        assert backend.messages == []
        assert replies[0].startswith(b"550 5.6.11"), replies
    assert replies[-1].startswith(b"221"), replies


@pytest.mark.parametrize("variant", VARIANTS, ids=[repr(v)[2:-1] for v in VARIANTS])
def test_smuggling_with_normalisation_keeps_the_smuggled_text_as_content(variant: bytes) -> None:
    backend = RecordingBackend()
    config = Config(bare_lf="normalize", bare_cr="normalize")
    with ServerThread(backend, config=config) as server:
        _smuggle(server.port, variant, bytewise=False)
        deadline = time.monotonic() + 2
        while backend.closed_sessions == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(backend.messages) == 1
    (message,) = backend.messages
    assert message.sender == "a@example.test"
    assert b"MAIL FROM:<evil@attacker.test>" in message.content  # content, not a command


@pytest.mark.parametrize("blocking", [False, True], ids=["aio", "threaded"])
def test_starttls_injection_is_discarded(tls_material: TLSMaterial, blocking: bool,
                                         caplog: pytest.LogCaptureFixture) -> None:
    backend = RecordingBackend()
    context = ssl.create_default_context(cafile=str(tls_material.ca))
    caplog.set_level(logging.WARNING, logger="rfcmail.smtp")
    with ServerThread(backend, tls=tls_material, blocking=blocking) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            stream = raw.makefile("rb")
            _read_reply(stream)
            raw.sendall(b"EHLO attacker.example\r\n")
            _read_reply(stream)
            raw.sendall(b"STARTTLS\r\nMAIL FROM:<evil@attacker.test>\r\nRCPT TO:<victim@example.test>\r\n")
            assert _read_reply(stream).startswith(b"220")
            stream.close()
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                secure = tls.makefile("rb")
                tls.sendall(b"EHLO attacker.example\r\n")
                assert _read_reply(secure).startswith(b"250")
                # Had the injected MAIL run, this RCPT would be accepted.
                tls.sendall(b"RCPT TO:<victim@example.test>\r\n")
                assert _read_reply(secure).startswith(b"503")
                tls.sendall(b"QUIT\r\n")
                assert _read_reply(secure).startswith(b"221")
                secure.close()
    assert backend.messages == []
    assert any("discarded" in record.getMessage() and "STARTTLS" in record.getMessage()
               for record in caplog.records)
