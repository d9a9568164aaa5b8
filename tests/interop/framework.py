"""Helpers that drive real third-party programs on loopback.

Interop tests start real mail software (Postfix, Dovecot, dnsmasq, openssl,
...) as subprocesses on free loopback ports, from configs written under a
private temp dir, wait until the program's port answers, and stop it by pid at
teardown. A test may skip only when its program is not installed; with
``RFCMAIL_REQUIRE_INTEROP=1`` (set by CI) a missing program fails instead.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = [
    "ManagedProcess",
    "ProcessManager",
    "free_port",
    "listening",
    "make_interop_dir",
    "render_template",
    "require_interop",
    "require_program",
    "wait_for_port",
]

_TOKEN = re.compile(r"@([A-Z][A-Z0-9_]*)@")


def require_interop() -> bool:
    """True when a missing peer must fail the test rather than skip it."""
    return os.environ.get("RFCMAIL_REQUIRE_INTEROP", "") == "1"


def require_program(*names: str) -> str:
    """Return the path of the first of ``names`` found on PATH (or in sbin).

    Skips the calling test when none is installed, or fails it when
    ``RFCMAIL_REQUIRE_INTEROP=1``.
    """
    extra = os.pathsep.join(["/usr/sbin", "/sbin", "/usr/local/sbin"])
    search = os.environ.get("PATH", "") + os.pathsep + extra
    for name in names:
        path = shutil.which(name, path=search)
        if path:
            return path
    message = f"interop peer not installed: {' or '.join(names)}"
    if require_interop():
        pytest.fail(message + " (RFCMAIL_REQUIRE_INTEROP=1 turns this skip into a failure)")
    pytest.skip(message)


def free_port(host: str = "127.0.0.1", *, also_ipv6: bool = False) -> int:
    """A TCP port that is free on ``host`` now (and on ::1 too with ``also_ipv6``)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as first:
            first.bind((host, 0))
            port: int = first.getsockname()[1]
            if not also_ipv6:
                return port
            with socket.socket(socket.AF_INET6) as second:
                try:
                    second.bind(("::1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"no free port on {host}" + (" and ::1" if also_ipv6 else ""))


def listening(port: int) -> bool:
    """True when some socket is in LISTEN state on ``port`` (IPv4 or IPv6).

    Reads /proc/net/tcp*, so it does not connect: some servers (Dovecot) spawn
    work per connection, and a probe would disturb them.
    """
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as handle:
                rows = handle.readlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            columns = row.split()
            if columns[3] == "0A" and int(columns[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def _connectable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(
    port: int,
    *,
    host: str = "127.0.0.1",
    timeout: float = 15.0,
    connect: bool = False,
    alive: Callable[[], bool] | None = None,
    describe: Callable[[], str] = lambda: "",
) -> None:
    """Wait until ``port`` listens (or accepts a connection with ``connect``).

    Raises:
        TimeoutError: the port did not come up in time, or ``alive`` said the
            program died first; the message includes ``describe()`` (the log).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (_connectable(host, port) if connect else listening(port)):
            return
        if alive is not None and not alive():
            raise TimeoutError(f"program exited before port {port} listened\n{describe()}")
        time.sleep(0.02)
    raise TimeoutError(f"port {port} did not listen within {timeout} s\n{describe()}")


def render_template(source: Path, destination: Path, values: Mapping[str, object]) -> None:
    """Write ``source`` to ``destination`` with every ``@TOKEN@`` replaced.

    Raises:
        KeyError: the template names a token that ``values`` lacks.
    """
    text = source.read_text(encoding="utf-8")

    def substitute(match: re.Match[str]) -> str:
        token = match.group(1)
        if token not in values:
            raise KeyError(f"{source}: no value for @{token}@")
        return str(values[token])

    destination.write_text(_TOKEN.sub(substitute, text), encoding="utf-8")


def make_interop_dir(prefix: str = "rfcmail-") -> Path:
    """A fresh directory under /tmp, mode 0755, that daemons dropping privileges can traverse."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


@dataclass
class ManagedProcess:
    """A program started by a test, with its log file."""

    name: str
    argv: Sequence[str]
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self, limit: int = 8000) -> str:
        """The tail of the program's output, for failure messages."""
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return f"[{self.name}: no log]"
        text = data[-limit:].decode("utf-8", "replace")
        return f"--- {self.name} log ({self.log_path}) ---\n{text}"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the program by its pid: SIGTERM, then SIGKILL after ``timeout``."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)


@dataclass
class ProcessManager:
    """Starts programs for one test (or one session) and stops them all at teardown."""

    directory: Path
    processes: list[ManagedProcess] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        connect: bool = False,
        ready: Callable[[], bool] | None = None,
        timeout: float = 15.0,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> ManagedProcess:
        """Start ``argv`` in its own process group, output to ``<dir>/<name>.log``.

        Waits until ``port`` listens (or accepts, with ``connect``), or until
        ``ready()`` is true. On failure the program is stopped and the error
        carries its log.
        """
        log_path = self.directory / f"{name}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd or self.directory,
                env=None if env is None else {**os.environ, **env},
                start_new_session=True,
            )
        managed = ManagedProcess(name, argv, process, log_path)
        self.processes.append(managed)
        try:
            if port is not None:
                wait_for_port(port, host=host, timeout=timeout, connect=connect,
                              alive=managed.alive, describe=managed.log)
            if ready is not None:
                deadline = time.monotonic() + timeout
                while not ready():
                    if not managed.alive():
                        raise TimeoutError(f"{name} exited before it was ready\n{managed.log()}")
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{name} not ready within {timeout} s\n{managed.log()}")
                    time.sleep(0.02)
        except BaseException:
            managed.stop()
            raise
        return managed

    def run(self, argv: Sequence[str], *, timeout: float = 60.0, check: bool = True,
            input: bytes | None = None, env: Mapping[str, str] | None = None,
            ) -> subprocess.CompletedProcess[bytes]:
        """Run a program to completion; on failure raise with its output."""
        result = subprocess.run(
            list(argv), input=input, capture_output=True, timeout=timeout,
            cwd=self.directory, env=None if env is None else {**os.environ, **env},
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{argv[0]} exited {result.returncode}\n"
                f"stdout: {result.stdout.decode(errors='replace')}\n"
                f"stderr: {result.stderr.decode(errors='replace')}"
            )
        return result

    def stop_all(self) -> None:
        for managed in reversed(self.processes):
            managed.stop()
        self.processes.clear()
