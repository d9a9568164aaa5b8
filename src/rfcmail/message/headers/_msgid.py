"""Message identifiers: RFC 5322 section 3.6.4 msg-id, with section 4.5.4 obsolete forms.

``Message-ID``, ``Content-ID`` (RFC 2045 section 7) and ``Resent-Message-ID``
hold one msg-id; ``In-Reply-To`` and ``References`` hold a list, where RFC
822 also allowed phrases between the ids (kept out of the result, reported).
Ids come back as ``<left@right>`` with CFWS removed.
"""

from __future__ import annotations

import re

from ..._abnf import DOT_ATOM_TEXT
from .._defects import Defect, InvalidMessageId, ObsoleteSyntax
from ._addresses import _AddrSpecError, _dotted, _quote_local_part
from ._tokens import ATOM, BROKEN, DOMAIN_LITERAL, QUOTED, SPECIAL, Token, fix_surrogates, sanitize, tokenize, unfold

__all__ = ["parse_msgid", "parse_msgid_list"]

# msg-id = "<" id-left "@" id-right ">"; id-left = dot-atom-text; id-right = dot-atom-text / no-fold-literal
_ID = rf"<{DOT_ATOM_TEXT}@(?:{DOT_ATOM_TEXT}|\[[\x21-\x5a\x5e-\x7e]*\])>"
_FAST_ONE_RE = re.compile(rf"[ \t\r\n]*({_ID})[ \t\r\n]*\Z")
_FAST_LIST_RE = re.compile(rf"(?:[ \t\r\n]*{_ID})+[ \t\r\n]*\Z")
_FAST_FIND_RE = re.compile(_ID)
_WHITESPACE_RE = re.compile(r"[ \t\r\n]+")


def _id_from_tokens(tokens: list[Token], raw: str, defects: list[Defect]) -> str | None:
    """``id-left "@" id-right`` from tokens; the raw text is the fallback."""
    ats = [i for i, t in enumerate(tokens) if t[0] == SPECIAL and t[1] == "@"]
    if len(ats) == 1 and not any(t[0] == BROKEN for t in tokens):
        left, right = tokens[: ats[0]], tokens[ats[0] + 1 :]
        try:
            local = _dotted(left, (ATOM, QUOTED))
            if len(right) == 1 and right[0][0] == DOMAIN_LITERAL:
                domain = right[0][1]
            else:
                domain = _dotted(right, (ATOM,))
        except _AddrSpecError:
            pass
        else:
            left_text = _quote_local_part(local)
            # CFWS anywhere inside the brackets, or a quoted id-left, is obs-id-left/obs-id-right.
            if raw != f"{left_text}@{domain}" or any(t[0] == QUOTED for t in left):
                defects.append(ObsoleteSyntax(f"obsolete msg-id syntax in {raw.strip()[:200]!r}"))
            found = f"<{left_text}@{domain}>"
            return sanitize(fix_surrogates(found, defects), defects)
    compact = _WHITESPACE_RE.sub("", raw)
    if not compact:
        defects.append(InvalidMessageId("empty msg-id '<>'"))
        return None
    defects.append(InvalidMessageId(f"not a msg-id: <{compact[:200]}>"))
    return sanitize(fix_surrogates(f"<{compact}>", defects), defects)


def _scan(value: str, defects: list[Defect], *, single: bool) -> list[str]:
    text = unfold(value)
    tokens = tokenize(text, defects)
    ids: list[str] = []
    outside: list[Token] = []
    index = 0
    count = len(tokens)
    while index < count:
        token = tokens[index]
        if token[0] == SPECIAL and token[1] == "<":
            end = index + 1
            while end < count and not (tokens[end][0] == SPECIAL and tokens[end][1] in "<>"):
                end += 1
            inner = tokens[index + 1 : end]
            if end < count and tokens[end][1] == ">":
                raw_end = tokens[end][2]
                index = end + 1
            else:
                defects.append(InvalidMessageId("msg-id without its closing '>'"))
                raw_end = inner[-1][3] if inner else token[3]
                index = end
            found = _id_from_tokens(inner, text[token[3] : raw_end], defects)
            if found is not None:
                ids.append(found)
        else:
            outside.append(token)
            index += 1
    if outside:
        if single and not ids:
            # No angle brackets at all: "left@right" alone.
            raw = text[outside[0][2] : outside[-1][3]]
            found = _id_from_tokens(outside, raw, defects)
            if found is not None and not any(isinstance(d, InvalidMessageId) for d in defects[-1:]):
                defects.append(InvalidMessageId("msg-id without angle brackets"))
            return [found] if found is not None else []
        words = [t for t in outside if t[0] in (ATOM, QUOTED) or (t[0] == SPECIAL and t[1] == ".")]
        if len(words) == len(outside) and not single:
            defects.append(ObsoleteSyntax("phrase between msg-ids (RFC 822) ignored"))
        else:
            shown = " ".join(t[1] for t in outside)[:200]
            defects.append(InvalidMessageId(f"text outside msg-ids ignored: {shown!r}"))
    return ids


def parse_msgid(value: str, *, defects: list[Defect] | None = None) -> str | None:
    """Parse a field holding one msg-id (Message-ID, Content-ID, Resent-Message-ID).

    ABNF (RFC 5322 sections 3.6.4 and 4.5.4)::

        msg-id      = [CFWS] "<" id-left "@" id-right ">" [CFWS]
        id-left     = dot-atom-text / obs-id-left      ; obs-id-left = local-part
        id-right    = dot-atom-text / no-fold-literal / obs-id-right  ; obs-id-right = domain

    Obsolete forms (quoted id-left, CFWS inside) are accepted with an
    :class:`ObsoleteSyntax` defect. Control characters and line separators
    are replaced by U+FFFD (ids are copied into References by replies). An id without ``@`` or otherwise broken
    is returned as ``<text>`` with whitespace removed and an
    :class:`InvalidMessageId` defect, so threading still works; so is one
    without angle brackets.

    Returns:
        The id as ``<left@right>``, or None when there is none.
    """
    match = _FAST_ONE_RE.match(value)
    if match is not None:
        return match.group(1)
    found: list[Defect] = []
    ids = _scan(value, found, single=True)
    if len(ids) > 1:
        found.append(InvalidMessageId(f"{len(ids)} msg-ids where one is expected"))
    elif not ids:
        found.append(InvalidMessageId("no msg-id"))
    if defects is not None:
        defects.extend(found)
    return ids[0] if ids else None


def parse_msgid_list(value: str, *, defects: list[Defect] | None = None) -> list[str]:
    """Parse In-Reply-To or References: a list of msg-ids.

    ABNF (RFC 5322 sections 3.6.4 and 4.5.4)::

        references  = "References:" 1*msg-id CRLF
        obs-references = "References:" *(phrase / msg-id) CRLF

    Phrases between ids (RFC 822) are skipped with an
    :class:`ObsoleteSyntax` defect; other stray text with an
    :class:`InvalidMessageId` defect. Each id is normalised as in
    :func:`parse_msgid`.

    Returns:
        The ids in order (duplicates kept).
    """
    if _FAST_LIST_RE.match(value) is not None:
        return _FAST_FIND_RE.findall(value)
    found: list[Defect] = []
    ids = _scan(value, found, single=False)
    if defects is not None:
        defects.extend(found)
    return ids
