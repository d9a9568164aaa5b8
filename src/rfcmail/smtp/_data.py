"""DATA content: dot-stuffing for the sender, end-of-data detection and unstuffing for the receiver.

RFC 5321 section 4.5.2 (transparency): the sender doubles a period at the
start of a line; the receiver deletes the first character of a line that
starts with a period and has other characters. Section 4.1.1.4: the content
ends only at CRLF "." CRLF, and the first CRLF of it ends the last line of
the message. Section 2.3.8 and RFC 5322 section 2.3: CR and LF occur only
together; a bare CR or LF is what SMTP smuggling rides on (SECURITY A1.1,
A1.2), so the receiver finds and reports every one of them, and the sender
never writes one (A1.3).

Both directions work on whole received or given chunks with ``bytes.find``,
``bytes.count`` and ``bytes.replace``; no Python code runs per line. The
receiver keeps back at most four bytes at a chunk's end: whatever could be
the start of ``CRLF.CRLF`` or of a stuffed ``CRLF.`` (every such sequence
starts with CR, so the cut is made before the first CR among the last four
bytes; any sequence starting earlier is complete in the chunk).
"""

from __future__ import annotations

import re

__all__ = ["DataReceiver", "DotStuffer", "Fault", "has_bare_line_ending"]

_TERMINATOR = b"\r\n.\r\n"
# The regex engine's literal search is about twice as fast as bytes.find
# for this three-byte needle (CPython 3.11), and this search runs over
# every received byte.
_DOT_LINE_RE = re.compile(rb"\r\n\.")
_BARE_CR_RE = re.compile(rb"\r(?!\n)")
_BARE_LF_RE = re.compile(rb"(?<!\r)\n")
_ANY_LINE_END_RE = re.compile(rb"\r\n|\r|\n")


_CR_NOT_BEFORE_LF_RE = re.compile(rb"\r[^\n]")
# The receiver's first pass over a chunk: the first LF that is bare (no CR
# before it) or that starts a line with a period (group 1). The engine's
# single-character literal scan stops only at LFs, and a chunk that has
# neither needs no other pass for LFs or periods.
_LF_SCAN_RE = re.compile(rb"\n(?:(?<!\r\n)|(\.))")


def has_bare_line_ending(data: bytes) -> bool:
    """Whether ``data`` holds a CR not followed by LF or an LF not preceded by CR.

    With as many CRs as LFs, there is a bare one exactly when some CR is not
    followed by an LF. That is checked with ``count(b"\r\n")`` when lines
    are short, and with a regular-expression search (a C loop that stops at
    each CR) when they are long enough for it to be the faster of the two.
    """
    crs = data.count(b"\r")
    if crs != data.count(b"\n"):
        return True
    if not crs:
        return False
    if data[-1:] == b"\r":
        return True
    if len(data) > 24 * crs:
        return _CR_NOT_BEFORE_LF_RE.search(data) is not None
    return data.count(b"\r\n") != crs


class Fault:
    """Why received content is refused: a standard reply name and a reason."""

    __slots__ = ("reply_name", "reason")

    def __init__(self, reply_name: str, reason: str) -> None:
        self.reply_name = reply_name
        self.reason = reason


class DataReceiver:
    """Frames, unstuffs and checks DATA content as it arrives (the server side).

    Call :meth:`feed` with received bytes; it says what content to pass on,
    whether the terminator was reached and what came after it. Faults (bare line endings under ``"reject"``, over-long lines,
    too much content) are recorded in :attr:`fault`; content after a fault is
    counted and dropped, never buffered.

    Args:
        normalize_bare_cr: turn a bare CR into CRLF instead of faulting.
        normalize_bare_lf: turn a bare LF into CRLF instead of faulting.
        max_line: longest line on the wire, CRLF included.
        max_size: most content octets.
        initial_size: content octets already counted for this message.
    """

    __slots__ = (
        "normalize_bare_cr", "normalize_bare_lf", "max_line", "max_size",
        "size", "fault", "_at_line_start", "_line_len", "_held",
    )

    def __init__(
        self,
        *,
        normalize_bare_cr: bool,
        normalize_bare_lf: bool,
        max_line: int,
        max_size: int,
        initial_size: int = 0,
    ) -> None:
        self.normalize_bare_cr = normalize_bare_cr
        self.normalize_bare_lf = normalize_bare_lf
        self.max_line = max_line
        self.max_size = max_size
        self.size = initial_size
        self.fault: Fault | None = None
        self._at_line_start = True
        self._line_len = 0
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool, bytes]:
        """Process received bytes; the receiver takes all of them.

        Returns:
            ``(content, finished, rest)``: the content to pass on
            (unstuffed, maybe empty), whether the end of data was reached,
            and, when it was, the bytes received after the terminator (the
            next commands). Up to four bytes that may start a terminator are
            kept inside until more data comes.
        """
        held = self._held
        if held:
            data = held + data
            self._held = b""
        start = 0
        if self._at_line_start and data[:1] == b".":
            if data[:3] == b".\r\n":
                return b"", True, data[3:]
            if len(data) < 3 and b".\r\n".startswith(data):
                self._held = data
                return b"", False, b""
            # A line starting with a period and more: the period goes.
            start = 1
            self._at_line_start = False
            self._line_len += 1
        # One pass finds the first LF that is bare or starts a dot line. When
        # it finds nothing, or the terminator itself, only bare CRs remain to
        # be looked for (_process); anything else takes the general path.
        scan = _LF_SCAN_RE.search(data, start)
        if scan is None:
            cut = self._cut(data, start)
            raw = data[start:cut] if start or cut < len(data) else data
            return self._process(raw, False, True), False, b""
        if scan.group(1) is not None and data.startswith(_TERMINATOR, scan.start() - 1):
            end = scan.start() - 1
            return self._process(data[start : end + 2], False, True), True, data[end + 5 :]
        found = _DOT_LINE_RE.search(data, start)
        dot = -1 if found is None else found.start()
        end = -1 if dot < 0 else data.find(_TERMINATOR, dot)
        if end >= 0:
            raw = data[start : end + 2]
            return self._process(raw, dot < end), True, data[end + 5 :]
        cut = self._cut(data, start)
        raw = data[start:cut] if start or cut < len(data) else data
        return self._process(raw, 0 <= dot < cut), False, b""

    def _cut(self, data: bytes, start: int) -> int:
        """Where the content of a chunk without the terminator ends; what follows is held.

        Only a part of ``CRLF.CRLF`` that cannot be decided yet is held: a
        final CR (the LF may follow), or a period, or a period and CR, that
        start a line. A chunk that ends with a whole CRLF holds nothing: a
        period at the start of the next chunk is then handled as the start
        of a line.
        """
        length = len(data)
        if data.endswith(b"\r"):
            if length - 4 >= start and data.endswith(b"\r\n.\r"):
                cut = length - 2
            else:
                cut = length - 1
        elif length - 3 >= start and data.endswith(b"\r\n."):
            cut = length - 1
        else:
            return length
        self._held = data[cut:]
        return cut

    def _process(self, raw: bytes, stuffed: bool, lf_clean: bool = False) -> bytes:
        if not raw:
            return b""
        self._at_line_start = raw.endswith(b"\r\n")
        if self.fault is not None:
            self.size += len(raw)
            return b""
        self._check_lines(raw)
        if stuffed:
            raw = raw.replace(b"\r\n.", b"\r\n")
        if lf_clean:
            # No bare LF: a bare CR is one followed by something else, or last.
            if raw[-1:] == b"\r" or _CR_NOT_BEFORE_LF_RE.search(raw) is not None:
                raw = self._bare_line_endings(raw)
        elif has_bare_line_ending(raw):
            raw = self._bare_line_endings(raw)
        self.size += len(raw)
        if self.fault is None and self.size > self.max_size:
            self.fault = Fault("message_too_big", f"message exceeds max_message_size={self.max_size}")
        return b"" if self.fault is not None else raw

    def _bare_line_endings(self, raw: bytes) -> bytes:
        bare_cr = _BARE_CR_RE.search(raw) is not None
        bare_lf = _BARE_LF_RE.search(raw) is not None
        if (bare_cr and not self.normalize_bare_cr) or (bare_lf and not self.normalize_bare_lf):
            which = "bare CR" if bare_cr and not self.normalize_bare_cr else "bare LF"
            self.fault = Fault("bare_line_ending", f"message content contains a {which}")
            return b""
        return _ANY_LINE_END_RE.sub(b"\r\n", raw)

    def _check_lines(self, raw: bytes) -> None:
        limit = self.max_line
        first = raw.find(b"\n")
        if first < 0:
            self._line_len += len(raw)
            if self._line_len + 1 > limit:
                self.fault = Fault("text_line_too_long", f"a message line exceeds max_text_line={limit}")
            return
        if self._line_len + first + 1 > limit:
            self.fault = Fault("text_line_too_long", f"a message line exceeds max_text_line={limit}")
            return
        pos = first + 1
        length = len(raw)
        # Jump from the last LF of each window of `limit` bytes: a window
        # without any LF holds a line longer than the limit.
        while length - pos >= limit:
            found = raw.rfind(b"\n", pos, pos + limit)
            if found < 0:
                self.fault = Fault("text_line_too_long", f"a message line exceeds max_text_line={limit}")
                return
            pos = found + 1
        # Fewer than `limit` bytes are left: every line in them is short enough.
        last = raw.rfind(b"\n", pos)
        if last >= 0:
            pos = last + 1
        self._line_len = length - pos


class DotStuffer:
    """Turns message bytes into DATA content (the client side, RFC 5321 section 4.5.2).

    Every CR, LF or CRLF becomes CRLF (a bare CR or LF is never written,
    SECURITY A1.3), a period at the start of a line is doubled, and
    :meth:`finish` ends the last line if needed and adds ``.CRLF``. Chunk
    boundaries may fall anywhere, even between the CR and LF of a pair.
    """

    __slots__ = ("_at_line_start", "_held_cr")

    def __init__(self) -> None:
        self._at_line_start = True
        self._held_cr = False

    def stuff(self, data: bytes) -> bytes:
        """Return the wire form of the next piece of the message."""
        if self._held_cr:
            data = b"\r" + data
            self._held_cr = False
        if not data:
            return b""
        if data.endswith(b"\r"):
            # It may be the first half of a CRLF that the next piece ends.
            data = data[:-1]
            self._held_cr = True
            if not data:
                return b""
        if has_bare_line_ending(data):
            data = _ANY_LINE_END_RE.sub(b"\r\n", data)
        if _DOT_LINE_RE.search(data) is not None:
            data = data.replace(b"\r\n.", b"\r\n..")
        if self._at_line_start and data[:1] == b".":
            data = b"." + data
        self._at_line_start = data.endswith(b"\n") and not self._held_cr
        if self._held_cr:
            # The held CR ends a line either way (CRLF or bare CR -> CRLF).
            self._at_line_start = False
        return data

    def finish(self) -> bytes:
        """Return what ends the content: the last line's CRLF if missing, then ``.CRLF``."""
        if self._held_cr:
            self._held_cr = False
            return b"\r\n.\r\n"
        if self._at_line_start:
            return b".\r\n"
        return b"\r\n.\r\n"
