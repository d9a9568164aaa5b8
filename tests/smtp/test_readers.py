"""Readers: command lines, reply lines, DATA framing; fed whole, byte by byte and with trailing data."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail import smtp
from rfcmail.errors import LimitExceeded, RemoteProtocolError
from rfcmail.smtp import Auth, AuthCancel, AuthResponse, Bdat, Mail, Rcpt, Reply
from rfcmail.smtp._abnf import PathSyntaxError, is_mailbox, parse_path_and_params
from rfcmail.smtp._data import DataReceiver, DotStuffer
from rfcmail.smtp._readers import (
    Refusal,
    ReplyReader,
    decode_base64,
    parse_auth,
    parse_auth_line,
    parse_bdat,
    parse_mail,
    parse_rcpt,
    split_command,
)

# --------------------------------------------------------------------------- commands


@pytest.mark.parametrize(
    ("line", "verb", "argument"),
    [(b"ehlo x", "EHLO", "x"), (b"DATA", "DATA", None), (b"DATA   ", "DATA", None),
     (b"NOOP a b", "NOOP", "a b"), (b"mail FROM:<a@b>", "MAIL", "FROM:<a@b>"),
     ("RCPT TO:<ö@b>".encode(), "RCPT", "TO:<ö@b>")],
)
def test_split_command(line: bytes, verb: str, argument: str | None) -> None:
    assert split_command(line) == (verb, argument)


@pytest.mark.parametrize("line", [b"", b" DATA", b"DA\x00TA", b"NOOP \xff", b"123", b"NOOP\rX", b"X" * 17])
def test_split_command_refusals(line: bytes) -> None:
    with pytest.raises(Refusal):
        split_command(line)


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("FROM:<>", Mail(reverse_path="")),
        ("from:<a@b.example>", Mail(reverse_path="a@b.example")),
        ("FROM: <a@b.example>", Mail(reverse_path="a@b.example")),
        ("FROM:<@x.example,@y.example:a@b.example> SIZE=5", Mail(reverse_path="a@b.example", params=(("SIZE", "5"),))),
        ('FROM:<"a b\\"c"@[192.0.2.1]>', Mail(reverse_path='"a b\\"c"@[192.0.2.1]')),
        ("FROM:<a@[IPv6:2001:db8::1]> body=8bitmime", Mail(reverse_path="a@[IPv6:2001:db8::1]", params=(("BODY", "8bitmime"),))),
    ],
)
def test_parse_mail(argument: str, expected: Mail) -> None:
    assert parse_mail(argument) == expected


@pytest.mark.parametrize(
    "argument",
    [None, "FROM:", "FROM:a@b", "FROM:<a@b", "FROM:<a>", "FROM:<a@b>x", "FROM:<a@b> =x", "FROM:<a@b> A=",
     "TO:<a@b>", "FROM:<a@b> A=1 a=2", "FROM:<" + "a" * 65 + "@b>", "FROM:<a@-b>", "FROM:<a..b@c>", "FROM:<>>"],
)
def test_parse_mail_refusals(argument: str | None) -> None:
    with pytest.raises(Refusal) as info:
        parse_mail(argument)
    assert info.value.reply_name == "bad_arguments"


def test_parse_rcpt() -> None:
    assert parse_rcpt("TO:<postmaster>") == Rcpt(forward_path="postmaster")
    assert parse_rcpt("To:<c@d.example> NOTIFY=NEVER") == Rcpt(forward_path="c@d.example", params=(("NOTIFY", "NEVER"),))
    for bad in ("TO:<>", "FROM:<a@b>", "TO:<postmaster@>", "TO:c@d"):
        with pytest.raises(Refusal):
            parse_rcpt(bad)


@pytest.mark.parametrize(
    ("argument", "expected"),
    [("0 LAST", Bdat(size=0, last=True)), ("12", Bdat(size=12)), ("5 last", Bdat(size=5, last=True)),
     ("99999999999", Bdat(size=99999999999)), (None, None), ("", None), ("x", None), ("1 2", None), ("-1", None)],
)
def test_parse_bdat(argument: str | None, expected: Bdat | None) -> None:
    assert parse_bdat(argument) == expected


def test_auth_parsing() -> None:
    assert parse_auth("plain") == Auth(mechanism="PLAIN")
    assert parse_auth("PLAIN =") == Auth(mechanism="PLAIN", initial_response=b"")
    assert parse_auth("PLAIN AGEAYg==") == Auth(mechanism="PLAIN", initial_response=b"\x00a\x00b")
    for bad in (None, "", "PLAIN a b", "PL@IN", "PLAIN ***"):
        with pytest.raises(Refusal):
            parse_auth(bad)
    assert parse_auth_line(b"*") == AuthCancel()
    assert parse_auth_line(b"") == AuthResponse(data=b"")
    assert parse_auth_line(b"YWxpY2U=") == AuthResponse(data=b"alice")
    with pytest.raises(Refusal):
        parse_auth_line(b"YWxpY2U")


@given(st.binary(max_size=64))
def test_base64_strict_roundtrip(data: bytes) -> None:
    import base64

    assert decode_base64(base64.b64encode(data)) == data


@given(st.binary(max_size=40))
def test_base64_never_raises(data: bytes) -> None:
    result = decode_base64(data)
    assert result is None or isinstance(result, bytes)


@given(st.text(max_size=80))
def test_path_parser_only_documented_errors(text: str) -> None:
    try:
        mailbox, params = parse_path_and_params(text, allow_null=True, allow_postmaster=True)
    except PathSyntaxError:
        return
    assert mailbox == "" or mailbox.lower() == "postmaster" or is_mailbox(mailbox)
    for keyword, _value in params:
        assert keyword == keyword.upper()


@given(st.builds(lambda local, labels: ".".join(local) + "@" + ".".join(labels),
                 st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~-",
                                  min_size=1, max_size=6), min_size=1, max_size=3),
                 st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6),
                          min_size=1, max_size=4)))
def test_generated_mailboxes_roundtrip(mailbox: str) -> None:
    assert parse_mail(f"FROM:<{mailbox}>") == Mail(reverse_path=mailbox)
    assert smtp.Mail(reverse_path=mailbox).reverse_path == mailbox


# --------------------------------------------------------------------------- replies


def feed_reply(lines: list[bytes]) -> Reply | None:
    reader = ReplyReader(100)
    result = None
    for line in lines:
        result = reader.feed_line(line)
    return result


def test_reply_reader_multiline_and_enhanced() -> None:
    reply = feed_reply([b"250-2.1.0 first", b"250-2.1.0 second", b"250 2.1.0 third"])
    assert reply == Reply(code=250, lines=("first", "second", "third"), enhanced=smtp.EnhancedStatus.parse("2.1.0"))
    assert feed_reply([b"250"]) == Reply(code=250, lines=("",))
    assert feed_reply([b"550 5.7.1"]) == Reply(code=550, lines=("",), enhanced=smtp.EnhancedStatus.parse("5.7.1"))
    # A code of the wrong class is text, not an enhanced code.
    assert feed_reply([b"250 5.0.0 odd"]) == Reply(code=250, lines=("5.0.0 odd",))
    assert feed_reply([b"220 text\x1bwith\x00controls"]) == Reply(code=220, lines=("text\ufffdwith\ufffdcontrols",))
    assert feed_reply([b"250-incomplete"]) is None


@given(st.lists(st.binary(max_size=30), min_size=1, max_size=5))
def test_reply_reader_arbitrary_lines(lines: list[bytes]) -> None:
    reader = ReplyReader(3)
    try:
        for line in lines:
            reader.feed_line(line)
    except (RemoteProtocolError, LimitExceeded):
        pass


# --------------------------------------------------------------------------- DATA framing against a reference

_ANY_END = re.compile(rb"\r\n|\r|\n")


def reference(wire: bytes, normalize: bool, max_line: int, max_size: int) -> tuple[bytes, str | None, bytes] | None:
    """Whole-message model of RFC 5321 sections 4.1.1.4 and 4.5.2 with rfcmail's checks."""
    virtual = b"\r\n" + wire
    end = virtual.find(b"\r\n.\r\n")
    if end < 0:
        return None
    raw = virtual[2 : end + 2] if end > 0 else b""
    rest = virtual[end + 5 :]
    fault = None
    # Wire lines, the stuffing period included, CRLF included.
    if raw and max(len(line) + 1 for line in raw.split(b"\n")[:-1] + [raw.rsplit(b"\n", 1)[-1]]) > max_line:
        fault = "text_line_too_long"
    content = (b"\r\n" + raw).replace(b"\r\n.", b"\r\n")[2:]
    if fault is None and not (content.count(b"\r") == content.count(b"\n") == content.count(b"\r\n")):
        if normalize:
            content = _ANY_END.sub(b"\r\n", content)
        else:
            fault = "bare_line_ending"
    if fault is None and len(content) > max_size:
        fault = "message_too_big"
    return content, fault, rest


def run_receiver(wire: bytes, pieces: list[int], normalize: bool, max_line: int, max_size: int
                 ) -> tuple[bytes, str | None, bytes] | None:
    receiver = DataReceiver(normalize_bare_cr=normalize, normalize_bare_lf=normalize, max_line=max_line, max_size=max_size)
    content = bytearray()
    position = 0
    cuts = sorted({min(len(wire), p) for p in pieces}) + [len(wire)]
    for cut in cuts:
        if cut <= position:
            continue
        got, finished, rest = receiver.feed(wire[position:cut])
        content += got
        position = cut
        if finished:
            return bytes(content), receiver.fault.reply_name if receiver.fault else None, rest + wire[position:]
    return None


BODY_BYTES = st.lists(st.sampled_from([b"\r", b"\n", b".", b"x", b"\r\n", b"\r\n.", b"\r\n.\r\n", b"..", b"y" * 7]),
                      max_size=40).map(b"".join)


@given(body=BODY_BYTES, pieces=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
       normalize=st.booleans(), max_line=st.integers(min_value=3, max_value=30),
       max_size=st.integers(min_value=0, max_value=120))
def test_data_receiver_matches_reference(body: bytes, pieces: list[int], normalize: bool, max_line: int,
                                         max_size: int) -> None:
    wire = body + b"\r\n.\r\nNEXT"
    expected = reference(wire, normalize, max_line, max_size)
    got = run_receiver(wire, pieces, normalize, max_line, max_size)
    assert expected is not None and got is not None
    exp_content, exp_fault, exp_rest = expected
    got_content, got_fault, got_rest = got
    assert got_rest == exp_rest
    # Faults found in different chunks may differ in kind only when several apply.
    assert (got_fault is None) == (exp_fault is None), (got_fault, exp_fault)
    if exp_fault is None:
        assert got_content == exp_content


@given(body=BODY_BYTES)
def test_data_receiver_one_byte_at_a_time(body: bytes) -> None:
    wire = body + b"\r\n.\r\n"
    whole = run_receiver(wire, [], True, 10_000, 10_000)
    bytewise = run_receiver(wire, list(range(len(wire))), True, 10_000, 10_000)
    assert whole == bytewise


@given(parts=st.lists(st.binary(max_size=20), max_size=6))
def test_stuffer_then_receiver_roundtrip(parts: list[bytes]) -> None:
    stuffer = DotStuffer()
    wire = b"".join(stuffer.stuff(p) for p in parts) + stuffer.finish()
    got = run_receiver(wire + b"TRAILING", [], False, 10**6, 10**6)
    assert got is not None
    content, fault, rest = got
    assert fault is None and rest == b"TRAILING"
    body = _ANY_END.sub(b"\r\n", b"".join(parts))
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    assert content == body


# --------------------------------------------------------------------------- through the connection


@pytest.mark.parametrize("piece", [None, 1])
def test_server_reader_with_trailing_data(piece: int | None) -> None:
    from . import greeted_server, run_server

    conn = greeted_server()
    events, _ = run_server(conn, b"EHLO a\r\nNOOP\r\nRSET", chunk=piece)
    assert [type(e).__name__ for e in events] == ["Ehlo", "Noop"]
    assert conn.trailing_data == (b"RSET", False)


@pytest.mark.parametrize("piece", [None, 1])
def test_client_reader_with_trailing_data(piece: int | None) -> None:
    conn = smtp.Connection(smtp.CLIENT)
    data = b"220-mx.example\r\n220 2.0.0 ESMTP ready\r\n250 trailing"
    events = []
    for i in range(0, len(data), piece or len(data)):
        conn.receive_data(data[i : i + (piece or len(data))])
        while isinstance(event := conn.next_event(), smtp.Event):
            events.append(event)
    # The first line decides whether the reply carries enhanced codes (RFC 2034: all lines do).
    assert events == [Reply(code=220, lines=("mx.example", "2.0.0 ESMTP ready"))]
    assert conn.trailing_data == (b"250 trailing", False)


def _naive_bare(data: bytes) -> bool:
    return any(
        (byte == 13 and data[i + 1 : i + 2] != b"\n") or (byte == 10 and (i == 0 or data[i - 1] != 13))
        for i, byte in enumerate(data)
    )


@given(st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"x", b"y" * 30, b"\n\r"]), max_size=30).map(b"".join))
def test_bare_line_ending_check_both_paths(data: bytes) -> None:
    from rfcmail.smtp._data import has_bare_line_ending

    assert has_bare_line_ending(data) == _naive_bare(data)
    # Long lines take the regex path, short ones the count path: both agree with the definition.
    padded = data.replace(b"\r\n", b"z" * 40 + b"\r\n")
    assert has_bare_line_ending(padded) == _naive_bare(padded)
