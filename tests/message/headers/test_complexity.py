"""SECURITY.md A4.5: inputs sized to expose quadratic behaviour must complete.

Each case runs in a worker thread and fails if it has not finished after a
generous bound. The bound only turns a hang into a failure: it is not a
speed assertion (the measured scaling is in docs/performance/ and
benchmarks/bench_headers.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from rfcmail.message import Defect, LimitDefect
from rfcmail.message.headers import (
    MAX_PARAMETER_SECTIONS,
    decode_encoded_words,
    fold,
    parse_address_list,
    parse_content_disposition,
    parse_content_type,
    parse_date,
    parse_msgid_list,
    unfold,
)

HANG_BOUND_SECONDS = 60.0
MIB = 1024 * 1024


def run_bounded(function: Callable[[], Any]) -> Any:
    """Run ``function`` in a daemon thread; fail if it is still running after the bound."""
    outcome: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(function())
        except BaseException as error:  # noqa: BLE001 - re-raised in the test thread
            errors.append(error)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(HANG_BOUND_SECONDS)
    if worker.is_alive():
        pytest.fail(f"still running after {HANG_BOUND_SECONDS} s: quadratic or worse")
    if errors:
        raise errors[0]
    return outcome[0]


def test_one_mib_well_formed_address_list() -> None:
    items = []
    size = 0
    index = 0
    while size < MIB:
        item = f"User {index} <user{index}@example.com>"
        items.append(item)
        size += len(item) + 2
        index += 1
    value = ", ".join(items)
    result = run_bounded(lambda: parse_address_list(value))
    assert len(result) == index


def test_one_mib_address_list_with_comments_takes_the_full_parser() -> None:
    item = "User (x) <user@example.com>"
    count = MIB // (len(item) + 2)
    value = ", ".join([item] * count)
    result = run_bounded(lambda: parse_address_list(value))
    assert len(result) == count


@pytest.mark.parametrize(
    "junk",
    ["a@", "<", '"', "\\", "(", ")", "a,", ";", ":", "a.", "x" * 64, "=?", "a@b(", "<@a,"],
)
def test_quarter_mib_of_junk_in_an_address_field(junk: str) -> None:
    # 256 KiB: a quadratic step would be ~10^10 operations, a hang; the
    # 1 MiB cases above cover the size the brief names.
    value = junk * (MIB // 4 // len(junk))
    defects: list[Defect] = []
    run_bounded(lambda: parse_address_list(value, defects=defects))
    # Runs of the same junk give one defect, not one per repetition.
    assert 1 <= len(defects) <= 5


def test_ten_thousand_adjacent_encoded_words() -> None:
    value = " ".join(["=?utf-8?b?w6k=?="] * 10_000)
    assert run_bounded(lambda: decode_encoded_words(value)) == "é" * 10_000
    broken = "=?utf-8?q?" * 100_000
    run_bounded(lambda: decode_encoded_words(broken))


def test_hundred_thousand_semicolons_in_content_type() -> None:
    value = "text/plain" + ";" * 100_000 + " charset=utf-8"
    defects: list[Defect] = []
    result = run_bounded(lambda: parse_content_type(value, defects=defects))
    assert result == ("text/plain", {"charset": "utf-8"})
    stuffed = "text/plain" + "; a=b" * 100_000
    assert run_bounded(lambda: parse_content_type(stuffed))[1] == {"a": "b"}


def test_value_folded_a_hundred_thousand_times() -> None:
    value = "Subject text" + "\r\n x" * 100_000
    assert run_bounded(lambda: unfold(value)) == "Subject text" + " x" * 100_000
    assert run_bounded(lambda: decode_encoded_words(value)).endswith(" x x")
    addresses = ",\r\n ".join(["a@b.example"] * 100_000)
    assert len(run_bounded(lambda: parse_address_list(addresses))) == 100_000
    ids = "\r\n ".join([f"<{i}@example.com>" for i in range(100_000)])
    assert len(run_bounded(lambda: parse_msgid_list(ids))) == 100_000
    long_value = " ".join(["word"] * 100_000)
    field = run_bounded(lambda: fold("Subject", long_value))
    assert field.count("\r\n") > 5_000


def test_ten_thousand_rfc_2231_sections() -> None:
    value = "attachment; " + "; ".join(f"filename*{i}*=%41" for i in range(10_000))
    defects: list[Defect] = []
    result = run_bounded(lambda: parse_content_disposition(value, defects=defects))
    assert result[1]["filename"] == "A" * MAX_PARAMETER_SECTIONS
    assert [d for d in defects if isinstance(d, LimitDefect)]
    raised = run_bounded(lambda: parse_content_disposition(value, max_sections=10_000))
    assert raised[1]["filename"] == "A" * 10_000
    reversed_order = "attachment; " + "; ".join(f"filename*{i}=b" for i in reversed(range(10_000)))
    assert run_bounded(lambda: parse_content_disposition(reversed_order, max_sections=10_000))[1] == {
        "filename": "b" * 10_000
    }


def test_deeply_nested_comments() -> None:
    value = "(" * 100_000 + ")" * 100_000 + " a@b.example"
    assert len(run_bounded(lambda: parse_address_list(value))) == 1
    date = "(" * 100_000 + "1 Jan 2020 00:00 +0000"
    run_bounded(lambda: parse_date(date))


def test_long_backslash_runs_in_quoted_strings() -> None:
    value = '"' + "\\" * (MIB // 4) + '" <a@b.example>'
    assert len(run_bounded(lambda: parse_address_list(value))) == 1
    params = 'text/plain; name="' + "\\" * (MIB // 4)
    run_bounded(lambda: parse_content_type(params))
