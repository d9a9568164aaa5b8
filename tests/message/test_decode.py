"""Transfer decoders and charsets: vector tables with the expected bytes and defects (SECURITY.md A4.8, A4.9)."""

from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.message import (
    BadBase64Padding,
    Defect,
    InvalidBase64Character,
    InvalidQuotedPrintable,
    UndecodableBytes,
    UnknownCharset,
    UnknownTransferEncoding,
)
from rfcmail.message._charsets import decode_text, lookup_charset
from rfcmail.message._decode import (
    Base64Decoder,
    QuotedPrintableDecoder,
    decode_base64,
    decode_quoted_printable,
    decode_transfer_encoding,
    make_decoder,
)

BASE64_VECTORS: list[tuple[bytes, bytes, set[type[Defect]]]] = [
    (b"SGVsbG8=", b"Hello", set()),
    (b"SGVs\r\nbG8=\r\n", b"Hello", set()),
    (b"SGVsbG8", b"Hello", {BadBase64Padding}),  # missing padding
    (b"SGVsbA==", b"Hell", set()),
    (b"SGVsbA", b"Hell", {BadBase64Padding}),
    (b"SGVsbA=", b"Hell", {BadBase64Padding}),  # short padding
    (b"SGVsbG8===", b"Hello", {BadBase64Padding}),  # extra padding
    (b"SGVs*bG8=", b"Hello", {InvalidBase64Character}),  # outside the alphabet: ignored (RFC 2045 6.8)
    (b"SGVs bG8=", b"Hello", set()),  # whitespace is allowed
    (b"SGVsbG8=QUJD", b"Hello", {BadBase64Padding}),  # data after the padding
    (b"SGVsbG8gV", b"Hello ", {BadBase64Padding}),  # a lone final character is dropped
    (b"", b"", set()),
    (b"====", b"", {BadBase64Padding}),
    (b"\xff\xfeQUJD", b"ABC", {InvalidBase64Character}),
]


@pytest.mark.parametrize(("encoded", "expected", "defects"), BASE64_VECTORS)
def test_base64_vectors(encoded: bytes, expected: bytes, defects: set[type[Defect]]) -> None:
    found: list[Defect] = []
    assert decode_base64(encoded, found) == expected
    assert {type(d) for d in found} == defects
    for size in (1, 2, 3, 5):
        piecewise: list[Defect] = []
        decoder = Base64Decoder(piecewise)
        out = b"".join(decoder.feed(encoded[i : i + size]) for i in range(0, len(encoded), size)) + decoder.close()
        assert out == expected
        assert {type(d) for d in piecewise} == defects


QP_VECTORS: list[tuple[bytes, bytes, set[type[Defect]]]] = [
    (b"caf=C3=A9", "café".encode(), set()),
    (b"caf=c3=a9", "café".encode(), set()),  # lower-case hex is accepted
    (b"soft=\r\nbreak", b"softbreak", set()),
    (b"soft=\nbreak", b"softbreak", set()),
    (b"bad =ZZ escape", b"bad =ZZ escape", {InvalidQuotedPrintable}),
    (b"trailing =", b"trailing ", set()),  # soft break at the end of the input
    (b"=3D=3d", b"==", set()),
    (b"a=\r\n", b"a", set()),
    (b"x=4", b"x=4", {InvalidQuotedPrintable}),
]


@pytest.mark.parametrize(("encoded", "expected", "defects"), QP_VECTORS)
def test_quoted_printable_vectors(encoded: bytes, expected: bytes, defects: set[type[Defect]]) -> None:
    found: list[Defect] = []
    assert decode_quoted_printable(encoded, found) == expected
    assert {type(d) for d in found} == defects
    for size in (1, 2, 3, 4):
        decoder = QuotedPrintableDecoder([])
        out = b"".join(decoder.feed(encoded[i : i + size]) for i in range(0, len(encoded), size)) + decoder.close()
        assert out == expected


@given(st.binary(max_size=3000), st.integers(min_value=1, max_value=200))
def test_base64_streaming_equals_stdlib(data: bytes, size: int) -> None:
    encoded = base64.encodebytes(data)
    decoder = Base64Decoder([])
    out = b"".join(decoder.feed(encoded[i : i + size]) for i in range(0, len(encoded), size)) + decoder.close()
    assert out == data
    assert decode_base64(encoded) == data


@given(st.binary(max_size=3000), st.integers(min_value=1, max_value=200))
def test_quoted_printable_streaming_equals_stdlib(data: bytes, size: int) -> None:
    encoded = binascii.b2a_qp(data)
    decoder = QuotedPrintableDecoder([])
    out = b"".join(decoder.feed(encoded[i : i + size]) for i in range(0, len(encoded), size)) + decoder.close()
    assert out == binascii.a2b_qp(encoded) == decode_quoted_printable(encoded)


@given(st.binary(max_size=500), st.integers(min_value=1, max_value=50))
def test_decoders_never_raise_on_garbage(data: bytes, size: int) -> None:
    for name in ("base64", "quoted-printable"):
        decoder = make_decoder(name, [])
        b"".join(decoder.feed(data[i : i + size]) for i in range(0, len(data), size))
        decoder.close()
        decode_transfer_encoding(data, name, [])


def test_unknown_and_identity_transfer_encodings() -> None:
    found: list[Defect] = []
    assert decode_transfer_encoding(b"raw", "x-uuencode", found) == b"raw"
    assert [type(d) for d in found] == [UnknownTransferEncoding]
    for name in ("7bit", "8bit", "binary", ""):
        none: list[Defect] = []
        assert decode_transfer_encoding(b"\x00\xff", name, none) == b"\x00\xff"
        assert none == []


# -- charsets (A4.9) -----------------------------------------------------------------

ODD_LABELS = [
    "utf-7", "unknown-8bit", "x-user-defined", "iso-8859-8-i", "ks_c_5601-1987", "windows-874", "x-unknown",
    "base64", "zlib", "unicode_escape", "rot13", "hex", "idna", "", "   ", "a" * 200, "utf-8\x00", "../etc",
    "us-ascii", "UTF-8", "Latin1", "gb2312", "big5", "koi8-r", "iso-2022-jp", "undefined",
]


@pytest.mark.parametrize("label", ODD_LABELS)
def test_every_label_decodes_without_raising(label: str) -> None:
    found: list[Defect] = []
    text = decode_text("Grüße \x00 +AOk- \u2603".encode("utf-8") + b"\x80\xff", label, found)
    assert isinstance(text, str)


@pytest.mark.parametrize("label", ["base64", "zlib", "unicode_escape", "rot13", "hex", "undefined", "x-unknown", "idna"])
def test_non_charset_codecs_are_unknown(label: str) -> None:
    assert lookup_charset(label) is None
    found: list[Defect] = []
    assert decode_text(b"caf\xc3\xa9", label, found) == "café"
    assert [type(d) for d in found] == [UnknownCharset]


def test_aliases_and_undecodable_bytes() -> None:
    assert lookup_charset("iso-8859-8-i") == "iso8859-8"
    assert lookup_charset(" UTF-8 ") == "utf-8"
    found: list[Defect] = []
    assert decode_text(b"caf\xe9", "utf-8", found) == "caf\ufffd"
    assert [type(d) for d in found] == [UndecodableBytes]
    assert decode_text(b"+AOk-", "utf-7") == "é"
    assert decode_text(b"plain", None) == "plain"
