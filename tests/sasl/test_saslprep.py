"""SASLprep (RFC 4013): the RFC's examples, the tables, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.sasl import SASLprepError, saslprep


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("I\u00adX", "IX"),  # SOFT HYPHEN mapped to nothing
        ("user", "user"),
        ("USER", "USER"),  # case preserved
        ("\u00aa", "a"),  # output is NFKC, input in ISO 8859-1
        ("\u2168", "IX"),  # output is NFKC, will match 1st example
        ("a\u00a0b", "a b"),  # non-ASCII space mapped to SPACE
        ("a\u200bb", "ab"),  # ZERO WIDTH SPACE mapped to nothing (B.1)
        ("", ""),
        ("\u0627\u0628", "\u0627\u0628"),  # RandALCat only
    ],
)
def test_rfc4013_section3_examples_and_mapping(value: str, expected: str) -> None:
    assert saslprep(value) == expected


@pytest.mark.parametrize(
    ("value", "table"),
    [
        ("\x07", "C.2.1"),  # prohibited character
        ("a\x7f", "C.2.1"),
        ("\u0627\u0031", "start and end"),  # RandALCat first, not last
        ("\u0627a\u0627", "mixes"),
        ("\u0085", "C.2.2"),
        ("\ue000", "C.3"),
        ("\ufdd0", "C.4"),
        ("\ufffd", "C.6"),
        ("\u2ff0", "C.7"),
        ("\u200e", "C.8"),
        ("\U000e0001", "C.9"),
    ],
)
def test_prohibited(value: str, table: str) -> None:
    with pytest.raises(SASLprepError, match=table.replace(".", r"\.")):
        saslprep(value)


def test_unassigned_code_points_only_in_queries() -> None:
    assert saslprep("\u0221") == "\u0221"
    with pytest.raises(SASLprepError, match="A.1"):
        saslprep("\u0221", allow_unassigned=False)


def test_error_messages_do_not_echo_the_string() -> None:
    with pytest.raises(SASLprepError) as info:
        saslprep("secretpassword\x07")
    assert "secret" not in str(info.value)


@given(st.text(max_size=30))
def test_raises_only_saslprep_error_and_is_idempotent(value: str) -> None:
    try:
        prepared = saslprep(value)
    except SASLprepError:
        return
    assert saslprep(prepared) == prepared


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30))
def test_printable_ascii_is_unchanged(value: str) -> None:
    assert saslprep(value) == value
