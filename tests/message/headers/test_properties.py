"""Hypothesis: every parser takes any text without raising; format-then-parse round-trips."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rfcmail.message import Defect
from rfcmail.message.headers import (
    Address,
    Group,
    decode_encoded_words,
    encode_header,
    fold,
    format_address,
    format_address_list,
    format_date,
    format_parameters,
    parse_address,
    parse_address_list,
    parse_content_disposition,
    parse_content_transfer_encoding,
    parse_content_type,
    parse_date,
    parse_msgid,
    parse_msgid_list,
    parse_parameters,
    unfold,
)
from rfcmail.message.headers._addresses import _parse

# Text that reaches the interesting branches: specials, encoded-word pieces,
# RFC 2231 pieces, folds, controls, non-ASCII and surrogate-escaped bytes.
FRAGMENTS = st.sampled_from(
    [
        "<", ">", "@", ",", ";", ":", '"', "(", ")", "[", "]", "\\", ".", "=", "*", "'", "%",
        " ", "\t", "\r\n ", "\n", "\r", "\x00", "=?", "?=", "=?utf-8?q?", "=?utf-8?b?", "=?x?q?",
        "=C3=A9", "w6k=", "_", "*0*=", "*1=", "utf-8''", "%C3%A9", "a@b.example", "<a@b>",
        "Jörg", "\udce9", "\u202e", "\u2028", "GMT", "Jan", "Mon,", "12:34:56", "+0200", "99",
    ]
)
HOSTILE_TEXT = st.lists(st.one_of(FRAGMENTS, st.text(max_size=5)), max_size=40).map("".join)
# What the message parser hands over: header bytes decoded as UTF-8 with surrogateescape.
WIRE_TEXT = st.binary(max_size=200).map(lambda raw: raw.decode("utf-8", "surrogateescape"))
ANY_TEXT = st.one_of(st.text(), HOSTILE_TEXT, WIRE_TEXT)

PARSERS: list[Callable[..., Any]] = [
    parse_address_list,
    parse_address,
    decode_encoded_words,
    parse_date,
    parse_msgid,
    parse_msgid_list,
    parse_content_type,
    parse_content_disposition,
    parse_parameters,
    parse_content_transfer_encoding,
]


@given(ANY_TEXT)
def test_parsers_never_raise(value: str) -> None:
    for parser in PARSERS:
        defects: list[Defect] = []
        parser(value, defects=defects)
        assert all(isinstance(d, Defect) for d in defects)
        parser(value)  # defects=None works too


@given(ANY_TEXT)
def test_decoded_text_never_holds_line_breaks_or_surrogates(value: str) -> None:
    result = decode_encoded_words(value)
    assert re.search("[\r\n\x00\u2028\u2029\ud800-\udfff]", result) is None


@given(ANY_TEXT)
def test_address_fast_path_agrees_with_full_parser(value: str) -> None:
    fast: list[Defect] = []
    slow: list[Defect] = []
    assert _parse(value, fast) == _parse(value, slow, fast=False)
    assert fast == slow


# --- round trips ----------------------------------------------------------------------------

ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
# Text a header may carry: no controls, no surrogates, no line separators.
SAFE_TEXT = st.text(st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"]))
ATOM = st.text(st.sampled_from(ATEXT), min_size=1, max_size=10)
DOT_ATOM = st.lists(ATOM, min_size=1, max_size=4).map(".".join)
LOCAL_PART = st.one_of(DOT_ATOM, st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=20))
LABEL = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789"), min_size=1, max_size=10)
DOMAIN = st.lists(LABEL, min_size=1, max_size=4).map(".".join)
ADDRESSES = st.builds(Address, display_name=SAFE_TEXT, local_part=LOCAL_PART, domain=DOMAIN)
GROUPS = st.builds(Group, display_name=SAFE_TEXT.filter(bool), members=st.lists(ADDRESSES, max_size=3).map(tuple))


@given(st.lists(st.one_of(ADDRESSES, GROUPS), max_size=5), st.booleans())
def test_address_list_round_trip(items: list[Address | Group], utf8: bool) -> None:
    text = format_address_list(items, utf8=utf8)
    if not utf8:
        assert text.isascii()
    assert parse_address_list(text) == items


@given(ADDRESSES)
def test_single_address_round_trip_and_fast_path(item: Address) -> None:
    text = format_address(item)
    fast: list[Defect] = []
    slow: list[Defect] = []
    assert _parse(text, fast) == [item] == _parse(text, slow, fast=False)
    assert fast == slow


@given(
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
)
def test_date_round_trip(when: datetime, offset_minutes: int) -> None:
    aware = when.replace(microsecond=0, tzinfo=timezone(timedelta(minutes=offset_minutes)))
    defects: list[Defect] = []
    parsed = parse_date(format_date(aware), defects=defects)
    assert parsed == aware
    assert parsed is not None and parsed.utcoffset() == aware.utcoffset()
    assert defects == []


PARAM_NAMES = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-_."), min_size=1, max_size=12)
# Bidi overrides are kept but reported, so they are left out where no defect is expected.
PARAM_VALUES = st.text(
    st.characters(
        blacklist_categories=["Cc", "Cs", "Zl", "Zp"],
        blacklist_characters="\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
    )
)


@given(st.dictionaries(PARAM_NAMES, PARAM_VALUES, max_size=5), st.booleans())
def test_parameters_round_trip(params: dict[str, str], utf8: bool) -> None:
    text = format_parameters(params, utf8=utf8)
    if not utf8:
        assert text.isascii()
    defects: list[Defect] = []
    assert parse_parameters(text, defects=defects) == params
    assert defects == []
    media, parsed = parse_content_type("application/octet-stream" + text)
    assert (media, parsed) == ("application/octet-stream", params)


@given(SAFE_TEXT, st.sampled_from(["Subject", "X-A-Rather-Long-Header-Name", ""]), st.booleans())
def test_encode_header_round_trip(value: str, name: str, utf8: bool) -> None:
    encoded = encode_header(value, header_name=name, utf8=utf8)
    assert decode_encoded_words(unfold(encoded)) == value
    if not utf8:
        assert encoded.isascii()
    for word in re.findall(r"=\?[^ ]*?\?=", encoded):
        assert len(word) <= 75
    first, *rest = encoded.split("\r\n")
    lines = [(f"{name}: " if name else "") + first, *rest]
    for line in lines:
        # Only a plain word that cannot be broken may run long.
        if len(line) > 78:
            assert "=?" not in line and len(line.split()) <= 2


@given(st.text(st.characters(blacklist_characters="\r\n"), max_size=400), st.integers(min_value=20, max_value=200))
def test_fold_never_changes_the_unfolded_field(value: str, length: int) -> None:
    field = fold("Subject", value, max_line_length=length)
    assert field.endswith("\r\n")
    assert unfold(field[:-2]) == "Subject: " + value
    lines = field[:-2].split("\r\n")
    for line in lines[1:]:
        assert line[:1] in (" ", "\t") and line.strip(" \t")
    for index, line in enumerate(lines):
        if len(line) > length:
            # Only a line holding one unbreakable run may be long.
            body = line[len("Subject: ") :] if index == 0 else line
            assert re.search(r"(?<=[^ \t])[ \t]", body.lstrip(" \t")) is None, line


LINE_BREAKS = re.compile("[\r\n\x00\u2028\u2029\x85]")


@given(ANY_TEXT)
def test_parsed_names_parameters_and_ids_never_hold_line_breaks(value: str) -> None:
    """SECURITY.md A4.1/A4.4: nothing decoded can end a header line when written back."""
    for item in parse_address_list(value):
        members = item.members if isinstance(item, Group) else (item,)
        names = [item.display_name] + [m.display_name for m in members]
        assert all(LINE_BREAKS.search(name) is None for name in names)
    for params in (parse_parameters(value), parse_content_type(value)[1], parse_content_disposition(value)[1]):
        assert all(LINE_BREAKS.search(v) is None for v in params.values())
    for msgid in [parse_msgid(value) or "", *parse_msgid_list(value)]:
        assert LINE_BREAKS.search(msgid) is None and re.search("[\ud800-\udfff]", msgid) is None
