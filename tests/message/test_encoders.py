"""Tests for rfcmail.message._encoders: RFC 2045 base64 and quoted-printable, the choice.

The encoders are checked against the RFC 2045 section 6.7 and 6.8 rules
directly and against the standard library's decoders (binascii, quopri).
"""

from __future__ import annotations

import binascii
import quopri
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.message._encoders import (
    BASE64,
    BINARY,
    EIGHT_BIT,
    QUOTED_PRINTABLE,
    SEVEN_BIT,
    Base64Encoder,
    QuotedPrintableEncoder,
    choose_transfer_encoding,
    encode_base64,
    encode_quoted_printable,
    normalize_line_endings,
)
from rfcmail.message._policy import SMTP, SMTPUTF8, Policy

_ESCAPE = re.compile(rb"=([0-9A-F]{2})")


def strict_qp_decode(encoded: bytes) -> bytes:
    """RFC 2045 6.7 decoding that accepts only what the encoder should write."""
    assert not re.search(rb"=(?![0-9A-F]{2}|\r\n)", encoded), encoded
    return _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), encoded.replace(b"=\r\n", b""))


def lines_of(encoded: bytes) -> list[bytes]:
    assert encoded == b"" or encoded.endswith(b"\r\n")
    return encoded.split(b"\r\n")[:-1] if encoded else []


def assert_qp_rules(encoded: bytes) -> None:
    """The RFC 2045 6.7 and RFC 2049 section 3 properties of every output line."""
    assert encoded.count(b"\r") == encoded.count(b"\n") == encoded.count(b"\r\n")
    for line in lines_of(encoded):
        assert len(line) <= 76, line
        assert not line.endswith((b" ", b"\t")), line
        assert not line.startswith((b".", b"From ")), line
        assert re.fullmatch(rb"[\t\x20-\x7e]*", line), line


# --- base64 -----------------------------------------------------------------


def test_base64_lines_are_76_characters() -> None:
    data = bytes(range(256)) * 3
    encoded = encode_base64(data)
    lines = lines_of(encoded)
    assert all(len(line) == 76 for line in lines[:-1])
    assert 0 < len(lines[-1]) <= 76
    assert binascii.a2b_base64(encoded) == data


@pytest.mark.parametrize("size", [0, 1, 2, 3, 56, 57, 58, 113, 114, 115])
def test_base64_sizes_around_a_line(size: int) -> None:
    data = bytes(range(size % 256)) + b"x" * (size - size % 256)
    encoded = encode_base64(data)
    assert binascii.a2b_base64(encoded) == data
    assert (encoded == b"") == (size == 0)
    assert all(len(line) <= 76 for line in lines_of(encoded))


def test_base64_linesep_lf() -> None:
    encoded = encode_base64(b"a" * 100, linesep=b"\n")
    assert b"\r" not in encoded and encoded.endswith(b"\n")
    assert binascii.a2b_base64(encoded) == b"a" * 100


def test_base64_encoder_refuses_use_after_finish() -> None:
    encoder = Base64Encoder()
    encoder.feed(b"abc")
    encoder.finish()
    with pytest.raises(ValueError):
        encoder.feed(b"x")
    with pytest.raises(ValueError):
        encoder.finish()


def test_base64_encoder_keeps_less_than_a_line_pending() -> None:
    encoder = Base64Encoder()
    out = encoder.feed(b"x" * 1000)
    # 17 whole lines of 57 octets are written at once; 31 octets wait.
    assert len(lines_of(out)) == 17
    assert binascii.a2b_base64(out + encoder.finish()) == b"x" * 1000


@given(st.binary(max_size=3000), st.lists(st.integers(1, 200), max_size=30))
def test_base64_streaming_equals_one_shot(data: bytes, cuts: list[int]) -> None:
    encoder = Base64Encoder()
    pieces = []
    position = 0
    for size in cuts:
        pieces.append(encoder.feed(data[position:position + size]))
        position += size
    pieces.append(encoder.feed(data[position:]))
    pieces.append(encoder.finish())
    assert b"".join(pieces) == encode_base64(data)
    assert binascii.a2b_base64(b"".join(pieces)) == data


# --- quoted-printable -------------------------------------------------------


def test_qp_rfc2045_example_line_is_soft_broken() -> None:
    text = b"Now's the time for all folk to come to the aid of their country." * 2
    encoded = encode_quoted_printable(text)
    assert_qp_rules(encoded)
    assert b"=\r\n" in encoded
    assert strict_qp_decode(encoded) == text
    assert quopri.decodestring(encoded) == text


def test_qp_escapes_equals_sign_and_eight_bit_in_uppercase_hex() -> None:
    assert encode_quoted_printable(b"a=b\xe9\r\n") == b"a=3Db=E9\r\n"


def test_qp_escapes_trailing_space_and_tab_only() -> None:
    encoded = encode_quoted_printable(b"a b \r\nc\t\r\nd e")
    assert encoded == b"a b=20\r\nc=09\r\nd e=\r\n"
    assert binascii.a2b_qp(encoded) == b"a b \r\nc\t\r\nd e"


def test_qp_protects_from_and_dot_at_line_start() -> None:
    encoded = encode_quoted_printable(b"From here\r\n.\r\n..x\r\nFromage\r\n")
    assert encoded == b"=46rom here\r\n=2E\r\n=2E.x\r\nFromage\r\n"
    assert strict_qp_decode(encoded) == b"From here\r\n.\r\n..x\r\nFromage\r\n"


def test_qp_protection_can_be_turned_off() -> None:
    encoded = encode_quoted_printable(b"From here\r\n.\r\n", protect_from=False,
                                      protect_dot=False)
    assert encoded == b"From here\r\n.\r\n"


def test_qp_protects_dot_and_from_after_a_soft_break() -> None:
    for tail in (b".", b"From x"):
        data = b"a" * 75 + tail
        encoded = encode_quoted_printable(data)
        assert_qp_rules(encoded)
        assert strict_qp_decode(encoded) == data


def test_qp_text_mode_keeps_bare_cr_and_lf_as_data() -> None:
    encoded = encode_quoted_printable(b"a\rb\nc\r\n")
    assert encoded == b"a=0Db=0Ac\r\n"


def test_qp_binary_mode_escapes_every_line_break() -> None:
    encoded = encode_quoted_printable(b"a\r\nb", text=False)
    assert encoded == b"a=0D=0Ab=\r\n"
    assert binascii.a2b_qp(encoded) == b"a\r\nb"


def test_qp_never_splits_an_escape() -> None:
    for prefix in range(70, 77):
        data = b"a" * prefix + b"\xff" * 10
        encoded = encode_quoted_printable(data)
        assert_qp_rules(encoded)
        for line in lines_of(encoded):
            assert not re.search(rb"=[0-9A-F]?$", line.rstrip(b"=")) or line.endswith(b"=")
        assert strict_qp_decode(encoded) == data


@pytest.mark.parametrize(("length", "soft_breaks"), [(75, 1), (76, 1), (77, 1)])
def test_qp_last_line_room(length: int, soft_breaks: int) -> None:
    # Without a final line break the encoder ends with a soft break, whose
    # "=" counts: 75 characters fit on the line with it, 76 and 77 do not.
    data = b"b" * length
    encoded = encode_quoted_printable(data)
    assert_qp_rules(encoded)
    assert encoded.count(b"=\r\n") == soft_breaks + (length > 75)
    assert strict_qp_decode(encoded) == data


@pytest.mark.parametrize(("length", "lines"), [(75, 1), (76, 1), (77, 2)])
def test_qp_hard_line_limit_is_76(length: int, lines: int) -> None:
    data = b"c" * length + b"\r\n"
    encoded = encode_quoted_printable(data)
    assert_qp_rules(encoded)
    assert len(lines_of(encoded)) == lines
    assert strict_qp_decode(encoded) == data


def test_qp_empty_and_linesep() -> None:
    assert encode_quoted_printable(b"") == b""
    assert encode_quoted_printable(b"\r\n") == b"\r\n"
    assert encode_quoted_printable(b"a \r\nb", linesep=b"\n") == b"a=20\nb=\n"


def test_qp_encoder_refuses_use_after_finish() -> None:
    encoder = QuotedPrintableEncoder()
    encoder.finish()
    with pytest.raises(ValueError):
        encoder.feed(b"x")
    with pytest.raises(ValueError):
        encoder.finish()


def test_qp_long_line_without_break_is_encoded_as_it_streams() -> None:
    encoder = QuotedPrintableEncoder()
    out = [encoder.feed(b"x" * 1000) for _ in range(100)]
    # Memory stays bounded: output comes out before the line ends.
    assert sum(len(piece) for piece in out) > 90_000
    encoded = b"".join(out) + encoder.finish()
    assert_qp_rules(encoded)
    assert strict_qp_decode(encoded) == b"x" * 100_000


_QP_ALPHABET = st.sampled_from([b"a", b" ", b"\t", b"=", b"\r", b"\n", b"\r\n", b".", b"F",
                                b"From ", b"\xc3\xa9", b"\x00", b"-", b"x" * 40])


@given(st.lists(_QP_ALPHABET, max_size=200).map(b"".join), st.booleans(),
       st.lists(st.integers(1, 300), max_size=20))
def test_qp_round_trips_through_stdlib_decoders(data: bytes, text: bool, cuts: list[int]) -> None:
    encoded = encode_quoted_printable(data, text=text)
    assert_qp_rules(encoded)
    assert strict_qp_decode(encoded) == data
    assert binascii.a2b_qp(encoded) == data
    assert quopri.decodestring(encoded) == data
    encoder = QuotedPrintableEncoder(text=text)
    pieces = []
    position = 0
    for size in cuts:
        pieces.append(encoder.feed(data[position:position + size]))
        position += size
    pieces.append(encoder.feed(data[position:]))
    pieces.append(encoder.finish())
    streamed = b"".join(pieces)
    assert_qp_rules(streamed)
    assert strict_qp_decode(streamed) == data


@given(st.binary(max_size=2000), st.booleans())
def test_qp_arbitrary_bytes(data: bytes, text: bool) -> None:
    encoded = encode_quoted_printable(data, text=text)
    assert_qp_rules(encoded)
    assert binascii.a2b_qp(encoded) == data


# --- line endings and the choice -------------------------------------------


def test_normalize_line_endings() -> None:
    assert normalize_line_endings(b"a\nb\rc\r\nd\n\re") == b"a\r\nb\r\nc\r\nd\r\n\r\ne"
    assert normalize_line_endings(b"a\r\n", b"\n") == b"a\n"


@pytest.mark.parametrize(("length", "expected"), [(997, SEVEN_BIT), (998, SEVEN_BIT),
                                                  (999, QUOTED_PRINTABLE)])
def test_choice_line_limit_998(length: int, expected: str) -> None:
    data = b"y" * length + b"\r\nshort\r\n"
    assert choose_transfer_encoding(data, text=True, policy=SMTP) == expected


@pytest.mark.parametrize(("data", "text", "policy", "expected"), [
    (b"plain ascii\r\n", True, SMTP, SEVEN_BIT),
    (b"", True, SMTP, SEVEN_BIT),
    (b"nul\x00here\r\n", True, SMTP, QUOTED_PRINTABLE),
    ("Caf\u00e9 au lait, s'il vous pla\u00eet\r\n".encode(), True, SMTP, QUOTED_PRINTABLE),
    ("\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440\r\n".encode(), True, SMTP, BASE64),
    ("\u041f\u0440\u0438\u0432\u0435\u0442\r\n".encode(), True, SMTPUTF8, EIGHT_BIT),
    (("x" * 999 + "\u00e9\r\n").encode(), True, SMTPUTF8, QUOTED_PRINTABLE),
    (b"\x89PNG\r\n\x1a\n\x00", False, SMTP, BASE64),
    (b"\x89PNG\r\n\x1a\n\x00", False, Policy(allow_binary=True), BINARY),
    # Octets always go as base64: identity encodings would let local line
    # endings rewrite them.
    (b"a,b\r\nc,d\r\n", False, SMTP, BASE64),
    (b"a,b\r\nc,d", False, SMTP, BASE64),
    (b"a,b\nc,d\n", False, SMTP, BASE64),
    (b"caf\xc3\xa9\r\n", False, SMTP, BASE64),
    (b"caf\xc3\xa9\r\n", False, SMTPUTF8, BASE64),
    (b"caf\xc3\xa9\r\n", False, Policy(allow_binary=True), BINARY),
    (b"", False, SMTP, SEVEN_BIT),
])
def test_choice_table(data: bytes, text: bool, policy: Policy, expected: str) -> None:
    assert choose_transfer_encoding(data, text=text, policy=policy) == expected


@pytest.mark.parametrize("text", [True, False])
def test_qp_one_huge_line_is_linear(text: bool) -> None:
    # 4 MiB without a CRLF: quadratic slicing made this take minutes; a
    # linear encoder does it in well under a second.
    data = (b"Caf\xc3\xa9 cr\xc3\xa8me.\n" * 300_000)[: 4 * 1024 * 1024]
    encoded = encode_quoted_printable(data, text=text)
    assert binascii.a2b_qp(encoded) == data
    assert max(len(line) for line in encoded.split(b"\r\n")) <= 76
