"""The generator: an explicit MIME entity tree to bytes ready for the wire.

:class:`MimePart` describes one entity (RFC 2045 section 2.4): its media type
and parameters, its other header fields, and either a body (text, octets or
a binary stream) or child entities (multipart, RFC 2046 section 5.1; a
message/rfc822 part, RFC 2046 section 5.2.1). :func:`generate` writes it:

- header fields are folded to ``policy.max_line_length`` (RFC 5322 section
  2.2.3; 78 by default) and never longer than 998 octets (section 2.1.1),
  non-ASCII text becomes RFC 2047 encoded words, or raw UTF-8 under a
  ``policy.utf8`` policy (RFC 6532 section 3.2), and MIME parameters use RFC
  2231 when they must;
- each leaf gets the transfer encoding :func:`choose_transfer_encoding` picks
  (RFC 2045 section 6), text being converted to canonical CRLF form first
  (RFC 2046 section 4.1.1);
- each multipart gets a boundary that occurs in none of its generated
  children (RFC 2046 section 5.1.1), so that no part body can end the part
  early;
- every line ends with ``policy.linesep`` and the output ends with one.

Header injection (CVE-2024-6923 and its relatives) is refused twice: a CR,
LF or NUL in any header name or value raises :class:`ValueError`, and every
header line is checked after folding to be ``name:`` or a white-space
continuation before anything is written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Final, Protocol, runtime_checkable

from ..errors import RfcmailError
from . import headers as _headers
from .headers._encoded_words import MAX_ENCODED_WORD, encode_words
from ._encoders import (
    BASE64,
    BINARY,
    EIGHT_BIT,
    MAX_LINE_OCTETS,
    QUOTED_PRINTABLE,
    SEVEN_BIT,
    Base64Encoder,
    QuotedPrintableEncoder,
    choose_transfer_encoding,
    normalize_line_endings,
)
from ._policy import DEFAULT, Policy

if TYPE_CHECKING:
    from ._model import Part

__all__ = ["Body", "MimePart", "RawValue", "SupportsBytes", "generate", "generate_to",
           "make_boundary",
           "parse_addresses_strictly"]


@runtime_checkable
class SupportsBytes(Protocol):
    """Anything with ``__bytes__``, such as a parsed message."""

    def __bytes__(self) -> bytes: ...


class RawValue(str):
    """A header value that is already in wire form: folded and checked, never encoded.

    Use it for a value taken from a parsed message (its encoded words stay as
    the sender wrote them, so a decoded CR or LF can never come back as a
    line break, SECURITY.md A4.1) or formatted by hand. It must still hold no
    CR, LF or NUL; a non-ASCII raw value under a policy without ``utf8`` is
    encoded like any other value.
    """

    __slots__ = ()


Body = str | bytes | BinaryIO | SupportsBytes | None
"""What a leaf part holds: text (str), octets, a binary stream read to its end,
or an object with ``__bytes__`` (a parsed message, for message/rfc822)."""

_TRANSFER_ENCODINGS: Final = frozenset({SEVEN_BIT, EIGHT_BIT, BINARY, QUOTED_PRINTABLE, BASE64})
# RFC 5322 section 3.6.8: field-name = 1*ftext, ftext = %d33-57 / %d59-126.
_FIELD_NAME_RE: Final = re.compile(r"[!-9;-~]+")
# RFC 2045 section 5.1: type "/" subtype, both tokens.
_TOKEN: Final = r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+"
_MEDIA_TYPE_RE: Final = re.compile(f"({_TOKEN})/({_TOKEN})")
# RFC 2046 section 5.1.1: bcharsnospace, at most 70 characters.
_BOUNDARY_RE: Final = re.compile(r"[0-9A-Za-z'()+_,\-./:=?]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# Characters some readers treat as line breaks although mail does not; kept
# out of raw UTF-8 header values (RFC 6532) by encoding them as encoded words.
_UNICODE_BREAKS: Final = re.compile("[\x85\u2028\u2029\x0b\x0c]")
# Address fields (RFC 5322 sections 3.6.2, 3.6.3, 3.6.6): written through the
# address helpers, so display names are quoted or encoded as phrases need.
_ADDRESS_FIELDS: Final = frozenset({
    "from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-sender",
    "resent-to", "resent-cc", "resent-bcc",
})
# Other structured fields: written as given (folded only), never turned into
# encoded words, which their syntax does not allow (RFC 2047 section 5).
_STRUCTURED_FIELDS: Final = _ADDRESS_FIELDS | frozenset({
    "date", "resent-date", "message-id", "resent-message-id", "in-reply-to", "references",
    "return-path", "received", "mime-version", "dkim-signature", "arc-seal",
    "arc-message-signature", "arc-authentication-results", "authentication-results",
    "list-id", "list-unsubscribe", "list-post", "list-help", "list-archive",
})
_MANAGED_FIELDS: Final = frozenset({
    "content-type", "content-transfer-encoding", "content-disposition", "content-id",
    "content-description", "mime-version",
})
_STREAM_CHUNK: Final = 64 * 1024
_BOUNDARY_ATTEMPTS: Final = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class MimePart:
    """One MIME entity to generate (RFC 2045 section 2.4).

    Attributes:
        content_type: ``type/subtype`` (RFC 2045 section 5.1), for example
            ``"text/plain"``, ``"multipart/mixed"`` or ``"message/rfc822"``.
        params: further Content-Type parameters; ``charset`` and ``boundary``
            are filled in by the generator unless given here.
        headers: other header fields, in order, as ``(name, value)`` pairs of
            unstructured or pre-formatted text. The Content-* fields and
            MIME-Version come from the other attributes and may not be given
            here.
        body: the content of a leaf: ``str`` for text (encoded with
            ``charset``, line breaks made canonical), ``bytes`` kept octet for
            octet, a binary stream read to its end, or for message/rfc822 the
            raw message (bytes or an object with ``__bytes__``). A message/*
            body other than message/global is text written with an identity
            encoding (RFC 2045 section 6.4), its line breaks made CRLF.
        parts: the children of a multipart, or the single encapsulated
            message of a message/rfc822 part.
        charset: the charset of a ``str`` body; default ``us-ascii`` when the
            text is ASCII, otherwise ``utf-8``.
        transfer_encoding: force a Content-Transfer-Encoding instead of the
            generator's choice; the generator still refuses one the content
            or the policy does not allow.
        disposition: ``"inline"`` or ``"attachment"`` (RFC 2183).
        filename: the Content-Disposition filename (RFC 2183 section 2.3,
            RFC 2231 when it is not ASCII), also given as the Content-Type
            ``name`` that older readers look for.
        content_id: the Content-ID (RFC 2045 section 7) without the angle
            brackets, for parts that HTML refers to as ``cid:`` (RFC 2392).
        description: the Content-Description (RFC 2045 section 8).
    """

    content_type: str = "text/plain"
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Sequence[tuple[str, str]] = ()
    body: Body = None
    parts: Sequence[MimePart] = ()
    charset: str | None = None
    transfer_encoding: str | None = None
    disposition: str | None = None
    filename: str | None = None
    content_id: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        match = _MEDIA_TYPE_RE.fullmatch(self.content_type)
        if match is None:
            raise ValueError(f"content_type must be type/subtype tokens, got {self.content_type!r}")
        maintype = match.group(1).lower()
        if maintype == "multipart":
            if self.body is not None:
                raise ValueError(f"a {self.content_type} part has parts, not a body")
        elif self.content_type.lower() == "message/rfc822":
            if (self.body is None) == (len(self.parts) != 1):
                raise ValueError("a message/rfc822 part holds either a body (the raw message) "
                                 "or exactly one part")
        elif self.parts:
            raise ValueError(f"only multipart and message/rfc822 parts have parts, "
                             f"not {self.content_type}")
        for name, value in self.headers:
            _check_field(name, value)
            if name.lower() in _MANAGED_FIELDS:
                raise ValueError(f"{name} is generated from the MimePart attributes; "
                                 "do not give it in headers")
        for name, value in self.params.items():
            _check_field(name, value)
        for label, text in (("charset", self.charset), ("disposition", self.disposition),
                            ("filename", self.filename), ("content_id", self.content_id),
                            ("description", self.description)):
            if text is not None:
                _check_field(label, text)
        if self.transfer_encoding is not None and \
                self.transfer_encoding.lower() not in _TRANSFER_ENCODINGS:
            raise ValueError(f"unknown transfer_encoding {self.transfer_encoding!r}; "
                             f"use one of {sorted(_TRANSFER_ENCODINGS)}")
        if self.content_id is not None and ("<" in self.content_id or ">" in self.content_id
                                            or " " in self.content_id):
            raise ValueError(f"content_id is given without angle brackets or spaces, "
                             f"got {self.content_id!r}")

    @property
    def maintype(self) -> str:
        """The lower-case top-level media type."""
        return self.content_type.split("/", 1)[0].lower()

    @classmethod
    def from_part(cls, part: Part) -> MimePart:
        """The tree of a parsed message or part, to modify and generate again.

        Header fields other than MIME-Version and the Content-* fields the
        generator writes are kept in order as :class:`RawValue` (encoded words
        as the sender wrote them). Bodies are decoded: text to ``str`` in its
        charset (octets when the charset is unknown or the text does not
        decode), the rest to octets; the generator picks their transfer
        encodings again. An encapsulated message becomes a child tree.

        Generating the result does not give the original bytes back (use
        ``bytes(message)`` for that); it gives an equivalent message that
        fits the generation policy.
        """
        headers = tuple((field.name, RawValue(_defuse(field.unfolded())))
                        for field in part.headers
                        if field.name.lower() not in _MANAGED_FIELDS
                        and _FIELD_NAME_RE.fullmatch(field.name))
        params = {name: _defuse(value) for name, value in part.params.items()
                  if name not in ("boundary", "charset", "name")
                  and _FIELD_NAME_RE.fullmatch(name) and "*" not in name}
        disposition = part.content_disposition
        content_id = part.get("Content-ID")
        if content_id is not None:
            content_id = content_id.strip().strip("<>").strip() or None
            if content_id is not None and (" " in content_id or "<" in content_id
                                           or ">" in content_id):
                content_id = None
        filename = part.filename
        description = part.get("Content-Description")
        common = {"headers": headers, "params": params,
                  "filename": None if filename is None else _defuse(filename),
                  "disposition": disposition if disposition and re.fullmatch(_TOKEN, disposition)
                  else None,
                  "content_id": content_id,
                  "description": None if description is None else _defuse(description)}
        if part.is_multipart and part.parts:
            return cls(content_type=part.content_type,
                       parts=tuple(cls.from_part(child) for child in part.parts),
                       **common)  # type: ignore[arg-type]
        if part.is_message and part.parts:
            return cls(content_type=part.content_type, parts=(cls.from_part(part.parts[0]),),
                       **common)  # type: ignore[arg-type]
        if part.maintype == "multipart" or part.content_type.lower() == "message/rfc822" or \
                not _MEDIA_TYPE_RE.fullmatch(part.content_type):
            # A multipart whose parts could not be found, or an encapsulated
            # message that was not parsed: keep its octets, labelled as what
            # they are. (Other message/* types are generated from their body.)
            return cls(content_type="application/octet-stream", body=part.get_payload_bytes(),
                       **common)  # type: ignore[arg-type]
        data = part.get_payload_bytes()
        if part.maintype == "text":
            charset = part.charset or "us-ascii"
            try:
                text = data.decode(_python_codec(charset))
                text.encode(_python_codec(charset))
            except (LookupError, UnicodeError):
                return cls(content_type=part.content_type, body=data, charset=charset,
                           **common)  # type: ignore[arg-type]
            return cls(content_type=part.content_type, body=text, charset=charset,
                       **common)  # type: ignore[arg-type]
        return cls(content_type=part.content_type, body=data, **common)  # type: ignore[arg-type]


_CONTROL_BREAKS: Final = re.compile("[\r\n\0]")


def _defuse(text: str) -> str:
    """Replace the CR, LF and NUL a parsed value may hold (malformed or decoded) with spaces."""
    return _CONTROL_BREAKS.sub(" ", text)


def _check_field(name: str, value: str) -> None:
    """Refuse a header name or value that could inject a header line (A4.1)."""
    if not _FIELD_NAME_RE.fullmatch(name):
        raise ValueError(f"invalid header field name {name!r} (RFC 5322 section 3.6.8: "
                         "printable ASCII except colon)")
    for character in ("\r", "\n", "\0"):
        if character in value:
            raise ValueError(f"header value of {name} contains {character!r}, which would "
                             "inject a line into the header; give the value unfolded")


def parse_addresses_strictly(value: str, argument: str) -> list[_headers.Address | _headers.Group]:
    """Parse an address list for output: ambiguous or invalid forms raise (SECURITY.md A4.2).

    Raises:
        ValueError: ``value`` holds no address, or an element that is not a
            mailbox or group or could be read as more than one.
    """
    try:
        parsed = _headers.parse_address_list(value, strict=True)
    except RfcmailError as exc:
        raise ValueError(f"{argument}: invalid or ambiguous address list {value!r}: {exc}") \
            from exc
    if not parsed:
        raise ValueError(f"{argument}: no address in {value!r}")
    for item in parsed:
        for address in item.members if isinstance(item, _headers.Group) else (item,):
            if not address.local_part or not address.domain:
                raise ValueError(f"{argument}: {address!s} is not local-part@domain")
    return parsed


def make_boundary(random_bytes: Callable[[int], bytes] = os.urandom, sequence: int = 0) -> str:
    """A fresh multipart boundary: ``=_rfcmail_``, 32 random hex digits, ``.``, 6 digits of ``sequence``.

    "=_" never occurs in quoted-printable or base64 output (RFC 2045 section
    6.7 suggests it), so only identity-encoded bodies can collide, and the
    generator checks those. The generator numbers the boundaries of one
    message, so that even a constant ``random_bytes`` (for reproducible
    output) gives nested multiparts distinct boundaries.
    """
    # Fixed width: no boundary of one message is a prefix of another
    # (SECURITY.md A4.7, "--B1" against "--B10").
    return f"=_rfcmail_{random_bytes(16).hex()}.{sequence:06d}"


class _LineTooLong(ValueError):
    """A folded header line is still over 998 octets."""


# The smallest first encoded word worth starting on the field's first line.
_MIN_FIRST_WORD: Final = 30
# The narrowest line an encoded word of one character fits on (RFC 2047
# overhead plus a 4-octet character, and the folding space): a policy may ask
# for 20, unstructured fields are then folded at this width instead.
_MIN_ENCODED_LINE: Final = 26


@dataclass(slots=True)
class _Rendered:
    """A generated entity, as pieces joined once at the end, and the widest encoding inside.

    Keeping pieces instead of joining at every level means a large
    attachment is copied once, into the final message, and not once per
    level of nesting.
    """

    chunks: list[bytes]
    encoding: str

    def ends_with(self, suffix: bytes) -> bool:
        for chunk in reversed(self.chunks):
            if chunk:
                return chunk.endswith(suffix)
        return True


class _Generator:
    __slots__ = ("_linesep", "_linesep_str", "_policy", "_random_bytes", "_sequence")

    def __init__(self, policy: Policy, random_bytes: Callable[[int], bytes]) -> None:
        self._policy = policy
        self._linesep = policy.linesep
        self._linesep_str = policy.linesep.decode("ascii")
        self._random_bytes = random_bytes
        self._sequence = 0

    # -- header fields -------------------------------------------------------

    def field(self, name: str, value: str, *, structured: bool = False) -> bytes:
        """One header field, folded and checked, ending with linesep.

        Unstructured values (Subject, Comments, X-...) get encoded words
        where needed; structured ones are folded as they are, except that
        non-ASCII address fields are parsed and formatted again for a policy
        without ``utf8``.
        """
        _check_field(name, value)
        policy = self._policy
        utf8 = policy.utf8 and not _UNICODE_BREAKS.search(value)
        lowered = name.lower()
        if isinstance(value, RawValue) and (utf8 or value.isascii()):
            folded = _headers.fold(name, str(value), max_line_length=policy.max_line_length,
                                   hard_limit=MAX_LINE_OCTETS, linesep=self._linesep_str)
            return self._verify(name, folded)
        value = str(value)
        structured = structured or lowered in _STRUCTURED_FIELDS
        if lowered in _ADDRESS_FIELDS and not (utf8 or value.isascii()):
            value = _headers.format_address_list(parse_addresses_strictly(value, name),
                                                 utf8=False)
        if not structured:
            # encode_header folds as it encodes, counting "Name: " in.
            encoded = _headers.encode_header(value, header_name=name,
                                             max_line_length=max(policy.max_line_length,
                                                                 _MIN_ENCODED_LINE),
                                             utf8=utf8)
            try:
                return self._verify(name, f"{name}: {encoded}".replace("\r\n",
                                                                       self._linesep_str))
            except _LineTooLong:
                return self._verify(name, self._encode_long_words(name, value))
        if not utf8 and not value.isascii():
            raise ValueError(f"{name}: non-ASCII in a structured value under a policy without "
                             "utf8; format it with the header helpers first")
        folded = _headers.fold(name, value, max_line_length=policy.max_line_length,
                               hard_limit=MAX_LINE_OCTETS, linesep=self._linesep_str)
        return self._verify(name, folded)

    def _encode_long_words(self, name: str, value: str) -> str:
        """An unstructured value with a word too long for a line, as encoded words.

        RFC 5322 section 2.1.1 forbids lines over 998 octets and folding can
        only break at white space; encoded words (RFC 2047 section 2, at most
        75 characters each) can split any text, and a reader drops the white
        space between adjacent ones, so the value is kept exactly.
        """
        width = max(self._policy.max_line_length, _MIN_ENCODED_LINE)
        first = max(width - len(name) - 2, _MIN_FIRST_WORD)
        words = encode_words(value, first, min(MAX_ENCODED_WORD, width - 1))
        return f"{name}: " + (self._linesep_str + " ").join(words)

    def _verify(self, name: str, folded: str) -> bytes:
        """Check a folded field line by line before it is written (A4.1)."""
        linesep = self._linesep_str
        if folded.endswith(linesep):
            folded = folded[: -len(linesep)]
        lines = folded.split(linesep)
        first = lines[0]
        if not first.startswith(name + ":"):
            raise ValueError(f"folding {name} produced a first line that is not '{name}: ...'")
        encoded_lines = []
        for index, line in enumerate(lines):
            if "\r" in line or "\n" in line or "\0" in line:
                raise ValueError(f"{name}: folded line {index + 1} holds a bare CR, LF or NUL")
            if index and (not line[:1] in (" ", "\t") or not line.strip(" \t")):
                raise ValueError(f"{name}: folded line {index + 1} is not a white-space "
                                 "continuation with content (RFC 5322 section 2.2.3)")
            raw = line.encode("utf-8")
            if len(raw) > MAX_LINE_OCTETS:
                raise _LineTooLong(f"{name}: a header line of {len(raw)} octets exceeds the "
                                 f"limit of {MAX_LINE_OCTETS} (RFC 5322 section 2.1.1)")
            encoded_lines.append(raw)
        return self._linesep.join(encoded_lines) + self._linesep

    def _content_fields(self, part: MimePart, params: Mapping[str, str],
                        encoding: str | None) -> list[bytes]:
        utf8 = self._policy.utf8
        fields = []
        type_value = part.content_type.lower() + _format_parameters(params, utf8=utf8)
        fields.append(self.field("Content-Type", type_value, structured=True))
        if encoding is not None:
            fields.append(self.field("Content-Transfer-Encoding", encoding, structured=True))
        if part.disposition is not None or part.filename is not None:
            disposition = (part.disposition or "attachment").lower()
            if not re.fullmatch(_TOKEN, disposition):
                raise ValueError(f"disposition must be a token, got {part.disposition!r}")
            disposition_params = {} if part.filename is None else {"filename": part.filename}
            fields.append(self.field(
                "Content-Disposition",
                disposition + _format_parameters(disposition_params, utf8=utf8),
                structured=True))
        if part.content_id is not None:
            fields.append(self.field("Content-ID", f"<{part.content_id}>", structured=True))
        if part.description is not None:
            fields.append(self.field("Content-Description", part.description))
        return fields

    # -- entities ------------------------------------------------------------

    def entity(self, part: MimePart, *, depth: int, top: bool, mime_version: bool) -> _Rendered:
        limit = self._policy.limits.max_mime_depth
        if depth > limit:
            raise ValueError(f"the part tree is nested deeper than max_mime_depth={limit}, "
                             "which the parser would not follow")
        head = [self.field(name, value) for name, value in part.headers]
        if mime_version:
            head.append(self.field("MIME-Version", "1.0", structured=True))
        maintype = part.maintype
        if maintype == "multipart":
            rendered = self._multipart(part, head, depth=depth)
        elif maintype == "message" and not part.content_type.lower().startswith("message/global"):
            # RFC 2045 section 6.4: message types are composite and take only
            # the identity encodings (RFC 6532 section 3.5 frees message/global*).
            rendered = self._message(part, head, depth=depth)
        else:
            rendered = self._leaf(part, head)
        if top and not rendered.ends_with(self._linesep):
            rendered.chunks.append(self._linesep)
        return rendered

    def _leaf(self, part: MimePart, head: list[bytes]) -> _Rendered:
        policy = self._policy
        params = dict(part.params)
        if part.filename is not None and "name" not in params:
            params["name"] = part.filename
        body = part.body
        forced = part.transfer_encoding.lower() if part.transfer_encoding else None
        if isinstance(body, str):
            charset = part.charset or ("us-ascii" if body.isascii() else "utf-8")
            try:
                data = body.encode(_python_codec(charset))
            except (LookupError, UnicodeEncodeError) as exc:
                raise ValueError(f"cannot encode the text of a {part.content_type} part "
                                 f"as {charset}: {exc}") from exc
            if policy.strict:
                _refuse_repair(data, f"the text of a {part.content_type} part")
            data = normalize_line_endings(data)
            params.setdefault("charset", charset)
            encoding = forced or choose_transfer_encoding(data, text=True, policy=policy)
            payload = self._encode(data, encoding, text=True)
        elif body is None or isinstance(body, bytes | bytearray | memoryview):
            data = bytes(body or b"")
            if part.charset is not None:
                params.setdefault("charset", part.charset)
            encoding = forced or choose_transfer_encoding(data, text=False, policy=policy)
            payload = self._encode(data, encoding, text=False)
        elif isinstance(body, SupportsBytes):
            data = bytes(body)
            encoding = forced or choose_transfer_encoding(data, text=False, policy=policy)
            payload = self._encode(data, encoding, text=False)
        else:
            if part.charset is not None:
                params.setdefault("charset", part.charset)
            encoding = forced or (BINARY if policy.allow_binary else BASE64)
            payload = self._encode_stream(body, encoding)
        head.extend(self._content_fields(part, params, encoding))
        return _Rendered([*head, self._linesep, *payload], encoding)

    def _encode(self, data: bytes, encoding: str, *, text: bool) -> list[bytes]:
        policy = self._policy
        linesep = self._linesep
        if encoding in (BASE64, QUOTED_PRINTABLE):
            encoder: Base64Encoder | QuotedPrintableEncoder = (
                Base64Encoder(linesep=linesep) if encoding == BASE64
                else QuotedPrintableEncoder(text=text, linesep=linesep))
            # Encoded in pieces, so no single temporary is much larger than
            # a piece; the pieces are joined once, into the message.
            chunks = [encoder.feed(data[start:start + _STREAM_CHUNK])
                      for start in range(0, len(data), _STREAM_CHUNK)]
            chunks.append(encoder.finish())
            return chunks
        _check_identity(data, encoding, policy)
        if linesep != b"\r\n" and encoding != BINARY:
            data = data.replace(b"\r\n", linesep)
        return [data]

    def _encode_stream(self, stream: BinaryIO, encoding: str) -> list[bytes]:
        if encoding in (BASE64, QUOTED_PRINTABLE):
            encoder: Base64Encoder | QuotedPrintableEncoder = (
                Base64Encoder(linesep=self._linesep) if encoding == BASE64
                else QuotedPrintableEncoder(text=False, linesep=self._linesep))
            chunks = []
            while chunk := stream.read(_STREAM_CHUNK):
                chunks.append(encoder.feed(chunk))
            chunks.append(encoder.finish())
            return chunks
        return self._encode(stream.read(), encoding, text=False)

    def _multipart(self, part: MimePart, head: list[bytes], *, depth: int) -> _Rendered:
        if not part.parts:
            raise ValueError(f"a {part.content_type} part needs at least one part "
                             "(RFC 2046 section 5.1.1)")
        children = [self.entity(child, depth=depth + 1, top=False, mime_version=False)
                    for child in part.parts]
        params = dict(part.params)
        given = params.get("boundary")
        if given is not None:
            if not _BOUNDARY_RE.fullmatch(given) or given.endswith(" "):
                raise ValueError(f"invalid boundary {given!r} (RFC 2046 section 5.1.1: 1 to "
                                 "70 bchars)")
            if _collides(given, children):
                raise ValueError(f"the boundary {given!r} occurs in a part's content")
            boundary = given
        else:
            for _ in range(_BOUNDARY_ATTEMPTS):
                self._sequence += 1
                boundary = make_boundary(self._random_bytes, self._sequence)
                if not _collides(boundary, children):
                    break
            else:
                raise ValueError(f"no boundary free of collisions in {_BOUNDARY_ATTEMPTS} "
                                 "attempts: is the random source constant?")
            params["boundary"] = boundary
        encoding = _widest(child.encoding for child in children)
        identity = None if encoding == SEVEN_BIT else encoding
        if part.transfer_encoding is not None:
            identity = _check_container_encoding(part, encoding)
        head.extend(self._content_fields(part, params, identity))
        linesep = self._linesep
        delimiter = linesep + b"--" + boundary.encode("ascii")
        pieces = [b"".join(head), linesep]
        first = True
        for child in children:
            # The CRLF before "--boundary" belongs to the delimiter; the first
            # delimiter follows the (empty) preamble directly.
            pieces.append(delimiter[len(linesep):] if first else delimiter)
            pieces.append(linesep)
            pieces.extend(child.chunks)
            first = False
        pieces.append(delimiter + b"--" + linesep)
        return _Rendered(pieces, encoding)

    def _message(self, part: MimePart, head: list[bytes], *, depth: int) -> _Rendered:
        policy = self._policy
        if part.parts:
            inner = self.entity(part.parts[0], depth=depth + 1, top=True, mime_version=True)
            chunks, encoding = inner.chunks, _widest((inner.encoding,))
        else:
            body = part.body
            if isinstance(body, str):
                if part.content_type.lower() == "message/rfc822":
                    raise ValueError("a message/rfc822 body is the raw message as bytes, "
                                     "not str")
                raw = body.encode("utf-8")
            elif isinstance(body, bytes | bytearray | memoryview):
                raw = bytes(body)
            elif isinstance(body, SupportsBytes):
                raw = bytes(body)
            elif body is None:
                raw = b""
            else:
                raw = body.read()
            # RFC 2046 section 5.2.1: only 7bit, 8bit or binary; the message
            # is text and gets the wire's line endings.
            what = ("the forwarded message" if part.content_type.lower() == "message/rfc822"
                    else f"the {part.content_type} body")
            if policy.strict:
                _refuse_repair(raw, what)
            data = normalize_line_endings(raw, self._linesep)
            if data and not data.endswith(self._linesep):
                data += self._linesep
            chunks = [data]
            encoding = choose_transfer_encoding(normalize_line_endings(raw), text=True,
                                                policy=policy.clone(allow_8bit=True))
            if encoding not in (SEVEN_BIT, EIGHT_BIT):
                encoding = BINARY
            if encoding == EIGHT_BIT and not (policy.allow_8bit or policy.allow_binary):
                raise ValueError(f"{what} holds 8-bit octets, which a message part may not "
                                 "encode (RFC 2045 section 6.4, RFC 2046 section 5.2.1); use "
                                 "a policy with allow_8bit or attach it as application/"
                                 "octet-stream")
            if encoding == BINARY and not policy.allow_binary:
                raise ValueError(f"{what} has NUL octets or lines over 998 octets; it needs a "
                                 "policy with allow_binary")
        if part.transfer_encoding is not None:
            identity: str | None = _check_container_encoding(part, encoding)
        else:
            identity = None if encoding == SEVEN_BIT else encoding
        head.extend(self._content_fields(part, dict(part.params), identity))
        return _Rendered([*head, self._linesep, *chunks], encoding)


_WIDTH: Final = {SEVEN_BIT: 0, QUOTED_PRINTABLE: 0, BASE64: 0, EIGHT_BIT: 1, BINARY: 2}


def _widest(encodings: Iterable[str]) -> str:
    """The identity encoding a container needs for the given child encodings."""
    width = max((_WIDTH[encoding] for encoding in encodings), default=0)
    return (SEVEN_BIT, EIGHT_BIT, BINARY)[width]


# Token characters that RFC 2231 gives a meaning in parameters ("*" marks an
# extended or continued value, "'" and "%" its charset and escapes): readers
# such as Python's email package misread a bare token that holds them.
_RFC2231_MARKS: Final = re.compile(r"[*'%]")
_TOKEN_RE: Final = re.compile(_TOKEN)


def _format_parameters(params: Mapping[str, str], *, utf8: bool) -> str:
    """``; name=value`` pieces, with a token holding ``*``, ``'`` or ``%`` quoted.

    A quoted string is always valid where a token is (RFC 2045 section 5.1),
    and a token cannot contain the characters a quoted string escapes.
    """
    pieces = []
    for name, value in params.items():
        if _TOKEN_RE.fullmatch(value) and _RFC2231_MARKS.search(value):
            pieces.append(f'; {name}="{value}"')
        else:
            pieces.append(_headers.format_parameters([(name, value)], utf8=utf8))
    return "".join(pieces)


def _check_container_encoding(part: MimePart, needed: str) -> str:
    """A forced encoding of a multipart or message part: identity and wide enough."""
    forced = (part.transfer_encoding or "").lower()
    if forced not in (SEVEN_BIT, EIGHT_BIT, BINARY):
        raise ValueError(f"a {part.content_type} part may only be 7bit, 8bit or binary "
                         f"(RFC 2045 section 6.4), not {forced}")
    if _WIDTH[forced] < _WIDTH[needed]:
        raise ValueError(f"a {part.content_type} part holding {needed} content cannot be "
                         f"labelled {forced}")
    return forced


def _check_identity(data: bytes, encoding: str, policy: Policy) -> None:
    """Refuse identity-encoded content that breaks its label or the policy."""
    if encoding == BINARY:
        if not policy.allow_binary:
            raise ValueError("the binary transfer encoding needs a policy with allow_binary "
                             "(RFC 3030)")
        return
    if choose_transfer_encoding(data, text=True, policy=policy.clone(allow_8bit=True)) \
            not in (SEVEN_BIT, EIGHT_BIT):
        raise ValueError(f"content is not valid {encoding}: NUL, a bare CR or LF, or a line "
                         f"over {MAX_LINE_OCTETS} octets (RFC 2045 section 2.7)")
    if encoding == SEVEN_BIT and not data.isascii():
        raise ValueError("content with 8-bit octets cannot be labelled 7bit")
    if encoding == EIGHT_BIT and not (policy.allow_8bit or policy.allow_binary):
        raise ValueError("the 8bit transfer encoding needs a policy with allow_8bit (RFC 6152)")


def _refuse_repair(data: bytes, what: str) -> None:
    """Under a strict policy, refuse line breaks that normalising would have to guess.

    Text with CRLF or with LF line breaks (the local convention) is written
    as CRLF without loss; a lone CR, or CRLF mixed with bare LF, is
    malformed, and a strict policy reports it instead of repairing it.
    """
    crlf = data.count(b"\r\n")
    bare_cr = data.count(b"\r") - crlf
    bare_lf = data.count(b"\n") - crlf
    if bare_cr or (crlf and bare_lf):
        raise ValueError(f"{what} has {bare_cr} bare CR and {bare_lf} bare LF among "
                         f"{crlf} CRLF line breaks; the strict policy does not repair them "
                         "(RFC 5322 section 2.3)")


def _collides(boundary: str, children: Sequence[_Rendered]) -> bool:
    """True when the delimiter text occurs anywhere in a generated child (A4.7)."""
    needle = b"--" + boundary.encode("ascii")
    overlap = len(needle) - 1
    for child in children:
        tail = b""
        for chunk in child.chunks:
            # The needle may also span the seam between two pieces.
            if needle in chunk or needle in tail + chunk[:overlap]:
                return True
            tail = (tail + chunk[-overlap:])[-overlap:]
    return False


def _python_codec(charset: str) -> str:
    """The Python codec for a MIME charset name (they agree but for a few aliases)."""
    lowered = charset.lower()
    if lowered in ("us-ascii", "ascii"):
        return "ascii"
    return lowered


def generate(part: MimePart, policy: Policy = DEFAULT, *, mime_version: bool = True,
             random_bytes: Callable[[int], bytes] = os.urandom) -> bytes:
    """Generate the bytes of a message or entity from an explicit part tree.

    Args:
        part: the root entity; its ``headers`` are the message's header
            fields (From, To, Subject, Date, Message-ID, ...).
        policy: line ending, folding width, and which of utf8 headers, 8bit
            and binary the output may use (:data:`~rfcmail.message.SMTP`
            gives 7bit-clean output for any SMTP server).
        mime_version: add ``MIME-Version: 1.0`` (RFC 2045 section 4) to the
            root; leave it off for a body part generated on its own.
        random_bytes: the randomness boundaries are made from.

    Returns:
        The message, every line ending with ``policy.linesep``.

    Raises:
        ValueError: a header name or value that could inject a line, content
            that cannot be represented under ``policy``, a forced transfer
            encoding the content does not allow, a tree deeper than
            ``policy.limits.max_mime_depth``, or a given boundary that occurs
            in the content.
    """
    generator = _Generator(policy, random_bytes)
    return b"".join(generator.entity(part, depth=0, top=True, mime_version=mime_version).chunks)


def generate_to(part: MimePart, write: Callable[[bytes], object], policy: Policy = DEFAULT, *,
                mime_version: bool = True,
                random_bytes: Callable[[int], bytes] = os.urandom) -> int:
    """Like :func:`generate`, but hand the message to ``write`` piece by piece.

    The message is never joined into one ``bytes``: for a large attachment
    that saves a copy of the whole message (write to a file, a socket or an
    SMTP ``BDAT`` stream). Nothing is written when generation fails: every
    check runs before the first call to ``write``.

    Returns:
        The number of octets written.

    Raises:
        ValueError: as :func:`generate`.
    """
    generator = _Generator(policy, random_bytes)
    chunks = generator.entity(part, depth=0, top=True, mime_version=mime_version).chunks
    written = 0
    for chunk in chunks:
        if chunk:
            write(chunk)
            written += len(chunk)
    return written
