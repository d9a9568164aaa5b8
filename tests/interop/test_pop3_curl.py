"""curl as a POP3 client of rfcmail's server: pop3:// with STLS (--ssl-reqd) and pop3s://."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rfcmail._tls import server_context
from rfcmail.blocking.pop3 import POP3Server
from rfcmail.store import MaildirStore

from .conftest import TLSMaterial
from .framework import ProcessManager, require_program

MESSAGE = b"Subject: curl test\n\n.dot first\nsecond line\n"


@pytest.fixture
def servers(tmp_path: Path, tls_material: TLSMaterial) -> Iterator[tuple[MaildirStore, int, int]]:
    store = MaildirStore(tmp_path)
    store.deliver("alice", MESSAGE)
    store.deliver("alice", b"Subject: two\n\nbody two\n")
    context = server_context(str(tls_material.chain), str(tls_material.key))
    users = {"alice": "secret"}
    stls = POP3Server(store, users, ssl_context=context).start()
    implicit = POP3Server(store, users, ssl_context=context, implicit_tls=True).start()
    yield store, stls.port, implicit.port
    stls.stop()
    implicit.stop()


def curl(processes: ProcessManager, tls: TLSMaterial, *args: str) -> bytes:
    program = require_program("curl")
    result = processes.run([program, "-sS", "--max-time", "20", "--cacert", str(tls.ca),
                            "-u", "alice:secret", *args])
    return result.stdout


def test_curl_retr_over_stls(servers: tuple[MaildirStore, int, int], processes: ProcessManager,
                             tls_material: TLSMaterial) -> None:
    _, port, _ = servers
    body = curl(processes, tls_material, "--ssl-reqd", f"pop3://localhost:{port}/1")
    assert body == MESSAGE.replace(b"\n", b"\r\n")


def test_curl_list_stat_uidl_capa(servers: tuple[MaildirStore, int, int], processes: ProcessManager,
                                  tls_material: TLSMaterial) -> None:
    _, port, _ = servers
    listing = curl(processes, tls_material, "--ssl-reqd", f"pop3://localhost:{port}/")
    wire = MESSAGE.replace(b"\n", b"\r\n")
    assert listing.splitlines() == [b"1 %d" % len(wire), b"2 %d" % len(b"Subject: two\r\n\r\nbody two\r\n")]
    stat = curl(processes, tls_material, "--ssl-reqd", "-v", "-X", "STAT", "-I", f"pop3://localhost:{port}/")
    assert stat == b""  # -I: the single-line answer goes to the verbose log (PEERS.md G8)
    uidl = curl(processes, tls_material, "--ssl-reqd", "-X", "UIDL", f"pop3://localhost:{port}/")
    assert len(uidl.splitlines()) == 2
    capa = curl(processes, tls_material, "--ssl-reqd", "-X", "CAPA", f"pop3://localhost:{port}/")
    # curl sends CAPA after login: in TRANSACTION only the commands usable there are listed.
    assert b"TOP" in capa.splitlines() and b"PIPELINING" in capa.splitlines()
    assert b"USER" not in capa.splitlines() and b"STLS" not in capa.splitlines()


def test_curl_pop3s_top_and_dele(servers: tuple[MaildirStore, int, int], processes: ProcessManager,
                                 tls_material: TLSMaterial) -> None:
    store, _, port = servers
    top = curl(processes, tls_material, "-X", "TOP 1 0", f"pop3s://localhost:{port}/")
    assert top == b"Subject: curl test\r\n\r\n"
    curl(processes, tls_material, "-X", "DELE", "-I", f"pop3s://localhost:{port}/1")
    assert len(store.maildir("alice")) == 1


def test_curl_wrong_password_fails(servers: tuple[MaildirStore, int, int], processes: ProcessManager,
                                   tls_material: TLSMaterial) -> None:
    _, _, port = servers
    program = require_program("curl")
    result = processes.run([program, "-sS", "--max-time", "20", "--cacert", str(tls_material.ca),
                            "-u", "alice:wrong", f"pop3s://localhost:{port}/1"], check=False)
    assert result.returncode == 67  # CURLE_LOGIN_DENIED
