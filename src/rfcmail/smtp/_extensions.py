"""SMTP service extensions: the EHLO keyword list and the MAIL/RCPT parameters they allow.

RFC 5321 section 4.1.1.1 (the EHLO response: one ``ehlo-keyword
*(SP ehlo-param)`` per line after the first), with the keywords of RFC 2920
(PIPELINING), RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 6531 (SMTPUTF8),
RFC 3207 (STARTTLS), RFC 4954 (AUTH), RFC 2034 (ENHANCEDSTATUSCODES), RFC
3461 (DSN) and RFC 3030 (CHUNKING, BINARYMIME).

:func:`mail_params_for` and :func:`rcpt_params_for` choose a client's MAIL
and RCPT parameters from what the server advertised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import LocalProtocolError
from ._dsn import OriginalRecipient, parse_notify, xtext_encode
from ._events import Params

__all__ = ["Extensions", "mail_params_for", "rcpt_params_for"]

_EHLO_LINE_RE = re.compile(r"([A-Za-z0-9][A-Za-z0-9\-]*)((?: +[\x21-\x7e]+)*) *\Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class Extensions:
    """The service extensions of an EHLO response, keyword -> parameters.

    Keywords are upper-cased. On the client, ``conn.extensions`` holds what
    the server's last 250 to EHLO (or LHLO) said; after STARTTLS it is
    replaced by the answer to the new EHLO (RFC 3207 section 4.2, SECURITY
    A2.4). On the server, ``conn.extensions`` is what the machine advertises
    now (STARTTLS disappears after TLS, AUTH appears when TLS is required).

    Attributes:
        items: ``(keyword, params)`` pairs in the order advertised.
    """

    items: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def parse(cls, lines: Iterable[str]) -> Extensions:
        """Parse the lines after the first of a 250 EHLO response.

        Lines that are not ``keyword *(SP param)`` are skipped (RFC 5321
        section 4.1.1.1 allows no others, but a client gains nothing by
        failing on them); a repeated keyword keeps its first parameters.
        """
        items: list[tuple[str, tuple[str, ...]]] = []
        seen: set[str] = set()
        for line in lines:
            match = _EHLO_LINE_RE.match(line)
            if match is None:
                continue
            keyword = match[1].upper()
            if keyword in seen:
                continue
            seen.add(keyword)
            items.append((keyword, tuple(match[2].split())))
        return cls(items=tuple(items))

    @classmethod
    def build(cls, *pairs: tuple[str, tuple[str, ...]]) -> Extensions:
        """Build from ``(keyword, params)`` pairs."""
        return cls(items=tuple((keyword.upper(), params) for keyword, params in pairs))

    def lines(self) -> tuple[str, ...]:
        """The EHLO response lines (after the first) for these extensions."""
        return tuple(" ".join((keyword, *params)) for keyword, params in self.items)

    def __contains__(self, keyword: object) -> bool:
        return isinstance(keyword, str) and any(k == keyword.upper() for k, _ in self.items)

    def params(self, keyword: str) -> tuple[str, ...] | None:
        """The parameters of ``keyword``, or ``None`` when it was not advertised."""
        keyword = keyword.upper()
        for k, params in self.items:
            if k == keyword:
                return params
        return None

    @property
    def pipelining(self) -> bool:
        """PIPELINING (RFC 2920)."""
        return "PIPELINING" in self

    @property
    def size(self) -> int | None:
        """The SIZE limit (RFC 1870): ``None`` if not advertised, 0 if no fixed limit."""
        params = self.params("SIZE")
        if params is None:
            return None
        if params and params[0].isdigit() and params[0].isascii():
            return int(params[0])
        return 0

    @property
    def eightbitmime(self) -> bool:
        """8BITMIME (RFC 6152)."""
        return "8BITMIME" in self

    @property
    def smtputf8(self) -> bool:
        """SMTPUTF8 (RFC 6531)."""
        return "SMTPUTF8" in self

    @property
    def starttls(self) -> bool:
        """STARTTLS (RFC 3207)."""
        return "STARTTLS" in self

    @property
    def auth_mechanisms(self) -> tuple[str, ...]:
        """The SASL mechanisms of AUTH (RFC 4954), upper-cased; empty when not advertised."""
        params = self.params("AUTH")
        return tuple(p.upper() for p in params) if params else ()

    @property
    def enhancedstatuscodes(self) -> bool:
        """ENHANCEDSTATUSCODES (RFC 2034)."""
        return "ENHANCEDSTATUSCODES" in self

    @property
    def dsn(self) -> bool:
        """DSN (RFC 3461)."""
        return "DSN" in self

    @property
    def chunking(self) -> bool:
        """CHUNKING, the BDAT command (RFC 3030)."""
        return "CHUNKING" in self

    @property
    def binarymime(self) -> bool:
        """BINARYMIME (RFC 3030), usable only with CHUNKING."""
        return "BINARYMIME" in self and "CHUNKING" in self


def mail_params_for(
    extensions: Extensions,
    *,
    size: int | None = None,
    smtputf8: bool = False,
    body: str | None = None,
    ret: str | None = None,
    envid: str | None = None,
    auth: str | None = None,
) -> Params:
    """Choose MAIL parameters from what the server advertised.

    Optional information is dropped when the server did not advertise the
    extension (SIZE, DSN's RET and ENVID, AUTH=); requirements it cannot meet
    raise.

    Args:
        extensions: the server's EHLO extensions (``conn.extensions``).
        size: the message size in octets, sent as ``SIZE=`` (RFC 1870).
        smtputf8: the envelope or headers need SMTPUTF8 (RFC 6531).
        body: ``"7BIT"``, ``"8BITMIME"`` (RFC 6152) or ``"BINARYMIME"`` (RFC 3030).
        ret: ``"FULL"`` or ``"HDRS"`` (RFC 3461 section 4.3).
        envid: the envelope identifier, xtext-encoded here (RFC 3461 section 4.4).
        auth: the ``AUTH=`` mailbox (RFC 4954 section 5), ``"<>"`` for none.

    Raises:
        LocalProtocolError: the server lacks SMTPUTF8, 8BITMIME or
            BINARYMIME that the message needs, or ``size`` exceeds its SIZE.
    """
    params: list[tuple[str, str | None]] = []
    limit = extensions.size
    if size is not None:
        if size < 0:
            raise LocalProtocolError("size must not be negative")
        if limit:
            if size > limit:
                raise LocalProtocolError(f"message size {size} exceeds the server's SIZE {limit} (RFC 1870)")
        if limit is not None:
            params.append(("SIZE", str(size)))
    if body is not None:
        body = body.upper()
        if body == "8BITMIME" and not extensions.eightbitmime:
            raise LocalProtocolError("the server does not offer 8BITMIME: convert the message to 7bit")
        if body == "BINARYMIME" and not extensions.binarymime:
            raise LocalProtocolError("the server does not offer BINARYMIME with CHUNKING")
        if body not in ("7BIT", "8BITMIME", "BINARYMIME"):
            raise LocalProtocolError(f"BODY must be 7BIT, 8BITMIME or BINARYMIME, not {body!r}")
        if body != "7BIT" or extensions.eightbitmime:
            params.append(("BODY", body))
    if smtputf8:
        if not extensions.smtputf8:
            raise LocalProtocolError("the server does not offer SMTPUTF8 (RFC 6531)")
        params.append(("SMTPUTF8", None))
    if extensions.dsn:
        if ret is not None:
            upper = ret.upper()
            if upper not in ("FULL", "HDRS"):
                raise LocalProtocolError(f"RET must be FULL or HDRS, not {ret!r}")
            params.append(("RET", upper))
        if envid is not None:
            params.append(("ENVID", xtext_encode(envid)))
    if auth is not None and extensions.auth_mechanisms:
        params.append(("AUTH", auth if auth == "<>" else xtext_encode(auth)))
    return tuple(params)


def rcpt_params_for(
    extensions: Extensions,
    *,
    notify: Iterable[str] | None = None,
    orcpt: OriginalRecipient | None = None,
) -> Params:
    """Choose RCPT parameters (RFC 3461 NOTIFY and ORCPT) when the server offers DSN.

    Raises:
        LocalProtocolError: a bad NOTIFY list.
    """
    params: list[tuple[str, str | None]] = []
    if notify is not None:
        value = ",".join(word.upper() for word in notify)
        parse_notify(value)
        if extensions.dsn:
            params.append(("NOTIFY", value))
    if orcpt is not None and extensions.dsn:
        params.append(("ORCPT", orcpt.to_param()))
    return tuple(params)


