"""Every bound a parser or protocol machine enforces, in one frozen dataclass.

Hostile or broken peers must never make rfcmail use unbounded memory or time.
Each limit below has a default chosen from the RFCs (which give minimums that
implementations must accept) and from what deployed servers use; all of them
can be changed with :meth:`Limits.clone`. Hitting a limit raises
:class:`rfcmail.errors.LimitExceeded` naming the limit, or, in the message
parser under a lenient policy, records a defect and truncates.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_LIMITS", "Limits"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Bounds on input size and counts.

    Attributes:
        max_command_line: longest SMTP command line in octets, CRLF included
            (RFC 5321 section 4.5.3.1.4: 512). Service extensions raise the
            bound for the commands they add parameters to (RFC 1870 section
            3, RFC 4954 section 3, RFC 3461 section 4); the SMTP machine adds
            those allowances for the extensions it has advertised.
        max_reply_line: longest SMTP reply line in octets, CRLF included
            (RFC 5321 section 4.5.3.1.5: at least 512).
        max_text_line: longest line of message text in SMTP DATA, CRLF
            included (RFC 5321 section 4.5.3.1.6: at least 1000).
        max_message_size: largest message a server accepts, in octets (the
            SIZE value of RFC 1870).
        max_recipients: recipients per SMTP transaction (RFC 5321 section
            4.5.3.1.8: a server must accept at least 100).
        max_commands: commands per connection before the server gives up.
        max_bad_commands: invalid or refused commands per connection before
            the server closes it (Postfix's ``smtpd_hard_error_limit``).
        max_auth_failures: failed authentication attempts per connection.
        max_auth_line: longest SASL response line (AUTH continuation), CRLF
            included; SASL responses can exceed a command line (RFC 4954
            section 4: 12288 octets at least).
        max_pop3_line: longest POP3 command line, CRLF included (RFC 2449
            section 4: 255 octets for commands).
        max_imap_line: longest IMAP line outside literals, CRLF included.
        max_literal_size: largest IMAP literal after authentication.
        max_preauth_literal_size: largest IMAP literal before authentication.
        max_mime_depth: deepest nesting of multipart and message/rfc822
            parts the message parser follows.
        max_parts: most MIME parts in one message.
        max_header_count: most header fields in one header block.
        max_header_size: largest header block in octets.
        max_header_field_size: largest single header field, folded lines
            together, in octets.
        max_message_line: longest physical line the message parser keeps as
            one line (RFC 5322 section 2.1.1 allows 998 plus CRLF; longer
            lines are a defect, and past this limit they are split).
    """

    max_command_line: int = 512
    max_reply_line: int = 512
    max_text_line: int = 1000
    max_message_size: int = 25 * 1024 * 1024
    max_recipients: int = 1000
    max_commands: int = 100_000
    max_bad_commands: int = 20
    max_auth_failures: int = 3
    max_auth_line: int = 12_288
    max_pop3_line: int = 255
    max_imap_line: int = 64 * 1024
    max_literal_size: int = 64 * 1024 * 1024
    max_preauth_literal_size: int = 8 * 1024
    max_mime_depth: int = 50
    max_parts: int = 10_000
    max_header_count: int = 1000
    max_header_size: int = 1024 * 1024
    max_header_field_size: int = 256 * 1024
    max_message_line: int = 64 * 1024

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Limits.{field.name} must be an int, not {type(value).__name__}")
            if value < 1:
                raise ValueError(f"Limits.{field.name} must be at least 1, got {value}")

    def clone(self, **changes: Any) -> Limits:
        """Return a copy with the given limits changed.

        Raises:
            TypeError: a name is not a limit, or a value is not an int.
            ValueError: a value is below 1.
        """
        return dataclasses.replace(self, **changes)


DEFAULT_LIMITS = Limits()
"""The limits used when none are given."""
