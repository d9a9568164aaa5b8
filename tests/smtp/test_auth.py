"""AUTH framing (RFC 4954): base64, 334 challenges, '*' cancel, the machine's checks (SECURITY A6.1, A6.3)."""

from __future__ import annotations

import pytest

from rfcmail import smtp
from rfcmail.errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from rfcmail.smtp import (
    Auth,
    AuthCancel,
    AuthChallenge,
    AuthResponse,
    BadCommand,
    Config,
    Reply,
    State,
)

from . import codes, greeted_server, our, ready_client, run_server

CONFIG = Config(auth_mechanisms=("PLAIN", "LOGIN", "CRAM-MD5"), require_tls_for_auth=False)


def login_replier(conn: smtp.Connection, event: smtp.Event) -> smtp.Event | None:
    if isinstance(event, Auth):
        return AuthChallenge(data=b"Username:")
    if isinstance(event, AuthResponse):
        if event.data == b"alice":
            return AuthChallenge(data=b"Password:")
        if event.data == b"secret":
            return Reply.standard("auth_ok")
        return Reply.standard("auth_failed")
    return conn.default_reply(event)


def test_login_exchange() -> None:
    conn = greeted_server(CONFIG)
    events, out = run_server(conn, b"EHLO a\r\nAUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\nMAIL FROM:<a@b.example>\r\n",
                             replier=login_replier)
    assert out.endswith(b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication successful\r\n"
                        b"250 2.1.0 Sender ok\r\n")
    assert codes(out) == [250, 334, 334, 235, 250]
    assert b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n" in out
    assert [type(e) for e in events[1:4]] == [Auth, AuthResponse, AuthResponse]
    assert conn.authenticated
    _, out = run_server(conn, b"RSET\r\nAUTH PLAIN\r\n")
    assert codes(out) == [250, 503]  # already authenticated


def test_initial_response_and_empty_equals() -> None:
    conn = greeted_server(CONFIG)
    events, _ = run_server(conn, b"EHLO a\r\nAUTH PLAIN =\r\n",
                           replier=lambda c, e: Reply.standard("auth_failed") if isinstance(e, Auth) else c.default_reply(e))
    assert events[-1] == Auth(mechanism="PLAIN", initial_response=b"")


def test_cancel_is_reported_and_must_fail() -> None:
    conn = greeted_server(CONFIG)
    events, out = run_server(conn, b"EHLO a\r\nAUTH LOGIN\r\n*\r\nNOOP\r\n", replier=login_replier)
    assert isinstance(events[2], AuthCancel)
    assert codes(out) == [250, 334, 501, 250]
    assert b"501 5.7.0 Authentication cancelled\r\n" in out
    assert our(conn) is State.READY and not conn.authenticated


def test_bad_base64_response_ends_exchange() -> None:
    conn = greeted_server(CONFIG)
    events, out = run_server(conn, b"EHLO a\r\nAUTH LOGIN\r\nnot base64!\r\nNOOP\r\n", replier=login_replier)
    assert isinstance(events[2], BadCommand)
    assert codes(out) == [250, 334, 501, 250]
    assert b"501 5.5.2 " in out


@pytest.mark.parametrize("initial", [b"=AAA", b"AAA=BBB", b"QQ", b"Q===", b"*x"])
def test_bad_base64_initial_response(initial: bytes) -> None:
    conn = greeted_server(CONFIG)
    _, out = run_server(conn, b"EHLO a\r\nAUTH PLAIN " + initial + b"\r\n")
    assert codes(out) == [250, 501]


@pytest.mark.parametrize(
    ("before", "line", "code"),
    [
        (b"EHLO a\r\n", b"AUTH DIGEST-MD5\r\n", 504),
        (b"EHLO a\r\n", b"AUTH\r\n", 501),
        (b"EHLO a\r\n", b"AUTH PLAIN a b\r\n", 501),
        (b"EHLO a\r\nMAIL FROM:<a@b.example>\r\n", b"AUTH PLAIN\r\n", 503),
        (b"", b"AUTH PLAIN\r\n", 503),
    ],
)
def test_auth_refusals(before: bytes, line: bytes, code: int) -> None:
    conn = greeted_server(CONFIG)
    _, out = run_server(conn, before + line)
    assert codes(out)[-1] == code


def test_require_auth() -> None:
    conn = greeted_server(CONFIG.clone(require_auth=True))
    _, out = run_server(conn, b"EHLO a\r\nMAIL FROM:<a@b.example>\r\n")
    assert codes(out) == [250, 530]
    run_server(conn, b"AUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\n", replier=login_replier)
    _, out = run_server(conn, b"MAIL FROM:<a@b.example>\r\n")
    assert codes(out) == [250]


def test_failure_resets_exchange() -> None:
    conn = greeted_server(CONFIG)
    _, out = run_server(conn, b"EHLO a\r\nAUTH LOGIN\r\nYm9i\r\nAUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\n",
                        replier=login_replier)
    # bob is refused at once (535), then a fresh exchange succeeds (CVE-2011-1720: state reset).
    assert codes(out) == [250, 334, 535, 334, 334, 235]


def test_server_challenge_only_in_exchange() -> None:
    conn = greeted_server(CONFIG)
    with pytest.raises(LocalProtocolError):
        conn.send(AuthChallenge(data=b"x"))
    run_server(conn, b"EHLO a\r\n")
    conn.receive_data(b"AUTH LOGIN\r\n")
    conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(code=334, lines=("VXNlcm5hbWU6",)))


# --------------------------------------------------------------------------- client


def test_client_exchange() -> None:
    conn = ready_client("PIPELINING\r\n250 AUTH PLAIN LOGIN")
    assert conn.send(Auth(mechanism="login")) == b"AUTH LOGIN\r\n"
    with pytest.raises(LocalProtocolError):
        conn.send(AuthResponse(data=b"alice"))  # before the challenge
    conn.receive_data(b"334 VXNlcm5hbWU6\r\n")
    assert conn.next_event() == AuthChallenge(data=b"Username:")
    assert conn.send(AuthResponse(data=b"alice")) == b"YWxpY2U=\r\n"
    conn.receive_data(b"334 UGFzc3dvcmQ6\r\n")
    assert conn.next_event() == AuthChallenge(data=b"Password:")
    assert conn.send(AuthCancel()) == b"*\r\n"
    conn.receive_data(b"501 5.7.0 cancelled\r\n")
    reply = conn.next_event()
    assert isinstance(reply, Reply) and reply.code == 501 and our(conn) is State.READY
    assert conn.send(Auth(mechanism="PLAIN", initial_response=b"\x00alice\x00secret")) == (
        b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n")
    conn.receive_data(b"235 2.7.0 ok\r\n")
    conn.next_event()
    assert conn.authenticated


def test_client_empty_challenge_and_bad_challenge() -> None:
    conn = ready_client("AUTH PLAIN")
    conn.send(Auth(mechanism="PLAIN"))
    conn.receive_data(b"334 \r\n")
    assert conn.next_event() == AuthChallenge(data=b"")
    conn.send(AuthResponse(data=b"\x00a\x00b"))
    conn.receive_data(b"334 !!notbase64\r\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_client_unexpected_334() -> None:
    conn = ready_client()
    conn.send(smtp.Noop())
    conn.receive_data(b"334 abc\r\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


@pytest.mark.parametrize(("challenges", "fails"), [(2, False), (3, False), (4, True)])
def test_client_challenge_count(challenges: int, fails: bool) -> None:
    conn = ready_client("AUTH LOGIN", config=Config(max_auth_challenges=3))
    conn.send(Auth(mechanism="LOGIN"))
    for index in range(challenges):
        conn.receive_data(b"334 VXNlcm5hbWU6\r\n")
        if fails and index == challenges - 1:
            with pytest.raises(LimitExceeded) as info:
                conn.next_event()
            assert getattr(info.value, "limit_name", None) == "max_auth_challenges"
            return
        assert isinstance(conn.next_event(), AuthChallenge)
        conn.send(AuthResponse(data=b"x"))
    conn.receive_data(b"235 ok\r\n")
    assert isinstance(conn.next_event(), Reply)
