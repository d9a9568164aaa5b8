"""msmtp as the client of rfcmail's asyncio SMTP server, with a config written here.

STARTTLS with certificate verification and AUTH (SCRAM-SHA-1 and PLAIN);
msmtp reads the message from standard input and the backend must receive it
byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..aio.support import MESSAGE, RecordingBackend, ServerThread, credentials
from .conftest import TLSMaterial
from .framework import ProcessManager, require_program

pytestmark = pytest.mark.interop


def _config(directory: Path, port: int, ca: Path, mechanism: str, *, starttls: bool = True) -> Path:
    path = directory / "msmtprc"
    path.write_text(
        "defaults\n"
        f"logfile {directory / 'msmtp.log'}\n"
        "account rfcmail\n"
        "host localhost\n"
        f"port {port}\n"
        "tls on\n"
        f"tls_starttls {'on' if starttls else 'off'}\n"
        f"tls_trust_file {ca}\n"
        f"auth {mechanism}\n"
        "user alice\n"
        "password secret\n"
        "from alice@example.test\n"
        "domain msmtp.example\n"
    )
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("mechanism", ["scram-sha-1", "plain"])
def test_starttls_and_auth(processes: ProcessManager, interop_dir: Path, tls_material: TLSMaterial,
                           mechanism: str) -> None:
    msmtp = require_program("msmtp")
    backend = RecordingBackend()
    with ServerThread(backend, tls=tls_material, credentials=credentials()) as server:
        config = _config(interop_dir, server.port, tls_material.ca, mechanism)
        processes.run([msmtp, "-C", str(config), "-a", "rfcmail", "bob@example.test"], input=MESSAGE)
    message = backend.only_message()
    assert message.tls and message.authenticated == "alice"
    assert message.helo == "msmtp.example"
    assert message.sender == "alice@example.test" and message.recipients == ["bob@example.test"]
    assert message.content == MESSAGE


def test_implicit_tls(processes: ProcessManager, interop_dir: Path, tls_material: TLSMaterial) -> None:
    msmtp = require_program("msmtp")
    backend = RecordingBackend()
    with ServerThread(backend, tls=tls_material, implicit_tls=True, credentials=credentials()) as server:
        config = _config(interop_dir, server.port, tls_material.ca, "scram-sha-1", starttls=False)
        processes.run([msmtp, "-C", str(config), "-a", "rfcmail", "bob@example.test"], input=MESSAGE)
    assert backend.only_message().content == MESSAGE
