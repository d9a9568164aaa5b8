"""fetchmail retrieving from rfcmail's POP3 server into an MDA, then deleting (or keeping)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rfcmail._tls import server_context
from rfcmail.blocking.pop3 import POP3Server
from rfcmail.store import MaildirStore

from .conftest import TLSMaterial
from .framework import ProcessManager, require_program

MESSAGES = [b"From: a@example.test\nSubject: first\n\n.dot line\nbody one\n",
            b"From: b@example.test\nSubject: second\n\nbody two\n"]


@pytest.fixture
def store(tmp_path: Path) -> MaildirStore:
    store = MaildirStore(tmp_path / "mail")
    for message in MESSAGES:
        store.deliver("alice", message)
    return store


@pytest.fixture
def server(store: MaildirStore, tls_material: TLSMaterial) -> Iterator[tuple[int, int]]:
    context = server_context(str(tls_material.chain), str(tls_material.key))
    stls = POP3Server(store, {"alice": "secret"}, ssl_context=context).start()
    implicit = POP3Server(store, {"alice": "secret"}, ssl_context=context, implicit_tls=True).start()
    yield stls.port, implicit.port
    stls.stop()
    implicit.stop()


def run_fetchmail(processes: ProcessManager, directory: Path, poll: str) -> str:
    program = require_program("fetchmail")
    rc = directory / "fetchmailrc"
    rc.write_text("set no syslog\n" + poll)
    rc.chmod(0o600)  # fetchmail refuses rc files others can read (PEERS.md G17)
    home = directory / "home"
    home.mkdir(exist_ok=True)
    result = processes.run([program, "--nodetach", "-v", "-f", str(rc)], check=False,
                           env={"FETCHMAILHOME": str(home), "HOME": str(home)}, timeout=60)
    output = (result.stdout + result.stderr).decode("utf-8", "replace")
    assert result.returncode == 0, output
    return output


def test_fetchmail_stls_into_mda_and_delete(store: MaildirStore, server: tuple[int, int],
                                            processes: ProcessManager, interop_dir: Path,
                                            tls_material: TLSMaterial) -> None:
    port, _ = server
    mbox = interop_dir / "fetched.mbox"
    output = run_fetchmail(processes, interop_dir, (
        f"poll 127.0.0.1 service {port} protocol POP3 auth password\n"
        f'  user "alice" there with password "secret" is root here\n'
        f"  sslproto tls1.2+ sslcertck sslcertfile {tls_material.ca} sslcommonname localhost\n"
        f"  fetchall\n"
        f'  mda "/bin/sh -c \'cat >> {mbox}\'"\n'))
    assert "STLS" in output
    fetched = mbox.read_bytes()
    assert b"Subject: first" in fetched and b"Subject: second" in fetched
    assert b"\n.dot line\n" in fetched  # unstuffed by fetchmail
    assert len(store.maildir("alice")) == 0  # deleted, committed at QUIT


def test_fetchmail_implicit_tls_keep_uidl(store: MaildirStore, server: tuple[int, int],
                                          processes: ProcessManager, interop_dir: Path,
                                          tls_material: TLSMaterial) -> None:
    _, port = server
    mbox = interop_dir / "kept.mbox"
    poll = (f"poll localhost service {port} protocol POP3 uidl auth password\n"
            f'  user "alice" there with password "secret" is root here\n'
            f"  ssl sslcertck sslcertfile {tls_material.ca}\n"
            f"  keep\n"
            f'  mda "/bin/sh -c \'cat >> {mbox}\'"\n')
    run_fetchmail(processes, interop_dir, poll)
    assert mbox.read_bytes().count(b"Subject: ") == 2
    assert len(store.maildir("alice")) == 2
    store.deliver("alice", b"Subject: third\n\nnew one\n")
    run_fetchmail(processes, interop_dir, poll)
    # With UIDL (stable across sessions) fetchmail fetches only the new message.
    assert mbox.read_bytes().count(b"Subject: ") == 3
    assert len(store.maildir("alice")) == 3
