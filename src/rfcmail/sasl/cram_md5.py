"""The CRAM-MD5 mechanism (RFC 2195), client and server.

The server sends a unique challenge in msg-id form (``<nonce@host>``); the
client answers ``user SP digest`` where digest is the lowercase hex
``HMAC-MD5(password, challenge)`` (RFC 2195 section 2, RFC 2104). The server
needs the plain password, so it is offered only by stores that keep one;
it prepares the user name with SASLprep (RFC 4013) before the lookup, as the
other mechanisms do.
CRAM-MD5 is obsolete (RFC 6331 moved its sibling DIGEST-MD5 to Historic);
rfcmail keeps it because deployed clients and Dovecot still use it, and
prefers SCRAM.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable

from ..errors import LocalProtocolError
from ._base import (
    DEFAULT_MAX_RESPONSE_SIZE,
    Challenge,
    ClientBase,
    CredentialStore,
    CredentialsUnavailable,
    Failure,
    SASLError,
    ServerBase,
    Step,
    Success,
    check_argument,
    decode_utf8,
    default_nonce,
)
from ._credentials import DUMMY_SECRET
from ._saslprep import SASLprepError, saslprep

__all__ = ["CramMD5Client", "CramMD5Server", "cram_md5_digest"]

_DIGEST_RE = re.compile(rb"[0-9a-f]{32}")
_CHALLENGE_PART_RE = re.compile(r"[\x21-\x7e]+")


def cram_md5_digest(password: bytes, challenge: bytes) -> str:
    """Return the lowercase hex ``HMAC-MD5(password, challenge)`` (RFC 2195 section 2)."""
    return hmac.new(password, challenge, "md5").hexdigest()


class CramMD5Client(ClientBase):
    """Client side of CRAM-MD5.

    Args:
        username: the user name, not empty.
        password: the password (the HMAC key), not empty.

    Raises:
        rfcmail.errors.LocalProtocolError: a CR, LF or NUL in an argument, or
            an empty one.
    """

    name = "CRAM-MD5"
    has_initial_response = False

    def __init__(self, *, username: str, password: str) -> None:
        super().__init__()
        check_argument("username", username, required=True)
        check_argument("password", password, required=True)
        self._username = username.encode("utf-8")
        self._password = password.encode("utf-8")
        self._answered = False

    def initial_response(self) -> None:
        """CRAM-MD5 has no initial response."""
        return None

    def respond(self, challenge: bytes) -> bytes:
        """Answer the server's challenge with ``user SP digest``.

        Raises:
            SASLError: an empty challenge, or a second one.
        """
        self._refuse_if_complete()
        if self._answered:
            raise SASLError("CRAM-MD5: the server sent a second challenge")
        if not challenge:
            raise SASLError("CRAM-MD5: the server's challenge is empty")
        self._answered = True
        return self._username + b" " + cram_md5_digest(self._password, challenge).encode("ascii")

    def verify_success(self, additional_data: bytes | None = None) -> None:
        """Accept success: CRAM-MD5 proves nothing about the server.

        Raises:
            SASLError: success before the challenge was answered, or with data.
        """
        if not self._answered:
            raise SASLError("CRAM-MD5: success before the challenge was answered")
        super().verify_success(additional_data)


class CramMD5Server(ServerBase):
    """Server side of CRAM-MD5.

    Args:
        credentials: the store; it must return plain passwords.
        nonce: the source of the challenge's unique part (printable ASCII).
        hostname: the host part of the challenge.
        max_response_size: the largest response looked at, in octets.
        dummy_secret: the key material for unknown users' dummy password.

    Raises:
        rfcmail.errors.LocalProtocolError: the host name is not printable ASCII.
    """

    name = "CRAM-MD5"

    def __init__(
        self,
        credentials: CredentialStore,
        *,
        nonce: Callable[[], str] | None = None,
        hostname: str = "localhost",
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        dummy_secret: bytes = DUMMY_SECRET,
    ) -> None:
        super().__init__(max_response_size=max_response_size)
        if not _CHALLENGE_PART_RE.fullmatch(hostname) or any(c in hostname for c in "<>@"):
            raise LocalProtocolError("CRAM-MD5 host name must be printable ASCII without <, >, @")
        self._credentials = credentials
        self._nonce = nonce or default_nonce
        self._hostname = hostname
        self._dummy_secret = dummy_secret
        self._challenge = b""

    def _start(self, initial_response: bytes | None) -> Step:
        if initial_response:
            return Failure(reason="malformed CRAM-MD5 exchange: an initial response", malformed=True)
        unique = self._nonce()
        if not _CHALLENGE_PART_RE.fullmatch(unique) or any(c in unique for c in "<>@"):
            raise LocalProtocolError("CRAM-MD5 nonce must be printable ASCII without <, >, @")
        self._challenge = f"<{unique}@{self._hostname}>".encode("ascii")
        return Challenge(data=self._challenge)

    def _step(self, response: bytes) -> Step:
        user_part, space, digest = response.rpartition(b" ")
        if not space or not user_part or not _DIGEST_RE.fullmatch(digest):
            return Failure(reason="malformed CRAM-MD5 response: expected 'user digest'", malformed=True)
        name = decode_utf8(user_part)
        if name is None or any(c in name for c in "\r\n\x00"):
            return Failure(reason="malformed CRAM-MD5 response: bad user name", malformed=True)
        try:
            username = saslprep(name)
        except SASLprepError:
            return Failure(reason="malformed CRAM-MD5 response: user name refused by SASLprep", malformed=True)
        try:
            password = self._credentials.get_password(username)
        except CredentialsUnavailable:
            return Failure(reason="credential store unavailable", temporary=True)
        # SECURITY A6.2: an unknown user costs one HMAC and one comparison too.
        key = password.encode("utf-8") if password is not None else self._dummy_key(username)
        expected = cram_md5_digest(key, self._challenge).encode("ascii")
        if not hmac.compare_digest(expected, digest) or password is None:
            return Failure(reason="invalid credentials")
        return Success(authcid=username, authzid="")

    def _dummy_key(self, username: str) -> bytes:
        return hmac.new(self._dummy_secret, b"cram-md5\x00" + username.encode("utf-8"), "sha256").digest()
