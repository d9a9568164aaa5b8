"""MIME parameters: Content-Type, Content-Disposition and Content-Transfer-Encoding.

Parsing follows RFC 2045 section 5.1 (type, subtype, ``attribute=value``
with tokens or quoted strings, comments allowed), RFC 2183 section 2
(Content-Disposition), RFC 2045 section 6.1 (Content-Transfer-Encoding) and
RFC 2231 (continuations ``name*0``, ``name*1*``; ``charset'language'``
percent-encoded values), and tolerates the common non-standard forms:
RFC 2047 encoded words in values, unquoted values with spaces or tspecials,
missing or doubled semicolons, duplicated parameters (the first wins). Each
repair adds a defect. Formatting writes tokens or quoted strings, and
RFC 2231 for non-ASCII values unless UTF-8 output is allowed (RFC 6532).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote_to_bytes

from .._defects import (
    Defect,
    InvalidHeaderValue,
    InvalidParameter,
    LimitDefect,
    UnknownTransferEncoding,
)
from ._encoded_words import decode_bytes, decode_encoded_words
from ._tokens import fix_surrogates, sanitize, strip_comments, unfold

__all__ = [
    "MAX_PARAMETER_SECTIONS",
    "format_parameters",
    "parse_content_disposition",
    "parse_content_transfer_encoding",
    "parse_content_type",
    "parse_parameters",
]

MAX_PARAMETER_SECTIONS = 1000
"""Default for ``max_sections``: RFC 2231 continuation sections kept per parameter."""

# token = 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>  (RFC 2045 section 5.1)
# tspecials = "(" / ")" / "<" / ">" / "@" / "," / ";" / ":" / "\" / <"> / "/" / "[" / "]" / "?" / "="
_TOKEN = r"[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+"
_TOKEN_RE = re.compile(_TOKEN + r"\Z")
_WS = r"[ \t\r\n]*"
_TYPE_RE = re.compile(rf"{_WS}({_TOKEN})?{_WS}/{_WS}({_TOKEN})?{_WS}")
_DISPOSITION_RE = re.compile(rf"{_WS}({_TOKEN}){_WS}")
_SEPARATORS_RE = re.compile(r"[ \t\r\n;]*")
# Lenient attribute: token characters, and non-ASCII seen in the wild.
_NAME_RE = re.compile(
    r"([!#$%&'+\-.^_`{|}~0-9A-Za-z\u0080-\U0010ffff]+?)(?:\*([0-9]{1,9}))?(\*)?[ \t\r\n]*=[ \t\r\n]*"
)
_QUOTED_RE = re.compile(r'"((?:[^"\\]+|\\.)*)(")?', re.DOTALL)
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)
_UNQUOTED_RE = re.compile(r'[^;"]*')
_JUNK_RE = re.compile(r'(?:[^;"]+|"(?:[^"\\]+|\\.)*"?)*', re.DOTALL)
_INNER_WS_RE = re.compile(r"[ \t\r\n]+")
_FAST_PARAM_RE = re.compile(rf'{_WS};{_WS}({_TOKEN})=(?:({_TOKEN})|"([^"\\\r\n]*)"){_WS}')


def _fast_parameters(text: str, pos: int) -> dict[str, str] | None:
    """``; token=token`` and ``; token="text"`` runs with nothing odd, or None."""
    params: dict[str, str] = {}
    length = len(text)
    match_at = _FAST_PARAM_RE.match
    while pos < length:
        match = match_at(text, pos)
        if match is None:
            return None
        name = match.group(1).lower()
        if name in params or "*" in name:
            return None
        value = match.group(2)
        if value is None:
            value = match.group(3)
            if "=?" in value:
                return None
        params[name] = value
        pos = match.end()
    return params


class _Section:
    __slots__ = ("extended", "value")

    def __init__(self, value: str, extended: bool) -> None:
        self.value = value
        self.extended = extended


def _parse_params(text: str, pos: int, defects: list[Defect], max_sections: int) -> dict[str, str]:
    """Parse ``*(";" parameter)`` from ``text[pos:]`` (comments already removed)."""
    simple: dict[str, str] = {}
    sections: dict[str, dict[int, _Section]] = {}
    appearance: dict[str, list[int]] = {}
    over_limit: set[str] = set()
    length = len(text)
    first = True
    while True:
        separators = _SEPARATORS_RE.match(text, pos)
        assert separators is not None
        semicolons = separators.group().count(";")
        pos = separators.end()
        if pos >= length:
            break
        if semicolons > 1:
            defects.append(InvalidParameter("empty parameter between semicolons"))
        elif semicolons == 0 and not first:
            defects.append(InvalidParameter("missing ';' between parameters"))
        first = False
        match = _NAME_RE.match(text, pos)
        if match is None:
            junk = _JUNK_RE.match(text, pos)
            assert junk is not None
            end = max(junk.end(), pos + 1)
            defects.append(InvalidParameter(f"not a parameter: {text[pos:end][:100]!r}"))
            pos = end
            continue
        name = fix_surrogates(match.group(1), defects).lower()
        number_text, star = match.group(2), match.group(3)
        pos = match.end()
        quoted = pos < length and text[pos] == '"'
        if quoted:
            qmatch = _QUOTED_RE.match(text, pos)
            assert qmatch is not None
            value = qmatch.group(1)
            if "\\" in value:
                value = _QUOTED_PAIR_RE.sub(r"\1", value)
            if qmatch.group(2) is None:
                defects.append(InvalidParameter(f"unterminated quoted string in parameter {name!r}"))
            pos = qmatch.end()
        else:
            umatch = _UNQUOTED_RE.match(text, pos)
            assert umatch is not None
            value = umatch.group().strip(" \t\r\n")
            split = _INNER_WS_RE.search(value)
            if split is not None and _NAME_RE.match(value, split.end()) is not None:
                # "a=1 b=2": a missing semicolon, not a value with spaces.
                pos += umatch.group().index(value) + split.start()
                value = value[: split.start()]
            else:
                pos = umatch.end()
                if split is not None:
                    defects.append(InvalidParameter(f"unquoted value with spaces in parameter {name!r}"))
            if value and _TOKEN_RE.match(value) is None and not star:
                defects.append(InvalidParameter(f"value of {name!r} should be quoted"))
        value = sanitize(fix_surrogates(value, defects), defects)
        if number_text is None and not star:
            if "=?" in value:
                before = len(defects)
                value = decode_encoded_words(value, defects=defects)
                defects.insert(
                    before,
                    InvalidParameter(f"RFC 2047 encoded word in parameter {name!r} (RFC 2047 section 5)"),
                )
            if name in simple:
                defects.append(InvalidParameter(f"duplicate parameter {name!r}; the first one is kept"))
            else:
                simple[name] = value
            continue
        number = 0 if number_text is None else int(number_text)
        if number >= max_sections:
            if name not in over_limit:
                over_limit.add(name)
                defects.append(
                    LimitDefect(
                        f"parameter {name!r} has a section {number}, over max_sections={max_sections}",
                        limit_name="max_sections",
                        limit=max_sections,
                    )
                )
            continue
        if number_text is not None and len(number_text) > 1 and number_text[0] == "0":
            defects.append(InvalidParameter(f"section number {number_text} with a leading zero"))
        parts = sections.setdefault(name, {})
        if number in parts:
            defects.append(InvalidParameter(f"duplicate section {number} of parameter {name!r}; the first is kept"))
            continue
        parts[number] = _Section(value, bool(star))
        appearance.setdefault(name, []).append(number)
    for name, parts in sections.items():
        order = appearance[name]
        if any(b < a for a, b in zip(order, order[1:])):
            defects.append(InvalidParameter(f"sections of parameter {name!r} out of order"))
        simple[name] = sanitize(_join_sections(name, parts, defects), defects)
    return simple


def _join_sections(name: str, parts: dict[int, _Section], defects: list[Defect]) -> str:
    """RFC 2231 sections 3 and 4: concatenate and decode continuations."""
    numbers = sorted(parts)
    if numbers[0] != 0 or numbers[-1] != len(numbers) - 1:
        defects.append(InvalidParameter(f"missing sections of parameter {name!r}"))
    charset = ""
    pieces: list[str] = []
    pending: list[bytes] = []
    for position, number in enumerate(numbers):
        section = parts[number]
        if not section.extended:
            if pending:
                pieces.append(decode_bytes(b"".join(pending), charset or "utf-8", defects))
                pending = []
            pieces.append(section.value)
            continue
        data = section.value
        if position == 0:
            if data.count("'") >= 2:
                charset, _language, data = data.split("'", 2)
            else:
                defects.append(InvalidParameter(f"RFC 2231 value of {name!r} without charset'language'"))
        if "%" in data and re.search(r"%(?![0-9A-Fa-f]{2})", data):
            defects.append(InvalidParameter(f"bad percent-encoding in parameter {name!r}"))
        pending.append(unquote_to_bytes(data.encode("utf-8", "surrogateescape")))
    if pending:
        pieces.append(decode_bytes(b"".join(pending), charset or "utf-8", defects))
    return "".join(pieces)


def _prepare(value: str, defects: list[Defect]) -> str:
    text = unfold(value)
    if "(" in text:
        text = strip_comments(text, defects)
    return text


def parse_parameters(
    value: str, *, defects: list[Defect] | None = None, max_sections: int = MAX_PARAMETER_SECTIONS
) -> dict[str, str]:
    """Parse a MIME parameter list, with or without the leading ``;``.

    ABNF (RFC 2045 section 5.1, RFC 2231 section 7)::

        parameter := regular-parameter / extended-parameter
        regular-parameter := regular-parameter-name "=" value
        regular-parameter-name := attribute [section]
        extended-parameter := (extended-initial-name "=" extended-initial-value) /
                              (extended-other-names "=" extended-other-values)
        extended-initial-value := [charset] "'" [language] "'" extended-other-values
        section := "*" 1*DIGIT
        value := token / quoted-string

    Names are lower-cased. Continuations are joined in section order (gaps
    and disorder reported), percent-encoded octets decoded in the declared
    charset (unknown charsets give U+FFFD and :class:`UnknownCharset`).
    Control characters in values, raw or decoded (``%0D%0A``, ``%00``),
    and U+2028/U+2029 are replaced by U+FFFD and reported, as in
    :func:`decode_encoded_words` (SECURITY.md A4.1, A4.10). An
    RFC 2231 value wins over a plain one of the same name. Sections numbered
    ``max_sections`` or higher are dropped with a :class:`LimitDefect`
    (``limit_name="max_sections"``).

    Args:
        value: the parameter text, possibly folded.
        defects: where to append defects.
        max_sections: RFC 2231 sections kept per parameter.

    Returns:
        The parameters, in order of first appearance.
    """
    found = defects if defects is not None else []
    text = _prepare(value, found)
    if "*" not in text:
        fast = _fast_parameters(text if text.lstrip().startswith(";") else ";" + text, 0)
        if fast is not None:
            return fast
    return _parse_params(text, 0, found, max_sections)


def parse_content_type(
    value: str, *, defects: list[Defect] | None = None, max_sections: int = MAX_PARAMETER_SECTIONS
) -> tuple[str, dict[str, str]]:
    """Parse a Content-Type field body (RFC 2045 section 5.1).

    ABNF::

        content := "Content-Type" ":" type "/" subtype *(";" parameter)

    Returns:
        ``("type/subtype", params)`` with the type lower-cased and the
        parameters as :func:`parse_parameters` gives them. A missing or
        invalid type gives ``"text/plain"`` (RFC 2045 section 5.2) with an
        :class:`InvalidHeaderValue` defect; the parameters after it are still
        read, so ``text; charset=utf-8`` keeps its charset.
    """
    found = defects if defects is not None else []
    text = _prepare(value, found)
    match = _TYPE_RE.match(text)
    if match is not None and match.group(1) and match.group(2):
        media_type = f"{match.group(1)}/{match.group(2)}".lower()
        pos = match.end()
        if "*" not in text and "=?" not in text:
            fast = _fast_parameters(text, pos)
            if fast is not None:
                return media_type, fast
        if pos < len(text) and text[pos] != ";":
            found.append(InvalidParameter("missing ';' after the media type"))
        return media_type, _parse_params(text, pos, found, max_sections)
    semicolon = text.find(";")
    shown = (text if semicolon < 0 else text[:semicolon]).strip()
    found.append(InvalidHeaderValue(f"invalid media type {shown[:100]!r}; using text/plain"))
    params = _parse_params(text, semicolon, found, max_sections) if semicolon >= 0 else {}
    return "text/plain", params


def parse_content_disposition(
    value: str, *, defects: list[Defect] | None = None, max_sections: int = MAX_PARAMETER_SECTIONS
) -> tuple[str, dict[str, str]]:
    """Parse a Content-Disposition field body (RFC 2183 section 2, RFC 2231).

    ABNF::

        disposition := "Content-Disposition" ":" disposition-type *(";" disposition-parm)
        disposition-type := "inline" / "attachment" / extension-token

    Returns:
        ``(disposition, params)``, the disposition lower-cased as written
        (unknown tokens are returned; RFC 2183 says to treat them as
        ``attachment``). A missing or invalid one gives ``"attachment"``
        with an :class:`InvalidHeaderValue` defect.
    """
    found = defects if defects is not None else []
    text = _prepare(value, found)
    match = _DISPOSITION_RE.match(text)
    if match is not None:
        end = match.end()
        if end < len(text) and text[end] != ";":
            found.append(InvalidParameter("missing ';' after the disposition type"))
        return match.group(1).lower(), _parse_params(text, end, found, max_sections)
    semicolon = text.find(";")
    shown = (text if semicolon < 0 else text[:semicolon]).strip()
    found.append(InvalidHeaderValue(f"invalid disposition type {shown[:100]!r}; using attachment"))
    params = _parse_params(text, semicolon, found, max_sections) if semicolon >= 0 else {}
    return "attachment", params


_KNOWN_ENCODINGS = frozenset({"7bit", "8bit", "binary", "quoted-printable", "base64"})


def parse_content_transfer_encoding(value: str, *, defects: list[Defect] | None = None) -> str:
    """Parse a Content-Transfer-Encoding field body (RFC 2045 section 6.1).

    ABNF::

        encoding := "Content-Transfer-Encoding" ":" mechanism
        mechanism := "7bit" / "8bit" / "binary" / "quoted-printable" / "base64" /
                     ietf-token / x-token

    Returns:
        The mechanism lower-cased. An empty or invalid value gives
        ``"7bit"`` (the RFC 2045 section 6.1 default) with an
        :class:`InvalidHeaderValue` defect; a token other than the five
        standard ones is returned with an :class:`UnknownTransferEncoding`
        defect (RFC 2045 section 6.4: treat the body as
        application/octet-stream).
    """
    found = defects if defects is not None else []
    text = _prepare(value, found).strip(" \t\r\n")
    lowered = text.lower()
    if lowered in _KNOWN_ENCODINGS:
        return lowered
    match = _DISPOSITION_RE.match(text)
    if match is None:
        found.append(InvalidHeaderValue(f"invalid Content-Transfer-Encoding {text[:100]!r}; using 7bit"))
        return "7bit"
    token = match.group(1).lower()
    if match.end() != len(text):
        found.append(InvalidHeaderValue(f"text after the Content-Transfer-Encoding {token!r}"))
    if token not in _KNOWN_ENCODINGS:
        found.append(UnknownTransferEncoding(f"unknown Content-Transfer-Encoding {token!r}"))
    return token


# --- formatting ----------------------------------------------------------------

# attribute-char (RFC 2231 section 7): token characters except "*", "'" and "%".
_ATTRIBUTE_SAFE = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&+-.^_`|~"
)
# A piece plus "; " fits a 78-character folded line.
_PIECE_LENGTH = 74


def _percent_encode(value: str) -> str:
    return "".join(
        chr(b) if chr(b) in _ATTRIBUTE_SAFE else f"%{b:02X}" for b in value.encode("utf-8")
    )


def format_parameters(params: Mapping[str, str] | Iterable[tuple[str, str]], *, utf8: bool = False) -> str:
    """Format MIME parameters as ``; name=value`` pieces (RFC 2045 5.1, RFC 2231).

    A value is written bare when it is made of RFC 2231 attribute-chars
    (a token without ``*``, ``'`` or ``%``), else as a quoted string.
    Values with non-ASCII (unless ``utf8``, RFC 6532), control characters
    or ``=?`` (which readers would decode as RFC 2047) are written as
    RFC 2231 ``name*=utf-8''...``, split into ``name*0*``, ``name*1*``, ...
    sections when long. The pieces are separated by ``"; "`` so
    :func:`fold` can break between them; nothing is folded here.

    Raises:
        ValueError: a name that is not a token (or contains ``*``), a value
            with CR or LF (header injection) or lone surrogates.
    """
    items = params.items() if isinstance(params, Mapping) else params
    pieces: list[str] = []
    for name, value in items:
        if _TOKEN_RE.match(name) is None or "*" in name or "'" in name or "%" in name:
            raise ValueError(f"parameter name {name!r} is not an RFC 2231 attribute token")
        if "\r" in value or "\n" in value:
            raise ValueError(f"parameter {name!r} contains CR or LF (header injection)")
        if re.search("[\ud800-\udfff]", value):
            raise ValueError(f"parameter {name!r} contains lone surrogates")
        plain = value.isprintable() and "=?" not in value and (utf8 or value.isascii())
        if plain:
            # Unquoted only with RFC 2231 attribute-chars: a bare "*", "'" or
            # "%" is a valid token but sends some readers (the stdlib's
            # header registry among them) into RFC 2231 parsing.
            if value and all(char in _ATTRIBUTE_SAFE for char in value):
                pieces.append(f"; {name}={value}")
            else:
                escaped = value.replace("\\", "\\\\").replace('"', '\\"')
                pieces.append(f'; {name}="{escaped}"')
            continue
        encoded = _percent_encode(value)
        if len(f"{name}*=utf-8''{encoded}") <= _PIECE_LENGTH:
            pieces.append(f"; {name}*=utf-8''{encoded}")
            continue
        start = 0
        number = 0
        while start < len(encoded):
            prefix = f"{name}*{number}*=" + ("utf-8''" if number == 0 else "")
            end = min(start + max(_PIECE_LENGTH - len(prefix), 12), len(encoded))
            # Never split a %XX triple.
            if end < len(encoded):
                percent = encoded.rfind("%", end - 2, end)
                if percent >= 0:
                    end = percent
            pieces.append(f"; {prefix}{encoded[start:end]}")
            start = end
            number += 1
    return "".join(pieces)

