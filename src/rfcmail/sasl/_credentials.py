"""Credential stores and the SCRAM key arithmetic (RFC 5802 sections 2.2 and 3, RFC 7677).

- :class:`ScramHash`: the hash function of a SCRAM family with its HMAC and
  ``Hi()`` (PBKDF2, RFC 5802 section 2.2). Tests inject a counting subclass.
- :func:`derive_scram_credentials`: salt, iteration count, StoredKey and
  ServerKey from a password (RFC 5802 section 3), so a store need not keep
  the password.
- :class:`SaltedPasswordCache`: a bounded client-side cache of
  SaltedPassword keyed on (hash, password, salt, iterations), as RFC 5802
  section 5.1 suggests.
- :class:`InMemoryCredentialStore`: plain passwords and/or stored SCRAM keys.
- :func:`verify_password`: the check PLAIN and LOGIN use, in constant time
  and with the same work for unknown users (SECURITY A6.2).
- :func:`format_scram_credentials` / :func:`parse_scram_credentials`: stored
  keys as text, in the ``{SCRAM-SHA-256}iterations,salt,StoredKey,ServerKey``
  form Dovecot's ``doveadm pw`` writes, so keys move between the two.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ._base import CredentialStore, ScramCredentials
from ._saslprep import SASLprepError, saslprep

__all__ = [
    "DEFAULT_SCRAM_ITERATIONS",
    "InMemoryCredentialStore",
    "SaltedPasswordCache",
    "ScramHash",
    "derive_scram_credentials",
    "format_scram_credentials",
    "parse_scram_credentials",
    "scram_hash",
    "verify_password",
]

DEFAULT_SCRAM_ITERATIONS = 4096
"""Iteration count for new SCRAM credentials: the minimum RFC 7677 section 4
recommends, and what Dovecot uses."""

SCRAM_HASHES: Mapping[str, str] = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}
"""The SCRAM families rfcmail implements and their hashlib names."""


@dataclass(frozen=True, slots=True)
class ScramHash:
    """The primitives of one SCRAM family (RFC 5802 section 2.2).

    Attributes:
        hash_name: the :mod:`hashlib` name (``"sha1"``, ``"sha256"``).
    """

    hash_name: str
    digest_size: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "digest_size", hashlib.new(self.hash_name).digest_size)

    def h(self, data: bytes) -> bytes:
        """``H(str)``: the hash of ``data``."""
        return hashlib.new(self.hash_name, data).digest()

    def hmac(self, key: bytes, data: bytes) -> bytes:
        """``HMAC(key, str)``."""
        return hmac.new(key, data, self.hash_name).digest()

    def hi(self, password: bytes, salt: bytes, iterations: int) -> bytes:
        """``Hi(str, salt, i)``: PBKDF2 with HMAC as the PRF, one block."""
        return hashlib.pbkdf2_hmac(self.hash_name, password, salt, iterations)

    def keys(self, salted_password: bytes) -> tuple[bytes, bytes, bytes]:
        """Return ``(ClientKey, StoredKey, ServerKey)`` for a SaltedPassword."""
        client_key = self.hmac(salted_password, b"Client Key")
        return client_key, self.h(client_key), self.hmac(salted_password, b"Server Key")


def scram_hash(mechanism: str) -> ScramHash:
    """Return the :class:`ScramHash` for ``SCRAM-SHA-1`` or ``SCRAM-SHA-256`` (``-PLUS`` too).

    Raises:
        ValueError: not a SCRAM mechanism rfcmail implements.
    """
    family = mechanism.upper().removesuffix("-PLUS")
    try:
        return ScramHash(SCRAM_HASHES[family])
    except KeyError:
        raise ValueError(f"{mechanism!r} is not a supported SCRAM mechanism") from None


def normalize_password(password: str) -> bytes:
    """``Normalize(str)`` of RFC 5802 section 2.2: SASLprep as a query, UTF-8.

    Raises:
        SASLprepError: the password cannot be prepared, or prepares to nothing.
    """
    prepared = saslprep(password)
    if not prepared:
        raise SASLprepError("the password is empty after SASLprep")
    return prepared.encode("utf-8")


def derive_scram_credentials(
    password: str,
    mechanism: str = "SCRAM-SHA-256",
    *,
    salt: bytes | None = None,
    iterations: int = DEFAULT_SCRAM_ITERATIONS,
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    hash_functions: ScramHash | None = None,
) -> ScramCredentials:
    """Compute what a server stores for a password (RFC 5802 section 3).

    Args:
        password: the user's password (SASLprep is applied).
        mechanism: ``"SCRAM-SHA-1"`` or ``"SCRAM-SHA-256"``.
        salt: the salt; by default 16 octets from ``random_bytes``.
        iterations: the PBKDF2 iteration count.
        random_bytes: the randomness source for the salt.
        hash_functions: the primitives (tests pass a counting one).

    Raises:
        SASLprepError: the password cannot be prepared.
        ValueError: an unknown mechanism, or iterations below 1.
    """
    digest = hash_functions or scram_hash(mechanism)
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    if salt is None:
        salt = random_bytes(16)
    salted = digest.hi(normalize_password(password), salt, iterations)
    _client_key, stored_key, server_key = digest.keys(salted)
    return ScramCredentials(salt=salt, iterations=iterations, stored_key=stored_key, server_key=server_key)


_STORED_RE = re.compile(r"\{(SCRAM-SHA-1|SCRAM-SHA-256)\}([1-9][0-9]{0,9}),([A-Za-z0-9+/=]+),([A-Za-z0-9+/=]+),([A-Za-z0-9+/=]+)")


def format_scram_credentials(mechanism: str, credentials: ScramCredentials) -> str:
    """Write stored keys as ``{SCRAM-SHA-256}4096,<salt>,<StoredKey>,<ServerKey>`` (base64 fields).

    This is the scheme Dovecot's ``doveadm pw -s SCRAM-SHA-256`` prints, so the
    text can go into a Dovecot passdb, and the other way round.

    Raises:
        ValueError: an unknown mechanism, or keys of the wrong size for it.
    """
    digest = scram_hash(mechanism)
    family = mechanism.upper().removesuffix("-PLUS")
    if len(credentials.stored_key) != digest.digest_size:
        raise ValueError(f"{family} keys must be {digest.digest_size} octets")
    fields = (credentials.salt, credentials.stored_key, credentials.server_key)
    encoded = ",".join(base64.b64encode(value).decode("ascii") for value in fields)
    return f"{{{family}}}{credentials.iterations},{encoded}"


def parse_scram_credentials(text: str) -> tuple[str, ScramCredentials]:
    """Read what :func:`format_scram_credentials` (or ``doveadm pw``) wrote.

    Returns:
        The mechanism name and the stored keys.

    Raises:
        ValueError: the text is not in that form, a field is not base64, or
            the keys have the wrong size for the mechanism.
    """
    match = _STORED_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError("not a {SCRAM-SHA-1} or {SCRAM-SHA-256} stored credential")
    mechanism, iterations = match.group(1), int(match.group(2))
    try:
        salt, stored_key, server_key = (base64.b64decode(match.group(n), validate=True) for n in (3, 4, 5))
    except binascii.Error:
        raise ValueError("a stored SCRAM field is not valid base64") from None
    size = scram_hash(mechanism).digest_size
    if len(stored_key) != size or len(server_key) != size:
        raise ValueError(f"{mechanism} keys must be {size} octets")
    return mechanism, ScramCredentials(salt=salt, iterations=iterations, stored_key=stored_key, server_key=server_key)


class SaltedPasswordCache:
    """A bounded cache of SaltedPassword for clients (RFC 5802 section 5.1).

    A client that logs in again with the same password, salt and iteration
    count skips PBKDF2. Keys hold the password, as the client object itself
    does; the cache keeps at most ``max_entries`` (oldest dropped first).

    Args:
        max_entries: how many SaltedPasswords to keep.
    """

    def __init__(self, max_entries: int = 32) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.max_entries = max_entries
        # OrderedDict.popitem is one C call: safe when threads share the cache.
        self._entries: OrderedDict[tuple[str, bytes, bytes, int], bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def salted_password(self, digest: ScramHash, password: bytes, salt: bytes, iterations: int) -> bytes:
        """Return ``Hi(password, salt, iterations)``, from the cache when possible."""
        key = (digest.hash_name, password, salt, iterations)
        cached = self._entries.get(key)
        if cached is not None:
            return cached
        value = digest.hi(password, salt, iterations)
        while len(self._entries) >= self.max_entries:
            try:
                self._entries.popitem(last=False)
            except KeyError:  # pragma: no cover - emptied meanwhile by another thread
                break
        self._entries[key] = value
        return value

    def clear(self) -> None:
        """Forget every cached SaltedPassword."""
        self._entries.clear()


DEFAULT_SALTED_PASSWORD_CACHE = SaltedPasswordCache()
"""The cache SCRAM clients use unless given another (or ``None``)."""


class InMemoryCredentialStore(CredentialStore):
    """A :class:`~rfcmail.sasl.CredentialStore` held in memory.

    Passwords given here are kept (so CRAM-MD5 works) and their SCRAM keys
    are derived at once, so that a login never runs PBKDF2 for a known user
    but not for an unknown one. A store built only from SCRAM keys keeps no
    password at all: PLAIN, LOGIN and SCRAM work, CRAM-MD5 does not.

    Args:
        passwords: user name to password.
        scram: user name to ``{mechanism: ScramCredentials}``.
        iterations: the iteration count for keys derived from ``passwords``.
        random_bytes: the source of salts.
        authorizations: user name to the authzids it may act as, besides
            itself (a proxy or admin account).
    """

    def __init__(
        self,
        passwords: Mapping[str, str] | None = None,
        *,
        scram: Mapping[str, Mapping[str, ScramCredentials]] | None = None,
        iterations: int = DEFAULT_SCRAM_ITERATIONS,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
        authorizations: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.iterations = iterations
        self._random_bytes = random_bytes
        self._passwords: dict[str, str] = {}
        self._scram: dict[str, dict[str, ScramCredentials]] = {}
        self._authorizations = {user: frozenset(ids) for user, ids in (authorizations or {}).items()}
        for user, password in (passwords or {}).items():
            self.add_user(user, password)
        for user, by_mechanism in (scram or {}).items():
            for mechanism, credentials in by_mechanism.items():
                self.add_scram(user, mechanism, credentials)

    @property
    def has_plain_passwords(self) -> bool:
        """At least one user has a plain password (CRAM-MD5 can be offered)."""
        return bool(self._passwords)

    def add_user(self, user: str, password: str) -> None:
        """Add or replace a user with a password; its SCRAM keys are derived now.

        Raises:
            SASLprepError: the user name or password cannot be prepared as a stored string.
        """
        name = saslprep(user, allow_unassigned=False)
        saslprep(password, allow_unassigned=False)
        self._passwords[name] = password
        self._scram[name] = {
            mechanism: derive_scram_credentials(
                password, mechanism, iterations=self.iterations, random_bytes=self._random_bytes
            )
            for mechanism in SCRAM_HASHES
        }

    def add_scram(self, user: str, mechanism: str, credentials: ScramCredentials) -> None:
        """Add stored SCRAM keys for one user and mechanism.

        Raises:
            ValueError: an unknown mechanism, or keys of the wrong length for it.
        """
        digest = scram_hash(mechanism)
        if len(credentials.stored_key) != digest.digest_size:
            raise ValueError(f"{mechanism} keys must be {digest.digest_size} octets")
        name = saslprep(user, allow_unassigned=False)
        self._scram.setdefault(name, {})[mechanism.upper().removesuffix("-PLUS")] = credentials

    def get_password(self, authcid: str) -> str | None:
        """Return the plain password, if this store has one for the user."""
        return self._passwords.get(authcid)

    def get_scram(self, authcid: str, mechanism: str) -> ScramCredentials | None:
        """Return the stored keys for the user and SCRAM family."""
        return self._scram.get(authcid, {}).get(mechanism.upper().removesuffix("-PLUS"))

    def authorize(self, authcid: str, authzid: str) -> bool:
        """Allow an empty authzid, the user itself, or one listed in ``authorizations``."""
        return authzid in ("", authcid) or authzid in self._authorizations.get(authcid, frozenset())


_PASSWORD_CHECK_HASH = "sha256"


def verify_password(
    store: CredentialStore,
    authcid: str,
    password: str,
    *,
    dummy_secret: bytes,
    dummy_iterations: int = DEFAULT_SCRAM_ITERATIONS,
    hash_functions: ScramHash | None = None,
) -> bool:
    """Check a plaintext password (PLAIN, LOGIN) against a store (SECURITY A6.2).

    The stored SCRAM-SHA-256 keys are preferred (then SCRAM-SHA-1): the
    password is run through PBKDF2 with the stored salt and its StoredKey
    compared. A user with only a plain password is compared through SHA-256
    digests with :func:`hmac.compare_digest`. An unknown user runs PBKDF2
    against a dummy salt derived from ``dummy_secret`` and the name, so that
    it costs the same as a user with stored keys (every user of an
    :class:`InMemoryCredentialStore` has them).

    Args:
        store: the credential store.
        authcid: the authentication identity after SASLprep.
        password: the password the client sent.
        dummy_secret: a per-process secret for the dummy salt.
        dummy_iterations: the dummy PBKDF2 iteration count (use your store's).
        hash_functions: the SCRAM-SHA-256 primitives (tests count calls).

    Raises:
        CredentialsUnavailable: from the store.
    """
    sha256 = hash_functions or ScramHash("sha256")
    try:
        given = normalize_password(password)
    except SASLprepError:
        given = b""
    credentials: ScramCredentials | None = None
    digest = sha256
    for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-1"):
        credentials = store.get_scram(authcid, mechanism)
        if credentials is not None:
            digest = sha256 if mechanism == "SCRAM-SHA-256" else scram_hash(mechanism)
            break
    if credentials is None:
        stored_password = store.get_password(authcid)
        if stored_password is not None:
            try:
                expected = normalize_password(stored_password)
            except SASLprepError:
                expected = stored_password.encode("utf-8")
            same = hmac.compare_digest(
                hashlib.new(_PASSWORD_CHECK_HASH, given).digest(),
                hashlib.new(_PASSWORD_CHECK_HASH, expected).digest(),
            )
            return same and bool(given)
        credentials = dummy_scram_credentials(
            authcid, dummy_secret=dummy_secret, iterations=dummy_iterations, hash_functions=sha256
        )
        digest = sha256
        known = False
    else:
        known = True
    salted = digest.hi(given, credentials.salt, credentials.iterations)
    _client_key, stored_key, _server_key = digest.keys(salted)
    same = hmac.compare_digest(stored_key, credentials.stored_key)
    return same and known and bool(given)


def dummy_scram_credentials(
    authcid: str,
    *,
    dummy_secret: bytes,
    iterations: int = DEFAULT_SCRAM_ITERATIONS,
    hash_functions: ScramHash,
) -> ScramCredentials:
    """Credentials for a user that does not exist (SECURITY A6.2).

    The salt is an HMAC of the name under a server secret, so the same unknown
    name always gets the same salt, as a real user would; the keys are random
    looking and match no password.
    """
    name = authcid.encode("utf-8", "surrogatepass")
    salt = hmac.new(dummy_secret, b"salt\x00" + name, "sha256").digest()[:16]
    key_material = hmac.new(dummy_secret, b"keys\x00" + name, "sha512").digest()
    size = hash_functions.digest_size
    return ScramCredentials(
        salt=salt,
        iterations=iterations,
        stored_key=key_material[:size],
        server_key=key_material[32 : 32 + size],
    )


DUMMY_SECRET = secrets.token_bytes(32)
"""The per-process secret dummy salts derive from, unless a server is given one."""
