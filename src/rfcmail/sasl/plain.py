"""The PLAIN mechanism (RFC 4616), client and server.

RFC 4616 section 2: one message from the client, no challenge::

    message = [authzid] UTF8NUL authcid UTF8NUL passwd

Each field is UTF-8 without NUL; authcid and passwd are not empty. The
server prepares authcid and passwd with SASLprep (RFC 4013) before checking
them. rfcmail also refuses CR and LF in any field (SECURITY A3.3), so a
decoded credential can never be relayed as two lines.
"""

from __future__ import annotations

from ._base import (
    DEFAULT_MAX_RESPONSE_SIZE,
    CredentialStore,
    CredentialsUnavailable,
    Failure,
    OneMessageClient,
    ServerBase,
    Step,
    Success,
    authorize,
    check_argument,
    decode_utf8,
)
from ._credentials import DEFAULT_SCRAM_ITERATIONS, DUMMY_SECRET, ScramHash, verify_password
from ._saslprep import SASLprepError, saslprep

__all__ = ["PasswordServer", "PlainClient", "PlainServer", "check_credentials"]


class PlainClient(OneMessageClient):
    """Client side of PLAIN: sends ``authzid NUL authcid NUL passwd`` once.

    Args:
        username: the authentication identity (authcid), not empty.
        password: the password, not empty.
        authzid: the identity to act as; empty to act as ``username``.

    Raises:
        rfcmail.errors.LocalProtocolError: a CR, LF or NUL in an argument, or
            an empty user name or password.
    """

    name = "PLAIN"

    def __init__(self, *, username: str, password: str, authzid: str = "") -> None:
        check_argument("username", username, required=True)
        check_argument("password", password, required=True)
        check_argument("authzid", authzid)
        super().__init__(b"\x00".join(field.encode("utf-8") for field in (authzid, username, password)))


class PasswordServer(ServerBase):
    """What PLAIN and LOGIN servers share: the store and the unknown-user settings.

    Args:
        credentials: where users are looked up.
        max_response_size: the largest response looked at, in octets.
        dummy_secret: the secret for unknown users' dummy salt.
        dummy_iterations: PBKDF2 iterations for unknown users (match the store's).
        hash_functions: the SCRAM-SHA-256 primitives (tests count calls).
    """

    def __init__(
        self,
        credentials: CredentialStore,
        *,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        dummy_secret: bytes = DUMMY_SECRET,
        dummy_iterations: int = DEFAULT_SCRAM_ITERATIONS,
        hash_functions: ScramHash | None = None,
    ) -> None:
        super().__init__(max_response_size=max_response_size)
        self._credentials = credentials
        self._dummy_secret = dummy_secret
        self._dummy_iterations = dummy_iterations
        self._hash_functions = hash_functions

    def _check(self, authcid: str, password: str, authzid: str = "") -> Success | Failure:
        return check_credentials(
            self._credentials,
            authcid,
            password,
            authzid,
            dummy_secret=self._dummy_secret,
            dummy_iterations=self._dummy_iterations,
            hash_functions=self._hash_functions,
            mechanism=self.name,
        )


class PlainServer(PasswordServer):
    """Server side of PLAIN (RFC 4616 section 2); arguments as :class:`PasswordServer`."""

    name = "PLAIN"

    def _step(self, response: bytes) -> Step:
        fields = response.split(b"\x00")
        if len(fields) != 3:
            return Failure(reason="malformed PLAIN message: it needs exactly two NULs", malformed=True)
        decoded = [decode_utf8(field) for field in fields]
        authzid, authcid, password = decoded
        if authzid is None or authcid is None or password is None:
            return Failure(reason="malformed PLAIN message: not UTF-8", malformed=True)
        return self._check(authcid, password, authzid)


def check_credentials(
    credentials: CredentialStore,
    authcid: str,
    password: str,
    authzid: str = "",
    *,
    dummy_secret: bytes = DUMMY_SECRET,
    dummy_iterations: int = DEFAULT_SCRAM_ITERATIONS,
    hash_functions: ScramHash | None = None,
    mechanism: str = "PLAIN",
) -> Success | Failure:
    """Check a user name and password the way PLAIN and LOGIN do.

    POP3 ``USER``/``PASS`` and IMAP ``LOGIN`` can use it too. CR, LF and NUL
    in any field, an empty authcid or password, and a name or password that
    SASLprep refuses are malformed; a wrong password, an unknown user and a
    refused authzid are plain failures with the same reason.
    """
    for value in (authzid, authcid, password):
        if "\r" in value or "\n" in value or "\x00" in value:
            return Failure(reason=f"malformed {mechanism} credentials: CR, LF or NUL in a field", malformed=True)
    if not authcid or not password:
        return Failure(reason=f"malformed {mechanism} credentials: empty user name or password", malformed=True)
    try:
        prepared_authcid = saslprep(authcid)
    except SASLprepError:
        return Failure(reason=f"malformed {mechanism} credentials: user name refused by SASLprep", malformed=True)
    if not prepared_authcid:
        return Failure(reason=f"malformed {mechanism} credentials: empty user name", malformed=True)
    try:
        valid = verify_password(
            credentials,
            prepared_authcid,
            password,
            dummy_secret=dummy_secret,
            dummy_iterations=dummy_iterations,
            hash_functions=hash_functions,
        )
    except CredentialsUnavailable:
        return Failure(reason="credential store unavailable", temporary=True)
    if not valid:
        return Failure(reason="invalid credentials")
    if not authorize(credentials, prepared_authcid, authzid):
        return Failure(reason="not authorized to act as the requested authzid")
    return Success(authcid=prepared_authcid, authzid=authzid)
