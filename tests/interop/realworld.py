"""Real Dovecot and Postfix on loopback, set up from the project's peer templates.

The templates and the ``rw.sh`` script live in ``shared/peers/`` beside the
repository (``../shared/peers`` from the repository root; override with
``RFCMAIL_PEERS_DIR``). :func:`start_realworld` renders them for free ports
under a fresh 0755 directory, starts Dovecot then Postfix, and returns a
:class:`RealWorld`; :meth:`RealWorld.stop` signals both masters by pid and
waits until they are gone. Starting and stopping cost about 3 s, so the
``realworld`` fixture in conftest.py starts them once per test run.

Users alice, bob, carol and dave have the password ``secret``; Postfix
delivers ``<user>@example.test`` to Dovecot and relays every other domain
to ``127.0.0.1:<SMARTHOST_PORT>``, the port a test's own server listens on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .framework import free_port, make_interop_dir, require_program

__all__ = ["PORT_NAMES", "RealWorld", "peers_dir", "start_realworld"]

PORT_NAMES = (
    "IMAP_PORT", "IMAPS_PORT", "POP3_PORT", "POP3S_PORT", "SUBMISSION_PORT", "SUBMISSIONS_PORT",
    "LMTP_PORT", "AUTH_PORT", "SMTP_PORT", "SMTP_AUTH_PORT", "SMTPS_PORT", "SMARTHOST_PORT",
)
USERS = ("alice", "bob", "carol", "dave")
PASSWORD = "secret"


def peers_dir() -> Path:
    """Where rw.sh and the templates are."""
    override = os.environ.get("RFCMAIL_PEERS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2].parent / "shared" / "peers"


@dataclass
class RealWorld:
    """A running Dovecot + Postfix pair and where everything is."""

    root: Path
    ports: dict[str, int]

    @property
    def ca(self) -> Path:
        """The test CA that signed the servers' certificate (trust it in clients)."""
        return self.root / "tls" / "ca.pem"

    @property
    def cert_chain(self) -> Path:
        return self.root / "tls" / "server-chain.pem"

    @property
    def key(self) -> Path:
        return self.root / "tls" / "server.key"

    @property
    def postfix_config(self) -> Path:
        return self.root / "postfix" / "etc"

    @property
    def dovecot_config(self) -> Path:
        return self.root / "dovecot" / "dovecot.conf"

    def maildir(self, user: str) -> Path:
        """The Maildir Dovecot and Postfix use for ``user`` (owned by uid 5000)."""
        return self.root / "dovecot" / "mail" / user / "Maildir"

    def logs(self) -> str:
        """The tails of both servers' logs, for failure messages."""
        parts = []
        for path in (self.root / "dovecot" / "log" / "dovecot.log",
                     self.root / "postfix" / "log" / "postfix.log"):
            try:
                parts.append(f"--- {path} ---\n" + path.read_text(errors="replace")[-6000:])
            except FileNotFoundError:
                parts.append(f"--- {path}: missing ---")
        return "\n".join(parts)

    def _rw(self, command: str, *extra: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "RW_ROOT": str(self.root), **{f"RW_{k}": str(v) for k, v in self.ports.items()}}
        result = subprocess.run(
            ["bash", str(peers_dir() / "rw.sh"), command, *extra],
            env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"rw.sh {command} failed ({result.returncode}):\n{result.stdout}\n"
                               f"{result.stderr}\n{self.logs()}")
        return result

    def postconf(self, *settings: str) -> None:
        """Change Postfix settings (``name = value``) and reload it."""
        subprocess.run(["postconf", "-c", str(self.postfix_config), "-e", *settings],
                       check=True, capture_output=True, timeout=30)
        subprocess.run(["postfix", "-c", str(self.postfix_config), "reload"],
                       check=True, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)

    def flush_postfix_queue(self) -> None:
        """Drop every queued message (between tests: stale mail would reach a later test)."""
        subprocess.run(["postsuper", "-c", str(self.postfix_config), "-d", "ALL"],
                       capture_output=True, timeout=30)

    def stop(self) -> None:
        self._rw("stop")


def start_realworld() -> RealWorld:
    """Set up and start Dovecot and Postfix on free loopback ports (both 127.0.0.1 and ::1)."""
    for program in ("dovecot", "postfix", "doveconf", "postconf", "openssl", "ss"):
        require_program(program)
    if not (peers_dir() / "rw.sh").is_file():
        raise RuntimeError(f"peer templates not found in {peers_dir()} (set RFCMAIL_PEERS_DIR)")
    ports: dict[str, int] = {}
    for name in PORT_NAMES:
        while True:
            port = free_port(also_ipv6=True)
            if port not in ports.values():
                ports[name] = port
                break
    world = RealWorld(make_interop_dir("rfcmail-rw-"), ports)
    try:
        world._rw("setup")
        world._rw("start")
    except BaseException:
        try:
            world._rw("stop")
        finally:
            shutil.rmtree(world.root, ignore_errors=True)
        raise
    return world
