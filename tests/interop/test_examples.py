"""The example MTAs run as documented: local delivery, relaying to a smart host, no open relay."""

from __future__ import annotations

import smtplib
import sys
import time
from pathlib import Path

import pytest

from .framework import ProcessManager, free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def wait_for_file(directory: Path, timeout: float = 20.0) -> list[bytes]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if directory.is_dir() and any(directory.iterdir()):
            return [p.read_bytes() for p in directory.iterdir()]
        time.sleep(0.05)
    raise AssertionError(f"nothing arrived in {directory}")


def test_mta_example_delivers_locally(processes: ProcessManager, interop_dir: Path) -> None:
    pytest.importorskip("dns", reason="examples/mta.py needs dnspython (the 'dns' extra)")
    port = free_port()
    processes.start("mta-example", [
        sys.executable, str(EXAMPLES / "mta.py"), "--data", str(interop_dir / "mta"),
        "--domain", "example.org", "--user", "alice:secret", "--listen", f"127.0.0.1:{port}",
        "--nameserver", "127.0.0.1:1",
    ], port=port)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail("bob@remote.test", ["alice@example.org"], b"Subject: hi\r\n\r\nlocal\r\n")
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("bob@remote.test", ["victim@elsewhere.test"], b"Subject: relay?\r\n\r\nno\r\n")
    [stored] = wait_for_file(interop_dir / "mta" / "mail" / "alice" / "new")
    assert stored.endswith(b"\r\nlocal\r\n")


def test_relay_example_forwards_to_the_smart_host(processes: ProcessManager, interop_dir: Path) -> None:
    sink_port, relay_port = free_port(), free_port()
    processes.start("smart-host", [
        sys.executable, "-m", "rfcmail", "serve", "--data", str(interop_dir / "sink"),
        "--smtp-port", str(sink_port), "--submission-port", "0", "--pop3-port", "0", "--domain", "far.test",
        "--user", "dave:pw",
    ], port=sink_port, timeout=30)
    processes.start("relay-example", [
        sys.executable, str(EXAMPLES / "relay_mta.py"), "--data", str(interop_dir / "relay"),
        "--listen", f"127.0.0.1:{relay_port}", "--network", "127.0.0.1/32",
        "--smart-host", f"127.0.0.1:{sink_port}",
    ], port=relay_port)
    with smtplib.SMTP("127.0.0.1", relay_port, timeout=10) as client:
        client.sendmail("carol@lan.test", ["dave@far.test"], b"Subject: via relay\r\n\r\nrelayed\r\n")
    [stored] = wait_for_file(interop_dir / "sink" / "mail" / "dave" / "new")
    assert b"relayed" in stored and stored.count(b"Received: ") == 2


def test_relay_example_refuses_clients_outside_its_networks(processes: ProcessManager,
                                                            interop_dir: Path) -> None:
    relay_port = free_port()
    processes.start("relay-example", [
        sys.executable, str(EXAMPLES / "relay_mta.py"), "--data", str(interop_dir / "relay"),
        "--listen", f"127.0.0.1:{relay_port}", "--network", "192.0.2.0/24",
        "--smart-host", "127.0.0.1:9",
    ], port=relay_port)
    with smtplib.SMTP("127.0.0.1", relay_port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail("x@outside.test", ["victim@far.test"], b"Subject: no\r\n\r\nno\r\n")
    assert refused.value.recipients["victim@far.test"][0] == 554
