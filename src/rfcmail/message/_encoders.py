"""Content-Transfer-Encoding for generation: base64, quoted-printable, the choice.

RFC 2045 section 6 defines the encodings: section 6.7 quoted-printable (76
character lines, soft line breaks, trailing white space and "=" encoded),
section 6.8 base64 (76 character lines), sections 2.7 to 2.9 the "7bit",
"8bit" and "binary" identity encodings (7bit and 8bit: no NUL, CR and LF only
as CRLF, lines of at most 998 octets). RFC 2049 section 3 adds the
"From " and "." protections a robust quoted-printable encoder applies at the
start of an encoded line. RFC 2046 section 5.2.1 restricts message/rfc822 to
the identity encodings.

Both encoders stream: :meth:`Base64Encoder.feed` and
:meth:`QuotedPrintableEncoder.feed` take chunks of any size and keep at most a
line's worth of input between calls, so an attachment read from a file is
never held whole in memory. :func:`choose_transfer_encoding` picks the
encoding of one part from its content and the generation policy.
"""

from __future__ import annotations

import binascii
import codecs
import re
from typing import Final

from ._policy import Policy

__all__ = [
    "BASE64",
    "BINARY",
    "EIGHT_BIT",
    "QUOTED_PRINTABLE",
    "SEVEN_BIT",
    "Base64Encoder",
    "QuotedPrintableEncoder",
    "choose_transfer_encoding",
    "encode_base64",
    "encode_quoted_printable",
    "normalize_line_endings",
]

SEVEN_BIT: Final = "7bit"
EIGHT_BIT: Final = "8bit"
BINARY: Final = "binary"
QUOTED_PRINTABLE: Final = "quoted-printable"
BASE64: Final = "base64"

#: RFC 2045 section 6.8: "no more than 76 characters" per encoded line.
BASE64_LINE_LENGTH: Final = 76
#: RFC 2045 section 6.7 rule 5: encoded lines of at most 76 characters.
QP_LINE_LENGTH: Final = 76
#: RFC 5322 section 2.1.1 / RFC 2045 section 2.8: 998 octets before the CRLF.
MAX_LINE_OCTETS: Final = 998

# A quoted-printable body may stay mostly readable while at most one octet in
# six needs an escape: past that, "=XX" triples make it larger than base64's
# fixed 4/3 and no more readable.
_QP_ESCAPE_RATIO: Final = 6

_BYTES_PER_BASE64_LINE: Final = BASE64_LINE_LENGTH // 4 * 3  # 57
_BASE64_BLOCK: Final = _BYTES_PER_BASE64_LINE * 1024
# Input bytes a streaming quoted-printable encoder keeps back mid-line: enough
# to decide on trailing white space, a CRLF split across chunks and "From ".
_QP_HOLD_BACK: Final = 8
_QP_MAX_PENDING: Final = 4096

_LINE_ENDING_RE: Final = re.compile(rb"\r\n|\r|\n")
_HIGH_BYTES: Final = bytes(range(128, 256))
# Octets that stand for themselves in quoted-printable (RFC 2045 6.7 rules 2
# and 3): printable ASCII except "=", plus SPACE and TAB when not trailing.
_QP_LITERAL_RE: Final = re.compile(rb"[\t\x20-\x3c\x3e-\x7e]*")
_QP_TABLE: Final[dict[int, str]] = {
    octet: (chr(octet) if (33 <= octet <= 126 and octet != 61) or octet in (9, 32)
            else f"={octet:02X}")
    for octet in range(256)
}
# Octets quoted-printable text mode writes as they are (rule 2 and 3), with
# CR and LF, which are line breaks when they come as a CRLF pair.
_QP_TEXT_LITERALS: Final = bytes(range(32, 61)) + bytes(range(62, 127)) + b"\t\r\n"
_QP_ESCAPE_RUN_RE: Final = re.compile(rb"[^\t\x20-\x3c\x3e-\x7e\r\n]+")
_QP_BARE_CR_LF_RE: Final = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_QP_CHARMAP: Final[dict[int, bytes]] = {
    octet: bytes([octet]) if octet in _QP_TEXT_LITERALS else b"=%02X" % octet
    for octet in range(256)
}
# Below one escape in this many octets, a regex over the escaped runs is
# cheaper than mapping every octet.
_QP_SPARSE: Final = 64


def _escape_run(match: re.Match[bytes]) -> bytes:
    return b"=" + match.group().hex("=").upper().encode("ascii")


def _escape_text(block: bytes) -> bytes:
    """Rule 1 over whole lines of text: escape what is not literal, keep CRLF pairs.

    Plain ASCII (the common case) costs one ``bytes.translate``; sparse
    escapes a regex pass; dense ones (non-Latin text) a C-level charmap.
    """
    escapes = len(block.translate(None, _QP_TEXT_LITERALS))
    if escapes == 0:
        encoded = block
    elif escapes * _QP_SPARSE < len(block):
        encoded = _QP_ESCAPE_RUN_RE.sub(_escape_run, block)
    else:
        encoded = codecs.charmap_encode(block.decode("latin-1"), "strict", _QP_CHARMAP)[0]
    crlf = encoded.count(b"\r\n")
    if encoded.count(b"\r") != crlf or encoded.count(b"\n") != crlf:
        encoded = _QP_BARE_CR_LF_RE.sub(lambda match: b"=0D" if match.group() == b"\r"
                                         else b"=0A", encoded)
    return encoded


def normalize_line_endings(data: bytes, linesep: bytes = b"\r\n") -> bytes:
    """Return ``data`` with every CRLF, bare CR and bare LF replaced by ``linesep``.

    Text is canonical with CRLF line breaks (RFC 2045 section 2.10 and RFC
    2046 section 4.1.1); a bare CR or LF must not reach the wire (RFC 5322
    section 2.3).
    """
    return _LINE_ENDING_RE.sub(linesep, data)


# --- base64 -----------------------------------------------------------------


class Base64Encoder:
    """Streaming base64 (RFC 2045 section 6.8) in lines of 76 characters.

    Feed any number of chunks, then call :meth:`finish` once. Every line of
    the output, the last included, ends with ``linesep``; an empty input gives
    an empty output.
    """

    __slots__ = ("_finished", "_linesep", "_pending")

    def __init__(self, *, linesep: bytes = b"\r\n") -> None:
        self._linesep = linesep
        self._pending = b""
        self._finished = False

    def feed(self, data: bytes) -> bytes:
        """Encode as many whole 57-octet groups as ``data`` completes."""
        if self._finished:
            raise ValueError("Base64Encoder.feed() after finish()")
        data = self._pending + data
        whole = len(data) - len(data) % _BYTES_PER_BASE64_LINE
        self._pending = data[whole:]
        return self._lines(data[:whole]) if whole else b""

    def finish(self) -> bytes:
        """Encode what is left, with its padding; the encoder cannot be fed again."""
        if self._finished:
            raise ValueError("Base64Encoder.finish() called twice")
        self._finished = True
        rest, self._pending = self._pending, b""
        return self._lines(rest) if rest else b""

    def _lines(self, data: bytes) -> bytes:
        step = BASE64_LINE_LENGTH
        linesep = self._linesep
        blocks = []
        # A block at a time, so the temporary line objects stay few.
        for start in range(0, len(data), _BASE64_BLOCK):
            encoded = binascii.b2a_base64(data[start:start + _BASE64_BLOCK], newline=False)
            lines = [encoded[i:i + step] for i in range(0, len(encoded), step)]
            blocks.append(linesep.join(lines) + linesep)
        return b"".join(blocks)


def encode_base64(data: bytes, *, linesep: bytes = b"\r\n") -> bytes:
    """Base64 of ``data`` in 76-character lines, each ending with ``linesep``."""
    encoder = Base64Encoder(linesep=linesep)
    return encoder.feed(data) + encoder.finish()


# --- quoted-printable -------------------------------------------------------


class QuotedPrintableEncoder:
    """Streaming quoted-printable (RFC 2045 section 6.7).

    In text mode (the default) a CRLF in the input is a line break and is
    written as ``linesep`` (rule 4); a bare CR or LF is data and is escaped,
    so decoding gives back the exact input. With ``text=False`` every CR and
    LF is escaped (=0D, =0A) and the output has soft line breaks only.

    Encoded lines have at most 76 characters including the "=" of a soft line
    break (rule 5); "=" is always escaped (rule 1); SPACE or TAB before a
    line break or at the end is escaped (rule 3). ``protect_from`` escapes the
    "F" of "From " and ``protect_dot`` a "." at the start of an encoded line
    (RFC 2049 section 3, items 7 and 8), so that mbox files and SMTP servers
    that forget dot-stuffing cannot alter the content.

    The output always ends with ``linesep`` unless it is empty: when the input
    does not end with a line break, the encoder ends with a soft line break,
    which decodes to nothing.
    """

    __slots__ = ("_column", "_finished", "_linesep", "_pending", "_protect_dot",
                 "_protect_from", "_text")

    def __init__(self, *, text: bool = True, linesep: bytes = b"\r\n",
                 protect_from: bool = True, protect_dot: bool = True) -> None:
        self._text = text
        self._linesep = linesep.decode("ascii")
        self._protect_from = protect_from
        self._protect_dot = protect_dot
        self._pending = b""
        self._column = 0
        self._finished = False

    def feed(self, data: bytes) -> bytes:
        """Encode every complete line in ``data`` (and long partial lines)."""
        if self._finished:
            raise ValueError("QuotedPrintableEncoder.feed() after finish()")
        data = self._pending + data
        out: list[str] = []
        if self._text:
            end = data.rfind(b"\r\n")
            if end >= 0:
                block = data[:end]
                if self._column:
                    # The first line continues one already partly written.
                    first_end = block.find(b"\r\n")
                    first = block if first_end < 0 else block[:first_end]
                    self._segment(first, line_end=True, out=out)
                    out.append(self._linesep)
                    self._column = 0
                    if first_end >= 0:
                        self._lines(block[first_end + 2:], out)
                else:
                    self._lines(block, out)
                data = data[end + 2:]
        if len(data) > _QP_MAX_PENDING:
            # A long line without a break: encode all but a few octets now so
            # memory stays bounded; the held-back tail decides trailing space.
            cut = len(data) - _QP_HOLD_BACK
            self._segment(data[:cut], line_end=False, out=out)
            data = data[cut:]
        self._pending = data
        return "".join(out).encode("ascii")

    def finish(self) -> bytes:
        """Encode what is left; the encoder cannot be fed again."""
        if self._finished:
            raise ValueError("QuotedPrintableEncoder.finish() called twice")
        self._finished = True
        data, self._pending = self._pending, b""
        if not data and self._column == 0:
            return b""
        out: list[str] = []
        # The last line has no hard break: reserve a column for the soft one.
        self._segment(data, line_end=True, out=out, reserve=1)
        out.append("=" + self._linesep)
        self._column = 0
        return "".join(out).encode("ascii")

    def _lines(self, block: bytes, out: list[str]) -> None:
        """Encode complete lines (joined by CRLF, the last one's CRLF cut) from column 0.

        The whole block is escaped, protected and measured with a few
        C-level passes over bytes; only lines longer than 76 characters go
        through the wrapping loop.
        """
        encoded = _escape_text(block)
        # Rule 3: white space before a line break (and at the block's end).
        encoded = encoded.replace(b" \r\n", b"=20\r\n").replace(b"\t\r\n", b"=09\r\n")
        if encoded.endswith((b" ", b"\t")):
            encoded = encoded[:-1] + (b"=20" if encoded.endswith(b" ") else b"=09")
        if self._protect_dot or self._protect_from:
            encoded = b"\r\n" + encoded
            if self._protect_dot:
                encoded = encoded.replace(b"\r\n.", b"\r\n=2E")
            if self._protect_from:
                encoded = encoded.replace(b"\r\nFrom ", b"\r\n=46rom ")
            encoded = encoded[2:]
        lines = encoded.split(b"\r\n")
        linesep = self._linesep
        if max(map(len, lines)) <= QP_LINE_LENGTH:
            text = encoded.decode("ascii")
            out.append(text if linesep == "\r\n" else text.replace("\r\n", linesep))
            out.append(linesep)
            return
        for line in lines:
            if len(line) > QP_LINE_LENGTH:
                self._column = 0
                self._wrap(line.decode("ascii"), line_end=True, out=out)
            else:
                out.append(line.decode("ascii"))
            out.append(linesep)
        self._column = 0

    def _segment(self, data: bytes, *, line_end: bool, out: list[str], reserve: int = 0) -> None:
        """Encode ``data``, part of one input line, continuing at ``self._column``."""
        if _QP_LITERAL_RE.fullmatch(data):
            encoded = data.decode("ascii")
        else:
            encoded = data.decode("latin-1").translate(_QP_TABLE)
        if line_end and encoded[-1:] in (" ", "\t"):
            encoded = encoded[:-1] + ("=20" if encoded[-1] == " " else "=09")
        self._wrap(encoded, line_end=line_end, out=out, reserve=reserve)

    def _wrap(self, encoded: str, *, line_end: bool, out: list[str], reserve: int = 0) -> None:
        """Write escaped text with soft line breaks, continuing at ``self._column``."""
        # The last piece of a line may use all 76 columns; a piece followed
        # by more text needs one for the soft break's "=".
        last_width = QP_LINE_LENGTH - reserve if line_end else QP_LINE_LENGTH - 1
        soft_width = QP_LINE_LENGTH - 1
        linesep = self._linesep
        column = self._column
        position = 0
        end = len(encoded)
        if column == 0:
            position, column = self._protect(encoded, position, out, complete=line_end)
        # Walk by index: slicing the rest off after each line would make one
        # long line quadratic.
        while column + end - position > last_width:
            cut = position + soft_width - column
            # "=" only ever starts an escape in the encoded text: never split one.
            if cut - 1 >= position and encoded[cut - 1] == "=":
                cut -= 1
            elif cut - 2 >= position and encoded[cut - 2] == "=":
                cut -= 2
            out.append(encoded[position:cut])
            out.append("=" + linesep)
            position, column = self._protect(encoded, cut, out, complete=line_end)
        out.append(encoded[position:])
        self._column = column + end - position

    def _protect(self, encoded: str, position: int, out: list[str], *,
                 complete: bool) -> tuple[int, int]:
        """Apply the RFC 2049 protections where an encoded line starts.

        Returns the new position in ``encoded`` and the column reached.
        """
        head = encoded[position:position + 5]
        if self._protect_dot and head.startswith("."):
            out.append("=2E")
            return position + 1, 3
        if self._protect_from and head.startswith("F"):
            # Mid-line, the text after a short tail is not known yet: escaping
            # an "F" that might start "From " is always correct.
            if head == "From " or (not complete and len(head) < 5):
                out.append("=46")
                return position + 1, 3
        return position, 0


def encode_quoted_printable(data: bytes, *, text: bool = True, linesep: bytes = b"\r\n",
                            protect_from: bool = True, protect_dot: bool = True) -> bytes:
    """Quoted-printable of ``data``; see :class:`QuotedPrintableEncoder`."""
    encoder = QuotedPrintableEncoder(text=text, linesep=linesep,
                                     protect_from=protect_from, protect_dot=protect_dot)
    return encoder.feed(data) + encoder.finish()


# --- the choice -------------------------------------------------------------


def _identity_safe(data: bytes) -> bool:
    """True when ``data`` is valid 7bit or 8bit content apart from 8-bit octets.

    RFC 2045 sections 2.7 and 2.8: no NUL, CR and LF only as CRLF pairs,
    lines of at most 998 octets.
    """
    if b"\0" in data:
        return False
    crlf = data.count(b"\r\n")
    if data.count(b"\r") != crlf or data.count(b"\n") != crlf:
        return False
    if len(data) <= MAX_LINE_OCTETS:
        return True
    return all(len(line) <= MAX_LINE_OCTETS for line in data.split(b"\r\n"))


def _escapes(data: bytes) -> int:
    """How many octets quoted-printable would escape, roughly (8-bit, "=", controls)."""
    eight_bit = len(data) - len(data.translate(None, _HIGH_BYTES))
    return eight_bit + data.count(b"=") + data.count(b"\0")


def choose_transfer_encoding(data: bytes, *, text: bool, policy: Policy) -> str:
    """Pick the Content-Transfer-Encoding of one leaf part.

    Args:
        data: the content in canonical form. For text this is the encoded
            text with CRLF line breaks (see :func:`normalize_line_endings`).
        text: True for text the reader reads (its line breaks may be
            represented as the wire's); False for octets to keep exactly.
        policy: ``allow_8bit`` permits "8bit" (RFC 6152 8BITMIME),
            ``allow_binary`` permits "binary" (RFC 3030 BINARYMIME).

    Returns:
        For text: ``"7bit"`` when it is ASCII and already wire-safe;
        ``"8bit"`` for wire-safe text with 8-bit octets when the policy
        allows it; otherwise ``"quoted-printable"`` when it is mostly ASCII
        and ``"base64"`` for the rest. For octets: ``"base64"``, or
        ``"binary"`` when the policy allows it (``"7bit"`` when empty).
    """
    if not text:
        # Octets must come back exactly, and a reader that stores mail with
        # local line endings (mbox, munpack) would rewrite the CRLFs of an
        # identity-encoded body: only base64 (or binary) keeps them.
        if not data:
            return SEVEN_BIT
        return BINARY if policy.allow_binary else BASE64
    safe = _identity_safe(data)
    eight_bit = len(data.translate(None, _HIGH_BYTES)) != len(data)
    if safe and not eight_bit:
        return SEVEN_BIT
    if safe and (policy.allow_8bit or policy.allow_binary):
        return EIGHT_BIT
    if _escapes(data) * _QP_ESCAPE_RATIO <= len(data):
        return QUOTED_PRINTABLE
    return BASE64
