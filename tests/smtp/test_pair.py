"""rfcmail.testing.ConnectionPair: delivery, raw writes, closing, chunking."""

from __future__ import annotations

import pytest

from rfcmail import smtp
from rfcmail.testing import ConnectionPair


def make_pair(chunk_size: int | None = None) -> ConnectionPair[smtp.Connection, smtp.Connection]:
    client = smtp.Connection(smtp.CLIENT)
    server = smtp.Connection(smtp.SERVER)
    pair = ConnectionPair(client, server, chunk_size=chunk_size)
    pair.server_send(server.greeting())
    return pair


def test_raw_writes_and_event_logs() -> None:
    pair = make_pair()
    (event,) = pair.client_write(b"NOOP\r\n")
    assert event == smtp.Noop()
    assert pair.server_events == [smtp.Noop()]
    pair.server.send(pair.server.default_reply(event))
    assert pair.server_events_now() == []
    # A raw write from the server side reaches the client machine.
    (reply,) = pair.server_write(b"421 4.3.2 shutting down\r\n")
    assert isinstance(reply, smtp.Reply) and reply.code == 421
    assert bytes(pair.client_wire) == b"NOOP\r\n"
    assert pair.server_wire.startswith(b"220 ")


def test_closing_both_ways() -> None:
    pair = make_pair()
    (closed,) = pair.close_client()
    assert isinstance(closed, smtp.ConnectionClosed)
    assert isinstance(pair.server_events[-1], smtp.ConnectionClosed)
    (closed,) = pair.close_server()
    assert isinstance(closed, smtp.ConnectionClosed)
    assert pair.client_events_now() == [smtp.ConnectionClosed()]


@pytest.mark.parametrize("chunk_size", [1, 2, 1000])
def test_chunked_delivery_gives_the_same_events(chunk_size: int) -> None:
    whole = make_pair()
    pieces = make_pair(chunk_size)
    for pair in (whole, pieces):
        pair.client_send(smtp.Ehlo(domain="c.example"))
        pair.server_send(pair.server.default_reply(pair.server_events[-1]))
    assert whole.client_events == pieces.client_events
    assert whole.server_events == pieces.server_events


def test_bad_chunk_size() -> None:
    with pytest.raises(ValueError):
        ConnectionPair(smtp.Connection(smtp.CLIENT), smtp.Connection(smtp.SERVER), chunk_size=0)


def test_partial_batch_is_delivered_before_the_error() -> None:
    from rfcmail.errors import LocalProtocolError

    pair = make_pair()
    with pytest.raises(LocalProtocolError):
        pair.client_send(smtp.Ehlo(domain="c.example"), smtp.Mail(reverse_path="a@b.example"))
    # The EHLO went out and reached the server; the MAIL did not.
    assert pair.server_events == [smtp.Ehlo(domain="c.example")]
    assert bytes(pair.client_wire) == b"EHLO c.example\r\n"
