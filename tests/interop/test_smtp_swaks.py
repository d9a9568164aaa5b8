"""swaks as the client of rfcmail's asyncio SMTP server.

PIPELINING, STARTTLS with certificate verification, implicit TLS, AUTH
PLAIN / LOGIN / CRAM-MD5, and a 5 MiB attachment; each message must reach the
backend byte for byte (the attachment decodes to the file that was attached).
"""

from __future__ import annotations

import email
import email.policy
import os
from pathlib import Path

import pytest

from ..aio.support import MESSAGE, RecordingBackend, dot_stuffed, ServerThread, credentials
from .conftest import TLSMaterial
from .framework import ProcessManager, require_program

pytestmark = pytest.mark.interop


def _swaks(processes: ProcessManager, port: int, *extra: str, host: str = "127.0.0.1") -> str:
    swaks = require_program("swaks")
    result = processes.run([swaks, "--server", host, "--port", str(port),
                            "--from", "alice@example.test", "--to", "bob@example.test",
                            "--helo", "swaks.example", "--timeout", "20", *extra])
    return result.stdout.decode("utf-8", "replace")


def _data_file(directory: Path) -> tuple[str, ...]:
    """swaks options that send MESSAGE as it is: dot-stuffed here, no fix-up by swaks."""
    path = directory / "message.eml"
    path.write_bytes(dot_stuffed(MESSAGE))
    return ("--no-data-fixup", "--data", f"@{path}")


def test_pipelining(processes: ProcessManager, interop_dir: Path) -> None:
    backend = RecordingBackend()
    with ServerThread(backend) as server:
        transcript = _swaks(processes, server.port, "--pipeline", *_data_file(interop_dir))
    assert "PIPELINING" in transcript
    message = backend.only_message()
    assert message.content == MESSAGE
    assert message.helo == "swaks.example"
    assert message.recipients == ["bob@example.test"]


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_starttls_and_auth(processes: ProcessManager, interop_dir: Path, tls_material: TLSMaterial,
                           mechanism: str) -> None:
    backend = RecordingBackend()
    with ServerThread(backend, tls=tls_material, credentials=credentials()) as server:
        transcript = _swaks(processes, server.port, "-tls", "--tls-verify", "--tls-ca-path", str(tls_material.ca),
                            "-a", mechanism, "-au", "alice", "-ap", "secret", "--pipeline",
                            *_data_file(interop_dir), host="localhost")
    assert "235 2.7.0" in transcript
    message = backend.only_message()
    assert message.tls and message.authenticated == "alice"
    assert message.content == MESSAGE


def test_implicit_tls(processes: ProcessManager, interop_dir: Path, tls_material: TLSMaterial) -> None:
    backend = RecordingBackend()
    with ServerThread(backend, tls=tls_material, implicit_tls=True, credentials=credentials()) as server:
        _swaks(processes, server.port, "-tlsc", "--tls-verify", "--tls-ca-path", str(tls_material.ca),
               "-a", "PLAIN", "-au", "alice", "-ap", "secret",
               *_data_file(interop_dir), host="localhost")
    message = backend.only_message()
    assert message.tls and message.authenticated == "alice" and message.content == MESSAGE


def test_wrong_password_fails(processes: ProcessManager, tls_material: TLSMaterial) -> None:
    swaks = require_program("swaks")
    backend = RecordingBackend()
    with ServerThread(backend, tls=tls_material, credentials=credentials()) as server:
        result = processes.run([swaks, "--server", "localhost", "--port", str(server.port), "-tls",
                                "--tls-ca-path", str(tls_material.ca), "-a", "PLAIN", "-au", "alice",
                                "-ap", "nope", "--from", "alice@example.test", "--to", "bob@example.test"],
                               check=False)
    assert result.returncode != 0
    assert b"535 5.7.8" in result.stdout
    assert backend.messages == []


def test_five_mebibyte_attachment(processes: ProcessManager, interop_dir: Path) -> None:
    attachment = interop_dir / "blob.bin"
    payload = os.urandom(5 * 1024 * 1024)
    attachment.write_bytes(payload)
    backend = RecordingBackend()
    with ServerThread(backend) as server:
        _swaks(processes, server.port, "--pipeline", "--attach-type", "application/octet-stream",
               "--attach", f"@{attachment}", "--suppress-data")
    message = backend.only_message()
    assert len(message.content) > len(payload)
    parsed = email.message_from_bytes(message.content, policy=email.policy.default)
    parts = [part for part in parsed.walk() if part.get_content_type() == "application/octet-stream"]
    assert len(parts) == 1
    assert parts[0].get_payload(decode=True) == payload


@pytest.mark.parametrize("blocking", [False, True], ids=["aio", "threaded"])
def test_ipv6_loopback(processes: ProcessManager, interop_dir: Path, blocking: bool) -> None:
    backend = RecordingBackend()
    with ServerThread(backend, host="::1", blocking=blocking) as server:
        _swaks(processes, server.port, "-6", *_data_file(interop_dir), host="::1")
    message = backend.only_message()
    assert message.content == MESSAGE
    assert message.peer.address is not None and message.peer.address[0] == "::1"
