"""The push parser: RFC 5322 header blocks and RFC 2046 multipart framing as an explicit state machine.

The parser has two states. In ``HEADERS`` it waits for the empty line that
ends a header block (RFC 5322 sections 2.1 and 2.2), bounded by
``max_header_size``, and splits the block into fields with one regular
expression per field, whatever the folding. In ``BODY`` it looks for the next
delimiter line of any open multipart (RFC 2046 section 5.1.1) with
``bytes.find`` over the whole buffer, never with a Python loop per body line:
a base64 attachment is skipped at memory-search speed. A stack of open parts
and a stack of open multiparts say where each delimiter belongs; a delimiter of
an outer multipart closes the inner ones (with a :class:`MissingEndBoundary`
defect), as in the stdlib and in most mail clients.

Nothing is copied per part: each part records its offsets in the source
(:mod:`._source`), so bodies are read and decoded only when asked. Input can
be pushed in chunks of any size (:class:`Parser`), given as bytes, or given
as a binary file (:func:`parse`); a seekable file is read in pieces and never
held in memory whole.

Malformed input never raises under a lenient policy: each problem becomes a
typed defect on the part where it was found, and limits (nesting depth,
number of parts, header count and size, header line length) truncate the
tree with a :class:`LimitDefect`. Under a strict policy the first defect
raises :class:`~rfcmail.errors.RemoteProtocolError` or
:class:`~rfcmail.errors.LimitExceeded`.
"""

from __future__ import annotations

import enum
import re
import tempfile
from functools import lru_cache
from collections.abc import Iterator
from typing import IO

from ..errors import LocalProtocolError
from ._defects import (
    BadHeaderLine,
    BareCRorLF,
    Defect,
    DuplicateSingletonHeader,
    EightBitInHeader,
    InvalidHeaderValue,
    LimitDefect,
    LineTooLong,
    MissingBoundary,
    MissingEndBoundary,
    MissingHeaderBodySeparator,
    MultipartWithoutParts,
    NulByte,
    StartBoundaryNotFound,
    TruncatedMessage,
)
from ._model import (
    _BARE_CR,
    _EIGHT_BIT,
    KIND_LEAF,
    KIND_MESSAGE,
    KIND_MULTIPART,
    HeaderField,
    Message,
    Part,
    _Context,
    record,
)
from ._policy import DEFAULT, Policy
from ._source import BytesSource, FileSource, Source, SpoolFactory, SpoolingStore

__all__ = ["Parser", "parse"]

# One header field: name, optional WSP (obsolete, RFC 5322 section 4.5), colon,
# the rest of the line and every continuation line (RFC 5322 section 2.2.3).
_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*\n?")
_BLANK_LINE = re.compile(rb"\n\r?\n")
# Anchored at line starts: unanchored, the search would try every offset of a long line.
_LONG_LINE = re.compile(rb"^[^\r\n]{999}", re.MULTILINE)
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
# type "/" subtype at the start; what follows is left to the parameter parser
# (which records a defect for junk before the first ";", as the stdlib does).
_CONTENT_TYPE = re.compile(rb"[ \t\r\n]*(" + _TOKEN + rb")[ \t\r\n]*/[ \t\r\n]*(" + _TOKEN + rb")")
_BOUNDARY = re.compile(rb';[ \t\r\n]*boundary[ \t\r\n]*=[ \t\r\n]*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]+))', re.IGNORECASE)
_QUOTED_PAIR = re.compile(rb"\\(.)", re.DOTALL)
_FOLD = re.compile(rb"\r?\n(?=[ \t])")

# Fields that RFC 5322 section 3.6 allows at most once in a message header.
_SINGLETONS = frozenset(
    {"date", "from", "sender", "reply-to", "to", "cc", "bcc", "message-id", "in-reply-to", "references", "subject"}
)
# message/* types whose body is a message the parser descends into (RFC 2046
# section 5.2.1, RFC 6532 section 3.7); the others are opaque leaves.
_ENCAPSULATING = frozenset({"message/rfc822", "message/global", "message/news"})
# A line starting with "--" that has not ended this far past the longest open
# boundary cannot be a delimiter line still waiting for its end.
_DELIMITER_SLACK = 1024
# How much of a seekable file parse() reads at a time.
_FILE_CHUNK = 1024 * 1024


class _State(enum.Enum):
    HEADERS = "headers"
    BODY = "body"


class _Container:
    """An open multipart: its part, its boundary, and whether its delimiters still count."""

    __slots__ = ("part", "boundary", "active", "seen_delimiter", "truncated")

    def __init__(self, part: Part, boundary: bytes) -> None:
        self.part = part
        self.boundary = boundary
        self.active = True
        self.seen_delimiter = False
        self.truncated = False


# What may follow "--" boundary on a delimiter line: "--" for the close
# delimiter, then transport padding and the line end (RFC 2046 section 5.1.1).
_DELIMITER_TAIL = re.compile(rb"(--)?[ \t]*\r?(?:\n|\Z)")


@lru_cache(maxsize=8)
def _line_over(limit: int) -> re.Pattern[bytes]:
    # A line whose length with its LF exceeds ``limit``.
    return re.compile(rb"^[^\n]{%d}" % limit, re.MULTILINE)


def _unfold(value: bytes) -> bytes:
    return _FOLD.sub(b"", value) if b"\n" in value else value


def _content_type(field: HeaderField) -> tuple[str | None, bytes | None]:
    """The media type (lower case) and the raw boundary of a Content-Type field.

    This is the framing fast path; the full parameter parser (RFC 2231
    continuations and charsets) is :func:`.headers.parse_content_type`, used
    when the boundary is written in RFC 2231 form.
    """
    value = _unfold(field.raw[field._colon + 1 :])
    match = _CONTENT_TYPE.match(value)
    if match is None:
        # Comments inside the type (RFC 2045 section 5.1 allows CFWS) need the full parser.
        return _content_type_slow(field) if b"(" in value else (None, None)
    ctype = (match.group(1) + b"/" + match.group(2)).decode("ascii").lower()
    if not ctype.startswith("multipart/"):
        return ctype, None
    found = _BOUNDARY.search(value, match.end(2))
    if found is not None:
        quoted = found.group(1)
        boundary = _QUOTED_PAIR.sub(rb"\1", quoted) if quoted is not None else found.group(2)
        return ctype, boundary.rstrip(b" \t\r\n") or None
    if b"boundary*" in value.lower():
        return _content_type_slow(field)
    return ctype, None


def _content_type_slow(field: HeaderField) -> tuple[str | None, bytes | None]:
    from .headers import parse_content_type

    found: list[Defect] = []
    ctype, params = parse_content_type(field.unfolded(), defects=found)
    if any(isinstance(defect, InvalidHeaderValue) for defect in found):
        return None, None
    text = params.get("boundary") if ctype.startswith("multipart/") else None
    boundary = text.encode("utf-8", "surrogateescape").rstrip() if text else None
    return ctype, boundary or None


class _Scanner:
    """The state machine. Offsets are absolute in the source; ``buf[0]`` is at ``base``."""

    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx
        self.policy = ctx.policy
        self.limits = ctx.policy.limits
        self.buf: bytes | bytearray = b""
        self.base = 0
        self.final = False
        self.root = Message(ctx, None, 0, 0)
        self.state = _State.HEADERS
        self.open: list[Part] = [self.root]
        self.containers: list[_Container] = []
        self.pos = 0
        self.scan = 0
        self.floor_pending = False
        self.header_search = 0
        self.part_count = 1
        # The boundaries whose delimiter lines count now, innermost first.
        self.delimiters: tuple[bytes, ...] = ()
        self.longest_boundary = 0

    # -- input ---------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        keep = self.pos if self.state is _State.HEADERS or self.floor_pending else self.scan - 1
        drop = keep - self.base
        buf = self.buf
        if drop > 0:
            if isinstance(buf, bytearray):
                del buf[:drop]
            else:
                buf = bytearray(buf[drop:])
            self.base += drop
        if not isinstance(buf, bytearray):
            buf = bytearray(buf)
        buf += data
        self.buf = buf
        self.run()

    def feed_all(self, data: bytes) -> None:
        """Parse a complete input held in memory, without copying it."""
        self.buf = data
        self.base = 0
        self.final = True
        self.run()
        self.finish()

    def run(self) -> None:
        while True:
            if self.state is _State.HEADERS:
                if not self._headers():
                    return
            elif not self._body():
                return

    def finish(self) -> Message:
        self.final = True
        self.run()
        end = self.base + len(self.buf)
        if any(c.active and c.seen_delimiter for c in self.containers):
            self._defect(self.root, TruncatedMessage("the input ended inside a multipart", end))
        while self.open:
            part = self.open.pop()
            part._end = end
            if part._kind == KIND_MULTIPART:
                container = self.containers.pop()
                self._close_container(container)
        self.buf = b""
        return self.root

    # -- defects -------------------------------------------------------------------

    def _defect(self, part: Part, defect: Defect) -> None:
        record(part._defects, defect, self.policy)

    def _limit(self, part: Part, limit_name: str, detail: str) -> None:
        limit = getattr(self.limits, limit_name)
        self._defect(part, LimitDefect(detail, limit_name=limit_name, limit=limit))

    # -- HEADERS -------------------------------------------------------------------

    def _headers(self) -> bool:
        """Parse the header block at ``pos`` if it is complete; return whether it was."""
        buf = self.buf
        base = self.base
        start = self.pos
        rel = start - base
        size = len(buf)
        window = self.limits.max_header_size + 3
        if buf.startswith(b"\n", rel):
            blank_at, blank_len = rel, 1
        elif buf.startswith(b"\r\n", rel):
            blank_at, blank_len = rel, 2
        elif not self.final and size - rel < 2:
            return False
        else:
            search_from = max(rel, self.header_search - base - 2)
            match = _BLANK_LINE.search(buf, search_from, min(size, rel + window))
            if match is not None:
                blank_at = match.start() + 1
                blank_len = match.end() - blank_at
            elif not self.final and size - rel < window:
                self.header_search = base + size
                return False
            else:
                blank_at, blank_len = min(size, rel + window), 0
        self._parse_block(self.open[-1], rel, blank_at, blank_len)
        return True

    def _parse_block(self, part: Part, rel: int, stop: int, blank_len: int) -> None:
        buf = self.buf
        base = self.base
        limits = self.limits
        entries = part._entries
        match_field = _FIELD.match
        size_limit = rel + limits.max_header_size
        field_limit = limits.max_header_field_size
        count_limit = limits.max_header_count
        check_delimiters = bool(self.delimiters)
        count = 0
        position = rel
        body_rel = -1
        while position < stop:
            match = match_field(buf, position, stop)
            if match is None:
                first = buf[position]
                if first in (0x20, 0x09) or (base + position == 0 and buf.startswith(b"From ", position)):
                    line_end = buf.find(b"\n", position, stop)
                    line_end = stop if line_end < 0 else line_end + 1
                    if first != 0x46:  # not the mbox "From " line, which is kept without complaint
                        self._defect(part, BadHeaderLine("continuation line without a field", base + position))
                    entries.append(HeaderField("", bytes(buf[position:line_end]), 0))
                    position = line_end
                    continue
                if not (check_delimiters and self._is_delimiter(position)):
                    self._defect(
                        part,
                        MissingHeaderBodySeparator("a line that is not a header field starts the body", base + position),
                    )
                body_rel = position
                break
            end = match.end()
            if end > size_limit:
                self._limit(part, "max_header_size", "header block too large; the rest is treated as body")
                body_rel = position
                break
            if check_delimiters and buf.startswith(b"--", position) and self._is_delimiter(position):
                body_rel = position
                break
            raw = bytes(buf[position:end])
            if end - position > field_limit:
                self._limit(part, "max_header_field_size", f"field of {end - position} octets")
            count += 1
            if count > count_limit:
                if count == count_limit + 1:
                    self._limit(part, "max_header_count", "header fields past the limit are kept but not read")
                entries.append(HeaderField("", raw, 0))
            else:
                name = match.group(1)
                entries.append(HeaderField(name.decode("ascii"), raw, raw.index(b":", len(name)), part))
            position = end
        if body_rel < 0:
            part._fields_end = base + stop
            body_rel = stop + blank_len
        else:
            part._fields_end = base + body_rel
        block_end = part._fields_end - base
        line_limit = limits.max_message_line
        if block_end - rel >= line_limit and _line_over(line_limit).search(buf, rel, block_end):
            self._limit(part, "max_message_line", "a header line is longer than the line limit")
        if block_end - rel > 998 and _LONG_LINE.search(buf, rel, block_end):
            self._defect(part, LineTooLong("a header line is longer than 998 octets"))
        if _EIGHT_BIT.search(buf, rel, block_end):
            try:
                bytes(buf[rel:block_end]).decode("utf-8")
            except UnicodeDecodeError as exc:
                self._defect(part, EightBitInHeader("8-bit header bytes that are not UTF-8", base + rel + exc.start))
        if buf.find(b"\0", rel, block_end) >= 0:
            self._defect(part, NulByte("NUL in the header"))
        if _BARE_CR.search(buf, rel, block_end):
            self._defect(part, BareCRorLF("bare CR in the header"))
        if type(part) is Message:
            seen: set[str] = set()
            for entry in entries:
                lname = entry._lname
                if lname in _SINGLETONS:
                    if lname in seen:
                        self._defect(part, DuplicateSingletonHeader(f"more than one {entry.name} field"))
                    seen.add(lname)
        part._body_start = base + body_rel
        self._classify(part)

    def _is_delimiter(self, rel: int) -> bool:
        return self._match_delimiter(rel) is not None

    def _match_delimiter(self, rel: int) -> tuple[bytes, re.Match[bytes]] | None:
        """The boundary and the line tail if a delimiter line starts at ``rel``."""
        buf = self.buf
        if not buf.startswith(b"--", rel):
            return None
        for boundary in self.delimiters:
            if buf.startswith(boundary, rel + 2):
                tail = _DELIMITER_TAIL.match(buf, rel + 2 + len(boundary))
                if tail is not None:
                    return boundary, tail
        return None

    def _classify(self, part: Part) -> None:
        """Decide from Content-Type what the body is, and enter the next state."""
        ctype: str | None = None
        boundary: bytes | None = None
        for entry in part._entries:
            if entry._lname == "content-type":
                ctype, boundary = _content_type(entry)
                if ctype is None:
                    self._defect(part, InvalidHeaderValue(f"invalid Content-Type, {part._default_ctype} assumed"))
                break
        if ctype is None:
            ctype = part._default_ctype
        part._ctype = ctype
        body_start = part._body_start
        self.state = _State.BODY
        self.pos = self.scan = body_start
        self.floor_pending = True
        if ctype.startswith("multipart/"):
            if boundary is None:
                self._defect(part, MissingBoundary(f"{ctype} without a boundary parameter", part._start))
            elif part.depth >= self.limits.max_mime_depth:
                self._limit(part, "max_mime_depth", f"{ctype} nested too deep; its body is not parsed")
            else:
                part._kind = KIND_MULTIPART
                part._boundary = boundary.decode("utf-8", "replace")
                self.containers.append(_Container(part, boundary))
                self._update_delimiters()
        elif ctype in _ENCAPSULATING:
            if part.content_transfer_encoding not in ("7bit", "8bit", "binary"):
                return
            if part.depth >= self.limits.max_mime_depth:
                self._limit(part, "max_mime_depth", f"{ctype} nested too deep; its body is not parsed")
                return
            if not self._count_part(part):
                return
            part._kind = KIND_MESSAGE
            child = Message(self.ctx, part, body_start, part.depth + 1)
            part._parts.append(child)
            self.open.append(child)
            self.state = _State.HEADERS
            self.header_search = body_start
            self.floor_pending = False

    def _count_part(self, part: Part) -> bool:
        if self.part_count >= self.limits.max_parts:
            self._limit(self.root, "max_parts", "too many MIME parts; the rest is left unparsed")
            for container in self.containers:
                container.active = False
                container.truncated = True
            self._update_delimiters()
            return False
        self.part_count += 1
        return True

    def _update_delimiters(self) -> None:
        active = tuple(c.boundary for c in reversed(self.containers) if c.active)
        self.delimiters = active
        self.longest_boundary = max((len(b) for b in active), default=0)

    # -- BODY -----------------------------------------------------------------------

    def _body(self) -> bool:
        """Find the next delimiter line; return whether one was handled."""
        buf = self.buf
        base = self.base
        size = len(buf)
        if not self.delimiters:
            self.floor_pending = False
            self.scan = base + size
            return False
        floor = self.pos - base
        if self.floor_pending:
            if size - floor < 2 and not self.final:
                return False
            self.floor_pending = False
            if buf.startswith(b"--", floor):
                state = self._try_delimiter(floor, floor)
                if state is not None:
                    return state
        search = max(floor, self.scan - base)
        while True:
            found = buf.find(b"\n--", search)
            if found < 0:
                self.scan = base + max(search, size - 2)
                return False
            state = self._try_delimiter(found + 1, floor)
            if state is not None:
                return state
            search = found + 1

    def _try_delimiter(self, line: int, floor: int) -> bool | None:
        """Handle a delimiter at ``line`` (relative) if there is one.

        Returns True when one was handled, False when more input is needed to
        tell, None when the line is not a delimiter.
        """
        buf = self.buf
        match = self._match_delimiter(line)
        size = len(buf)
        if not self.final:
            if match is None:
                if buf.find(b"\n", line) < 0 and size - line <= self.longest_boundary + _DELIMITER_SLACK:
                    self.scan = self.base + line - 1
                    self.floor_pending = line == floor
                    return False
                return None
            if match[1].end() == size and not buf.endswith(b"\n"):
                self.scan = self.base + line - 1
                self.floor_pending = line == floor
                return False
        elif match is None:
            return None
        body_end = line
        if line > floor:
            body_end -= 1
            if body_end > floor and buf[body_end - 1] == 0x0D:
                body_end -= 1
        boundary, tail = match
        self._delimiter(self.base + body_end, boundary, tail.group(1) is not None, self.base + tail.end())
        return True

    def _delimiter(self, body_end: int, boundary: bytes, close: bool, next_line: int) -> None:
        index = len(self.containers) - 1
        while not (self.containers[index].active and self.containers[index].boundary == boundary):
            index -= 1
        container = self.containers[index]
        owner = container.part
        while self.open[-1] is not owner:
            part = self.open.pop()
            part._end = body_end
            if part._kind == KIND_MULTIPART:
                self._close_container(self.containers.pop())
        if not container.seen_delimiter:
            owner._preamble_end = body_end
            container.seen_delimiter = True
        self.pos = self.scan = next_line
        self.floor_pending = True
        if close:
            container.active = False
            owner._epilogue_start = next_line
            if not owner._parts:
                self._defect(owner, MultipartWithoutParts(f"{owner._ctype} closed before any body part", body_end))
            self._update_delimiters()
            return
        if not self._count_part(owner):
            return
        child_class = Message if owner._ctype == "multipart/digest" else Part
        child = child_class(self.ctx, owner, next_line, owner.depth + 1)
        if owner._ctype == "multipart/digest":
            child._default_ctype = "message/rfc822"
        owner._parts.append(child)
        self.open.append(child)
        self.state = _State.HEADERS
        self.header_search = next_line
        self.floor_pending = False

    def _close_container(self, container: _Container) -> None:
        part = container.part
        if container.truncated:
            return
        if not container.seen_delimiter:
            self._defect(
                part, StartBoundaryNotFound(f"no delimiter line for boundary {part._boundary!r}", part._body_start)
            )
            part._kind = KIND_LEAF
        elif container.active:
            self._defect(part, MissingEndBoundary(f"no close delimiter for boundary {part._boundary!r}", part._end))
        container.active = False


class Parser:
    """The push parser: ``feed()`` bytes as they arrive, then ``close()`` for the :class:`Message`.

    Structure is found as data arrives (header blocks, delimiter lines), so
    ``close()`` has little left to do. The parser keeps the input for the
    parts to read later: in memory up to ``policy.spool_threshold`` bytes,
    then in a temporary file from ``spool_factory``.

    Args:
        policy: how to parse; limits and strictness come from it.
        spool_factory: returns an empty read-write binary file for spooling
            (``tempfile.TemporaryFile`` by default). The message reads from
            it until it is garbage-collected.
    """

    def __init__(self, *, policy: Policy = DEFAULT, spool_factory: SpoolFactory | None = None) -> None:
        self._store = SpoolingStore(policy.spool_threshold, spool_factory or _temporary_file)
        self._deferred = _DeferredSource()
        self._scanner = _Scanner(_Context(self._deferred, policy))
        self._closed = False

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Add input. Raises LocalProtocolError after :meth:`close`."""
        if self._closed:
            raise LocalProtocolError("Parser.feed() after close()")
        chunk = bytes(data)
        if chunk:
            self._store.append(chunk)
            self._scanner.feed(chunk)

    def close(self) -> Message:
        """Finish parsing and return the message; a second call returns the same message."""
        if not self._closed:
            self._closed = True
            self._deferred.target = self._store.source()
            self._scanner.finish()
        return self._scanner.root

    @property
    def spooled(self) -> bool:
        """Whether the input went over the spool threshold and now lives in a temporary file."""
        return self._store.spooled


class _DeferredSource:
    """Stands for the parser's store until ``close()`` fixes where the bytes live."""

    __slots__ = ("target",)

    def __init__(self) -> None:
        self.target: Source = BytesSource(b"")

    def read(self, start: int, end: int) -> bytes:
        return self.target.read(start, end)

    def iter_range(self, start: int, end: int, chunk_size: int = _FILE_CHUNK) -> Iterator[bytes]:
        return self.target.iter_range(start, end, chunk_size)


def _temporary_file() -> IO[bytes]:
    return tempfile.TemporaryFile()


def parse(source: bytes | bytearray | memoryview | IO[bytes], *, policy: Policy = DEFAULT) -> Message:
    """Parse a message from bytes or from a binary file object.

    From bytes, parts refer to the bytes without copying them. From a
    seekable file, the file is read in pieces and parts keep offsets into it
    (counted from its position at the call), so bodies are read from the file
    when asked: keep it open while you use the message. A non-seekable file
    is read through :class:`Parser`, spooling past ``policy.spool_threshold``.

    Never raises on malformed input under a lenient policy (see the module
    docstring); under a strict one raises RemoteProtocolError or
    LimitExceeded.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = source if type(source) is bytes else bytes(source)
        scanner = _Scanner(_Context(BytesSource(data), policy))
        scanner.feed_all(data)
        return scanner.root
    seekable = False
    try:
        seekable = source.seekable()
    except (AttributeError, ValueError):
        seekable = False
    if not seekable:
        parser = Parser(policy=policy)
        while chunk := source.read(_FILE_CHUNK):
            parser.feed(chunk)
        return parser.close()
    base = source.tell()
    scanner = _Scanner(_Context(FileSource(source, base), policy))
    while chunk := source.read(_FILE_CHUNK):
        scanner.feed(chunk)
    return scanner.finish()
