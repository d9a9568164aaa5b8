"""rfcmail.sasl client mechanisms against real Dovecot (IMAP, POP3, submission) and Postfix.

IMAP: imaplib does the framing (``AUTHENTICATE``, ``+`` continuations and
base64); the authobject it calls is one of our client mechanisms. Dovecot
sends the SCRAM server-final-message as a last ``+`` continuation, so the
client checks the server signature inside ``respond`` and answers with an
empty line; :meth:`verify_success` then confirms it was seen.

SMTP: smtplib's ``auth()`` against Dovecot's submission service and against
Postfix's smtpd (whose SASL is Dovecot's auth service), with the initial
response on the AUTH line (RFC 4954 section 4). POP3: a few lines of RFC
5034 framing over a socket, as the POP3 adapter would do.
"""

from __future__ import annotations

import base64
import imaplib
import itertools
import os
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import overload

import pytest

from rfcmail.sasl import (
    ClientMechanism,
    SASLError,
    SaltedPasswordCache,
    choose_mechanism,
    client_mechanisms,
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
    # Every mechanism both Dovecot and rfcmail speak is exercised by the tests above
    # (Dovecot also offers DIGEST-MD5, Historic since RFC 6331, which rfcmail does not implement).
    assert set(offered) & set(client_mechanisms()) == set(DOVECOT_MECHANISMS)
    assert set(offered) - set(client_mechanisms()) == {"DIGEST-MD5"}
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


# --- SMTP AUTH (RFC 4954) through smtplib: Dovecot submission and Postfix smtpd ----------------


class SMTPAuthObject:
    """smtplib calls authobject() for the initial response, authobject(challenge) after each 334."""

    def __init__(self, client: ClientMechanism) -> None:
        self.client = client

    @overload
    def __call__(self, challenge: None = None, /) -> str | None: ...

    @overload
    def __call__(self, challenge: bytes, /) -> str: ...

    def __call__(self, challenge: bytes | None = None, /) -> str | None:
        if challenge is None:
            initial = self.client.initial_response() if self.client.has_initial_response else None
            return None if initial is None else initial.decode("ascii")
        return self.client.respond(challenge).decode("ascii")


SMTP_SERVICES = ["SUBMISSION_PORT", "SMTP_AUTH_PORT"]


@pytest.mark.parametrize("service", SMTP_SERVICES)
@pytest.mark.parametrize("mechanism", DOVECOT_MECHANISMS)
def test_smtp_auth_every_mechanism(realworld: RealWorld, service: str, mechanism: str) -> None:
    with smtplib.SMTP("127.0.0.1", realworld.ports[service], timeout=10) as smtp:
        context = ssl.create_default_context(cafile=str(realworld.ca))
        context.check_hostname = False
        smtp.starttls(context=context)
        smtp.ehlo("client.example")
        offered = smtp.esmtp_features["auth"].split()
        assert mechanism in offered
        client = create_client(mechanism, username="alice", password="secret", salted_password_cache=None)
        code, _ = smtp.auth(mechanism, SMTPAuthObject(client))
        assert code == 235
        client.verify_success(None)
        assert client.complete


@pytest.mark.parametrize("service", SMTP_SERVICES)
@pytest.mark.parametrize("mechanism", ["PLAIN", "CRAM-MD5", "SCRAM-SHA-256"])
def test_smtp_auth_wrong_password(realworld: RealWorld, service: str, mechanism: str) -> None:
    source = (next(_SOURCE_ADDRESSES), 0)
    with smtplib.SMTP("127.0.0.1", realworld.ports[service], timeout=10, source_address=source) as smtp:
        smtp.ehlo("client.example")
        client = create_client(mechanism, username="carol", password="wrong", salted_password_cache=None)
        with pytest.raises(smtplib.SMTPAuthenticationError) as info:
            smtp.auth(mechanism, SMTPAuthObject(client))
        assert info.value.smtp_code == 535
        with pytest.raises(SASLError) if mechanism.startswith("SCRAM") else _no_error():
            client.verify_success(None)


@contextmanager
def _no_error() -> Iterator[None]:
    yield


# --- POP3 AUTH (RFC 5034) with hand-written framing ----------------------------------------------


def pop3_auth(realworld: RealWorld, client: ClientMechanism, *, fresh_source: bool = False) -> tuple[bytes, list[bytes]]:
    """Run AUTH over a raw socket; return the final status line and the decoded challenges."""
    source = (next(_SOURCE_ADDRESSES), 0) if fresh_source else None
    with socket.create_connection(("127.0.0.1", realworld.ports["POP3_PORT"]), 10, source_address=source) as sock:
        stream = sock.makefile("rwb")
        assert stream.readline().startswith(b"+OK")
        initial = client.initial_response() if client.has_initial_response else None
        command = b"AUTH " + client.name.encode()
        if initial is not None:
            command += b" " + (base64.b64encode(initial) or b"=")
        stream.write(command + b"\r\n")
        stream.flush()
        challenges: list[bytes] = []
        while True:
            line = stream.readline(4096)
            if not line.startswith(b"+ ") and line.rstrip(b"\r\n") != b"+":
                break
            challenge = base64.b64decode(line[2:].strip())
            challenges.append(challenge)
            try:
                answer = base64.b64encode(client.respond(challenge))
            except SASLError:
                answer = b"*"
            stream.write(answer + b"\r\n")
            stream.flush()
        stream.write(b"QUIT\r\n")
        stream.flush()
        return line, challenges


@pytest.mark.parametrize("mechanism", DOVECOT_MECHANISMS)
def test_pop3_auth_every_mechanism(realworld: RealWorld, mechanism: str) -> None:
    client = create_client(mechanism, username="dave", password="secret", salted_password_cache=None)
    status, challenges = pop3_auth(realworld, client)
    assert status.startswith(b"+OK"), status
    client.verify_success(None)
    if mechanism.startswith("SCRAM"):
        assert challenges[-1].startswith(b"v=")


@pytest.mark.parametrize("mechanism", ["LOGIN", "SCRAM-SHA-1"])
def test_pop3_auth_wrong_password(realworld: RealWorld, mechanism: str) -> None:
    client = create_client(mechanism, username="dave", password="wrong", salted_password_cache=None)
    status, _ = pop3_auth(realworld, client, fresh_source=True)
    assert status.startswith(b"-ERR"), status


# --- IMAP AUTHENTICATE with SASL-IR (RFC 4959), framed by hand --------------------------------


def imap_authenticate_ir(realworld: RealWorld, client: ClientMechanism) -> tuple[bytes, list[bytes]]:
    """``a AUTHENTICATE <mech> <base64 initial response or =>``; return the tagged reply and challenges."""
    with socket.create_connection(("127.0.0.1", realworld.ports["IMAP_PORT"]), 10) as sock:
        stream = sock.makefile("rwb")
        assert stream.readline().startswith(b"* OK")
        initial = client.initial_response()
        assert initial is not None
        stream.write(b"a AUTHENTICATE " + client.name.encode() + b" " + (base64.b64encode(initial) or b"=") + b"\r\n")
        stream.flush()
        challenges: list[bytes] = []
        while True:
            line = stream.readline(65536)
            if line.startswith(b"a "):
                break
            if line.startswith(b"* "):
                continue
            assert line.startswith(b"+"), line
            challenge = base64.b64decode(line[1:].strip())
            challenges.append(challenge)
            try:
                answer = base64.b64encode(client.respond(challenge))
            except SASLError:
                answer = b"*"
            stream.write(answer + b"\r\n")
            stream.flush()
        stream.write(b"b LOGOUT\r\n")
        stream.flush()
        return line, challenges


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_imap_sasl_ir(realworld: RealWorld, mechanism: str) -> None:
    """Dovecot advertises SASL-IR: the first client message rides on the AUTHENTICATE line."""
    client = create_client(mechanism, username="bob", password="secret", salted_password_cache=None)
    tagged, challenges = imap_authenticate_ir(realworld, client)
    assert tagged.startswith(b"a OK"), tagged
    client.verify_success(None)
    expected = 0 if mechanism == "PLAIN" else 2  # SCRAM: server-first, then server-final
    assert len(challenges) == expected
    if expected:
        assert challenges[-1].startswith(b"v=")
