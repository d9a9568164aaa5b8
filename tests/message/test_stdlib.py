"""Differential tests against the standard library on every corpus message, and conversion both ways.

rfcmail and ``email`` with ``policy.default`` must agree on the part tree,
content types, file names, decoded payloads, the text and HTML bodies
(``text_body()``/``html_body()`` against ``get_body()``), preamble and
epilogue, the Subject, the Date and the addresses, except where the stdlib is wrong or
gives up. Each deliberate divergence is listed in :data:`DIVERGENCES` with its
reason, and the test checks that the divergence still exists (so the list
cannot go stale) and that rfcmail's side of it is what the RFC asks for.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from email.message import Message as StdlibMessage
from pathlib import Path
from typing import Any

import pytest

from rfcmail.message import Message, Part, parse
from rfcmail.message.headers import Address, Group

DATA = Path(__file__).resolve().parent.parent / "data"
CORPUS = sorted((DATA / "messages").glob("*.eml")) + [DATA / "sample.eml"]

# (file, what, reason). "what" names the comparison that differs.
DIVERGENCES: dict[tuple[str, str], str] = {
    ("bad_encodings.eml", "content"): (
        "x-uuencode is not a MIME transfer encoding; RFC 2045 section 6.4 says an unknown encoding is to be treated "
        "as application/octet-stream, so rfcmail returns the body undecoded (with UnknownTransferEncoding); the "
        "stdlib uudecodes it"
    ),
    ("charsets.eml", "content"): (
        "an unknown charset is a soft defect (RFC 2046 section 4.1.2 leaves it to the reader): rfcmail decodes as "
        "UTF-8 with UnknownCharset; the stdlib raises LookupError from get_content()"
    ),
    ("missing_start_boundary.eml", "content"): (
        "a multipart whose body could not be split is still readable: rfcmail returns the raw body; the stdlib "
        "raises KeyError from get_content()"
    ),
    ("no_boundary_param.eml", "content"): "same as missing_start_boundary.eml",
    ("obsolete_syntax.eml", "header"): (
        "RFC 5322 section 4.5 (obs-optional) allows whitespace between a field name and its colon; the stdlib "
        "takes 'Subject   :' for the start of the body"
    ),
    ("obsolete_syntax.eml", "content"): "follows from the header divergence above: the stdlib's body starts earlier",
    ("duplicate_from.eml", "addresses"): (
        "SECURITY.md A4.3: with two From fields rfcmail's from_ lists every address (and the message carries "
        "DuplicateSingletonHeader) rather than silently picking the first, as the stdlib does"
    ),
    ("dsn.eml", "tree"): (
        "RFC 3464 section 2.1: a message/delivery-status body is a sequence of field groups, not MIME entities; "
        "rfcmail keeps it as one leaf (as IMAP BODYSTRUCTURE does), the stdlib makes each group a text/plain part"
    ),
    ("utf8_headers.eml", "addresses"): (
        "RFC 6532: a UTF-8 domain is text; the stdlib's policy.default turns its bytes into surrogate escapes"
    ),
}


def stdlib_parse(data: bytes) -> StdlibMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def addr_specs(items: list[Any]) -> list[str]:
    found: list[str] = []
    for item in items:
        if isinstance(item, Group):
            found.extend(member.addr_spec for member in item.members)
        else:
            assert isinstance(item, Address)
            found.append(item.addr_spec)
    return found


def normal(text: str) -> str:
    # The stdlib keeps the preamble's last line ending, which RFC 2046 section
    # 5.1.1 gives to the delimiter; compare the text without it.
    return text.replace("\r\n", "\n").rstrip("\n")


def differences(data: bytes) -> set[str]:
    ours = parse(data)
    theirs = stdlib_parse(data)
    found: set[str] = set()
    ours_parts: list[Part] = list(ours.walk())
    theirs_parts: list[StdlibMessage] = list(theirs.walk())
    if [p.content_type for p in ours_parts] != [p.get_content_type() for p in theirs_parts]:
        return {"tree"}
    for mine, other in zip(ours_parts, theirs_parts):
        if mine.filename != other.get_filename():
            found.add("filename")
        if mine.is_multipart != (other.is_multipart() and not mine.is_message):
            found.add("tree")
        if other.is_multipart() or mine.is_message:
            if mine.is_multipart and normal((mine.preamble or b"").decode()) != normal(other.preamble or ""):
                found.add("preamble")
            if mine.is_multipart and mine.parent is None and (mine.epilogue or b"").decode() != (other.epilogue or ""):
                found.add("epilogue")
            continue
        assert isinstance(other, EmailMessage)
        try:
            content: Any = other.get_content()
        except (LookupError, KeyError):
            content = "<stdlib raised>"
        if mine.get_content() != content:
            found.add("content")
    assert isinstance(theirs, EmailMessage)
    for kind, mine_body in (("plain", ours.text_body()), ("html", ours.html_body())):
        try:
            body = theirs.get_body((kind,))
            expected: Any = None if body is None else body.get_content()
        except (LookupError, KeyError):
            expected = "<stdlib raised>"
        if mine_body != expected:
            found.add("content")
    for name in ("Subject", "Comments", "X-Mixed"):
        value = theirs[name]
        if ours[name] != (None if value is None else str(value)):
            found.add("header")
    date: Any = theirs["date"]
    if date is not None and ours.date != date.datetime:
        found.add("date")
    for name in ("from", "to", "cc"):
        header: Any = theirs[name]
        if header is not None:
            if addr_specs(getattr(ours, name if name != "from" else "from_")) != [a.addr_spec for a in header.addresses]:
                found.add("addresses")
    return found


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_agrees_with_the_stdlib_except_listed_divergences(path: Path) -> None:
    expected = {what for (name, what) in DIVERGENCES if name == path.name}
    assert differences(path.read_bytes()) == expected


def test_divergences_have_the_rfc_side() -> None:
    assert parse((DATA / "messages" / "obsolete_syntax.eml").read_bytes())["Subject"] == "obsolete field syntax"
    utf8 = parse((DATA / "messages" / "utf8_headers.eml").read_bytes())
    assert addr_specs(utf8.from_) == ["juergen@bücher.example"]
    charsets = parse((DATA / "messages" / "charsets.eml").read_bytes())
    assert charsets.parts[0].get_content() == "unknown charset text"


# -- conversion both ways -----------------------------------------------------------------


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_to_email_message(path: Path) -> None:
    data = path.read_bytes()
    converted = parse(data).to_email_message()
    assert isinstance(converted, EmailMessage)
    assert [p.get_content_type() for p in converted.walk()] == [p.get_content_type() for p in stdlib_parse(data).walk()]


def test_from_email_message() -> None:
    original = EmailMessage()
    original["From"] = "Alice <alice@example.org>"
    original["To"] = "bob@example.net"
    original["Subject"] = "Grüße"
    original.set_content("Hello\n")
    original.add_alternative("<p>Hello</p>\n", subtype="html")
    original.add_attachment(b"\x00\x01binary", maintype="application", subtype="octet-stream", filename="a.bin")
    message = Message.from_email_message(original)
    assert message.subject == "Grüße"
    assert message.text_body() == "Hello\r\n"
    assert message.html_body() == "<p>Hello</p>\r\n"
    assert [(a.filename, a.get_content()) for a in message.attachments()] == [("a.bin", b"\x00\x01binary")]
    assert all(not p.defects for p in message.walk())
    back = message.to_email_message()
    assert back["Subject"] == "Grüße"


def test_from_compat32_message() -> None:
    legacy = email.message_from_string("Subject: old\n\nbody\n")
    message = Message.from_email_message(legacy)
    assert bytes(message) == b"Subject: old\r\n\r\nbody\r\n"
