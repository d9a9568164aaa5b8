"""The SMTP example scripts, run as the user would run them, driven by rfcmail's client and swaks.

- examples/smtp_sink.py: each message lands in ``DIRECTORY/new/`` as one
  file (Return-Path, X-Original-To, then the message byte for byte) and
  ``tmp/`` is left empty; an aborted transaction leaves nothing.
- examples/submission_server.py: no AUTH before STARTTLS, 530 before AUTH,
  a user may send only as NAME@DOMAIN (553 5.7.1 otherwise).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import sys
import time
from pathlib import Path

import pytest

from rfcmail._tls import TLSMode
from rfcmail.blocking.smtp import SMTPClient, SMTPResponseError

from ..aio.support import MESSAGE
from .conftest import TLSMaterial
from .framework import ProcessManager, free_port, require_program

pytestmark = pytest.mark.interop

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_smtp_sink_writes_one_file_per_message(processes: ProcessManager, interop_dir: Path) -> None:
    port = free_port()
    directory = interop_dir / "sink"
    processes.start("smtp_sink", [sys.executable, str(EXAMPLES / "smtp_sink.py"), "--port", str(port),
                                  "--directory", str(directory)], port=port)
    with SMTPClient("127.0.0.1", port) as client:
        assert client.send_message(MESSAGE, "a@example.test", ["b@example.test", "c@example.test"]).ok
        assert client.send_message(MESSAGE.replace(b"interop", b"second"), "", ["d@example.test"]).ok
        client.rset()
    files = sorted((directory / "new").iterdir())
    assert len(files) == 2
    contents = sorted(path.read_bytes() for path in files)
    expected_first = (b"Return-Path: <a@example.test>\r\nX-Original-To: b@example.test\r\n"
                      b"X-Original-To: c@example.test\r\n" + MESSAGE)
    expected_second = b"Return-Path: <>\r\nX-Original-To: d@example.test\r\n" + MESSAGE.replace(b"interop", b"second")
    assert sorted([expected_first, expected_second]) == contents
    assert list((directory / "tmp").iterdir()) == []


def test_smtp_sink_with_swaks_and_an_aborted_transaction(processes: ProcessManager, interop_dir: Path) -> None:
    swaks = require_program("swaks")
    port = free_port()
    directory = interop_dir / "sink"
    processes.start("smtp_sink", [sys.executable, str(EXAMPLES / "smtp_sink.py"), "--port", str(port),
                                  "--directory", str(directory), "--lmtp"], port=port)
    processes.run([swaks, "--protocol", "LMTP", "--server", "127.0.0.1", "--port", str(port),
                   "--from", "a@example.test", "--to", "b@example.test,c@example.test"])
    # The connection drops in the middle of the data: nothing may be left behind.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        stream = raw.makefile("rb")
        stream.readline()
        raw.sendall(b"LHLO raw.example\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")
        while not stream.readline().startswith(b"354"):
            pass
        raw.sendall(b"Subject: half\r\n\r\n" + (b"x" * 76 + b"\r\n") * 1300)
        deadline = time.monotonic() + 5
        while not list((directory / "tmp").iterdir()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(list((directory / "tmp").iterdir())) == 1, "the message streams into tmp/"
        stream.close()
    deadline = time.monotonic() + 5
    while list((directory / "tmp").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert list((directory / "tmp").iterdir()) == []
    (stored,) = (directory / "new").iterdir()
    assert b"X-Original-To: c@example.test" in stored.read_bytes()


def test_submission_server(processes: ProcessManager, interop_dir: Path, tls_material: TLSMaterial) -> None:
    port = free_port()
    directory = interop_dir / "outgoing"
    processes.start("submission", [
        sys.executable, str(EXAMPLES / "submission_server.py"), "--port", str(port),
        "--tls-cert", str(tls_material.chain), "--tls-key", str(tls_material.key),
        "--user", "alice:secret", "--user", "bob:hunter2", "--domain", "example.test",
        "--directory", str(directory)], port=port)
    with smtplib.SMTP("localhost", port, timeout=10) as plain:
        plain.ehlo()
        assert not plain.has_extn("auth")
        code, _ = plain.mail("alice@example.test")
        assert code == 530
    context = ssl.create_default_context(cafile=str(tls_material.ca))
    with SMTPClient("localhost", port, tls_mode=TLSMode.STARTTLS_REQUIRED, tls_context=context) as client:
        assert "PLAIN" in client.extensions.auth_mechanisms
        client.login("alice", "secret")
        refused = client.send_message(MESSAGE, "bob@example.test", ["friend@example.net"])
        assert refused.mail_reply.code == 553 and str(refused.mail_reply.enhanced) == "5.7.1"
        assert client.send_message(MESSAGE, "alice@example.test", ["friend@example.net"]).ok
    with SMTPClient("localhost", port, tls_mode=TLSMode.STARTTLS_REQUIRED, tls_context=context) as client:
        with pytest.raises(SMTPResponseError):
            client.login("bob", "wrong")
    (stored,) = (directory / "new").iterdir()
    assert stored.read_bytes().endswith(MESSAGE)
