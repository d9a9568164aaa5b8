"""The one configuration object of the SMTP machine, for both roles.

Identity (``hostname``), limits (a :class:`~rfcmail.limits.Limits`), the
service extensions a server advertises in its EHLO response (RFC 5321
section 4.1.1.1) and the security defaults: bare CR and LF rejected in DATA
(RFC 5321 section 2.3.8, SECURITY A1.1/A1.2), AUTH neither advertised nor
accepted before TLS (RFC 4954 section 4, SECURITY A6.1), VRFY answered
with 252 and EXPN not implemented (RFC 5321 section 7.3, SECURITY A6.5).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Literal

from ..limits import DEFAULT_LIMITS, Limits

__all__ = ["Config", "LineEndingPolicy"]

LineEndingPolicy = Literal["reject", "normalize"]
"""What a server does with a bare CR or LF in message content."""

_MECHANISM_RE = re.compile(r"[A-Z0-9_-]{1,20}\Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """How an SMTP or LMTP connection behaves.

    Attributes:
        hostname: our name: the server's greeting and EHLO response, the
            client's EHLO argument by convention.
        limits: bounds enforced on the peer: ``max_command_line`` (plus the
            allowances of RFC 1870 section 3, RFC 4954 section 5, RFC 3461
            section 5.4, RFC 6531 section 3.4 and RFC 3030 for the advertised
            extensions), ``max_auth_line``, ``max_text_line``,
            ``max_reply_line``, ``max_message_size`` (SIZE, enforced while
            streaming whether or not SIZE is advertised), ``max_recipients``,
            ``max_commands``, ``max_bad_commands`` and ``max_auth_failures``.
        lmtp: speak LMTP (RFC 2033): LHLO instead of EHLO and one reply per
            accepted recipient after the message.
        pipelining: advertise PIPELINING (RFC 2920).
        size: advertise SIZE with ``limits.max_message_size`` (RFC 1870).
        eightbitmime: advertise 8BITMIME (RFC 6152).
        smtputf8: advertise SMTPUTF8 (RFC 6531).
        starttls: advertise STARTTLS (RFC 3207) until TLS is active; the
            adapter must be able to start TLS.
        auth_mechanisms: SASL mechanisms advertised with AUTH (RFC 4954);
            empty: no AUTH.
        enhancedstatuscodes: advertise ENHANCEDSTATUSCODES (RFC 2034) and
            write the enhanced codes of replies.
        dsn: advertise DSN (RFC 3461) and accept its parameters.
        chunking: advertise CHUNKING, the BDAT command (RFC 3030).
        binarymime: advertise BINARYMIME (RFC 3030; needs ``chunking``).
        help: advertise HELP.
        vrfy: pass VRFY on to the application; when False (the default) the
            suggested reply is ``252 2.5.0`` (RFC 5321 section 3.5.3).
        expn: accept EXPN; when False (the default) it is refused with
            ``502 5.5.1``.
        bare_lf: a bare LF in message content: ``"reject"`` (the message is
            refused with ``550 5.6.11`` at its end) or ``"normalize"`` (made
            CRLF). The end of data is only ever CRLF.CRLF. A command line
            ending in a bare LF is refused under ``"reject"``.
        bare_cr: a bare CR in message content, the same choices.
        require_tls_for_auth: AUTH is not advertised before TLS and is
            refused with ``538 5.7.11`` (RFC 4954 section 4, SECURITY A6.1).
        require_auth: MAIL is refused with ``530 5.7.0`` until the client has
            authenticated (submission, RFC 6409).
        max_reply_lines: most lines in one reply a client accepts.
        max_auth_challenges: most 334 challenges a client accepts in one
            AUTH exchange (SECURITY A6.3; smtplib stops at 5).
    """

    hostname: str = "localhost"
    limits: Limits = DEFAULT_LIMITS
    lmtp: bool = False
    pipelining: bool = True
    size: bool = True
    eightbitmime: bool = True
    smtputf8: bool = True
    starttls: bool = False
    auth_mechanisms: tuple[str, ...] = ()
    enhancedstatuscodes: bool = True
    dsn: bool = True
    chunking: bool = True
    binarymime: bool = True
    help: bool = True
    vrfy: bool = False
    expn: bool = False
    bare_lf: LineEndingPolicy = "reject"
    bare_cr: LineEndingPolicy = "reject"
    require_tls_for_auth: bool = True
    require_auth: bool = False
    max_reply_lines: int = 100
    max_auth_challenges: int = 10

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[^\x00-\x20\x7f]{1,255}", self.hostname):
            raise ValueError(f"Config.hostname must be 1 to 255 visible characters: {self.hostname!r}")
        if not isinstance(self.limits, Limits):
            raise TypeError("Config.limits must be a Limits")
        for policy_name in ("bare_lf", "bare_cr"):
            if getattr(self, policy_name) not in ("reject", "normalize"):
                raise ValueError(f"Config.{policy_name} must be 'reject' or 'normalize'")
        mechanisms = tuple(m.upper() for m in self.auth_mechanisms)
        for mechanism in mechanisms:
            if not _MECHANISM_RE.match(mechanism):
                raise ValueError(f"not a SASL mechanism name: {mechanism!r}")
        object.__setattr__(self, "auth_mechanisms", mechanisms)
        if self.max_reply_lines < 1:
            raise ValueError("Config.max_reply_lines must be at least 1")
        if self.max_auth_challenges < 1:
            raise ValueError("Config.max_auth_challenges must be at least 1")

    def clone(self, **changes: Any) -> Config:
        """Return a copy with the given fields changed."""
        return dataclasses.replace(self, **changes)
