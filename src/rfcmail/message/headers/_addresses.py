"""Addresses: parsing and formatting RFC 5322 section 3.4 mailboxes and groups.

Parsing accepts the current syntax of RFC 5322 section 3.4 and 3.4.1, the
obsolete syntax of section 4.4 (routes, obs-local-part, obs-domain, empty
list elements), UTF-8 addresses (RFC 6532 section 3.2) and RFC 2047 encoded
words in display names (RFC 2047 section 5(3), phrases only: never in quoted
strings or addr-specs, SECURITY.md A4.4). Forms where a reader could take a
different address than the one a mail system delivers to (SECURITY.md A4.2,
CVE-2023-27043) are never silently resolved: the lenient API returns every
candidate addr-spec with an :class:`InvalidAddress` defect and the strict API
raises. Formatting quotes or encodes display names as a phrase needs and
writes IDNA A-labels unless UTF-8 output is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..._abnf import DOT_ATOM_TEXT
from ...errors import RemoteProtocolError
from .._defects import Defect, InvalidAddress, ObsoleteSyntax
from ._encoded_words import MAX_ENCODED_WORD, decode_encoded_words, encode_words
from ._tokens import (
    ATOM,
    BROKEN,
    DOMAIN_LITERAL,
    QUOTED,
    SPECIAL,
    Token,
    fix_surrogates,
    sanitize,
    tokenize,
    unfold,
)

__all__ = [
    "Address",
    "Group",
    "format_address",
    "format_address_list",
    "parse_address",
    "parse_address_list",
]

# dot-atom-text with atext widened by RFC 6532 section 3.2 (UTF8-non-ascii).
_ATEXT = r"A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\ud7ff\ue000-\U0010ffff"
_DOT_ATOM_RE = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*\Z")
_PHRASE_ATOMS_RE = re.compile(rf"[{_ATEXT}]+(?: [{_ATEXT}]+)*\Z")
# Fast-path text: no C1 controls, line separators or bidi controls, which
# the full path replaces or reports.
_FAST_TEXT = r"A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u00a0-\u2027\u202f-\u2065\u206a-\ud7ff\ue000-\U0010ffff"
# Characters never written raw: C0 and C1 controls (HTAB aside), DEL and the
# Unicode line and paragraph separators (SECURITY.md A4.1).
_CONTROL_RE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    """One mailbox (RFC 5322 section 3.4).

    Attributes:
        display_name: the decoded display name, "" when there is none.
        local_part: the local part, unquoted (``john doe`` for
            ``"john doe"@example.org``).
        domain: the domain as written (``[192.0.2.1]`` for a domain literal;
            U-labels stay U-labels).
    """

    display_name: str = ""
    local_part: str = ""
    domain: str = ""

    @property
    def addr_spec(self) -> str:
        """``local@domain``, the local part quoted when it is not a dot-atom; "" when empty."""
        if not self.local_part and not self.domain:
            return ""
        return f"{_quote_local_part(self.local_part)}@{self.domain}"

    @property
    def domain_ascii(self) -> str:
        """The domain with IDNA A-labels (RFC 5890), or as written if it cannot be converted."""
        return _to_ascii(self.domain)

    @property
    def domain_unicode(self) -> str:
        """The domain with U-labels where A-labels decode, otherwise as written."""
        return _to_unicode(self.domain)

    def __str__(self) -> str:
        """``format_address(self, utf8=True)``: for display, so non-ASCII stays readable.

        Use :func:`format_address` with ``utf8=False`` for a 7-bit header.
        """
        return format_address(self, utf8=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """A named group of mailboxes (RFC 5322 section 3.4), possibly empty.

    Attributes:
        display_name: the group's decoded name.
        members: its mailboxes.
    """

    display_name: str = ""
    members: tuple[Address, ...] = ()

    def __str__(self) -> str:
        return format_address(self, utf8=True)


def _to_ascii(domain: str) -> str:
    if domain.isascii() or domain.startswith("["):
        return domain
    labels = []
    for label in domain.split("."):
        if label.isascii():
            labels.append(label)
            continue
        try:
            labels.append(label.encode("idna").decode("ascii"))
        except (UnicodeError, ValueError):
            return domain
    return ".".join(labels)


def _to_unicode(domain: str) -> str:
    if "xn--" not in domain.lower():
        return domain
    labels = []
    for label in domain.split("."):
        if label.lower().startswith("xn--"):
            try:
                labels.append(label.encode("ascii").decode("idna"))
            except (UnicodeError, ValueError):
                labels.append(label)
        else:
            labels.append(label)
    return ".".join(labels)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _quote_local_part(local_part: str) -> str:
    if _DOT_ATOM_RE.match(local_part) is not None:
        return local_part
    return _quote(local_part)


# --- parsing -----------------------------------------------------------------

# Runs of text that may hold a candidate addr-spec (SECURITY.md A4.2).
_CANDIDATE_RUN_RE = re.compile(r"[^\s<>()\[\]\",;:\\\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _candidate_pairs(text: str) -> list[tuple[str, str]]:
    """Each ``local@domain`` that appears in ``text``, in order.

    Written with runs and a split rather than one regex like
    ``[^@]+@[^@]+``: that regex backtracks from every start position of a
    long run without "@", which is quadratic (SECURITY.md A4.5).
    """
    pairs: list[tuple[str, str]] = []
    for run in _CANDIDATE_RUN_RE.findall(text):
        if "@" not in run:
            continue
        parts = run.split("@")
        index = 0
        while index + 1 < len(parts):
            if parts[index] and parts[index + 1]:
                pairs.append((parts[index], parts[index + 1]))
                index += 2
            else:
                index += 1
    return pairs
_AMBIGUOUS_HINT = "550 5.6.0 Ambiguous or invalid address in a header field"


class _AddrSpecError(Exception):
    """Internal: the tokens are not an addr-spec."""


def _join_words(tokens: list[Token]) -> str:
    """The words of a phrase as one string: one space where CFWS separated them."""
    out: list[str] = []
    previous_end = -1
    for token in tokens:
        if out and token[2] > previous_end:
            out.append(" ")
        out.append(token[1])
        previous_end = token[3]
    return "".join(out)


def _display_name(tokens: list[Token], defects: list[Defect]) -> str:
    """Decode a phrase: encoded words in atoms only (RFC 2047 section 5(3))."""
    segments: list[str] = []
    run: list[str] = []
    previous_end = -1
    for token in tokens:
        gap = " " if segments or run else ""
        if token[2] <= previous_end:
            gap = ""
        previous_end = token[3]
        if token[0] == QUOTED:
            if run:
                segments.append(decode_encoded_words("".join(run), defects=defects))
                run = []
            segments.append(gap)
            segments.append(sanitize(fix_surrogates(token[1], defects), defects))
        else:
            run.append(gap)
            run.append(token[1])
    if run:
        segments.append(decode_encoded_words("".join(run), defects=defects))
    return "".join(segments)


def _addr_spec(tokens: list[Token], defects: list[Defect]) -> tuple[str, str]:
    """Parse ``local-part "@" domain`` from tokens (RFC 5322 3.4.1 and 4.4)."""
    ats = [i for i, t in enumerate(tokens) if t[0] == SPECIAL and t[1] == "@"]
    if len(ats) != 1:
        raise _AddrSpecError
    at = ats[0]
    local_tokens, domain_tokens = tokens[:at], tokens[at + 1 :]
    if not local_tokens or not domain_tokens:
        raise _AddrSpecError
    obsolete = False
    local = _dotted(local_tokens, (ATOM, QUOTED))
    if len(local_tokens) > 1 and any(t[0] == QUOTED for t in local_tokens):
        obsolete = True  # obs-local-part: word *("." word)
    if len(domain_tokens) == 1 and domain_tokens[0][0] == DOMAIN_LITERAL:
        domain = domain_tokens[0][1]
    else:
        domain = _dotted(domain_tokens, (ATOM,))
    for part in (local_tokens, domain_tokens):
        for before, after in zip(part, part[1:]):
            if after[2] > before[3]:
                obsolete = True  # CFWS inside a dot-atom: obs-local-part / obs-domain
    if obsolete:
        defects.append(ObsoleteSyntax(f"obsolete addr-spec syntax in {local}@{domain}"))
    return local, domain


def _dotted(tokens: list[Token], kinds: tuple[str, ...]) -> str:
    """``word *("." word)`` as a string, or _AddrSpecError."""
    pieces: list[str] = []
    expect_word = True
    for token in tokens:
        if expect_word:
            if token[0] not in kinds:
                raise _AddrSpecError
            pieces.append(token[1])
        elif token[0] != SPECIAL or token[1] != ".":
            raise _AddrSpecError
        else:
            pieces.append(".")
        expect_word = not expect_word
    if expect_word:
        raise _AddrSpecError
    return "".join(pieces)


def _is_phrase(tokens: list[Token], defects: list[Defect]) -> bool:
    """True when the tokens are a phrase (``1*word``, or obs-phrase with dots)."""
    dots = False
    for token in tokens:
        if token[0] in (ATOM, QUOTED):
            continue
        if token[0] == SPECIAL and token[1] == ".":
            dots = True
            continue
        return False
    if dots:
        defects.append(ObsoleteSyntax("'.' in a phrase (obs-phrase, RFC 5322 section 4.1)"))
    return True


class _Parser:
    """One parse of an address list over its tokens."""

    def __init__(self, text: str, defects: list[Defect]) -> None:
        self.text = text
        self.defects = defects
        self.tokens = tokenize(text, defects)
        self.last_reported: Defect | None = None

    def candidates(self, tokens: list[Token], why: str) -> list[Address]:
        """Every addr-spec-looking string in the tokens' source text (A4.2)."""
        if not tokens:
            return []
        raw = self.text[tokens[0][2] : tokens[-1][3]]
        found = [
            Address(local_part=fix_surrogates(local, None), domain=fix_surrogates(domain, None))
            for local, domain in _candidate_pairs(raw)
        ]
        shown = raw if len(raw) <= 200 else raw[:200] + "..."
        if found:
            listed = ", ".join(a.addr_spec for a in found[:20]) + (", ..." if len(found) > 20 else "")
            self.report(InvalidAddress, f"{why} in {shown!r}; candidates: {listed}")
        else:
            self.report(InvalidAddress, f"{why} in {shown!r}; no address found")
        return found

    def report(self, kind: type[Defect], detail: str) -> None:
        """Append a defect unless it repeats the last one (runs of the same junk).

        A megabyte of ``;;;;`` or ``a,a,a,`` then costs one defect, not a
        million (SECURITY.md A4.5).
        """
        last = self.last_reported
        if last is not None and self.defects and self.defects[-1] is last:
            if type(last) is kind and last.detail == detail:
                return
        self.last_reported = kind(detail)
        self.defects.append(self.last_reported)

    def mailbox(self, tokens: list[Token]) -> list[Address]:
        """Parse one list element: ``name-addr / addr-spec``, or candidates."""
        defects = self.defects
        if not tokens:
            self.report(ObsoleteSyntax, "empty element in an address list (obs-addr-list)")
            return []
        if any(t[0] == BROKEN for t in tokens):
            return self.candidates(tokens, "unterminated comment, quoted string or stray character")
        opens = [i for i, t in enumerate(tokens) if t[0] == SPECIAL and t[1] == "<"]
        if not opens and not any(t[0] == SPECIAL and t[1] == "@" for t in tokens):
            self.report(InvalidAddress, "an element without '@' or '<' is not an address")
            return []
        if not opens:
            try:
                local, domain = _addr_spec(tokens, defects)
            except _AddrSpecError:
                return self.candidates(tokens, "not an address")
            return [Address(local_part=fix_surrogates(local, defects), domain=fix_surrogates(domain, defects))]
        if len(opens) > 1:
            return self.candidates(tokens, "more than one '<'")
        lt = opens[0]
        closes = [i for i, t in enumerate(tokens) if t[0] == SPECIAL and t[1] == ">"]
        if not closes or closes[0] < lt:
            if closes:
                return self.candidates(tokens, "'>' before '<'")
            defects.append(InvalidAddress("missing '>' at the end of an angle-addr"))
            gt = len(tokens)
        else:
            gt = closes[0]
            if len(closes) > 1 or gt != len(tokens) - 1:
                return self.candidates(tokens, "text after '>'")
        phrase = tokens[:lt]
        if not _is_phrase(phrase, defects):
            return self.candidates(tokens, "a display name that is not a phrase")
        inner = tokens[lt + 1 : gt]
        if inner and inner[0][0] == SPECIAL and inner[0][1] == "@":
            colons = [i for i, t in enumerate(inner) if t[0] == SPECIAL and t[1] == ":"]
            if not colons:
                return self.candidates(tokens, "a route without ':'")
            defects.append(ObsoleteSyntax("source route in an angle-addr dropped (obs-route)"))
            inner = inner[colons[0] + 1 :]
        display = _display_name(phrase, defects)
        if not inner:
            defects.append(InvalidAddress("empty angle-addr '<>'"))
            return [Address(display_name=display)]
        try:
            local, domain = _addr_spec(inner, defects)
        except _AddrSpecError:
            return self.candidates(tokens, "not an addr-spec between '<' and '>'")
        address = Address(
            display_name=display,
            local_part=fix_surrogates(local, defects),
            domain=fix_surrogates(domain, defects),
        )
        _check_display_name(address, defects)
        return [address]

    def parse(self) -> list[Address | Group]:
        """Parse the whole address-list (RFC 5322 section 3.4, 4.4)."""
        tokens = self.tokens
        result: list[Address | Group] = []
        count = len(tokens)
        if count == 0:
            return result
        index = 0
        previous_stop = ""
        group_name: list[Token] | None = None
        members: list[Address] = []
        while True:
            # This element ends at ',' ';' or ':' outside '<...>', or at the end.
            end = index
            in_angle = False
            stop = ""
            while end < count:
                token = tokens[end]
                if token[0] == SPECIAL:
                    value = token[1]
                    if value == "<":
                        in_angle = True
                    elif value == ">":
                        in_angle = False
                    elif not in_angle and value in ",;:":
                        stop = value
                        break
                end += 1
            element = tokens[index:end]
            if stop == ":" and group_name is None:
                group_name = element
                members = []
            elif stop == ":":
                if element:
                    members.extend(self.candidates(element + [tokens[end]], "':' inside a group"))
                else:
                    self.report(InvalidAddress, "':' inside a group")
            elif group_name is not None:
                # An empty group ("name:;") is valid; other empty elements are obsolete.
                if element or not (previous_stop == ":" and stop in (";", "")):
                    members.extend(self.mailbox(element))
                if stop == ";":
                    result.extend(self._finish_group(group_name, members))
                    group_name = None
            elif stop == ";":
                if element:
                    result.extend(self.candidates(element + [tokens[end]], "';' outside a group"))
                else:
                    self.report(InvalidAddress, "';' outside a group")
            elif element or previous_stop != ";":
                result.extend(self.mailbox(element))
            if stop == "":
                break
            previous_stop = stop
            index = end + 1
        if group_name is not None:
            self.defects.append(InvalidAddress("group not closed with ';'"))
            result.extend(self._finish_group(group_name, members))
        return result

    def _finish_group(self, name_tokens: list[Token], members: list[Address]) -> list[Address | Group]:
        extra: list[Address | Group] = []
        if _is_phrase(name_tokens, self.defects):
            name = _display_name(name_tokens, self.defects)
        else:
            extra.extend(self.candidates(name_tokens, "a group name that is not a phrase"))
            name = sanitize(fix_surrogates(_join_words(name_tokens), self.defects), self.defects)
        if not name_tokens:
            self.defects.append(InvalidAddress("group without a display name"))
        return [*extra, Group(display_name=name, members=tuple(members))]


def _check_display_name(address: Address, defects: list[Defect]) -> None:
    """Flag a display name that looks like another address (A4.2: ``"a@b" <c@d>``).

    The quoted display name is only a name, so the address is the one in
    angle brackets; the defect tells the reader may be misled.
    """
    shown = address.display_name
    if "@" not in shown:
        return
    for local, domain in _candidate_pairs(shown):
        if local != address.local_part or domain.lower() != address.domain.lower():
            defects.append(
                InvalidAddress(
                    f"display name {shown!r} looks like an address other than {address.addr_spec}"
                )
            )
            return


# Fast path: comma-separated ``addr-spec``, ``atoms <addr-spec>`` or
# ``"quoted" <addr-spec>`` with plain dot-atoms and no comments.
_FAST_DOT_ATOM = DOT_ATOM_TEXT
_FAST_ELEMENT_RE = re.compile(
    r"[ \t]*(?:"
    rf"(?:(?P<atoms>[{_FAST_TEXT}]+(?:[ \t]+[{_FAST_TEXT}]+)*)"
    rf'|"(?P<quoted>[ \t.,()<>\[\]:;{_FAST_TEXT}]*)")?'
    rf"[ \t]*<(?P<local>{_FAST_DOT_ATOM})@(?P<domain>{_FAST_DOT_ATOM})>"
    rf"|(?P<bare_local>{_FAST_DOT_ATOM})@(?P<bare_domain>{_FAST_DOT_ATOM})"
    r")[ \t]*(?:,|\Z)"
)
_WSP_RUN_RE = re.compile(r"[ \t]+")
_EMPTY_PATH_RE = re.compile(r"[ \t\r\n]*<[ \t\r\n]*>[ \t\r\n]*\Z")


def _fast_parse(text: str, defects: list[Defect]) -> list[Address | Group] | None:
    """Parse the common well-formed lists with one regex per element, or None."""
    result: list[Address | Group] = []
    pos = 0
    length = len(text)
    match_at = _FAST_ELEMENT_RE.match
    while pos < length:
        match = match_at(text, pos)
        if match is None or match.end() == pos:
            return None
        local = match.group("local")
        if local is not None:
            atoms = match.group("atoms")
            if atoms is not None:
                name = _WSP_RUN_RE.sub(" ", atoms)
                if "=?" in name:
                    name = decode_encoded_words(name, defects=defects)
            else:
                name = match.group("quoted") or ""
            address = Address(display_name=name, local_part=local, domain=match.group("domain"))
            if "@" in name:
                _check_display_name(address, defects)
            result.append(address)
        else:
            result.append(Address(local_part=match.group("bare_local"), domain=match.group("bare_domain")))
        pos = match.end()
        if text[pos - 1] == "," and pos >= length:
            return None  # a trailing comma is obsolete syntax: let the full parser report it
    return result


def _parse(value: str, defects: list[Defect], *, fast: bool = True) -> list[Address | Group]:
    text = unfold(value)
    if fast and "@" in text:
        result = _fast_parse(text, defects)
        if result is not None:
            return result
    return _Parser(text, defects).parse()


def parse_address_list(
    value: str, *, defects: list[Defect] | None = None, strict: bool = False
) -> list[Address | Group]:
    """Parse an address-list field body (From, To, Cc, Bcc, Reply-To and their Resent- forms).

    ABNF (RFC 5322 sections 3.4 and 4.4)::

        address-list = (address *("," address)) / obs-addr-list
        address      = mailbox / group
        mailbox      = name-addr / addr-spec
        name-addr    = [display-name] angle-addr
        angle-addr   = [CFWS] "<" addr-spec ">" [CFWS] / obs-angle-addr
        group        = display-name ":" [group-list] ";" [CFWS]
        display-name = phrase
        addr-spec    = local-part "@" domain
        obs-angle-addr = [CFWS] "<" obs-route addr-spec ">" [CFWS]
        obs-route    = obs-domain-list ":"

    Display names are decoded (encoded words in atoms only, RFC 2047 section
    5(3)); encoded words in quoted strings and addr-specs are left as they
    are (SECURITY.md A4.4). Routes are dropped and obsolete forms accepted,
    each with an :class:`ObsoleteSyntax` defect. An element that is not a
    mailbox, or that could be read as more than one (``a@b)<c@d>``,
    ``a@b(<c@d>``, ``a@b@<c@d>``, ``a@b <c@d>``), yields every addr-spec
    found in its text, without display names, and an
    :class:`InvalidAddress` defect (SECURITY.md A4.2). A quoted display name
    that looks like another address (``"a@b" <c@d>``) is only a name: the
    result is the mailbox ``c@d`` with the name ``a@b`` and an
    :class:`InvalidAddress` defect. A run of identical junk (``;;;;``,
    ``a,a,a``) is reported once. C1 controls and U+2028/U+2029 are not
    atom characters (they could end a line for some readers).

    Args:
        value: the field body, possibly folded, possibly with raw UTF-8
            (RFC 6532) or surrogate-escaped 8-bit bytes.
        defects: where to append defects.
        strict: raise instead of returning candidates.

    Returns:
        The mailboxes and groups in order.

    Raises:
        RemoteProtocolError: only with ``strict=True``, when the list holds
            an invalid or ambiguous element (an :class:`InvalidAddress`
            defect); its ``reply_hint`` is a ``550 5.6.0`` reply.
    """
    found: list[Defect] = []
    result = _parse(value, found)
    if strict:
        for defect in found:
            if isinstance(defect, InvalidAddress):
                raise RemoteProtocolError(
                    f"invalid address list: {defect.detail}", reply_hint=_AMBIGUOUS_HINT
                )
    if defects is not None:
        defects.extend(found)
    return result


def parse_address(value: str, *, defects: list[Defect] | None = None) -> Address | None:
    """Parse a single-mailbox field body (Sender, Resent-Sender; RFC 5322 3.6.2).

    ABNF: ``mailbox = name-addr / addr-spec``. A list with more than one
    mailbox, or a group, gives its first mailbox and an
    :class:`InvalidAddress` defect; the path ``<>`` (RFC 5322 section
    3.6.7, Return-Path) gives an empty :class:`Address` without a defect.

    Returns:
        The mailbox, or None when there is none.
    """
    if _EMPTY_PATH_RE.match(value) is not None:
        return Address()
    found: list[Defect] = []
    items = _parse(value, found)
    mailboxes: list[Address] = []
    for item in items:
        if isinstance(item, Group):
            found.append(InvalidAddress("a group where a single mailbox is expected"))
            mailboxes.extend(item.members)
        else:
            mailboxes.append(item)
    if len(mailboxes) > 1:
        found.append(InvalidAddress(f"{len(mailboxes)} mailboxes where one is expected"))
    elif not mailboxes:
        found.append(InvalidAddress("no mailbox"))
    if defects is not None:
        defects.extend(found)
    return mailboxes[0] if mailboxes else None


# --- formatting ----------------------------------------------------------------


def _format_phrase(name: str, utf8: bool) -> str:
    """A display name as a phrase: atoms, a quoted string or encoded words."""
    if "\r" in name or "\n" in name:
        raise ValueError("display name contains CR or LF (header injection)")
    if name == "":
        return '""'
    ascii_ok = name.isascii() or utf8
    encode = "=?" in name or _CONTROL_RE.search(name) is not None or not ascii_ok
    if not encode:
        return name if _PHRASE_ATOMS_RE.match(name) is not None else _quote(name)
    if re.search("[\ud800-\udfff]", name):
        raise ValueError("display name contains lone surrogates")
    # The whole name as encoded words keeps its exact whitespace.
    return " ".join(encode_words(name, MAX_ENCODED_WORD, MAX_ENCODED_WORD))


def _format_mailbox(address: Address, utf8: bool) -> str:
    local, domain = address.local_part, address.domain
    for part in (local, domain, address.display_name):
        if "\r" in part or "\n" in part:
            raise ValueError("address contains CR or LF (header injection)")
    for part in (local, domain):
        if _CONTROL_RE.search(part) is not None:
            raise ValueError(f"control character in address {address.addr_spec!r}")
    if not local and not domain:
        spec = ""
    else:
        if not utf8:
            domain = _to_ascii(domain)
            if not local.isascii() or not domain.isascii():
                raise ValueError(
                    f"non-ASCII address {address.addr_spec!r} needs utf8=True (RFC 6532)"
                )
        spec = f"{_quote_local_part(local)}@{domain}"
    if not address.display_name:
        return spec if spec else "<>"
    return f"{_format_phrase(address.display_name, utf8)} <{spec}>"


def format_address(item: Address | Group, *, utf8: bool = False) -> str:
    """Format a mailbox or a group for a header field (RFC 5322 section 3.4).

    Display names are written as atoms when they can be, else as a quoted
    string; names with non-ASCII (unless ``utf8``), control characters or
    ``=?`` become RFC 2047 encoded words (phrase rules, section 5(3)).
    Without ``utf8`` the domain is written with IDNA A-labels. The result
    is never folded (use :func:`fold`).

    Raises:
        ValueError: CR or LF anywhere (header injection), or a non-ASCII
            local part without ``utf8`` (it needs RFC 6532).
    """
    if isinstance(item, Group):
        members = ", ".join(_format_mailbox(m, utf8) for m in item.members)
        return f"{_format_phrase(item.display_name, utf8)}:{' ' if members else ''}{members};"
    return _format_mailbox(item, utf8)


def format_address_list(items: Iterable[Address | Group], *, utf8: bool = False) -> str:
    """Format several mailboxes and groups, separated by ``", "``; see :func:`format_address`."""
    return ", ".join(format_address(item, utf8=utf8) for item in items)

