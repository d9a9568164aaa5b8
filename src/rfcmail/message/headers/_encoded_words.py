"""RFC 2047 encoded words: decoding unstructured text and encoding header values.

Decoding follows RFC 2047 sections 2-6 (the ``B`` and ``Q`` encodings, any
charset Python knows, the RFC 2231 section 5 language suffix
``charset*lang``, whitespace between adjacent encoded words dropped).
Encoding produces UTF-8 encoded words of at most 75 characters (section 2),
``Q`` or ``B`` whichever is shorter, using the restricted character set of
section 5(3) so the same words are valid in phrases, and folds the result
(RFC 5322 section 2.2.3). RFC 6532 (UTF-8 header values) is honoured by
``utf8=True``.
"""

from __future__ import annotations

import base64
import binascii
import re

from .._defects import (
    Defect,
    InvalidEncodedWord,
    UndecodableBytes,
    UnknownCharset,
    UnterminatedEncodedWord,
)
from .._charsets import lookup_charset
from ._tokens import fix_surrogates, sanitize, unfold

__all__ = [
    "decode_bytes",
    "decode_encoded_words",
    "encode_header",
    "encode_words",
    "needs_encoding",
]

# encoded-word = "=?" charset "?" encoding "?" encoded-text "?="  (RFC 2047 section 2)
# charset = token, optionally "*" language (RFC 2231 section 5);
# encoded-text = 1*<any printable ASCII other than "?" or SPACE> (an empty
# text is accepted: some encoders write it for an empty value).
_ENCODED_WORD_RE = re.compile(
    r"=\?([!#$%&'+\-^_`{}~A-Za-z0-9.]+)(?:\*[A-Za-z0-9\-]*)?\?([A-Za-z])\?([!-><@-~]*)\?="
)
# The start of something that tries to be an encoded word.
_WORD_START_RE = re.compile(r"=\?[!#$%&'+\-^_`{}~A-Za-z0-9.*]+\?[A-Za-z]\?")
_WSP_ONLY_RE = re.compile(r"[ \t\r\n]*\Z")
_NEEDS_SANITIZE_RE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\udc80-\udcff]")
_Q_ESCAPE_RE = re.compile(rb"=([0-9A-Fa-f]{2})")
_Q_VALID_RE = re.compile(r"(?:[^=]|=[0-9A-Fa-f]{2})*\Z")
_B_VALID_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}\Z")


_UNKNOWN_LABELS = frozenset({"", "unknown-8bit", "x-unknown", "unknown", "8bit", "x-user-defined"})


def _codec_name(charset: str) -> str | None:
    """The Python text codec for a MIME charset label, or None if unknown.

    The message layer's one charset table decides (mail aliases, and no
    bytes-to-bytes, escape, idna or punycode codecs: those are not charsets,
    and some decode in quadratic time); labels that say "unknown" are unknown.
    """
    if charset.strip().lower() in _UNKNOWN_LABELS:
        return None
    return lookup_charset(charset)


def decode_bytes(data: bytes, charset: str, defects: list[Defect] | None) -> str:
    """Decode ``data`` in a MIME charset, never raising.

    An unknown charset decodes the ASCII bytes and replaces the others with
    U+FFFD (:class:`UnknownCharset`); bytes invalid in a known charset are
    replaced too (:class:`UndecodableBytes`).
    """
    codec = _codec_name(charset)
    if codec is None:
        if defects is not None:
            defects.append(UnknownCharset(f"unknown charset {charset!r}"))
        return data.decode("ascii", "replace")
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        pass
    except (UnicodeError, LookupError, ValueError, TypeError):  # pragma: no cover - a codec misbehaving
        if defects is not None:
            defects.append(UnknownCharset(f"charset {charset!r} could not decode"))
        return data.decode("ascii", "replace")
    if defects is not None:
        defects.append(UndecodableBytes(f"bytes invalid in charset {charset!r} replaced"))
    try:
        return data.decode(codec, "replace")
    except (UnicodeError, LookupError, ValueError, TypeError):  # pragma: no cover - a codec misbehaving
        return data.decode("ascii", "replace")


def _word_bytes(encoding: str, text: str) -> bytes | None:
    """The octets an encoded word's text stands for, or None if malformed."""
    if encoding in "qQ":
        if "=" in text and _Q_VALID_RE.match(text) is None:
            return None
        raw = text.replace("_", " ").encode("ascii")
        return _Q_ESCAPE_RE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
    if encoding in "bB":
        if _B_VALID_RE.match(text) is None:
            return None
        stripped = text.rstrip("=")
        if len(stripped) % 4 == 1:
            return None
        padded = stripped + "=" * (-len(stripped) % 4)
        try:
            return base64.b64decode(padded, validate=True)
        except (binascii.Error, ValueError):  # pragma: no cover - excluded by the regex
            return None
    return None


def decode_encoded_words(value: str, *, defects: list[Defect] | None = None) -> str:
    """Decode the RFC 2047 encoded words of an unstructured field body.

    ABNF (RFC 2047 section 2)::

        encoded-word = "=?" charset "?" encoding "?" encoded-text "?="
        charset      = token            ; RFC 2231 section 5: token ["*" language]
        encoding     = "B" / "Q"        ; case-insensitive

    The value is unfolded first (RFC 5322 section 2.2.3). Whitespace between
    two adjacent encoded words is dropped (RFC 2047 section 6.2), and the
    octets of adjacent words in the same charset are joined before decoding
    so a character split across words survives. A word with a bad payload
    or encoding letter is kept as it was (:class:`InvalidEncodedWord`); an
    unknown charset gives U+FFFD for the non-ASCII octets
    (:class:`UnknownCharset`); ``=?charset?X?`` never closed by ``?=`` is
    reported as :class:`UnterminatedEncodedWord`. Control characters (CR,
    LF, NUL, the other C0 and C1 controls, U+2028/U+2029), whether decoded
    or raw, are replaced by U+FFFD and reported (SECURITY.md A4.1, A4.4);
    bidi overrides are kept and reported. Surrogate-escaped 8-bit bytes
    become U+FFFD (:class:`EightBitInHeader`). Leading whitespace is kept.

    Args:
        value: the field body (what follows ``Name:``), possibly folded.
        defects: where to append defects; nothing is raised.

    Returns:
        The decoded text.
    """
    text = unfold(value)
    if "=?" not in text:
        if _NEEDS_SANITIZE_RE.search(text) is None:
            return text
        return sanitize(fix_surrogates(text, defects), defects)
    text = fix_surrogates(text, defects)
    pieces: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    pos = 0
    previous_was_word = False

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            pieces.append(decode_bytes(b"".join(pending), pending_charset, defects))
            pending = []

    for match in _ENCODED_WORD_RE.finditer(text):
        between = text[pos : match.start()]
        octets = _word_bytes(match.group(2), match.group(3))
        if octets is None:
            if defects is not None:
                defects.append(InvalidEncodedWord(f"malformed encoded word {match.group()[:80]!r}"))
            flush()
            pieces.append(between)
            pieces.append(match.group())
            previous_was_word = False
            pos = match.end()
            continue
        charset = match.group(1).lower()
        if previous_was_word and _WSP_ONLY_RE.match(between) is not None:
            # Adjacent encoded words: the whitespace between them is dropped.
            if charset != pending_charset:
                flush()
        else:
            flush()
            _check_unterminated(between, defects)
            pieces.append(between)
        pending_charset = charset
        pending.append(octets)
        previous_was_word = True
        pos = match.end()
    flush()
    tail = text[pos:]
    _check_unterminated(tail, defects)
    pieces.append(tail)
    return sanitize("".join(pieces), defects)


def _check_unterminated(text: str, defects: list[Defect] | None) -> None:
    if defects is not None and "=?" in text and _WORD_START_RE.search(text) is not None:
        defects.append(UnterminatedEncodedWord("encoded word started with '=?' is never closed"))


# --- encoding -----------------------------------------------------------------

# RFC 2047 section 5(3): in a phrase, a Q-encoded word may only contain
# letters, digits, "!", "*", "+", "-", "/", "=" and "_". Using this set
# everywhere makes the words valid in every context.
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_PREFIX = "=?utf-8?"
_OVERHEAD = len("=?utf-8?q??=")  # 12
MAX_ENCODED_WORD = 75  # RFC 2047 section 2


def _q_char(char: str) -> str:
    if char == " ":
        return "_"
    return "".join(chr(b) if b in _Q_SAFE else f"={b:02X}" for b in char.encode("utf-8"))


def needs_encoding(word: str) -> bool:
    """Whether a whitespace-free word cannot be written as it is in 7-bit text.

    True for non-ASCII, control characters and anything containing ``=?``
    (which a reader could take for an encoded word).
    """
    return not word.isascii() or "=?" in word or not word.isprintable()


def encode_words(text: str, first_budget: int, budget: int) -> list[str]:
    """Encode ``text`` as UTF-8 encoded words, Q or B whichever is shorter.

    Args:
        text: the text to encode; it must be valid Unicode (no surrogates).
        first_budget: the most characters the first word may have (at least
            the room for one character; the caller folds before otherwise).
        budget: the most characters each following word may have (at most
            75, RFC 2047 section 2).

    Returns:
        The words; decoding them with the whitespace between them dropped
        gives ``text`` back. Characters are never split across words.
    """
    q_chars = [_q_char(c) for c in text]
    q_length = sum(len(q) for q in q_chars)
    b_length = (len(text.encode("utf-8")) + 2) // 3 * 4
    words: list[str] = []
    limit = first_budget
    if q_length <= b_length:
        current: list[str] = []
        used = _OVERHEAD
        for piece in q_chars:
            if current and used + len(piece) > limit:
                words.append(_PREFIX + "q?" + "".join(current) + "?=")
                current, used, limit = [], _OVERHEAD, budget
            current.append(piece)
            used += len(piece)
        if current or not words:
            words.append(_PREFIX + "q?" + "".join(current) + "?=")
        return words
    chunk: list[bytes] = []
    size = 0
    for char in text:
        octets = char.encode("utf-8")
        if chunk and _OVERHEAD + (size + len(octets) + 2) // 3 * 4 > limit:
            words.append(_PREFIX + "b?" + base64.b64encode(b"".join(chunk)).decode("ascii") + "?=")
            chunk, size, limit = [], 0, budget
        chunk.append(octets)
        size += len(octets)
    if chunk or not words:
        words.append(_PREFIX + "b?" + base64.b64encode(b"".join(chunk)).decode("ascii") + "?=")
    return words


_SPLIT_WSP_RE = re.compile(r"([ \t]+)")
# The smallest word: overhead plus the longest encoding of one character
# (a 4-octet character is 12 characters in Q, 8 in B).
_MIN_WORD = _OVERHEAD + 12


def encode_header(
    value: str,
    *,
    header_name: str = "",
    max_line_length: int = 78,
    utf8: bool = False,
) -> str:
    """Encode and fold an unstructured value, ready to write after ``Name:`` and a space.

    Only the runs of words that need it become encoded words (RFC 2047
    section 5(1)): non-ASCII words (unless ``utf8``), words with control
    characters, and words that contain ``=?`` and could be read as encoded
    words. Adjacent such words are encoded together with the whitespace
    between them, since a reader drops whitespace between encoded words.
    Each encoded word is UTF-8, ``Q`` or ``B`` whichever is shorter, and at
    most 75 characters (RFC 2047 section 2). The result is folded with
    CRLF + SP so that no line exceeds ``max_line_length``, counting
    the field name, colon and space on the first line; a plain word longer than a
    line is left whole. With ``utf8=True`` non-ASCII stays as it is
    (RFC 6532 section 3.2) and only look-alike words and controls are encoded.

    ``decode_encoded_words(unfold(result)) == value`` for every value
    without control characters.

    Args:
        value: the unstructured text.
        header_name: the field name, to account for it on the first line.
        max_line_length: the line length to fold at (RFC 5322 section
            2.1.1 recommends 78).
        utf8: keep non-ASCII text raw (RFC 6532).

    Returns:
        The encoded and folded value, without a trailing line ending.

    Raises:
        ValueError: ``value`` contains CR or LF (header injection,
            SECURITY.md A4.1) or lone surrogates, or ``max_line_length`` is
            too small to hold an encoded word.
    """
    if "\r" in value or "\n" in value:
        raise ValueError("header value contains CR or LF (header injection)")
    if re.search("[\ud800-\udfff]", value):
        raise ValueError("header value contains lone surrogates; decode it first")
    if max_line_length < _MIN_WORD + 2:
        raise ValueError(f"max_line_length must be at least {_MIN_WORD + 2}")
    prefix = len(header_name) + 2 if header_name else 0
    parts = _SPLIT_WSP_RE.split(value)
    # parts alternates word, whitespace, word, ...; words may be empty at the ends.
    words = parts[0::2]
    spaces = parts[1::2]

    def wants_encoding(word: str) -> bool:
        if word == "":
            return False
        if utf8:
            return "=?" in word or not word.isprintable()
        return needs_encoding(word)

    flags = [wants_encoding(w) for w in words]
    lines: list[str] = []
    line: list[str] = []
    column = prefix
    has_text = False  # a fold must never leave a line of only whitespace
    budget = min(MAX_ENCODED_WORD, max_line_length - 1)

    def emit(separator: str, item: str) -> None:
        nonlocal line, column, has_text
        if (
            has_text
            and item
            and separator
            and column + len(separator) + len(item) > max_line_length
        ):
            lines.append("".join(line))
            line = [separator, item]
            column = len(separator) + len(item)
        else:
            line.append(separator)
            line.append(item)
            column += len(separator) + len(item)
        has_text = has_text or bool(item)

    index = 0
    separator = ""
    count = len(words)
    while index < count:
        word = words[index]
        if not flags[index]:
            emit(separator, word)
            separator = spaces[index] if index < len(spaces) else ""
            index += 1
            continue
        # Gather the run of words that need encoding (with their whitespace).
        run = [word]
        end = index
        while end + 1 < count and flags[end + 1]:
            run.append(spaces[end])
            run.append(words[end + 1])
            end += 1
        text = "".join(run)
        room = max_line_length - column - len(separator)
        if room >= _MIN_WORD:
            first = min(budget, room)
        elif has_text and separator:
            # Fold before the run: it starts a new line.
            lines.append("".join(line))
            line, column, has_text = [], 0, False
            first = max(_MIN_WORD, min(budget, max_line_length - len(separator)))
        else:
            first = _MIN_WORD  # no place to fold: the line runs long
        encoded = encode_words(text, first, budget)
        emit(separator, encoded[0])
        for piece in encoded[1:]:
            emit(" ", piece)
        separator = spaces[end] if end < len(spaces) else ""
        index = end + 1
    if separator:
        line.append(separator)
    lines.append("".join(line))
    return "\r\n".join(lines)
