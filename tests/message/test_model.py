"""The message model: header access and changes, entities, bodies, the mail view, attachments."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from rfcmail.errors import LocalProtocolError, RemoteProtocolError
from rfcmail.message import (
    SMTPUTF8,
    STRICT,
    BareCRorLF,
    EightBitInBody,
    NulByte,
    InvalidBase64Character,
    InvalidQuotedPrintable,
    Message,
    UndecodableBytes,
    UnknownCharset,
    UnknownTransferEncoding,
    parse,
)
from rfcmail.message.headers import Address, Group

DATA = Path(__file__).resolve().parent.parent / "data"


def load(name: str) -> Message:
    path = DATA / name if name == "sample.eml" else DATA / "messages" / name
    return parse(path.read_bytes())


# -- header fields ---------------------------------------------------------------------


def test_header_fields_keep_raw_bytes_and_order() -> None:
    message = load("sample.eml")
    names = [field.name for field in message.headers]
    assert names[:3] == ["Return-Path", "Received", "From"]
    received = message.headers[1]
    assert received.raw.startswith(b"Received: from mail.example.org")
    assert received.raw.endswith(b"(UTC)\r\n")
    assert received.raw.count(b"\r\n\t") == 2
    assert received.value.startswith("from mail.example.org (mail.example.org [192.0.2.10])\tby mx")
    assert b"".join(field.raw for field in message.headers) + b"\r\n" == message.raw_bytes[: message.offsets[1]]


def test_getitem_is_case_insensitive_and_decoded() -> None:
    message = load("sample.eml")
    assert message["subject"] == message["SUBJECT"] == "Quarterly report — Q1"
    assert message["X-Missing"] is None
    assert message.get("X-Missing", "default") == "default"
    assert "cc" in message and "bcc" not in message
    assert message.get_all("Received") == [message.headers[1].value]


def test_encoded_words_everywhere() -> None:
    message = load("encoded_words.eml")
    assert message.subject == "Café crème and 😂 plain"
    assert message["Comments"] == "ab"
    assert message["X-Mixed"] == "first middle ąć"
    senders = message.from_
    assert isinstance(senders[0], Address)
    assert senders[0].display_name == "André Pirard"
    to = message.to
    assert [a.display_name for a in to if isinstance(a, Address)] == ["山田太郎", "Keld Jørn Simonsen"]
    groups = message.cc
    assert len(groups) == 1 and isinstance(groups[0], Group) and groups[0].display_name == "Undisclosed recipients"


def test_mail_view() -> None:
    message = load("sample.eml")
    assert [(a.display_name, a.addr_spec) for a in message.from_ if isinstance(a, Address)] == [
        ("Alice Martin", "alice@example.org")
    ]
    assert len(message.to) == 2
    assert message.bcc == [] and message.reply_to == [] and message.sender == []
    assert message.date == datetime(2026, 3, 2, 10, 15, tzinfo=timezone(timedelta(hours=1)))
    assert message.message_id == "<20260302091500.12345@example.org>"


def test_obsolete_date_and_route() -> None:
    message = load("obsolete_syntax.eml")
    assert message.date == datetime(2003, 7, 1, 10, 52, 37, tzinfo=timezone(timedelta(hours=-4)))
    sender = message.from_[0]
    assert isinstance(sender, Address) and sender.addr_spec == "jdoe@example.org"


def test_eight_bit_header_value_is_usable() -> None:
    message = load("eightbit_latin1.eml")
    assert message.subject == "caf\ufffd cr\ufffdme"


# -- header changes: only what changed is generated ------------------------------------


def test_set_replaces_in_place_and_keeps_other_bytes() -> None:
    data = (DATA / "sample.eml").read_bytes()
    message = parse(data)
    message["Subject"] = "New subject"
    out = bytes(message)
    assert out == data.replace(b"Subject: =?utf-8?q?Quarterly_report_=E2=80=94_Q1?=\r\n", b"Subject: New subject\r\n")
    assert message.raw_bytes == data
    assert parse(out).subject == "New subject"


def test_add_prepend_and_delete() -> None:
    data = (DATA / "messages" / "alternative.eml").read_bytes()
    message = parse(data)
    message.add("Received", "from a by b; Mon, 2 Mar 2026 10:00:00 +0000", prepend=True)
    message.add("X-Tag", "Grüße")
    del message["Message-ID"]
    del message["X-Not-There"]
    out = bytes(message)
    assert out.startswith(b"Received: from a by b; Mon, 2 Mar 2026 10:00:00 +0000\r\nFrom:")
    reparsed = parse(out)
    assert reparsed["X-Tag"] == "Grüße"
    assert b"X-Tag: =?utf-8?" in out
    assert "Message-ID" not in reparsed
    assert reparsed.parts[1].raw_bytes == message.parts[1].raw_bytes
    assert out.endswith(data[message.offsets[1] :])


def test_new_fields_follow_the_line_ending_of_the_block() -> None:
    data = (DATA / "messages" / "lf_only.eml").read_bytes()
    message = parse(data)
    message.add("X-Added", "yes")
    message.parts[0]["X-Inner"] = "also"
    out = bytes(message)
    assert b"\r" not in out
    assert b"\nX-Added: yes\n\n--lf" in out
    assert b"X-Inner: also\n\nA local file" in out
    empty = parse(b"\nbody")
    empty["Subject"] = "s"
    assert bytes(empty) == b"Subject: s\n\nbody"
    nothing = parse(b"")
    nothing["Subject"] = "s"
    assert bytes(nothing) == b"Subject: s\r\n"


def test_address_fields_are_generated_from_their_addresses() -> None:
    message = parse(b"To: old@example.org\r\n\r\nbody")
    message["To"] = "Jürgen, Groß <juergen@example.de>, bob@example.net"
    out = bytes(message)
    assert out.isascii()
    reparsed = parse(out)
    assert [(a.display_name, a.addr_spec) for a in reparsed.to if isinstance(a, Address)] == [
        ("Jürgen, Groß", "juergen@example.de"),
        ("", "bob@example.net"),
    ]
    assert reparsed.defects == []
    message["Cc"] = "not an address list <<<"
    assert parse(bytes(message))["Cc"] == "not an address list <<<"


def test_utf8_policy_writes_raw_utf8() -> None:
    message = parse(b"Subject: x\r\n\r\nbody", policy=SMTPUTF8)
    message["Subject"] = "Grüße"
    assert bytes(message) == "Subject: Grüße\r\n\r\nbody".encode()


def test_change_in_a_nested_part_reemits_only_that_part() -> None:
    data = (DATA / "messages" / "nested_rfc822.eml").read_bytes()
    message = parse(data)
    inner = message.parts[1].parts[0]
    inner["Subject"] = "Changed"
    out = bytes(message)
    assert out == data.replace(b"Subject: Lunch?\r\n", b"Subject: Changed\r\n")
    assert bytes(message.parts[0]) == message.parts[0].raw_bytes


def test_iter_bytes_streams_what_bytes_gives(tmp_path: Path) -> None:
    data = (DATA / "messages" / "mixed_attachments.eml").read_bytes()
    path = tmp_path / "m.eml"
    path.write_bytes(data)
    with path.open("rb") as file:
        message = parse(file)
        assert b"".join(message.iter_bytes(100)) == data
        assert max(len(piece) for piece in message.iter_bytes(100)) <= 100
        message.parts[2]["X-Checked"] = "yes"
        pieces = list(message.iter_bytes(64))
        assert b"".join(pieces) == bytes(message)
        assert b"X-Checked: yes\r\n" in pieces
        assert parse(bytes(message)).parts[2]["X-Checked"] == "yes"


def test_header_injection_is_refused() -> None:
    message = parse(b"Subject: x\r\n\r\n")
    for value in ("a\r\nBcc: eve@evil.example", "a\nb", "a\rb", "a\x00b"):
        with pytest.raises(LocalProtocolError):
            message["Subject"] = value
    for name in ("Bad Name", "Bad:Name", "", "Ünï"):
        with pytest.raises(LocalProtocolError):
            message.add(name, "v")
    assert bytes(message) == b"Subject: x\r\n\r\n"


def test_encoded_crlf_is_not_reemitted_as_a_line_break() -> None:
    # SECURITY.md A4.1: a value that decodes to CRLF stays encoded on output.
    data = b"Subject: =?utf-8?q?a=0D=0ABcc:_eve@evil.example?=\r\nTo: bob@example.org\r\n\r\nbody"
    message = parse(data)
    assert message.subject is not None and "\n" not in message.subject and "Bcc: eve" in message.subject
    message["To"] = "carol@example.org"
    reparsed = parse(bytes(message))
    assert reparsed.keys() == ["Subject", "To"]
    assert "Bcc" not in reparsed


# -- entities and bodies ------------------------------------------------------------------


def test_content_type_params_charset_and_encoding() -> None:
    message = load("sample.eml")
    plain = message.parts[0].parts[0]
    assert plain.content_type == "text/plain"
    assert (plain.maintype, plain.subtype) == ("text", "plain")
    assert plain.params == {"charset": "utf-8"}
    assert plain.charset == "utf-8"
    assert plain.content_transfer_encoding == "quoted-printable"
    assert message.boundary == "=_mixed_0001"
    assert message.parts[1].charset is None
    bare = parse(b"\r\nbody")
    assert (bare.content_type, bare.charset, bare.content_transfer_encoding) == ("text/plain", "us-ascii", "7bit")


def test_get_content_decodes_transfer_and_charset() -> None:
    message = load("sample.eml")
    plain, html = message.parts[0].parts
    assert plain.get_content() == "Hi Bob,\r\n\r\nthe Q1 report is attached. Revenue is up 12 % — details inside.\r\n\r\nAlice"
    assert isinstance(html.get_content(), str) and "12 % — details" in str(html.get_content())
    pdf = message.parts[1].get_content()
    assert isinstance(pdf, bytes) and pdf.startswith(b"%PDF-1.4\n")


def test_open_streams_the_decoded_body() -> None:
    message = load("mixed_attachments.eml")
    data_bin = message.attachments()[-1]
    with data_bin.open() as stream:
        pieces = [stream.read(7) for _ in range(200)]
    assert b"".join(pieces) == bytes(range(256)) * 4
    assert data_bin.get_payload_bytes() == bytes(range(256)) * 4


def test_text_and_html_bodies() -> None:
    message = load("mixed_attachments.eml")
    assert message.text_body() == "See the picture below."
    assert message.html_body() == '<p>See the picture below.</p><img src="cid:pic1@example.org">'
    alternative = load("alternative.eml")
    assert alternative.html_body() == "<p>Shall we have lunch at noon? Café du coin?</p>"
    assert load("headers_only.eml").html_body() is None
    assert parse(b"Content-Type: image/png\r\n\r\nxx").text_body() is None


def test_attachments_and_filenames() -> None:
    message = load("mixed_attachments.eml")
    found = [(p.content_type, p.filename, p.content_disposition) for p in message.attachments()]
    assert found == [
        ("image/png", None, "inline"),
        ("text/plain", "notes.txt", "attachment"),
        ("application/octet-stream", "data.bin", "attachment"),
    ]
    forwarded = load("nested_rfc822.eml").attachments()
    assert [p.content_type for p in forwarded] == ["message/rfc822"]


def test_rfc2231_and_encoded_word_filenames() -> None:
    message = load("rfc2231.eml")
    assert message.parts[1].disposition_params == {"filename": "Grüße und Küsse.pdf"}
    assert message.parts[0].disposition_params == {} and message.parts[0].content_disposition is None
    names = [p.filename for p in message.attachments()]
    assert names == ["Grüße und Küsse.pdf", "résumé.txt", "Привет.bin"]
    assert message.parts[2].get_content() == "Résumé du projet."
    assert message.parts[1].params["name"] == "Grüße und Küsse.pdf"


def test_damaged_encodings_give_values_and_defects() -> None:
    message = load("bad_encodings.eml")
    base64_part, qp_part, unknown = message.parts
    assert base64_part.get_content() == b"Hello, world!"
    assert [type(d) for d in base64_part.defects][:1] == [InvalidBase64Character]
    assert qp_part.get_content() == "bad =ZZ escape, lower é and softbreak"
    assert [type(d) for d in qp_part.defects] == [InvalidQuotedPrintable]
    assert unknown.get_content() == "begin 644 x\r\nend"
    assert [type(d) for d in unknown.defects] == [UnknownTransferEncoding]
    qp_part.get_content()
    assert len(qp_part.defects) == 1  # lazily found defects are recorded once


def test_odd_charsets() -> None:
    message = load("charsets.eml")
    unknown, utf7, ascii_8bit, cp1252 = message.parts
    assert unknown.get_content() == "unknown charset text"
    assert [type(d) for d in unknown.defects] == [UnknownCharset]
    assert utf7.get_content() == "Hi été"
    assert ascii_8bit.get_content() == "8-bit bytes \ufffd\ufffd in a us-ascii part"
    assert [type(d) for d in ascii_8bit.defects] == [UndecodableBytes]
    assert cp1252.get_content() == "Smart quotes \u201chere\u201d"


@pytest.mark.parametrize(
    ("data", "defects"),
    [
        (b"\r\ncaf\xc3\xa9", [EightBitInBody]),
        (b"Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9", []),
        (b"\r\na\x00b", [NulByte]),
        (b"Content-Transfer-Encoding: binary\r\n\r\na\x00b", []),
        (b"\r\na\rb", [BareCRorLF]),
    ],
)
def test_body_defects_found_when_decoding(data: bytes, defects: list[type]) -> None:
    part = parse(b"Content-Type: application/octet-stream\r\n" + data)
    assert part.defects == []
    part.get_content()
    assert [type(d) for d in part.defects] == defects


def test_header_value_defects_go_to_the_part_and_strict_raises() -> None:
    data = b"Subject: =?utf-8?q?caf=C3=A9?= =?no-such-charset?q?x?=\r\n\r\n"
    lenient = parse(data)
    assert lenient.subject is not None and lenient.subject.startswith("café")
    assert [type(d).__name__ for d in lenient.defects] != []
    lenient.subject
    assert len(lenient.defects) == len({str(d) for d in lenient.defects})
    with pytest.raises(RemoteProtocolError):
        parse(data, policy=STRICT).subject


def test_strict_policy_raises_on_lazily_found_defects() -> None:
    message = parse(b"Content-Transfer-Encoding: base64\r\n\r\nQUJ*D", policy=STRICT)
    with pytest.raises(RemoteProtocolError, match="InvalidBase64Character"):
        message.get_content()


def test_multipart_get_content_is_its_raw_body() -> None:
    message = load("alternative.eml")
    assert message.get_content() == message.raw_body


# -- raw bytes of signed parts (A8.1) ------------------------------------------------------


def test_raw_bytes_are_what_a_signature_covers() -> None:
    signed_part = (
        b"Content-Type: text/plain; charset=us-ascii\r\n"
        b"X-Folded: a\r\n  b   \r\n\r\n"
        b"trailing space   \r\nline two\r\n"
    )
    data = (
        b'Content-Type: multipart/signed; protocol="application/pgp-signature"; micalg=pgp-sha256; boundary="s"\r\n'
        b"\r\n--s\r\n" + signed_part + b"\r\n--s\r\nContent-Type: application/pgp-signature\r\n\r\nSIG\r\n--s--\r\n"
    )
    for blob in (data, data.replace(b"\r\n", b"\n")):
        message = parse(blob)
        first = message.parts[0]
        expected = signed_part if blob is data else signed_part.replace(b"\r\n", b"\n")
        assert first.raw_bytes == expected
        assert hashlib.sha256(first.raw_bytes).digest() == hashlib.sha256(expected).digest()
        message["Subject"] = "outer change"
        assert first.raw_bytes == expected
        assert parse(bytes(message)).parts[0].raw_bytes == expected


def test_line_count() -> None:
    message = load("sample.eml")
    plain = message.parts[0].parts[0]
    assert plain.line_count == plain.raw_body.count(b"\n") + 1 == 5
    assert parse(b"\r\n").line_count == 0
    assert parse(b"\r\none\r\ntwo\r\n").line_count == 2
    assert message.line_count == message.raw_body.count(b"\n")


def test_walk_parent_and_repr() -> None:
    message = load("mixed_attachments.eml")
    parts = list(message.walk())
    assert len(parts) == 8
    assert all(p.parent is not None for p in parts[1:]) and message.parent is None
    assert repr(message).startswith("<Message multipart/mixed")
    assert repr(message.headers[0]).startswith("HeaderField('From'")
    assert len(message.all_defects()) == 0
