"""Store-and-forward over three hops on loopback, routed by a real DNS server (dnsmasq).

    client --smtplib--> MTA1 (rfcmail serve, 127.0.0.2)
        MX lookup at dnsmasq:
          far.test      MX 10 mx.far.test (127.0.0.3)       -> MTA2 (rfcmail serve), Maildir
          example.test  MX 10 down.example.test (127.0.0.4)  nothing listens there
                        MX 20 pf.example.test (127.0.0.1)    -> Postfix -> Dovecot Maildir

Every SMTP server listens on the same port (Postfix's), on its own loopback
address, as port 25 would be on real hosts. The preferred MX of example.test
is down, so MTA1 must fall back to Postfix (RFC 5321 section 5.1). MTA2 is
started only after MTA1 has queued mail for it: the mail must arrive after a
retry (RFC 5321 section 4.5.4.1).
"""

from __future__ import annotations

import smtplib
import socket
import sys
import time
from pathlib import Path

from .dnsmasq import start_dnsmasq
from .framework import ProcessManager, free_port
from .realworld import RealWorld

RECORDS = (
    ("mx-host", "far.test,mx.far.test,10"),
    ("host-record", "mx.far.test,127.0.0.3"),
    ("mx-host", "example.test,down.example.test,10"),
    ("mx-host", "example.test,pf.example.test,20"),
    ("host-record", "down.example.test,127.0.0.4"),
    ("host-record", "pf.example.test,127.0.0.1"),
)


def serve(processes: ProcessManager, name: str, host: str, port: int, data: Path, *extra: str) -> None:
    processes.start(name, [
        sys.executable, "-m", "rfcmail", "serve", "--data", str(data), "--host", host,
        "--smtp-port", str(port), "--submission-port", "0", "--pop3-port", "0", "--hostname", f"{name}.test", *extra,
    ], port=port, host=host, connect=True, timeout=30)


def wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def maildir_text(path: Path) -> bytes:
    found = b""
    for folder in ("new", "cur"):
        directory = path / folder
        if directory.is_dir():
            found += b"".join(p.read_bytes() for p in directory.iterdir())
    return found


def test_three_hops_by_mx_with_fallback_and_retry(
    processes: ProcessManager, interop_dir: Path, realworld: RealWorld
) -> None:
    dns = start_dnsmasq(processes, RECORDS)
    port = realworld.ports["SMTP_PORT"]  # Postfix listens on 127.0.0.1 and ::1 only
    near = interop_dir / "mta1"
    mta1_port = free_port("127.0.0.2")
    serve(processes, "mta1", "127.0.0.2", mta1_port, near,
          "--domain", "near.test", "--user", "carol:pw", "--relay-network", "127.0.0.0/8",
          "--nameserver", dns.nameserver, "--delivery-port", str(port),
          "--allow-network", "127.0.0.0/8", "--retry-first", "1")
    marker = f"threehop-{time.monotonic_ns()}"
    with smtplib.SMTP("127.0.0.2", mta1_port, timeout=10) as client:
        client.sendmail("carol@near.test", ["alice@example.test"],
                        f"Subject: {marker}-postfix\r\n\r\nto postfix\r\n".encode())
        client.sendmail("carol@near.test", ["dave@far.test"],
                        f"Subject: {marker}-far\r\n\r\nto the far MTA\r\n".encode())
    # example.test: the preferred MX is down, Postfix takes it and Dovecot stores it.
    wait_until(lambda: f"{marker}-postfix".encode() in maildir_text(realworld.maildir("alice")),
               30, "delivery through Postfix into alice's Maildir")
    stored = maildir_text(realworld.maildir("alice"))
    assert b"by mta1.test" in stored  # our trace field survived the hop
    # far.test: MTA2 is down; the message waits in MTA1's queue, then arrives after a retry.
    time.sleep(1.0)
    assert not (interop_dir / "mta2" / "mail" / "dave").exists()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.3", port)) != 0
    far = interop_dir / "mta2"
    serve(processes, "mta2", "127.0.0.3", port, far, "--domain", "far.test", "--user", "dave:pw")
    wait_until(lambda: f"{marker}-far".encode() in maildir_text(far / "mail" / "dave"),
               40, "delivery to MTA2 after a retry")
    final = maildir_text(far / "mail" / "dave")
    assert b"by mta1.test" in final and b"by mta2.test" in final


def test_rfcmail_send_by_mx_lookup(processes: ProcessManager, interop_dir: Path) -> None:
    dns = start_dnsmasq(processes, RECORDS)
    port = free_port("127.0.0.3")
    far = interop_dir / "far"
    serve(processes, "far", "127.0.0.3", port, far, "--domain", "far.test", "--user", "dave:pw")
    sent = processes.run([
        sys.executable, "-m", "rfcmail", "send", "--from", "x@near.test", "--to", "dave@far.test",
        "--subject", "by MX", "--body", "looked up", "--nameserver", dns.nameserver,
        "--port", str(port), "--allow-network", "127.0.0.0/8", "--tls", "starttls",
    ])
    assert b"dave@far.test: accepted: 250" in sent.stdout
    wait_until(lambda: b"looked up" in maildir_text(far / "mail" / "dave"), 20, "delivery by MX")
    missing = processes.run([
        sys.executable, "-m", "rfcmail", "send", "--from", "x@near.test", "--to", "a@nowhere.test",
        "--body", "x", "--nameserver", dns.nameserver, "--allow-network", "127.0.0.0/8",
    ], check=False)
    assert missing.returncode == 1 and b"5.1.2" in missing.stderr  # NXDOMAIN: permanent
