"""OAuth 2.0 bearer tokens: OAUTHBEARER (RFC 7628) and Google's XOAUTH2, client and server.

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
(:func:`rfcmail.sasl.choose_mechanism` and
:func:`rfcmail.sasl.server_mechanisms` enforce that by default).

The server side does not validate tokens itself: the application passes a
``token_validator`` that gets a :class:`BearerToken` and returns the
authentication identity the token belongs to, or ``None``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import LocalProtocolError
from ._base import (
    DEFAULT_MAX_RESPONSE_SIZE,
    Challenge,
    CredentialStore,
    CredentialsUnavailable,
    Failure,
    OneMessageClient,
    SASLError,
    ServerBase,
    Step,
    Success,
    authorize,
    check_argument,
    decode_saslname,
    encode_saslname,
    require_nonempty,
)

__all__ = ["DEFAULT_BEARER_ERROR", "BearerServer", "BearerToken", "OAuthBearerClient", "XOAuth2Client"]

DEFAULT_BEARER_ERROR = b'{"status":"invalid_token"}'
"""The JSON error a bearer server sends for a refused token (RFC 7628 section 3.2.2)."""

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
        saslname = encode_saslname(authzid)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class BearerToken:
    """What a bearer client sent, for the application's token validator.

    Attributes:
        mechanism: ``"OAUTHBEARER"`` or ``"XOAUTH2"``.
        user: the gs2 authzid (OAUTHBEARER ``a=``, may be empty) or the
            XOAUTH2 ``user=``.
        token: the bearer token (empty when an OAUTHBEARER client sent
            ``auth=`` without one, to discover the required scope).
        host: the ``host=`` value, or empty.
        port: the ``port=`` value, or ``None``.
    """

    mechanism: str
    user: str
    token: str
    host: str = ""
    port: int | None = None


TokenValidator = Callable[[BearerToken], "str | None"]
"""Returns the authentication identity a token grants, or ``None`` to refuse it;
raises :class:`~rfcmail.sasl.CredentialsUnavailable` when it cannot decide now."""

_KEY_RE = re.compile(r"[A-Za-z]+")
_PORT_RE = re.compile(r"[0-9]{1,5}")


def _parse_kvpairs(text: str) -> dict[str, str] | None:
    """Parse ``key=value^A...^A^A`` (after the leading separator); ``None`` when malformed."""
    if not text.endswith("\x01\x01"):
        return None
    pairs: dict[str, str] = {}
    for item in text[:-2].split("\x01") if text != "\x01\x01" else []:
        key, equals, value = item.partition("=")
        if not equals or not _KEY_RE.fullmatch(key) or key in pairs:
            return None
        pairs[key] = value
    return pairs


def _bearer_value(auth: str) -> str | None:
    """The token from ``auth=Bearer <token>`` (scheme case-insensitive), ``""`` for ``auth=``."""
    if auth == "":
        return ""
    scheme, space, token = auth.partition(" ")
    if not space or scheme.lower() != "bearer" or not _B64TOKEN_RE.fullmatch(token):
        return None
    return token


class BearerServer(ServerBase):
    """Server side of OAUTHBEARER (RFC 7628 section 3) and XOAUTH2.

    A refused token gets one challenge with the JSON error; the client must
    answer it with the dummy response (``%x01`` for OAUTHBEARER, empty for
    XOAUTH2; either is accepted for both, as msmtp sends an empty one) and
    the exchange then fails (RFC 7628 section 3.2.3).

    Args:
        mechanism: ``"OAUTHBEARER"`` or ``"XOAUTH2"``.
        credentials: asked whether the token's identity may act as the authzid.
        token_validator: the application's check of a token.
        error: the JSON error object sent for a refused token.
        max_response_size: the largest response looked at, in octets.

    Raises:
        ValueError: another mechanism name.
    """

    def __init__(
        self,
        mechanism: str,
        credentials: CredentialStore,
        *,
        token_validator: TokenValidator,
        error: bytes = DEFAULT_BEARER_ERROR,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        super().__init__(max_response_size=max_response_size)
        name = mechanism.strip().upper()
        if name not in ("OAUTHBEARER", "XOAUTH2"):
            raise ValueError(f"{mechanism!r} is not a bearer token mechanism")
        self.name = name
        self._credentials = credentials
        self._validator = token_validator
        self._error = error
        self._refused = False

    def _step(self, response: bytes) -> Step:
        if self._refused:
            # RFC 7628 asks for %x01; msmtp (and XOAUTH2 clients) send an empty
            # response. The exchange fails either way, so both are accepted.
            if response not in (b"\x01", b""):
                return Failure(reason=f"malformed {self.name} response to the error challenge", malformed=True)
            return Failure(reason="invalid token")
        try:
            text = response.decode("utf-8")
        except UnicodeDecodeError:
            return self._malformed("not UTF-8")
        if any(c in text for c in "\r\n\x00"):
            return self._malformed("CR, LF or NUL")
        token = self._parse(text)
        if token is None:
            return self._malformed("client response")
        # XOAUTH2's user= names the mailbox the token is for, not an authzid.
        authzid = token.user if self.name == "OAUTHBEARER" else ""
        try:
            authcid = self._validator(token) if token.token else None
            if authcid is None:
                self._refused = True
                return Challenge(data=self._error)
            if not authorize(self._credentials, authcid, authzid):
                return Failure(reason="not authorized to act as the requested authzid")
        except CredentialsUnavailable:
            return Failure(reason="token validation unavailable", temporary=True)
        return Success(authcid=authcid, authzid=authzid)

    def _malformed(self, what: str) -> Failure:
        return Failure(reason=f"malformed {self.name} {what}", malformed=True)

    def _parse(self, text: str) -> BearerToken | None:
        if self.name == "XOAUTH2":
            pairs = _parse_kvpairs(text)
            if pairs is None or set(pairs) != {"user", "auth"} or not pairs["user"]:
                return None
            token = _bearer_value(pairs["auth"])
            if not token:
                return None
            return BearerToken(mechanism=self.name, user=pairs["user"], token=token)
        header, comma, rest = text.partition(",")
        authz, comma2, rest = rest.partition(",")
        if not comma or not comma2 or header not in ("n", "y") or not rest.startswith("\x01"):
            return None
        user = ""
        if authz:
            if not authz.startswith("a="):
                return None
            decoded = decode_saslname(authz[2:])
            if decoded is None:
                return None
            user = decoded
        pairs = _parse_kvpairs(rest[1:])
        if pairs is None or "auth" not in pairs:
            return None
        token = _bearer_value(pairs["auth"])
        port_text = pairs.get("port")
        if token is None or (port_text is not None and not _PORT_RE.fullmatch(port_text)):
            return None
        port = int(port_text) if port_text is not None else None
        return BearerToken(mechanism=self.name, user=user, token=token, host=pairs.get("host", ""), port=port)
