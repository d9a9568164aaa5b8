"""SMTP reply codes, enhanced status codes and the standard reply texts.

Reply codes follow RFC 5321 section 4.2 (three digits; the first says
whether the command succeeded, 2, needs more, 3, failed for now, 4, or
failed for good, 5). Enhanced status codes ``class.subject.detail`` follow
RFC 3463 section 2 and the registry of RFC 5248; RFC 2034 section 3 puts one
at the start of every line of a reply once ENHANCEDSTATUSCODES is advertised.

:data:`STANDARD_REPLIES` holds the replies the machine offers as
``reply_hint`` and :meth:`~rfcmail.smtp.Connection.default_reply` returns,
keyed by a short name, so that every reply text lives in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import LocalProtocolError

__all__ = ["EnhancedStatus", "STANDARD_REPLIES"]

_ENHANCED_RE = re.compile(r"([245])\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class EnhancedStatus:
    """An RFC 3463 enhanced status code such as ``5.7.1``.

    Attributes:
        klass: 2 (success), 4 (persistent transient failure) or 5 (permanent
            failure); RFC 3463 section 3.1.
        subject: 0 to 999; RFC 3463 section 3.2 (1 addressing, 2 mailbox,
            3 mail system, 4 network, 5 protocol, 6 content, 7 security).
        detail: 0 to 999.
    """

    klass: int
    subject: int
    detail: int

    def __post_init__(self) -> None:
        if self.klass not in (2, 4, 5):
            raise LocalProtocolError(f"enhanced status class must be 2, 4 or 5, not {self.klass}")
        for name, value in (("subject", self.subject), ("detail", self.detail)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 999:
                raise LocalProtocolError(f"enhanced status {name} must be 0..999, not {value!r}")

    @classmethod
    def parse(cls, text: str) -> EnhancedStatus:
        """Parse ``"5.7.1"``.

        Raises:
            LocalProtocolError: ``text`` is not ``class.subject.detail``
                (RFC 3463 section 2: no leading zeros, at most three digits).
        """
        match = _ENHANCED_RE.match(text)
        if match is None:
            raise LocalProtocolError(f"not an enhanced status code: {text!r}")
        return cls(klass=int(match[1]), subject=int(match[2]), detail=int(match[3]))

    @classmethod
    def maybe_parse(cls, text: str) -> EnhancedStatus | None:
        """Like :meth:`parse` but return ``None`` instead of raising."""
        match = _ENHANCED_RE.match(text)
        if match is None:
            return None
        return cls(klass=int(match[1]), subject=int(match[2]), detail=int(match[3]))

    def __str__(self) -> str:
        return f"{self.klass}.{self.subject}.{self.detail}"


# name -> (code, enhanced code or None, text). Enhanced codes from RFC 3463,
# RFC 4954 section 6 (AUTH), RFC 3030 and RFC 5248's registry.
STANDARD_REPLIES: dict[str, tuple[int, str | None, str]] = {
    "ok": (250, "2.0.0", "Ok"),
    "mail_ok": (250, "2.1.0", "Sender ok"),
    "rcpt_ok": (250, "2.1.5", "Recipient ok"),
    "message_ok": (250, "2.0.0", "Ok: message accepted"),
    "chunk_ok": (250, "2.0.0", "Ok: chunk received"),
    "reset_ok": (250, "2.0.0", "Reset state"),
    "noop_ok": (250, "2.0.0", "Ok"),
    "helo_ok": (250, None, "Hello"),
    "help": (214, "2.0.0", "See https://www.rfc-editor.org/rfc/rfc5321"),
    "start_data": (354, None, "End data with <CR><LF>.<CR><LF>"),
    "start_tls": (220, "2.0.0", "Ready to start TLS"),
    "auth_ok": (235, "2.7.0", "Authentication successful"),
    "quit": (221, "2.0.0", "Bye"),
    "vrfy_refused": (252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"),
    "syntax_error": (500, "5.5.2", "Syntax error, command unrecognized"),
    "line_too_long": (500, "5.5.2", "Line too long"),
    "auth_line_too_long": (500, "5.5.6", "Authentication exchange line is too long"),
    "bare_lf_command": (500, "5.5.2", "Command line ended with a bare LF or contains a bare CR"),
    "bad_arguments": (501, "5.5.4", "Syntax error in parameters or arguments"),
    "bad_base64": (501, "5.5.2", "Cannot decode base64 data"),
    "auth_cancelled": (501, "5.7.0", "Authentication cancelled"),
    "not_implemented": (502, "5.5.1", "Command not implemented"),
    "bad_sequence": (503, "5.5.1", "Bad sequence of commands"),
    "unknown_parameter": (555, "5.5.4", "MAIL FROM/RCPT TO parameter not recognized or not implemented"),
    "unknown_mechanism": (504, "5.5.4", "Unrecognized authentication type"),
    "auth_required": (530, "5.7.0", "Authentication required"),
    "encryption_required": (538, "5.7.11", "Encryption required for requested authentication mechanism"),
    "auth_failed": (535, "5.7.8", "Authentication credentials invalid"),
    "too_many_recipients": (452, "4.5.3", "Too many recipients"),
    "message_too_big": (552, "5.3.4", "Message too big for system"),
    "size_exceeded_declared": (552, "5.3.4", "Message size exceeds fixed maximum message size"),
    "bare_line_ending": (550, "5.6.11", "Message contains a bare CR or LF (only CRLF is allowed)"),
    "text_line_too_long": (500, "5.5.2", "Message line too long"),
    "binary_needs_bdat": (503, "5.5.1", "BODY=BINARYMIME requires BDAT"),
    "utf8_needs_smtputf8": (553, "5.6.7", "Non-ASCII address requires SMTPUTF8"),
    "tls_already_active": (503, "5.5.1", "TLS already active"),
    "already_authenticated": (503, "5.5.1", "Already authenticated"),
    "lmtp_lhlo_only": (500, "5.5.1", "This is an LMTP server: use LHLO"),
    "lhlo_smtp": (500, "5.5.1", "This is an SMTP server: LHLO is for LMTP"),
    "no_valid_recipients": (554, "5.5.1", "No valid recipients"),
    "greeting_refused": (503, "5.5.1", "Service refused, only QUIT is accepted"),
    "too_many_errors": (421, "4.7.0", "Too many errors, closing connection"),
    "too_many_commands": (421, "4.7.0", "Too many commands, closing connection"),
    "too_many_auth_failures": (421, "4.7.0", "Too many authentication failures, closing connection"),
    "closing": (421, "4.4.2", "Closing connection"),
    "local_error": (451, "4.3.0", "Local error in processing"),
}
"""Standard replies: name -> (code, enhanced code or ``None``, text)."""


def hint_text(name: str) -> str:
    """The standard reply ``name`` as one line of text, for a ``reply_hint``."""
    code, enhanced, text = STANDARD_REPLIES[name]
    return f"{code} {enhanced} {text}" if enhanced else f"{code} {text}"
