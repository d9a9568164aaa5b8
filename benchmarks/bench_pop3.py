"""POP3 benchmark: rfcmail's server against Dovecot, rfcmail's client against poplib.

Run it standalone (as root: Dovecot's mail files belong to uid 5000)::

    python benchmarks/bench_pop3.py            # 1000 x 10 KB and 10 x 10 MB (docs/performance/pop3.rst)
    python benchmarks/bench_pop3.py --quick    # 200 x 10 KB and 2 x 10 MB

The work: download every message of a mailbox holding N messages of 10 KB
and then a mailbox of M messages of 10 MB, in one POP3 session each, over
loopback TCP without TLS (TLS costs the same to every contender and would
hide the protocol work).

* Servers: Python's poplib (one RETR at a time, as poplib works) downloads
  from rfcmail's threaded :class:`rfcmail.blocking.pop3.POP3Server` over a
  :class:`rfcmail.store.MaildirStore` (run in a subprocess of its own, so
  that it does not share the client's GIL) and from Dovecot's POP3 server
  (started with ``tests/interop/realworld.py``), over the same messages.
  Figure: seconds; ratio rfcmail / Dovecot (target: at most 2).
* Clients: rfcmail's blocking client and poplib download from the same
  Dovecot. rfcmail's client uses ``retrieve_many``, which pipelines RETR
  when the server advertises PIPELINING (Dovecot does); poplib cannot.
  Figure: seconds; ratio poplib / rfcmail (target: at least 1.5).

Each figure is the best of ``--repeat`` runs (5; 1 with ``--quick``), taken in
interleaved rounds after one warm-up round, because the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import poplib
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT / "src", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from rfcmail._tls import TLSMode  # noqa: E402
from rfcmail.blocking.pop3 import POP3Client, POP3Server  # noqa: E402
from rfcmail.store import MaildirStore  # noqa: E402

USER = "carol"
PASSWORD = "secret"
SMALL = 10 * 1024
LARGE = 10 * 1024 * 1024


def make_message(size: int, seed: int) -> bytes:
    """A plausible text message of about ``size`` octets, LF line endings, some lines starting with '.'."""
    rng = random.Random(seed)
    header = (f"From: sender{seed}@example.test\nTo: {USER}@example.test\n"
              f"Subject: benchmark message {seed}\nMessage-ID: <{seed}@bench.example.test>\n\n").encode()
    alphabet = b"abcdefghijklmnopqrstuvwxyz     ABCDEFGHIJ0123456789.,"
    lines = [header]
    total = len(header)
    pool = [bytes(rng.choice(alphabet) for _ in range(72)) for _ in range(64)]
    while total < size:
        line = rng.choice(pool)
        if rng.random() < 0.02:
            line = b"." + line[1:]
        lines.append(line + b"\n")
        total += len(line) + 1
    return b"".join(lines)[:size - 1] + b"\n"


def fill_dovecot(maildir: Path, messages: list[bytes]) -> None:
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for index, message in enumerate(messages):
        path = maildir / "cur" / f"{1_700_000_000 + index}.bench{index}.host:2,S"
        path.write_bytes(message)
    for directory, _, files in os.walk(maildir.parent):
        os.chown(directory, 5000, 5000)
        for name in files:
            os.chown(os.path.join(directory, name), 5000, 5000)


def poplib_download(port: int) -> int:
    client = poplib.POP3("127.0.0.1", port, timeout=120)
    client.user(USER)
    client.pass_(PASSWORD)
    count, _ = client.stat()
    octets = 0
    for number in range(1, count + 1):
        _, lines, size = client.retr(number)
        octets += size
    client.quit()
    return octets


def rfcmail_download(port: int) -> int:
    client = POP3Client.connect("127.0.0.1", port, tls=TLSMode.NONE)
    client.login(USER, PASSWORD, mechanism="USER", allow_insecure_auth=True)
    count, _ = client.stat()
    sizes: list[int] = []
    client.retrieve_many(range(1, count + 1), sink=lambda number, data: sizes.append(len(data)))
    client.quit()
    return sum(sizes)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds used by ``pid``, its reaped children and its live children (from /proc)."""
    def fields(stat_path: str) -> list[str]:
        with open(stat_path, encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()

    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            values = fields(f"/proc/{entry}/stat")
        except OSError:
            continue
        # After ")": state ppid ... utime(12) stime(13) cutime(14) cstime(15), counted from state = 0.
        if int(entry) == pid or int(values[1]) == pid:
            total += sum(int(value) for value in values[11:15])
    return total / CLK_TCK


def measure(contenders: dict[str, tuple[Callable[[int], int], int, int]], repeat: int
            ) -> dict[str, tuple[float, float, float, int]]:
    """For each contender: best wall time, and in that run the client's and the server's CPU seconds.

    Rounds are interleaved (every contender once per round, after one warm-up
    round) so that a burst of load on a shared machine hits all of them
    alike rather than one. Server CPU is read from /proc for the server's
    process tree (Dovecot's master, which reaps its pop3 processes).
    """
    for function, port, _ in contenders.values():
        function(port)  # warm-up: page cache, Dovecot's index
    runs: dict[str, list[tuple[float, float, float, int]]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, (function, port, server_pid) in contenders.items():
            server_cpu = tree_cpu(server_pid)
            started = time.perf_counter()
            cpu = time.process_time()
            octets = function(port)
            wall = time.perf_counter() - started
            client_cpu = time.process_time() - cpu
            time.sleep(0.2)  # let Dovecot's master reap the finished pop3 process
            runs[name].append((wall, client_cpu, tree_cpu(server_pid) - server_cpu, octets))
    return {name: min(results) for name, results in runs.items()}


def serve(directory: str) -> None:
    """Child mode: run rfcmail's POP3 server over ``directory`` and print its port."""
    from rfcmail import pop3
    store = MaildirStore(directory, template="{user}/Maildir")
    server = POP3Server(store, {USER: PASSWORD}, config=pop3.Config(allow_plaintext_auth=True))
    print(server.port, flush=True)
    server.serve_forever()


def start_rfcmail_server(directory: Path) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(directory)],
                               stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 small and 2 large messages")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per figure (best is kept)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    from tests.interop.realworld import start_realworld

    small_count, large_count = (200, 2) if args.quick else (1000, 10)
    repeat = args.repeat or (1 if args.quick else 5)
    print(f"POP3 benchmark: {small_count} x 10 KB and {large_count} x 10 MB, best of {repeat}, "
          f"loopback TCP, no TLS")
    world = start_realworld()
    results: dict[str, dict[str, tuple[float, float, float, int]]] = {}
    try:
        for label, count, size in (("10 KB", small_count, SMALL), ("10 MB", large_count, LARGE)):
            messages = [make_message(size, seed) for seed in range(count)]
            maildir = world.maildir(USER)
            for sub in ("new", "cur"):
                if (maildir / sub).is_dir():
                    for old in (maildir / sub).iterdir():
                        old.unlink()
            for stale in maildir.glob("dovecot*"):
                if stale.is_file():
                    stale.unlink()
            fill_dovecot(maildir, messages)
            with tempfile.TemporaryDirectory(prefix="rfcmail-bench-pop3-") as temp:
                store = MaildirStore(temp, template="{user}/Maildir")
                for message in messages:
                    store.deliver(USER, message)
                process, port = start_rfcmail_server(Path(temp))
                try:
                    dovecot = world.ports["POP3_PORT"]
                    master = int((world.root / "dovecot" / "run" / "master.pid").read_text().strip())
                    row = measure({
                        "server rfcmail (poplib)": (poplib_download, port, process.pid),
                        "server dovecot (poplib)": (poplib_download, dovecot, master),
                        "client rfcmail (dovecot)": (rfcmail_download, dovecot, master),
                        "client poplib (dovecot)": (poplib_download, dovecot, master),
                    }, repeat)
                finally:
                    process.terminate()
                    process.wait(10)
            results[label] = row
            for name, (seconds, cpu, server_cpu, octets) in row.items():
                rate = octets / seconds / 1e6
                per_message = seconds / count * 1000
                print(f"{label:>6}  {name:<26} {seconds:8.3f} s {rate:7.1f} MB/s {per_message:8.2f} ms/msg"
                      f"  client CPU {cpu:6.3f} s  server CPU {server_cpu:6.3f} s", flush=True)
    finally:
        world.stop()
    print()
    for label, row in results.items():
        server_ratio = row["server rfcmail (poplib)"][0] / row["server dovecot (poplib)"][0]
        client_ratio = row["client poplib (dovecot)"][0] / row["client rfcmail (dovecot)"][0]
        print(f"{label}: server time ratio rfcmail/dovecot = {server_ratio:.2f}x (target <= 2.0x)")
        print(f"{label}: client speed ratio rfcmail vs poplib = {client_ratio:.2f}x (target >= 1.5x)")
        cpu_ratio = row["client poplib (dovecot)"][1] / max(row["client rfcmail (dovecot)"][1], 1e-9)
        print(f"{label}: client CPU ratio poplib/rfcmail = {cpu_ratio:.2f}x")
        server_cpu_ratio = row["server rfcmail (poplib)"][2] / max(row["server dovecot (poplib)"][2], 1e-9)
        print(f"{label}: server CPU ratio rfcmail/dovecot = {server_cpu_ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
