"""``rfcmail serve`` as a real process: clients on the wire, crash safety under SIGKILL."""

from __future__ import annotations

import poplib
import random
import re
import signal
import smtplib
import ssl
import sys
import threading
import time
from pathlib import Path

import pytest

from .framework import ManagedProcess, ProcessManager, free_port, require_program


def start_serve(processes: ProcessManager, data: Path, *extra: str, name: str = "serve") -> tuple[ManagedProcess, int, int]:
    smtp_port, submission_port = free_port(), free_port()
    process = processes.start(
        name,
        [sys.executable, "-m", "rfcmail", "serve", "--data", str(data), "--smtp-port", str(smtp_port),
         "--submission-port", str(submission_port), "--domain", "example.test",
         *(() if "--pop3-port" in extra else ("--pop3-port", "0")), *extra],
        port=submission_port, timeout=30,
    )
    return process, smtp_port, submission_port


def maildir(data: Path, user: str) -> list[bytes]:
    new = data / "mail" / user / "new"
    return [p.read_bytes() for p in sorted(new.iterdir())] if new.is_dir() else []


def wait_until(predicate: object, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(0.05)


def test_serve_defaults_print_the_demo_user_and_take_mail(processes: ProcessManager, interop_dir: Path) -> None:
    data = interop_dir / "data"
    process, smtp_port, submission_port = start_serve(processes, data)
    wait_until(lambda: "demo user" in process.log(), what="demo user line")
    match = re.search(r"demo user (\S+)@example\.test password (\S+)", process.log())
    assert match, process.log()
    user, password = match.groups()
    assert f"smtp listening on 127.0.0.1:{smtp_port}" in process.log()
    assert f"submission listening on 127.0.0.1:{submission_port}" in process.log()
    # Inbound: no AUTH needed for a local recipient.
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.sendmail("x@remote.test", [f"{user}@example.test"], b"Subject: in\r\n\r\nvia smtp\r\n")
    # Submission: STARTTLS with the self-signed certificate, then AUTH, which is required.
    context = ssl.create_default_context(cafile=str(data / "tls" / "cert.pem"))
    with smtplib.SMTP("localhost", submission_port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail(f"{user}@example.test", [f"{user}@example.test"], b"Subject: x\r\n\r\nx\r\n")
        assert refused.value.smtp_code == 530
        client.starttls(context=context)
        client.login(user, password)
        client.sendmail(f"{user}@example.test", [f"{user}@example.test"], b"Subject: sub\r\n\r\nvia submission\r\n")
    wait_until(lambda: len(maildir(data, user)) == 2, what="two deliveries")
    bodies = b"".join(maildir(data, user))
    assert b"via smtp" in bodies and b"via submission" in bodies
    assert b"with ESMTPSA" in bodies  # RFC 3848: TLS and AUTH recorded in the trace field
    # Clean shutdown on SIGTERM.
    process.process.send_signal(signal.SIGTERM)
    assert process.process.wait(15) == 0
    assert "shutting down" in process.log()


def test_swaks_submits_with_starttls_and_auth(processes: ProcessManager, interop_dir: Path) -> None:
    swaks = require_program("swaks")
    data = interop_dir / "data"
    _process, _smtp_port, submission_port = start_serve(processes, data, "--user", "alice:wonderland")
    result = processes.run([
        swaks, "-s", "localhost", "-p", str(submission_port), "-tls", "--tls-verify",
        "--tls-ca-path", str(data / "tls" / "cert.pem"), "-a", "PLAIN", "-au", "alice", "-ap", "wonderland",
        "-f", "alice@example.test", "-t", "alice@example.test", "--body", "from swaks",
    ], timeout=60)
    assert b"250 " in result.stdout
    wait_until(lambda: maildir(data, "alice"), what="swaks message delivered")
    assert b"from swaks" in maildir(data, "alice")[0]


def test_acknowledged_mail_survives_sigkill(processes: ProcessManager, interop_dir: Path) -> None:
    """SECURITY R1/R3: every message that got 250 is delivered exactly once after a SIGKILL
    (at most a message whose delivery was in flight at the crash may be delivered twice)."""
    data = interop_dir / "data"
    rng = random.Random(20261128)
    process, smtp_port, _ = start_serve(processes, data, "--user", "bob:pw")
    acknowledged: list[str] = []
    stop = threading.Event()

    def client() -> None:
        number = 0
        while not stop.is_set():
            number += 1
            ident = f"crash-{number}"
            try:
                with smtplib.SMTP("127.0.0.1", smtp_port, timeout=5) as smtp:
                    smtp.sendmail("x@remote.test", ["bob@example.test"],
                                  f"Message-ID: <{ident}@test>\r\nSubject: {ident}\r\n\r\n{ident}\r\n".encode())
            except (OSError, smtplib.SMTPException):
                return
            acknowledged.append(ident)

    sender = threading.Thread(target=client)
    sender.start()
    time.sleep(rng.uniform(0.5, 1.5))
    process.process.send_signal(signal.SIGKILL)
    process.process.wait(10)
    stop.set()
    sender.join(10)
    assert acknowledged, process.log()
    restarted, _, _ = start_serve(processes, data, "--user", "bob:pw", name="serve-again")

    def delivered() -> list[bytes]:
        return re.findall(rb"Message-ID: <(crash-\d+)@test>", b"".join(maildir(data, "bob")))

    wait_until(lambda: {i.encode() for i in acknowledged} <= set(delivered()), timeout=30,
               what=f"all {len(acknowledged)} acknowledged messages delivered")
    counts: dict[bytes, int] = {}
    for ident in delivered():
        counts[ident] = counts.get(ident, 0) + 1
    duplicates = {k: v for k, v in counts.items() if v > 1}
    print(f"crash test: {len(acknowledged)} acknowledged, {len(counts)} delivered, duplicates {duplicates}")
    assert sum(v - 1 for v in duplicates.values()) <= 1, duplicates
    assert restarted.alive()


def test_rfcmail_send_through_submission_and_by_file(processes: ProcessManager, interop_dir: Path) -> None:
    data = interop_dir / "data"
    _process, smtp_port, submission_port = start_serve(processes, data, "--user", "erin:pw")
    built = processes.run([
        sys.executable, "-m", "rfcmail", "send", "--server", f"localhost:{submission_port}",
        "--tls", "require-starttls", "--cafile", str(data / "tls" / "cert.pem"),
        "--user", "erin", "--password", "pw", "--from", "erin@example.test", "--to", "erin@example.test",
        "--subject", "Grüße", "--body", "built by rfcmail send",
    ])
    assert b"erin@example.test: accepted: 250" in built.stdout
    message = interop_dir / "big.eml"
    message.write_bytes(b"Subject: a file\r\n\r\n" + b"line of a large message\r\n" * 100_000)
    sent = processes.run([
        sys.executable, "-m", "rfcmail", "send", str(message), "--server", f"127.0.0.1:{smtp_port}",
        "--tls", "none", "--from", "x@remote.test", "--to", "erin@example.test",
    ])
    assert b"accepted" in sent.stdout
    wait_until(lambda: len(maildir(data, "erin")) == 2, what="both messages delivered")
    stored = b"".join(maildir(data, "erin"))
    assert b"built by rfcmail send" in stored and b"=?utf-8?" in stored.lower()
    assert stored.count(b"line of a large message\r\n") == 100_000
    refused = processes.run([
        sys.executable, "-m", "rfcmail", "send", "--server", f"localhost:{submission_port}",
        "--tls", "require-starttls", "--cafile", str(data / "tls" / "cert.pem"),
        "--from", "erin@example.test", "--to", "erin@example.test", "--body", "no auth",
    ], check=False)
    assert refused.returncode != 0  # submission without AUTH: 530


def test_pop3_listener_serves_the_delivered_mail(processes: ProcessManager, interop_dir: Path) -> None:
    data = interop_dir / "data"
    pop3_port = free_port()
    _process, smtp_port, _ = start_serve(processes, data, "--user", "frank:pw", "--pop3-port", str(pop3_port))
    wait_until(lambda: _listening_line(_process, "pop3", pop3_port), what="pop3 listener")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.sendmail("x@remote.test", ["frank@example.test"], b"Subject: pop me\r\n\r\n.dot line\r\n")
    wait_until(lambda: maildir(data, "frank"), what="delivery")
    pop = poplib.POP3("localhost", pop3_port, timeout=10)
    try:
        pop.stls(context=ssl.create_default_context(cafile=str(data / "tls" / "cert.pem")))
        pop.user("frank")
        pop.pass_("pw")
        count, _size = pop.stat()
        assert count == 1
        _resp, lines, _octets = pop.retr(1)
        assert b".dot line" in lines and b"Subject: pop me" in lines
        pop.dele(1)
    finally:
        pop.quit()
    wait_until(lambda: not maildir(data, "frank") and not list((data / "mail" / "frank" / "cur").iterdir()),
               what="deletion committed at QUIT")


def _listening_line(process: ManagedProcess, name: str, port: int) -> bool:
    return f"{name} listening on 127.0.0.1:{port}" in process.log()


def test_rfcmail_queue_lists_what_a_running_serve_holds(processes: ProcessManager, interop_dir: Path) -> None:
    """``rfcmail queue`` beside a live ``serve --hold``: the acknowledged messages, each pending."""
    import json
    import subprocess

    data = interop_dir / "data"
    process, smtp_port, _ = start_serve(processes, data, "--hold", "--user", "carol:secret")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        for number in range(3):
            client.sendmail("x@remote.test", ["carol@example.test"], f"Subject: {number}\r\n\r\nheld\r\n".encode())

    def listed() -> list[dict[str, object]]:
        result = subprocess.run([sys.executable, "-m", "rfcmail", "queue", "--data", str(data), "--json"],
                                capture_output=True, text=True, timeout=30, check=True)
        found: list[dict[str, object]] = json.loads(result.stdout)
        return found

    # Entry files follow the journal within seconds; until then a message may be missing.
    wait_until(lambda: len(listed()) == 3, what="three queued messages listed")
    for item in listed():
        assert item["sender"] == "x@remote.test" and item["attempts"] == 0
        assert item["recipients"] == [{"address": "carol@example.test", "state": "pending",
                                       "reply": None, "remote_mta": None}]
    assert process.process.poll() is None  # the server was not disturbed
