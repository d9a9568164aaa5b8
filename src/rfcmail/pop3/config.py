"""The one frozen configuration of a POP3 machine.

What a server advertises in CAPA (RFC 2449 section 6) follows from here, and
the machine refuses the commands of an extension that is not enabled. The
same class configures a client, which uses only :attr:`Config.limits`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from ..limits import DEFAULT_LIMITS, Limits

__all__ = ["Config"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """Identity, limits and advertised extensions of a POP3 machine.

    Attributes:
        hostname: the server's name, used in the greeting and the APOP
            timestamp.
        implementation: the IMPLEMENTATION capability (RFC 2449 section
            6.9), or ``None`` to advertise none.
        limits: the bounds the machine enforces (``max_pop3_line``,
            ``max_reply_line``, ``max_auth_line``, ``max_bad_commands``,
            ``max_auth_failures``, ``max_commands``).
        stls: offer STLS (RFC 2595 section 4); the adapter must have a TLS
            context.
        allow_plaintext_auth: accept USER/PASS and SASL mechanisms before
            TLS. Off by default (SECURITY.md A6.1, RFC 2595 section 2.3):
            without TLS, USER and SASL are not advertised and are refused
            with ``-ERR [AUTH]``.
        enable_user: offer USER/PASS (RFC 1939 section 7).
        enable_apop: offer APOP (RFC 1939 section 7); only meaningful with a
            backend that holds a shared secret per user.
        sasl_mechanisms: SASL mechanisms offered with AUTH (RFC 5034), upper
            case, in order of preference.
        enable_top: offer TOP (RFC 1939 section 7).
        enable_uidl: offer UIDL (RFC 1939 section 7).
        pipelining: advertise PIPELINING (RFC 2449 section 6.6). The machine
            processes pipelined commands either way.
        resp_codes: advertise RESP-CODES and AUTH-RESP-CODE (RFC 2449
            section 6.4, RFC 3206).
        login_delay: seconds advertised with LOGIN-DELAY (RFC 2449 section
            6.5), or ``None``. The backend enforces it.
        expire: the EXPIRE value (RFC 2449 section 6.7): a number of days or
            ``"NEVER"``, or ``None``.
        auth_failure_delay: seconds to wait before answering the first failed
            authentication; it doubles on each further failure, up to
            :attr:`max_auth_failure_delay`. The machine computes it, the
            adapter sleeps it.
        max_auth_failure_delay: the cap on the delay above.
    """

    hostname: str = "localhost"
    implementation: str | None = "rfcmail"
    limits: Limits = DEFAULT_LIMITS
    stls: bool = False
    allow_plaintext_auth: bool = False
    enable_user: bool = True
    enable_apop: bool = False
    sasl_mechanisms: tuple[str, ...] = ()
    enable_top: bool = True
    enable_uidl: bool = True
    pipelining: bool = True
    resp_codes: bool = True
    login_delay: int | None = None
    expire: str | None = None
    auth_failure_delay: float = 1.0
    max_auth_failure_delay: float = 8.0

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[\x21-\x7e]+", self.hostname):
            raise ValueError(f"Config.hostname must be printable ASCII without spaces, got {self.hostname!r}")
        if self.implementation is not None and not re.fullmatch(r"[\x21-\x7e]+", self.implementation):
            raise ValueError("Config.implementation must be printable ASCII without spaces")
        for mechanism in self.sasl_mechanisms:
            if not re.fullmatch(r"[A-Z0-9_-]{1,20}", mechanism):
                raise ValueError(f"SASL mechanism names are upper case (RFC 4422 section 3.1), got {mechanism!r}")
        if self.expire is not None and not re.fullmatch(r"NEVER|[0-9]+", self.expire):
            raise ValueError(f"Config.expire must be a number of days or 'NEVER', got {self.expire!r}")
        if self.login_delay is not None and self.login_delay < 0:
            raise ValueError("Config.login_delay must not be negative")
        if self.auth_failure_delay < 0 or self.max_auth_failure_delay < 0:
            raise ValueError("authentication failure delays must not be negative")

    def clone(self, **changes: Any) -> Config:
        """Return a copy with the given fields changed."""
        return dataclasses.replace(self, **changes)
