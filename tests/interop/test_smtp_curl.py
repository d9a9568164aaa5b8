"""curl as the client of rfcmail's asyncio SMTP server: smtp://, STARTTLS (--ssl-reqd) and smtps://.

curl uploads the file given with ``-T`` after ``--mail-from`` and
``--mail-rcpt``; the backend must receive it byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..aio.support import MESSAGE, RecordingBackend, ServerThread, credentials
from .conftest import TLSMaterial
from .framework import ProcessManager, require_program

pytestmark = pytest.mark.interop


def _curl(processes: ProcessManager, url: str, data: Path, *extra: str) -> None:
    curl = require_program("curl")
    processes.run([curl, "--silent", "--show-error", "--max-time", "20", url,
                   "--mail-from", "alice@example.test",
                   "--mail-rcpt", "bob@example.test", "--mail-rcpt", "carol@example.test",
                   "-T", str(data), *extra])


def _data(directory: Path) -> Path:
    path = directory / "message.eml"
    path.write_bytes(MESSAGE)
    return path


def test_smtp_plain(processes: ProcessManager, interop_dir: Path) -> None:
    backend = RecordingBackend()
    with ServerThread(backend) as server:
        _curl(processes, f"smtp://127.0.0.1:{server.port}/curl.example", _data(interop_dir))
    message = backend.only_message()
    assert message.content == MESSAGE
    assert message.helo == "curl.example"
    assert message.recipients == ["bob@example.test", "carol@example.test"]


def test_smtp_starttls_required_with_auth(processes: ProcessManager, interop_dir: Path,
                                          tls_material: TLSMaterial) -> None:
    backend = RecordingBackend()
    with ServerThread(backend, tls=tls_material, credentials=credentials()) as server:
        _curl(processes, f"smtp://localhost:{server.port}", _data(interop_dir), "--ssl-reqd",
              "--cacert", str(tls_material.ca), "--user", "alice:secret")
    message = backend.only_message()
    assert message.tls and message.authenticated == "alice" and message.content == MESSAGE


def test_smtps_implicit_tls(processes: ProcessManager, interop_dir: Path, tls_material: TLSMaterial) -> None:
    backend = RecordingBackend()
    with ServerThread(backend, tls=tls_material, implicit_tls=True) as server:
        _curl(processes, f"smtps://localhost:{server.port}", _data(interop_dir), "--cacert", str(tls_material.ca))
    message = backend.only_message()
    assert message.tls and message.content == MESSAGE
