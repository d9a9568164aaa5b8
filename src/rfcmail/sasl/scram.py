"""SCRAM-SHA-1 and SCRAM-SHA-256, with their -PLUS variants (RFC 5802, RFC 7677).

The exchange (RFC 5802 sections 3 and 5)::

    C: gs2-header client-first-message-bare     n,,n=user,r=<c-nonce>
    S: server-first-message                     r=<c-nonce s-nonce>,s=<salt>,i=<iterations>
    C: client-final-message                     c=<b64(gs2-header [cb-data])>,r=<nonce>,p=<proof>
    S: server-final-message                     v=<server signature>   (or e=<error>)

with ``SaltedPassword = Hi(Normalize(password), salt, i)``, ``ClientKey =
HMAC(SaltedPassword, "Client Key")``, ``StoredKey = H(ClientKey)``,
``AuthMessage = client-first-message-bare "," server-first-message ","
client-final-message-without-proof``, ``ClientProof = ClientKey XOR
HMAC(StoredKey, AuthMessage)`` and ``ServerSignature = HMAC(ServerKey,
AuthMessage)``.

Channel binding (RFC 5802 section 6) is designed in: the gs2-cbind-flag is
``n`` (the client cannot bind), ``y`` (it can, but thinks the server cannot)
or ``p=<type>`` (it binds, only with a ``-PLUS`` mechanism). The TLS adapter
passes the binding data in a :class:`~rfcmail.sasl.ChannelBinding`
(``tls-unique``, RFC 5929; ``tls-exporter``, RFC 9266).

The client refuses an iteration count below ``min_iterations`` (4096, RFC
7677 section 4) or above ``max_iterations`` (a hostile server could make it
burn CPU), a nonce that does not extend its own, and a server signature that
does not match: a server that cannot prove it knows the key fails with
:class:`~rfcmail.sasl.SASLError` even when the protocol says success.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Callable

from ..errors import LocalProtocolError
from ._base import (
    DEFAULT_MAX_RESPONSE_SIZE,
    ChannelBinding,
    Challenge,
    ClientBase,
    CredentialStore,
    CredentialsUnavailable,
    Failure,
    SASLError,
    ServerBase,
    Step,
    Success,
    authorize,
    check_argument,
    decode_saslname,
    default_nonce,
    encode_saslname,
)
from ._credentials import (
    DEFAULT_SALTED_PASSWORD_CACHE,
    DEFAULT_SCRAM_ITERATIONS,
    DUMMY_SECRET,
    SaltedPasswordCache,
    ScramHash,
    dummy_scram_credentials,
    normalize_password,
    scram_hash,
)
from ._saslprep import SASLprepError, saslprep

__all__ = [
    "DEFAULT_MAX_ITERATIONS",
    "DEFAULT_MIN_ITERATIONS",
    "SCRAM_MECHANISMS",
    "ScramClient",
    "ScramServer",
]

SCRAM_MECHANISMS = ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1")
"""The SCRAM names rfcmail implements."""

DEFAULT_MIN_ITERATIONS = 4096
"""The lowest iteration count a client accepts (RFC 7677 section 4, RFC 5802 section 5.1)."""

DEFAULT_MAX_ITERATIONS = 600_000
"""The highest iteration count a client accepts by default: the OWASP 2023
figure for PBKDF2-HMAC-SHA256, about half a second of one core."""

# RFC 5802 section 7: printable = %x21-2B / %x2D-7E (no comma)
_PRINTABLE_RE = re.compile(r"[\x21-\x2b\x2d-\x7e]+")
# cb-name = 1*(ALPHA / DIGIT / "." / "-")
_CB_NAME_RE = re.compile(r"[A-Za-z0-9.\-]+")
_POSITIVE_RE = re.compile(r"[1-9][0-9]{0,9}")
_ATTR_RE = re.compile(r"[A-Za-z]=")


def _b64decode(value: str) -> bytes | None:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


def _attributes(message: str) -> list[tuple[str, str]] | None:
    """Split ``a=1,b=2`` into pairs; ``None`` when a part is not ``letter=value``."""
    pairs = []
    for part in message.split(","):
        if not _ATTR_RE.match(part):
            return None
        pairs.append((part[0], part[2:]))
    return pairs


def _check_mechanism(mechanism: str) -> str:
    name = mechanism.strip().upper()
    if name not in SCRAM_MECHANISMS:
        raise ValueError(f"{mechanism!r} is not a SCRAM mechanism rfcmail implements")
    return name


def _check_nonce(value: str) -> str:
    if not _PRINTABLE_RE.fullmatch(value):
        raise LocalProtocolError("a SCRAM nonce must be printable ASCII without a comma")
    return value


class ScramClient(ClientBase):
    """Client side of SCRAM-SHA-1, SCRAM-SHA-256 and their -PLUS variants.

    Args:
        mechanism: one of :data:`SCRAM_MECHANISMS`.
        username: the user name, not empty (SASLprep is applied).
        password: the password, not empty (SASLprep is applied).
        authzid: the identity to act as; empty for ``username``.
        nonce: the client nonce source; defaults to :mod:`secrets`.
        channel_binding: the TLS binding data; required by ``-PLUS``, and
            with a plain SCRAM name it makes the client send ``y``.
        min_iterations: the lowest iteration count accepted.
        max_iterations: the highest iteration count accepted.
        salted_password_cache: where SaltedPassword is cached, ``None`` for nowhere.
        hash_functions: the hash primitives (tests pass a counting one).

    Raises:
        ValueError: not a SCRAM name, or bounds out of order.
        rfcmail.errors.LocalProtocolError: a CR, LF or NUL in an argument, an
            empty user name or password, one SASLprep refuses, or ``-PLUS``
            without channel-binding data.
    """

    has_initial_response = True

    def __init__(
        self,
        mechanism: str,
        *,
        username: str,
        password: str,
        authzid: str = "",
        nonce: Callable[[], str] | None = None,
        channel_binding: ChannelBinding | None = None,
        min_iterations: int = DEFAULT_MIN_ITERATIONS,
        max_iterations: int = DEFAULT_MAX_ITERATIONS,
        salted_password_cache: SaltedPasswordCache | None = DEFAULT_SALTED_PASSWORD_CACHE,
        hash_functions: ScramHash | None = None,
    ) -> None:
        super().__init__()
        self.name = _check_mechanism(mechanism)
        if not 1 <= min_iterations <= max_iterations:
            raise ValueError(f"need 1 <= min_iterations <= max_iterations, got {min_iterations}, {max_iterations}")
        check_argument("username", username, required=True)
        check_argument("password", password, required=True)
        check_argument("authzid", authzid)
        try:
            prepared_user = saslprep(username)
            self._password = normalize_password(password)
        except SASLprepError as exc:
            raise LocalProtocolError(f"SCRAM credentials refused by SASLprep: {exc}") from None
        if not prepared_user:
            raise LocalProtocolError("SCRAM user name is empty after SASLprep")
        plus = self.name.endswith("-PLUS")
        if plus and channel_binding is None:
            raise LocalProtocolError(f"{self.name} needs channel-binding data")
        if plus:
            assert channel_binding is not None
            flag = "p=" + channel_binding.type
            self._cbind_data = channel_binding.data
        else:
            flag = "y" if channel_binding is not None else "n"
            self._cbind_data = b""
        authz = "a=" + encode_saslname(authzid) if authzid else ""
        self._gs2_header = f"{flag},{authz},".encode("utf-8")
        self._username = prepared_user
        self._nonce_source = nonce or default_nonce
        self._digest = hash_functions or scram_hash(self.name)
        self._min_iterations = min_iterations
        self._max_iterations = max_iterations
        self._cache = salted_password_cache
        self._state = "initial"
        self._client_first_bare = ""
        self._client_nonce = ""
        self._server_signature = b""
        self._verified = False

    def initial_response(self) -> bytes:
        """Return client-first-message (gs2-header and client-first-message-bare).

        Raises:
            rfcmail.errors.LocalProtocolError: called twice, or the nonce
                source returned something that is not a SCRAM nonce.
        """
        if self._state != "initial":
            raise LocalProtocolError(f"{self.name}: initial_response() called twice")
        self._client_nonce = _check_nonce(self._nonce_source())
        self._client_first_bare = f"n={encode_saslname(self._username)},r={self._client_nonce}"
        self._state = "first-sent"
        return self._gs2_header + self._client_first_bare.encode("utf-8")

    def respond(self, challenge: bytes) -> bytes:
        """Answer server-first-message with the proof, then check server-final-message.

        Raises:
            SASLError: the challenge breaks RFC 5802 (see the module docstring).
        """
        self._refuse_if_complete()
        if self._state == "initial":
            if challenge:
                raise SASLError(f"{self.name}: the server's first challenge must be empty")
            return self.initial_response()
        if self._state == "first-sent":
            return self._client_final(challenge)
        if self._state == "verified":
            raise SASLError(f"{self.name}: a challenge after server-final-message")
        self._server_final(challenge)
        return b""

    def verify_success(self, additional_data: bytes | None = None) -> None:
        """Check that the server proved it knows the key.

        Args:
            additional_data: server-final-message, when the protocol carried
                it with its success reply rather than as a challenge.

        Raises:
            SASLError: no valid server signature was seen.
        """
        if additional_data and not self._verified:
            if self._state != "final-sent":
                raise SASLError(f"{self.name}: success data before the proof was sent")
            self._server_final(additional_data)
        elif additional_data:
            raise SASLError(f"{self.name}: additional data after the server was verified")
        if not self._verified:
            raise SASLError(f"{self.name}: the server reported success without proving it knows the password")
        self._complete = True

    def _client_final(self, challenge: bytes) -> bytes:
        try:
            server_first = challenge.decode("ascii")
        except UnicodeDecodeError:
            raise SASLError(f"{self.name}: server-first-message is not ASCII") from None
        attributes = _attributes(server_first)
        if attributes is None:
            raise SASLError(f"{self.name}: malformed server-first-message")
        if attributes[0][0] == "e":
            raise SASLError(f"{self.name}: the server refused: {attributes[0][1][:100]!r}")
        if attributes[0][0] == "m":
            raise SASLError(f"{self.name}: the server requires an unsupported extension")
        if len(attributes) < 3:
            raise SASLError(f"{self.name}: server-first-message must be r=, s=, i=")
        (r_key, nonce), (s_key, salt_b64), (i_key, iterations_text) = attributes[:3]
        if (r_key, s_key, i_key) != ("r", "s", "i"):
            raise SASLError(f"{self.name}: server-first-message must be r=, s=, i=")
        if not _PRINTABLE_RE.fullmatch(nonce):
            raise SASLError(f"{self.name}: the server nonce is not printable")
        if not nonce.startswith(self._client_nonce) or len(nonce) == len(self._client_nonce):
            raise SASLError(f"{self.name}: the server nonce does not extend the client nonce")
        salt = _b64decode(salt_b64)
        if not salt:
            raise SASLError(f"{self.name}: the salt is not valid base64")
        if not _POSITIVE_RE.fullmatch(iterations_text):
            raise SASLError(f"{self.name}: the iteration count is not a positive number")
        iterations = int(iterations_text)
        if iterations < self._min_iterations:
            raise SASLError(
                f"{self.name}: iteration count {iterations} is under the limit min_iterations={self._min_iterations}"
            )
        if iterations > self._max_iterations:
            raise SASLError(
                f"{self.name}: iteration count {iterations} is over the limit max_iterations={self._max_iterations}"
            )
        if self._cache is not None:
            salted = self._cache.salted_password(self._digest, self._password, salt, iterations)
        else:
            salted = self._digest.hi(self._password, salt, iterations)
        client_key, stored_key, server_key = self._digest.keys(salted)
        channel = _b64(self._gs2_header + self._cbind_data)
        without_proof = f"c={channel},r={nonce}"
        auth_message = f"{self._client_first_bare},{server_first},{without_proof}".encode("utf-8")
        proof = _xor(client_key, self._digest.hmac(stored_key, auth_message))
        self._server_signature = self._digest.hmac(server_key, auth_message)
        self._state = "final-sent"
        return f"{without_proof},p={_b64(proof)}".encode("ascii")

    def _server_final(self, challenge: bytes) -> None:
        try:
            server_final = challenge.decode("ascii")
        except UnicodeDecodeError:
            raise SASLError(f"{self.name}: server-final-message is not ASCII") from None
        attributes = _attributes(server_final)
        if not attributes:
            raise SASLError(f"{self.name}: malformed server-final-message")
        key, value = attributes[0]
        if key == "e":
            raise SASLError(f"{self.name}: the server refused: {value[:100]!r}")
        if key != "v":
            raise SASLError(f"{self.name}: server-final-message must start with v= or e=")
        signature = _b64decode(value)
        if signature is None or not hmac.compare_digest(signature, self._server_signature):
            raise SASLError(f"{self.name}: the server signature is wrong: the server does not know the password")
        self._verified = True
        self._state = "verified"


class ScramServer(ServerBase):
    """Server side of SCRAM-SHA-1, SCRAM-SHA-256 and their -PLUS variants.

    Unknown users get dummy keys from a per-process secret (the same salt
    every time for the same name) and go through the same computation, so
    the exchange does not reveal whether the user exists (SECURITY A6.2).

    Args:
        mechanism: one of :data:`SCRAM_MECHANISMS`.
        credentials: where the stored keys come from.
        nonce: the server nonce source; defaults to :mod:`secrets`.
        channel_binding: this connection's binding data. Give it when you
            advertised the ``-PLUS`` variants; a plain-SCRAM client that says
            ``y`` is then refused as a downgrade (RFC 5802 section 6).
        max_response_size: the largest client message looked at, in octets.
        dummy_secret: the secret unknown users' dummy keys derive from.
        dummy_iterations: the iteration count sent for unknown users.
        hash_functions: the hash primitives (tests pass a counting one).

    Raises:
        ValueError: not a SCRAM name.
        rfcmail.errors.LocalProtocolError: ``-PLUS`` without binding data.
    """

    def __init__(
        self,
        mechanism: str,
        credentials: CredentialStore,
        *,
        nonce: Callable[[], str] | None = None,
        channel_binding: ChannelBinding | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        dummy_secret: bytes = DUMMY_SECRET,
        dummy_iterations: int = DEFAULT_SCRAM_ITERATIONS,
        hash_functions: ScramHash | None = None,
    ) -> None:
        super().__init__(max_response_size=max_response_size)
        self.name = _check_mechanism(mechanism)
        self._plus = self.name.endswith("-PLUS")
        if self._plus and channel_binding is None:
            raise LocalProtocolError(f"{self.name} needs channel-binding data")
        self._credentials = credentials
        self._nonce_source = nonce or default_nonce
        self._channel_binding = channel_binding
        self._dummy_secret = dummy_secret
        self._dummy_iterations = dummy_iterations
        self._digest = hash_functions or scram_hash(self.name)
        self._client_first_step = True
        self._gs2_header = b""
        self._cbind_data = b""
        self._authcid = ""
        self._authzid = ""
        self._known = False
        self._stored_key = b""
        self._server_key = b""
        self._nonce = ""
        self._client_first_bare = ""
        self._server_first = ""

    def _step(self, response: bytes) -> Step:
        if self._client_first_step:
            self._client_first_step = False
            return self._client_first(response)
        return self._client_final(response)

    def _malformed(self, what: str) -> Failure:
        return Failure(reason=f"malformed {self.name} {what}", malformed=True)

    def _client_first(self, response: bytes) -> Step:
        try:
            message = response.decode("utf-8")
        except UnicodeDecodeError:
            return self._malformed("client-first-message: not UTF-8")
        if any(c in message for c in "\r\n\x00"):
            return self._malformed("client-first-message: CR, LF or NUL")
        parts = message.split(",", 2)
        if len(parts) != 3:
            return self._malformed("client-first-message: no gs2-header")
        flag, authz, bare = parts
        failure = self._check_cbind_flag(flag)
        if failure is not None:
            return failure
        if authz:
            if not authz.startswith("a="):
                return self._malformed("gs2-header: bad authzid")
            authzid = decode_saslname(authz[2:])
            if authzid is None:
                return self._malformed("gs2-header: bad authzid")
            self._authzid = authzid
        attributes = _attributes(bare)
        if attributes is None or len(attributes) < 2:
            return self._malformed("client-first-message-bare")
        if attributes[0][0] == "m":
            return Failure(reason="extensions-not-supported")
        (n_key, saslname), (r_key, client_nonce) = attributes[:2]
        if (n_key, r_key) != ("n", "r"):
            return self._malformed("client-first-message-bare: must be n=, r=")
        username = decode_saslname(saslname)
        if username is None:
            return self._malformed("client-first-message-bare: bad user name")
        if not _PRINTABLE_RE.fullmatch(client_nonce):
            return self._malformed("client-first-message-bare: bad nonce")
        try:
            self._authcid = saslprep(username)
        except SASLprepError:
            return self._malformed("user name: refused by SASLprep")
        if not self._authcid:
            return self._malformed("user name: empty after SASLprep")
        try:
            # Stores are asked by family: -PLUS changes the exchange, not the keys.
            credentials = self._credentials.get_scram(self._authcid, self.name.removesuffix("-PLUS"))
        except CredentialsUnavailable:
            return Failure(reason="credential store unavailable", temporary=True)
        self._known = credentials is not None
        if credentials is None or len(credentials.stored_key) != self._digest.digest_size:
            self._known = False
            credentials = dummy_scram_credentials(
                self._authcid,
                dummy_secret=self._dummy_secret,
                iterations=self._dummy_iterations,
                hash_functions=self._digest,
            )
        self._stored_key = credentials.stored_key
        self._server_key = credentials.server_key
        self._gs2_header = (message[: len(flag) + len(authz) + 2]).encode("utf-8")
        self._nonce = client_nonce + _check_nonce(self._nonce_source())
        self._client_first_bare = bare
        self._server_first = f"r={self._nonce},s={_b64(credentials.salt)},i={credentials.iterations}"
        return Challenge(data=self._server_first.encode("ascii"))

    def _check_cbind_flag(self, flag: str) -> Failure | None:
        if flag.startswith("p="):
            cb_name = flag[2:]
            if not _CB_NAME_RE.fullmatch(cb_name):
                return self._malformed("gs2-header: bad channel-binding name")
            if not self._plus:
                return self._malformed("gs2-header: channel binding requested without -PLUS")
            assert self._channel_binding is not None
            if cb_name != self._channel_binding.type:
                return Failure(reason="unsupported-channel-binding-type")
            self._cbind_data = self._channel_binding.data
            return None
        if flag not in ("n", "y"):
            return self._malformed("gs2-header: bad channel-binding flag")
        if self._plus:
            return Failure(reason="channel-binding-not-supported")
        if flag == "y" and self._channel_binding is not None:
            # The client can bind and we advertised -PLUS, yet it did not see it: a downgrade.
            return Failure(reason="server-does-support-channel-binding")
        return None

    def _client_final(self, response: bytes) -> Step:
        try:
            message = response.decode("ascii")
        except UnicodeDecodeError:
            return self._malformed("client-final-message: not ASCII")
        without_proof, separator, proof_b64 = message.rpartition(",p=")
        if not separator:
            return self._malformed("client-final-message: no proof")
        attributes = _attributes(without_proof)
        if attributes is None or len(attributes) < 2:
            return self._malformed("client-final-message")
        (c_key, channel_b64), (r_key, nonce) = attributes[:2]
        if (c_key, r_key) != ("c", "r"):
            return self._malformed("client-final-message: must be c=, r=")
        channel = _b64decode(channel_b64)
        if channel is None:
            return self._malformed("client-final-message: bad channel binding")
        if not hmac.compare_digest(channel, self._gs2_header + self._cbind_data):
            return Failure(reason="channel-bindings-dont-match")
        if nonce != self._nonce:
            return Failure(reason="nonce does not match", malformed=True)
        proof = _b64decode(proof_b64)
        if proof is None or len(proof) != self._digest.digest_size:
            return self._malformed("client-final-message: bad proof")
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode("utf-8")
        client_signature = self._digest.hmac(self._stored_key, auth_message)
        client_key = _xor(proof, client_signature)
        valid = hmac.compare_digest(self._digest.h(client_key), self._stored_key)
        server_signature = self._digest.hmac(self._server_key, auth_message)
        if not (valid and self._known):
            return Failure(reason="invalid-proof")
        try:
            allowed = authorize(self._credentials, self._authcid, self._authzid)
        except CredentialsUnavailable:
            return Failure(reason="credential store unavailable", temporary=True)
        if not allowed:
            return Failure(reason="invalid-authzid")
        return Success(
            authcid=self._authcid,
            authzid=self._authzid,
            additional_data=b"v=" + _b64(server_signature).encode("ascii"),
        )
