"""RFC 2047 decoding and encoding: section 8 examples, defects, SECURITY.md A4.1, A4.4 and A4.9."""

from __future__ import annotations

import base64
import email.header
import encodings.aliases
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.message import (
    BareCRorLF,
    Defect,
    EightBitInHeader,
    InvalidEncodedWord,
    InvalidHeaderValue,
    NulByte,
    UndecodableBytes,
    UnknownCharset,
    UnterminatedEncodedWord,
)
from rfcmail.message.headers import decode_encoded_words, encode_header, unfold
from rfcmail.message.headers._encoded_words import decode_bytes


def decode(value: str) -> tuple[str, list[Defect]]:
    defects: list[Defect] = []
    return decode_encoded_words(value, defects=defects), defects


def kinds(defects: list[Defect]) -> set[type[Defect]]:
    return {type(d) for d in defects}


# --- RFC 2047 section 8 -------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("=?US-ASCII?Q?Keith_Moore?=", "Keith Moore"),
        ("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=", "Keld Jørn Simonsen"),
        ("=?ISO-8859-1?Q?Andr=E9?= Pirard", "André Pirard"),
        (
            "=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
            "If you can read this you understand the example.",
        ),
        ("=?ISO-8859-1?Q?Olle_J=E4rnefors?=", "Olle Järnefors"),
        ("=?ISO-8859-1?Q?Patrik_F=E4ltstr=F6m?=", "Patrik Fältström"),
        ("=?iso-8859-8?b?7eXs+SDv4SDp7Oj08A==?=", "םולש ןב ילטפנ"),
        ("=?ISO-8859-1?Q?a?=", "a"),
        ("=?ISO-8859-1?Q?a?= b", "a b"),
        ("=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab"),
        ("=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=", "ab"),
        ("=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=", "ab"),
        ("=?ISO-8859-1?Q?a_b?=", "a b"),
        ("=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=", "a b"),
    ],
)
def test_rfc_2047_section_8(encoded: str, decoded: str) -> None:
    result, defects = decode(encoded)
    assert result == decoded
    assert defects == []


def test_fast_path_returns_unfolded_value() -> None:
    assert decode("plain\r\n text") == ("plain text", [])
    assert decode(" leading space kept") == (" leading space kept", [])


def test_rfc_2231_language_suffix() -> None:
    assert decode("=?US-ASCII*EN?Q?Keith_Moore?=") == ("Keith Moore", [])


def test_text_around_words_and_lowercase_encoding_letters() -> None:
    assert decode("Re: =?utf-8?b?w6k=?= and =?UTF-8?q?=C3=A9?= done") == ("Re: é and é done", [])


def test_character_split_across_adjacent_words() -> None:
    # "é" is C3 A9; a sloppy encoder split it across two words.
    assert decode("=?utf-8?q?=C3?= =?utf-8?q?=A9?=") == ("é", [])


def test_empty_encoded_text() -> None:
    assert decode("a =?utf-8?q??= b") == ("a  b", [])


def test_base64_without_padding_is_accepted() -> None:
    assert decode("=?utf-8?b?w6k?=") == ("é", [])


def test_unknown_charset_gives_replacement_and_defect() -> None:
    result, defects = decode("=?x-no-such-charset?q?caf=E9?=")
    assert result == "caf\ufffd"
    assert kinds(defects) == {UnknownCharset}


@pytest.mark.parametrize("charset", ["base64", "zlib", "rot13", "hex", "bz2", "uu", "quopri"])
def test_bytes_to_bytes_codecs_are_not_charsets(charset: str) -> None:
    """A charset naming a bytes-to-bytes codec must not run it (decompression bombs)."""
    result, defects = decode(f"=?{charset}?b?eJzLSM3JyVcozy/KSQEAGgQEXQ==?=")
    assert "hello" not in result
    assert UnknownCharset in kinds(defects)


@pytest.mark.parametrize(
    "charset",
    ["utf-7", "unknown-8bit", "x-user-defined", "us-ascii", "windows-1252", "koi8-r", "gb2312", "shift_jis", "x-unknown"],
)
def test_a4_9_every_charset_label_decodes_without_raising(charset: str) -> None:
    result, defects = decode(f"=?{charset}?q?caf=E9_=FF=FE?=")
    assert result.startswith("caf")
    if charset in ("unknown-8bit", "x-user-defined", "x-unknown"):
        assert kinds(defects) == {UnknownCharset}


def test_invalid_bytes_in_known_charset() -> None:
    result, defects = decode("=?utf-8?q?caf=E9?=")
    assert result == "caf\ufffd"
    assert kinds(defects) == {UndecodableBytes}


@pytest.mark.parametrize(
    "word",
    ["=?utf-8?b?w6k*?=", "=?utf-8?b?w?=", "=?utf-8?q?=ZZ?=", "=?utf-8?x?abc?="],
)
def test_bad_payload_keeps_raw_text(word: str) -> None:
    result, defects = decode(f"a {word} b")
    assert result == f"a {word} b"
    assert kinds(defects) == {InvalidEncodedWord}


def test_unterminated_encoded_word() -> None:
    result, defects = decode("hello =?utf-8?q?never_closed")
    assert result == "hello =?utf-8?q?never_closed"
    assert kinds(defects) == {UnterminatedEncodedWord}
    # A lone "=?" in ordinary text is not an encoded word at all.
    assert decode("what =? is this") == ("what =? is this", [])


# --- SECURITY.md A4.1 / A4.4: decoded controls never reach the result --------------------------------


@pytest.mark.parametrize(
    ("word", "defect"),
    [
        ("=?utf-8?q?x=0D=0ABcc:_eve@evil.test?=", BareCRorLF),
        ("=?utf-8?b?eA0KQmNjOiBldmVAZXZpbC50ZXN0?=", BareCRorLF),
        ("=?utf-8?q?x=00y?=", NulByte),
        ("=?utf-8?q?x=1By?=", InvalidHeaderValue),
        ("=?utf-8?q?x=E2=80=A8y?=", InvalidHeaderValue),  # U+2028 LINE SEPARATOR
        ("=?utf-8?q?x=C2=85y?=", InvalidHeaderValue),  # U+0085 NEL
    ],
)
def test_decoded_controls_are_replaced_and_flagged(word: str, defect: type[Defect]) -> None:
    result, defects = decode(word)
    assert re.search("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]", result) is None
    assert "\ufffd" in result
    assert defect in kinds(defects)


def test_raw_controls_are_replaced_too() -> None:
    result, defects = decode("a\x00b")
    assert result == "a\ufffdb"
    assert kinds(defects) == {NulByte}


def test_bidi_override_is_kept_and_flagged() -> None:
    result, defects = decode("=?utf-8?q?invoice=E2=80=AEfdp.exe?=")
    assert result == "invoice\u202efdp.exe"
    assert kinds(defects) == {InvalidHeaderValue}


def test_surrogate_escaped_bytes() -> None:
    value = b"caf\xe9".decode("utf-8", "surrogateescape")
    result, defects = decode(value)
    assert result == "caf\ufffd"
    assert kinds(defects) == {EightBitInHeader}


def test_ten_thousand_adjacent_words_decode_linearly() -> None:
    value = " ".join(["=?utf-8?q?ab?="] * 10_000)
    result, defects = decode(value)
    assert result == "ab" * 10_000
    assert defects == []


# --- encode_header ----------------------------------------------------------------------------


def lines_of(encoded: str) -> list[str]:
    return encoded.split("\r\n")


def test_ascii_is_left_alone() -> None:
    assert encode_header("Hello world") == "Hello world"


def test_only_non_ascii_runs_are_encoded() -> None:
    encoded = encode_header("Hello wörld and more")
    assert encoded.startswith("Hello =?utf-8?")
    assert encoded.endswith(" and more")
    assert decode_encoded_words(encoded) == "Hello wörld and more"


def test_adjacent_non_ascii_words_share_a_run_and_keep_spaces() -> None:
    value = "ä  ö ü x"
    encoded = encode_header(value)
    assert encoded.count("=?") == 1
    assert decode_encoded_words(unfold(encoded)) == value


def test_long_value_folds_within_limit_and_words_within_75() -> None:
    value = "Grüße aus Köln — " * 20
    encoded = encode_header(value, header_name="Subject")
    lines = lines_of(encoded)
    assert len(lines) > 1
    assert len("Subject: " + lines[0]) <= 78
    for line in lines[1:]:
        assert len(line) <= 78
        assert line.startswith(" ")
    for word in re.findall(r"=\?[^ ]*\?=", encoded):
        assert len(word) <= 75
    assert decode_encoded_words(unfold(encoded)) == value


def test_encoded_word_look_alike_is_encoded() -> None:
    value = "literally =?utf-8?q?abc?= here"
    encoded = encode_header(value)
    assert "=?utf-8?q?abc?=" not in encoded
    assert decode_encoded_words(encoded) == value
    assert decode_encoded_words(encode_header(value, utf8=True)) == value


def test_utf8_mode_keeps_non_ascii_raw() -> None:
    value = "Grüße " * 30
    encoded = encode_header(value, header_name="Subject", utf8=True)
    assert "=?" not in encoded
    assert all(len(line) <= 78 for line in lines_of("Subject: " + encoded))
    assert unfold(encoded) == value


@pytest.mark.parametrize("bad", ["a\r\nBcc: eve@evil.test", "a\nb", "a\rb"])
def test_a4_1_cr_lf_raise(bad: str) -> None:
    with pytest.raises(ValueError):
        encode_header(bad)


def test_lone_surrogates_raise() -> None:
    with pytest.raises(ValueError):
        encode_header("caf\udce9")


def test_very_long_plain_word_is_left_whole() -> None:
    word = "x" * 200
    assert encode_header(f"a {word} b") == f"a\r\n {word}\r\n b"


def test_stdlib_decodes_what_we_encode() -> None:
    value = "Préparez-vous: 日本語のテキスト and a long tail " * 3
    encoded = encode_header(value, header_name="Subject")
    parts = email.header.decode_header(unfold(encoded))
    decoded = str(email.header.make_header(parts))
    assert decoded == value


def test_where_we_are_more_lenient_than_rfc_2047() -> None:
    """RFC 2047 section 5(1) wants encoded words separated from text by white space.

    ``(=?ISO-8859-1?Q?a?=)`` in an unstructured field is, by the letter of
    the RFC, literal text. Mail readers decode it anyway, and so do we.
    """
    assert decode_encoded_words("(=?ISO-8859-1?Q?a?=)") == "(a)"


ALL_CODEC_LABELS = sorted(
    set(encodings.aliases.aliases)
    | set(encodings.aliases.aliases.values())
    | {"utf-7", "punycode", "idna", "unicode_escape", "raw_unicode_escape", "undefined", "utf-16", "utf-32"}
)


@given(st.sampled_from(ALL_CODEC_LABELS), st.binary(max_size=24))
def test_a4_9_every_python_codec_label_decodes_without_raising(label: str, data: bytes) -> None:
    """Any label Python knows, with any bytes: a str comes back, never an exception.

    idna and punycode once raised here (they refuse errors="replace"), and
    punycode decodes in quadratic time: both are treated as unknown charsets.
    """
    defects: list[Defect] = []
    result = decode_bytes(data, label, defects)
    assert isinstance(result, str)
    encoded = base64.b64encode(data).decode("ascii")
    assert isinstance(decode_encoded_words(f"=?{label}?b?{encoded}?=", defects=defects), str)


@pytest.mark.parametrize("label", ["idna", "punycode", "unicode_escape", "raw-unicode-escape", "undefined"])
def test_codecs_that_are_not_charsets(label: str) -> None:
    defects: list[Defect] = []
    assert decode_bytes(b"abc\\u0041\xff", label, defects) == "abc\\u0041\ufffd"
    assert kinds(defects) == {UnknownCharset}
