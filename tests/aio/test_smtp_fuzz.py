"""Arbitrary bytes through the wire never break the servers (hypothesis).

For each generated conversation (commands from the SMTP vocabulary mixed
with raw noise, sent in random pieces) the server must answer only with
well-formed replies, must end or keep the connection without crashing, and
must still greet a new client and complete a transaction afterwards. Both
the asyncio and the threaded server are exercised, each started once.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .support import MESSAGE, RecordingBackend, ServerThread, dot_stuffed

REPLY_LINE = re.compile(rb"[2-5][0-9]{2}[ -][\x09\x20-\x7e]*\r\n")

WORDS = [b"EHLO x.example\r\n", b"HELO x\r\n", b"MAIL FROM:<a@example.test>\r\n", b"RCPT TO:<b@example.test>\r\n",
         b"DATA\r\n", b"BDAT 5\r\n", b"BDAT 3 LAST\r\n", b"RSET\r\n", b"NOOP\r\n", b"QUIT\r\n", b"STARTTLS\r\n",
         b"AUTH PLAIN\r\n", b"*\r\n", b"VRFY x\r\n", b"\r\n.\r\n", b".\r\n", b"\n", b"\r", b"\x00", b"LHLO x\r\n"]

conversation = st.lists(st.one_of(st.sampled_from(WORDS), st.binary(max_size=40)), max_size=25).map(b"".join)
splits = st.lists(st.integers(min_value=1, max_value=64), max_size=8)


@pytest.fixture(scope="module", params=["aio", "threaded"])
def server(request: pytest.FixtureRequest) -> Iterator[ServerThread]:
    with ServerThread(RecordingBackend(), blocking=request.param == "threaded", command_timeout=5) as running:
        yield running


def _converse(port: int, data: bytes, pieces: list[int]) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        position = 0
        try:
            for size in [*pieces, len(data)]:
                if position >= len(data):
                    break
                sock.sendall(data[position:position + size])
                position += size
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # EPIPE, ECONNRESET, ENOTCONN
            pass  # the server closed first (QUIT, a limit): what it sent is still read below
        received = bytearray()
        while True:
            try:
                piece = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not piece:
                break
            received += piece
        return bytes(received)


def _still_serves(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        stream = sock.makefile("rb")
        assert stream.readline().startswith(b"220 ")
        sock.sendall(b"HELO ok.example\r\nMAIL FROM:<a@example.test>\r\n")
        assert stream.readline().startswith(b"250")
        assert stream.readline().startswith(b"250")
        sock.sendall(b"RCPT TO:<b@example.test>\r\n")
        assert stream.readline().startswith(b"250")
        sock.sendall(b"DATA\r\n")
        assert stream.readline().startswith(b"354")
        sock.sendall(dot_stuffed(MESSAGE))
        assert stream.readline().startswith(b"250")
        stream.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=conversation, pieces=splits)
def test_arbitrary_input_gets_only_replies_and_the_server_goes_on(server: ServerThread, data: bytes,
                                                                  pieces: list[int]) -> None:
    received = _converse(server.port, data, pieces)
    assert received.startswith(b"220 ")
    position = 0
    while position < len(received):
        match = REPLY_LINE.match(received, position)
        assert match is not None, received[position:position + 200]
        position = match.end()
    _still_serves(server.port)
