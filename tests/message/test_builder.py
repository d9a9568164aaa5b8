"""Tests for rfcmail.message.MessageBuilder: structure, fields, attachments, forwarding.

The built messages are read back with rfcmail.message.parse and with the
standard library's parser (which must report no defects).
"""

from __future__ import annotations

import email
import email.policy
import io
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.message import Message as StdlibMessage

import pytest

from rfcmail.message import (
    SMTP,
    SMTPUTF8,
    MessageBuilder,
    MimePart,
    guess_content_type,
    parse,
)
from rfcmail.message.headers import Address, Group

FIXED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=2)))


def counter_random() -> Callable[[int], bytes]:
    numbers = itertools.count(1)
    return lambda size: next(numbers).to_bytes(size, "big")


def builder(**kwargs: object) -> MessageBuilder:
    arguments: dict[str, object] = {
        "from_": "Alice <alice@example.org>", "to": ["bob@example.org"], "subject": "Test",
        "clock": lambda: FIXED, "random_bytes": counter_random()}
    arguments.update(kwargs)
    return MessageBuilder(**arguments)  # type: ignore[arg-type]


def stdlib(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    for part in message.walk():
        assert part.defects == [], (part.get_content_type(), part.defects)
    return message


def tree(message: StdlibMessage) -> object:
    """The content-type tree as nested lists."""
    if message.is_multipart():
        children = message.get_payload()
        assert isinstance(children, list)
        return [message.get_content_type(),
                [tree(part) for part in children if isinstance(part, StdlibMessage)]]
    return message.get_content_type()


# --- structure ---------------------------------------------------------------


def test_text_only() -> None:
    data = builder().text("Hello\n").build()
    message = stdlib(data)
    assert tree(message) == "text/plain"
    assert message.get_content() == "Hello\r\n"
    assert message["MIME-Version"] == "1.0"


def test_html_only_and_empty() -> None:
    assert tree(stdlib(builder().html("<p>x</p>").build())) == "text/html"
    empty = stdlib(builder().build())
    assert tree(empty) == "text/plain"
    assert empty.get_content() == ""


def test_text_and_html_make_alternative_text_first() -> None:
    data = builder().html("<p>Hi</p>").text("Hi").build()
    assert tree(stdlib(data)) == ["multipart/alternative", ["text/plain", "text/html"]]
    message = parse(data)
    assert message.text_body() == "Hi"
    assert message.html_body() == "<p>Hi</p>"


def test_inline_parts_go_into_related_with_the_html() -> None:
    data = (builder().text("t").html('<img src="cid:logo@example.org">')
            .inline(b"GIF89a", content_id="logo@example.org", filename="logo.gif")
            .attach(b"%PDF-1.4", filename="doc.pdf").build())
    assert tree(stdlib(data)) == [
        "multipart/mixed", [["multipart/alternative",
                             ["text/plain", ["multipart/related", ["text/html", "image/gif"]]]],
                            "application/pdf"]]
    message = stdlib(data)
    related = [p for p in message.walk() if p.get_content_type() == "multipart/related"][0]
    assert related.get_param("type") == "text/html"
    image = [p for p in message.walk() if p.get_content_type() == "image/gif"][0]
    assert image["Content-ID"] == "<logo@example.org>"
    assert image.get_content_disposition() == "inline"


def test_inline_without_html_is_an_inline_attachment() -> None:
    data = builder().text("t").inline(b"GIF89a", content_id="a@b", filename="a.gif").build()
    assert tree(stdlib(data)) == ["multipart/mixed", ["text/plain", "image/gif"]]


def test_attachments_only() -> None:
    data = builder().attach(b"\x00\x01", filename="a.bin").build()
    assert tree(stdlib(data)) == ["multipart/mixed", ["application/octet-stream"]]


def test_attachments_are_recovered_byte_for_byte() -> None:
    blobs = {"report.pdf": b"%PDF-1.7\n" + bytes(range(256)) * 50,
             "r\u00e9sum\u00e9 \u65e5\u672c.docx": bytes(reversed(range(256))) * 7,
             "empty.bin": b"", "notes.txt": b"line\r\nline\r\n"}
    b = builder().text("See attached.\n")
    for name, blob in blobs.items():
        b.attach(blob, filename=name)
    data = b.build()
    assert data.isascii()
    got = {part.get_filename(): part.get_payload(decode=True)
           for part in stdlib(data).iter_attachments()}
    assert got == blobs
    message = parse(data)
    assert {part.filename: part.get_payload_bytes() for part in message.attachments()} == blobs


def test_stream_attachment_is_read_at_build() -> None:
    payload = bytes(range(256)) * 4096
    data = builder().attach(io.BytesIO(payload), filename="big.bin").build()
    (attachment,) = stdlib(data).iter_attachments()
    assert attachment.get_content() == payload
    assert attachment["Content-Transfer-Encoding"] == "base64"


def test_str_attachment_is_text() -> None:
    data = builder().attach("caf\u00e9\n", filename="note").build()
    (attachment,) = stdlib(data).iter_attachments()
    assert attachment.get_content_type() == "text/plain"
    assert attachment.get_content() == "caf\u00e9\r\n"


@pytest.mark.parametrize(("filename", "content_type"), [
    ("report.pdf", "application/pdf"),
    ("photo.JPG", "image/jpeg"),
    ("data.csv.gz", "application/gzip"),
    ("archive.tar.bz2", "application/x-bzip2"),
    ("noextension", "application/octet-stream"),
    ("strange.zzqqxx", "application/octet-stream"),
    (None, "application/octet-stream"),
])
def test_guess_content_type(filename: str | None, content_type: str) -> None:
    assert guess_content_type(filename) == content_type


def test_explicit_content_type_wins() -> None:
    data = builder().attach(b"{}", filename="x.pdf", content_type="application/json").build()
    (attachment,) = stdlib(data).iter_attachments()
    assert attachment.get_content_type() == "application/json"


# --- header fields -------------------------------------------------------------


def test_date_and_message_id_from_the_injected_clock_and_randomness() -> None:
    data = builder().text("x").build()
    message = stdlib(data)
    assert message["Date"].datetime == FIXED
    assert message["Message-ID"] == "<00000000000000000000000000000001@example.org>"
    assert data == builder().text("x").build()


def test_date_and_message_id_given() -> None:
    data = builder(date=FIXED, message_id="<abc.def@host.example>").text("x").build()
    message = stdlib(data)
    assert message["Message-ID"] == "<abc.def@host.example>"
    assert parse(data).message_id in ("abc.def@host.example", "<abc.def@host.example>")


def test_default_clock_gives_an_aware_now() -> None:
    message = stdlib(MessageBuilder(from_="a@example.org").build())
    assert abs(message["Date"].datetime - datetime.now(timezone.utc)) < timedelta(minutes=5)


@pytest.mark.parametrize("kwargs", [
    {"date": datetime(2026, 1, 1)},
    {"message_id": "no-at-sign"},
    {"message_id": "a b@c"},
    {"sender": ["a@example.org", "b@example.org"]},
    {"to": "not an address at all <"},
    {"to": ["x@example.org\r\nBcc: eve@evil.example"]},
])
def test_invalid_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        builder(**kwargs).build()


def test_wrong_address_types() -> None:
    with pytest.raises(TypeError):
        builder(to=[42]).build()
    with pytest.raises(TypeError):
        builder(to=42).build()


def test_addresses_from_strings_and_values() -> None:
    data = builder(
        from_=Address(display_name="Zo\u00eb Sm\u00eft", local_part="zoe", domain="example.org"),
        to=["Bob <bob@example.org>, carol@example.org"],
        cc=Group(display_name="Team", members=(Address(local_part="d", domain="example.org"),)),
        reply_to="replies@example.org",
        sender="agent@example.org",
    ).text("x").build()
    assert data.isascii()
    message = stdlib(data)
    assert message["From"].addresses[0].display_name == "Zo\u00eb Sm\u00eft"
    assert [a.addr_spec for a in message["To"].addresses] == ["bob@example.org",
                                                              "carol@example.org"]
    assert message["Cc"].groups[0].display_name == "Team"
    assert message["Reply-To"] == "replies@example.org"
    assert message["Sender"] == "agent@example.org"


def test_utf8_policy_keeps_raw_utf8_names() -> None:
    data = builder(from_="J\u00fcrgen <j@example.org>", subject="Gr\u00fc\u00dfe").text(
        "Gr\u00fc\u00dfe\n").build(SMTPUTF8)
    assert "From: J\u00fcrgen <j@example.org>".encode() in data
    assert "Subject: Gr\u00fc\u00dfe".encode() in data
    assert b"Content-Transfer-Encoding: 8bit" in data
    message = parse(data, policy=SMTPUTF8)
    assert message.subject == "Gr\u00fc\u00dfe"
    assert message.text_body() == "Gr\u00fc\u00dfe\r\n"


def test_bcc_is_a_recipient_but_not_written_by_default() -> None:
    b = builder(cc="c@example.org", bcc=["Hidden <h@example.org>"])
    assert b.recipients == ["bob@example.org", "c@example.org", "h@example.org"]
    assert b"Bcc" not in b.build()
    written = builder(bcc="h@example.org", write_bcc=True).build()
    assert stdlib(written)["Bcc"] == "h@example.org"


def test_group_members_are_recipients() -> None:
    b = builder(to="Team: a@example.org, b@example.org;")
    assert b.recipients == ["a@example.org", "b@example.org"]


def test_custom_headers_in_order() -> None:
    data = (builder(headers=[("X-First", "1")]).header("X-Second", "caf\u00e9")
            .header("List-Id", "<list.example.org>").text("x").build())
    message = stdlib(data)
    assert message["X-Second"] == "caf\u00e9"
    keys = message.keys()
    assert keys.index("X-First") < keys.index("X-Second") < keys.index("List-Id")


@pytest.mark.parametrize("name", ["From", "to", "Subject", "Date", "Message-ID",
                                  "MIME-Version", "Content-Type", "content-disposition"])
def test_builder_fields_cannot_be_added_as_custom(name: str) -> None:
    with pytest.raises(ValueError, match="written by the builder"):
        builder().header(name, "x")


@pytest.mark.parametrize("value", ["a\r\nBcc: eve@evil.example", "a\nb", "a\rb", "a\x00"])
def test_header_injection_is_refused_when_added(value: str) -> None:
    with pytest.raises(ValueError):
        builder().header("X-Test", value)
    with pytest.raises(ValueError):
        builder(subject=value).build()
    with pytest.raises(ValueError):
        builder().attach(b"x", filename=value).build()


def test_long_subject_is_folded() -> None:
    subject = "A rather long subject line " * 10
    data = builder(subject=subject.strip()).build()
    head = data.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert stdlib(data)["Subject"] == subject.strip()


# --- forwarding ---------------------------------------------------------------


def test_forward_raw_bytes_and_parsed_message() -> None:
    original = builder(subject="Original").text("first\n").attach(
        b"\x00" * 10, filename="z.bin").build()
    parsed = parse(original)
    for message in (original, parsed):
        data = builder(subject="Fwd").text("see below").attach_message(
            message, description="Original").build()
        outer = stdlib(data)
        forwarded = list(outer.iter_attachments())[0]
        assert forwarded.get_content_type() == "message/rfc822"
        assert forwarded["Content-Description"] == "Original"
        inner = forwarded.get_content()
        assert inner["Subject"] == "Original"
        (blob,) = inner.iter_attachments()
        assert blob.get_content() == b"\x00" * 10
        assert original in data


def test_forward_part_tree_inline() -> None:
    inner = MimePart(headers=(("Subject", "inner"),), body="inner text")
    data = builder().text("x").attach_message(inner, inline=True).build()
    forwarded = [p for p in stdlib(data).walk() if p.get_content_type() == "message/rfc822"][0]
    assert forwarded.get_content_disposition() == "inline"
    assert forwarded.get_content()["Subject"] == "inner"


def test_forwarded_8bit_message_needs_8bit_policy() -> None:
    original = builder(subject="\u00fc").text("\u00fc").build(SMTPUTF8)
    b = builder().attach_message(original)
    with pytest.raises(ValueError, match="8-bit"):
        b.build(SMTP)
    assert b"Content-Transfer-Encoding: 8bit" in b.build(SMTPUTF8)


def test_build_message_returns_the_parsed_message() -> None:
    message = builder(subject="Parsed").text("body\n").attach(b"x", filename="x.bin") \
        .build_message()
    assert message.subject == "Parsed"
    assert message.text_body() == "body\r\n"
    assert [part.filename for part in message.attachments()] == ["x.bin"]
    assert message.defects == []


def test_build_part_gives_the_tree() -> None:
    part = builder().text("t").html("h").build_part()
    assert part.content_type == "multipart/alternative"
    assert [child.content_type for child in part.parts] == ["text/plain", "text/html"]
    names = [name for name, _ in part.headers]
    assert names == ["Date", "From", "To", "Subject", "Message-ID"]


def test_build_to_writes_the_same_bytes_in_pieces() -> None:
    pieces: list[bytes] = []
    b = builder().text("x").attach(bytes(range(256)) * 1000, filename="a.bin")
    written = b.build_to(pieces.append)
    again = builder().text("x").attach(bytes(range(256)) * 1000, filename="a.bin").build()
    assert b"".join(pieces) == again
    assert written == len(again)
    assert len(pieces) > 3


def test_build_to_writes_nothing_when_generation_fails() -> None:
    pieces: list[bytes] = []
    with pytest.raises(ValueError):
        builder().attach_message("\u00fc".encode()).build_to(pieces.append)
    assert pieces == []


def test_internationalised_addresses() -> None:
    # IDNA domains become A-labels for 7-bit paths; a UTF-8 local part
    # needs SMTPUTF8 (RFC 6532, RFC 6531) and is refused otherwise.
    data = builder(to="bob@b\u00fccher.example").build(SMTP)
    assert stdlib(data)["To"] == "bob@xn--bcher-kva.example"
    assert "To: bob@b\u00fccher.example".encode() in builder(to="bob@b\u00fccher.example") \
        .build(SMTPUTF8)
    with pytest.raises(ValueError, match="utf8"):
        builder(to="j\u00f6rg@example.org").build(SMTP)
    raw = builder(to="j\u00f6rg@example.org").build(SMTPUTF8)
    assert parse(raw, policy=SMTPUTF8).to[0] == Address(local_part="j\u00f6rg",
                                                          domain="example.org")
