"""Generate-then-parse round trips over random MIME trees (hypothesis).

A strategy builds random :class:`MimePart` trees: text with non-ASCII and
lines that start with "." or "From " or look like delimiters, random binary
attachments, random non-ASCII filenames, multiparts and message/rfc822
parts nested up to about four deep. Each tree is generated under a random
policy, then parsed back with :func:`rfcmail.message.parse` and with the
standard library's parser; both must give the same structure, content types,
filenames, subjects and decoded content, and the standard library must report
no defect on any part.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage, Message as StdlibMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from rfcmail.message import parse
from rfcmail.message._builder import MessageBuilder
from rfcmail.message._encoders import normalize_line_endings
from rfcmail.message._generator import MimePart, generate
from rfcmail.message._model import Part
from rfcmail.message._policy import SMTP, SMTPUTF8, Policy
from rfcmail.message.headers import Address

POLICIES = [SMTP, SMTPUTF8, SMTP.clone(linesep=b"\n"), SMTP.clone(max_line_length=40)]


@dataclass(frozen=True)
class Shape:
    """What a reader should see of one part."""

    content_type: str
    filename: str | None
    subject: str | None
    payload: bytes | None
    text: bool
    children: tuple[Shape, ...]


# --- strategies ---------------------------------------------------------------

_CHARACTERS = st.characters(exclude_categories=["Cs", "Cc", "Zl", "Zp"])
_WORD = st.text(_CHARACTERS.filter(lambda c: not c.isspace()), min_size=1, max_size=12)
_LINE = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"),
            max_size=60),
    st.sampled_from([".", "..", ".hidden", "From me", "From ", "--", "--=_rfcmail_",
                     "x" * 1200, "=", "=?utf-8?q?x?=", " trailing ", "\t"]),
)
_TEXT = st.tuples(st.lists(_LINE, max_size=6), st.sampled_from(["\n", "\r\n", "\r"]),
                  st.booleans()).map(
    lambda t: t[1].join(t[0]) + (t[1] if t[2] else ""))
_PHRASE = st.lists(_WORD, min_size=1, max_size=6).map(" ".join)
_FILENAME = st.one_of(
    st.none(),
    st.tuples(_PHRASE, st.sampled_from([".bin", ".pdf", ".txt", "", ".tar.gz"])).map("".join))


@st.composite
def text_leaf(draw: st.DrawFn) -> MimePart:
    return MimePart(content_type=draw(st.sampled_from(["text/plain", "text/html"])),
                    body=draw(_TEXT), filename=draw(_FILENAME),
                    charset=draw(st.sampled_from([None, None, "utf-8"])))


@st.composite
def binary_leaf(draw: st.DrawFn) -> MimePart:
    data = draw(st.one_of(st.binary(max_size=600),
                          st.sampled_from([b"", b"a,b\r\nc,d\r\n", b"\r\n", b"--x\r\n"])))
    return MimePart(content_type=draw(st.sampled_from(["application/octet-stream",
                                                       "image/png", "application/pdf"])),
                    body=data, filename=draw(_FILENAME),
                    disposition=draw(st.sampled_from([None, "attachment", "inline"])))


def extend(children: st.SearchStrategy[MimePart]) -> st.SearchStrategy[MimePart]:
    multipart = st.builds(
        lambda subtype, parts: MimePart(content_type=f"multipart/{subtype}", parts=tuple(parts)),
        st.sampled_from(["mixed", "alternative", "related", "x-custom"]),
        st.lists(children, min_size=1, max_size=3))
    message = st.builds(
        lambda inner, subject: MimePart(
            content_type="message/rfc822",
            parts=(dataclasses.replace(inner, headers=(("Subject", subject),)),)),
        children, _PHRASE)
    return st.one_of(multipart, message)


TREES = st.recursive(st.one_of(text_leaf(), binary_leaf()), extend, max_leaves=6)


# --- expectations ---------------------------------------------------------------


def _subject(part: MimePart) -> str | None:
    for name, value in part.headers:
        if name.lower() == "subject":
            return value
    return None


def expected(part: MimePart, *, top: bool) -> Shape:
    if part.maintype == "multipart":
        children = tuple(expected(child, top=False) for child in part.parts)
        return Shape(part.content_type, None, _subject(part), None, False, children)
    if part.content_type == "message/rfc822":
        return Shape(part.content_type, part.filename, _subject(part), None, False,
                     (expected(part.parts[0], top=True),))
    if isinstance(part.body, str):
        charset = part.charset or ("us-ascii" if part.body.isascii() else "utf-8")
        payload = normalize_line_endings(part.body.encode(charset))
        is_text = True
    else:
        assert isinstance(part.body, bytes)
        payload = part.body
        is_text = False
    if top:
        # A root leaf must end with a line break on the wire; for identity
        # encodings that adds one to the content (checked against the CTE).
        payload = payload + b"\x00TOP"
    return Shape(part.content_type, part.filename, _subject(part), payload, is_text, ())


def _same_payload(want: bytes, got: bytes, encoding: str, linesep: bytes) -> bool:
    if want.endswith(b"\x00TOP"):
        want = want[:-4]
        if encoding in ("7bit", "8bit") and want and not want.endswith(b"\r\n"):
            want += b"\r\n"
    if linesep != b"\r\n":
        return normalize_line_endings(want) == normalize_line_endings(got)
    return want == got


def stdlib_shape_matches(want: Shape, got: StdlibMessage, linesep: bytes) -> None:
    assert got.defects == [], (want.content_type, got.defects)
    assert got.get_content_type() == want.content_type
    assert got.get_filename() == want.filename
    if want.subject is not None:
        assert got["Subject"] == want.subject
    if want.payload is None:
        children = got.get_payload()
        assert isinstance(children, list)
        assert len(children) == len(want.children)
        for child_want, child_got in zip(want.children, children, strict=True):
            stdlib_shape_matches(child_want, child_got, linesep)
        return
    payload = got.get_payload(decode=True)
    assert isinstance(payload, bytes)
    encoding = str(got.get("Content-Transfer-Encoding", "7bit")).lower()
    assert _same_payload(want.payload, payload, encoding, linesep), (want.payload, payload)


def rfcmail_shape_matches(want: Shape, got: Part, linesep: bytes) -> None:
    assert got.defects == [], (want.content_type, got.defects)
    assert got.content_type == want.content_type
    assert got.filename == want.filename
    if want.subject is not None:
        assert got.get("Subject") == want.subject
    if want.payload is None:
        assert len(got.parts) == len(want.children)
        for child_want, child_got in zip(want.children, got.parts, strict=True):
            rfcmail_shape_matches(child_want, child_got, linesep)
        return
    payload = got.get_payload_bytes()
    assert _same_payload(want.payload, payload, got.content_transfer_encoding, linesep), \
        (want.payload, payload)
    if want.text and linesep == b"\r\n":
        content = got.get_content()
        assert isinstance(content, str)
        assert content.encode(got.charset or "us-ascii") == payload


def counter_random() -> Callable[[int], bytes]:
    numbers = itertools.count(1)
    return lambda size: next(numbers).to_bytes(size, "big")


# --- the round trips ------------------------------------------------------------


# Each example builds, generates and parses twice a whole tree: fewer examples
# than the profile's default keep this file within its time budget.
@settings(max_examples=60)
@given(TREES, _PHRASE, st.sampled_from(POLICIES))
def test_random_trees_round_trip_through_both_parsers(tree: MimePart, subject: str,
                                                      policy: Policy) -> None:
    root = dataclasses.replace(tree, headers=(("Subject", subject),))
    data = generate(root, policy)
    lines = data.split(policy.linesep)
    assert lines[-1] == b""
    assert all(len(line) <= 998 for line in lines)
    if policy.linesep == b"\r\n":
        assert data.count(b"\r") == data.count(b"\n") == data.count(b"\r\n")
    if not (policy.utf8 or policy.allow_8bit):
        assert data.isascii()
    want = expected(root, top=True)
    stdlib = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(stdlib, EmailMessage)
    stdlib_shape_matches(want, stdlib, policy.linesep)
    parsed = parse(data, policy=policy)
    rfcmail_shape_matches(want, parsed, policy.linesep)
    assert bytes(parsed) == data
    # Parse, convert back to a tree, generate again: the same content.
    again = generate(MimePart.from_part(parsed), policy)
    second = email.message_from_bytes(again, policy=email.policy.default)
    assert isinstance(second, EmailMessage)
    same_leaves(stdlib, second, policy.linesep)


def same_leaves(first: StdlibMessage, second: StdlibMessage, linesep: bytes) -> None:
    pairs = list(zip(first.walk(), second.walk(), strict=True))
    for a, b in pairs:
        assert b.defects == []
        assert a.get_content_type() == b.get_content_type()
        assert a.get_filename() == b.get_filename()
        assert a["Subject"] == b["Subject"]
        if not a.is_multipart():
            one, two = a.get_payload(decode=True), b.get_payload(decode=True)
            assert isinstance(one, bytes) and isinstance(two, bytes)
            if linesep != b"\r\n" or a.get_content_maintype() == "text":
                # Text may gain the final line break a root 7bit part needs.
                one, two = normalize_line_endings(one), normalize_line_endings(two)
                assert two in (one, one + b"\r\n")
            else:
                assert one == two


_ADDRESS = st.tuples(_PHRASE, st.sampled_from(["alice", "bob.smith", "c+d"]),
                     st.sampled_from(["example.org", "mail.example.test"]))


@settings(max_examples=50)
@given(st.lists(_ADDRESS, min_size=1, max_size=4), _PHRASE, _TEXT, st.one_of(st.none(), _TEXT),
       st.lists(st.tuples(st.binary(max_size=300), _PHRASE), max_size=3),
       st.sampled_from(POLICIES))
def test_builder_round_trip(addresses: list[tuple[str, str, str]], subject: str, text: str,
                            html: str | None, files: list[tuple[bytes, str]],
                            policy: Policy) -> None:
    formatted = [Address(display_name=name, local_part=local, domain=domain)
                 for name, local, domain in addresses]
    builder = MessageBuilder(from_="Sender <sender@example.org>", to=formatted,
                             subject=subject, random_bytes=counter_random())
    builder.text(text)
    if html is not None:
        builder.html(html)
    for data, name in files:
        builder.attach(data, filename=name + ".dat")
    raw = builder.build(policy)
    stdlib = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(stdlib, EmailMessage)
    for part in stdlib.walk():
        assert part.defects == []
    assert stdlib["Subject"] == subject
    assert [a.addr_spec for a in stdlib["To"].addresses] == \
        [f"{local}@{domain}" for _, local, domain in addresses]
    message = parse(raw, policy=policy)
    assert message.subject == subject
    assert [a.addr_spec for a in message.to if isinstance(a, Address)] == \
        [f"{local}@{domain}" for _, local, domain in addresses]
    body = message.text_body()
    assert body is not None
    want = normalize_line_endings(text.encode()).decode()
    if policy.linesep == b"\r\n":
        assert body in (want, want + "\r\n")
    got_files = [(part.filename, part.get_payload_bytes()) for part in message.attachments()]
    want_files = [(name + ".dat", data) for data, name in files]
    if policy.linesep != b"\r\n":
        # Octets that went as 7bit are written with the local line ending.
        got_files = [(name, normalize_line_endings(data)) for name, data in got_files]
        want_files = [(name, normalize_line_endings(data)) for name, data in want_files]
    assert got_files == want_files
