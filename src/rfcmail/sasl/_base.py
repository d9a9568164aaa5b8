"""The SASL contract: mechanism Protocols, server step results, errors, credentials.

RFC 4422 (Simple Authentication and Security Layer) section 3 describes an
exchange of challenges and responses between a client and a server
mechanism, framed by an application protocol (SMTP ``AUTH``, RFC 4954;
IMAP ``AUTHENTICATE``, RFC 3501 section 6.2.2; POP3 ``AUTH``, RFC 5034).
rfcmail keeps the two apart: the mechanisms here exchange raw bytes, and
the protocol machine does base64 and the ``334`` / ``+`` framing.

Nothing here does I/O or reads a clock. Randomness comes in as an argument
(a ``nonce`` callable) and defaults to the :mod:`secrets` module.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import LocalProtocolError, RfcmailError

__all__ = [
    "DEFAULT_MAX_RESPONSE_SIZE",
    "ChannelBinding",
    "Challenge",
    "ClientMechanism",
    "CredentialStore",
    "Failure",
    "SASLError",
    "ScramCredentials",
    "ServerMechanism",
    "Step",
    "Success",
    "default_nonce",
]

DEFAULT_MAX_RESPONSE_SIZE = 8192
"""Largest client response, in octets after base64 decoding, that a server
mechanism looks at. RFC 4616 section 2 requires accepting 255 octets for each
PLAIN field; RFC 4954 section 4 sizes an SMTP AUTH line at 12288 octets of
base64, about 9 KiB decoded. A longer response is a :class:`Failure`."""


class SASLError(RfcmailError):
    """The peer broke the mechanism (client side).

    Raised by :meth:`ClientMechanism.respond` for a challenge that does not
    follow the mechanism (a SCRAM nonce that does not extend ours, an
    iteration count out of bounds, one challenge too many), and by
    :meth:`ClientMechanism.verify_success` when the server claimed success
    without proving it (a wrong or missing SCRAM server signature). The
    protocol adapter should cancel the exchange (``*``) or drop the
    connection; the server must not be trusted after it.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelBinding:
    """Channel-binding data handed in by the TLS adapter (RFC 5056, RFC 5929, RFC 9266).

    Attributes:
        type: the channel-binding type name, ``"tls-unique"`` (RFC 5929
            section 3) or ``"tls-exporter"`` (RFC 9266).
        data: the binding octets for that type on this TLS connection.
    """

    type: str
    data: bytes

    def __post_init__(self) -> None:
        # RFC 5802 section 7: cb-name = 1*(ALPHA / DIGIT / "." / "-")
        if not self.type or not all(c.isascii() and (c.isalnum() or c in ".-") for c in self.type):
            raise LocalProtocolError(f"channel-binding type {self.type!r} is not a cb-name")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScramCredentials:
    """What a server stores for one user and one SCRAM hash (RFC 5802 section 3).

    The password itself is not needed: ``StoredKey = H(ClientKey)`` and
    ``ServerKey = HMAC(SaltedPassword, "Server Key")``. Make them with
    :func:`rfcmail.sasl.derive_scram_credentials`.

    Attributes:
        salt: the user's salt (sent to the client base64-encoded).
        iterations: the PBKDF2 iteration count used for SaltedPassword.
        stored_key: ``H(HMAC(SaltedPassword, "Client Key"))``.
        server_key: ``HMAC(SaltedPassword, "Server Key")``.
    """

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes

    def __post_init__(self) -> None:
        if not self.salt:
            raise ValueError("ScramCredentials.salt must not be empty")
        if self.iterations < 1:
            raise ValueError(f"ScramCredentials.iterations must be at least 1, got {self.iterations}")
        if len(self.stored_key) != len(self.server_key):
            raise ValueError("ScramCredentials.stored_key and server_key differ in length")

    def __repr__(self) -> str:
        # Keys are password equivalents for the server: keep them out of logs.
        return f"ScramCredentials(salt=<{len(self.salt)} octets>, iterations={self.iterations})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    """The server mechanism wants to send this challenge and read a response.

    Attributes:
        data: the raw challenge; the protocol base64-encodes it (an empty
            challenge is a bare ``334`` line in SMTP, a bare ``+`` in IMAP).
    """

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Success:
    """The client authenticated.

    Attributes:
        authcid: the authentication identity, as the credential store knows it.
        authzid: the authorization identity the client asked for; empty when it
            asked for none (act as ``authcid``). Already checked with
            :meth:`CredentialStore.authorize`.
        additional_data: data the server must send with the success (SCRAM's
            server-final-message). A protocol that cannot carry data with its
            success reply (SMTP, POP3, IMAP4rev1) sends it as one more
            challenge, reads an empty response, then reports success
            (RFC 4422 section 5 item 7, RFC 4954 section 4).
    """

    authcid: str
    authzid: str
    additional_data: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """Authentication failed; the protocol answers with its failure reply.

    The reason is a fixed text chosen by rfcmail: it never echoes client data,
    so it is safe to log (SECURITY A3.3).

    Attributes:
        reason: why, for logs (``"invalid-proof"``, ``"malformed PLAIN message"``).
        temporary: the failure is not the client's fault (the credential store
            is unavailable); SMTP answers ``454 4.7.0`` instead of ``535 5.7.8``.
        malformed: the client's data did not follow the mechanism (SMTP
            answers ``501 5.5.2``), as opposed to wrong credentials.
    """

    reason: str
    temporary: bool = False
    malformed: bool = False


Step = Challenge | Success | Failure
"""What a server mechanism returns from ``start`` and ``step``."""


@runtime_checkable
class ClientMechanism(Protocol):
    """The client side of one SASL exchange (RFC 4422 section 3).

    Use one object per exchange. The protocol calls :meth:`initial_response`
    once when it starts (sending the result as the initial response when the
    protocol allows one), :meth:`respond` for each server challenge, and
    :meth:`verify_success` when the server reports success.

    Attributes:
        name: the registered mechanism name, upper case (``"SCRAM-SHA-256"``).
        has_initial_response: the mechanism starts with a client message
            (RFC 4422 section 3.3: "client-first").
        complete: :meth:`verify_success` accepted the server's success.
    """

    name: str
    has_initial_response: bool

    @property
    def complete(self) -> bool: ...

    def initial_response(self) -> bytes | None:
        """Return the initial response, or ``None`` when the mechanism has none."""
        ...

    def respond(self, challenge: bytes) -> bytes:
        """Answer one server challenge.

        Raises:
            SASLError: the challenge breaks the mechanism.
        """
        ...

    def verify_success(self, additional_data: bytes | None = None) -> None:
        """Check the server's success (and its additional data, when it sent some).

        Raises:
            SASLError: the server has not proven what the mechanism requires.
        """
        ...


@runtime_checkable
class ServerMechanism(Protocol):
    """The server side of one SASL exchange.

    ``start`` takes the client's initial response (``None`` when it sent
    none; ``b""`` for an empty one, ``=`` in SMTP and IMAP) and each
    following client response goes to ``step``. Client data never makes these
    methods raise: malformed input is a :class:`Failure`. Calling them out of
    order (``step`` before ``start`` or after the result) raises
    :class:`rfcmail.errors.LocalProtocolError`, a bug in the caller.

    Attributes:
        name: the mechanism name, upper case.
        complete: a :class:`Success` or :class:`Failure` has been returned,
            or :meth:`abort` was called.
    """

    name: str

    @property
    def complete(self) -> bool: ...

    def start(self, initial_response: bytes | None) -> Step:
        """Begin the exchange."""
        ...

    def step(self, response: bytes) -> Step:
        """Take the client's response to the last challenge."""
        ...

    def abort(self) -> Failure:
        """End the exchange (the client cancelled with ``*``, RFC 4954 section 4)."""
        ...


@runtime_checkable
class CredentialStore(Protocol):
    """Where server mechanisms look users up.

    Implement ``get_password`` and ``get_scram``; a store that keeps no plain
    passwords returns ``None`` from ``get_password`` (CRAM-MD5 then cannot be
    offered) and serves PLAIN and LOGIN through the stored SCRAM keys. Both
    take the authentication identity after SASLprep (RFC 4013). Return
    ``None`` for an unknown user, and raise :class:`CredentialsUnavailable`
    when the store cannot answer now.

    ``authorize`` decides whether ``authcid`` may act as ``authzid``; the
    default (for stores that subclass this Protocol) allows only an empty
    authzid or one equal to ``authcid``. Stores that do not subclass it get
    the same rule.

    A store can also set ``has_plain_passwords = True`` to let
    :func:`rfcmail.sasl.server_mechanisms` advertise CRAM-MD5.
    """

    def get_password(self, authcid: str) -> str | None:
        """Return the user's plain password, or ``None`` (unknown, or not kept)."""
        ...

    def get_scram(self, authcid: str, mechanism: str) -> ScramCredentials | None:
        """Return stored keys for ``mechanism`` (``"SCRAM-SHA-1"`` or ``"SCRAM-SHA-256"``)."""
        ...

    def authorize(self, authcid: str, authzid: str) -> bool:
        """Return whether ``authcid`` may act as ``authzid``."""
        return authzid in ("", authcid)


class CredentialsUnavailable(RfcmailError):
    """A credential store cannot answer now (a backend is down).

    Server mechanisms turn it into ``Failure(temporary=True)``.
    """


def authorize(store: object, authcid: str, authzid: str) -> bool:
    """Ask ``store`` whether ``authcid`` may act as ``authzid``, with the default rule."""
    method: Callable[[str, str], bool] | None = getattr(store, "authorize", None)
    if method is None:
        return authzid in ("", authcid)
    return bool(method(authcid, authzid))


def encode_saslname(name: str) -> str:
    """Escape ``=`` and ``,`` in a SCRAM saslname (RFC 5802 section 5.1)."""
    return name.replace("=", "=3D").replace(",", "=2C")


def decode_saslname(value: str) -> str | None:
    """Undo :func:`encode_saslname`; ``None`` for a bare ``=`` or ``,`` or an empty name."""
    if not value or "," in value:
        return None
    pieces = value.split("=")
    out = [pieces[0]]
    for piece in pieces[1:]:
        if piece.startswith("3D"):
            out.append("=" + piece[2:])
        elif piece.startswith("2C"):
            out.append("," + piece[2:])
        else:
            return None
    return "".join(out)


def default_nonce() -> str:
    """Return 24 random printable characters (no comma) from :mod:`secrets`."""
    return secrets.token_urlsafe(18)


def check_argument(what: str, value: str, *, required: bool = False) -> None:
    """Refuse a caller string that would break framing (SECURITY A3.1).

    Args:
        what: the argument's name, for the message.
        value: the caller's string.
        required: refuse an empty string too.

    Raises:
        LocalProtocolError: ``value`` holds a CR, LF or NUL, or is empty when required.
    """
    if required:
        require_nonempty(what, value)
    for char, name in (("\r", "CR"), ("\n", "LF"), ("\x00", "NUL")):
        if char in value:
            raise LocalProtocolError(f"SASL {what} contains a {name}")


def require_nonempty(what: str, value: str) -> None:
    """Refuse an empty caller string where the mechanism needs one.

    Raises:
        LocalProtocolError: ``value`` is empty.
    """
    if not value:
        raise LocalProtocolError(f"SASL {what} must not be empty")


class ClientBase:
    """Shared bookkeeping for client mechanisms: a bounded count of challenges."""

    name: str = ""
    has_initial_response: bool = False

    def __init__(self) -> None:
        self._complete = False

    @property
    def complete(self) -> bool:
        """:meth:`verify_success` accepted the server's success."""
        return self._complete

    def _refuse_if_complete(self) -> None:
        if self._complete:
            raise SASLError(f"{self.name}: the server sent a challenge after the exchange ended")

    def verify_success(self, additional_data: bytes | None = None) -> None:
        """Accept the server's success; these mechanisms prove nothing about the server.

        Raises:
            SASLError: the server sent additional data the mechanism does not define.
        """
        if additional_data:
            raise SASLError(f"{self.name}: unexpected additional data with success")
        self._complete = True


class OneMessageClient(ClientBase):
    """A client whose whole part is one message, sent as the initial response
    or in answer to one empty challenge (PLAIN, EXTERNAL, bearer tokens)."""

    has_initial_response = True

    def __init__(self, message: bytes) -> None:
        super().__init__()
        self._message = message
        self._sent = False

    def initial_response(self) -> bytes:
        """Return the message (``b""`` is an empty initial response, not none)."""
        self._sent = True
        return self._message

    def respond(self, challenge: bytes) -> bytes:
        """Send the message when the server asks for it with an empty challenge.

        Raises:
            SASLError: a non-empty challenge, or one after the message.
        """
        self._refuse_if_complete()
        if self._sent or challenge:
            raise SASLError(f"{self.name}: the server may only send one empty challenge, before the message")
        return self.initial_response()


class ServerBase:
    """Shared bookkeeping for server mechanisms: order of calls, size limit, results."""

    name: str = ""

    def __init__(self, *, max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE) -> None:
        if max_response_size < 1:
            raise ValueError(f"max_response_size must be at least 1, got {max_response_size}")
        self.max_response_size = max_response_size
        self._started = False
        self._complete = False

    @property
    def complete(self) -> bool:
        """A result has been returned or the exchange was aborted."""
        return self._complete

    def start(self, initial_response: bytes | None) -> Step:
        """Begin the exchange with the client's initial response, if any."""
        if self._started:
            raise LocalProtocolError(f"{self.name}: start() called twice")
        self._started = True
        if initial_response is not None:
            too_long = self._check_size(initial_response)
            if too_long is not None:
                return too_long
        return self._finish(self._start(initial_response))

    def step(self, response: bytes) -> Step:
        """Take the client's response to the last challenge."""
        if not self._started:
            raise LocalProtocolError(f"{self.name}: step() called before start()")
        if self._complete:
            raise LocalProtocolError(f"{self.name}: step() called after the exchange ended")
        too_long = self._check_size(response)
        if too_long is not None:
            return too_long
        return self._finish(self._step(response))

    def abort(self) -> Failure:
        """End the exchange: the client cancelled."""
        self._complete = True
        return Failure(reason="authentication cancelled")

    def _check_size(self, data: bytes) -> Failure | None:
        if len(data) > self.max_response_size:
            self._complete = True
            return Failure(
                reason=f"response of {len(data)} octets is over the limit max_response_size={self.max_response_size}",
                malformed=True,
            )
        return None

    def _finish(self, result: Step) -> Step:
        if not isinstance(result, Challenge):
            self._complete = True
        return result

    def _start(self, initial_response: bytes | None) -> Step:
        # Client-first mechanisms: without an initial response, ask for it
        # with an empty challenge (RFC 4422 section 5 item 2a).
        if initial_response is None:
            return Challenge(data=b"")
        return self._step(initial_response)

    def _step(self, response: bytes) -> Step:
        raise NotImplementedError


def decode_utf8(data: bytes) -> str | None:
    """Decode UTF-8 strictly, or return ``None``."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
