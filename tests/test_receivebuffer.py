from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail._receivebuffer import (
    LineEnding,
    ReceiveBuffer,
    find_bare_cr_or_lf,
    split_line,
)
from rfcmail.errors import LimitExceeded

STREAM = b"EHLO a\r\nMAIL FROM:<x@y>\r\nbare\nlast\r\n"
LINES = [b"EHLO a\r\n", b"MAIL FROM:<x@y>\r\n", b"bare\n", b"last\r\n"]


def drain(buf: ReceiveBuffer, max_length: int = 1000) -> list[bytes]:
    out = []
    while (line := buf.maybe_extract_line(max_length)) is not None:
        out.append(line)
    return out


def test_fed_whole() -> None:
    buf = ReceiveBuffer()
    buf.append(STREAM)
    assert drain(buf) == LINES
    assert len(buf) == 0 and not buf


def test_fed_one_byte_at_a_time() -> None:
    buf = ReceiveBuffer()
    out: list[bytes] = []
    for i in range(len(STREAM)):
        buf += STREAM[i : i + 1]
        out.extend(drain(buf))
    assert out == LINES


def test_trailing_data_stays() -> None:
    buf = ReceiveBuffer(STREAM + b"partial")
    assert drain(buf) == LINES
    assert bytes(buf) == b"partial"
    assert buf.peek() == b"partial"
    assert buf.peek(3) == b"par"
    buf.append(b" line\r\n")
    assert drain(buf) == [b"partial line\r\n"]


def test_split_line_endings() -> None:
    assert split_line(b"abc\r\n") == (b"abc", LineEnding.CRLF)
    assert split_line(b"abc\n") == (b"abc", LineEnding.LF)
    assert split_line(b"abc") == (b"abc", LineEnding.NONE)
    assert split_line(b"a\r\r\n") == (b"a\r", LineEnding.CRLF)


@pytest.mark.parametrize(
    ("content", "offset"),
    [(b"plain", -1), (b"a\rb", 1), (b"ab\nc", 2), (b"\n\r", 0), (b"x\ry\n", 1), (b"", -1)],
)
def test_find_bare_cr_or_lf(content: bytes, offset: int) -> None:
    assert find_bare_cr_or_lf(content) == offset


# -- limits at the boundary: a line of N-1, N and N+1 octets, terminator included --

LIMIT = 16


@pytest.mark.parametrize("length", [LIMIT - 1, LIMIT])
def test_line_within_limit(length: int) -> None:
    line = b"x" * (length - 2) + b"\r\n"
    buf = ReceiveBuffer(line)
    assert buf.maybe_extract_line(LIMIT) == line


def test_complete_line_over_limit_raises_and_consumes_nothing() -> None:
    line = b"x" * (LIMIT - 1) + b"\r\n"  # LIMIT + 1 octets
    buf = ReceiveBuffer(line)
    with pytest.raises(LimitExceeded) as info:
        buf.maybe_extract_line(LIMIT, limit_name="max_command_line", reply_hint="500 5.5.2 too long")
    assert info.value.limit_name == "max_command_line"
    assert info.value.limit == LIMIT
    assert info.value.reply_hint == "500 5.5.2 too long"
    assert len(buf) == LIMIT + 1


def test_incomplete_line_waits_until_it_cannot_fit() -> None:
    buf = ReceiveBuffer()
    buf.append(b"x" * (LIMIT - 1))
    assert buf.maybe_extract_line(LIMIT) is None  # an LF may still come
    buf.append(b"y")
    with pytest.raises(LimitExceeded):
        buf.maybe_extract_line(LIMIT)  # LIMIT bytes and no LF: the line will be longer


def test_incomplete_line_bound_holds_byte_by_byte() -> None:
    buf = ReceiveBuffer()
    for i in range(LIMIT - 1):
        buf.append(b"z")
        assert buf.maybe_extract_line(LIMIT) is None, i
    buf.append(b"z")
    with pytest.raises(LimitExceeded):
        buf.maybe_extract_line(LIMIT)


def test_discard_line_after_limit() -> None:
    buf = ReceiveBuffer(b"x" * 100 + b"\r\nNOOP\r\n")
    with pytest.raises(LimitExceeded):
        buf.maybe_extract_line(LIMIT)
    assert buf.discard_line() is True
    assert buf.maybe_extract_line(LIMIT) == b"NOOP\r\n"


def test_discard_line_without_end_drops_everything() -> None:
    buf = ReceiveBuffer(b"x" * 100)
    assert buf.discard_line() is False
    assert len(buf) == 0


def test_fragments_of_long_lines() -> None:
    buf = ReceiveBuffer(b"abcdefghij\r\nok\r\n")
    assert buf.maybe_extract_line_fragment(4) == (b"abcd", False)
    assert buf.maybe_extract_line_fragment(4) == (b"efgh", False)
    assert buf.maybe_extract_line_fragment(4) == (b"ij\r\n", True)
    assert buf.maybe_extract_line_fragment(4) == (b"ok\r\n", True)
    assert buf.maybe_extract_line_fragment(4) is None
    buf.append(b"ab")
    assert buf.maybe_extract_line_fragment(4) is None


def test_exact_and_at_most_reads() -> None:
    buf = ReceiveBuffer(b"0123456789")
    assert buf.maybe_extract_exactly(11) is None
    assert buf.maybe_extract_exactly(3) == b"012"
    assert buf.extract_at_most(2) == b"34"
    assert buf.extract_at_most(100) == b"56789"
    assert buf.extract_at_most(5) == b""
    assert buf.maybe_extract_exactly(0) == b""
    with pytest.raises(ValueError):
        buf.extract_at_most(-1)
    with pytest.raises(ValueError):
        buf.maybe_extract_exactly(-1)


def test_find_is_relative_to_unread() -> None:
    buf = ReceiveBuffer(b"abc\r\n.\r\nrest")
    buf.maybe_extract_line(100)
    assert buf.find(b".\r\n") == 0
    assert buf.find(b"rest") == 3
    assert buf.find(b"rest", 0, 4) == -1
    assert buf.find(b"zzz") == -1
    assert buf.extract_all() == b".\r\nrest"


def test_many_small_lines_stay_linear() -> None:
    # 200k lines fed in one piece: extraction must not copy the tail per line.
    data = b"a\r\n" * 200_000
    buf = ReceiveBuffer(data)
    count = 0
    while buf.maybe_extract_line(10) is not None:
        count += 1
    assert count == 200_000


def test_byte_by_byte_long_line_search_resumes() -> None:
    # A 64 KiB line fed one byte at a time would be quadratic if each search
    # restarted at the front; this completes quickly only if it resumes.
    buf = ReceiveBuffer()
    for _ in range(64 * 1024):
        buf.append(b"x")
        assert buf.maybe_extract_line(1 << 20) is None
    buf.append(b"\n")
    line = buf.maybe_extract_line(1 << 20)
    assert line is not None and len(line) == 64 * 1024 + 1


@given(st.lists(st.binary(max_size=40), max_size=40), st.integers(min_value=1, max_value=64))
def test_arbitrary_streams_reassemble(chunks: list[bytes], max_length: int) -> None:
    """Only LimitExceeded is raised, and lines plus the rest reassemble the input."""
    buf = ReceiveBuffer()
    out: list[bytes] = []
    for chunk in chunks:
        buf.append(chunk)
        while True:
            try:
                line = buf.maybe_extract_line(max_length)
            except LimitExceeded as exc:
                assert exc.limit == max_length
                fragment = buf.maybe_extract_line_fragment(max_length)
                assert fragment is not None and not fragment[1]
                out.append(fragment[0])
                continue
            if line is None:
                break
            assert line.endswith(b"\n") and len(line) <= max_length
            assert line.find(b"\n") == len(line) - 1
            out.append(line)
    out.append(buf.extract_all())
    assert b"".join(out) == b"".join(chunks)


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=300))
def test_fragments_reassemble(data: bytes, max_length: int) -> None:
    buf = ReceiveBuffer(data)
    out = []
    while (piece := buf.maybe_extract_line_fragment(max_length)) is not None:
        assert len(piece[0]) <= max_length
        out.append(piece[0])
    out.append(buf.extract_all())
    assert b"".join(out) == data
