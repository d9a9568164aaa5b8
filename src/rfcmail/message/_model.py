"""The parsed message model: header fields, MIME parts and the mail view.

Three layers, as DESIGN.md describes ("The message layer"):

1. framing: every :class:`Part` knows its byte offsets in the source and
   keeps its header fields as raw bytes (:class:`HeaderField`), so
   ``bytes(message)`` of an unmodified message is the input byte for byte
   (RFC 5322 section 2.1, RFC 2046 section 5.1.1: the CRLF before a delimiter
   belongs to the delimiter, and :attr:`Part.raw_bytes` is what an RFC 1847
   signature covers);
2. entities: Content-Type, parameters, charset, filename, and bodies decoded
   on demand from the transfer encoding (RFC 2045 section 6) and the charset
   (RFC 2046 section 4.1.2);
3. the mail view: subject, addresses, date and message id (RFC 5322 section
   3.6), text and HTML bodies, attachments.

Header values are decoded on first access and cached; bodies are never
decoded until asked and are read from the source each time, so a message
parsed from a file does not hold its attachments in memory.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from ._charsets import decode_text
from ._decode import decode_transfer_encoding, make_decoder
from ._defects import BareCRorLF, Defect, EightBitInBody, LimitDefect, NulByte, UnknownTransferEncoding
from ._policy import DEFAULT, Policy
from ._source import READ_CHUNK, BytesSource, Source

if TYPE_CHECKING:
    from email.message import EmailMessage

    from .headers import Address, Group

__all__ = ["HeaderField", "Message", "Part"]

_FOLD = re.compile(rb"\r?\n(?=[ \t])")
_EIGHT_BIT = re.compile(rb"[\x80-\xff]")
_BARE_CR = re.compile(rb"\r(?!\n)")
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")

KIND_LEAF = 0
KIND_MULTIPART = 1
KIND_MESSAGE = 2


class _Context:
    """What every part of one parsed message shares: the source and the policy."""

    __slots__ = ("source", "policy")

    def __init__(self, source: Source, policy: Policy) -> None:
        self.source = source
        self.policy = policy


def record(defects: list[Defect], defect: Defect, policy: Policy) -> None:
    """Add ``defect`` to ``defects``, or raise it under a strict policy."""
    if policy.strict:
        if isinstance(defect, LimitDefect):
            raise LimitExceeded(defect.limit_name, defect.limit, what=defect.detail or None)
        raise RemoteProtocolError(str(defect))
    defects.append(defect)


class HeaderField:
    """One header field as it appeared: name, raw bytes and (lazily) decoded value.

    Attributes:
        name: the field name as written (RFC 5322 section 2.2), case kept.
        raw: the whole field as in the source: name, colon, value, folding
            and the final line ending.
    """

    __slots__ = ("name", "raw", "_lname", "_colon", "_value", "_owner")

    def __init__(self, name: str, raw: bytes, colon: int, owner: Part | None = None) -> None:
        self.name = name
        self.raw = raw
        self._lname = name.lower()
        self._colon = colon
        self._value: str | None = None
        # The part whose defects receive what decoding the value finds.
        self._owner = owner

    @property
    def raw_value(self) -> bytes:
        """The value unfolded (RFC 5322 section 2.2.3) and stripped, still undecoded."""
        value = self.raw[self._colon + 1 :]
        if b"\n" in value:
            value = _FOLD.sub(b"", value)
        return value.strip(b" \t\r\n")

    def unfolded(self) -> str:
        """The unfolded value as text (UTF-8 per RFC 6532), encoded words left as written."""
        value = self.raw_value
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            return value.decode("utf-8", "replace")

    @property
    def value(self) -> str:
        """The value unfolded, with RFC 2047 encoded words decoded (cached)."""
        if self._value is None:
            text = self.unfolded()
            if "=?" in text:
                from .headers import decode_encoded_words

                found: list[Defect] = []
                text = decode_encoded_words(text, defects=found)
                if found and self._owner is not None:
                    self._owner._note(found)
            self._value = text
        return self._value

    def __repr__(self) -> str:
        return f"HeaderField({self.name!r}, {self.raw!r})"


class Part:
    """A MIME entity: header fields, a body, and child parts when it is a container.

    Parts are made by the parser; do not construct them directly. Offsets and
    raw bytes refer to the source the message was parsed from.
    """

    __slots__ = (
        "_ctx",
        "_parent",
        "_start",
        "_end",
        "_body_start",
        "_fields_end",
        "_entries",
        "_defects",
        "_parts",
        "_kind",
        "_ctype",
        "_default_ctype",
        "_boundary",
        "_params",
        "_disposition",
        "_preamble_end",
        "_epilogue_start",
        "_modified",
        "_dirty",
        "depth",
    )

    def __init__(self, ctx: _Context, parent: Part | None, start: int, depth: int) -> None:
        self._ctx = ctx
        self._parent = parent
        self._start = start
        self._end = start
        self._body_start = start
        self._fields_end = start
        self._entries: list[HeaderField] = []
        self._defects: list[Defect] = []
        self._parts: list[Part] = []
        self._kind = KIND_LEAF
        self._ctype = "text/plain"
        self._default_ctype = "text/plain"
        self._boundary: str | None = None
        self._params: dict[str, str] | None = None
        self._disposition: tuple[str, dict[str, str]] | None = None
        self._preamble_end: int | None = None
        self._epilogue_start: int | None = None
        self._modified = False
        self._dirty = False
        self.depth = depth

    # -- framing -------------------------------------------------------------

    @property
    def raw_bytes(self) -> bytes:
        """This part exactly as received: header, body, nothing of the delimiters.

        For a body part of a multipart this is what lies between the CRLF that
        ends one delimiter line and the CRLF that starts the next (RFC 2046
        section 5.1.1), which is what an RFC 1847 signature covers. Header
        changes made after parsing do not show here; ``bytes(part)`` has them.
        """
        return self._ctx.source.read(self._start, self._end)

    @property
    def offsets(self) -> tuple[int, int, int]:
        """``(start, body_start, end)``: byte offsets of this part in the source."""
        return (self._start, self._body_start, self._end)

    @property
    def size(self) -> int:
        """Length of the raw body in octets (still transfer-encoded)."""
        return self._end - self._body_start

    @property
    def line_count(self) -> int:
        """Lines in the raw body (what IMAP's BODYSTRUCTURE reports for text and message/rfc822, RFC 3501 section 7.4.2).

        Counted on the source in pieces; a last line without a line ending counts.
        """
        count = 0
        last = b""
        for piece in self._ctx.source.iter_range(self._body_start, self._end):
            count += piece.count(b"\n")
            last = piece
        if last and not last.endswith(b"\n"):
            count += 1
        return count

    @property
    def raw_body(self) -> bytes:
        """The body as received, still transfer-encoded."""
        return self._ctx.source.read(self._body_start, self._end)

    @property
    def preamble(self) -> bytes | None:
        """The bytes before the first delimiter of a multipart (RFC 2046 section 5.1.1), if any."""
        if self._kind != KIND_MULTIPART or self._preamble_end is None:
            return None
        if self._preamble_end <= self._body_start:
            return None
        return self._ctx.source.read(self._body_start, self._preamble_end)

    @property
    def epilogue(self) -> bytes | None:
        """The bytes after the close delimiter line of a multipart, if it had one."""
        if self._kind != KIND_MULTIPART or self._epilogue_start is None:
            return None
        return self._ctx.source.read(self._epilogue_start, self._end)

    @property
    def defects(self) -> list[Defect]:
        """What was wrong with this part (not its children): typed :class:`Defect` instances."""
        return self._defects

    def all_defects(self) -> list[tuple[Part, Defect]]:
        """Every defect of this part and its descendants, with the part it belongs to."""
        return [(part, defect) for part in self.walk() for defect in part._defects]

    def __bytes__(self) -> bytes:
        """The part as bytes: identical to the source unless header fields were changed."""
        if not self._dirty:
            return self._ctx.source.read(self._start, self._end)
        return b"".join(self.iter_bytes())

    def iter_bytes(self, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        """``bytes(part)`` in pieces of at most ``chunk_size``, read from the source as they are needed.

        Use it to write a large message (parsed from a file or spooled)
        without holding it in memory; generated header fields come whole.
        """
        pieces: list[bytes | tuple[int, int]] = []
        self._pieces(pieces)
        source = self._ctx.source
        for piece in pieces:
            if isinstance(piece, bytes):
                yield piece
            elif piece[1] > piece[0]:
                yield from source.iter_range(piece[0], piece[1], chunk_size)

    def _pieces(self, out: list[bytes | tuple[int, int]]) -> None:
        """Append what makes up this part: generated field bytes, or (start, end) ranges of the source."""
        if not self._dirty:
            out.append((self._start, self._end))
            return
        if self._modified:
            out.extend(field.raw for field in self._entries)
            out.append((self._fields_end, self._body_start))
        else:
            out.append((self._start, self._body_start))
        position = self._body_start
        for child in self._parts:
            out.append((position, child._start))
            child._pieces(out)
            position = child._end
        out.append((position, self._end))

    # -- header access ---------------------------------------------------------

    @property
    def headers(self) -> list[HeaderField]:
        """The header fields in order (a copy: change them with ``part[name] = value``)."""
        return [field for field in self._entries if field._lname]

    def get_field(self, name: str) -> HeaderField | None:
        """The first field named ``name`` (case-insensitive), or ``None``."""
        lname = name.lower()
        for field in self._entries:
            if field._lname == lname:
                return field
        return None

    def get_fields(self, name: str) -> list[HeaderField]:
        """Every field named ``name`` (case-insensitive), in order."""
        lname = name.lower()
        return [field for field in self._entries if field._lname == lname]

    def __getitem__(self, name: str) -> str | None:
        """The decoded value of the first field named ``name``, or ``None``.

        When a field that may appear once appears several times (RFC 5322
        section 3.6, for example two From fields) the first is returned and
        the message carries a :class:`DuplicateSingletonHeader` defect; use
        :meth:`get_all` to see them all.
        """
        field = self.get_field(name)
        return None if field is None else field.value

    def get(self, name: str, default: str | None = None) -> str | None:
        """Like ``part[name]``, with a default."""
        field = self.get_field(name)
        return default if field is None else field.value

    def get_all(self, name: str) -> list[str]:
        """The decoded values of every field named ``name``, in order."""
        return [field.value for field in self.get_fields(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get_field(name) is not None

    def keys(self) -> list[str]:
        """The field names in order, as written."""
        return [field.name for field in self._entries if field._lname]

    def _make_field(self, name: str, value: str) -> HeaderField:
        if not _FIELD_NAME.fullmatch(name):
            raise LocalProtocolError(f"invalid header field name {name!r} (RFC 5322 section 3.6.8)")
        if any(char in value for char in "\r\n\0"):
            raise LocalProtocolError(f"a CR, LF or NUL in the value of {name!r} would break the header")
        policy = self._ctx.policy
        linesep = self._linesep()
        text = _address_field(name, value, policy)
        if text is None:
            from .headers import encode_header

            encoded = encode_header(value, header_name=name, max_line_length=policy.max_line_length, utf8=policy.utf8)
            text = f"{name}: {encoded}\r\n"
        if linesep == b"\n":
            text = text.replace("\r\n", "\n")
        raw = text.encode("utf-8")
        field = HeaderField(name, raw, len(name), self)
        field._value = value
        return field

    def _linesep(self) -> bytes:
        """The line ending this header block uses (a local LF-only file stays LF-only), else the policy's."""
        for entry in self._entries:
            if entry.raw.endswith(b"\n"):
                return b"\r\n" if entry.raw.endswith(b"\r\n") else b"\n"
        separator = self._ctx.source.read(self._fields_end, self._body_start)
        if separator in (b"\n", b"\r\n"):
            return separator
        return self._ctx.policy.linesep

    def _changed(self, lname: str) -> None:
        self._modified = True
        part: Part | None = self
        while part is not None and not part._dirty:
            part._dirty = True
            part = part._parent
        if lname in ("content-type", "content-disposition"):
            self._params = None
            self._disposition = None

    def __setitem__(self, name: str, value: str) -> None:
        """Replace every field named ``name`` with one carrying ``value``.

        The new field takes the place of the first old one (or goes at the
        end of the header). It is generated (RFC 2047 encoded words when the
        policy is not UTF-8, folded per RFC 5322 section 2.2.3); every other
        field keeps its bytes. Changing Content-Type does not re-parse the
        body's structure.

        Raises:
            LocalProtocolError: the name is not a valid field name, or the
                value contains CR, LF or NUL (which could inject fields).
        """
        field = self._make_field(name, value)
        lname = name.lower()
        entries: list[HeaderField] = []
        placed = False
        for entry in self._entries:
            if entry._lname == lname:
                if not placed:
                    entries.append(field)
                    placed = True
            else:
                entries.append(entry)
        if not placed:
            entries.append(field)
        self._entries = entries
        self._changed(lname)

    def add(self, name: str, value: str, *, prepend: bool = False) -> None:
        """Add a field, at the end of the header or (``prepend=True``) at the top.

        Trace fields such as Received go at the top (RFC 5321 section 4.4).

        Raises:
            LocalProtocolError: as for ``part[name] = value``.
        """
        field = self._make_field(name, value)
        if prepend:
            self._entries.insert(0, field)
        else:
            self._entries.append(field)
        self._changed(name.lower())

    def __delitem__(self, name: str) -> None:
        """Remove every field named ``name``; nothing happens when there is none."""
        lname = name.lower()
        kept = [entry for entry in self._entries if entry._lname != lname]
        if len(kept) != len(self._entries):
            self._entries = kept
            self._changed(lname)

    # -- entity ------------------------------------------------------------------

    @property
    def content_type(self) -> str:
        """The media type, lower case ``type/subtype`` (RFC 2045 section 5.2 defaults applied)."""
        return self._ctype

    @property
    def maintype(self) -> str:
        """The top-level media type (``text``, ``multipart``, ...)."""
        return self._ctype.partition("/")[0]

    @property
    def subtype(self) -> str:
        """The media subtype."""
        return self._ctype.partition("/")[2]

    @property
    def params(self) -> dict[str, str]:
        """The Content-Type parameters, names lower case, RFC 2231 continuations joined and decoded."""
        if self._params is None:
            field = self.get_field("content-type")
            params: dict[str, str] = {}
            if field is not None:
                from .headers import parse_content_type

                found: list[Defect] = []
                params = dict(parse_content_type(field.unfolded(), defects=found)[1])
                self._note(found)
            self._params = params
        return self._params

    @property
    def charset(self) -> str | None:
        """The charset parameter, lower case; ``us-ascii`` for text without one (RFC 2046 section 4.1.2)."""
        charset = self.params.get("charset")
        if charset:
            return charset.strip().lower()
        return "us-ascii" if self._ctype.startswith("text/") else None

    @property
    def boundary(self) -> str | None:
        """The multipart boundary the parser used, if any."""
        return self._boundary

    @property
    def content_transfer_encoding(self) -> str:
        """The Content-Transfer-Encoding, lower case; ``7bit`` when absent or invalid (RFC 2045 section 6.1)."""
        field = self.get_field("content-transfer-encoding")
        if field is None:
            return "7bit"
        from .headers import parse_content_transfer_encoding

        found: list[Defect] = []
        encoding = parse_content_transfer_encoding(field.unfolded(), defects=found)
        self._note(found)
        return encoding

    def _parsed_disposition(self) -> tuple[str, dict[str, str]] | None:
        field = self.get_field("content-disposition")
        if field is None:
            return None
        if self._disposition is None:
            from .headers import parse_content_disposition

            found: list[Defect] = []
            self._disposition = parse_content_disposition(field.unfolded(), defects=found)
            self._note(found)
        return self._disposition

    @property
    def content_disposition(self) -> str | None:
        """The disposition type, lower case (``inline``, ``attachment``), or ``None`` without the field (RFC 2183)."""
        parsed = self._parsed_disposition()
        return None if parsed is None else parsed[0]

    @property
    def disposition_params(self) -> dict[str, str]:
        """The Content-Disposition parameters (RFC 2183 section 2, RFC 2231 continuations joined and decoded)."""
        parsed = self._parsed_disposition()
        return {} if parsed is None else dict(parsed[1])

    @property
    def filename(self) -> str | None:
        """The file name: Content-Disposition ``filename`` (RFC 2183, RFC 2231), else Content-Type ``name``.

        Encoded words inside the parameter (a common non-standard form) are
        decoded too. The value is as the sender wrote it: pass it through
        :func:`rfcmail.message.headers.safe_filename` before using it as a path.
        """
        parsed = self._parsed_disposition()
        name = None if parsed is None else parsed[1].get("filename")
        if name is None:
            name = self.params.get("name")
        if name is not None and _ENCODED_WORD_HINT in name:
            found: list[Defect] = []
            name = _decode_words_in_param(name, found)
            self._note(found)
        return name

    @property
    def is_multipart(self) -> bool:
        """Whether the body was parsed into MIME body parts (multipart with a usable boundary)."""
        return self._kind == KIND_MULTIPART

    @property
    def is_message(self) -> bool:
        """Whether the body is an encapsulated message (message/rfc822 and kin) parsed into ``parts[0]``."""
        return self._kind == KIND_MESSAGE

    @property
    def parts(self) -> list[Part]:
        """The child parts: body parts of a multipart, or the encapsulated :class:`Message`."""
        return list(self._parts)

    @property
    def parent(self) -> Part | None:
        """The part this one is a child of (``None`` for the top-level message)."""
        return self._parent

    def walk(self) -> Iterator[Part]:
        """This part and every descendant, depth first, in order (iterative: no recursion limit)."""
        stack: list[Part] = [self]
        while stack:
            part = stack.pop()
            yield part
            if part._parts:
                stack.extend(reversed(part._parts))

    # -- bodies ----------------------------------------------------------------

    def _note(self, defects: list[Defect]) -> None:
        # Lazy accessors may run many times; each defect is recorded once.
        for defect in defects:
            if defect not in self._defects:
                record(self._defects, defect, self._ctx.policy)

    def _without_repeats(self, found: list[Defect]) -> list[Defect]:
        # The header parser already reported an unknown transfer encoding; the
        # decoder reports it again in its own words.
        if any(isinstance(d, UnknownTransferEncoding) for d in self._defects):
            return [d for d in found if not isinstance(d, UnknownTransferEncoding)]
        return found

    def get_payload_bytes(self) -> bytes:
        """The body with its Content-Transfer-Encoding removed (base64, quoted-printable)."""
        found: list[Defect] = []
        encoding = self.content_transfer_encoding
        raw = self.raw_body
        if encoding in ("7bit", "8bit"):
            # RFC 2045 section 2.7/2.8: 7bit and 8bit data have no NUL and no bare CR.
            if encoding == "7bit" and _EIGHT_BIT.search(raw):
                found.append(EightBitInBody("8-bit octets in a 7bit body"))
            if b"\0" in raw:
                found.append(NulByte("NUL in a 7bit or 8bit body"))
            if b"\r" in raw and _BARE_CR.search(raw):
                found.append(BareCRorLF("bare CR in the body"))
        data = decode_transfer_encoding(raw, encoding, found)
        self._note(self._without_repeats(found))
        return data

    def get_content(self) -> str | bytes:
        """The decoded body: ``str`` for ``text/*`` (charset decoded), ``bytes`` otherwise.

        Transfer encoding is removed; an unknown charset decodes as UTF-8
        with a defect, undecodable bytes become U+FFFD with a defect. For a
        multipart this is the raw body (use :attr:`parts`); for message/rfc822
        the encapsulated message's bytes.
        """
        if self._kind == KIND_MULTIPART:
            return self.raw_body
        data = self.get_payload_bytes()
        if self._ctype.startswith("text/"):
            found: list[Defect] = []
            text = decode_text(data, self.charset, found)
            self._note(found)
            return text
        return data

    def open(self) -> io.BufferedReader:
        """A binary stream of the body with its transfer encoding removed, decoded as it is read.

        The stream reads the source piece by piece, so a large attachment of a
        message parsed from a file is never held in memory whole.
        """
        return io.BufferedReader(_DecodingReader(self), buffer_size=64 * 1024)

    def text_body(self) -> str | None:
        """The text/plain body: the first inline text/plain part, preferring one in an alternative."""
        part = self._find_body("text/plain")
        if part is None:
            return None
        content = part.get_content()
        return content if isinstance(content, str) else None

    def html_body(self) -> str | None:
        """The text/html body: the first inline text/html part, preferring one in an alternative."""
        part = self._find_body("text/html")
        if part is None:
            return None
        content = part.get_content()
        return content if isinstance(content, str) else None

    def _find_body(self, wanted: str) -> Part | None:
        for part in self._body_candidates():
            if part._ctype == wanted:
                return part
        return None

    def _body_candidates(self) -> Iterator[Part]:
        # Walk the body parts without entering encapsulated messages (a
        # forwarded message's text is not this message's text).
        stack: list[Part] = [self]
        while stack:
            part = stack.pop()
            if part._kind == KIND_MULTIPART:
                stack.extend(reversed(part._parts))
            elif part._kind == KIND_LEAF and not part._is_attachment():
                yield part

    def _is_attachment(self) -> bool:
        if self.content_disposition == "attachment":
            return True
        if self._ctype in ("text/plain", "text/html"):
            return self.filename is not None and self.content_disposition != "inline"
        return True

    def attachments(self) -> list[Part]:
        """The attachments: leaf parts that are not inline text bodies, and encapsulated messages.

        A part is an attachment when its disposition says so, when it is a
        text/plain or text/html part with a file name and no inline
        disposition, or when it is of any other type. Encapsulated messages
        count as one attachment each; their own parts are not listed.
        """
        found: list[Part] = []
        stack: list[Part] = list(reversed(self._parts)) if self._kind == KIND_MULTIPART else []
        while stack:
            part = stack.pop()
            if part._kind == KIND_MULTIPART:
                stack.extend(reversed(part._parts))
            elif part._kind == KIND_MESSAGE or part._is_attachment():
                found.append(part)
        return found

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._ctype} {self._end - self._start} bytes, {len(self._parts)} parts>"


_ENCODED_WORD_HINT = "=?"

# Fields whose value is an address list (RFC 5322 sections 3.6.2, 3.6.3, 3.6.6).
_ADDRESS_FIELDS = frozenset(
    {"from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-sender", "resent-to", "resent-cc", "resent-bcc"}
)


def _address_field(name: str, value: str, policy: Policy) -> str | None:
    """``Name: value`` for an address field, generated from its parsed addresses, or ``None`` to encode it as text.

    Display names get encoded words where RFC 2047 section 5(3) allows them
    (whole phrase words, never inside an addr-spec); a value that does not
    parse cleanly is left to the unstructured encoder.
    """
    if name.lower() not in _ADDRESS_FIELDS:
        return None
    from .headers import fold, format_address_list, parse_address_list

    found: list[Defect] = []
    items = parse_address_list(value, defects=found)
    if found or not items:
        return None
    formatted = format_address_list(items, utf8=policy.utf8)
    return fold(name, formatted, max_line_length=policy.max_line_length)


def _decode_words_in_param(value: str, defects: list[Defect]) -> str:
    if _ENCODED_WORD_HINT in value:
        from .headers import decode_encoded_words

        return decode_encoded_words(value, defects=defects)
    return value


class _DecodingReader(io.RawIOBase):
    """A raw stream over a part's body that removes the transfer encoding while reading."""

    def __init__(self, part: Part) -> None:
        super().__init__()
        self._part = part
        self._found: list[Defect] = []
        self._decoder = make_decoder(part.content_transfer_encoding, self._found)
        self._pieces = part._ctx.source.iter_range(part._body_start, part._end, 256 * 1024)
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending and not self._done:
            piece = next(self._pieces, None)
            if piece is None:
                self._pending = self._decoder.close()
                self._done = True
                self._part._note(self._part._without_repeats(self._found))
            else:
                self._pending = self._decoder.feed(piece)
        count = min(len(view), len(self._pending))
        view[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


class Message(Part):
    """A whole message (or one encapsulated in message/rfc822): a :class:`Part` with the mail view.

    ``bytes(message)`` is the input, byte for byte, until a header field is
    changed; then only the changed fields are generated again.
    """

    __slots__ = ()

    # -- the mail view (RFC 5322 section 3.6) -------------------------------------

    @property
    def subject(self) -> str | None:
        """The Subject, encoded words decoded (RFC 5322 section 3.6.5, RFC 2047)."""
        return self["subject"]

    def _addresses(self, name: str) -> list[Address | Group]:
        fields = self.get_fields(name)
        if not fields:
            return []
        from .headers import parse_address_list

        found: list[Address | Group] = []
        defects: list[Defect] = []
        for field in fields:
            found.extend(parse_address_list(field.unfolded(), defects=defects))
        self._note(defects)
        return found

    @property
    def from_(self) -> list[Address | Group]:
        """The From addresses (RFC 5322 section 3.6.2), as :class:`~rfcmail.message.headers.Address` items."""
        return self._addresses("from")

    @property
    def sender(self) -> list[Address | Group]:
        """The Sender address, as a list of at most one item (RFC 5322 section 3.6.2)."""
        return self._addresses("sender")

    @property
    def to(self) -> list[Address | Group]:
        """The To addresses and groups (RFC 5322 section 3.6.3)."""
        return self._addresses("to")

    @property
    def cc(self) -> list[Address | Group]:
        """The Cc addresses and groups (RFC 5322 section 3.6.3)."""
        return self._addresses("cc")

    @property
    def bcc(self) -> list[Address | Group]:
        """The Bcc addresses and groups (RFC 5322 section 3.6.3)."""
        return self._addresses("bcc")

    @property
    def reply_to(self) -> list[Address | Group]:
        """The Reply-To addresses and groups (RFC 5322 section 3.6.2)."""
        return self._addresses("reply-to")

    @property
    def date(self) -> datetime | None:
        """The Date as an aware datetime (RFC 5322 section 3.3, obsolete zones accepted), or ``None``."""
        field = self.get_field("date")
        if field is None:
            return None
        from .headers import parse_date

        found: list[Defect] = []
        when = parse_date(field.unfolded(), defects=found)
        self._note(found)
        return when

    @property
    def message_id(self) -> str | None:
        """The Message-ID as ``<id-left@id-right>`` (RFC 5322 section 3.6.4), or ``None``."""
        field = self.get_field("message-id")
        if field is None:
            return None
        from .headers import parse_msgid

        found: list[Defect] = []
        msgid = parse_msgid(field.unfolded(), defects=found)
        self._note(found)
        return msgid

    # -- the standard library ------------------------------------------------------

    def to_email_message(self) -> EmailMessage:
        """This message as an :class:`email.message.EmailMessage` (``policy.default``)."""
        from ._stdlib import to_email_message

        return to_email_message(self)

    @classmethod
    def from_email_message(cls, message: Any, *, policy: Policy = DEFAULT) -> Message:
        """Parse the bytes of a stdlib :class:`email.message.Message` into a :class:`Message`."""
        from ._stdlib import from_email_message

        return from_email_message(message, policy=policy)


def empty_message(policy: Policy = DEFAULT) -> Message:
    """A message with no header and no body (what an empty input parses to)."""
    return Message(_Context(BytesSource(b""), policy), None, 0, 0)
