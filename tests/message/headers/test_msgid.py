"""Message ids: RFC 5322 section 3.6.4, obsolete forms of section 4.5.4, appendix A examples."""

from __future__ import annotations

import email.utils

import pytest

from rfcmail.message import Defect, InvalidMessageId, ObsoleteSyntax
from rfcmail.message.headers import parse_msgid, parse_msgid_list


def kinds(defects: list[Defect]) -> set[type[Defect]]:
    return {type(d) for d in defects}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<1234@local.machine.example>", "<1234@local.machine.example>"),
        ("  <5678.21-Nov-1997@example.com>\r\n ", "<5678.21-Nov-1997@example.com>"),
        ("<testabcd.1234@silly.test> (a comment)", "<testabcd.1234@silly.test>"),
        ("<abc@[192.0.2.1]>", "<abc@[192.0.2.1]>"),
        ("(comment) <a.b$c%d@e-f.g>", "<a.b$c%d@e-f.g>"),
    ],
)
def test_valid_ids(value: str, expected: str) -> None:
    defects: list[Defect] = []
    assert parse_msgid(value, defects=defects) == expected
    assert defects == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('<"quoted left"@example.com>', '<"quoted left"@example.com>'),
        ("< a . b @ example . com >", "<a.b@example.com>"),
        ("<a(comment)@example.com>", "<a@example.com>"),
    ],
)
def test_obsolete_ids(value: str, expected: str) -> None:
    defects: list[Defect] = []
    assert parse_msgid(value, defects=defects) == expected
    assert kinds(defects) == {ObsoleteSyntax}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc@example.com", "<abc@example.com>"),
        ("<no-at-sign>", "<no-at-sign>"),
        ("<two words@example.com>", "<twowords@example.com>"),
        ("<a@b@c>", "<a@b@c>"),
        ("<unclosed@example.com", "<unclosed@example.com>"),
    ],
)
def test_broken_ids_are_kept_usable_with_a_defect(value: str, expected: str) -> None:
    defects: list[Defect] = []
    assert parse_msgid(value, defects=defects) == expected
    assert InvalidMessageId in kinds(defects)


@pytest.mark.parametrize("value", ["", "   ", "<>", "(only a comment)"])
def test_no_id(value: str) -> None:
    defects: list[Defect] = []
    assert parse_msgid(value, defects=defects) is None
    assert InvalidMessageId in kinds(defects)


def test_two_ids_where_one_is_expected() -> None:
    defects: list[Defect] = []
    assert parse_msgid("<a@b> <c@d>", defects=defects) == "<a@b>"
    assert kinds(defects) == {InvalidMessageId}


def test_references_list() -> None:
    value = "<1234@local.machine.example>\r\n <3456@example.net>"
    assert parse_msgid_list(value) == ["<1234@local.machine.example>", "<3456@example.net>"]
    assert parse_msgid_list("<a@b><c@d>") == ["<a@b>", "<c@d>"]
    assert parse_msgid_list("") == []


def test_rfc_822_phrases_between_ids() -> None:
    defects: list[Defect] = []
    value = '<a@example.com> "Your message of" Tue <b@example.com>'
    assert parse_msgid_list(value, defects=defects) == ["<a@example.com>", "<b@example.com>"]
    assert kinds(defects) == {ObsoleteSyntax}


def test_stray_specials_between_ids() -> None:
    defects: list[Defect] = []
    assert parse_msgid_list("<a@b>, <c@d>", defects=defects) == ["<a@b>", "<c@d>"]
    assert kinds(defects) == {InvalidMessageId}


def test_agrees_with_stdlib_unquote() -> None:
    for value in ["<1234@local.machine.example>", "<a.b$c%d@e-f.g>"]:
        result = parse_msgid(value)
        assert result is not None
        assert email.utils.unquote(result) == email.utils.unquote(value)
