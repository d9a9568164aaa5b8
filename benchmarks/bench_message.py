"""Benchmark: rfcmail.message against the standard library's email package (and mail-parser).

Two benchmarks, run side by side in one go::

    python benchmarks/bench_message.py            # full run
    python benchmarks/bench_message.py --quick    # a short run

1. A deterministic corpus of about 2000 messages (plain text, multipart/
   alternative, 5% with a 1 MiB base64 attachment, encoded-word subjects,
   Received and DKIM-Signature headers). Each implementation does the same
   work per message: parse; read subject, from, to, date and message-id as
   decoded values; walk the parts; decode the text bodies; list attachment
   names. Printed: messages/s, MB/s and the ratio to rfcmail.
2. One message of about 200 MB (a base64 attachment) parsed from a file, each
   implementation in its own subprocess, reporting peak RSS above the
   interpreter's baseline (VmHWM from /proc/self/status).

Peers: ``email.parser.BytesParser`` with ``policy.default`` and with
``policy.compat32``, and ``mailparser`` (pip install mail-parser) when it is
installed.
"""

from __future__ import annotations

import argparse
import base64
import email.policy
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from email.header import decode_header, make_header
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from rfcmail.message import parse  # noqa: E402

try:
    import mailparser
except ImportError:  # pragma: no cover - optional peer
    mailparser = None

WORDS = (
    "the quick brown fox jumps over lazy dog meeting report invoice quarterly update schedule "
    "project review draft final notes minutes budget forecast release server deploy ticket"
).split()
NAMES = ["Alice Martin", "Bob Lee", "Carol Diaz", "Dave Kim", "Émile Zola", "Jürgen Groß", "Søren Kierkegaard"]
DOMAINS = ["example.org", "example.com", "mail.example.net", "lists.example.io"]


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def _encoded(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def _address(rng: random.Random) -> str:
    name = rng.choice(NAMES)
    local = name.split()[0].lower().encode("ascii", "ignore").decode() or "user"
    shown = _encoded(name) if not name.isascii() else f'"{name}"'
    return f"{shown} <{local}@{rng.choice(DOMAINS)}>"


def _text(rng: random.Random, lines: int) -> str:
    return "\r\n".join(_words(rng, rng.randint(6, 12)) for _ in range(lines)) + "\r\n"


def make_message(rng: random.Random, index: int, big_attachment: bool) -> bytes:
    """One corpus message (CRLF line endings)."""
    headers = []
    for hop in range(rng.randint(2, 5)):
        headers.append(
            f"Received: from relay{hop}.{rng.choice(DOMAINS)} (relay{hop}.{rng.choice(DOMAINS)} [192.0.2.{hop + 1}])\r\n"
            f"\tby mx.example.org (Postfix) with ESMTPS id 4F{index:06X}{hop}\r\n"
            f"\tfor <bob@example.org>; Mon, 2 Mar 2026 10:{hop:02d}:00 +0000 (UTC)"
        )
    signature = base64.b64encode(hashlib.sha512(str(index).encode()).digest() * 2).decode()
    headers.append(
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel2026;\r\n"
        "\th=from:to:subject:date:message-id:mime-version:content-type;\r\n"
        f"\tbh={base64.b64encode(hashlib.sha256(str(index).encode()).digest()).decode()};\r\n"
        f"\tb={signature[:70]}\r\n\t {signature[70:140]}\r\n\t {signature[140:]}"
    )
    subject = _words(rng, rng.randint(3, 8))
    if rng.random() < 0.35:
        subject = _encoded("Re: " + subject + " — café")
    headers += [
        f"From: {_address(rng)}",
        "To: " + ", ".join(_address(rng) for _ in range(rng.randint(1, 3))),
        f"Subject: {subject}",
        f"Date: {['Mon', 'Tue', 'Wed'][index % 3]}, {1 + index % 28} Mar 2026 {index % 24:02d}:{index % 60:02d}:07 +0100",
        f"Message-ID: <{index}.{rng.randrange(10**9)}@example.org>",
        "MIME-Version: 1.0",
    ]
    kind = "attachment" if big_attachment else rng.choice(["plain", "plain", "alternative", "alternative", "small"])
    body: str
    if kind == "plain":
        headers += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
        body = _text(rng, rng.randint(5, 40))
    else:
        outer = f"=_outer_{index}"
        inner = f"=_alt_{index}"
        text = _text(rng, rng.randint(5, 30))
        html = "<html><body><p>" + text.replace("\r\n", "</p>\r\n<p>") + "</p></body></html>\r\n"
        alternative = (
            f"--{inner}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            f"{text}\r\n--{inner}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--{inner}--\r\n"
        )
        if kind == "alternative":
            headers.append(f'Content-Type: multipart/alternative; boundary="{inner}"')
            body = alternative
        else:
            size = 1024 * 1024 if kind == "attachment" else rng.randint(2_000, 40_000)
            payload = base64.encodebytes(rng.randbytes(size)).decode().replace("\n", "\r\n")
            headers.append(f'Content-Type: multipart/mixed; boundary="{outer}"')
            body = (
                f"This is a multi-part message in MIME format.\r\n--{outer}\r\n"
                f'Content-Type: multipart/alternative; boundary="{inner}"\r\n\r\n{alternative}\r\n'
                f"--{outer}\r\nContent-Type: application/pdf; name=\"report-{index}.pdf\"\r\n"
                f'Content-Disposition: attachment; filename="report-{index}.pdf"\r\n'
                f"Content-Transfer-Encoding: base64\r\n\r\n{payload}\r\n--{outer}--\r\n"
            )
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode("utf-8")


def make_corpus(count: int, seed: int = 2026) -> list[bytes]:
    """The deterministic corpus: ``count`` messages, 5% of them with a 1 MiB attachment."""
    rng = random.Random(seed)
    return [make_message(rng, index, index % 20 == 7) for index in range(count)]


# -- the work, once per implementation ---------------------------------------------


def work_rfcmail(data: bytes) -> Any:
    message = parse(data)
    values = (message.subject, message.from_, message.to, message.date, message.message_id)
    types = [part.content_type for part in message.walk()]
    bodies = (message.text_body(), message.html_body())
    names = [part.filename for part in message.attachments()]
    return values, types, bodies, names


def _stdlib_default(data: bytes) -> Any:
    message = BytesParser(policy=email.policy.default).parsebytes(data)
    values = (message["subject"], message["from"].addresses, message["to"].addresses, message["date"].datetime, message["message-id"])
    types = [part.get_content_type() for part in message.walk()]
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    bodies = (plain.get_content() if plain else None, html.get_content() if html else None)
    names = [part.get_filename() for part in message.iter_attachments()]
    return values, types, bodies, names


def _stdlib_compat32(data: bytes) -> Any:
    message = BytesParser(policy=email.policy.compat32).parsebytes(data)
    values = (
        str(make_header(decode_header(message["subject"]))),
        getaddresses(message.get_all("from", [])),
        getaddresses(message.get_all("to", [])),
        parsedate_to_datetime(message["date"]),
        message["message-id"],
    )
    types = []
    bodies = []
    names = []
    for part in message.walk():
        types.append(part.get_content_type())
        if part.is_multipart():
            continue
        filename = part.get_filename()
        if filename is not None:
            names.append(filename)
        elif part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            bodies.append(payload.decode(part.get_content_charset() or "ascii", "replace"))
    return values, types, bodies, names


def _mailparser(data: bytes) -> Any:
    assert mailparser is not None
    message = mailparser.parse_from_bytes(data)
    values = (message.subject, message.from_, message.to, message.date, message.message_id)
    return values, message.text_plain, message.text_html, [a["filename"] for a in message.attachments]


def peers() -> list[tuple[str, Callable[[bytes], Any]]]:
    found: list[tuple[str, Callable[[bytes], Any]]] = [
        ("rfcmail", work_rfcmail),
        ("stdlib policy.default", _stdlib_default),
        ("stdlib policy.compat32", _stdlib_compat32),
    ]
    if mailparser is not None:
        found.append(("mail-parser", _mailparser))
    return found


def bench_corpus(corpus: list[bytes], rounds: int) -> None:
    total = sum(len(m) for m in corpus)
    print(f"corpus: {len(corpus)} messages, {total / 1e6:.1f} MB, best of {rounds} rounds")
    results: dict[str, float] = {}
    for name, work in peers():
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            for data in corpus:
                work(data)
            best = min(best, time.perf_counter() - started)
        results[name] = best
    reference = results["rfcmail"]
    print(f"{'implementation':26} {'messages/s':>11} {'MB/s':>8} {'time vs rfcmail':>16}")
    for name, seconds in results.items():
        print(f"{name:26} {len(corpus) / seconds:11.0f} {total / seconds / 1e6:8.1f} {seconds / reference:15.2f}x")


# -- one large message from a file, peak RSS in a subprocess -------------------------

_CHILD = r"""
import sys, hashlib
sys.path.insert(0, {src!r})
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0
impl, path = sys.argv[1], sys.argv[2]
import email.policy
from email.parser import BytesParser
import rfcmail.message
baseline = hwm()
import time
started = time.perf_counter()
digest = ""
with open(path, "rb") as fp:
    if impl == "rfcmail":
        message = rfcmail.message.parse(fp)
        attachment = message.attachments()[0]
        hasher = hashlib.sha256()
        with attachment.open() as stream:
            while chunk := stream.read(1 << 20):
                hasher.update(chunk)
        digest = hasher.hexdigest()
    elif impl == "rfcmail-parse":
        message = rfcmail.message.parse(fp)
        [part.content_type for part in message.walk()]
    elif impl == "stdlib":
        message = BytesParser(policy=email.policy.default).parse(fp)
        attachment = next(message.iter_attachments())
        digest = hashlib.sha256(attachment.get_content()).hexdigest()
    elif impl == "stdlib-parse":
        message = BytesParser(policy=email.policy.default).parse(fp)
elapsed = time.perf_counter() - started
print(hwm() - baseline, elapsed, digest)
"""


def write_big_message(path: Path, size: int) -> str:
    """Write a message with one base64 attachment of about ``size`` encoded bytes; return the payload's sha256."""
    rng = random.Random(7)
    raw_size = size * 3 // 4
    hasher = hashlib.sha256()
    with path.open("wb") as out:
        out.write(
            b"From: big@example.org\r\nTo: bob@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="big-boundary"\r\n\r\n--big-boundary\r\n'
            b"Content-Type: text/plain\r\n\r\nsee attachment\r\n--big-boundary\r\n"
            b'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="big.bin"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n"
        )
        block = 57 * 16384  # whole base64 lines per block
        written = 0
        while written < raw_size:
            piece = rng.randbytes(min(block, raw_size - written))
            hasher.update(piece)
            out.write(base64.encodebytes(piece).replace(b"\n", b"\r\n"))
            written += len(piece)
        out.write(b"\r\n--big-boundary--\r\n")
    return hasher.hexdigest()


def bench_big(size: int) -> None:
    src = str(Path(__file__).resolve().parent.parent / "src")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.eml"
        expected = write_big_message(path, size)
        actual = path.stat().st_size
        print(f"\nlarge message: {actual / 1e6:.0f} MB from a file, peak RSS above baseline (VmHWM)")
        print(f"{'implementation':34} {'peak RSS MB':>12} {'seconds':>8}  attachment")
        runs = [
            ("rfcmail-parse", "rfcmail parse"),
            ("rfcmail", "rfcmail parse + stream-decode"),
            ("stdlib-parse", "stdlib default parse"),
            ("stdlib", "stdlib default parse + decode"),
        ]
        for impl, label in runs:
            result = subprocess.run(
                [sys.executable, "-c", _CHILD.format(src=src), impl, str(path)],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                print(f"{label:34} failed: {result.stderr.strip().splitlines()[-1:]}")
                continue
            peak, elapsed, digest = (result.stdout.split() + [""])[:3]
            check = "" if not digest else ("sha256 ok" if digest == expected else "sha256 MISMATCH")
            print(f"{label:34} {int(peak) / 1e6:12.1f} {float(elapsed):8.2f}  {check}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small corpus, one round, 20 MB large message")
    parser.add_argument("--skip-big", action="store_true", help="skip the large-message benchmark")
    args = parser.parse_args()
    count, rounds, big = (400, 1, 20 * 1000 * 1000) if args.quick else (2000, 3, 200 * 1000 * 1000)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    bench_corpus(make_corpus(count), rounds)
    if not args.skip_big:
        bench_big(big)


if __name__ == "__main__":
    main()
