"""A receive buffer for line-oriented mail protocols.

Bytes from the peer are appended as they arrive; protocol readers take whole
lines, exact counts or whatever is there. Extraction is amortised O(n) in the
bytes received, however the input is chunked: consumed bytes are dropped by
moving a start offset and compacting only when most of the buffer is dead,
and a search for the end of a line resumes where the previous one stopped.

Lines end at LF. A line is returned with its terminator so that a protocol can
tell CRLF (RFC 5321 section 2.3.8, RFC 5322 section 2.3: the only line
ending allowed on the wire) from a bare LF, and can look for a bare CR inside;
:func:`split_line` and :func:`find_bare_cr_or_lf` do that. What to do with a
bare CR or LF (reject, accept, normalise) is each protocol's choice.
"""

from __future__ import annotations

import enum

from .errors import LimitExceeded

__all__ = ["LineEnding", "ReceiveBuffer", "find_bare_cr_or_lf", "split_line"]

# Compact once this many dead bytes sit at the front and they are more than
# half of the buffer: each byte is then moved O(1) times on average.
_COMPACT_THRESHOLD = 64 * 1024


class LineEnding(enum.Enum):
    """How a line returned by the buffer ended."""

    CRLF = "crlf"
    """The canonical ending."""
    LF = "lf"
    """A bare LF, not preceded by CR."""
    NONE = "none"
    """No ending: a fragment of a longer line, or trailing data."""


class ReceiveBuffer:
    """Bytes received and not yet consumed.

    Every extraction method either takes bytes from the front or takes nothing.
    Methods that look for a line end take a ``max_length`` and raise
    :class:`~rfcmail.errors.LimitExceeded` as soon as it is certain that the
    line will be longer: the buffer never waits for an unbounded line.
    """

    __slots__ = ("_data", "_start", "_search_from", "_whole")

    def __init__(self, initial: bytes = b"") -> None:
        self._data = bytearray(initial)
        self._start = 0
        # Absolute offset in _data up to which no LF exists (searches resume here).
        self._search_from = 0
        # A bytes object received into an empty buffer is kept as it is, not
        # copied, until something other than extract_all needs the bytearray:
        # a stream (DATA content) then passes through without copies.
        self._whole: bytes | None = None

    def _materialize(self) -> None:
        whole = self._whole
        if whole is not None:
            self._whole = None
            self._data = bytearray(whole)
            self._start = 0
            self._search_from = 0

    # -- container behaviour ------------------------------------------------

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Add received bytes at the end."""
        self += data

    def __iadd__(self, data: bytes | bytearray | memoryview) -> ReceiveBuffer:
        if type(data) is bytes and self._whole is None and len(self._data) == self._start:
            if data:
                self._whole = data
            return self
        self._materialize()
        self._data += data
        return self

    def __len__(self) -> int:
        whole = self._whole
        return len(self._data) - self._start if whole is None else len(whole)

    def __bool__(self) -> bool:
        return self._whole is not None or len(self._data) > self._start

    def __bytes__(self) -> bytes:
        if self._whole is not None:
            return self._whole
        return bytes(self._data[self._start :])

    def __repr__(self) -> str:
        return f"<ReceiveBuffer {len(self)} bytes>"

    def peek(self, count: int | None = None) -> bytes:
        """Return up to ``count`` unread bytes (all of them by default) without consuming them."""
        self._materialize()
        end = len(self._data) if count is None else min(len(self._data), self._start + count)
        return bytes(self._data[self._start : end])

    def find(self, needle: bytes, start: int = 0, end: int | None = None) -> int:
        """Find ``needle`` among the unread bytes.

        Offsets are relative to the first unread byte; -1 when absent.
        """
        self._materialize()
        base = self._start
        stop = len(self._data) if end is None else min(len(self._data), base + end)
        found = self._data.find(needle, base + start, stop)
        return -1 if found < 0 else found - base

    # -- extraction -----------------------------------------------------------

    def _take(self, count: int) -> bytes:
        whole = self._whole
        if whole is not None:
            if count == len(whole):
                self._whole = None
                return whole
            self._materialize()
        start = self._start
        if start == 0 and count == len(self._data):
            # Everything: one copy, and the buffer starts again empty.
            chunk = bytes(self._data)
            self._data.clear()
            self._search_from = 0
            return chunk
        with memoryview(self._data) as view:
            chunk = bytes(view[start : start + count])
        self._start = start + count
        if self._search_from < self._start:
            self._search_from = self._start
        if self._start >= _COMPACT_THRESHOLD and self._start * 2 >= len(self._data):
            del self._data[: self._start]
            self._search_from -= self._start
            self._start = 0
        elif self._start == len(self._data):
            self._data.clear()
            self._start = 0
            self._search_from = 0
        return chunk

    def extract_all(self) -> bytes:
        """Consume and return every unread byte."""
        return self._take(len(self))

    def extract_at_most(self, count: int) -> bytes:
        """Consume and return up to ``count`` bytes (fewer when fewer are there)."""
        if count < 0:
            raise ValueError("count must not be negative")
        return self._take(min(count, len(self)))

    def maybe_extract_exactly(self, count: int) -> bytes | None:
        """Consume and return exactly ``count`` bytes, or ``None`` if fewer are there."""
        if count < 0:
            raise ValueError("count must not be negative")
        if len(self) < count:
            return None
        return self._take(count)

    def _find_lf(self, max_length: int) -> int:
        """Absolute index of the first LF within ``max_length`` unread bytes, or -1."""
        self._materialize()
        limit = min(len(self._data), self._start + max_length)
        begin = max(self._search_from, self._start)
        found = self._data.find(b"\n", begin, limit)
        if found < 0:
            self._search_from = max(begin, limit)
        return found

    def maybe_extract_line(
        self,
        max_length: int,
        *,
        limit_name: str = "max_line_length",
        reply_hint: str | None = None,
    ) -> bytes | None:
        """Consume and return the next line, terminator included.

        Args:
            max_length: the longest line allowed, terminator included.
            limit_name: the name the raised error gives the limit.
            reply_hint: the reply hint of the raised error.

        Returns:
            The line ending in LF (check :func:`split_line` for CRLF), or
            ``None`` when no complete line is buffered yet.

        Raises:
            LimitExceeded: the line is, or is certain to become, longer than
                ``max_length``. Nothing is consumed; the caller decides
                whether to discard (:meth:`discard_line`) or fail.
        """
        found = self._find_lf(max_length)
        if found >= 0:
            return self._take(found + 1 - self._start)
        if len(self) >= max_length:
            raise LimitExceeded(limit_name, max_length, len(self) + 1,
                                what="line length", reply_hint=reply_hint)
        return None

    def maybe_extract_line_fragment(self, max_length: int) -> tuple[bytes, bool] | None:
        """Consume the next line, or a bounded piece of a line that is too long.

        This serves streams that must pass over-long lines on (or count and
        skip them) without buffering them whole.

        Returns:
            ``(line, True)`` for a complete line of at most ``max_length``
            bytes, terminator included; ``(piece, False)`` for the first
            ``max_length`` bytes of a longer line (the rest follows in later
            calls); ``None`` when neither is available yet.
        """
        found = self._find_lf(max_length)
        if found >= 0:
            return self._take(found + 1 - self._start), True
        if len(self) >= max_length:
            return self._take(max_length), False
        return None

    def discard_line(self) -> bool:
        """Drop bytes up to and including the next LF, or all bytes if there is none.

        Returns:
            True when a line end was found and the rest of the buffer is
            positioned at the next line; False when every byte was dropped and
            the line goes on in data not yet received.
        """
        self._materialize()
        found = self._data.find(b"\n", max(self._search_from, self._start))
        if found < 0:
            self._take(len(self))
            return False
        self._take(found + 1 - self._start)
        return True


def split_line(line: bytes) -> tuple[bytes, LineEnding]:
    """Split a line from :class:`ReceiveBuffer` into its content and its ending."""
    if line.endswith(b"\r\n"):
        return line[:-2], LineEnding.CRLF
    if line.endswith(b"\n"):
        return line[:-1], LineEnding.LF
    return line, LineEnding.NONE


def find_bare_cr_or_lf(content: bytes) -> int:
    """Offset of the first CR or LF in a line's content (its ending removed), or -1.

    Inside line content any CR or LF is "bare": RFC 5321 section 2.3.8 and
    RFC 5322 section 2.3 allow them only together, as the line ending.
    """
    cr = content.find(b"\r")
    lf = content.find(b"\n")
    if cr < 0:
        return lf
    if lf < 0:
        return cr
    return min(cr, lf)
