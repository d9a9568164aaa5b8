"""rfcmail.sasl client mechanisms against real Dovecot IMAP, driven by Python's imaplib.

imaplib does the IMAP framing (``AUTHENTICATE``, ``+`` continuations and
base64); the authobject it calls is one of our client mechanisms. Dovecot
sends the SCRAM server-final-message as a last ``+`` continuation, so the
client checks the server signature inside ``respond`` and answers with an
empty line; :meth:`verify_success` then confirms it was seen.
"""

from __future__ import annotations

import imaplib
import itertools
import os
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from rfcmail.sasl import (
    ClientMechanism,
    SASLError,
    SaltedPasswordCache,
    choose_mechanism,
    create_client,
)

from .realworld import RealWorld

DOVECOT_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256")


def authobject(client: ClientMechanism, errors: list[SASLError]) -> Callable[[bytes], bytes | None]:
    """Adapt a client mechanism to imaplib: return None (cancel, ``*``) on SASLError."""

    def answer(challenge: bytes) -> bytes | None:
        try:
            return client.respond(challenge)
        except SASLError as exc:
            errors.append(exc)
            return None

    return answer


# Dovecot's anvil delays failures from an IP that failed before (2, 4, 8, then
# 15 s). Tests that fail on purpose connect from their own loopback address
# (all of 127.0.0.0/8 is local on Linux), so they neither wait nor slow down
# other tests that share the Dovecot instance.
_SOURCE_ADDRESSES = (f"127.{(os.getpid() >> 8) % 200 + 20}.{os.getpid() % 250 + 1}.{n}" for n in itertools.count(2))


class _IMAP4From(imaplib.IMAP4):
    """imaplib.IMAP4 connecting from a chosen source address."""

    def __init__(self, host: str, port: int, *, source: str, timeout: float) -> None:
        self._source = source
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout, source_address=(self._source, 0))


@contextmanager
def imap(realworld: RealWorld, *, tls: bool, fresh_source: bool = False) -> Iterator[imaplib.IMAP4]:
    port = realworld.ports["IMAP_PORT"]
    if fresh_source:
        connection: imaplib.IMAP4 = _IMAP4From("127.0.0.1", port, source=next(_SOURCE_ADDRESSES), timeout=10)
    else:
        connection = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    try:
        if tls:
            context = ssl.create_default_context(cafile=str(realworld.ca))
            context.check_hostname = False  # connected by address; the chain is still verified
            connection.starttls(context)
        yield connection
    finally:
        try:
            connection.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def offered_mechanisms(connection: imaplib.IMAP4) -> list[str]:
    return [cap[len("AUTH="):] for cap in connection.capabilities if cap.startswith("AUTH=")]


@pytest.mark.parametrize("tls", [False, True], ids=["plaintext", "starttls"])
@pytest.mark.parametrize("mechanism", DOVECOT_MECHANISMS)
def test_every_dovecot_mechanism_logs_in(realworld: RealWorld, mechanism: str, tls: bool) -> None:
    with imap(realworld, tls=tls) as connection:
        assert mechanism in offered_mechanisms(connection)
        client = create_client(mechanism, username="alice", password="secret", salted_password_cache=None)
        errors: list[SASLError] = []
        status, _ = connection.authenticate(mechanism, authobject(client, errors))
        assert status == "OK" and not errors
        client.verify_success(None)
        assert client.complete
        status, data = connection.select("INBOX", readonly=True)
        assert status == "OK", data


@pytest.mark.parametrize("mechanism", DOVECOT_MECHANISMS)
def test_wrong_password_fails(realworld: RealWorld, mechanism: str) -> None:
    with imap(realworld, tls=False, fresh_source=True) as connection:
        client = create_client(mechanism, username="bob", password="not-the-password", salted_password_cache=None)
        errors: list[SASLError] = []
        with pytest.raises(imaplib.IMAP4.error, match=r"(?i)authenticat"):
            connection.authenticate(mechanism, authobject(client, errors))
        assert not client.complete
        if mechanism.startswith("SCRAM"):
            # Dovecot never sent a server signature: success cannot be claimed.
            with pytest.raises(SASLError):
                client.verify_success(None)
        # The connection is still usable after the NO.
        assert connection.noop()[0] == "OK"


def test_scram_user_names_are_escaped_and_unknown_user_fails(realworld: RealWorld) -> None:
    with imap(realworld, tls=False, fresh_source=True) as connection:
        client = create_client("SCRAM-SHA-256", username="no,such=user", password="secret")
        errors: list[SASLError] = []
        with pytest.raises(imaplib.IMAP4.error):
            connection.authenticate("SCRAM-SHA-256", authobject(client, errors))


def test_choose_mechanism_on_dovecot_capabilities(realworld: RealWorld) -> None:
    with imap(realworld, tls=False) as connection:
        offered = offered_mechanisms(connection)
    assert choose_mechanism(offered, tls=False) == "SCRAM-SHA-256"
    assert choose_mechanism([m for m in offered if not m.startswith("SCRAM")], tls=False) == "CRAM-MD5"
    assert choose_mechanism(["PLAIN", "LOGIN"], tls=False) is None
    assert choose_mechanism(["PLAIN", "LOGIN"], tls=True) == "PLAIN"


def test_salted_password_cache_reuses_dovecot_salt(realworld: RealWorld) -> None:
    """Dovecot keeps one salt per user, so the second SCRAM login skips PBKDF2."""
    cache = SaltedPasswordCache()
    for _ in range(2):
        with imap(realworld, tls=False) as connection:
            client = create_client("SCRAM-SHA-1", username="carol", password="secret", salted_password_cache=cache)
            errors: list[SASLError] = []
            assert connection.authenticate("SCRAM-SHA-1", authobject(client, errors))[0] == "OK"
            client.verify_success(None)
    assert len(cache) in (1, 2)


def test_sasl_ir_style_initial_response_through_imaplib(realworld: RealWorld) -> None:
    """Dovecot advertises SASL-IR; imaplib does not use it, so the first '+' is empty.

    PLAIN answers that empty challenge with its message, as RFC 4422 section 5
    item 2a describes; the transcript shows the empty first challenge.
    """
    seen: list[bytes] = []
    client = create_client("PLAIN", username="dave", password="secret")

    def answer(challenge: bytes) -> bytes:
        seen.append(challenge)
        return client.respond(challenge)

    with imap(realworld, tls=True) as connection:
        assert "SASL-IR" in connection.capabilities
        assert connection.authenticate("PLAIN", answer)[0] == "OK"
    assert seen == [b""]
