"""Tests for rfcmail.message._generator: MimePart trees to wire bytes.

Covers SECURITY.md A4.1 (no header line can be injected; every emitted header
line is verified), A4.7 G (a boundary never occurs in any part body) and
A1.3 for generated text (no bare CR or LF, a final line ending), folding at
78/998 (RFC 5322 section 2.2.3), the transfer-encoding choice per part and
the limits (max_mime_depth, the 998-octet line) at N-1, N and N+1. Output is
checked with the standard library's parser, which must report no defects.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import io
import itertools
import re
from collections.abc import Callable
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.limits import DEFAULT_LIMITS
from rfcmail.message._generator import MimePart, generate, make_boundary
from rfcmail.message._policy import SMTP, SMTPUTF8, Policy

HEADER_LINE = re.compile(rb"[!-9;-~]+:[^\r\n]*|[ \t][^\r\n]*\S[^\r\n]*")


def counter_random() -> Callable[[int], bytes]:
    """A deterministic random source that never repeats."""
    numbers = itertools.count(1)
    return lambda size: next(numbers).to_bytes(size, "big")


def stdlib_parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    for part in message.walk():
        assert part.defects == [], (part.get_content_type(), part.defects)
    return message


def header_block(data: bytes, linesep: bytes = b"\r\n") -> list[bytes]:
    head = data.split(linesep + linesep, 1)[0]
    return head.split(linesep)


def assert_wire_clean(data: bytes, linesep: bytes = b"\r\n") -> None:
    """Every line ends with linesep, none is over 998 octets, the header lines are valid."""
    assert data.endswith(linesep)
    if linesep == b"\r\n":
        assert data.count(b"\r") == data.count(b"\n") == data.count(b"\r\n")
    else:
        assert b"\r" not in data
    assert all(len(line) <= 998 for line in data.split(linesep))
    for line in header_block(data, linesep):
        assert HEADER_LINE.fullmatch(line), line


def text_part(body: str, **kwargs: object) -> MimePart:
    return MimePart(content_type="text/plain", body=body, **kwargs)  # type: ignore[arg-type]


# --- basics -----------------------------------------------------------------


def test_plain_ascii_text_is_7bit_with_crlf() -> None:
    data = generate(MimePart(headers=(("Subject", "Hi"),), body="line one\nline two\n"))
    assert data == (b"Subject: Hi\r\nMIME-Version: 1.0\r\n"
                    b"Content-Type: text/plain; charset=us-ascii\r\n"
                    b"Content-Transfer-Encoding: 7bit\r\n\r\nline one\r\nline two\r\n")
    assert_wire_clean(data)
    assert stdlib_parse(data).get_content() == "line one\r\nline two\r\n"


def test_text_without_final_line_break_gets_one() -> None:
    data = generate(text_part("no newline"))
    assert data.endswith(b"\r\n\r\nno newline\r\n")


def test_bare_cr_and_lf_in_text_become_crlf() -> None:
    # SECURITY.md A1.3: generated text never carries a bare CR or LF.
    data = generate(text_part("a\rb\nc\r\n.x\r\n"))
    assert data.endswith(b"\r\n\r\na\r\nb\r\nc\r\n.x\r\n")
    assert_wire_clean(data)


def test_linesep_lf_policy_writes_no_cr() -> None:
    policy = SMTP.clone(linesep=b"\n")
    data = generate(MimePart(headers=(("Subject", "x " * 60),), body="a\r\nb\r\n"), policy)
    assert_wire_clean(data, b"\n")
    assert data.endswith(b"\n\na\nb\n")


def test_mime_version_only_when_asked() -> None:
    assert b"MIME-Version" not in generate(text_part("x"), mime_version=False)


@pytest.mark.parametrize(("text", "encoding"), [
    ("plain\n", "7bit"),
    ("Caf\u00e9 cr\u00e8me, a mostly ASCII sentence.\n", "quoted-printable"),
    ("\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!\n", "base64"),
    ("nul \x00 byte\n", "quoted-printable"),
    ("x" * 999 + "\n", "quoted-printable"),
])
def test_text_encoding_choice_round_trips_through_stdlib(text: str, encoding: str) -> None:
    data = generate(text_part(text))
    assert_wire_clean(data)
    message = stdlib_parse(data)
    assert message["Content-Transfer-Encoding"] == encoding
    assert message.get_content() == text.replace("\n", "\r\n")


def test_8bit_and_raw_utf8_headers_under_smtputf8() -> None:
    part = MimePart(headers=(("Subject", "Gr\u00fc\u00dfe"),), body="Gr\u00fc\u00dfe\n")
    data = generate(part, SMTPUTF8)
    assert "Subject: Gr\u00fc\u00dfe\r\n".encode() in data
    assert b"Content-Transfer-Encoding: 8bit" in data
    assert b"charset=utf-8" in data
    assert_wire_clean(data)


def test_smtp_policy_output_is_7bit_clean() -> None:
    part = MimePart(content_type="multipart/mixed", headers=(("Subject", "Gr\u00fc\u00dfe"),),
                    parts=(text_part("Gr\u00fc\u00dfe\n"),
                           MimePart(content_type="application/octet-stream",
                                    body=bytes(range(256)), filename="d\u00e4ta.bin")))
    data = generate(part, SMTP, random_bytes=counter_random())
    assert data.isascii()
    assert_wire_clean(data)
    message = stdlib_parse(data)
    assert message["Subject"] == "Gr\u00fc\u00dfe"
    attachment = list(message.iter_attachments())[0]
    assert attachment.get_filename() == "d\u00e4ta.bin"
    assert attachment.get_content() == bytes(range(256))


def test_charset_given_is_used() -> None:
    data = generate(text_part("caf\u00e9\n", charset="iso-8859-1"))
    message = stdlib_parse(data)
    assert message.get_content_charset() == "iso-8859-1"
    assert b"caf=E9" in data
    assert message.get_content() == "caf\u00e9\r\n"


def test_unencodable_text_or_unknown_charset_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="cannot encode"):
        generate(text_part("\u20ac", charset="iso-8859-1"))
    with pytest.raises(ValueError, match="cannot encode"):
        generate(text_part("x", charset="no-such-charset"))


def test_bytes_stream_and_supports_bytes_bodies() -> None:
    payload = bytes(range(256)) * 1000

    class Blob:
        def __bytes__(self) -> bytes:
            return payload

    for body in (payload, io.BytesIO(payload), Blob()):
        data = generate(MimePart(content_type="application/octet-stream", body=body))
        assert_wire_clean(data)
        assert stdlib_parse(data).get_content() == payload


def test_empty_leaf() -> None:
    data = generate(MimePart(content_type="application/octet-stream"))
    assert data.endswith(b"Content-Transfer-Encoding: 7bit\r\n\r\n")
    assert stdlib_parse(data).get_content() == b""


def test_content_fields_of_an_attachment() -> None:
    part = MimePart(content_type="image/png", body=b"\x89PNG", filename="a.png",
                    disposition="inline", content_id="img1@example.org",
                    description="A picture")
    message = stdlib_parse(generate(part))
    assert message["Content-ID"] == "<img1@example.org>"
    assert message["Content-Description"] == "A picture"
    assert message.get_content_disposition() == "inline"
    assert message.get_filename() == "a.png"
    assert message.get_param("name") == "a.png"


# --- forced encodings and validation ----------------------------------------


def test_forced_transfer_encodings() -> None:
    assert b"base64" in generate(text_part("hello\n", transfer_encoding="base64"))
    qp = generate(text_part("hello\n", transfer_encoding="Quoted-Printable"))
    assert stdlib_parse(qp).get_content() == "hello\r\n"
    with pytest.raises(ValueError, match="8-bit"):
        generate(text_part("caf\u00e9\n", transfer_encoding="7bit"))
    with pytest.raises(ValueError, match="allow_8bit"):
        generate(text_part("caf\u00e9\n", transfer_encoding="8bit"), SMTP)
    with pytest.raises(ValueError, match="allow_binary"):
        generate(MimePart(content_type="application/octet-stream", body=b"\x00",
                          transfer_encoding="binary"))
    with pytest.raises(ValueError, match="not valid 7bit"):
        generate(MimePart(content_type="application/octet-stream", body=b"a\nb",
                          transfer_encoding="7bit"))
    with pytest.raises(ValueError, match="unknown transfer_encoding"):
        text_part("x", transfer_encoding="x-uuencode")


def test_multipart_may_only_be_labelled_with_an_identity_encoding() -> None:
    child = text_part("x")
    with pytest.raises(ValueError, match="7bit, 8bit or binary"):
        generate(MimePart(content_type="multipart/mixed", parts=(child,),
                          transfer_encoding="base64"))
    eight = MimePart(content_type="multipart/mixed", parts=(text_part("\u00e9\n"),),
                     transfer_encoding="7bit")
    with pytest.raises(ValueError, match="cannot be labelled 7bit"):
        generate(eight, SMTPUTF8)


def test_multipart_holding_8bit_is_labelled_8bit() -> None:
    part = MimePart(content_type="multipart/mixed", parts=(text_part("\u00e9\n"),))
    data = generate(part, SMTPUTF8, random_bytes=counter_random())
    assert header_block(data)[-1] == b"Content-Transfer-Encoding: 8bit"


@pytest.mark.parametrize("kwargs", [
    {"content_type": "text"},
    {"content_type": "text/plain; charset=x"},
    {"content_type": "multipart/mixed", "body": "x"},
    {"content_type": "text/plain", "parts": (MimePart(),)},
    {"content_type": "message/rfc822"},
    {"content_type": "message/rfc822", "body": b"x", "parts": (MimePart(),)},
    {"headers": (("Content-Type", "text/html"),)},
    {"headers": (("MIME-Version", "1.0"),)},
    {"content_id": "<x@y>"},
    {"headers": (("Bad Name", "x"),)},
    {"headers": (("Bad:Name", "x"),)},
    {"headers": (("", "x"),)},
])
def test_invalid_parts_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        MimePart(**kwargs)  # type: ignore[arg-type]


def test_empty_multipart_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one part"):
        generate(MimePart(content_type="multipart/mixed"))


# --- SECURITY.md A4.1: header injection --------------------------------------

INJECTIONS = ["x\r\nBcc: eve@evil.example", "x\nBcc: eve@evil.example", "x\rBcc: eve",
              "x\r\n\r\nbody", "nul\x00byte", "\r\n", "\n X-Folded: still a line"]


@pytest.mark.parametrize("value", INJECTIONS)
def test_cr_lf_nul_in_any_header_value_raises_before_output(value: str) -> None:
    for kwargs in ({"headers": (("Subject", value),)}, {"headers": (("X-Custom", value),)},
                   {"headers": (("To", value),)}, {"filename": value},
                   {"description": value}, {"params": {"format": value}},
                   {"charset": value}, {"disposition": value}):
        with pytest.raises(ValueError):
            generate(MimePart(body="x", **kwargs))


@pytest.mark.parametrize("value", [
    "=?utf-8?q?hi=0D=0ABcc:_eve@evil.example?=",
    "=?utf-8?b?aGkNCkJjYzogZXZlQGV2aWwuZXhhbXBsZQ==?=",
    "report%0D%0ABcc: eve@evil.example",
    "line\u2028separator and next\u0085line and \u2029",
    "=?utf-8?q?a?= =?utf-8?q?=0A?=",
])
@pytest.mark.parametrize("policy", [SMTP, SMTPUTF8])
def test_encoded_newlines_cannot_make_a_header_line(value: str, policy: Policy) -> None:
    # The A4.1 corpus: text that decodes to, or reads as, a line break is
    # written so that the header count does not change.
    part = MimePart(headers=(("Subject", value), ("X-Note", value)), body="x")
    data = generate(part, policy)
    assert_wire_clean(data)
    lines = header_block(data)
    names = [line.split(b":", 1)[0] for line in lines if not line[:1] in (b" ", b"\t")]
    assert names == [b"Subject", b"X-Note", b"MIME-Version", b"Content-Type",
                     b"Content-Transfer-Encoding"]
    for separator in ("\u2028", "\u2029", "\u0085"):
        assert separator.encode() not in data
    message = stdlib_parse(data)
    assert message["Bcc"] is None
    assert len(message.keys()) == 5


def test_decoded_crlf_cannot_be_generated_again() -> None:
    # A value decoded from an encoded word holding CRLF (CVE-2024-6923's
    # input) refuses to be written back raw.
    decoded = email.message_from_bytes(
        b"Subject: =?utf-8?q?hi=0D=0ABcc:_eve@evil.example?=\r\n\r\n",
        policy=email.policy.default)["Subject"]
    assert "\r\n" in str(decoded) or "\n" in str(decoded)
    with pytest.raises(ValueError, match="inject"):
        generate(MimePart(headers=(("Subject", str(decoded)),), body="x"))


# --- folding -----------------------------------------------------------------


def test_long_unstructured_field_is_folded_under_78() -> None:
    subject = " ".join(f"word{i}" for i in range(100))
    data = generate(MimePart(headers=(("Subject", subject),), body="x"))
    lines = header_block(data)
    subject_lines = [line for line in lines if line.startswith((b"Subject", b" "))]
    assert len(subject_lines) > 5
    assert all(len(line) <= 78 for line in subject_lines)
    assert stdlib_parse(data)["Subject"] == subject


def test_long_non_ascii_field_is_encoded_and_folded() -> None:
    subject = "\u00e9t\u00e9 " * 60
    data = generate(MimePart(headers=(("Subject", subject),), body="x"))
    assert data.isascii()
    assert all(len(line) <= 78 for line in header_block(data))
    assert stdlib_parse(data)["Subject"] == subject.rstrip() or \
        stdlib_parse(data)["Subject"] == subject


def test_long_parameter_is_folded_and_round_trips() -> None:
    name = "\u00fcber-" + "lang" * 60 + ".pdf"
    data = generate(MimePart(content_type="application/pdf", body=b"%PDF", filename=name))
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    assert stdlib_parse(data).get_filename() == name


def test_long_address_list_is_folded() -> None:
    to = ", ".join(f"User {i} <user{i}@example.org>" for i in range(40))
    data = generate(MimePart(headers=(("To", to),), body="x"))
    assert_wire_clean(data)
    assert all(len(line) <= 78 for line in header_block(data))
    addresses = stdlib_parse(data)["To"].addresses
    assert [a.addr_spec for a in addresses] == [f"user{i}@example.org" for i in range(40)]


def test_non_ascii_address_field_is_formatted_for_7bit() -> None:
    data = generate(MimePart(headers=(("From", "Zo\u00eb Z <zoe@example.org>"),), body="x"))
    assert data.isascii()
    sender = stdlib_parse(data)["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("Zo\u00eb Z", "zoe@example.org")


# --- boundaries: SECURITY.md A4.7 G -----------------------------------------


def test_boundary_is_bchars_and_at_most_70() -> None:
    boundary = make_boundary()
    assert re.fullmatch(r"[0-9A-Za-z'()+_,\-./:=?]{1,70}", boundary)
    assert "=_" in boundary


def test_boundary_that_occurs_in_a_body_is_not_used() -> None:
    first = make_boundary(lambda size: b"\x01" * size, 1)
    hostile = text_part(f"quoted: --{first}\n--{first}--\n")
    draws = iter([b"\x01" * 16, b"\x02" * 16])
    part = MimePart(content_type="multipart/mixed", parts=(hostile,))
    data = generate(part, random_bytes=lambda size: next(draws))
    second = make_boundary(lambda size: b"\x02" * size, 2)
    assert f'boundary="{second}"'.encode() in data
    message = stdlib_parse(data)
    parts = list(message.iter_parts())
    assert len(parts) == 1
    assert parts[0].get_content() == f"quoted: --{first}\r\n--{first}--\r\n"


def test_constant_random_source_gives_distinct_nested_boundaries() -> None:
    # Reproducible output: a constant source still numbers the boundaries.
    constant = lambda size: b"\x07" * size  # noqa: E731
    tree = MimePart(content_type="multipart/mixed", parts=(
        MimePart(content_type="multipart/alternative",
                 parts=(text_part("a"), MimePart(content_type="text/html", body="b"))),
        MimePart(content_type="application/octet-stream", body=b"c")))
    data = generate(tree, random_bytes=constant)
    assert data == generate(tree, random_bytes=constant)
    assert len(set(re.findall(rb'boundary="([^"]+)"', data))) == 2
    stdlib_parse(data)


def test_a_body_holding_every_candidate_cannot_loop_forever() -> None:
    constant = lambda size: b"\x07" * size  # noqa: E731
    lines = "".join(f"--{make_boundary(constant, n)}\n" for n in range(1, 40))
    part = MimePart(content_type="multipart/mixed", parts=(text_part(lines),))
    with pytest.raises(ValueError, match="no boundary"):
        generate(part, random_bytes=constant)


def test_given_boundary_is_checked() -> None:
    inner = text_part("--abc\n")
    with pytest.raises(ValueError, match="occurs"):
        generate(MimePart(content_type="multipart/mixed", params={"boundary": "abc"},
                          parts=(inner,)))
    with pytest.raises(ValueError, match="invalid boundary"):
        generate(MimePart(content_type="multipart/mixed", params={"boundary": "a" * 71},
                          parts=(text_part("x"),)))
    data = generate(MimePart(content_type="multipart/mixed", params={"boundary": "b" * 70},
                             parts=(text_part("x"),)))
    assert stdlib_parse(data).get_boundary() == "b" * 70


def test_nested_multiparts_get_distinct_boundaries() -> None:
    leaf = text_part("x\n")
    tree = leaf
    for _ in range(5):
        tree = MimePart(content_type="multipart/mixed", parts=(tree, leaf))
    data = generate(tree)
    boundaries = re.findall(rb'boundary="?([^";\r\n]+)', data)
    assert len(set(boundaries)) == 5
    message = stdlib_parse(data)
    assert sum(1 for part in message.walk() if part.get_content_type() == "text/plain") == 6


def test_qp_body_with_delimiter_lookalike_lines() -> None:
    text = "--=_rfcmail_\n--\u00e9\n" * 3
    part = MimePart(content_type="multipart/alternative",
                    parts=(text_part(text), MimePart(content_type="text/html", body=text)))
    message = stdlib_parse(generate(part))
    assert [p.get_content() for p in message.iter_parts()] == [text.replace("\n", "\r\n")] * 2


# --- message/rfc822 -----------------------------------------------------------


def test_forwarded_raw_message_gets_crlf_and_7bit() -> None:
    raw = b"From: a@example.org\nSubject: inner\n\nhello\n"
    part = MimePart(content_type="multipart/mixed",
                    parts=(text_part("see below\n"),
                           MimePart(content_type="message/rfc822", body=raw)))
    data = generate(part)
    assert_wire_clean(data)
    assert b"From: a@example.org\r\nSubject: inner\r\n\r\nhello\r\n" in data
    inner = list(stdlib_parse(data).iter_parts())[1].get_content()
    assert inner["Subject"] == "inner"
    assert inner.get_content() == "hello\r\n"


def test_forwarded_8bit_message_needs_8bit_policy() -> None:
    raw = "Subject: x\r\n\r\ncaf\u00e9\r\n".encode()
    part = MimePart(content_type="message/rfc822", body=raw)
    with pytest.raises(ValueError, match="allow_8bit"):
        generate(part, SMTP)
    data = generate(part, SMTPUTF8)
    assert b"Content-Transfer-Encoding: 8bit" in data
    long_line = MimePart(content_type="message/rfc822", body=b"Subject: x\r\n\r\n" + b"y" * 999)
    with pytest.raises(ValueError, match="allow_binary"):
        generate(long_line, SMTPUTF8)
    assert b"Content-Transfer-Encoding: binary" in generate(long_line, Policy(allow_binary=True))
    with pytest.raises(ValueError, match="not str"):
        generate(MimePart(content_type="message/rfc822", body="Subject: x\r\n\r\n"))


def test_forwarded_part_tree() -> None:
    inner = MimePart(headers=(("Subject", "inner \u00e9"),), body="inner body\n")
    part = MimePart(content_type="message/rfc822", parts=(inner,), disposition="attachment")
    message = stdlib_parse(generate(part))
    forwarded = message.get_content()
    assert forwarded["Subject"] == "inner \u00e9"
    assert forwarded["MIME-Version"] == "1.0"
    assert forwarded.get_content() == "inner body\r\n"


# --- limits: max_mime_depth at N-1, N, N+1 ----------------------------------


def nested(depth: int) -> MimePart:
    tree = text_part("x")
    for _ in range(depth):
        tree = MimePart(content_type="multipart/mixed", parts=(tree,))
    return tree


@pytest.mark.parametrize(("depth", "ok"), [(4, True), (5, True), (6, False)])
def test_depth_limit(depth: int, ok: bool) -> None:
    policy = SMTP.clone(limits=DEFAULT_LIMITS.clone(max_mime_depth=5))
    if ok:
        stdlib_parse(generate(nested(depth), policy))
    else:
        with pytest.raises(ValueError, match="max_mime_depth=5"):
            generate(nested(depth), policy)


def test_default_depth_limit_is_the_parsers() -> None:
    generate(nested(DEFAULT_LIMITS.max_mime_depth))
    with pytest.raises(ValueError, match="max_mime_depth"):
        generate(nested(DEFAULT_LIMITS.max_mime_depth + 1))


@pytest.mark.parametrize("length", [997, 998, 999])
def test_no_generated_line_exceeds_998(length: int) -> None:
    for body in ("z" * length + "\n", b"z" * length + b"\r\n"):
        part = MimePart(content_type="text/plain", body=body)
        data = generate(part)
        assert all(len(line) <= 998 for line in data.split(b"\r\n"))
        decoded = stdlib_parse(data).get_content()
        expected = "z" * length + "\r\n"
        assert decoded == expected or decoded == expected.encode()


def test_message_rfc822_around_a_base64_leaf_stays_7bit() -> None:
    inner = MimePart(headers=(("Subject", "inner"),), body="\u0080\u00ff" * 10)
    data = generate(MimePart(content_type="message/rfc822", parts=(inner,)))
    assert header_block(data)[-1] == b"Content-Type: message/rfc822"
    assert stdlib_parse(data).get_content().get_content() == "\u0080\u00ff" * 10


@pytest.mark.parametrize("length", [900, 997, 998, 999, 2000, 10_000])
@pytest.mark.parametrize("policy", [SMTP, SMTPUTF8])
def test_unbreakable_unstructured_word_is_split_into_encoded_words(length: int,
                                                                   policy: Policy) -> None:
    # A word that folding cannot break: past 998 octets the generator writes
    # it as encoded words, which can be split anywhere (RFC 2047 section 2).
    subject = "x" * length
    data = generate(MimePart(headers=(("Subject", subject), ("X-Long", "y" * length)),
                             body="z"), policy)
    assert_wire_clean(data)
    message = stdlib_parse(data)
    assert message["Subject"] == subject
    assert message["X-Long"] == "y" * length


def test_unbreakable_structured_value_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds the limit of 998"):
        generate(MimePart(headers=(("References", "<" + "a" * 1000 + "@example.org>"),),
                          body="z"))


# --- parse -> modify -> generate (SECURITY.md A4.1 G row) ------------------------

A41_CORPUS = [
    b"Subject: =?utf-8?q?hi=0D=0ABcc:_eve@evil.example?=\r\n",
    b"Subject: =?utf-8?b?aGkNCkJjYzogZXZlQGV2aWwuZXhhbXBsZQ==?=\r\n",
    b"X-Note: report%0D%0ABcc: eve@evil.example\r\n",
    "Subject: line\u2028separator\u0085next\r\n".encode(),
    b"Comments: =?utf-8?q?a=0A?= =?utf-8?q?=0D?=\r\n",
    b"Subject: bare\rCR inside\r\n",
    b"Content-Description: =?utf-8?q?x=0D=0AX-Evil:_1?=\r\n",
]


@pytest.mark.parametrize("field", A41_CORPUS)
@pytest.mark.parametrize("policy", [SMTP, SMTPUTF8])
def test_parse_modify_generate_keeps_the_header_count(field: bytes, policy: Policy) -> None:
    from rfcmail.message import parse

    source = (b"From: a@example.org\r\nTo: b@example.org\r\n" + field +
              b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody\r\n")
    parsed = parse(source)
    tree = MimePart.from_part(parsed)
    modified = dataclasses.replace(tree, headers=(*tree.headers, ("X-Added", "yes")))
    data = generate(modified, policy)
    assert_wire_clean(data)
    message = stdlib_parse(data)
    assert message["Bcc"] is None and message["X-Evil"] is None
    names = [line.split(b":", 1)[0].lower() for line in header_block(data)
             if line[:1] not in (b" ", b"\t")]
    expected = [b"from", b"to", field.split(b":", 1)[0].lower(), b"x-added",
                b"mime-version", b"content-type", b"content-transfer-encoding"]
    if field.startswith(b"Content-Description"):
        expected.remove(b"content-description")
        expected.append(b"content-description")
    assert names == expected


def test_from_part_round_trip_of_a_builder_message() -> None:
    from rfcmail.message import MessageBuilder, parse

    original = (MessageBuilder(from_="Zo\u00eb <zoe@example.org>", to="b@example.org",
                               subject="=?not?= an encoded word, caf\u00e9",
                               random_bytes=counter_random())
                .text("caf\u00e9\n").html("<b>x</b>")
                .inline(b"GIF89a", content_id="i@example.org", filename="i.gif")
                .attach(bytes(range(256)), filename="r\u00e9sum\u00e9.bin",
                        description="the data")
                .attach_message(b"Subject: inner\r\n\r\nhello\r\n")
                .build())
    again = generate(MimePart.from_part(parse(original)), random_bytes=counter_random())
    first, second = stdlib_parse(original), stdlib_parse(again)
    assert second["Subject"] == first["Subject"] == "=?not?= an encoded word, caf\u00e9"
    assert str(second["From"]) == str(first["From"])
    assert [p.get_content_type() for p in first.walk()] == \
        [p.get_content_type() for p in second.walk()]
    for a, b in zip(first.walk(), second.walk(), strict=True):
        if not a.is_multipart():
            assert a.get_payload(decode=True) == b.get_payload(decode=True)
            assert a.get_filename() == b.get_filename()
            assert a["Content-ID"] == b["Content-ID"]
            assert a["Content-Description"] == b["Content-Description"]


def test_raw_value_is_written_as_is_unless_it_must_be_encoded() -> None:
    from rfcmail.message._generator import RawValue

    raw = RawValue("=?utf-8?q?caf=C3=A9?= and more")
    data = generate(MimePart(headers=(("Subject", raw),), body="x"))
    assert b"Subject: =?utf-8?q?caf=C3=A9?= and more\r\n" in data
    assert stdlib_parse(data)["Subject"] == "caf\u00e9 and more"
    utf8 = generate(MimePart(headers=(("Subject", RawValue("caf\u00e9")),), body="x"))
    assert utf8.isascii() and stdlib_parse(utf8)["Subject"] == "caf\u00e9"
    with pytest.raises(ValueError):
        MimePart(headers=(("Subject", RawValue("a\r\nBcc: x")),))


@pytest.mark.parametrize("filename", ["*.bin", "a*b", "it's", "100%.txt", "plain.txt"])
def test_filenames_with_rfc2231_marks_are_quoted(filename: str) -> None:
    data = generate(MimePart(content_type="application/octet-stream", body=b"x",
                             filename=filename))
    assert stdlib_parse(data).get_filename() == filename
    from rfcmail.message import parse

    assert parse(data).filename == filename


# --- the last line of defence: folded output is verified (A4.1) ------------------


@pytest.mark.parametrize("folded", [
    "Subject: x\r\nBcc: eve@evil.example\r\n",
    "Subject: x\r\n\r\n",
    "Subject: x\r\n \r\n",
    "X-Other: x\r\n",
    "Subject: x\rBcc: y\r\n",
])
def test_a_fold_that_injects_a_line_is_caught(monkeypatch: pytest.MonkeyPatch,
                                              folded: str) -> None:
    # A broken or hostile folding function (CVE-2024-6923's "custom header
    # whose fold() returns raw CRLF") cannot get a line out.
    from rfcmail.message import headers

    monkeypatch.setattr(headers, "fold", lambda *args, **kwargs: folded)
    monkeypatch.setattr(headers, "encode_header",
                        lambda value, **kwargs: folded.split(": ", 1)[1].rstrip("\r\n"))
    for field in (("Subject", "x"), ("Date", "x")):
        with pytest.raises(ValueError):
            generate(MimePart(headers=(field,), body="x"))


def test_encoder_continues_a_long_partial_line() -> None:
    from rfcmail.message import QuotedPrintableEncoder

    encoder = QuotedPrintableEncoder()
    data = b"a" * 5000 + b"\r\nsecond line\r\nthird"
    out = encoder.feed(data[:5000]) + encoder.feed(data[5000:]) + encoder.finish()
    import binascii

    assert binascii.a2b_qp(out) == data
    assert all(len(line) <= 76 for line in out.split(b"\r\n"))


def test_stream_bodies_with_forced_or_policy_encodings() -> None:
    payload = b"\x00\x01" * 5000
    qp = generate(MimePart(content_type="application/octet-stream", body=io.BytesIO(payload),
                           transfer_encoding="quoted-printable", charset="x-user"))
    assert stdlib_parse(qp).get_payload(decode=True) == payload
    binary = generate(MimePart(content_type="application/octet-stream",
                               body=io.BytesIO(payload)), Policy(allow_binary=True))
    assert b"Content-Transfer-Encoding: binary" in binary and payload in binary
    labelled = generate(MimePart(content_type="text/plain", body=b"abc", charset="utf-8"))
    assert b"charset=utf-8" in labelled


def test_message_rfc822_from_a_stream_and_forced_labels() -> None:
    raw = b"Subject: s\r\n\r\nbody\r\n"
    data = generate(MimePart(content_type="message/rfc822", body=io.BytesIO(raw),
                             transfer_encoding="8bit"), SMTPUTF8)
    assert b"Content-Transfer-Encoding: 8bit" in data
    with pytest.raises(ValueError, match="7bit, 8bit or binary"):
        generate(MimePart(content_type="message/rfc822", body=raw,
                          transfer_encoding="base64"))


def test_disposition_must_be_a_token() -> None:
    with pytest.raises(ValueError, match="token"):
        generate(MimePart(body="x", disposition="in line"))


def test_from_part_keeps_what_it_cannot_decode() -> None:
    from rfcmail.message import parse

    source = (b"Subject: s\r\nMIME-Version: 1.0\r\n"
              b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
              b"--b\r\nContent-Type: text/plain; charset=x-unknown-charset\r\n"
              b"Content-ID: <bad id>\r\n\r\n\xff\xfe\r\n"
              b"--b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\ncaf\xc3\xa9\r\n"
              b"--b\r\nContent-Type: multipart/alternative\r\n\r\nno boundary\r\n"
              b"--b--\r\n")
    tree = MimePart.from_part(parse(source))
    unknown, mislabelled, broken = tree.parts
    assert unknown.body == b"\xff\xfe" and unknown.charset == "x-unknown-charset"
    assert unknown.content_id is None
    assert mislabelled.body == b"caf\xc3\xa9"
    assert broken.content_type == "application/octet-stream"
    data = generate(tree)
    assert_wire_clean(data)
    first = next(stdlib_parse(data).iter_parts())
    assert first.get_payload(decode=True) == b"\xff\xfe"


# --- fuzz: any value either generates clean output or raises ValueError ----------

_ANY_TEXT = st.text(max_size=120)


@given(subject=_ANY_TEXT, other=_ANY_TEXT, filename=st.one_of(st.none(), _ANY_TEXT),
       description=st.one_of(st.none(), _ANY_TEXT), param=_ANY_TEXT, body=_ANY_TEXT,
       policy=st.sampled_from([SMTP, SMTPUTF8, SMTP.clone(linesep=b"\n", max_line_length=30)]))
def test_arbitrary_values_never_break_the_wire_form(subject: str, other: str,
                                                    filename: str | None,
                                                    description: str | None, param: str,
                                                    body: str, policy: Policy) -> None:
    try:
        part = MimePart(headers=(("Subject", subject), ("X-Other", other)), body=body,
                        filename=filename, description=description, params={"x-p": param})
        data = generate(part, policy)
    except ValueError:
        return
    assert_wire_clean(data, policy.linesep)
    if not policy.utf8:
        assert data.isascii()
    names = [line.split(b":", 1)[0] for line in header_block(data, policy.linesep)
             if line[:1] not in (b" ", b"\t")]
    expected = [b"Subject", b"X-Other", b"MIME-Version", b"Content-Type",
                b"Content-Transfer-Encoding"]
    if filename is not None:
        expected.append(b"Content-Disposition")
    if description is not None:
        expected.append(b"Content-Description")
    assert names == expected


def test_collision_check_sees_a_delimiter_split_across_pieces() -> None:
    from rfcmail.message._generator import _collides, _Rendered

    boundary = "=_rfcmail_abc"
    whole = b"text --=_rfcmail_abc more"
    for cut in range(len(whole) + 1):
        pieces = [whole[:cut], b"", whole[cut:]]
        assert _collides(boundary, [_Rendered(pieces, "7bit")]), cut
    assert not _collides(boundary, [_Rendered([b"--=_rfcmail_ab", b"x", b"c"], "7bit")])


def test_large_attachment_round_trips_in_pieces() -> None:
    payload = bytes(range(256)) * 4096 + b"tail"
    data = generate(MimePart(content_type="multipart/mixed",
                             parts=(text_part("x"), MimePart(content_type="application/zip",
                                                             body=payload, filename="a.zip"))))
    assert_wire_clean(data)
    (attachment,) = stdlib_parse(data).iter_attachments()
    assert attachment.get_content() == payload


# --- the strict policy refuses to repair ------------------------------------------


@pytest.mark.parametrize(("text", "ok"), [
    ("unix\nlines\n", True),
    ("wire\r\nlines\r\n", True),
    ("no break", True),
    ("lone\rcr\n", False),
    ("mixed\r\nand\nbare\n", False),
])
def test_strict_policy_refuses_malformed_line_breaks(text: str, ok: bool) -> None:
    from rfcmail.message import STRICT

    lenient = generate(text_part(text))
    assert b"\r\n\r\n" in lenient
    newline = "\r\n" if text.startswith("wire") else "\n"
    raw = (f"Subject: x{newline}{newline}" + text).encode()
    forwarded = MimePart(content_type="message/rfc822", body=raw)
    if ok:
        assert generate(text_part(text), STRICT) == lenient
        generate(forwarded, STRICT)
    else:
        with pytest.raises(ValueError, match="strict policy does not repair"):
            generate(text_part(text), STRICT)
        with pytest.raises(ValueError, match="strict policy does not repair"):
            generate(forwarded, STRICT)


@pytest.mark.parametrize("width", [20, 25, 26, 27, 78, 998])
def test_every_policy_width_folds_encoded_fields(width: int) -> None:
    subject = "caf\u00e9 " * 30 + "x" * 1200
    data = generate(MimePart(headers=(("Subject", subject),), body="x"),
                    SMTP.clone(max_line_length=width))
    assert_wire_clean(data)
    assert stdlib_parse(data)["Subject"] == subject
    lines = header_block(data)
    assert max(len(line) for line in lines) <= max(width, 78)


def test_other_message_types_take_identity_encodings_only() -> None:
    # RFC 2045 section 6.4: message/* is composite, never base64 or QP;
    # RFC 6532 section 3.5 allows encoding message/global.
    status = "Reporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; b@example.org\n"
    report = MimePart(content_type="multipart/report",
                      params={"report-type": "delivery-status"},
                      parts=(text_part("failed\n"),
                             MimePart(content_type="message/delivery-status", body=status),
                             MimePart(content_type="message/delivery-status")))
    data = generate(report)
    assert b"base64" not in data and b"quoted-printable" not in data
    assert b"Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient" in data
    stdlib_parse(data)
    with pytest.raises(ValueError, match="message/delivery-status body holds 8-bit"):
        generate(MimePart(content_type="message/delivery-status", body="Caf\u00e9: x\n"))
    global_part = generate(MimePart(content_type="message/global",
                                    body="Subject: caf\u00e9\r\n\r\nx\r\n".encode()))
    assert b"Content-Transfer-Encoding: base64" in global_part


def test_from_part_keeps_a_delivery_status_part() -> None:
    from rfcmail.message import parse

    raw = (b"MIME-Version: 1.0\r\nContent-Type: multipart/report; "
           b"report-type=delivery-status; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
           b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
           b"Reporting-MTA: dns; x\r\n\r\nAction: failed\r\n--b--\r\n")
    tree = MimePart.from_part(parse(raw))
    assert [part.content_type for part in tree.parts] == ["text/plain",
                                                          "message/delivery-status"]
    assert tree.params == {"report-type": "delivery-status"}
    data = generate(tree)
    status = list(stdlib_parse(data).iter_parts())[1]
    assert status.get_content_type() == "message/delivery-status"
    assert b"Reporting-MTA: dns; x\r\n\r\nAction: failed\r\n" in data
