"""SMTP paths and ESMTP parameters: the grammar of RFC 5321 section 4.1.2.

Built on the shared fragments of :mod:`rfcmail._abnf`, extended for
internationalised mail as RFC 6531 section 3.3 says (UTF-8 in local parts,
U-labels in domains, UTF-8 in esmtp-value). The parser here reads what
follows ``MAIL FROM:`` and ``RCPT TO:``::

    Reverse-path   = Path / "<>"
    Forward-path   = Path
    Path           = "<" [ A-d-l ":" ] Mailbox ">"
    A-d-l          = At-domain *( "," At-domain )   ; source route, ignored
    At-domain      = "@" Domain
    Mail-parameters = esmtp-param *(SP esmtp-param)
    esmtp-param    = esmtp-keyword ["=" esmtp-value]
"""

from __future__ import annotations

import re

from .._abnf import (
    ADDRESS_LITERAL,
    ATEXT_UTF8,
    DOMAIN,
    ESMTP_KEYWORD,
    LET_DIG,
    QUOTED_PAIR_SMTP,
    QTEXT_SMTP_UTF8,
)

__all__ = [
    "ESMTP_KEYWORD_RE",
    "ESMTP_VALUE_RE",
    "PathSyntaxError",
    "is_mailbox",
    "parse_path_and_params",
]

# Dot-string with atext =/ UTF8-non-ascii (RFC 6531 section 3.3)
_DOT_STRING_U = rf"{ATEXT_UTF8}+(?:\.{ATEXT_UTF8}+)*"
_QUOTED_STRING_U = rf'"(?:{QTEXT_SMTP_UTF8}|{QUOTED_PAIR_SMTP})*"'
# sub-domain =/ U-label (RFC 6531 section 3.3); the U-label rules of RFC 5890
# are IDNA's business: here it is any run of letters, digits, hyphens and
# non-ASCII characters that starts with a letter, digit or non-ASCII.
_SUB_DOMAIN_U = rf"(?:{LET_DIG}|[^\x00-\x7f])(?:[A-Za-z0-9\-]|[^\x00-\x7f])*"
_DOMAIN_U = rf"{_SUB_DOMAIN_U}(?:\.{_SUB_DOMAIN_U})*"
_MAILBOX_U = rf"(?:{_DOT_STRING_U}|{_QUOTED_STRING_U})@(?:{_DOMAIN_U}|{ADDRESS_LITERAL})"
_ADL = rf"@{DOMAIN}(?:,@{DOMAIN})*"

_MAILBOX_RE = re.compile(rf"{_MAILBOX_U}\Z")
_PATH_RE = re.compile(rf"<(?:{_ADL}:)?({_MAILBOX_U})>")
_POSTMASTER_RE = re.compile(r"<(postmaster)>", re.IGNORECASE)

ESMTP_KEYWORD_RE = re.compile(rf"{ESMTP_KEYWORD}\Z")
# esmtp-value = 1*(%d33-60 / %d62-126) ; RFC 6531 section 3.3 adds UTF8-non-ascii
ESMTP_VALUE_RE = re.compile(r"(?:[\x21-\x3c\x3e-\x7e]|[^\x00-\x7f])+\Z")
_PARAM_RE = re.compile(rf"({ESMTP_KEYWORD})(?:=((?:[\x21-\x3c\x3e-\x7e]|[^\x00-\x7f])+))?\Z")

# RFC 5321 section 4.5.3.1.1 and 4.5.3.1.2
MAX_LOCAL_PART = 64
MAX_DOMAIN = 255


class PathSyntaxError(ValueError):
    """A path or parameter list does not follow RFC 5321 section 4.1.2."""


def is_mailbox(text: str) -> bool:
    """Whether ``text`` is a Mailbox (``local-part@domain``), UTF-8 allowed (RFC 6531).

    The local part and the domain must also fit the lengths of RFC 5321
    section 4.5.3.1 (64 and 255 octets).
    """
    if not _MAILBOX_RE.match(text):
        return False
    local, _, domain = text.rpartition("@")
    return len(local.encode("utf-8")) <= MAX_LOCAL_PART and len(domain.encode("utf-8")) <= MAX_DOMAIN


def parse_path_and_params(
    text: str, *, allow_null: bool, allow_postmaster: bool
) -> tuple[str, tuple[tuple[str, str | None], ...]]:
    """Parse ``<path> [SP params]`` as found after ``FROM:`` or ``TO:``.

    Args:
        text: the rest of the command line after the colon (one run of
            spaces before the path is tolerated: many clients send it).
        allow_null: ``<>`` is allowed (reverse path).
        allow_postmaster: ``<Postmaster>`` without a domain is allowed
            (forward path, RFC 5321 section 4.1.1.3).

    Returns:
        The mailbox (``""`` for ``<>``; source routes dropped, RFC 5321
        appendix F.2) and the parameters with upper-cased keywords.

    Raises:
        PathSyntaxError: the path or a parameter is malformed, or a
            parameter is repeated.
    """
    text = text.lstrip(" ")
    if allow_null and text.startswith("<>"):
        mailbox, end = "", 2
    else:
        match = _PATH_RE.match(text)
        if match is not None:
            mailbox, end = match[1], match.end()
            local, _, domain = mailbox.rpartition("@")
            if len(local.encode("utf-8")) > MAX_LOCAL_PART or len(domain.encode("utf-8")) > MAX_DOMAIN:
                raise PathSyntaxError("local part or domain too long (RFC 5321 section 4.5.3.1)")
        else:
            pm = _POSTMASTER_RE.match(text) if allow_postmaster else None
            if pm is None:
                raise PathSyntaxError("malformed path: expected <mailbox>")
            mailbox, end = pm[1], pm.end()
    rest = text[end:]
    params: list[tuple[str, str | None]] = []
    if rest:
        if rest[0] != " ":
            raise PathSyntaxError("path must be followed by SP and parameters")
        seen: set[str] = set()
        for token in rest.split(" "):
            if not token:
                continue
            pmatch = _PARAM_RE.match(token)
            if pmatch is None:
                raise PathSyntaxError(f"malformed ESMTP parameter: {token[:40]!r}")
            keyword = pmatch[1].upper()
            if keyword in seen:
                raise PathSyntaxError(f"ESMTP parameter {keyword} repeated")
            seen.add(keyword)
            params.append((keyword, pmatch[2]))
    return mailbox, tuple(params)
