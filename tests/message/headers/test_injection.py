"""SECURITY.md A4.1: parse -> format -> fold never emits a header line it did not mean to.

The corpus holds values whose decoded form contains line breaks: RFC 2047
``=0D``/``=0A`` (Q and B), RFC 2231 ``%0A``/``%0D``, and the Unicode line
breaks U+2028, U+2029 and U+0085 (CVE-2024-6923 is the stdlib's version of
this bug). Each value is parsed with the header helpers, written back with
the matching formatter and folded; every emitted line must be the field's
own first line or a WSP continuation, so the field count cannot change.
"""

from __future__ import annotations

import re

import pytest

from rfcmail.message import Defect
from rfcmail.message.headers import (
    decode_encoded_words,
    encode_header,
    fold,
    format_address_list,
    format_parameters,
    parse_address_list,
    parse_content_disposition,
    unfold,
)

HOSTILE_UNSTRUCTURED = [
    "=?utf-8?q?hello=0D=0ABcc:_eve@evil.test?=",
    "=?utf-8?q?hello=0ABcc:_eve@evil.test?=",
    "=?utf-8?b?aGVsbG8NCkJjYzogZXZlQGV2aWwudGVzdA==?=",
    "=?utf-8?q?a=E2=80=A8Bcc:_eve@evil.test?=",
    "=?utf-8?q?a=E2=80=A9Bcc:_eve@evil.test?=",
    "=?utf-8?q?a=C2=85Bcc:_eve@evil.test?=",
    "=?iso-8859-1?q?a=85Bcc:_eve@evil.test?=",
    "=?utf-8?q?a=00b?=",
    "plain\r\n folded =?utf-8?q?and=0D?= =?utf-8?q?=0Asplit?=",
]

HOSTILE_ADDRESSES = [
    "=?utf-8?q?Eve=0D=0ABcc:_x@evil.test?= <eve@evil.test>",
    "=?utf-8?b?RXZlDQpCY2M6IHhAZXZpbC50ZXN0?= <eve@evil.test>",
    "=?utf-8?q?Eve=E2=80=A8Bcc:_x?= <eve@evil.test>, bob@example.org",
    "G=?utf-8?q?=0A?=: a@b.test;",
]

HOSTILE_PARAMETERS = [
    "attachment; filename*=utf-8''a%0D%0ABcc%3A%20eve%40evil.test",
    "attachment; filename*=utf-8''a%E2%80%A8b.txt",
    "attachment; filename=\"=?utf-8?q?a=0D=0AX-Injected:_1?=\"",
    "attachment; filename*0*=utf-8''a%0D; filename*1*=%0AX-Injected%3A%201",
]

LINE_BREAKS = re.compile("[\r\n\u2028\u2029\x85]")


def assert_one_field(field: str, name: str) -> None:
    assert field.endswith("\r\n")
    lines = field[:-2].split("\r\n")
    assert lines[0].startswith(f"{name}: ")
    for line in lines[1:]:
        assert line[:1] in (" ", "\t"), f"line {line!r} would start a new field"
    body = unfold(field[:-2])
    assert LINE_BREAKS.search(body) is None


@pytest.mark.parametrize("value", HOSTILE_UNSTRUCTURED)
def test_unstructured_round_trip_stays_one_field(value: str) -> None:
    defects: list[Defect] = []
    text = decode_encoded_words(value, defects=defects)
    assert defects, "the decoded control must be reported"
    assert LINE_BREAKS.search(text) is None
    for utf8 in (False, True):
        field = fold("Subject", encode_header(text, header_name="Subject", utf8=utf8))
        assert_one_field(field, "Subject")


@pytest.mark.parametrize("value", HOSTILE_ADDRESSES)
def test_address_round_trip_stays_one_field(value: str) -> None:
    defects: list[Defect] = []
    items = parse_address_list(value, defects=defects)
    assert defects
    for utf8 in (False, True):
        field = fold("To", format_address_list(items, utf8=utf8))
        assert_one_field(field, "To")


@pytest.mark.parametrize("value", HOSTILE_PARAMETERS)
def test_parameter_round_trip_stays_one_field(value: str) -> None:
    defects: list[Defect] = []
    disposition, params = parse_content_disposition(value, defects=defects)
    assert defects
    assert LINE_BREAKS.search(params["filename"]) is None
    for utf8 in (False, True):
        field = fold("Content-Disposition", disposition + format_parameters(params, utf8=utf8))
        assert_one_field(field, "Content-Disposition")
        assert parse_content_disposition(unfold(field[:-2]).split(": ", 1)[1])[1] == params


@pytest.mark.parametrize("raw", ["a\r\nBcc: eve@evil.test", "a\nBcc: x", "a\rBcc: x"])
def test_formatters_refuse_raw_line_breaks(raw: str) -> None:
    with pytest.raises(ValueError):
        encode_header(raw)
    with pytest.raises(ValueError):
        fold("Subject", raw)
    with pytest.raises(ValueError):
        format_parameters({"filename": raw})
