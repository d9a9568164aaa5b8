"""LMTP (RFC 2033) with real peers.

- rfcmail's LMTP client against Dovecot's LMTP: one reply per recipient after
  the data, an unknown user refused with ``550 5.1.1`` at RCPT.
- Postfix as the LMTP client of rfcmail's LMTP server, through one
  ``transport_maps`` line (restored after the test).
"""

from __future__ import annotations

import asyncio
import smtplib

import pytest

from rfcmail.aio.smtp import SMTPClient as AsyncSMTPClient
from rfcmail.blocking.smtp import SMTPClient
from rfcmail.smtp import Config

from ..aio.support import RecordingBackend, ServerThread, unique_message
from .realworld import RealWorld
from .test_smtp_postfix import _wait_in_maildir, postfix_settings

pytestmark = pytest.mark.interop


def test_blocking_lmtp_client_to_dovecot(realworld: RealWorld) -> None:
    marker, message = unique_message("lmtp-blocking")
    with SMTPClient("127.0.0.1", realworld.ports["LMTP_PORT"], lmtp=True, local_hostname="rfcmail.example") as client:
        result = client.send_message(message, "bob@example.test",
                                     ["alice@example.test", "nosuch@example.test", "carol@example.test"])
    by_address = {r.address: r for r in result.recipients}
    assert by_address["nosuch@example.test"].reply.code == 550
    assert str(by_address["nosuch@example.test"].reply.enhanced) == "5.1.1"
    assert by_address["nosuch@example.test"].data_reply is None
    for user in ("alice", "carol"):
        recipient = by_address[f"{user}@example.test"]
        assert recipient.data_reply is not None and recipient.data_reply.code == 250
    assert result.accepted == ("alice@example.test", "carol@example.test")
    for user in ("alice", "carol"):
        assert message.replace(b"\r\n", b"\n") in _wait_in_maildir(realworld, user, marker)


def test_aio_lmtp_client_to_dovecot(realworld: RealWorld) -> None:
    marker, message = unique_message("lmtp-aio")

    async def send() -> tuple[str, ...]:
        async with AsyncSMTPClient("127.0.0.1", realworld.ports["LMTP_PORT"], lmtp=True) as client:
            result = await client.send_message(message, "bob@example.test", ["dave@example.test"])
            return result.accepted

    assert asyncio.run(send()) == ("dave@example.test",)
    _wait_in_maildir(realworld, "dave", marker)


def test_postfix_as_lmtp_client_of_rfcmail(realworld: RealWorld) -> None:
    backend = RecordingBackend(refuse_at_data={"carol@example.test"})
    marker, message = unique_message("lmtp-postfix")
    with ServerThread(backend, config=Config(hostname="lmtp.rfcmail.example", lmtp=True)) as server:
        try:
            with postfix_settings(realworld, transport_maps=f"inline:{{ example.test=lmtp:inet:127.0.0.1:{server.port} }}"):
                with smtplib.SMTP("127.0.0.1", realworld.ports["SMTP_PORT"], timeout=10) as client:
                    client.sendmail("bob@example.test", ["alice@example.test", "carol@example.test"], message)
                received = backend.wait_for(lambda m: marker in m.content, timeout=30, describe=realworld.logs)
                # carol got a per-recipient 4xx after the data: Postfix keeps her copy queued.
        finally:
            realworld.flush_postfix_queue()
    assert "alice@example.test" in received.recipients
    assert received.content.endswith(message)
    assert received.lmtp_replies["alice@example.test"] == 250
