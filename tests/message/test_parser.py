"""The push parser: framing, offsets, exact round trip, defects, limits, sources.

SECURITY.md rows covered here: A4.3 (duplicate From kept, defect), A4.6 (depth
and part count, no recursion error, linear time), A4.7 (boundary golden
table), A4.11 (file sources and spooling keep memory bounded).
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import IO

import pytest

from rfcmail.errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from rfcmail.limits import Limits
from rfcmail.message import (
    STRICT,
    BadHeaderLine,
    BareCRorLF,
    DuplicateSingletonHeader,
    EightBitInHeader,
    LimitDefect,
    LineTooLong,
    Message,
    MissingBoundary,
    MissingEndBoundary,
    MissingHeaderBodySeparator,
    MultipartWithoutParts,
    NulByte,
    Parser,
    Part,
    Policy,
    StartBoundaryNotFound,
    TruncatedMessage,
    parse,
)

DATA = Path(__file__).resolve().parent.parent / "data"
CORPUS = sorted((DATA / "messages").glob("*.eml")) + [DATA / "sample.eml"]


def shape(message: Part) -> list[tuple[str, tuple[int, int, int], list[str]]]:
    return [(p.content_type, p.offsets, [type(d).__name__ for d in p.defects]) for p in message.walk()]


def defect_names(part: Part) -> list[str]:
    return [type(d).__name__ for d in part.defects]


def feed_in_chunks(data: bytes, sizes: list[int], policy: Policy | None = None) -> Message:
    parser = Parser() if policy is None else Parser(policy=policy)
    position = 0
    index = 0
    while position < len(data):
        size = sizes[index % len(sizes)]
        parser.feed(data[position : position + size])
        position += size
        index += 1
    return parser.close()


# -- the corpus: exact round trip, any chunking, files -------------------------------


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_corpus_round_trips_byte_for_byte(path: Path) -> None:
    data = path.read_bytes()
    message = parse(data)
    assert bytes(message) == data
    assert message.raw_bytes == data


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_corpus_same_tree_whatever_the_chunking(path: Path) -> None:
    data = path.read_bytes()
    expected = shape(parse(data))
    for sizes in ([1], [2], [3, 7], [64], [len(data) + 1]):
        message = feed_in_chunks(data, sizes)
        assert shape(message) == expected, sizes
        assert bytes(message) == data


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_corpus_same_tree_from_a_file(path: Path, tmp_path: Path) -> None:
    data = path.read_bytes()
    copy = tmp_path / "m.eml"
    copy.write_bytes(b"JUNK BEFORE" + data)
    with copy.open("rb") as file:
        file.seek(len(b"JUNK BEFORE"))
        message = parse(file)
        assert shape(message) == shape(parse(data))
        assert bytes(message) == data
        for part in message.walk():
            assert part.raw_bytes == data[part.offsets[0] : part.offsets[2]]


def test_every_prefix_of_every_corpus_message_round_trips() -> None:
    for path in CORPUS:
        data = path.read_bytes()
        for cut in range(0, len(data), 5):
            assert bytes(parse(data[:cut])) == data[:cut]


# -- structure ---------------------------------------------------------------------


def test_sample_tree_and_offsets() -> None:
    data = (DATA / "sample.eml").read_bytes()
    message = parse(data)
    assert message.content_type == "multipart/mixed"
    assert message.is_multipart
    alternative, pdf = message.parts
    assert alternative.content_type == "multipart/alternative"
    assert [p.content_type for p in alternative.parts] == ["text/plain", "text/html"]
    assert pdf.content_type == "application/pdf"
    assert message.preamble == b"This is a multi-part message in MIME format.\r\n"
    assert message.epilogue == b""
    # The CRLF before a delimiter belongs to the delimiter (RFC 2046 section 5.1.1).
    plain = alternative.parts[0]
    assert plain.raw_body.endswith(b"Alice")
    assert data[plain.offsets[2] : plain.offsets[2] + 14] == b"\r\n--=_alt_0001"


def test_delimiter_at_body_start_and_empty_parts() -> None:
    data = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--b\r\nX: y\r\n\r\n--b--"
    message = parse(data)
    assert message.preamble is None
    first, second = message.parts
    assert first.raw_bytes == b"\r\n" or first.raw_bytes == b""
    assert first.size == 0 and second.size == 0
    assert second["X"] == "y"
    assert message.epilogue == b""
    assert bytes(message) == data


def test_nested_message_rfc822() -> None:
    message = parse((DATA / "messages" / "nested_rfc822.eml").read_bytes())
    forwarded = message.parts[1]
    assert forwarded.content_type == "message/rfc822"
    assert forwarded.is_message and not forwarded.is_multipart
    inner = forwarded.parts[0]
    assert isinstance(inner, Message)
    assert inner.subject == "Lunch?"
    assert [p.content_type for p in inner.parts] == ["text/plain", "text/html"]
    assert message.text_body() == "See below."


def test_digest_parts_default_to_message_rfc822() -> None:
    message = parse((DATA / "messages" / "digest.eml").read_bytes())
    assert [p.content_type for p in message.parts] == ["message/rfc822", "message/rfc822"]
    subjects = [p.parts[0]["Subject"] for p in message.parts]
    assert subjects == ["first", "second"]


def test_delivery_status_notification() -> None:
    message = parse((DATA / "messages" / "dsn.eml").read_bytes())
    assert message.params["report-type"] == "delivery-status"
    notification, status, headers = message.parts
    assert status.content_type == "message/delivery-status" and not status.is_message
    content = status.get_content()
    assert isinstance(content, bytes) and content.count(b"\r\n\r\n") == 1
    assert headers.content_type == "text/rfc822-headers"
    body = message.text_body()
    assert body is not None and body.startswith("I'm sorry")
    assert all(not p.defects for p in message.walk())


def test_lf_only_file() -> None:
    message = parse((DATA / "messages" / "lf_only.eml").read_bytes())
    plain, html = message.parts
    assert plain.get_content() == "A local file with LF line endings, soft break and é.\n".replace("\n", "") or True
    assert plain.get_content() == "A local file with LF line endings, soft break and é."
    assert html.get_content() == "<p>LF only</p>"


def test_message_rfc822_with_base64_encoding_is_a_leaf() -> None:
    data = b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQpib2R5\r\n"
    message = parse(data)
    assert not message.is_message and message.parts == []
    assert message.get_content() == b"Subject: x\r\n\r\nbody"


def test_mbox_from_line_is_kept_without_defect() -> None:
    data = b"From alice@example.org Mon Mar  2 10:00:00 2026\r\nSubject: s\r\n\r\nbody"
    message = parse(data)
    assert message["Subject"] == "s"
    assert message.defects == []
    assert bytes(message) == data
    assert message.keys() == ["Subject"]


def test_obsolete_whitespace_before_colon() -> None:
    message = parse((DATA / "messages" / "obsolete_syntax.eml").read_bytes())
    assert message["Subject"] == "obsolete field syntax"
    assert message.get_field("subject") is not None
    assert message.headers[3].name == "Subject"


# -- defects (A4.3, A4.7) ----------------------------------------------------------

BOUNDARY_TABLE: list[tuple[str, bytes, list[str], list[list[str]]]] = [
    (
        "prefix boundary is not a delimiter",
        b"Content-Type: multipart/mixed; boundary=B1\r\n\r\n--B1\r\n\r\n--B10\r\n--B1x\r\n--B1--\r\n",
        ["text/plain"],
        [[], []],
    ),
    (
        "transport padding after the delimiter",
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B \t \r\n\r\nx\r\n--B--  \r\n",
        ["text/plain"],
        [[], []],
    ),
    (
        "missing close delimiter",
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\nx\r\n",
        ["text/plain"],
        [["TruncatedMessage", "MissingEndBoundary"], []],
    ),
    (
        "outer delimiter closes the inner multipart",
        b"Content-Type: multipart/mixed; boundary=A\r\n\r\n--A\r\nContent-Type: multipart/alternative; boundary=B\r\n\r\n"
        b"--B\r\n\r\nx\r\n--A\r\n\r\ny\r\n--A--\r\n",
        ["multipart/alternative", "text/plain", "text/plain"],
        [[], ["MissingEndBoundary"], [], []],
    ),
    (
        "same boundary nested: the inner one takes the first close delimiter",
        b"Content-Type: multipart/mixed; boundary=S\r\n\r\n--S\r\nContent-Type: multipart/mixed; boundary=S\r\n\r\n"
        b"--S\r\n\r\nx\r\n--S--\r\n--S--\r\n",
        ["multipart/mixed", "text/plain"],
        [[], [], []],
    ),
    (
        "delimiter in the epilogue is text",
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\nx\r\n--B--\r\n--B\r\nmore\r\n",
        ["text/plain"],
        [[], []],
    ),
    (
        "no delimiter at all",
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\nplain text\r\n",
        [],
        [["StartBoundaryNotFound"]],
    ),
    (
        "no boundary parameter",
        b"Content-Type: multipart/mixed\r\n\r\n--B\r\n\r\nx\r\n--B--\r\n",
        [],
        [["MissingBoundary"]],
    ),
    (
        "close delimiter with no parts",
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B--\r\n",
        [],
        [["MultipartWithoutParts"]],
    ),
    (
        "LF-only delimiters",
        b"Content-Type: multipart/mixed; boundary=B\n\n--B\n\nx\n--B--\n",
        ["text/plain"],
        [[], []],
    ),
    (
        "a boundary over 70 characters still works",
        b"Content-Type: multipart/mixed; boundary=" + b"b" * 100 + b"\r\n\r\n--" + b"b" * 100 + b"\r\n\r\nx\r\n--"
        + b"b" * 100 + b"--\r\n",
        ["text/plain"],
        [[], []],
    ),
]


@pytest.mark.parametrize(("data", "children", "defects"), [row[1:] for row in BOUNDARY_TABLE], ids=[r[0] for r in BOUNDARY_TABLE])
def test_boundary_golden_table(data: bytes, children: list[str], defects: list[list[str]]) -> None:
    for message in (parse(data), feed_in_chunks(data, [1]), feed_in_chunks(data, [5])):
        parts = list(message.walk())
        assert [p.content_type for p in parts[1:]] == children
        assert [defect_names(p) for p in parts] == defects
        assert bytes(message) == data


def test_prefix_boundary_body_content() -> None:
    message = parse(BOUNDARY_TABLE[0][1])
    assert message.parts[0].raw_body == b"--B10\r\n--B1x"


def test_bad_boundaries_corpus_message() -> None:
    message = parse((DATA / "messages" / "bad_boundaries.eml").read_bytes())
    alternative, last = message.parts
    assert [type(d) for d in alternative.defects] == [MissingEndBoundary]
    assert last.get_content() == "--B1x is not a delimiter\r\n--B1 x is not one either"
    assert message.epilogue == b"epilogue --B1\r\n"
    assert message.preamble == b"preamble mentioning --B1 inline"


def test_duplicate_from_is_kept_with_a_defect() -> None:
    message = parse((DATA / "messages" / "duplicate_from.eml").read_bytes())
    assert message.get_all("From") == ["alice@example.org", "eve@evil.example"]
    assert message["From"] == "alice@example.org"
    assert [type(d) for d in message.defects] == [DuplicateSingletonHeader]
    with pytest.raises(RemoteProtocolError, match="From"):
        parse((DATA / "messages" / "duplicate_from.eml").read_bytes(), policy=STRICT)


@pytest.mark.parametrize(
    ("data", "defect"),
    [
        (b"Subject: a\r\nnot a header\r\n\r\nbody", MissingHeaderBodySeparator),
        (b" continuation first\r\nSubject: a\r\n\r\nbody", BadHeaderLine),
        (b"Subject: caf\xe9\r\n\r\n", EightBitInHeader),
        (b"Subject: a\x00b\r\n\r\n", NulByte),
        (b"Subject: a\rb\r\n\r\n", BareCRorLF),
        (b"Subject: " + b"x" * 990 + b"\r\n\r\n", LineTooLong),
    ],
)
def test_header_defects(data: bytes, defect: type) -> None:
    message = parse(data)
    assert [type(d) for d in message.defects] == [defect]
    assert bytes(message) == data
    with pytest.raises(RemoteProtocolError):
        parse(data, policy=STRICT)


def test_line_of_998_octets_is_fine() -> None:
    data = b"Subject: " + b"x" * 989 + b"\r\n\r\n"
    assert parse(data).defects == []


def test_utf8_headers_are_not_a_defect() -> None:
    message = parse((DATA / "messages" / "utf8_headers.eml").read_bytes())
    assert message.defects == []
    assert message.subject == "Grüße aus München — ünïcödé"


def test_missing_separator_body() -> None:
    message = parse((DATA / "messages" / "missing_separator.eml").read_bytes())
    assert message.raw_body.startswith(b"this line is not a header field\r\n")
    assert message.keys() == ["From", "To", "Subject", "Date"]


def test_truncated_message() -> None:
    message = parse((DATA / "messages" / "truncated.eml").read_bytes())
    assert [type(d) for d in message.defects] == [TruncatedMessage, MissingEndBoundary]
    attachment = message.attachments()[0]
    assert attachment.filename == "cut.bin"
    assert isinstance(attachment.get_content(), bytes)


def test_strict_policy_accepts_clean_mail() -> None:
    data = (DATA / "sample.eml").read_bytes()
    assert bytes(parse(data, policy=STRICT)) == data


def test_strict_policy_raises_on_structure() -> None:
    with pytest.raises(RemoteProtocolError, match="TruncatedMessage"):
        parse(BOUNDARY_TABLE[2][1], policy=STRICT)
    with pytest.raises(RemoteProtocolError, match="StartBoundaryNotFound"):
        parse(b"Content-Type: multipart/mixed; boundary=B\r\n\r\nx", policy=STRICT)


# -- limits at N-1, N, N+1 (A4.6) ---------------------------------------------------


def nested_multiparts(levels: int) -> bytes:
    head = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (level - 1, level) for level in range(1, levels)
    )
    tail = b"".join(b"\r\n--b%d--" % level for level in reversed(range(levels)))
    return b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n" + head + b"--b%d\r\n\r\nleaf" % (levels - 1) + tail


def depth_reached(message: Part) -> int:
    return max(p.depth for p in message.walk() if p.is_multipart)


@pytest.mark.parametrize("limit", [1, 3, 50])
def test_depth_limit(limit: int) -> None:
    policy = Policy(limits=Limits(max_mime_depth=limit))
    for levels in (limit - 1, limit, limit + 1):
        if levels < 1:
            continue
        data = nested_multiparts(levels)
        message = parse(data, policy=policy)
        assert bytes(message) == data
        limited = [d for _, d in message.all_defects() if isinstance(d, LimitDefect)]
        if levels <= limit:
            assert limited == []
            assert depth_reached(message) == levels - 1
        else:
            assert [d.limit_name for d in limited] == ["max_mime_depth"]
            assert depth_reached(message) == limit - 1
            with pytest.raises(LimitExceeded) as raised:
                parse(data, policy=policy.clone(strict=True))
            assert raised.value.limit_name == "max_mime_depth"


def test_ten_thousand_nested_multiparts_no_recursion_error() -> None:
    data = nested_multiparts(10_000)
    message = parse(data)
    assert bytes(message) == data
    assert depth_reached(message) == 49
    assert any(isinstance(d, LimitDefect) for _, d in message.all_defects())
    assert feed_in_chunks(data, [4096]).offsets == message.offsets


def test_hundred_thousand_nested_message_rfc822() -> None:
    data = b"Content-Type: message/rfc822\r\n\r\n" * 100_000 + b"Subject: bottom\r\n\r\nbody"
    message = parse(data)
    assert bytes(message) == data
    assert max(p.depth for p in message.walk()) == 50
    assert any(isinstance(d, LimitDefect) for _, d in message.all_defects())


def many_parts(count: int) -> bytes:
    return b"Content-Type: multipart/mixed; boundary=p\r\n\r\n" + b"--p\r\n\r\nx\r\n" * count + b"--p--\r\n"


@pytest.mark.parametrize("limit", [2, 10])
def test_part_count_limit(limit: int) -> None:
    policy = Policy(limits=Limits(max_parts=limit))
    for children in (limit - 2, limit - 1, limit):
        data = many_parts(children)
        message = parse(data, policy=policy)
        assert bytes(message) == data
        total = len(list(message.walk()))
        if children + 1 <= limit:
            assert total == children + 1
            assert not any(isinstance(d, LimitDefect) for d in message.defects)
        else:
            assert total == limit
            assert [d.limit_name for d in message.defects if isinstance(d, LimitDefect)] == ["max_parts"]
            with pytest.raises(LimitExceeded):
                parse(data, policy=policy.clone(strict=True))


def test_a_million_tiny_parts_stop_at_the_part_limit() -> None:
    data = many_parts(1_000_000)
    message = parse(data)
    assert len(message.parts) == 9_999
    assert bytes(message) == data
    assert message.parts[-1].raw_bytes == b"\r\nx"


def test_a_hundred_thousand_tiny_parts_under_a_raised_limit() -> None:
    data = many_parts(100_000)
    message = parse(data, policy=Policy(limits=Limits(max_parts=300_000)))
    assert len(message.parts) == 100_000
    assert message.defects == []


@pytest.mark.parametrize("delta", [-1, 0, 1])
def test_header_count_limit(delta: int) -> None:
    limit = 20
    data = b"".join(b"X-%d: v\r\n" % i for i in range(limit + delta)) + b"\r\nbody"
    message = parse(data, policy=Policy(limits=Limits(max_header_count=limit)))
    assert len(message.headers) == min(limit, limit + delta)
    assert bytes(message) == data
    assert message.raw_body == b"body"
    assert bool(message.defects) == (delta > 0)


@pytest.mark.parametrize("delta", [-1, 0, 1])
def test_header_size_limit(delta: int) -> None:
    block = b"Subject: hello\r\nX-Pad: " + b"p" * 60 + b"\r\n"
    limit = len(block) + delta
    data = block + b"\r\nbody"
    message = parse(data, policy=Policy(limits=Limits(max_header_size=limit)))
    assert bytes(message) == data
    if delta >= 0:
        assert message.defects == []
        assert message.raw_body == b"body"
    else:
        assert [d.limit_name for d in message.defects if isinstance(d, LimitDefect)] == ["max_header_size"]
        assert message.keys() == ["Subject"]


@pytest.mark.parametrize("delta", [-1, 0, 1])
def test_header_field_size_limit(delta: int) -> None:
    field = b"X-Long: " + b"a" * 100 + b"\r\n"
    data = field + b"\r\n"
    message = parse(data, policy=Policy(limits=Limits(max_header_field_size=len(field) + delta)))
    assert message["X-Long"] == "a" * 100
    assert bool(message.defects) == (delta < 0)


def test_header_folded_a_million_times() -> None:
    data = b"Subject: start" + b"\r\n x" * 1_000_000 + b"\r\n\r\nbody"
    message = parse(data)
    assert [d.limit_name for d in message.defects if isinstance(d, LimitDefect)] == ["max_header_size"]
    assert bytes(message) == data
    raised = Policy(limits=Limits(max_header_size=8_000_000, max_header_field_size=8_000_000))
    message = parse(data, policy=raised)
    assert message.defects == []
    subject = message["Subject"]
    assert subject is not None and len(subject) == len("start") + 2_000_000
    assert message.raw_body == b"body"


def test_header_without_end_fed_in_small_chunks_is_bounded() -> None:
    parser = Parser(policy=Policy(limits=Limits(max_header_size=10_000)))
    for _ in range(5_000):
        parser.feed(b"X-A: b\r\n")
    assert len(parser._scanner.buf) < 100_000
    message = parser.close()
    assert any(isinstance(d, LimitDefect) for d in message.defects)


# -- sources: push parser, spooling, files (A4.11) ------------------------------------


def test_parser_spools_past_the_threshold() -> None:
    files: list[io.BytesIO] = []

    def factory() -> IO[bytes]:
        files.append(io.BytesIO())
        return files[-1]

    data = (DATA / "sample.eml").read_bytes()
    parser = Parser(policy=Policy(spool_threshold=1000), spool_factory=factory)
    for offset in range(0, len(data), 100):
        parser.feed(data[offset : offset + 100])
    assert parser.spooled
    message = parser.close()
    assert len(files) == 1 and files[0].getvalue() == data
    assert bytes(message) == data
    assert message.attachments()[0].get_content() == parse(data).attachments()[0].get_content()
    assert parser.close() is message
    with pytest.raises(LocalProtocolError):
        parser.feed(b"more")


def test_parser_below_threshold_does_not_spool() -> None:
    def factory() -> IO[bytes]:
        raise AssertionError("spooled")

    parser = Parser(spool_factory=factory)
    parser.feed(b"Subject: x\r\n\r\nbody")
    assert not parser.spooled
    assert parser.close().raw_body == b"body"


def test_non_seekable_file_goes_through_the_push_parser() -> None:
    data = (DATA / "sample.eml").read_bytes()

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            chunk = self.inner.read(min(len(buffer), 777))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    message = parse(io.BufferedReader(Pipe()))
    assert bytes(message) == data


def test_large_file_body_is_read_in_pieces(tmp_path: Path) -> None:
    body = b"QUJD" * 19 + b"\r\n"
    path = tmp_path / "big.eml"
    with path.open("wb") as out:
        out.write(b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Transfer-Encoding: base64\r\n"
                  b"Content-Type: application/octet-stream\r\n\r\n")
        for _ in range(60_000):  # about 4.8 MB, several read chunks
            out.write(body)
        out.write(b"--z--\r\n")

    class CountingFile(io.FileIO):
        largest = 0

        def read(self, size: int | None = -1) -> bytes:
            assert size is not None and size >= 0, "whole-file read"
            CountingFile.largest = max(CountingFile.largest, size)
            return super().read(size)

    with CountingFile(path, "rb") as file:
        message = parse(file)
        attachment = message.parts[0]
        assert attachment.size == len(body) * 60_000 - 2
        with attachment.open() as stream:
            total = 0
            while chunk := stream.read(100_000):
                assert set(chunk) == {0x41, 0x42, 0x43}
                total += len(chunk)
        assert total == 57 * 60_000
    assert CountingFile.largest <= 1024 * 1024


def test_random_chunkings_of_random_mutations() -> None:
    rng = random.Random(5322)
    seeds = [p.read_bytes() for p in CORPUS]
    for _ in range(200):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(len(data) + 1)
            data[position:position] = rng.choice([b"\r\n", b"\n", b"--", b"\r", b"--B1--\r\n", b":", b" ", b"\x00"])
        blob = bytes(data)
        expected = shape(parse(blob))
        message = feed_in_chunks(blob, [rng.randint(1, 40) for _ in range(5)])
        assert shape(message) == expected
        assert bytes(message) == blob


@pytest.mark.parametrize("limit", [500, 2000])
@pytest.mark.parametrize("delta", [-1, 0, 1])
def test_header_line_length_limit(delta: int, limit: int) -> None:
    line = b"X-Long: " + b"a" * (limit - len(b"X-Long: ") - 2 + delta) + b"\r\n"
    assert len(line) == limit + delta
    data = line + b"\r\nbody"
    message = parse(data, policy=Policy(limits=Limits(max_message_line=limit)))
    limited = [d.limit_name for d in message.defects if isinstance(d, LimitDefect)]
    assert limited == (["max_message_line"] if delta > 0 else [])
    assert [type(d) for d in message.defects if not isinstance(d, LimitDefect)] == ([LineTooLong] if limit > 998 else [])
    assert message["X-Long"] == "a" * (len(line) - 10)
    assert bytes(message) == data
    if delta > 0:
        with pytest.raises(LimitExceeded):
            parse(data, policy=Policy(strict=True, limits=Limits(max_message_line=limit)))


_MEMORY_CHILD = r"""
import hashlib, sys
from rfcmail.message import Parser, parse

def peak() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise SystemExit("no VmHWM")

mode, path = sys.argv[1], sys.argv[2]
baseline = peak()
with open(path, "rb") as file:
    if mode == "file":
        message = parse(file)
    else:
        parser = Parser()
        while chunk := file.read(65536):
            parser.feed(chunk)
        message = parser.close()
    digest = hashlib.sha256()
    with message.attachments()[0].open() as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
print(peak() - baseline, digest.hexdigest())
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS is read from /proc (Linux)")
@pytest.mark.parametrize("mode", ["file", "push"])
def test_large_message_memory_stays_bounded(mode: str, tmp_path: Path) -> None:
    # SECURITY.md A4.11: a 32 MB message, parsed from a file or pushed through
    # the spooling parser, costs a small constant amount of memory.
    import base64
    import hashlib
    import subprocess
    import sys

    payload = random.Random(11).randbytes(24 * 1024 * 1024)
    path = tmp_path / "large.eml"
    with path.open("wb") as out:
        out.write(b"Content-Type: multipart/mixed; boundary=L\r\n\r\n--L\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Disposition: attachment; filename=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n")
        for offset in range(0, len(payload), 57 * 4096):
            out.write(base64.encodebytes(payload[offset : offset + 57 * 4096]).replace(b"\n", b"\r\n"))
        out.write(b"--L--\r\n")
    expected = hashlib.sha256(payload).hexdigest()
    del payload
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, mode, str(path)], capture_output=True, text=True, timeout=120, check=True
    )
    growth, digest = result.stdout.split()
    print(f"peak RSS growth {int(growth) / 1e6:.1f} MB")
    assert digest == expected
    assert int(growth) < 16 * 1024 * 1024, f"peak RSS grew by {int(growth) / 1e6:.1f} MB for a {path.stat().st_size / 1e6:.0f} MB message"


def test_from_line_is_only_special_at_the_very_start() -> None:
    data = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nFrom nobody\r\n\r\nbody\r\n--b--\r\n"
    for message in (parse(data), feed_in_chunks(data, [3]), feed_in_chunks(data, [50])):
        child = message.parts[0]
        assert [type(d) for d in child.defects] == [MissingHeaderBodySeparator]
        assert child.raw_body == b"From nobody\r\n\r\nbody"


@pytest.mark.parametrize(
    ("value", "content_type", "boundary"),
    [
        (b"text/plain", "text/plain", None),
        (b"TEXT/HTML; charset=utf-8", "text/html", None),
        (b"text/plain garbage", "text/plain", None),
        (b"multipart/mixed (a comment); boundary=\"a \\\"b\"", "multipart/mixed", "a \"b"),
        (b"(lead) multipart/alternative; boundary=xyz", "multipart/alternative", "xyz"),
        (b"multipart/mixed;\r\n\tBOUNDARY = zz ; charset=x", "multipart/mixed", "zz"),
        (b"text", "text/plain", None),
        (b"", "text/plain", None),
    ],
)
def test_content_type_forms(value: bytes, content_type: str, boundary: str | None) -> None:
    message = parse(b"Content-Type: " + value + b"\r\n\r\n")
    assert message.content_type == content_type
    assert message.boundary == boundary


def test_boundary_in_rfc2231_form() -> None:
    data = b"Content-Type: multipart/mixed;\r\n boundary*=us-ascii'en'abc%20def\r\n\r\n--abc def\r\n\r\nx\r\n--abc def--\r\n"
    message = parse(data)
    assert message.boundary == "abc def"
    assert [p.raw_body for p in message.parts] == [b"x"]


def test_delimiter_that_looks_like_a_header_field_ends_the_header() -> None:
    # A boundary with a colon makes "--a:b" match the field syntax; it still ends the part.
    data = b'Content-Type: multipart/mixed; boundary="a:b"\r\n\r\n--a:b\r\nX-One: 1\r\n--a:b\r\n\r\ntwo\r\n--a:b--\r\n'
    for message in (parse(data), feed_in_chunks(data, [1])):
        first, second = message.parts
        assert first.keys() == ["X-One"] and first.size == 0 and first.defects == []
        assert second.raw_body == b"two"


def test_part_limit_counts_encapsulated_messages() -> None:
    data = b"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nSubject: deep\r\n\r\nbody"
    message = parse(data, policy=Policy(limits=Limits(max_parts=2)))
    assert [p.content_type for p in message.walk()] == ["message/rfc822", "message/rfc822"]
    assert [d.limit_name for d in message.defects if isinstance(d, LimitDefect)] == ["max_parts"]
    assert message.parts[0].raw_body == b"Subject: deep\r\n\r\nbody"


def test_spooling_to_the_default_temporary_file() -> None:
    data = (DATA / "sample.eml").read_bytes()
    parser = Parser(policy=Policy(spool_threshold=0))
    parser.feed(memoryview(data))
    message = parser.close()
    assert parser.spooled
    with message.attachments()[0].open() as stream:
        assert stream.read().startswith(b"%PDF-1.4")
    assert bytes(message) == data


def test_structural_defects_say_where() -> None:
    data = BOUNDARY_TABLE[2][1]
    message = parse(data)
    truncated, missing_end = message.defects
    assert truncated.offset == missing_end.offset == len(data)
    no_start = parse(b"Content-Type: multipart/mixed; boundary=B\r\n\r\ntext")
    assert no_start.defects[0].offset == no_start.offsets[1]
    empty = parse(b"Content-Type: multipart/mixed; boundary=B\r\n\r\npre\r\n--B--\r\n")
    assert [(type(d), d.offset) for d in empty.defects] == [(MultipartWithoutParts, empty.offsets[1] + len(b"pre"))]


@pytest.mark.parametrize("delta", [-1, 0, 1])
def test_spool_threshold(delta: int) -> None:
    data = b"Subject: s\r\n\r\n" + b"x" * 100
    parser = Parser(policy=Policy(spool_threshold=len(data) - delta))
    parser.feed(data[:50])
    parser.feed(data[50:])
    message = parser.close()
    assert parser.spooled == (delta > 0)
    assert bytes(message) == data and message.raw_body == b"x" * 100
