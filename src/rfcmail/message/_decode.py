"""Content-Transfer-Encoding decoders: base64 and quoted-printable, whole or streaming (RFC 2045 sections 6.7, 6.8).

Both decoders follow RFC 2045's advice for damaged input and record a typed
defect for each kind of damage instead of raising:

- base64 (section 6.8): characters outside the alphabet are ignored
  (:class:`InvalidBase64Character`); missing, extra or misplaced ``=`` padding
  and a dangling final character are repaired (:class:`BadBase64Padding`).
- quoted-printable (section 6.7): an ``=`` that is not followed by two hex
  digits or by a line end is kept literally (:class:`InvalidQuotedPrintable`);
  soft line breaks are removed, CRLF and LF alike.

The incremental classes decode piece by piece in constant memory per part;
the whole-body functions are the fast path used by ``get_content()``.
Unknown encodings (section 6.4) are returned undecoded with
:class:`UnknownTransferEncoding`.
"""

from __future__ import annotations

import binascii
import re

from ._defects import (
    BadBase64Padding,
    Defect,
    InvalidBase64Character,
    InvalidQuotedPrintable,
    UnknownTransferEncoding,
)

__all__ = [
    "Base64Decoder",
    "QuotedPrintableDecoder",
    "decode_base64",
    "decode_quoted_printable",
    "decode_transfer_encoding",
    "make_decoder",
]

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_ALL_BYTES = bytes(range(256))
# Delete tables for bytes.translate: everything but the alphabet (and '='),
# and everything but what may legitimately appear in encoded text.
_NOT_ALPHABET_OR_PAD = bytes(b for b in _ALL_BYTES if b not in _ALPHABET + b"=")
_ALLOWED_IN_BASE64 = _ALPHABET + b"=\r\n\t "

_BAD_QP_ESCAPE = re.compile(rb"=(?![0-9A-Fa-f]{2}|[ \t]*\r?\n|[ \t]*\Z)")

IDENTITY_ENCODINGS = frozenset({"7bit", "8bit", "binary", ""})


def _note(defects: list[Defect] | None, defect: Defect) -> None:
    if defects is not None and not any(type(d) is type(defect) for d in defects):
        defects.append(defect)


def decode_base64(data: bytes, defects: list[Defect] | None = None) -> bytes:
    """Decode a whole base64 body (RFC 2045 section 6.8), repairing damage.

    Args:
        data: the encoded body, line breaks included.
        defects: receives at most one defect of each kind.
    """
    decoder = Base64Decoder(defects)
    return decoder.feed(data) + decoder.close()


class Base64Decoder:
    """Incremental base64 decoder: ``feed`` pieces, then ``close``.

    Memory is bounded by the piece size: only up to three characters are
    carried from one piece to the next.
    """

    __slots__ = ("_carry", "_padded", "_pad_count", "_defects")

    def __init__(self, defects: list[Defect] | None = None) -> None:
        self._carry = b""
        self._padded = False
        self._pad_count = 0
        self._defects = defects

    def feed(self, data: bytes) -> bytes:
        """Decode as much of ``data`` as forms whole 4-character groups."""
        if data.translate(None, _ALLOWED_IN_BASE64):
            _note(self._defects, InvalidBase64Character("characters outside the base64 alphabet were ignored"))
        clean = data.translate(None, _NOT_ALPHABET_OR_PAD)
        if self._padded:
            if clean.strip(b"="):
                _note(self._defects, BadBase64Padding("data after the '=' padding was ignored"))
            self._pad_count += len(clean) - len(clean.lstrip(b"="))
            return b""
        pad_at = clean.find(b"=")
        if pad_at >= 0:
            tail = clean[pad_at:]
            self._pad_count = len(tail) - len(tail.lstrip(b"="))
            if tail.strip(b"="):
                _note(self._defects, BadBase64Padding("data after the '=' padding was ignored"))
            clean = clean[:pad_at]
            self._padded = True
        clean = self._carry + clean
        usable = len(clean) - len(clean) % 4
        self._carry = clean[usable:]
        return binascii.a2b_base64(clean[:usable]) if usable else b""

    def close(self) -> bytes:
        """Decode what is left, repairing the padding."""
        rest = len(self._carry) % 4
        needed = (4 - rest) % 4
        if rest == 1:
            _note(self._defects, BadBase64Padding("a final lone base64 character was dropped"))
            self._carry = b""
            return b""
        if self._pad_count != needed and (self._pad_count or needed):
            _note(self._defects, BadBase64Padding(f"expected {needed} '=' of padding, found {self._pad_count}"))
        if not self._carry:
            return b""
        out = binascii.a2b_base64(self._carry + b"=" * needed)
        self._carry = b""
        return out


def decode_quoted_printable(data: bytes, defects: list[Defect] | None = None) -> bytes:
    """Decode a whole quoted-printable body (RFC 2045 section 6.7).

    Soft line breaks (``=`` before CRLF or LF) are removed; an invalid escape
    is kept as it is and recorded.
    """
    if defects is not None and b"=" in data and _BAD_QP_ESCAPE.search(data):
        _note(defects, InvalidQuotedPrintable("an '=' not followed by two hex digits or a line end was kept"))
    return binascii.a2b_qp(data)


class QuotedPrintableDecoder:
    """Incremental quoted-printable decoder: ``feed`` pieces, then ``close``.

    Whole lines are decoded as they complete; a line longer than the piece
    is decoded in slices that never split an escape.
    """

    __slots__ = ("_carry", "_defects")

    def __init__(self, defects: list[Defect] | None = None) -> None:
        self._carry = b""
        self._defects = defects

    def feed(self, data: bytes) -> bytes:
        """Decode the complete lines (or safe slices) of ``data``."""
        data = self._carry + data
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            # No line end: decode all but the last two bytes, and never end the
            # slice inside an escape ("=" or "=X" would be read as a soft break).
            cut = max(0, len(data) - 2)
            escape = data.rfind(b"=", max(0, cut - 2), cut)
            if escape >= 0:
                cut = escape
        self._carry = data[cut:]
        return decode_quoted_printable(data[:cut], self._defects) if cut else b""

    def close(self) -> bytes:
        """Decode what is left."""
        data, self._carry = self._carry, b""
        return decode_quoted_printable(data, self._defects) if data else b""


class _IdentityDecoder:
    __slots__ = ()

    def feed(self, data: bytes) -> bytes:
        return data

    def close(self) -> bytes:
        return b""


def make_decoder(
    encoding: str, defects: list[Defect] | None = None
) -> Base64Decoder | QuotedPrintableDecoder | _IdentityDecoder:
    """Return an incremental decoder for a Content-Transfer-Encoding value (lower case)."""
    if encoding == "base64":
        return Base64Decoder(defects)
    if encoding == "quoted-printable":
        return QuotedPrintableDecoder(defects)
    if encoding not in IDENTITY_ENCODINGS:
        _note(defects, UnknownTransferEncoding(f"unknown Content-Transfer-Encoding {encoding!r}, body left encoded"))
    return _IdentityDecoder()


def decode_transfer_encoding(data: bytes, encoding: str, defects: list[Defect] | None = None) -> bytes:
    """Decode a whole body in the given Content-Transfer-Encoding (lower case)."""
    if encoding == "base64":
        return decode_base64(data, defects)
    if encoding == "quoted-printable":
        return decode_quoted_printable(data, defects)
    if encoding not in IDENTITY_ENCODINGS:
        _note(defects, UnknownTransferEncoding(f"unknown Content-Transfer-Encoding {encoding!r}, body left encoded"))
    return data
