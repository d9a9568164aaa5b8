"""rfcmail: the Internet mail protocols, built to the RFCs.

The package root re-exports the few names every user needs: the version, the
error hierarchy and the :class:`~rfcmail.limits.Limits` every parser enforces.
Protocol engines live in subpackages (``rfcmail.message``, ``rfcmail.smtp``, ...).
"""

from __future__ import annotations

from .errors import (
    LimitExceeded,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    RfcmailError,
)
from .limits import DEFAULT_LIMITS, Limits

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_LIMITS",
    "LimitExceeded",
    "Limits",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "RfcmailError",
    "__version__",
]
