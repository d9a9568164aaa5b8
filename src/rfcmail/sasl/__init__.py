"""Sans-IO SASL mechanisms, client and server (RFC 4422).

Mechanisms exchange raw bytes; base64 and the protocol framing (SMTP
``334``, IMAP and POP3 ``+``) belong to the protocol machine. No I/O, no
clock; randomness comes in as a ``nonce`` callable (default: :mod:`secrets`).

- Client: :func:`create_client` returns a :class:`ClientMechanism`;
  :func:`choose_mechanism` picks the strongest offered one (PLAIN and LOGIN
  only under TLS unless allowed).
- Server: :func:`create_server` returns a :class:`ServerMechanism` whose
  ``start`` and ``step`` return a :class:`Challenge`, :class:`Success` or
  :class:`Failure`; :func:`server_mechanisms` lists what may be advertised;
  :class:`ServerExchange` drives one from a protocol's framing.
- Credentials: the :class:`CredentialStore` Protocol,
  :class:`InMemoryCredentialStore`, :func:`derive_scram_credentials`.

Mechanisms: PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login), CRAM-MD5
(RFC 2195), SCRAM-SHA-1 and SCRAM-SHA-256 with -PLUS (RFC 5802, RFC 7677),
OAUTHBEARER (RFC 7628) and XOAUTH2 (the server side with an application's
token validator), EXTERNAL (RFC 4422 appendix A).
"""

from __future__ import annotations

from ._base import (
    DEFAULT_MAX_RESPONSE_SIZE,
    ChannelBinding,
    Challenge,
    ClientMechanism,
    CredentialStore,
    CredentialsUnavailable,
    Failure,
    SASLError,
    ScramCredentials,
    ServerMechanism,
    Step,
    Success,
)
from ._channel_binding import tls_server_end_point
from ._credentials import (
    DEFAULT_SCRAM_ITERATIONS,
    InMemoryCredentialStore,
    SaltedPasswordCache,
    ScramHash,
    derive_scram_credentials,
    format_scram_credentials,
    parse_scram_credentials,
)
from ._exchange import DEFAULT_MAX_ROUND_TRIPS, ServerExchange
from ._registry import (
    PASSWORD_MECHANISMS,
    PLAINTEXT_MECHANISMS,
    TOKEN_MECHANISMS,
    UnknownMechanismError,
    choose_mechanism,
    client_mechanisms,
    create_client,
    create_server,
    server_mechanisms,
)
from ._saslprep import SASLprepError, saslprep
from .plain import check_credentials
from .scram import DEFAULT_MAX_ITERATIONS, DEFAULT_MIN_ITERATIONS
from .xoauth2 import BearerToken, TokenValidator

__all__ = [
    "DEFAULT_MAX_ITERATIONS",
    "DEFAULT_MAX_RESPONSE_SIZE",
    "DEFAULT_MAX_ROUND_TRIPS",
    "DEFAULT_MIN_ITERATIONS",
    "DEFAULT_SCRAM_ITERATIONS",
    "PASSWORD_MECHANISMS",
    "PLAINTEXT_MECHANISMS",
    "TOKEN_MECHANISMS",
    "ChannelBinding",
    "BearerToken",
    "Challenge",
    "ClientMechanism",
    "CredentialStore",
    "CredentialsUnavailable",
    "Failure",
    "InMemoryCredentialStore",
    "SASLError",
    "SASLprepError",
    "SaltedPasswordCache",
    "ScramCredentials",
    "ScramHash",
    "ServerExchange",
    "ServerMechanism",
    "Step",
    "Success",
    "TokenValidator",
    "UnknownMechanismError",
    "check_credentials",
    "choose_mechanism",
    "client_mechanisms",
    "create_client",
    "create_server",
    "derive_scram_credentials",
    "format_scram_credentials",
    "parse_scram_credentials",
    "saslprep",
    "server_mechanisms",
    "tls_server_end_point",
]
