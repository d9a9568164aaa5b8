"""Dates: parsing and formatting RFC 5322 section 3.3 date-time values.

Parsing accepts the current syntax (section 3.3) and the obsolete syntax of
section 4.3: 2- and 3-digit years, the named zones of RFC 822 (UT, GMT,
EST, EDT, CST, CDT, MST, MDT, PST, PDT), military and unknown zones taken as
``-0000`` (that is, UTC with no zone information, reported), day names,
comments and FWS anywhere, optional seconds. A leap second (60) is clamped
to 59 since :class:`datetime.datetime` cannot hold it. The ``asctime``
layout (``Mon Jan  1 12:00:00 2024``) seen in old mail is accepted too.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from .._defects import Defect, InvalidDate, ObsoleteSyntax
from ._tokens import strip_comments, unfold

__all__ = ["format_date", "parse_date"]

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name.lower(): number for number, name in enumerate(_MONTH_NAMES, 1)}
_DAYS = {name.lower(): number for number, name in enumerate(_DAY_NAMES)}
# RFC 5322 section 4.3 obs-zone: the named zones of RFC 822.
_NAMED_ZONES = {
    "ut": 0, "utc": 0, "gmt": 0, "z": 0,
    "edt": -4 * 60, "est": -5 * 60, "cdt": -5 * 60, "cst": -6 * 60,
    "mdt": -6 * 60, "mst": -7 * 60, "pdt": -7 * 60, "pst": -8 * 60,
}
_ZONES: dict[int, timezone] = {}
_FAST_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_FAST_DAYS = {name: number for number, name in enumerate(_DAY_NAMES)}


def _zone(minutes: int) -> timezone:
    zone = _ZONES.get(minutes)
    if zone is None:
        zone = timezone.utc if minutes == 0 else timezone(timedelta(minutes=minutes))
        if len(_ZONES) < 4096:
            _ZONES[minutes] = zone
    return zone


# The common, well-formed case: "Tue, 1 Jul 2003 10:52:37 +0200".
_FAST_RE = re.compile(
    r"[ \t]*(?:(Mon|Tue|Wed|Thu|Fri|Sat|Sun),[ \t]*)?"
    r"(\d{1,2})[ \t]+(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[ \t]+(\d{4})[ \t]+"
    r"(\d\d):(\d\d)(?::(\d\d))?[ \t]+([+-])(\d\d)(\d\d)[ \t]*\Z"
)
_PIECE_RE = re.compile(
    r"(?P<time>\d{1,2}:\d{1,2}(?::\d{1,2})?(?:\.\d+)?)"
    r"|(?P<offset>[+-]\d{4})(?!\d)"
    r"|(?P<number>\d{1,9})"
    r"|(?P<word>[A-Za-z]+)"
    r"|(?P<other>[^\sA-Za-z0-9])"
)


def parse_date(value: str, *, defects: list[Defect] | None = None) -> datetime | None:
    """Parse a date-time field body (Date, Resent-Date; RFC 5322 section 3.6.1).

    ABNF (RFC 5322 sections 3.3 and 4.3)::

        date-time   = [ day-of-week "," ] date time [CFWS]
        date        = day month year
        time        = time-of-day zone
        time-of-day = hour ":" minute [ ":" second ]
        zone        = (FWS ( "+" / "-" ) 4DIGIT) / obs-zone
        obs-year    = [CFWS] 2*DIGIT [CFWS]   ; 2 digits: + 1900 if >= 50 else + 2000
                                              ; 3 digits: + 1900
        obs-zone    = "UT" / "GMT" / "EST" / "EDT" / "CST" / "CDT" /
                      "MST" / "MDT" / "PST" / "PDT" / %d65-73 / %d75-90 / %d97-105 / %d107-122

    Obsolete forms add an :class:`ObsoleteSyntax` defect; military and
    unknown zones are read as ``-0000`` and return a UTC datetime with an
    :class:`InvalidDate` defect; so does a missing or impossible zone. A day
    name that does not match the date is reported. ``-0000`` itself is
    valid (no zone information) and gives UTC.

    Args:
        value: the field body, possibly folded, with comments anywhere.
        defects: where to append defects.

    Returns:
        An aware datetime, or None (with an :class:`InvalidDate` defect)
        when no date can be read.
    """
    match = _FAST_RE.match(value)
    if match is not None:
        day_name, day, month, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
        offset_minutes = int(zone_m)
        offset_hours = int(zone_h)
        year_number = int(year)
        if offset_minutes < 60 and offset_hours < 24 and year_number >= 1900:
            offset = offset_hours * 60 + offset_minutes
            try:
                result = datetime(
                    year_number, _FAST_MONTHS[month], int(day), int(hour), int(minute),
                    (59 if second == "60" else int(second)) if second else 0,
                    tzinfo=_zone(-offset if sign == "-" else offset),
                )
            except ValueError:
                pass
            else:
                if day_name is None or _FAST_DAYS[day_name] == result.weekday():
                    return result
    return _parse_slow(value, defects if defects is not None else [])


def _parse_slow(value: str, defects: list[Defect]) -> datetime | None:
    text = strip_comments(unfold(value), defects)
    day_name: str | None = None
    month: int | None = None
    numbers: list[str] = []
    time_text: str | None = None
    zone_minutes: int | None = None
    zone_defect: str | None = None
    obsolete: list[str] = []
    junk: list[str] = []
    for piece in _PIECE_RE.finditer(text):
        kind = piece.lastgroup
        token = piece.group()
        if kind == "time" and time_text is None:
            time_text = token
        elif kind == "offset" and zone_minutes is None and time_text is not None:
            hours, minutes = int(token[1:3]), int(token[3:5])
            if minutes >= 60 or hours >= 24:
                zone_minutes, zone_defect = 0, f"impossible zone {token}"
            else:
                zone_minutes = (hours * 60 + minutes) * (-1 if token[0] == "-" else 1)
        elif kind == "number":
            numbers.append(token)
        elif kind == "word":
            lowered = token.lower()
            if month is None and lowered[:3] in _MONTHS and (len(lowered) == 3 or _full_month(lowered)):
                month = _MONTHS[lowered[:3]]
            elif day_name is None and month is None and not numbers and lowered[:3] in _DAYS:
                day_name = lowered[:3]
            elif zone_minutes is None and time_text is not None:
                if lowered in _NAMED_ZONES:
                    zone_minutes = _NAMED_ZONES[lowered]
                    if lowered not in ("utc", "z"):
                        obsolete.append(f"zone name {token}")
                    elif lowered == "z":
                        zone_defect = "military zone Z read as -0000"
                else:
                    zone_minutes = 0
                    kind_of_zone = "military" if len(token) == 1 else "unknown"
                    zone_defect = f"{kind_of_zone} zone {token!r} read as -0000"
            else:
                junk.append(token)
        elif kind == "other" and token not in ",.-+":
            junk.append(token)
    if month is None or time_text is None or not numbers:
        defects.append(InvalidDate(f"no date in {value[:100]!r}"))
        return None
    # The day is the first number of at most 2 digits; the year the other one.
    day: int | None = None
    year_text: str | None = None
    for number in numbers:
        if day is None and len(number) <= 2 and 1 <= int(number) <= 31:
            day = int(number)
            continue
        if year_text is None:
            year_text = number
        else:
            junk.append(number)
    if day is None or year_text is None:
        defects.append(InvalidDate(f"no day or year in {value[:100]!r}"))
        return None
    year = int(year_text)
    if len(year_text) == 2:
        year += 2000 if year < 50 else 1900
        obsolete.append("2-digit year")
    elif len(year_text) == 3:
        year += 1900
        obsolete.append("3-digit year")
    elif year < 1900:
        defects.append(InvalidDate(f"year {year} before 1900"))
    time_fields = time_text.split(".")[0].split(":")
    hour, minute = int(time_fields[0]), int(time_fields[1])
    second = int(time_fields[2]) if len(time_fields) > 2 else 0  # seconds are optional
    if second == 60:
        second = 59  # a leap second (RFC 5322 section 3.3 allows 60)
    if zone_minutes is None:
        zone_minutes = 0
        zone_defect = "no zone; read as -0000"
    try:
        result = datetime(year, month, day, hour, minute, second, tzinfo=_zone(zone_minutes))
    except (ValueError, OverflowError):
        defects.append(InvalidDate(f"impossible date or time in {value[:100]!r}"))
        return None
    if junk:
        defects.append(InvalidDate(f"unexpected text {' '.join(junk)[:100]!r} in a date"))
    if zone_defect is not None:
        defects.append(InvalidDate(zone_defect))
    if obsolete:
        defects.append(ObsoleteSyntax("obsolete date syntax: " + ", ".join(obsolete)))
    if day_name is not None and _DAYS[day_name] != result.weekday():
        defects.append(InvalidDate(f"day name {day_name.title()} does not match the date"))
    return result


def _full_month(word: str) -> bool:
    full = (
        "january", "february", "march", "april", "may", "june", "july",
        "august", "september", "october", "november", "december",
    )
    return word in full


def format_date(when: datetime) -> str:
    """Format an aware datetime as an RFC 5322 section 3.3 date-time.

    The zone is the datetime's own offset, rounded to whole minutes, so
    ``format_date(parse_date(x))`` keeps the sender's local time. The
    output looks like ``Tue, 01 Jul 2003 10:52:37 +0200``.

    Raises:
        ValueError: ``when`` is naive (RFC 5322 needs a zone), or its year
            is before 1900.
    """
    offset = when.utcoffset()
    if offset is None:
        raise ValueError("format_date needs an aware datetime (RFC 5322 section 3.3 needs a zone)")
    if when.year < 1900:
        raise ValueError("RFC 5322 section 3.3 years are 1900 or later")
    minutes = round(offset.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return (
        f"{_DAY_NAMES[when.weekday()]}, {when.day:02d} {_MONTH_NAMES[when.month - 1]} {when.year:04d} "
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} {sign}{minutes // 60:02d}{minutes % 60:02d}"
    )
