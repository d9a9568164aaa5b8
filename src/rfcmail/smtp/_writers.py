"""Writers: SMTP events to wire bytes.

Command syntax from RFC 5321 section 4.1.1 (and RFC 3030 section 2 for
BDAT, RFC 3207 section 4 for STARTTLS, RFC 4954 section 4 for AUTH, RFC
2033 section 4.1 for LHLO); replies from RFC 5321 section 4.2.1 (``code-``
on every line but the last, ``code SP`` on the last) with the enhanced status
codes of RFC 2034 section 3 at the start of each line's text.

The writers are pure functions; the events were validated when built, so no
argument can add a line to the output.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from ..errors import LocalProtocolError
from ._events import (
    Auth,
    AuthCancel,
    AuthChallenge,
    AuthResponse,
    Bdat,
    Data,
    Ehlo,
    Event,
    Expn,
    Helo,
    Help,
    Lhlo,
    Mail,
    Noop,
    Params,
    Quit,
    Rcpt,
    Reply,
    Rset,
    StartTLS,
    Vrfy,
)

__all__ = ["write_auth_challenge", "write_command", "write_reply"]


def _params(params: Params) -> str:
    return "".join(f" {k}={v}" if v is not None else f" {k}" for k, v in params)


def _path(path: str) -> str:
    return f"<{path}>"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


_WRITERS: dict[type[Event], Callable[[Event], str]] = {
    Ehlo: lambda e: f"EHLO {e.domain}",  # type: ignore[attr-defined]
    Helo: lambda e: f"HELO {e.domain}",  # type: ignore[attr-defined]
    Lhlo: lambda e: f"LHLO {e.domain}",  # type: ignore[attr-defined]
    Mail: lambda e: f"MAIL FROM:{_path(e.reverse_path)}{_params(e.params)}",  # type: ignore[attr-defined]
    Rcpt: lambda e: f"RCPT TO:{_path(e.forward_path)}{_params(e.params)}",  # type: ignore[attr-defined]
    Data: lambda e: "DATA",
    Bdat: lambda e: f"BDAT {e.size} LAST" if e.last else f"BDAT {e.size}",  # type: ignore[attr-defined]
    Rset: lambda e: "RSET",
    Noop: lambda e: f"NOOP {e.argument}" if e.argument else "NOOP",  # type: ignore[attr-defined]
    Help: lambda e: f"HELP {e.argument}" if e.argument else "HELP",  # type: ignore[attr-defined]
    Vrfy: lambda e: f"VRFY {e.argument}",  # type: ignore[attr-defined]
    Expn: lambda e: f"EXPN {e.argument}",  # type: ignore[attr-defined]
    Quit: lambda e: "QUIT",
    StartTLS: lambda e: "STARTTLS",
    AuthCancel: lambda e: "*",
}


def write_command(event: Event) -> bytes:
    """The command line for ``event``, CRLF included.

    ``Auth`` and ``AuthResponse`` carry raw bytes, base64-encoded here (an
    empty initial response is written ``=``, RFC 4954 section 4).

    Raises:
        LocalProtocolError: ``event`` is not a command.
    """
    if isinstance(event, Auth):
        if event.initial_response is None:
            line = f"AUTH {event.mechanism}"
        else:
            line = f"AUTH {event.mechanism} {_b64(event.initial_response) or '='}"
    elif isinstance(event, AuthResponse):
        line = _b64(event.data)
    else:
        writer = _WRITERS.get(type(event))
        if writer is None:
            raise LocalProtocolError(f"{type(event).__name__} is not a command")
        line = writer(event)
    return line.encode("utf-8") + b"\r\n"


def write_reply(reply: Reply, *, enhanced: bool = True) -> bytes:
    """The reply lines for ``reply``, each ending in CRLF.

    Args:
        reply: the reply.
        enhanced: write ``reply.enhanced`` at the start of every line's text
            (RFC 2034 section 3); False for the greeting, the answer to EHLO
            or HELO, and servers that do not advertise ENHANCEDSTATUSCODES.
    """
    code = str(reply.code)
    status = str(reply.enhanced) if enhanced and reply.enhanced is not None else ""
    lines = reply.lines or ("",)
    last = len(lines) - 1
    out = []
    for index, text in enumerate(lines):
        separator = " " if index == last else "-"
        body = f"{status} {text}" if status and text else status or text
        out.append(f"{code}{separator}{body}" if body or separator == "-" else code)
    return ("\r\n".join(out) + "\r\n").encode("utf-8")


def write_auth_challenge(challenge: AuthChallenge) -> bytes:
    """The ``334`` line of a SASL challenge (RFC 4954 section 4)."""
    return f"334 {_b64(challenge.data)}\r\n".encode("ascii")
