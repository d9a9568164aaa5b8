"""Policies: how the message layer parses and generates.

A policy is frozen; change it with :meth:`Policy.clone`. Presets: :data:`SMTP`
(7bit-safe output for any SMTP server, lenient parsing), :data:`SMTPUTF8`
(RFC 6532 UTF-8 headers and 8-bit bodies, for servers that offer SMTPUTF8
and 8BITMIME), :data:`STRICT` (the first defect raises). :data:`DEFAULT` is
the policy used when none is given.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..limits import DEFAULT_LIMITS, Limits

__all__ = ["DEFAULT", "SMTP", "SMTPUTF8", "STRICT", "Policy"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """How messages are parsed and generated.

    Attributes:
        limits: the bounds the parser enforces (``max_mime_depth``,
            ``max_parts``, ``max_header_count``, ``max_header_size``,
            ``max_header_field_size``, ``max_message_line``).
        strict: parsing raises on the first defect
            (:class:`~rfcmail.errors.RemoteProtocolError`, or
            :class:`~rfcmail.errors.LimitExceeded` for a limit) instead of
            recording it; generation refuses input it would have to repair.
        utf8: generation may write UTF-8 header values as they are (RFC 6532)
            instead of RFC 2047 encoded words; needs SMTPUTF8 on the path.
        allow_8bit: generation may use the 8bit transfer encoding for text
            (RFC 6152, 8BITMIME on the path).
        allow_binary: generation may use the binary transfer encoding
            (RFC 3030, BINARYMIME on the path).
        max_line_length: the line length header folding aims for (RFC 5322
            section 2.1.1: lines SHOULD be at most 78 characters).
        linesep: the line ending generation writes; CRLF is what the wire
            needs (RFC 5322 section 2.1), ``b"\\n"`` suits local files.
        spool_threshold: body bytes the push parser keeps in memory before it
            spools the message to a temporary file.
    """

    limits: Limits = DEFAULT_LIMITS
    strict: bool = False
    utf8: bool = False
    allow_8bit: bool = False
    allow_binary: bool = False
    max_line_length: int = 78
    linesep: bytes = b"\r\n"
    spool_threshold: int = 1024 * 1024

    def __post_init__(self) -> None:
        if self.linesep not in (b"\r\n", b"\n"):
            raise ValueError("Policy.linesep must be b'\\r\\n' or b'\\n'")
        if not 20 <= self.max_line_length <= 998:
            raise ValueError("Policy.max_line_length must be between 20 and 998")
        if self.spool_threshold < 0:
            raise ValueError("Policy.spool_threshold must not be negative")

    def clone(self, **changes: Any) -> Policy:
        """Return a copy with the given attributes changed."""
        return dataclasses.replace(self, **changes)


SMTP = Policy()
"""7bit-safe generation (encoded words, quoted-printable or base64), lenient parsing."""

SMTPUTF8 = Policy(utf8=True, allow_8bit=True)
"""RFC 6532 UTF-8 headers and 8bit bodies: for paths that offer SMTPUTF8 and 8BITMIME."""

STRICT = Policy(strict=True)
"""Like :data:`SMTP`, but the first defect raises."""

DEFAULT = SMTP
"""The policy used when none is given."""
