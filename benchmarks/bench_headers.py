"""Header field helpers: rfcmail.message.headers against the standard library.

Usage::

    python benchmarks/bench_headers.py            # 20 000 values per family, best of 5
    python benchmarks/bench_headers.py --quick    # 4 000 values per family, best of 2

Part 1 times the same work per header family, side by side in one run:

- rfcmail: ``parse_address_list``, ``decode_encoded_words``, ``parse_date``,
  ``parse_msgid``, ``parse_content_type`` (with a defects list);
- stdlib ``policy.default``: ``email.policy.default.header_factory(name, value)``
  and reading the parsed value (``.addresses``, ``str()``, ``.datetime``,
  ``.content_type`` and ``.params``), which is what ``msg["From"]`` costs;
- stdlib ``email.utils`` (compat32-era helpers): ``getaddresses``,
  ``email.header.decode_header`` + ``make_header``, ``parsedate_to_datetime``,
  ``unquote`` and a split on ``;`` (it does far less: no RFC 2231, no
  defects).

Part 2 measures scaling (SECURITY.md A4.5): time(2n) / time(n) for each
structured family with n from 64 KiB to 1 MiB. Linear code stays near 2.0;
quadratic code goes towards 4.0. The stdlib runs the same sizes up to a time
budget and is reported as "gave up" past it.
"""

from __future__ import annotations

import argparse
import email.header
import email.policy
import email.utils
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from rfcmail.message import Defect  # noqa: E402
from rfcmail.message.headers import (  # noqa: E402
    decode_encoded_words,
    parse_address_list,
    parse_content_type,
    parse_date,
    parse_msgid,
)

FIRST = ["Alice", "Bob", "Carol", "Dave", "Jörg", "Zoë", "Łukasz", "François", "José", "Mary"]
LAST = ["Smith", "Müller", "O'Brien", "Nguyễn", "Dupont", "García", "Jones", "Kowalski"]
WORDS = "meeting report invoice quarterly update lunch review draft final notes budget".split()
UNICODE_WORDS = ["réunion", "Grüße", "会議", "отчёт", "café", "naïve", "Straße"]


def _encode_words(text: str, rng: random.Random) -> str:
    """RFC 2047-encode non-ASCII text as mail programs do (the stdlib's encoder)."""
    if text.isascii():
        return text
    latin1 = all(ord(c) < 256 for c in text) and rng.random() < 0.2
    return email.header.Header(text, "iso-8859-1" if latin1 else "utf-8").encode()


def make_corpus(count: int, seed: int = 2026) -> dict[str, list[str]]:
    """Deterministic header values like those of real mail, per family."""
    rng = random.Random(seed)
    subjects, addresses, dates, ids, types = [], [], [], [], []
    for index in range(count):
        words = rng.sample(WORDS, 4)
        if rng.random() < 0.35:
            words[rng.randrange(4)] = rng.choice(UNICODE_WORDS)
            subjects.append(("Re: " if rng.random() < 0.3 else "") + _encode_words(" ".join(words), rng))
        else:
            subjects.append(("Re: " if rng.random() < 0.3 else "") + " ".join(words).capitalize())
        people = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            local = f"user{rng.randrange(10000)}"
            domain = rng.choice(["example.com", "mail.example.org", "example.net"])
            style = rng.random()
            if style < 0.2:
                people.append(f"{local}@{domain}")
            elif not name.isascii():
                people.append(f"{_encode_words(name, rng)} <{local}@{domain}>")
            elif "'" in name or style < 0.5:
                people.append(f'"{name}" <{local}@{domain}>')
            else:
                people.append(f"{name} <{local}@{domain}>")
        addresses.append(", ".join(people))
        when = 1_600_000_000 + rng.randrange(200_000_000)
        zone = rng.choice([0, 60, 120, -300, -420, 330])
        moment = datetime.fromtimestamp(when, timezone(timedelta(minutes=zone)))
        dates.append(email.utils.format_datetime(moment))
        ids.append(f"<{rng.randrange(10**12):x}.{index}@{rng.choice(['mx.example.com', 'example.org'])}>")
        kind = rng.random()
        if kind < 0.5:
            types.append(f'text/plain; charset="{rng.choice(["utf-8", "us-ascii", "iso-8859-1"])}"; format=flowed')
        elif kind < 0.8:
            types.append(f'multipart/alternative; boundary="=_{rng.randrange(10**16):x}"')
        elif kind < 0.9:
            types.append("application/pdf; name*=utf-8''R%C3%A9sum%C3%A9%20" + str(index) + ".pdf")
        else:
            types.append(f'image/png; name="photo {index}.png"')
    return {"subject": subjects, "address": addresses, "date": dates, "msgid": ids, "ctype": types}


# --- the work, per implementation -------------------------------------------------------------


def rfcmail_work(family: str) -> Callable[[str], Any]:
    def addresses(value: str) -> Any:
        return [(a.display_name, a.addr_spec) for a in parse_address_list(value, defects=[])
                if not hasattr(a, "members")]

    def subject(value: str) -> Any:
        return decode_encoded_words(value, defects=[])

    def date(value: str) -> Any:
        return parse_date(value, defects=[])

    def msgid(value: str) -> Any:
        return parse_msgid(value, defects=[])

    def ctype(value: str) -> Any:
        defects: list[Defect] = []
        return parse_content_type(value, defects=defects)

    return {"address": addresses, "subject": subject, "date": date, "msgid": msgid, "ctype": ctype}[family]


_NAMES = {"address": "To", "subject": "Subject", "date": "Date", "msgid": "Message-ID", "ctype": "Content-Type"}


def stdlib_default_work(family: str) -> Callable[[str], Any]:
    factory = email.policy.default.header_factory
    name = _NAMES[family]

    def run(value: str) -> Any:
        header = factory(name, value)
        if family == "address":
            return [(a.display_name, a.addr_spec) for a in header.addresses]
        if family == "date":
            return header.datetime
        if family == "ctype":
            return header.content_type, dict(header.params)
        return str(header)

    return run


def stdlib_utils_work(family: str) -> Callable[[str], Any]:
    def addresses(value: str) -> Any:
        return email.utils.getaddresses([value])

    def subject(value: str) -> Any:
        return str(email.header.make_header(email.header.decode_header(value)))

    def date(value: str) -> Any:
        return email.utils.parsedate_to_datetime(value)

    def msgid(value: str) -> Any:
        return email.utils.unquote(value.strip())

    def ctype(value: str) -> Any:
        head, _, rest = value.partition(";")
        return head.strip().lower(), [p.strip() for p in rest.split(";") if p.strip()]

    return {"address": addresses, "subject": subject, "date": date, "msgid": msgid, "ctype": ctype}[family]


def interleaved_best(functions: Sequence[Callable[[str], Any]], values: Sequence[str], rounds: int) -> list[float]:
    """Best time of each function over the values, the rounds interleaved.

    Interleaving keeps the comparison fair on a shared machine, where the
    load changes between one implementation's rounds and the next's.
    """
    best = [float("inf")] * len(functions)
    for _ in range(rounds):
        for index, function in enumerate(functions):
            started = time.perf_counter()
            for value in values:
                function(value)
            best[index] = min(best[index], time.perf_counter() - started)
    return best


# --- scaling ------------------------------------------------------------------------------------

def scaling_inputs(size: int) -> dict[str, str]:
    unit_address = "User (x) <user@example.com>, "
    unit_ct = "; a=b"
    unit_ids = "<abc.123@example.com> "
    unit_words = "=?utf-8?q?caf=C3=A9?= "
    return {
        "address list (full parser)": unit_address * (size // len(unit_address)),
        "address junk ';;;'": ";" * size,
        "content-type params": "text/plain" + unit_ct * (size // len(unit_ct)),
        "content-type ';;;'": "text/plain" + ";" * size,
        "msg-id list": unit_ids * (size // len(unit_ids)),
        "encoded words": unit_words * (size // len(unit_words)),
    }


def rfcmail_scaling(family: str) -> Callable[[str], Any]:
    if family.startswith("address"):
        return lambda v: parse_address_list(v, defects=[])
    if family.startswith("content-type"):
        return lambda v: parse_content_type(v, defects=[])
    if family.startswith("msg-id"):
        from rfcmail.message.headers import parse_msgid_list
        return lambda v: parse_msgid_list(v, defects=[])
    return lambda v: decode_encoded_words(v, defects=[])


def stdlib_scaling(family: str) -> Callable[[str], Any]:
    factory = email.policy.default.header_factory
    if family.startswith("address"):
        return lambda v: factory("To", v).addresses
    if family.startswith("content-type"):
        return lambda v: factory("Content-Type", v).params
    if family.startswith("msg-id"):
        return lambda v: str(factory("References", v))
    return lambda v: str(factory("Subject", v))


def time_once(function: Callable[[str], Any], value: str) -> float:
    started = time.perf_counter()
    function(value)
    return time.perf_counter() - started


def time_in_subprocess(family: str, implementation: str, size: int, budget: float) -> float | None:
    """Time one case in a fresh interpreter; None when it outlives the budget.

    A subprocess, so that a quadratic peer (the stdlib spends minutes on a
    64 KiB ``;;;`` Content-Type, bpo-42909) can be stopped.
    """
    command = [sys.executable, __file__, "--one", family, implementation, str(size)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=budget, check=True)
    except subprocess.TimeoutExpired:
        return None
    return float(result.stdout.strip())


def run_one(family: str, implementation: str, size: int) -> None:
    make = rfcmail_scaling if implementation == "rfcmail" else stdlib_scaling
    function, value = make(family), scaling_inputs(size)[family]
    print(f"{min(time_once(function, value) for _ in range(3)):.6f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--one", nargs=3, metavar=("FAMILY", "IMPL", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        run_one(args.one[0], args.one[1], int(args.one[2]))
        return 0
    count, rounds = (4000, 2) if args.quick else (20_000, 5)
    corpus = make_corpus(count)
    print(f"Part 1: {count} values per family, best of {rounds} rounds (values/s; ratio = rfcmail / peer)")
    print(f"{'family':<10} {'rfcmail':>12} {'policy.default':>15} {'email.utils':>12} {'vs default':>11} {'vs utils':>9}")
    totals = {"rfcmail": 0.0, "default": 0.0, "utils": 0.0}
    for family, values in corpus.items():
        ours, default, utils = interleaved_best(
            [rfcmail_work(family), stdlib_default_work(family), stdlib_utils_work(family)], values, rounds
        )
        totals["rfcmail"] += ours
        totals["default"] += default
        totals["utils"] += utils
        print(f"{family:<10} {count / ours:>12,.0f} {count / default:>15,.0f} {count / utils:>12,.0f} "
              f"{default / ours:>10.1f}x {utils / ours:>8.1f}x")
    print(f"{'all five':<10} {5 * count / totals['rfcmail']:>12,.0f} {5 * count / totals['default']:>15,.0f} "
          f"{5 * count / totals['utils']:>12,.0f} {totals['default'] / totals['rfcmail']:>10.1f}x "
          f"{totals['utils'] / totals['rfcmail']:>8.1f}x")
    print("ratio rfcmail vs policy.default (all five families): "
          f"{totals['default'] / totals['rfcmail']:.1f}x")

    sizes = [64 * 1024, 128 * 1024] if args.quick else [64 * 1024, 128 * 1024, 256 * 1024, 512 * 1024, 1024 * 1024]
    budget = 10.0 if args.quick else 60.0
    print(f"\nPart 2: scaling, time(2n)/time(n) (about 2.0 is linear, 4.0 quadratic); stdlib gives up past {budget:.0f} s")
    header = "family".ljust(28) + "".join(f"{s // 1024:>9}K" for s in sizes)
    print(header + "   ratios")
    for family in scaling_inputs(sizes[0]):
        for label in ("rfcmail", "stdlib"):
            times: list[float] = []
            for size in sizes:
                measured = time_in_subprocess(family, label, size, budget)
                if measured is None:
                    break
                times.append(measured)
            cells = "".join(f"{t:>9.3f}s" for t in times) + "".join(f"{'gave up':>10}" for _ in sizes[len(times):])
            ratios = " ".join(f"{b / a:.1f}" for a, b in zip(times, times[1:]) if a > 0)
            per_mib = f"   {times[-1] / (sizes[len(times) - 1] / 2**20):.2f} s/MiB at the largest" if times else ""
            print(f"{(family + ' ' + label):<28}{cells}   {ratios}{per_mib}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
