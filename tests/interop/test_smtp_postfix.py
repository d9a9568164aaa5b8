"""Postfix on loopback, both ways (the ``realworld`` fixture).

- Postfix as the client: it relays every non-local domain to its relayhost,
  rfcmail's asyncio server on ``SMARTHOST_PORT``; plain, opportunistic
  STARTTLS, and the strict variant (certificate verified for ``localhost``,
  SASL PLAIN from Postfix's ``smtp_sasl_password_maps``, PEERS.md section 8).
- Postfix as the server: rfcmail's asyncio and blocking clients deliver to
  its smtpd (``SMTP_PORT`` plain and STARTTLS, ``SMTP_AUTH_PORT`` with AUTH),
  with PIPELINING, and the message lands intact in alice's Dovecot Maildir.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rfcmail._tls import TLSMode
from rfcmail.aio.smtp import SMTPClient as AsyncSMTPClient
from rfcmail.blocking.smtp import SendResult, SMTPClient

from ..aio.support import Received, RecordingBackend, ServerThread, TLSFiles, credentials, unique_message
from .realworld import RealWorld

pytestmark = pytest.mark.interop


@contextmanager
def postfix_settings(world: RealWorld, **settings: str) -> Iterator[None]:
    """Change Postfix's main.cf for one test and put every setting back afterwards."""
    config = str(world.postfix_config)
    before: dict[str, str | None] = {}
    for name in settings:
        shown = subprocess.run(["postconf", "-c", config, "-n", name], capture_output=True, text=True,
                               check=True).stdout.strip()
        before[name] = shown.split("=", 1)[1].strip() if shown else None
    world.postconf(*(f"{name} = {value}" for name, value in settings.items()))
    try:
        yield
    finally:
        restore = [f"{name} = {value}" for name, value in before.items() if value is not None]
        if restore:
            subprocess.run(["postconf", "-c", config, "-e", *restore], check=True, capture_output=True)
        removed = [name for name, value in before.items() if value is None]
        if removed:
            subprocess.run(["postconf", "-c", config, "-X", *removed], check=True, capture_output=True)
        subprocess.run(["postfix", "-c", config, "reload"], check=True, capture_output=True,
                       stdin=subprocess.DEVNULL)


def _inject(world: RealWorld, recipient: str, message: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", world.ports["SMTP_PORT"], timeout=10) as client:
        assert client.sendmail("bob@example.test", [recipient], message) == {}


def _wait_in_maildir(world: RealWorld, user: str, marker: bytes, timeout: float = 20.0) -> bytes:
    maildir = world.maildir(user)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for folder in ("new", "cur"):
            directory = maildir / folder
            if not directory.is_dir():
                continue
            for path in directory.iterdir():
                try:
                    content = path.read_bytes()
                except FileNotFoundError:
                    continue
                if marker in content:
                    return content
        time.sleep(0.1)
    raise AssertionError(f"{marker!r} did not arrive in {maildir}\n{world.logs()}")


def _crlf_tail(delivered: bytes, sent: bytes) -> None:
    """Postfix prepends Return-Path, Delivered-To and Received; the rest is what was sent.

    Dovecot's Maildir stores LF line ends, so compare with LF.
    """
    assert delivered.replace(b"\r\n", b"\n").endswith(sent.replace(b"\r\n", b"\n")), delivered[:2000]


# --- Postfix as the client of rfcmail's server ---------------------------------------------


def test_postfix_relays_to_rfcmail_plain(realworld: RealWorld) -> None:
    backend = RecordingBackend()
    marker, message = unique_message("relay-plain")
    try:
        with ServerThread(backend, port=realworld.ports["SMARTHOST_PORT"]) as _server:
            _inject(realworld, "someone@remote.test", message)
            received = backend.wait_for(lambda m: marker in m.content, timeout=30, describe=realworld.logs)
    finally:
        realworld.flush_postfix_queue()
    assert received.content.endswith(message)
    assert received.content.startswith(b"Received: ")
    assert received.recipients == ["someone@remote.test"]
    assert received.sender == "bob@example.test"


def test_postfix_relays_to_rfcmail_over_starttls(realworld: RealWorld) -> None:
    backend = RecordingBackend()
    marker, message = unique_message("relay-tls")
    tls = TLSFiles(chain=realworld.cert_chain, key=realworld.key)
    try:
        with ServerThread(backend, port=realworld.ports["SMARTHOST_PORT"], tls=tls):
            _inject(realworld, "someone@remote.test", message)
            received = backend.wait_for(lambda m: marker in m.content, timeout=30, describe=realworld.logs)
    finally:
        realworld.flush_postfix_queue()
    assert received.tls, "Postfix uses STARTTLS whenever it is offered (smtp_tls_security_level = may)"
    assert received.content.endswith(message)


def test_postfix_strict_tls_and_sasl_to_rfcmail(realworld: RealWorld) -> None:
    port = realworld.ports["SMARTHOST_PORT"]
    backend = RecordingBackend(require_auth=True)
    marker, message = unique_message("relay-strict")
    tls = TLSFiles(chain=realworld.cert_chain, key=realworld.key)
    try:
        with postfix_settings(realworld,
                              smtp_tls_security_level="verify",
                              smtp_tls_verify_cert_match="localhost",
                              smtp_sasl_auth_enable="yes",
                              smtp_sasl_password_maps=f"inline:{{ [127.0.0.1]:{port}=alice:secret }}",
                              smtp_sasl_security_options="noanonymous",
                              smtp_sasl_tls_security_options="noanonymous"), \
                ServerThread(backend, port=port, tls=tls, credentials=credentials()):
            _inject(realworld, "someone@remote.test", message)
            received = backend.wait_for(lambda m: marker in m.content, timeout=30, describe=realworld.logs)
    finally:
        realworld.flush_postfix_queue()
    assert received.tls and received.authenticated == "alice"
    assert received.content.endswith(message)


# --- rfcmail's clients delivering to Postfix's smtpd -----------------------------------------


def test_blocking_client_to_postfix_plain(realworld: RealWorld) -> None:
    marker, message = unique_message("client-plain")
    with SMTPClient("127.0.0.1", realworld.ports["SMTP_PORT"], local_hostname="rfcmail.example") as client:
        assert "PIPELINING" in client.extensions
        result = client.send_message(message, "bob@example.test", ["alice@example.test"])
    assert result.accepted == ("alice@example.test",)
    _crlf_tail(_wait_in_maildir(realworld, "alice", marker), message)


def test_aio_client_to_postfix_starttls_required(realworld: RealWorld) -> None:
    marker, message = unique_message("client-tls")
    context = ssl.create_default_context(cafile=str(realworld.ca))

    async def send() -> None:
        async with AsyncSMTPClient("localhost", realworld.ports["SMTP_PORT"], tls_mode=TLSMode.STARTTLS_REQUIRED,
                                   tls_context=context, local_hostname="rfcmail.example") as client:
            assert client.tls_active
            result = await client.send_message(message, "bob@example.test",
                                               ["alice@example.test", "nosuchuser@example.test"])
            assert result.accepted == ("alice@example.test",)
            refused = result.refused
            assert len(refused) == 1 and refused[0].address == "nosuchuser@example.test"
            assert refused[0].reply.code == 550

    asyncio.run(send())
    _crlf_tail(_wait_in_maildir(realworld, "alice", marker), message)


@pytest.mark.parametrize("blocking", [False, True], ids=["aio", "blocking"])
def test_clients_to_postfix_with_auth(realworld: RealWorld, blocking: bool) -> None:
    marker, message = unique_message(f"client-auth-{blocking}")
    context = ssl.create_default_context(cafile=str(realworld.ca))
    port = realworld.ports["SMTP_AUTH_PORT"]
    if blocking:
        with SMTPClient("localhost", port, tls_mode=TLSMode.STARTTLS_REQUIRED, tls_context=context) as client:
            mechanism = client.login("alice", "secret")
            assert mechanism.startswith("SCRAM-SHA-")
            result = client.send_message(message, "alice@example.test", ["alice@example.test"])
    else:
        async def send() -> SendResult:
            async with AsyncSMTPClient("localhost", port, tls_mode=TLSMode.STARTTLS_REQUIRED,
                                       tls_context=context) as client:
                await client.login("alice", "secret")
                return await client.send_message(message, "alice@example.test", ["alice@example.test"])

        result = asyncio.run(send())
    assert result.accepted == ("alice@example.test",)
    _crlf_tail(_wait_in_maildir(realworld, "alice", marker), message)


def test_large_message_streams_to_postfix(realworld: RealWorld, tmp_path: Path) -> None:
    marker, head = unique_message("client-large")
    path = tmp_path / "large.eml"
    with open(path, "wb") as handle:
        handle.write(head)
        line = b"0123456789" * 7 + b"\r\n"
        for _ in range(3 * 1024 * 1024 // len(line)):
            handle.write(line)
    with SMTPClient("127.0.0.1", realworld.ports["SMTP_PORT"]) as client, open(path, "rb") as stream:
        result = client.send_message(stream, "bob@example.test", ["alice@example.test"])
    assert result.accepted == ("alice@example.test",)
    delivered = _wait_in_maildir(realworld, "alice", marker)
    _crlf_tail(delivered, path.read_bytes())


@pytest.mark.parametrize("blocking", [False, True], ids=["aio", "threaded"])
def test_postfix_relays_a_burst_to_rfcmail(realworld: RealWorld, blocking: bool) -> None:
    """Postfix's smtp client pipelines MAIL/RCPT/DATA and reuses connections; all 20 messages arrive intact."""
    backend = RecordingBackend()
    messages = [unique_message(f"burst-{blocking}-{n}") for n in range(20)]
    try:
        with ServerThread(backend, port=realworld.ports["SMARTHOST_PORT"], blocking=blocking):
            with smtplib.SMTP("127.0.0.1", realworld.ports["SMTP_PORT"], timeout=10) as client:
                for n, (_marker, message) in enumerate(messages):
                    client.sendmail("bob@example.test", [f"r{n}@remote.test", f"s{n}@remote.test"], message)
            for marker, message in messages:
                def carries(candidate: Received, marker: bytes = marker) -> bool:
                    return marker in candidate.content

                received = backend.wait_for(carries, timeout=30, describe=realworld.logs)
                assert received.content.endswith(message)
                assert len(received.recipients) == 2
    finally:
        realworld.flush_postfix_queue()
