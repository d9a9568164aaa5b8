"""MIME parameters: RFC 2045 section 5.1, RFC 2183, RFC 2231 examples, SECURITY.md A4.10."""

from __future__ import annotations

import email.policy

import pytest

from rfcmail.message import (
    BareCRorLF,
    Defect,
    NulByte,
    InvalidHeaderValue,
    InvalidParameter,
    LimitDefect,
    UnknownCharset,
    UnknownTransferEncoding,
)
from rfcmail.message.headers import (
    MAX_PARAMETER_SECTIONS,
    format_parameters,
    parse_content_disposition,
    parse_content_transfer_encoding,
    parse_content_type,
    parse_parameters,
)


def kinds(defects: list[Defect]) -> set[type[Defect]]:
    return {type(d) for d in defects}


def content_type(value: str) -> tuple[str, dict[str, str], list[Defect]]:
    defects: list[Defect] = []
    media, params = parse_content_type(value, defects=defects)
    return media, params, defects


# --- RFC 2045 section 5.1 -------------------------------------------------------------


def test_simple_and_quoted() -> None:
    assert content_type("text/plain; charset=us-ascii") == ("text/plain", {"charset": "us-ascii"}, [])
    assert content_type('text/plain; charset="us-ascii"') == ("text/plain", {"charset": "us-ascii"}, [])
    assert content_type("TEXT/Plain; CharSet=UTF-8") == ("text/plain", {"charset": "UTF-8"}, [])


def test_rfc_2045_comment_example() -> None:
    assert content_type("text/plain; charset=us-ascii (Plain text)") == (
        "text/plain",
        {"charset": "us-ascii"},
        [],
    )
    assert content_type("text/plain (a comment) ; charset=\"a (not a comment)\"") == (
        "text/plain",
        {"charset": "a (not a comment)"},
        [],
    )


def test_folded_and_multiple_parameters() -> None:
    media, params, defects = content_type('multipart/mixed;\r\n boundary="--b1";\r\n\tcharset=utf-8')
    assert media == "multipart/mixed"
    assert params == {"boundary": "--b1", "charset": "utf-8"}
    assert defects == []


def test_quoted_pairs_in_values() -> None:
    assert content_type('text/plain; name="a \\"b\\" \\\\c"')[1] == {"name": 'a "b" \\c'}


def test_invalid_type_defaults_to_text_plain_rfc_2045_5_2() -> None:
    for value in ["", "text", "garbage here", "/plain", "text/"]:
        media, _params, defects = content_type(value)
        assert media == "text/plain"
        assert InvalidHeaderValue in kinds(defects)
    media, params, _ = content_type("text; charset=utf-8")
    assert (media, params) == ("text/plain", {"charset": "utf-8"})


# --- common non-standard forms ------------------------------------------------------------------


def test_unquoted_value_with_tspecials() -> None:
    media, params, defects = content_type("multipart/mixed; boundary=----=_Part_1_2.3")
    assert params == {"boundary": "----=_Part_1_2.3"}
    assert kinds(defects) == {InvalidParameter}


def test_unquoted_value_with_spaces() -> None:
    _, params, defects = content_type("application/pdf; name=my file.pdf")
    assert params == {"name": "my file.pdf"}
    assert kinds(defects) == {InvalidParameter}


def test_missing_semicolons() -> None:
    _, params, defects = content_type("text/plain charset=utf-8 format=flowed")
    assert params == {"charset": "utf-8", "format": "flowed"}
    assert kinds(defects) == {InvalidParameter}


def test_doubled_semicolons() -> None:
    _, params, defects = content_type("text/plain;; charset=utf-8;;")
    assert params == {"charset": "utf-8"}
    assert kinds(defects) == {InvalidParameter}


def test_duplicate_parameter_first_wins() -> None:
    _, params, defects = content_type("text/plain; charset=utf-8; charset=latin-1")
    assert params == {"charset": "utf-8"}
    assert kinds(defects) == {InvalidParameter}


def test_encoded_word_in_quoted_value() -> None:
    _, params, defects = content_type('application/pdf; name="=?utf-8?q?R=C3=A9sum=C3=A9.pdf?="')
    assert params == {"name": "Résumé.pdf"}
    assert kinds(defects) == {InvalidParameter}


def test_unterminated_quoted_string() -> None:
    _, params, defects = content_type('text/plain; name="abc')
    assert params == {"name": "abc"}
    assert kinds(defects) == {InvalidParameter}


def test_junk_between_parameters() -> None:
    _, params, defects = content_type("text/plain; @@@; charset=utf-8")
    assert params == {"charset": "utf-8"}
    assert kinds(defects) == {InvalidParameter}


# --- RFC 2231 --------------------------------------------------------------------------------


def test_rfc_2231_section_3_continuations() -> None:
    _, params, defects = content_type(
        'message/external-body; access-type=URL;\r\n URL*0="ftp://";\r\n URL*1="cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"'
    )
    assert params == {"access-type": "URL", "url": "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"}
    assert defects == []


def test_rfc_2231_section_4_charset_and_language() -> None:
    _, params, defects = content_type(
        "application/x-stuff; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A"
    )
    assert params == {"title": "This is ***fun***"}
    assert defects == []


def test_rfc_2231_section_4_1_mixed_sections() -> None:
    _, params, defects = content_type(
        "application/x-stuff;\r\n title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n"
        " title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n title*2=\"isn't it!\""
    )
    assert params == {"title": "This is even more ***fun*** isn't it!"}
    assert defects == []


def test_utf8_split_across_sections() -> None:
    disposition, params = parse_content_disposition(
        "attachment; filename*0*=utf-8''J%C3; filename*1*=%B6rg.txt"
    )
    assert (disposition, params) == ("attachment", {"filename": "Jörg.txt"})


def test_out_of_order_and_missing_sections() -> None:
    defects: list[Defect] = []
    _, params = parse_content_disposition(
        'attachment; filename*1="b"; filename*0="a"; filename*3="d"', defects=defects
    )
    assert params == {"filename": "abd"}
    details = " ".join(d.detail for d in defects)
    assert "out of order" in details and "missing" in details


def test_rfc_2231_value_wins_over_plain() -> None:
    _, params = parse_content_disposition(
        "attachment; filename=\"fallback.txt\"; filename*=utf-8''%E2%82%AC.txt"
    )
    assert params == {"filename": "€.txt"}


def test_rfc_2231_unknown_charset_and_missing_quotes() -> None:
    defects: list[Defect] = []
    _, params = parse_content_disposition("attachment; filename*=x-nope''caf%E9", defects=defects)
    assert params == {"filename": "caf\ufffd"}
    assert kinds(defects) == {UnknownCharset}
    defects = []
    _, params = parse_content_disposition("attachment; filename*=caf%C3%A9", defects=defects)
    assert params == {"filename": "café"}
    assert kinds(defects) == {InvalidParameter}


@pytest.mark.parametrize("count", [MAX_PARAMETER_SECTIONS - 1, MAX_PARAMETER_SECTIONS, MAX_PARAMETER_SECTIONS + 1])
def test_max_sections_limit_at_n_minus_1_n_n_plus_1(count: int) -> None:
    value = "attachment; " + "; ".join(f"filename*{i}=a" for i in range(count))
    defects: list[Defect] = []
    _, params = parse_content_disposition(value, defects=defects)
    kept = min(count, MAX_PARAMETER_SECTIONS)
    assert params == {"filename": "a" * kept}
    limit_defects = [d for d in defects if isinstance(d, LimitDefect)]
    if count > MAX_PARAMETER_SECTIONS:
        assert len(limit_defects) == 1
        assert limit_defects[0].limit_name == "max_sections"
        assert limit_defects[0].limit == MAX_PARAMETER_SECTIONS
    else:
        assert limit_defects == []


def test_max_sections_is_configurable() -> None:
    value = "a*0=x; a*1=y; a*2=z"
    defects: list[Defect] = []
    assert parse_parameters(value, max_sections=2, defects=defects) == {"a": "xy"}
    assert kinds(defects) == {LimitDefect}
    assert parse_parameters(value, max_sections=3) == {"a": "xyz"}


def test_a4_10_path_traversal_is_returned_decoded_and_controls_replaced() -> None:
    """The path is returned as the sender wrote it (safe_filename is the caller's guard); controls are not."""
    defects: list[Defect] = []
    _, params = parse_content_disposition(
        "attachment; filename*=utf-8''..%2F..%2Fetc%2Fpasswd%00%0D%0A", defects=defects
    )
    assert params == {"filename": "../../etc/passwd\ufffd\ufffd\ufffd"}
    assert {NulByte, BareCRorLF} <= kinds(defects)


# --- other fields ------------------------------------------------------------------------------


def test_parse_parameters_with_and_without_leading_semicolon() -> None:
    assert parse_parameters("; a=1; b=\"2\"") == {"a": "1", "b": "2"}
    assert parse_parameters("a=1; b=2") == {"a": "1", "b": "2"}
    assert parse_parameters("") == {}


def test_content_disposition() -> None:
    assert parse_content_disposition('Attachment; filename="a.txt"; size=12') == (
        "attachment",
        {"filename": "a.txt", "size": "12"},
    )
    assert parse_content_disposition("inline") == ("inline", {})
    defects: list[Defect] = []
    assert parse_content_disposition("", defects=defects) == ("attachment", {})
    assert kinds(defects) == {InvalidHeaderValue}


@pytest.mark.parametrize(
    ("value", "expected", "defect"),
    [
        ("base64", "base64", None),
        (" Quoted-Printable ", "quoted-printable", None),
        ("7bit (comment)", "7bit", None),
        ("x-uuencode", "x-uuencode", UnknownTransferEncoding),
        ("", "7bit", InvalidHeaderValue),
        ("@@", "7bit", InvalidHeaderValue),
        ("base64 extra", "base64", InvalidHeaderValue),
    ],
)
def test_content_transfer_encoding(value: str, expected: str, defect: type[Defect] | None) -> None:
    defects: list[Defect] = []
    assert parse_content_transfer_encoding(value, defects=defects) == expected
    assert kinds(defects) == ({defect} if defect else set())


# --- format_parameters -------------------------------------------------------------------------


def test_format_tokens_and_quoted() -> None:
    assert format_parameters({"charset": "utf-8"}) == "; charset=utf-8"
    assert format_parameters([("name", "a b.txt"), ("x", 'q"\\')]) == '; name="a b.txt"; x="q\\"\\\\"'
    assert format_parameters({"name": ""}) == '; name=""'


def test_format_rfc_2231_for_non_ascii() -> None:
    assert format_parameters({"filename": "Jörg.txt"}) == "; filename*=utf-8''J%C3%B6rg.txt"
    assert format_parameters({"filename": "Jörg.txt"}, utf8=True) == "; filename=\"Jörg.txt\""


def test_format_long_values_in_sections() -> None:
    value = "日本語" * 20
    text = format_parameters({"filename": value})
    assert "filename*0*=utf-8''" in text and "filename*1*=" in text
    assert all(len(piece) < 78 for piece in text.split("; "))
    assert parse_parameters(text) == {"filename": value}


def test_format_refuses_bad_names_and_injection() -> None:
    for name in ["a b", "a*", "", "a;b"]:
        with pytest.raises(ValueError):
            format_parameters({name: "x"})
    with pytest.raises(ValueError):
        format_parameters({"name": "x\r\nBcc: e@evil.test"})


def test_stdlib_reads_what_we_format() -> None:
    params = {"charset": "utf-8", "name": "Résumé final.pdf", "format": "a b"}
    header = email.policy.default.header_factory("Content-Type", "text/plain" + format_parameters(params))
    assert dict(header.params) == params


def test_agrees_with_stdlib_on_rfc_2231() -> None:
    value = "attachment; filename*0*=utf-8''%E2%82%AC; filename*1*=%20rates.txt"
    header = email.policy.default.header_factory("Content-Disposition", value)
    assert parse_content_disposition(value)[1]["filename"] == header.params["filename"]


@pytest.mark.parametrize("value", ["*.bin", "it's", "100%", "a*b"])
def test_rfc_2231_special_characters_are_quoted_for_interop(value: str) -> None:
    """A bare ``filename=*.bin`` is a valid RFC 2045 token, but the stdlib reads it as RFC 2231 and drops it."""
    text = format_parameters({"filename": value})
    assert text == f'; filename="{value}"'
    header = email.policy.default.header_factory("Content-Disposition", "attachment" + text)
    assert header.params["filename"] == value
    assert parse_parameters(text) == {"filename": value}


@pytest.mark.parametrize(
    "charset",
    ["utf-7", "unknown-8bit", "x-user-defined", "us-ascii", "windows-1252", "koi8-r", "gb2312", "shift_jis", "base64", "zlib", ""],
)
def test_a4_9_rfc_2231_charset_labels_never_raise(charset: str) -> None:
    defects: list[Defect] = []
    _, params = parse_content_disposition(f"attachment; filename*={charset}''caf%E9%FF%FE.txt", defects=defects)
    assert params["filename"].startswith("caf")
    assert params["filename"].endswith(".txt")
    if charset in ("unknown-8bit", "x-user-defined", "base64", "zlib"):
        assert UnknownCharset in kinds(defects)
