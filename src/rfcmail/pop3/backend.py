"""What a POP3 server needs from its storage and its users: the maildrop Protocols.

A server adapter authenticates a user with an :class:`Authenticator` (or, for
APOP, an :class:`APOPSecrets`), then asks a :class:`MaildropStore` for the
user's :class:`Maildrop`: a locked, numbered snapshot of the mailbox for one
session (RFC 1939 section 4: "the POP3 server then acquires an exclusive-access
lock on the maildrop"). Deletions are handed to :meth:`Maildrop.commit` only in
the UPDATE state after QUIT (RFC 1939 section 6); a session that ends any
other way calls :meth:`Maildrop.close` alone and removes nothing.

A backend refuses with :class:`POP3Error`, whose ``code`` becomes an RFC 2449
extended response code (``IN-USE``, ``SYS/TEMP``, ``SYS/PERM``,
``LOGIN-DELAY``, RFC 3206 ``AUTH``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import RfcmailError
from ._events import Response

__all__ = [
    "APOPSecrets",
    "Authenticator",
    "Maildrop",
    "MaildropStore",
    "MessageInfo",
    "POP3Error",
    "PasswordMap",
    "apop_digest",
    "verify_apop",
]


class POP3Error(RfcmailError):
    """A backend's refusal, sent to the client as ``-ERR [code] text``.

    Args:
        text: the human-readable reason (no CR, LF or NUL).
        code: an RFC 2449 section 8 response code without brackets, such as
            ``"IN-USE"`` or ``"SYS/TEMP"``.
    """

    def __init__(self, text: str, *, code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code = code

    def response(self) -> Response:
        """The ``-ERR`` response for this refusal."""
        text = self.text.replace("\r", " ").replace("\n", " ").replace("\0", " ")
        if not text.isascii():
            text = text.encode("ascii", "replace").decode("ascii")
        return Response(ok=False, code=self.code, text=text)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageInfo:
    """One message of a maildrop.

    Attributes:
        size: octets as sent on the wire with CRLF line endings, before
            byte-stuffing (RFC 1939 section 5: "exact size").
        unique_id: the UIDL value (RFC 1939 section 7): 1-70 characters
            0x21-0x7E, the same for this message in every session.
    """

    size: int
    unique_id: str


class Maildrop(Protocol):
    """One user's mailbox, locked for one POP3 session.

    Messages are numbered by their position in :meth:`messages`, from 0 here
    (message number 1 on the wire is index 0); the list does not change during
    the session.
    """

    def messages(self) -> Sequence[MessageInfo]:
        """The messages present when the maildrop was opened."""
        ...

    def read(self, index: int) -> Iterator[bytes]:
        """The message at ``index`` as it is stored, in chunks (any line endings).

        Raises:
            POP3Error: the message cannot be read (gone, I/O error).
        """
        ...

    def commit(self, deleted: Set[int]) -> None:
        """Remove the messages at these indexes (UPDATE state, RFC 1939 section 6).

        Raises:
            POP3Error: some message could not be removed.
        """
        ...

    def close(self) -> None:
        """Release the lock. Called once at the end of every session, after any commit."""
        ...


class MaildropStore(Protocol):
    """Opens users' maildrops."""

    def open_maildrop(self, user: str) -> Maildrop:
        """Lock and open ``user``'s maildrop.

        Raises:
            POP3Error: ``code="IN-USE"`` when another session holds the lock,
                ``"SYS/TEMP"`` or ``"SYS/PERM"`` when it cannot be opened.
        """
        ...


class Authenticator(Protocol):
    """Checks USER/PASS credentials."""

    def check_password(self, user: str, password: str) -> bool:
        """True when ``password`` is ``user``'s. Compare in constant time."""
        ...


@runtime_checkable
class APOPSecrets(Protocol):
    """An authenticator that holds a shared secret per user, which APOP needs (RFC 1939 section 7)."""

    def shared_secret(self, user: str) -> str | None:
        """``user``'s shared secret, or ``None`` (APOP is then refused for that user)."""
        ...


def apop_digest(timestamp: str, secret: str) -> str:
    """MD5 over the greeting's timestamp followed by the secret, lowercase hex (RFC 1939 section 7)."""
    return hashlib.md5((timestamp + secret).encode("utf-8"), usedforsecurity=False).hexdigest()


def verify_apop(timestamp: str, secret: str | None, digest: str) -> bool:
    """Check an APOP digest in constant time (SECURITY.md A6.2).

    A missing secret is compared against a dummy so that an unknown user
    takes the same work as a known one.
    """
    expected = apop_digest(timestamp, secret if secret is not None else "\0no-such-user")
    matches = hmac.compare_digest(expected.encode("ascii"), digest.encode("ascii", "replace"))
    return matches and secret is not None


class PasswordMap:
    """A user -> password mapping as an :class:`Authenticator` and :class:`APOPSecrets`.

    Passwords are compared with :func:`hmac.compare_digest` over SHA-256
    digests (fixed length, SECURITY.md A6.2); an unknown user is compared
    against a dummy so it takes the same path.
    """

    def __init__(self, passwords: Mapping[str, str]) -> None:
        self._passwords = dict(passwords)

    def check_password(self, user: str, password: str) -> bool:
        known = self._passwords.get(user)
        expected = hashlib.sha256((known if known is not None else "\0no-such-user").encode()).digest()
        given = hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()
        return hmac.compare_digest(expected, given) and known is not None

    def shared_secret(self, user: str) -> str | None:
        return self._passwords.get(user)
