"""Typed defects: what was wrong with a message that was parsed anyway.

Malformed mail is normal, so the message layer never raises on it. Each part
keeps a list of :class:`Defect` instances; a strict policy turns the first
one into a :class:`~rfcmail.errors.RemoteProtocolError` (or
:class:`~rfcmail.errors.LimitExceeded` for :class:`LimitDefect`). Each class
names one kind of problem; ``detail`` says what exactly, and ``offset`` where
in the source it was found when that is known. The names follow, where one
exists, the stdlib's :mod:`email.errors` (``MissingBoundary`` here is
``NoBoundaryInMultipartDefect`` there, and so on).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BadBase64Padding",
    "BadHeaderLine",
    "BareCRorLF",
    "Defect",
    "DuplicateSingletonHeader",
    "EightBitInBody",
    "EightBitInHeader",
    "InvalidAddress",
    "InvalidBase64Character",
    "InvalidDate",
    "InvalidEncodedWord",
    "InvalidHeaderValue",
    "InvalidMessageId",
    "InvalidParameter",
    "InvalidQuotedPrintable",
    "LimitDefect",
    "LineTooLong",
    "MissingBoundary",
    "MissingEndBoundary",
    "MissingHeaderBodySeparator",
    "MultipartWithoutParts",
    "NulByte",
    "ObsoleteSyntax",
    "StartBoundaryNotFound",
    "UndecodableBytes",
    "UnknownCharset",
    "UnknownTransferEncoding",
    "UnterminatedEncodedWord",
    "TruncatedMessage",
]


@dataclass(frozen=True, slots=True)
class Defect:
    """Something wrong with a message that did not stop it from being parsed.

    Attributes:
        detail: what exactly was wrong, for humans.
        offset: the byte offset in the source where it was found, if known.
    """

    detail: str = ""
    offset: int | None = None

    def __str__(self) -> str:
        where = "" if self.offset is None else f" at offset {self.offset}"
        name = type(self).__name__
        return f"{name}{where}: {self.detail}" if self.detail else f"{name}{where}"


# --- framing: header block, lines, bytes -------------------------------------


@dataclass(frozen=True, slots=True)
class BadHeaderLine(Defect):
    """A line in a header block that is neither a field nor a continuation (RFC 5322 section 2.2)."""


@dataclass(frozen=True, slots=True)
class MissingHeaderBodySeparator(Defect):
    """The header block ended without the empty line (RFC 5322 section 2.1)."""


@dataclass(frozen=True, slots=True)
class LineTooLong(Defect):
    """A line longer than 998 octets plus CRLF (RFC 5322 section 2.1.1)."""


@dataclass(frozen=True, slots=True)
class BareCRorLF(Defect):
    """A CR or LF not part of a CRLF pair (RFC 5322 section 2.3)."""


@dataclass(frozen=True, slots=True)
class NulByte(Defect):
    """A NUL octet in header or body (RFC 5322 section 2.3, RFC 2045 section 2.7)."""


@dataclass(frozen=True, slots=True)
class EightBitInHeader(Defect):
    """Octets above 127 in a header field that are not valid UTF-8 (RFC 5322 section 2.2, RFC 6532)."""


@dataclass(frozen=True, slots=True)
class EightBitInBody(Defect):
    """Octets above 127 in a body declared 7bit, the default (RFC 2045 sections 2.7 and 6.1)."""


@dataclass(frozen=True, slots=True)
class UndecodableBytes(Defect):
    """Bytes that could not be decoded in the declared or assumed charset."""


@dataclass(frozen=True, slots=True)
class TruncatedMessage(Defect):
    """The input ended in the middle of a structure (a header block, a multipart)."""


# --- MIME structure (RFC 2046 section 5.1) -----------------------------------


@dataclass(frozen=True, slots=True)
class MissingBoundary(Defect):
    """A multipart Content-Type without a boundary parameter."""


@dataclass(frozen=True, slots=True)
class StartBoundaryNotFound(Defect):
    """A multipart body with no delimiter line for its boundary."""


@dataclass(frozen=True, slots=True)
class MissingEndBoundary(Defect):
    """A multipart body without its close delimiter."""


@dataclass(frozen=True, slots=True)
class MultipartWithoutParts(Defect):
    """A multipart entity with no body parts."""


# --- transfer encodings and charsets (RFC 2045) -----------------------------


@dataclass(frozen=True, slots=True)
class BadBase64Padding(Defect):
    """Base64 data whose length or padding is wrong (RFC 2045 section 6.8)."""


@dataclass(frozen=True, slots=True)
class InvalidBase64Character(Defect):
    """Characters outside the base64 alphabet, ignored as RFC 2045 section 6.8 says."""


@dataclass(frozen=True, slots=True)
class InvalidQuotedPrintable(Defect):
    """An '=' not followed by two hex digits or a line end (RFC 2045 section 6.7)."""


@dataclass(frozen=True, slots=True)
class UnknownTransferEncoding(Defect):
    """A Content-Transfer-Encoding not defined; treated as application/octet-stream (RFC 2045 section 6.4)."""


@dataclass(frozen=True, slots=True)
class UnknownCharset(Defect):
    """A charset Python does not know; the text was decoded with a fallback."""


# --- header field values -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvalidHeaderValue(Defect):
    """A structured field whose value does not match its grammar."""


@dataclass(frozen=True, slots=True)
class InvalidAddress(Defect):
    """An address or address list that does not match RFC 5322 section 3.4."""


@dataclass(frozen=True, slots=True)
class InvalidDate(Defect):
    """A date that does not match RFC 5322 section 3.3, even in obsolete syntax."""


@dataclass(frozen=True, slots=True)
class InvalidMessageId(Defect):
    """A msg-id that does not match RFC 5322 section 3.6.4."""


@dataclass(frozen=True, slots=True)
class InvalidParameter(Defect):
    """A MIME parameter that does not match RFC 2045 section 5.1 or RFC 2231."""


@dataclass(frozen=True, slots=True)
class InvalidEncodedWord(Defect):
    """An encoded word with a bad encoding letter or payload (RFC 2047 section 2)."""


@dataclass(frozen=True, slots=True)
class UnterminatedEncodedWord(Defect):
    """An encoded word that starts with '=?' and never ends with '?=' (RFC 2047 section 2)."""


@dataclass(frozen=True, slots=True)
class ObsoleteSyntax(Defect):
    """Syntax that RFC 5322 section 4 lists as obsolete: accepted, but never generated."""


@dataclass(frozen=True, slots=True)
class DuplicateSingletonHeader(Defect):
    """A field that may appear once (RFC 5322 section 3.6) appears more often, e.g. two From."""


# --- limits --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LimitDefect(Defect):
    """A configured limit was hit; what lies past it was truncated.

    Attributes:
        limit_name: the :class:`~rfcmail.limits.Limits` field that was hit.
        limit: its value.
    """

    limit_name: str = ""
    limit: int = 0
