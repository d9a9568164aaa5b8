"""STARTTLS (RFC 3207) and its injection attacks: SECURITY A2.1, A2.2, A2.4, A6.1."""

from __future__ import annotations

import pytest

from rfcmail import smtp
from rfcmail.errors import LocalProtocolError, RemoteProtocolError
from rfcmail.smtp import (
    CLIENT,
    NEED_DATA,
    PAUSED,
    Auth,
    Config,
    Connection,
    DiscardedPlaintext,
    Ehlo,
    Mail,
    Reply,
    StartTLS,
    State,
)

from . import codes, drain, greeted_server, of_type, our, run_server, their

TLS_CONFIG = Config(hostname="mx.example", starttls=True, auth_mechanisms=("PLAIN", "LOGIN"))


@pytest.mark.parametrize("chunk", [None, 1])
def test_server_discards_pipelined_plaintext(chunk: int | None) -> None:
    conn = greeted_server(TLS_CONFIG)
    injected = b"MAIL FROM:<attacker@example.com>\r\nRCPT TO:<x@example.net>\r\n"
    events, out = run_server(conn, b"EHLO a\r\nSTARTTLS\r\n" + injected, chunk=chunk)
    assert codes(out) == [250, 220]
    assert our(conn) is State.STARTTLS
    discarded = of_type(events, DiscardedPlaintext)
    if chunk is None:
        # Everything after STARTTLS arrived with it and is reported once.
        assert [d.data for d in discarded] == [injected]  # type: ignore[attr-defined]
    else:
        # One byte at a time the server replied before the rest arrived: the
        # rest arrives while PAUSED and is reported, never parsed.
        assert b"".join(d.data for d in discarded) == injected  # type: ignore[attr-defined]
    assert conn.early_talker == (chunk is None)
    assert not of_type(events, Mail)
    conn.tls_established()
    assert our(conn) is State.HELLO and their(conn) is State.HELLO
    # After TLS: a fresh session; the injected MAIL was never seen.
    events, out = run_server(conn, b"MAIL FROM:<a@b.example>\r\n")
    assert codes(out) == [503]
    events, out = run_server(conn, b"EHLO a\r\n")
    assert b"STARTTLS" not in out and b"AUTH PLAIN LOGIN" in out


def test_server_plaintext_after_220_while_handshaking() -> None:
    conn = greeted_server(TLS_CONFIG)
    run_server(conn, b"EHLO a\r\nSTARTTLS\r\n")
    conn.receive_data(b"QUIT\r\n")
    event = conn.next_event()
    assert event == DiscardedPlaintext(data=b"QUIT\r\n")
    assert conn.next_event() is PAUSED


def test_server_starttls_refused_continues_plaintext() -> None:
    conn = greeted_server(TLS_CONFIG)
    events, out = run_server(
        conn, b"EHLO a\r\nSTARTTLS\r\nNOOP\r\n",
        replier=lambda c, e: Reply(code=454, lines=("TLS not available",)) if isinstance(e, StartTLS) else c.default_reply(e),
    )
    assert codes(out) == [250, 454, 250]
    assert our(conn) is State.READY


@pytest.mark.parametrize(
    ("config", "before", "code"),
    [
        (Config(), b"EHLO a\r\n", 502),  # not offered
        (TLS_CONFIG, b"", 503),  # before EHLO
        (TLS_CONFIG, b"EHLO a\r\nMAIL FROM:<a@b.example>\r\n", 503),  # inside a transaction
    ],
)
def test_server_starttls_refusals(config: Config, before: bytes, code: int) -> None:
    conn = greeted_server(config)
    _, out = run_server(conn, before + b"STARTTLS\r\n")
    assert codes(out)[-1] == code


def test_server_starttls_with_argument() -> None:
    conn = greeted_server(TLS_CONFIG)
    _, out = run_server(conn, b"EHLO a\r\nSTARTTLS now\r\n")
    assert codes(out) == [250, 501]


def test_server_no_second_starttls() -> None:
    conn = greeted_server(TLS_CONFIG, implicit_tls=True)
    _, out = run_server(conn, b"EHLO a\r\nSTARTTLS\r\n")
    assert b"STARTTLS" not in out.split(b"\r\n")[0:10][-1]
    assert codes(out) == [250, 503]


def test_tls_established_only_after_220() -> None:
    conn = greeted_server(TLS_CONFIG)
    with pytest.raises(LocalProtocolError):
        conn.tls_established()


# --------------------------------------------------------------------------- AUTH before TLS (A6.1)


def test_auth_not_advertised_nor_accepted_before_tls() -> None:
    conn = greeted_server(TLS_CONFIG)
    events, out = run_server(conn, b"EHLO a\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n")
    assert b"AUTH" not in out.split(b"\r\n250 ")[0]
    assert out.endswith(b"538 5.7.11 Encryption required for requested authentication mechanism\r\n")
    assert isinstance(events[-1], smtp.BadCommand)


def test_auth_allowed_without_tls_when_configured() -> None:
    conn = greeted_server(TLS_CONFIG.clone(require_tls_for_auth=False))
    events, out = run_server(
        conn, b"EHLO a\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
        replier=lambda c, e: Reply.standard("auth_ok") if isinstance(e, Auth) else c.default_reply(e),
    )
    assert b"250-AUTH PLAIN LOGIN\r\n" in out
    assert events[-1] == Auth(mechanism="PLAIN", initial_response=b"\x00alice\x00secret")
    assert conn.authenticated


# --------------------------------------------------------------------------- the client (A2.2, A2.4)


def client_after_ehlo(ehlo_lines: bytes) -> Connection:
    conn = Connection(CLIENT)
    conn.receive_data(b"220 mx ESMTP\r\n")
    conn.next_event()
    conn.send(Ehlo(domain="c.example"))
    conn.receive_data(ehlo_lines)
    conn.next_event()
    return conn


def test_client_fails_on_bytes_after_220() -> None:
    conn = client_after_ehlo(b"250-mx\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n")
    conn.send(StartTLS())
    conn.receive_data(b"220 go ahead\r\n250-fake\r\n250 AUTH PLAIN\r\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    assert their(conn) is State.ERROR


def test_client_fails_on_bytes_arriving_later_before_handshake() -> None:
    conn = client_after_ehlo(b"250-mx\r\n250 STARTTLS\r\n")
    conn.send(StartTLS())
    conn.receive_data(b"220 go ahead\r\n")
    reply = conn.next_event()
    assert isinstance(reply, Reply) and reply.code == 220
    assert conn.next_event() is PAUSED
    conn.receive_data(b"250 injected\r\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_client_extensions_replaced_after_tls() -> None:
    conn = client_after_ehlo(b"250-mx\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n")
    assert conn.extensions.auth_mechanisms == ("PLAIN", "LOGIN")
    conn.send(StartTLS())
    conn.receive_data(b"220 2.0.0 ready\r\n")
    conn.next_event()
    assert conn.next_event() is PAUSED
    with pytest.raises(LocalProtocolError):
        conn.send(Ehlo(domain="c.example"))
    conn.tls_established()
    assert conn.extensions == smtp.Extensions()
    assert our(conn) is State.HELLO
    with pytest.raises(LocalProtocolError):
        conn.send(Mail(reverse_path="a@b.example"))  # EHLO first
    conn.send(Ehlo(domain="c.example"))
    conn.receive_data(b"250-mx\r\n250 AUTH SCRAM-SHA-256\r\n")
    conn.next_event()
    assert list(conn.extensions.auth_mechanisms) == ["SCRAM-SHA-256"]
    assert conn.tls_active


def test_client_starttls_refused() -> None:
    conn = client_after_ehlo(b"250-mx\r\n250 STARTTLS\r\n")
    conn.send(StartTLS())
    conn.receive_data(b"454 4.7.0 TLS not available\r\n")
    reply = conn.next_event()
    assert isinstance(reply, Reply) and reply.code == 454
    assert our(conn) is State.READY
    assert conn.next_event() is NEED_DATA


def test_client_full_starttls_in_memory() -> None:
    server = greeted_server(TLS_CONFIG)
    client = Connection(CLIENT)
    client.receive_data(b"220 mx.example ESMTP\r\n")
    client.next_event()
    wire = client.send(Ehlo(domain="c"))
    _, out = run_server(server, wire)
    client.receive_data(out)
    drain(client)
    assert client.extensions.starttls and not client.extensions.auth_mechanisms
    _, out = run_server(server, client.send(StartTLS()))
    client.receive_data(out)
    drain(client)
    client.tls_established()
    server.tls_established()
    _, out = run_server(server, client.send(Ehlo(domain="c")))
    client.receive_data(out)
    drain(client)
    assert client.extensions.auth_mechanisms == ("PLAIN", "LOGIN") and not client.extensions.starttls


def test_discarded_plaintext_report_is_bounded() -> None:
    conn = greeted_server(TLS_CONFIG)
    run_server(conn, b"EHLO a\r\nSTARTTLS\r\n")
    for _ in range(100):
        conn.receive_data(b"X" * 10_000)
    event = conn.next_event()
    assert isinstance(event, DiscardedPlaintext) and len(event.data) == 64 * 1024
    assert conn.next_event() is PAUSED
