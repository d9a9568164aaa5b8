from __future__ import annotations

import dataclasses

import pytest

from rfcmail.limits import DEFAULT_LIMITS, Limits


def test_defaults_follow_the_rfc_minimums() -> None:
    # RFC 5321 section 4.5.3.1: the sizes every implementation must accept.
    assert DEFAULT_LIMITS.max_command_line >= 512
    assert DEFAULT_LIMITS.max_reply_line >= 512
    assert DEFAULT_LIMITS.max_text_line >= 1000
    assert DEFAULT_LIMITS.max_recipients >= 100
    # RFC 5322 section 2.1.1: 998 octets plus CRLF per line.
    assert DEFAULT_LIMITS.max_message_line >= 1000
    assert DEFAULT_LIMITS.max_mime_depth == 50


def test_every_limit_is_documented() -> None:
    doc = Limits.__doc__ or ""
    for field in dataclasses.fields(Limits):
        assert f"{field.name}:" in doc, field.name


def test_clone_changes_only_what_is_named() -> None:
    changed = DEFAULT_LIMITS.clone(max_text_line=2000)
    assert changed.max_text_line == 2000
    assert changed.max_command_line == DEFAULT_LIMITS.max_command_line
    assert DEFAULT_LIMITS.max_text_line == 1000


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_LIMITS.max_text_line = 5  # type: ignore[misc]


@pytest.mark.parametrize("value", [0, -1])
def test_values_below_one_are_refused(value: int) -> None:
    with pytest.raises(ValueError, match="max_parts"):
        DEFAULT_LIMITS.clone(max_parts=value)


def test_minimum_value_one_is_accepted() -> None:
    assert DEFAULT_LIMITS.clone(max_parts=1).max_parts == 1


@pytest.mark.parametrize("value", [1.5, "10", True])
def test_non_int_values_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match="max_parts"):
        DEFAULT_LIMITS.clone(max_parts=value)


def test_unknown_name_is_refused() -> None:
    with pytest.raises(TypeError):
        DEFAULT_LIMITS.clone(max_bananas=3)
