"""Arbitrary input into both roles: only the documented errors, never a crash or a hang."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rfcmail import smtp
from rfcmail.errors import LimitExceeded, RemoteProtocolError
from rfcmail.limits import DEFAULT_LIMITS
from rfcmail.smtp import Config

from . import default_replier, greeted_server, ready_client, run_server

FUZZ_CONFIG = Config(
    starttls=True, auth_mechanisms=("PLAIN", "LOGIN"), require_tls_for_auth=False,
    limits=DEFAULT_LIMITS.clone(max_command_line=64, max_text_line=64, max_message_size=300,
                                max_auth_line=80, max_bad_commands=1000, max_recipients=3),
)

TOKENS = [
    b"EHLO a\r\n", b"HELO a\r\n", b"LHLO a\r\n", b"MAIL FROM:<a@b.example>\r\n", b"MAIL FROM:<> SIZE=10\r\n",
    b"RCPT TO:<c@d.example>\r\n", b"DATA\r\n", b"BDAT 3\r\n", b"BDAT 2 LAST\r\n", b"RSET\r\n", b"NOOP\r\n",
    b"QUIT\r\n", b"STARTTLS\r\n", b"AUTH PLAIN\r\n", b"AUTH LOGIN YQ==\r\n", b"*\r\n", b"YWJj\r\n", b".\r\n",
    b"\r\n.\r\n", b"\n.\n", b"\r", b"\n", b".", b"x", b"\x00", b"\xff", b"VRFY x\r\n", b"HELP\r\n",
]


def replier(conn: smtp.Connection, event: smtp.Event) -> smtp.Event | list[smtp.Reply] | None:
    if isinstance(event, smtp.Auth):
        return smtp.AuthChallenge(data=b"")
    if isinstance(event, smtp.AuthResponse):
        return smtp.Reply.standard("auth_failed")
    return default_replier(conn, event)


def drive(data: bytes, piece: int | None) -> None:
    conn = greeted_server(FUZZ_CONFIG)
    try:
        run_server(conn, data, chunk=piece, replier=replier, close=True)
    except (RemoteProtocolError, LimitExceeded) as exc:
        assert conn.their_state is smtp.State.ERROR
        assert exc.reply_hint is None or smtp.Reply.from_text(exc.reply_hint).code >= 400


@settings(max_examples=200)
@given(st.binary(max_size=400), st.one_of(st.none(), st.integers(min_value=1, max_value=50)))
def test_server_arbitrary_bytes(data: bytes, piece: int | None) -> None:
    drive(data, piece)


@settings(max_examples=300)
@given(st.lists(st.sampled_from(TOKENS), max_size=40), st.one_of(st.none(), st.integers(min_value=1, max_value=9)))
def test_server_token_soup(tokens: list[bytes], piece: int | None) -> None:
    drive(b"".join(tokens), piece)


REPLY_TOKENS = [
    b"220 ok\r\n", b"250 ok\r\n", b"250-a\r\n", b"354 go\r\n", b"334 YQ==\r\n", b"334 !!\r\n", b"421 bye\r\n",
    b"550 5.1.1 no\r\n", b"221 bye\r\n", b"\r\n", b"999 x\r\n", b"x" * 600, b"\n", b"\xff\r\n",
]


@settings(max_examples=200)
@given(st.lists(st.sampled_from(REPLY_TOKENS), max_size=20), st.binary(max_size=100))
def test_client_arbitrary_replies(tokens: list[bytes], noise: bytes) -> None:
    conn = ready_client()
    conn.send(smtp.Mail(reverse_path="a@b.example"))
    conn.send(smtp.Rcpt(forward_path="c@d.example"))
    conn.send(smtp.Data())
    conn.receive_data(b"".join(tokens) + noise)
    conn.receive_data(b"")
    try:
        for _ in range(100):
            event = conn.next_event()
            if isinstance(event, smtp.ConnectionClosed):
                break
    except (RemoteProtocolError, LimitExceeded):
        assert conn.their_state is smtp.State.ERROR


@given(st.binary(max_size=300))
def test_client_greeting_arbitrary_bytes(data: bytes) -> None:
    conn = smtp.Connection(smtp.CLIENT)
    conn.receive_data(data)
    conn.receive_data(b"")
    try:
        for _ in range(50):
            if isinstance(conn.next_event(), smtp.ConnectionClosed):
                break
    except (RemoteProtocolError, LimitExceeded):
        pass
