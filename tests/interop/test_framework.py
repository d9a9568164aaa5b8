"""The interop framework proven with real programs: curl against real loopback servers."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from .conftest import TLSMaterial
from .framework import (
    ProcessManager,
    free_port,
    listening,
    render_template,
    require_program,
)


def test_curl_fetches_from_a_server_started_by_the_framework(
    processes: ProcessManager, interop_dir: Path
) -> None:
    curl = require_program("curl")
    (interop_dir / "www").mkdir()
    (interop_dir / "www" / "hello.txt").write_bytes(b"hello from loopback\n")
    port = free_port()
    server = processes.start(
        "http-server",
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(interop_dir / "www")],
        port=port,
    )
    result = processes.run([curl, "-sS", "--fail", f"http://127.0.0.1:{port}/hello.txt"])
    assert result.stdout == b"hello from loopback\n"
    assert server.alive()
    processes.stop_all()
    assert not server.alive()
    assert not listening(port)


def test_curl_verifies_openssl_s_server_with_the_test_ca(
    processes: ProcessManager, tls_material: TLSMaterial
) -> None:
    curl = require_program("curl")
    openssl = require_program("openssl")
    port = free_port()
    processes.start(
        "openssl-s_server",
        [openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-www",
         "-cert", str(tls_material.cert), "-key", str(tls_material.key)],
        port=port,
    )
    result = processes.run(
        [curl, "-sS", "--fail", "--cacert", str(tls_material.ca), f"https://localhost:{port}/"]
    )
    # s_server -www answers with a page describing the TLS session it negotiated.
    assert b"Ciphers supported in s_server binary" in result.stdout
    rejected = processes.run([curl, "-sS", f"https://localhost:{port}/"], check=False)
    assert rejected.returncode != 0  # not trusted without the test CA


def test_a_program_that_dies_fails_with_its_log(processes: ProcessManager) -> None:
    port = free_port()
    with pytest.raises(TimeoutError, match="boom-in-the-log"):
        processes.start("dies", ["sh", "-c", "echo boom-in-the-log; exit 3"], port=port, timeout=5)


def test_a_port_that_never_listens_times_out(processes: ProcessManager) -> None:
    port = free_port()
    with pytest.raises(TimeoutError, match="did not listen"):
        processes.start("sleeper", ["sleep", "30"], port=port, timeout=0.3)
    assert all(not p.alive() for p in processes.processes)


def test_missing_program_skips_without_the_ci_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RFCMAIL_REQUIRE_INTEROP", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        require_program("rfcmail-no-such-program-xyz")


def test_missing_program_fails_with_the_ci_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RFCMAIL_REQUIRE_INTEROP", "1")
    with pytest.raises(pytest.fail.Exception, match="RFCMAIL_REQUIRE_INTEROP"):
        require_program("rfcmail-no-such-program-xyz")


def test_free_port_is_bindable_on_both_stacks() -> None:
    port = free_port(also_ipv6=True)
    with socket.socket() as s4, socket.socket(socket.AF_INET6) as s6:
        s4.bind(("127.0.0.1", port))
        s6.bind(("::1", port))


def test_render_template(interop_dir: Path) -> None:
    source = interop_dir / "t.conf"
    source.write_text("port = @SMTP_PORT@\nroot = @ROOT@\n")
    render_template(source, interop_dir / "out.conf", {"SMTP_PORT": 2525, "ROOT": "/x"})
    assert (interop_dir / "out.conf").read_text() == "port = 2525\nroot = /x\n"
    with pytest.raises(KeyError, match="ROOT"):
        render_template(source, interop_dir / "bad.conf", {"SMTP_PORT": 1})


def test_interop_dir_is_traversable_by_daemons(interop_dir: Path) -> None:
    assert interop_dir.stat().st_mode & 0o777 == 0o755
