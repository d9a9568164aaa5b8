"""The RFC 5322 section 3.2 lexer shared by the structured field parsers.

It holds unfolding (RFC 5322 section 2.2.3), the tokenizer for structured
field bodies (section 3.2: CFWS and nested comments, quoted strings and
quoted pairs, atoms, domain literals, specials, with the obsolete forms of
section 4.1 accepted), a comment stripper for the MIME fields (RFC 2045
section 5.1 allows comments wherever CFWS is allowed), and the sanitizer that
keeps control characters out of decoded text (RFC 2047 section 6.2).

Every function here runs in time linear in its input: the scanners advance
with anchored regular expressions that cannot backtrack over what they have
already consumed, and nested comments are walked with one search per
parenthesis.
"""

from __future__ import annotations

import re
from .._defects import (
    BareCRorLF,
    Defect,
    EightBitInHeader,
    InvalidHeaderValue,
    NulByte,
)

__all__ = [
    "ATOM",
    "BROKEN",
    "DOMAIN_LITERAL",
    "QUOTED",
    "SPECIAL",
    "Token",
    "fix_surrogates",
    "sanitize",
    "skip_comment",
    "strip_comments",
    "tokenize",
    "unfold",
]

# Token kinds.
ATOM = "A"
QUOTED = "Q"
DOMAIN_LITERAL = "L"
SPECIAL = "S"
BROKEN = "X"


Token = tuple[str, str, int, int]
"""One lexical token of a structured field body: ``(kind, value, start, end)``.

``kind`` is ATOM, QUOTED (value is the unescaped content), DOMAIN_LITERAL
(value includes the brackets), SPECIAL (value is the character) or BROKEN
(an unterminated comment, quoted string or literal, a stray ``)`` or
``\\``, or control characters); ``start`` and ``end`` are offsets in the
lexed string. Plain tuples, not a NamedTuple: a megabyte of header makes
hundreds of thousands of them, and a NamedTuple costs several times more to
build (SECURITY.md A4.5).
"""


# RFC 5322 section 2.2.3: unfolding removes each CRLF immediately followed by
# WSP. Bare LF is accepted as a line ending too, since parsers hand us what
# was on the wire after line splitting.
_FOLD_RE = re.compile(r"\r?\n(?=[ \t])")


def unfold(value: str) -> str:
    """Unfold a header field body (RFC 5322 section 2.2.3).

    Removes every CRLF (or bare LF) that is immediately followed by a space
    or tab; nothing else changes. A line ending not followed by WSP is not a
    fold and is left in place.

    Args:
        value: a field body, possibly folded.

    Returns:
        The unfolded body.
    """
    if "\n" not in value:
        return value
    return _FOLD_RE.sub("", value)


# atext (RFC 5322 section 3.2.3) plus UTF8-non-ascii (RFC 6532 section 3.2);
# surrogate-escaped 8-bit bytes are lexed as atom characters too and flagged.
# C1 controls and U+2028/U+2029 are left out: they could end a line for
# some readers (SECURITY.md A4.1), so they become BROKEN tokens.
_ATOM_RE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\xa0-\u2027\u202a-\U0010ffff]+")
# An RFC 2047 encoded word is one atom even when its text holds specials
# (":" or "," in a Q-encoded display name, which section 5(3) forbids but
# mailers write): splitting it would turn a name into a group or a list.
_ENCODED_WORD_ATOM_RE = re.compile(r"=\?[^?\s]+\?[A-Za-z]\?[!-><@-~]*\?=")
_WS_RE = re.compile(r"[ \t\r\n]+")
_QUOTED_RE = re.compile(r'"((?:[^"\\]+|\\.)*)(")?', re.DOTALL)
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)
_LITERAL_RE = re.compile(r"\[((?:[^\[\]\\]+|\\.)*)(\])?", re.DOTALL)
_COMMENT_STEP_RE = re.compile(r"[()\\]")
_CONTROL_RUN_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+")
_SURROGATE_RE = re.compile(r"[\udc80-\udcff]")
_SPECIALS = frozenset("<>:;@,.")


def skip_comment(text: str, pos: int) -> tuple[int, bool]:
    """Skip a (possibly nested) comment starting at ``text[pos] == "("``.

    RFC 5322 section 3.2.2: ``comment = "(" *([FWS] ccontent) [FWS] ")"``
    with ``ccontent = ctext / quoted-pair / comment``.

    Returns:
        The offset just past the closing parenthesis (or ``len(text)``), and
        whether the comment was terminated.
    """
    depth = 0
    length = len(text)
    while pos < length:
        match = _COMMENT_STEP_RE.search(text, pos)
        if match is None:
            return length, False
        char = match.group()
        pos = match.end()
        if char == "\\":
            pos += 1
        elif char == "(":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return pos, True
    return length, False


def tokenize(text: str, defects: list[Defect] | None = None) -> list[Token]:
    """Split an unfolded structured field body into RFC 5322 tokens.

    Whitespace and comments are dropped (a gap between one token's ``end``
    and the next one's ``start`` tells that CFWS was there). Unterminated
    constructs become a BROKEN token running to the end of the text, so the
    caller can tell the element they spoil.

    Args:
        text: the field body.
        defects: where to append defects (8-bit bytes, control characters).

    Returns:
        The tokens in order.
    """
    tokens: list[Token] = []
    append = tokens.append
    pos = 0
    length = len(text)
    saw_surrogate = False
    while pos < length:
        char = text[pos]
        if char in " \t\r\n":
            match = _WS_RE.match(text, pos)
            assert match is not None
            pos = match.end()
            continue
        match = _ENCODED_WORD_ATOM_RE.match(text, pos) if char == "=" else None
        if match is None:
            match = _ATOM_RE.match(text, pos)
        if match is not None:
            value = match.group()
            if not saw_surrogate and _SURROGATE_RE.search(value):
                saw_surrogate = True
            append((ATOM, value, pos, match.end()))
            pos = match.end()
        elif char in _SPECIALS:
            append((SPECIAL, char, pos, pos + 1))
            pos += 1
        elif char == '"':
            match = _QUOTED_RE.match(text, pos)
            assert match is not None
            content = match.group(1)
            if "\\" in content:
                content = _QUOTED_PAIR_RE.sub(r"\1", content)
            if match.group(2) is None:
                append((BROKEN, content, pos, match.end()))
            else:
                append((QUOTED, content, pos, match.end()))
            pos = match.end()
        elif char == "(":
            end, closed = skip_comment(text, pos)
            if not closed:
                append((BROKEN, text[pos:end], pos, end))
            pos = end
        elif char == "[":
            match = _LITERAL_RE.match(text, pos)
            assert match is not None
            if match.group(2) is None:
                append((BROKEN, match.group(), pos, match.end()))
            else:
                append((DOMAIN_LITERAL, match.group(), pos, match.end()))
            pos = match.end()
        else:
            # A stray ")", "]", "\", or control characters.
            match = _CONTROL_RUN_RE.match(text, pos)
            end = match.end() if match is not None else pos + 1
            append((BROKEN, text[pos:end], pos, end))
            pos = end
    if saw_surrogate and defects is not None:
        defects.append(EightBitInHeader("8-bit bytes that are not UTF-8 in a structured field"))
    return tokens


_QUOTED_OR_COMMENT_RE = re.compile(r'["(]')


def strip_comments(text: str, defects: list[Defect] | None = None) -> str:
    """Replace each comment outside quoted strings by one space.

    Used by the MIME field parsers (RFC 2045 section 5.1 allows comments in
    Content-Type, Content-Transfer-Encoding and, by RFC 2183, in
    Content-Disposition). An unterminated comment runs to the end of the
    text and is reported as an :class:`InvalidHeaderValue` defect.
    """
    if "(" not in text:
        return text
    pieces: list[str] = []
    pos = 0
    length = len(text)
    while pos < length:
        match = _QUOTED_OR_COMMENT_RE.search(text, pos)
        if match is None:
            pieces.append(text[pos:])
            break
        start = match.start()
        pieces.append(text[pos:start])
        if match.group() == '"':
            quoted = _QUOTED_RE.match(text, start)
            assert quoted is not None
            pieces.append(text[start : quoted.end()])
            pos = quoted.end()
        else:
            pos, closed = skip_comment(text, start)
            pieces.append(" ")
            if not closed and defects is not None:
                defects.append(InvalidHeaderValue("unterminated comment"))
    return "".join(pieces)


# RFC 2047 section 6.2 and SECURITY.md A4.1/A4.4: decoded text must not be
# able to end a header line or smuggle terminal controls. C0 controls (except
# HTAB), DEL, C1 controls (U+0085 NEL among them) and the Unicode line and
# paragraph separators are replaced by U+FFFD.
_UNSAFE_RE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
# Bidirectional embedding, override and isolate controls: legitimate in
# right-to-left text, so they are kept but reported.
_BIDI_RE = re.compile("[\u202a-\u202e\u2066-\u2069]")


def sanitize(text: str, defects: list[Defect] | None) -> str:
    """Replace control characters by U+FFFD, reporting each kind once.

    CR and LF are reported as :class:`BareCRorLF`, NUL as :class:`NulByte`,
    the other controls and line separators as :class:`InvalidHeaderValue`.
    Bidi override characters are kept and reported as
    :class:`InvalidHeaderValue`. Surrogate-escaped bytes are handled by
    :func:`fix_surrogates`.
    """
    if _UNSAFE_RE.search(text) is not None:
        if defects is not None:
            found = set(_UNSAFE_RE.findall(text))
            if found & {"\r", "\n"}:
                defects.append(BareCRorLF("CR or LF in a header value replaced by U+FFFD"))
            if "\x00" in found:
                defects.append(NulByte("NUL in a header value replaced by U+FFFD"))
            others = found - {"\r", "\n", "\x00"}
            if others:
                names = ", ".join(sorted(f"U+{ord(c):04X}" for c in others))
                defects.append(InvalidHeaderValue(f"control characters replaced by U+FFFD: {names}"))
        text = _UNSAFE_RE.sub("\ufffd", text)
    if defects is not None and _BIDI_RE.search(text) is not None:
        defects.append(InvalidHeaderValue("bidirectional override characters in a header value"))
    return text


def fix_surrogates(text: str, defects: list[Defect] | None) -> str:
    """Replace surrogate-escaped 8-bit bytes by U+FFFD and report them once.

    The message parser decodes header bytes as UTF-8 with
    ``surrogateescape`` (RFC 6532); what remains as surrogates was not UTF-8
    and has no known charset (RFC 5322 section 2.2 allows only US-ASCII).
    The raw bytes stay available from the parser's raw header lines.
    """
    if _SURROGATE_RE.search(text) is None:
        return text
    if defects is not None:
        defects.append(EightBitInHeader("8-bit bytes that are not UTF-8 replaced by U+FFFD"))
    return _SURROGATE_RE.sub("\ufffd", text)
