"""PIPELINING (RFC 2920): batches in, replies in order, early talkers detected (SECURITY A1.4)."""

from __future__ import annotations

import pytest

from rfcmail import smtp
from rfcmail.errors import LocalProtocolError
from rfcmail.smtp import Config, Data, Ehlo, Mail, Quit, Rcpt, Reply, Rset, State
from rfcmail.testing import ConnectionPair

from . import codes, greeted_server, of_type, our, ready_client, run_server

BATCH = b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nRCPT TO:<e@f.example>\r\nDATA\r\n"


def test_server_batch_with_pipelining() -> None:
    conn = greeted_server()
    run_server(conn, b"EHLO a\r\n")
    events, out = run_server(conn, BATCH)
    assert [type(e) for e in events] == [Mail, Rcpt, Rcpt, Data]
    assert codes(out) == [250, 250, 250, 354]
    assert not conn.early_talker


def test_server_batch_without_pipelining_still_ordered() -> None:
    conn = greeted_server(Config(pipelining=False))
    _, out = run_server(conn, b"EHLO a\r\n")
    assert b"PIPELINING" not in out
    events, out = run_server(conn, BATCH)
    assert codes(out) == [250, 250, 250, 354]
    assert conn.early_talker


def test_server_helo_means_no_pipelining() -> None:
    conn = greeted_server()
    run_server(conn, b"HELO a\r\n")
    run_server(conn, BATCH)
    assert conn.early_talker


@pytest.mark.parametrize("ender", [b"EHLO a\r\n", b"NOOP\r\n", b"VRFY x\r\n", b"HELP\r\n"])
def test_server_group_enders(ender: bytes) -> None:
    conn = greeted_server()
    run_server(conn, b"EHLO a\r\n")
    run_server(conn, ender + b"RSET\r\n")
    assert conn.early_talker


def test_server_data_before_354_detected() -> None:
    conn = greeted_server()
    run_server(conn, b"EHLO a\r\n")
    events, out = run_server(conn, BATCH + b"Subject: x\r\n\r\nbody\r\n.\r\n")
    assert conn.early_talker
    assert isinstance(events[-1], smtp.EndOfMessage)
    assert codes(out) == [250, 250, 250, 354, 250]


def test_server_commands_after_message_with_pipelining() -> None:
    # RFC 2920 section 3.1: the message content may open the next group.
    conn = greeted_server()
    run_server(conn, b"EHLO a\r\n")
    run_server(conn, BATCH)
    events, out = run_server(conn, b"body\r\n.\r\nRSET\r\nQUIT\r\n")
    assert codes(out) == [250, 250, 221]
    assert not conn.early_talker


def test_server_failed_mail_makes_pipelined_rcpt_and_data_fail() -> None:
    conn = greeted_server()
    run_server(conn, b"EHLO a\r\n")
    events, out = run_server(
        conn, BATCH + b"NOOP\r\n",
        replier=lambda c, e: Reply(code=451, lines=("try later",)) if isinstance(e, Mail) else c.default_reply(e),
    )
    assert codes(out) == [451, 503, 503, 503, 250]
    assert of_type(events, smtp.BadCommand) and our(conn) is State.READY


def test_client_batch_and_reply_attribution() -> None:
    conn = ready_client()
    wire = b"".join(conn.send(e) for e in (
        Mail(reverse_path="a@b.example"), Rcpt(forward_path="c@d.example"),
        Rcpt(forward_path="e@f.example"), Data()))
    assert wire == BATCH
    with pytest.raises(LocalProtocolError):
        conn.send(Rset())  # DATA ends the group
    conn.receive_data(b"250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n354 go\r\n")
    replies = []
    while isinstance(event := conn.next_event(), Reply):
        replies.append(event)
    assert [(type(r.command).__name__, r.code) for r in replies] == [
        ("Mail", 250), ("Rcpt", 250), ("Rcpt", 550), ("Data", 354)]
    assert conn.recipients == (Rcpt(forward_path="c@d.example"),)


def test_client_pending_commands_and_group_enders() -> None:
    conn = ready_client()
    conn.send(Rset())
    conn.send(Mail(reverse_path="a@b.example"))
    assert conn.pending_commands == (Rset(), Mail(reverse_path="a@b.example"))
    conn.send(Quit())
    with pytest.raises(LocalProtocolError):
        conn.send(smtp.Noop())


def test_pair_pipelined_batch() -> None:
    client = smtp.Connection(smtp.CLIENT)
    server = smtp.Connection(smtp.SERVER)
    pair = ConnectionPair(client, server)
    pair.server_send(server.greeting())
    (ehlo,) = pair.client_send(Ehlo(domain="c"))
    pair.server_send(server.default_reply(ehlo))
    first = pair.client_send(Mail(reverse_path="a@b.example"), Rcpt(forward_path="c@d.example"), Data())
    assert first == [Mail(reverse_path="a@b.example")]  # one at a time: each waits for its reply
    replies: list[smtp.Event] = []
    while (pending := server.pending_reply_to) is not None:
        replies += pair.server_send(server.default_reply(pending))
        pair.server_events_now()
    assert [r.code for r in replies if isinstance(r, Reply)] == [250, 250, 354]
    assert our(client) is State.DATA
