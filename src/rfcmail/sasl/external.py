"""The EXTERNAL mechanism (RFC 4422 appendix A), client and server.

The client is authenticated by something outside SASL (a verified TLS
client certificate, a Unix socket peer); the adapter hands that identity to
the server mechanism. The client's only message is the authorization
identity it asks for, empty to act as the external identity (appendix A.1).
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

__all__ = ["ExternalClient", "ExternalServer"]


class ExternalClient(OneMessageClient):
    """Client side of EXTERNAL: sends the requested authzid (maybe empty).

    Args:
        authzid: the identity to act as; empty for the external identity.

    Raises:
        rfcmail.errors.LocalProtocolError: a CR, LF or NUL in ``authzid``.
    """

    name = "EXTERNAL"

    def __init__(self, *, authzid: str = "") -> None:
        check_argument("authzid", authzid)
        super().__init__(authzid.encode("utf-8"))


class ExternalServer(ServerBase):
    """Server side of EXTERNAL.

    Args:
        credentials: asked whether the external identity may act as the authzid.
        external_identity: what the adapter established, or ``None`` (then
            every attempt fails).
        max_response_size: the largest response looked at, in octets.
    """

    name = "EXTERNAL"

    def __init__(
        self,
        credentials: CredentialStore,
        *,
        external_identity: str | None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        super().__init__(max_response_size=max_response_size)
        self._credentials = credentials
        self._identity = external_identity

    def _step(self, response: bytes) -> Step:
        authzid = decode_utf8(response)
        if authzid is None or any(c in authzid for c in "\r\n\x00"):
            return Failure(reason="malformed EXTERNAL authzid", malformed=True)
        if self._identity is None:
            return Failure(reason="no external identity on this connection")
        try:
            allowed = authorize(self._credentials, self._identity, authzid)
        except CredentialsUnavailable:
            return Failure(reason="credential store unavailable", temporary=True)
        if not allowed:
            return Failure(reason="not authorized to act as the requested authzid")
        return Success(authcid=self._identity, authzid=authzid)
