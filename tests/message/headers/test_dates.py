"""Dates: RFC 5322 section 3.3 and the obsolete syntax of section 4.3, appendix A examples."""

from __future__ import annotations

import email.utils
from datetime import datetime, timedelta, timezone

import pytest

from rfcmail.message import Defect, InvalidDate, ObsoleteSyntax
from rfcmail.message.headers import format_date, parse_date


def parse(value: str) -> tuple[datetime | None, list[Defect]]:
    defects: list[Defect] = []
    return parse_date(value, defects=defects), defects


def kinds(defects: list[Defect]) -> set[type[Defect]]:
    return {type(d) for d in defects}


def zone(hours: int, minutes: int = 0) -> timezone:
    return timezone(timedelta(hours=hours, minutes=minutes))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # RFC 5322 appendix A.1.1, A.2, A.3, A.4
        ("Fri, 21 Nov 1997 09:55:06 -0600", datetime(1997, 11, 21, 9, 55, 6, tzinfo=zone(-6))),
        ("Tue, 1 Jul 2003 10:52:37 +0200", datetime(2003, 7, 1, 10, 52, 37, tzinfo=zone(2))),
        ("Mon, 24 Nov 1997 14:22:01 -0800", datetime(1997, 11, 24, 14, 22, 1, tzinfo=zone(-8))),
        ("Thu, 13 Feb 1969 23:32:54 -0330", datetime(1969, 2, 13, 23, 32, 54, tzinfo=zone(-3, -30))),
        # no day name, no seconds, -0000
        ("21 Nov 1997 09:55 -0000", datetime(1997, 11, 21, 9, 55, tzinfo=timezone.utc)),
        # RFC 5322 appendix A.5: comments and folding anywhere
        (
            "Thu,\r\n      13\r\n        Feb\r\n          1969\r\n      23:32\r\n               -0330 (Newfoundland Time)",
            datetime(1969, 2, 13, 23, 32, tzinfo=zone(-3, -30)),
        ),
    ],
)
def test_valid_dates(value: str, expected: datetime) -> None:
    result, defects = parse(value)
    assert result == expected
    assert result is not None and result.utcoffset() == expected.utcoffset()
    assert defects == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # RFC 5322 appendix A.6.3: 2-digit year, named zone
        ("21 Nov 97 09:55:06 GMT", datetime(1997, 11, 21, 9, 55, 6, tzinfo=timezone.utc)),
        ("Thu, 13 Feb 69 23:32:54 -0330", datetime(1969, 2, 13, 23, 32, 54, tzinfo=zone(-3, -30))),
        ("1 Jan 05 00:00:00 +0000", datetime(2005, 1, 1, tzinfo=timezone.utc)),
        ("1 Jan 105 00:00:00 +0000", datetime(2005, 1, 1, tzinfo=timezone.utc)),
        ("Mon, 1 Dec 2003 10:00:00 EST", datetime(2003, 12, 1, 10, tzinfo=zone(-5))),
        ("1 Jul 2003 10:00:00 PDT", datetime(2003, 7, 1, 10, tzinfo=zone(-7))),
        ("1 Jul 2003 10:00:00 CDT", datetime(2003, 7, 1, 10, tzinfo=zone(-5))),
        ("1 Jul 2003 10:00:00 MST", datetime(2003, 7, 1, 10, tzinfo=zone(-7))),
        ("1 Jul 2003 10:00:00 UT", datetime(2003, 7, 1, 10, tzinfo=timezone.utc)),
    ],
)
def test_obsolete_dates(value: str, expected: datetime) -> None:
    result, defects = parse(value)
    assert result == expected
    assert result is not None and result.utcoffset() == expected.utcoffset()
    assert kinds(defects) == {ObsoleteSyntax}


@pytest.mark.parametrize("zone_name", ["A", "M", "N", "Y", "Z", "XYZ", "CEST"])
def test_military_and_unknown_zones_are_minus_0000_with_a_defect(zone_name: str) -> None:
    result, defects = parse(f"1 Jul 2003 10:00:00 {zone_name}")
    assert result == datetime(2003, 7, 1, 10, tzinfo=timezone.utc)
    assert InvalidDate in kinds(defects)


def test_missing_zone() -> None:
    result, defects = parse("1 Jul 2003 10:00:00")
    assert result == datetime(2003, 7, 1, 10, tzinfo=timezone.utc)
    assert kinds(defects) == {InvalidDate}


def test_leap_second_is_clamped() -> None:
    result, defects = parse("Wed, 31 Dec 2008 23:59:60 +0000")
    assert result == datetime(2008, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
    assert defects == []


def test_wrong_day_name_is_reported() -> None:
    result, defects = parse("Mon, 1 Jul 2003 10:52:37 +0200")
    assert result == datetime(2003, 7, 1, 10, 52, 37, tzinfo=zone(2))
    assert kinds(defects) == {InvalidDate}


def test_asctime_layout() -> None:
    result, defects = parse("Mon Jan  6 12:00:00 2025")
    assert result is not None and result.replace(tzinfo=None) == datetime(2025, 1, 6, 12)
    assert kinds(defects) == {InvalidDate}  # no zone


@pytest.mark.parametrize(
    "value",
    ["", "yesterday", "32 Jan 2003 10:00:00 +0000", "29 Feb 2003 10:00:00 +0000", "1 Jan 2003 25:00:00 +0000", "1 Foo 2003 10:00 +0000", "1 Jan 2003"],
)
def test_invalid_dates_give_none(value: str) -> None:
    result, defects = parse(value)
    assert result is None
    assert kinds(defects) == {InvalidDate}


def test_impossible_zone_offset() -> None:
    result, defects = parse("1 Jul 2003 10:00:00 +0099")
    assert result == datetime(2003, 7, 1, 10, tzinfo=timezone.utc)
    assert kinds(defects) == {InvalidDate}


def test_huge_numbers_do_not_raise() -> None:
    result, defects = parse("1 Jan " + "9" * 5000 + " 10:00:00 +0000")
    assert result is None
    assert defects


def test_format_date() -> None:
    assert format_date(datetime(2003, 7, 1, 10, 52, 37, tzinfo=zone(2))) == "Tue, 01 Jul 2003 10:52:37 +0200"
    assert format_date(datetime(1969, 2, 13, 23, 32, 54, tzinfo=zone(-3, -30))) == "Thu, 13 Feb 1969 23:32:54 -0330"
    assert format_date(datetime(2026, 1, 1, tzinfo=timezone.utc)) == "Thu, 01 Jan 2026 00:00:00 +0000"


def test_format_date_refuses_naive() -> None:
    with pytest.raises(ValueError):
        format_date(datetime(2026, 1, 1))


def test_agrees_with_stdlib() -> None:
    when = datetime(2003, 7, 1, 10, 52, 37, tzinfo=zone(2))
    assert format_date(when) == email.utils.format_datetime(when)
    for value in ["Fri, 21 Nov 1997 09:55:06 -0600", "21 Nov 97 09:55:06 GMT", "Thu, 13 Feb 1969 23:32:54 -0330"]:
        assert parse_date(value) == email.utils.parsedate_to_datetime(value)


def test_where_the_stdlib_differs() -> None:
    """email.utils.parsedate_to_datetime returns a *naive* datetime for ``-0000``.

    RFC 5322 section 3.3 says ``-0000`` means the time is UTC with no
    information about the local zone; an aware UTC datetime keeps the
    instant, which is what every caller comparing dates needs.
    """
    value = "21 Nov 1997 09:55:06 -0000"
    assert email.utils.parsedate_to_datetime(value).tzinfo is None
    assert parse_date(value) == datetime(1997, 11, 21, 9, 55, 6, tzinfo=timezone.utc)


def test_full_month_and_day_names() -> None:
    result, defects = parse("Tuesday, 1 July 2003 10:52:37 +0200")
    assert result == datetime(2003, 7, 1, 10, 52, 37, tzinfo=zone(2))
    assert defects == []


def test_year_before_1900_is_reported() -> None:
    result, defects = parse("1 Jan 1800 00:00:00 +0000")
    assert result == datetime(1800, 1, 1, tzinfo=timezone.utc)
    assert kinds(defects) == {InvalidDate}


def test_stray_text_is_reported() -> None:
    result, defects = parse("1 Jan 2020 00:00:00 +0000 extra words 7")
    assert result == datetime(2020, 1, 1, tzinfo=timezone.utc)
    assert kinds(defects) == {InvalidDate}
