"""OAuth 2.0 bearer token clients: OAUTHBEARER (RFC 7628) and Google's XOAUTH2.

OAUTHBEARER (RFC 7628 section 3.1)::

    client-resp = (gs2-header kvsep *kvpair kvsep) / kvsep
    gs2-header  = "n," [ "a=" saslname ] ","
    kvpair      = key "=" value kvsep     ; host, port, auth
    kvsep       = %x01

On failure the server sends one challenge holding a JSON error object
(RFC 7628 section 3.2.2); the client must answer it with the dummy response
``%x01`` and the server then fails the exchange. XOAUTH2 (Google's
predecessor, https://developers.google.com/gmail/imap/xoauth2-protocol) sends
``user=<user>^Aauth=Bearer <token>^A^A`` and answers the error challenge with
an empty response.

Both put a reusable token on the wire: use them over TLS only
(:func:`rfcmail.sasl.choose_mechanism` enforces that by default).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import LocalProtocolError
from ._base import OneMessageClient, SASLError, check_argument, require_nonempty

__all__ = ["OAuthBearerClient", "XOAuth2Client"]

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def _check_token(token: str, *, allow_empty: bool) -> None:
    if not token and allow_empty:
        return
    if not _B64TOKEN_RE.fullmatch(token):
        raise LocalProtocolError("the bearer token is not an RFC 6750 b64token")


def _check_kv(what: str, value: str) -> None:
    check_argument(what, value)
    if "\x01" in value:
        raise LocalProtocolError(f"SASL {what} contains a %x01 separator")


def _parse_error(challenge: bytes) -> dict[str, Any]:
    """Decode the server's JSON error; something that is not a JSON object is kept raw."""
    try:
        value = json.loads(challenge.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {"raw": challenge.decode("utf-8", "replace")}
    if isinstance(value, dict):
        return value
    return {"raw": challenge.decode("utf-8", "replace")}


class _BearerClient(OneMessageClient):
    """Sends the token message; answers one error challenge with the dummy response."""

    _dummy_response = b""

    def __init__(self, message: bytes) -> None:
        super().__init__(message)
        self.error: dict[str, Any] | None = None
        """The server's JSON error object, once it sent one (RFC 7628 section 3.2.2)."""

    def respond(self, challenge: bytes) -> bytes:
        """Send the message on an empty first challenge; answer an error with the dummy.

        Raises:
            SASLError: a challenge after the error was answered.
        """
        self._refuse_if_complete()
        if not self._sent and not challenge:
            return self.initial_response()
        if self.error is not None:
            raise SASLError(f"{self.name}: a second challenge after the error")
        self.error = _parse_error(challenge)
        self._sent = True
        return self._dummy_response

    def verify_success(self, additional_data: bytes | None = None) -> None:
        """Accept success, unless the server had reported an error.

        Raises:
            SASLError: success after an error challenge, or with data.
        """
        if self.error is not None:
            raise SASLError(f"{self.name}: success after the server reported an error")
        super().verify_success(additional_data)


class OAuthBearerClient(_BearerClient):
    """Client side of OAUTHBEARER (RFC 7628).

    Args:
        authzid: the user the token is for (the gs2-header ``a=``); may be empty.
        token: the OAuth 2.0 bearer token; empty sends ``auth=`` to ask the
            server for its error object (the discovery case of RFC 7628
            section 4.3).
        host: the server host name (``host=``), left out when empty.
        port: the server port (``port=``), left out when 0.

    Raises:
        rfcmail.errors.LocalProtocolError: a CR, LF, NUL or %x01 in an
            argument, or a token that is not a b64token.
    """

    name = "OAUTHBEARER"
    _dummy_response = b"\x01"

    def __init__(self, *, authzid: str = "", token: str, host: str = "", port: int = 0) -> None:
        _check_kv("authzid", authzid)
        _check_kv("host", host)
        _check_token(token, allow_empty=True)
        if not 0 <= port <= 65535:
            raise LocalProtocolError(f"port {port} is out of range")
        saslname = authzid.replace("=", "=3D").replace(",", "=2C")
        parts = [b"n," + (b"a=" + saslname.encode("utf-8") if authzid else b"") + b","]
        if host:
            parts.append(b"host=" + host.encode("utf-8"))
        if port:
            parts.append(b"port=" + str(port).encode("ascii"))
        parts.append(b"auth=" + (b"Bearer " + token.encode("ascii") if token else b""))
        super().__init__(b"\x01".join(parts) + b"\x01\x01")


class XOAuth2Client(_BearerClient):
    """Client side of Google's XOAUTH2.

    Args:
        username: the mailbox the token is for, not empty.
        token: the OAuth 2.0 access token.

    Raises:
        rfcmail.errors.LocalProtocolError: a CR, LF, NUL or %x01 in an
            argument, an empty one, or a token that is not a b64token.
    """

    name = "XOAUTH2"

    def __init__(self, *, username: str, token: str) -> None:
        _check_kv("username", username)
        require_nonempty("username", username)
        _check_token(token, allow_empty=False)
        super().__init__(b"user=" + username.encode("utf-8") + b"\x01auth=Bearer " + token.encode("ascii") + b"\x01\x01")
