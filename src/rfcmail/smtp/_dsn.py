"""Delivery Status Notification parameters of SMTP (RFC 3461).

``RET`` and ``ENVID`` on MAIL (RFC 3461 sections 4.3 and 4.4), ``NOTIFY``
and ``ORCPT`` on RCPT (sections 4.1 and 4.2), and the xtext encoding they
use (section 4)::

    xtext     = *( xchar / hexchar )
    xchar     = any ASCII CHAR between "!" (33) and "~" (126) inclusive,
                except for "+" and "=".
    hexchar   = ASCII "+" immediately followed by two upper case
                hexadecimal digits
    notify-esmtp-value = "NEVER" / 1#notify-list-element
    notify-list-element = "SUCCESS" / "FAILURE" / "DELAY"
    orcpt-parameter = "ORCPT=" original-recipient-address
    original-recipient-address = addr-type ";" xtext
    ret-value = "FULL" / "HDRS"
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import LocalProtocolError

__all__ = [
    "NOTIFY_VALUES",
    "OriginalRecipient",
    "parse_envid",
    "parse_notify",
    "parse_orcpt",
    "parse_ret",
    "xtext_decode",
    "xtext_encode",
]

NOTIFY_VALUES = frozenset({"NEVER", "SUCCESS", "FAILURE", "DELAY"})
"""The words NOTIFY may carry."""

_XTEXT_RE = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*\Z")
_HEXCHAR_RE = re.compile(r"\+([0-9A-F]{2})")
_ADDR_TYPE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*\Z")
MAX_ENVID = 100
MAX_ORCPT = 500


def xtext_encode(text: str) -> str:
    """Encode ``text`` as xtext (RFC 3461 section 4): ``+``, ``=``, controls, SP and non-ASCII as ``+XX``.

    Non-ASCII characters are encoded byte by byte from UTF-8.
    """
    out: list[str] = []
    for byte in text.encode("utf-8"):
        if 33 <= byte <= 126 and byte not in (0x2B, 0x3D):
            out.append(chr(byte))
        else:
            out.append(f"+{byte:02X}")
    return "".join(out)


def xtext_decode(value: str) -> str:
    """Decode xtext (RFC 3461 section 4).

    Raises:
        LocalProtocolError: not xtext (a bare ``+``, lower-case hex, a
            control character) or the decoded bytes are not UTF-8.
    """
    if not _XTEXT_RE.match(value):
        raise LocalProtocolError(f"not xtext (RFC 3461 section 4): {value[:60]!r}")
    raw = _HEXCHAR_RE.sub(lambda m: chr(int(m[1], 16)), value)
    try:
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeError as exc:
        raise LocalProtocolError("xtext does not decode to UTF-8") from exc


def parse_notify(value: str) -> frozenset[str]:
    """Parse a NOTIFY value: ``NEVER`` alone, or a list of SUCCESS, FAILURE, DELAY.

    Raises:
        LocalProtocolError: unknown word, repetition, or NEVER with others.
    """
    words = [word.upper() for word in value.split(",")]
    if any(word not in NOTIFY_VALUES for word in words) or len(set(words)) != len(words):
        raise LocalProtocolError(f"bad NOTIFY value (RFC 3461 section 4.1): {value[:60]!r}")
    if "NEVER" in words and len(words) > 1:
        raise LocalProtocolError("NOTIFY=NEVER cannot be combined with other values")
    return frozenset(words)


@dataclass(frozen=True, slots=True, kw_only=True)
class OriginalRecipient:
    """The ORCPT parameter (RFC 3461 section 4.2): ``addr-type;xtext``.

    Attributes:
        addr_type: the address type, usually ``rfc822`` (or ``utf-8``, RFC 6533).
        address: the decoded original address.
    """

    addr_type: str
    address: str

    def __post_init__(self) -> None:
        if not _ADDR_TYPE_RE.match(self.addr_type):
            raise LocalProtocolError(f"bad ORCPT address type: {self.addr_type!r}")

    def to_param(self) -> str:
        """The parameter value, xtext-encoded."""
        return f"{self.addr_type};{xtext_encode(self.address)}"


def parse_orcpt(value: str) -> OriginalRecipient:
    """Parse an ORCPT value.

    Raises:
        LocalProtocolError: no ``;``, bad address type, bad xtext or over 500 characters.
    """
    if len(value) > MAX_ORCPT:
        raise LocalProtocolError(f"ORCPT longer than {MAX_ORCPT} characters (RFC 3461 section 5.4)")
    addr_type, sep, encoded = value.partition(";")
    if not sep:
        raise LocalProtocolError("ORCPT needs addr-type;address (RFC 3461 section 4.2)")
    return OriginalRecipient(addr_type=addr_type, address=xtext_decode(encoded))


def parse_ret(value: str) -> str:
    """Parse a RET value: ``FULL`` or ``HDRS`` (upper-cased).

    Raises:
        LocalProtocolError: anything else.
    """
    upper = value.upper()
    if upper not in ("FULL", "HDRS"):
        raise LocalProtocolError(f"RET must be FULL or HDRS (RFC 3461 section 4.3): {value[:20]!r}")
    return upper


def parse_envid(value: str) -> str:
    """Decode an ENVID value (xtext, at most 100 characters).

    Raises:
        LocalProtocolError: too long or bad xtext.
    """
    if len(value) > MAX_ENVID:
        raise LocalProtocolError(f"ENVID longer than {MAX_ENVID} characters (RFC 3461 section 5.4)")
    return xtext_decode(value)
