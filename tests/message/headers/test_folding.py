"""Folding and unfolding (RFC 5322 sections 2.1.1, 2.2 and 2.2.3), SECURITY.md A4.1."""

from __future__ import annotations

import pytest

from rfcmail.message.headers import fold, format_address_list, format_parameters, unfold
from rfcmail.message.headers import Address


def lines_of(field: str, linesep: str = "\r\n") -> list[str]:
    assert field.endswith(linesep)
    return field[: -len(linesep)].split(linesep)


def test_unfold_rfc_5322_2_2_3() -> None:
    assert unfold("This is a\r\n test") == "This is a test"
    assert unfold("a\r\n\tb\r\n  c") == "a\tb  c"
    assert unfold("lf only\n folded") == "lf only folded"
    # A line ending not followed by WSP is not a fold.
    assert unfold("a\r\nb") == "a\r\nb"
    assert unfold("no folds") == "no folds"


def test_short_field_is_one_line() -> None:
    assert fold("Subject", "Hello") == "Subject: Hello\r\n"
    assert fold("Subject", "Hello", linesep="\n") == "Subject: Hello\n"


def test_long_unstructured_field_folds_at_whitespace() -> None:
    value = " ".join(["word"] * 60)
    field = fold("Subject", value)
    lines = lines_of(field)
    assert len(lines) > 1
    assert all(len(line) <= 78 for line in lines)
    assert all(line.startswith(" ") for line in lines[1:])
    assert unfold(field[:-2]) == "Subject: " + value


def test_structured_fields_break_after_commas() -> None:
    items = [Address(display_name=f"User Number {i}", local_part=f"user{i}", domain="example.com") for i in range(10)]
    value = format_address_list(items)
    field = fold("To", value)
    lines = lines_of(field)
    assert all(len(line) <= 78 for line in lines)
    assert all(line.rstrip().endswith(",") for line in lines[:-1])
    assert unfold(field[:-2]) == "To: " + value


def test_parameters_break_after_semicolons() -> None:
    value = "multipart/mixed" + format_parameters(
        {"boundary": "=_" + "b" * 40, "charset": "utf-8", "name": "a somewhat long file name.pdf"}
    )
    field = fold("Content-Type", value)
    lines = lines_of(field)
    assert all(len(line) <= 78 for line in lines)
    assert all(line.endswith(";") for line in lines[:-1])
    assert unfold(field[:-2]) == "Content-Type: " + value


def test_unbreakable_token_is_left_whole() -> None:
    token = "x" * 2000
    field = fold("X-Long", f"a {token} b")
    assert lines_of(field) == ["X-Long: a", f" {token}", " b"]
    assert fold("X-Long", token) == f"X-Long: {token}\r\n"


def test_no_whitespace_only_lines() -> None:
    value = "a" * 70 + "      " + "b" * 70 + "    "
    for line in lines_of(fold("X", value)):
        assert line.strip(" \t")
    assert unfold(fold("X", value)[:-2]) == "X: " + value


def test_tabs_are_fold_points_and_kept() -> None:
    value = "\t".join(["word"] * 40)
    field = fold("X", value)
    assert unfold(field[:-2]) == "X: " + value
    assert all(len(line) <= 78 for line in lines_of(field))


def test_max_line_length_is_honoured() -> None:
    value = " ".join(["ab"] * 100)
    for length in (20, 40, 78, 100):
        assert all(len(line) <= length for line in lines_of(fold("X", value, max_line_length=length)))


@pytest.mark.parametrize("value", ["a\r\nBcc: eve@evil.test", "a\nb", "a\rb", "x\r\n folded"])
def test_a4_1_cr_or_lf_in_value_raises(value: str) -> None:
    with pytest.raises(ValueError):
        fold("Subject", value)


@pytest.mark.parametrize("name", ["", "Sub ject", "Subject:", "Sübject", "X\r\nY", "Tab\t"])
def test_invalid_field_names_raise(name: str) -> None:
    with pytest.raises(ValueError):
        fold(name, "value")


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError):
        fold("X", "v", linesep="\r")
    with pytest.raises(ValueError):
        fold("X", "v", max_line_length=1000, hard_limit=998)


def test_folded_100_000_times_round_trips() -> None:
    value = " ".join(["w"] * 100_000)
    folded = fold("X", value, max_line_length=3)
    assert folded.count("\r\n") == 100_000
    assert unfold(folded[:-2]) == "X: " + value
