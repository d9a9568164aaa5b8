"""Message building and generation: rfcmail against the standard library, side by side.

Usage::

    python benchmarks/bench_message_build.py           # 1000 messages, best of 3; 50 MiB attachment
    python benchmarks/bench_message_build.py --quick   # 200 messages, 1 round; 10 MiB attachment

Three comparisons, each in one run:

1. Build and generate a deterministic corpus of messages (text + HTML
   alternative, non-ASCII subjects and display names in a third, a 200 KiB
   attachment in a fifth) with :class:`rfcmail.message.MessageBuilder` and
   with ``email.message.EmailMessage`` (``set_content``, ``add_alternative``,
   ``add_attachment``, ``as_bytes(policy=email.policy.SMTP)``): messages/s,
   MB/s of output, ratio.
2. The transfer encoders: quoted-printable of ASCII and of accented text
   against ``quopri.encodestring`` and ``binascii.b2a_qp``, base64 against
   ``base64.encodebytes``: MB/s and ratios.
3. Peak memory generating one message with a large attachment, each
   implementation in a fresh subprocess: ``VmHWM`` above the baseline.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import email.policy
import email.utils
import itertools
import quopri
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from rfcmail.message import SMTP, MessageBuilder, encode_base64, encode_quoted_printable  # noqa: E402

FIXED = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def corpus(count: int) -> list[dict[str, object]]:
    rng = random.Random(2026)
    words = ["report", "meeting", "budget", "café", "résumé", "über", "Grüße", "invoice",
             "schedule", "naïve", "project", "update"]
    messages = []
    for index in range(count):
        accented = index % 3 == 0
        subject = " ".join(rng.choice(words if accented else words[:4] + words[7:])
                           for _ in range(6))
        lines = [" ".join(rng.choice(words) for _ in range(10)) for _ in range(30)]
        text = "\n".join(lines) + "\n"
        messages.append({
            "subject": f"{subject} {index}",
            "from": "Zoë Martin <zoe@example.org>" if accented else "Zoe <zoe@example.org>",
            "to": [f"User {n} <user{n}@example.org>" for n in range(5)],
            "text": text,
            "html": "<html><body>" + "".join(f"<p>{line}</p>" for line in lines) + "</body></html>",
            "attachment": rng.randbytes(200 * 1024) if index % 5 == 0 else None,
        })
    return messages


def build_rfcmail(item: dict[str, object]) -> bytes:
    numbers = itertools.count(1)
    builder = MessageBuilder(from_=str(item["from"]), to=list(item["to"]),  # type: ignore[call-overload]
                             subject=str(item["subject"]), clock=lambda: FIXED,
                             random_bytes=lambda size: next(numbers).to_bytes(size, "big"))
    builder.text(str(item["text"])).html(str(item["html"]))
    if item["attachment"] is not None:
        builder.attach(item["attachment"], filename="report.pdf")  # type: ignore[arg-type]
    return builder.build(SMTP)


def build_stdlib(item: dict[str, object]) -> bytes:
    message = EmailMessage()
    message["From"] = str(item["from"])
    message["To"] = ", ".join(item["to"])  # type: ignore[call-overload]
    message["Subject"] = str(item["subject"])
    message["Date"] = email.utils.format_datetime(FIXED)
    message["Message-ID"] = "<1@example.org>"
    message.set_content(str(item["text"]))
    message.add_alternative(str(item["html"]), subtype="html")
    if item["attachment"] is not None:
        message.add_attachment(item["attachment"], maintype="application", subtype="pdf",
                               filename="report.pdf")
    return message.as_bytes(policy=email.policy.SMTP)


def best_of(rounds: int, work: Callable[[], int]) -> tuple[float, int]:
    best = float("inf")
    size = 0
    for _ in range(rounds):
        started = time.perf_counter()
        size = work()
        best = min(best, time.perf_counter() - started)
    return best, size


def bench_build(count: int, rounds: int) -> None:
    items = corpus(count)
    print(f"build + generate: {count} messages, best of {rounds}")
    results = {}
    for name, build in (("rfcmail MessageBuilder", build_rfcmail),
                        ("stdlib EmailMessage", build_stdlib)):
        seconds, size = best_of(rounds, lambda: sum(len(build(item)) for item in items))
        results[name] = count / seconds
        print(f"  {name:24s} {count / seconds:9.0f} msg/s  {size / seconds / 1e6:7.1f} MB/s")
    ratio = results["rfcmail MessageBuilder"] / results["stdlib EmailMessage"]
    print(f"  ratio rfcmail / stdlib: {ratio:.1f}x")


def bench_encoders(size: int, rounds: int) -> None:
    ascii_text = (b"Plain ASCII text of an ordinary message body line.\r\n" * (size // 52 + 1))[:size]
    latin_text = ("Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, s'il vous pla\u00eet.\r\n".encode()
                  * (size // 40 + 1))[:size]
    binary = random.Random(7).randbytes(size)
    print(f"transfer encoders: {size / 2**20:.0f} MiB inputs, best of {rounds}")
    cases = [
        ("quoted-printable, ASCII text", ascii_text,
         [("rfcmail", encode_quoted_printable), ("quopri", quopri.encodestring),
          ("binascii.b2a_qp", binascii.b2a_qp)]),
        ("quoted-printable, accented text", latin_text,
         [("rfcmail", encode_quoted_printable), ("quopri", quopri.encodestring),
          ("binascii.b2a_qp", binascii.b2a_qp)]),
        ("base64, random octets", binary,
         [("rfcmail", encode_base64), ("base64.encodebytes", base64.encodebytes)]),
    ]
    for label, data, encoders in cases:
        rates = {}
        for name, encode in encoders:
            seconds, _ = best_of(rounds, lambda: len(encode(data)))  # noqa: B023
            rates[name] = len(data) / seconds / 1e6
            print(f"  {label:32s} {name:20s} {rates[name]:7.1f} MB/s")
        peer = encoders[1][0]
        print(f"  ratio rfcmail / {peer} ({label}): {rates['rfcmail'] / rates[peer]:.2f}x")


_MEMORY_CHILD = """
import sys
sys.path.insert(0, {src!r})
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
import random, email.policy
from email.message import EmailMessage
from rfcmail.message import MessageBuilder, SMTP
blob = random.Random(1).randbytes({size})
base = hwm()
if {which!r} == "rfcmail":
    data = MessageBuilder(from_="a@example.org", to="b@example.org", subject="big").text("hi") \\
        .attach(blob, filename="big.bin").build(SMTP)
else:
    message = EmailMessage()
    message["From"] = "a@example.org"; message["To"] = "b@example.org"; message["Subject"] = "big"
    message.set_content("hi")
    message.add_attachment(blob, maintype="application", subtype="octet-stream", filename="big.bin")
    data = message.as_bytes(policy=email.policy.SMTP)
print(len(data), hwm() - base)
"""


def bench_memory(size: int) -> None:
    src = str(Path(__file__).resolve().parent.parent / "src")
    print(f"peak memory: one message with a {size / 2**20:.0f} MiB attachment (fresh process each)")
    peaks = {}
    for which in ("rfcmail", "stdlib"):
        result = subprocess.run([sys.executable, "-c",
                                 _MEMORY_CHILD.format(src=src, size=size, which=which)],
                                capture_output=True, text=True, check=True)
        length, above = (int(field) for field in result.stdout.split())
        peaks[which] = above / 1024
        print(f"  {which:8s} output {length / 2**20:6.1f} MiB, peak RSS above baseline "
              f"{above / 1024:7.1f} MiB")
    print(f"  ratio stdlib / rfcmail peak memory: {peaks['stdlib'] / peaks['rfcmail']:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    args = parser.parse_args()
    if args.quick:
        bench_build(200, 1)
        bench_encoders(1 * 2**20, 1)
        bench_memory(10 * 2**20)
    else:
        bench_build(1000, 3)
        bench_encoders(8 * 2**20, 3)
        bench_memory(50 * 2**20)


if __name__ == "__main__":
    main()
