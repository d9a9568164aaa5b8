"""rfcmail's clients against rfcmail's servers over TLS, with the test CA made by the real openssl.

STARTTLS required and implicit TLS, each client against each server; AUTH
with the strongest mechanism (SCRAM-SHA-256) and with each named one; a
certificate that does not match the name is refused before anything is
sent; BINARYMIME content over BDAT.
"""

from __future__ import annotations

import asyncio
import ssl

import pytest

from rfcmail._tls import TLSMode, client_context
from rfcmail.aio.smtp import SMTPClient as AsyncSMTPClient
from rfcmail.blocking.smtp import SendResult, SMTPClient

from ..aio.support import MESSAGE, RecordingBackend, ServerThread, credentials
from .conftest import TLSMaterial

pytestmark = pytest.mark.interop


def _send(kind: str, port: int, context: ssl.SSLContext, mode: TLSMode, mechanism: str | None,
          message: bytes = MESSAGE, **options: object) -> tuple[str, SendResult]:
    if kind == "blocking":
        with SMTPClient("localhost", port, tls_mode=mode, tls_context=context) as client:
            assert client.tls_active
            used = client.login("alice", "secret", mechanism=mechanism)
            return used, client.send_message(message, "alice@example.test", ["bob@example.test"], **options)  # type: ignore[arg-type]

    async def run() -> tuple[str, SendResult]:
        async with AsyncSMTPClient("localhost", port, tls_mode=mode, tls_context=context) as client:
            assert client.tls_active
            used = await client.login("alice", "secret", mechanism=mechanism)
            result = await client.send_message(message, "alice@example.test", ["bob@example.test"], **options)  # type: ignore[arg-type]
            return used, result

    return asyncio.run(run())


@pytest.mark.parametrize("server_kind", ["aio", "threaded"])
@pytest.mark.parametrize("client_kind", ["blocking", "aio"])
@pytest.mark.parametrize("mode", [TLSMode.STARTTLS_REQUIRED, TLSMode.IMPLICIT], ids=["starttls", "implicit"])
def test_clients_and_servers_over_tls(tls_material: TLSMaterial, server_kind: str, client_kind: str,
                                      mode: TLSMode) -> None:
    backend = RecordingBackend()
    context = client_context(cafile=str(tls_material.ca))
    with ServerThread(backend, tls=tls_material, implicit_tls=mode is TLSMode.IMPLICIT,
                      credentials=credentials(), blocking=server_kind == "threaded") as server:
        used, result = _send(client_kind, server.port, context, mode, None)
    assert used == "SCRAM-SHA-256"
    assert result.ok
    message = backend.only_message()
    assert message.tls and message.authenticated == "alice" and message.content == MESSAGE


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_each_mechanism(tls_material: TLSMaterial, mechanism: str) -> None:
    backend = RecordingBackend()
    context = client_context(cafile=str(tls_material.ca))
    with ServerThread(backend, tls=tls_material, credentials=credentials()) as server:
        used, result = _send("blocking", server.port, context, TLSMode.STARTTLS_REQUIRED, mechanism)
    assert used == mechanism and result.ok
    assert backend.only_message().authenticated == "alice"


def test_binarymime_over_bdat(tls_material: TLSMaterial) -> None:
    backend = RecordingBackend()
    context = client_context(cafile=str(tls_material.ca))
    binary = b"Content-Type: application/octet-stream\r\n\r\n" + bytes(range(256)) * 64 + b"\r\n"
    with ServerThread(backend, tls=tls_material, credentials=credentials()) as server:
        _, result = _send("aio", server.port, context, TLSMode.STARTTLS_REQUIRED, None, binary, body="BINARYMIME")
    assert result.ok
    received = backend.only_message()
    # BINARYMIME over BDAT carries the octets as they are, bare CR and LF included.
    assert received.content == binary


def test_wrong_host_name_is_refused_before_anything_is_sent(tls_material: TLSMaterial) -> None:
    backend = RecordingBackend()
    context = client_context(cafile=str(tls_material.ca))
    with ServerThread(backend, tls=tls_material, credentials=credentials()) as server:
        client = SMTPClient("127.0.0.1", server.port, tls_mode=TLSMode.STARTTLS_REQUIRED, tls_context=context,
                            server_hostname="not-the-name.example")
        with pytest.raises(ssl.SSLCertVerificationError):
            client.connect()
        untrusted = SMTPClient("localhost", server.port, tls_mode=TLSMode.STARTTLS_REQUIRED)  # system CAs only
        with pytest.raises(ssl.SSLCertVerificationError):
            untrusted.connect()
    assert backend.messages == []
