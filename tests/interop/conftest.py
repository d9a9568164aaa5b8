"""Fixtures for interop tests: a private directory, a process manager, TLS material.

Every interop test is marked ``interop``. See :mod:`tests.interop.framework`
for the skip rule (``RFCMAIL_REQUIRE_INTEROP=1`` turns a skip for a missing
program into a failure).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .framework import ProcessManager, make_interop_dir, require_program
from .realworld import RealWorld, start_realworld


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.interop)


@pytest.fixture
def interop_dir() -> Iterator[Path]:
    """A 0755 directory under /tmp for one test's configs, logs and state."""
    path = make_interop_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def processes(interop_dir: Path) -> Iterator[ProcessManager]:
    """Start programs for this test; each is stopped by pid at teardown."""
    manager = ProcessManager(interop_dir)
    yield manager
    manager.stop_all()


@dataclass(frozen=True)
class TLSMaterial:
    """A test CA and a leaf for localhost, 127.0.0.1 and ::1 (PEERS.md section 7)."""

    directory: Path
    ca: Path
    cert: Path
    key: Path
    chain: Path


_LEAF_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
subjectAltName = DNS:localhost, DNS:mail.example.test, IP:127.0.0.1, IP:::1
"""


@pytest.fixture(scope="session")
def tls_material() -> Iterator[TLSMaterial]:
    """Make a CA and a server leaf with the real openssl, once per test run."""
    openssl = require_program("openssl")
    directory = make_interop_dir("rfcmail-tls-")
    manager = ProcessManager(directory)
    (directory / "leaf.ext").write_text(_LEAF_EXT)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    manager.run([openssl, "req", "-x509", *ec, "-days", "3650", "-subj", "/CN=rfcmail test CA",
                 "-keyout", "ca.key", "-out", "ca.pem",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-addext", "subjectKeyIdentifier=hash"])
    manager.run([openssl, "req", *ec, "-subj", "/CN=localhost", "-keyout", "server.key",
                 "-out", "server.csr"])
    manager.run([openssl, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "3650", "-extfile", "leaf.ext", "-out", "server.pem"])
    chain = directory / "server-chain.pem"
    chain.write_bytes((directory / "server.pem").read_bytes() + (directory / "ca.pem").read_bytes())
    yield TLSMaterial(directory, directory / "ca.pem", directory / "server.pem",
                      directory / "server.key", chain)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def realworld() -> Iterator[RealWorld]:
    """Dovecot (IMAP, POP3, LMTP, submission) and Postfix, started once per test run.

    Tests share it: give each test its own user or mailbox content, and call
    ``flush_postfix_queue()`` when a test leaves mail queued for the smarthost.
    """
    world = start_realworld()
    yield world
    world.stop()
    shutil.rmtree(world.root, ignore_errors=True)
