"""Mechanism names, preference order and the two factories (RFC 4422 sections 3.1 and 7).

:func:`create_client` and :func:`create_server` build one mechanism object
per exchange from its registered name; :func:`choose_mechanism` and
:func:`server_mechanisms` apply the plaintext rule of RFC 4954 section 4 and
RFC 8314 (SECURITY A6.1): PLAIN, LOGIN and bearer tokens only under TLS
unless the caller allows them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ..errors import RfcmailError
from ._base import (
    DEFAULT_MAX_RESPONSE_SIZE,
    ChannelBinding,
    ClientMechanism,
    CredentialStore,
    ServerMechanism,
)
from ._credentials import DEFAULT_SALTED_PASSWORD_CACHE, DEFAULT_SCRAM_ITERATIONS, SaltedPasswordCache
from .cram_md5 import CramMD5Client, CramMD5Server
from .external import ExternalClient, ExternalServer
from .login import LoginClient, LoginServer
from .plain import PlainClient, PlainServer
from .scram import DEFAULT_MAX_ITERATIONS, DEFAULT_MIN_ITERATIONS, ScramClient, ScramServer
from .xoauth2 import BearerServer, OAuthBearerClient, TokenValidator, XOAuth2Client

__all__ = [
    "PASSWORD_MECHANISMS",
    "PLAINTEXT_MECHANISMS",
    "TOKEN_MECHANISMS",
    "UnknownMechanismError",
    "choose_mechanism",
    "client_mechanisms",
    "create_client",
    "create_server",
    "server_mechanisms",
]

PASSWORD_MECHANISMS: tuple[str, ...] = (
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "CRAM-MD5",
    "PLAIN",
    "LOGIN",
)
"""Mechanisms a client with a user name and password can use, strongest first."""

TOKEN_MECHANISMS: tuple[str, ...] = ("OAUTHBEARER", "XOAUTH2")
"""Mechanisms a client with an OAuth 2.0 bearer token can use, preferred first."""

PLAINTEXT_MECHANISMS = frozenset({"PLAIN", "LOGIN", "OAUTHBEARER", "XOAUTH2"})
"""Mechanisms that put a reusable secret on the wire: TLS required by default."""

_CLIENT_NAMES = frozenset(PASSWORD_MECHANISMS) | frozenset(TOKEN_MECHANISMS) | {"EXTERNAL"}
_SERVER_NAMES = frozenset(PASSWORD_MECHANISMS) | frozenset(TOKEN_MECHANISMS) | {"EXTERNAL"}


class UnknownMechanismError(RfcmailError, ValueError):
    """The mechanism name is not one rfcmail implements for that side."""


def client_mechanisms() -> tuple[str, ...]:
    """Return the password mechanisms a client supports, in preference order."""
    return PASSWORD_MECHANISMS


def choose_mechanism(
    offered: Iterable[str],
    *,
    tls: bool,
    allow_plaintext: bool = False,
    channel_binding: bool = False,
    candidates: Sequence[str] = PASSWORD_MECHANISMS,
) -> str | None:
    """Pick the strongest mechanism the server offered.

    Args:
        offered: the names the server advertised (any case).
        tls: the connection is protected by TLS.
        allow_plaintext: allow PLAIN, LOGIN and bearer tokens without TLS
            (SECURITY A6.1: off by default).
        channel_binding: the adapter can supply channel-binding data, so
            ``-PLUS`` variants may be chosen.
        candidates: what the client can do, in preference order; pass
            :data:`TOKEN_MECHANISMS` for a bearer token, ``("EXTERNAL",)`` for
            a TLS client certificate.

    Returns:
        The chosen name, upper case, or ``None`` when nothing fits.
    """
    server_side = {name.strip().upper() for name in offered}
    for name in candidates:
        upper = name.upper()
        if upper not in server_side:
            continue
        if upper.endswith("-PLUS") and not channel_binding:
            continue
        if upper in PLAINTEXT_MECHANISMS and not (tls or allow_plaintext):
            continue
        return upper
    return None


def server_mechanisms(
    credentials: CredentialStore,
    *,
    tls: bool,
    allow_plaintext: bool = False,
    channel_binding: bool = False,
    external: bool = False,
    bearer: bool = False,
) -> tuple[str, ...]:
    """Return what a server may advertise now, strongest first.

    Args:
        credentials: the store; CRAM-MD5 is listed only when it keeps plain
            passwords (its ``has_plain_passwords`` attribute is true).
        tls: the connection is protected by TLS.
        allow_plaintext: advertise PLAIN and LOGIN without TLS (SECURITY
            A6.1: off by default; RFC 4954 section 4).
        channel_binding: the adapter has channel-binding data, so the
            ``-PLUS`` variants are advertised (and the server can detect a
            downgrade, RFC 5802 section 6).
        external: the adapter has an external identity (a verified TLS
            client certificate), so EXTERNAL is advertised.
        bearer: the server has a token validator, so OAUTHBEARER and
            XOAUTH2 are advertised (under the same TLS rule as PLAIN).
    """
    names: list[str] = []
    if channel_binding:
        names += ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"]
    names += ["SCRAM-SHA-256", "SCRAM-SHA-1"]
    if getattr(credentials, "has_plain_passwords", False):
        names.append("CRAM-MD5")
    if tls or allow_plaintext:
        names += ["PLAIN", "LOGIN"]
        if bearer:
            names += list(TOKEN_MECHANISMS)
    if external:
        names.insert(0, "EXTERNAL")
    return tuple(names)


def create_client(
    mechanism: str,
    *,
    username: str = "",
    password: str = "",
    authzid: str = "",
    token: str = "",
    host: str = "",
    port: int = 0,
    nonce: Callable[[], str] | None = None,
    channel_binding: ChannelBinding | None = None,
    min_iterations: int = DEFAULT_MIN_ITERATIONS,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    salted_password_cache: SaltedPasswordCache | None = DEFAULT_SALTED_PASSWORD_CACHE,
) -> ClientMechanism:
    """Build the client side of one exchange.

    Args:
        mechanism: the mechanism name (any case).
        username: the authentication identity (PLAIN, LOGIN, CRAM-MD5, SCRAM,
            XOAUTH2; for OAUTHBEARER the ``a=`` identity unless ``authzid``
            is given).
        password: the password (PLAIN, LOGIN, CRAM-MD5, SCRAM).
        authzid: the identity to act as (PLAIN, SCRAM, OAUTHBEARER, EXTERNAL).
        token: the OAuth 2.0 bearer token (XOAUTH2, OAUTHBEARER).
        host: the server's host name (OAUTHBEARER ``host=``).
        port: the server's port (OAUTHBEARER ``port=``; 0 leaves it out).
        nonce: the client nonce source (SCRAM); defaults to :mod:`secrets`.
        channel_binding: TLS channel-binding data (required by ``-PLUS``;
            for plain SCRAM it makes the client send ``y``).
        min_iterations: lowest SCRAM iteration count accepted from the server.
        max_iterations: highest SCRAM iteration count accepted (a hostile
            server could otherwise make the client burn CPU).
        salted_password_cache: SCRAM SaltedPassword cache, ``None`` for none.

    Raises:
        UnknownMechanismError: the name is not a client mechanism here.
        rfcmail.errors.LocalProtocolError: a CR, LF or NUL in an argument, or
            an argument the mechanism needs is missing.
    """
    name = mechanism.strip().upper()
    if name not in _CLIENT_NAMES:
        raise UnknownMechanismError(f"no SASL client mechanism named {mechanism!r}")
    if name == "PLAIN":
        return PlainClient(username=username, password=password, authzid=authzid)
    if name == "LOGIN":
        return LoginClient(username=username, password=password)
    if name == "CRAM-MD5":
        return CramMD5Client(username=username, password=password)
    if name == "EXTERNAL":
        return ExternalClient(authzid=authzid)
    if name == "XOAUTH2":
        return XOAuth2Client(username=username, token=token)
    if name == "OAUTHBEARER":
        return OAuthBearerClient(authzid=authzid or username, token=token, host=host, port=port)
    return ScramClient(
        name,
        username=username,
        password=password,
        authzid=authzid,
        nonce=nonce,
        channel_binding=channel_binding,
        min_iterations=min_iterations,
        max_iterations=max_iterations,
        salted_password_cache=salted_password_cache,
    )


def create_server(
    mechanism: str,
    credentials: CredentialStore,
    *,
    nonce: Callable[[], str] | None = None,
    external_identity: str | None = None,
    channel_binding: ChannelBinding | None = None,
    hostname: str = "localhost",
    max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    dummy_iterations: int = DEFAULT_SCRAM_ITERATIONS,
    token_validator: TokenValidator | None = None,
) -> ServerMechanism:
    """Build the server side of one exchange.

    Args:
        mechanism: the mechanism name (any case).
        credentials: where users are looked up.
        nonce: the server nonce source (SCRAM, and the CRAM-MD5 challenge).
        external_identity: the identity the adapter established outside SASL
            (EXTERNAL), e.g. from a verified TLS client certificate.
        channel_binding: this connection's channel-binding data. Pass it
            exactly when the ``-PLUS`` variants were advertised: a client
            saying ``y`` is then refused as a downgrade (RFC 5802 section 6).
        hostname: the server's name in the CRAM-MD5 challenge.
        max_response_size: the largest client response looked at, in octets.
        dummy_iterations: PBKDF2 iterations of unknown users' dummy keys; set
            it to what your store uses so unknown users cost the same.
        token_validator: checks OAUTHBEARER and XOAUTH2 tokens (required
            for those two): gets a :class:`~rfcmail.sasl.xoauth2.BearerToken`,
            returns the identity it grants or ``None``.

    Raises:
        UnknownMechanismError: the name is not a server mechanism here, or
            a bearer mechanism without a ``token_validator``.
    """
    name = mechanism.strip().upper()
    if name not in _SERVER_NAMES:
        raise UnknownMechanismError(f"no SASL server mechanism named {mechanism!r}")
    if name == "PLAIN":
        return PlainServer(credentials, max_response_size=max_response_size, dummy_iterations=dummy_iterations)
    if name == "LOGIN":
        return LoginServer(credentials, max_response_size=max_response_size, dummy_iterations=dummy_iterations)
    if name == "CRAM-MD5":
        return CramMD5Server(credentials, nonce=nonce, hostname=hostname, max_response_size=max_response_size)
    if name == "EXTERNAL":
        return ExternalServer(credentials, external_identity=external_identity, max_response_size=max_response_size)
    if name in TOKEN_MECHANISMS:
        if token_validator is None:
            raise UnknownMechanismError(f"{name} needs a token_validator on the server side")
        return BearerServer(name, credentials, token_validator=token_validator, max_response_size=max_response_size)
    return ScramServer(
        name,
        credentials,
        nonce=nonce,
        channel_binding=channel_binding,
        max_response_size=max_response_size,
        dummy_iterations=dummy_iterations,
    )
