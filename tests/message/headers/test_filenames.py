"""safe_filename: SECURITY.md A4.10 (path traversal, controls, bidi overrides)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.message.headers import parse_content_disposition, safe_filename


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("/etc/shadow", "shadow"),
        ("C:\\Users\\x\\evil.bat", "evil.bat"),
        ("C:evil.bat", "C_evil.bat"),
        ("a\x00b.txt", "ab.txt"),
        ("line\r\nbreak.txt", "linebreak.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("x\u2066y\u2069.txt", "xy.txt"),
        ("zero\u200bwidth.txt", "zerowidth.txt"),
        ("..", "attachment"),
        (".", "attachment"),
        ("", "attachment"),
        ("   ", "attachment"),
        ("\x00\x01", "attachment"),
        ("dir/", "attachment"),
        (".bashrc", "bashrc"),
        ("name. . ", "name"),
        ('what?<is>"this"|*.txt', "what__is__this___.txt"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("Résumé.pdf", "Résumé.pdf"),
        ("Re\u0301sume\u0301.pdf", "Résumé.pdf"),
        ("caf\udce9.txt", "caf.txt"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_long_names_keep_their_extension() -> None:
    result = safe_filename("é" * 300 + ".pdf")
    assert result.endswith(".pdf")
    assert len(result.encode("utf-8")) <= 255


def test_a4_10_from_a_hostile_header() -> None:
    _, params = parse_content_disposition(
        "attachment; filename*0*=utf-8''..%2F..%2F; filename*1*=etc%2Fpasswd%E2%80%AE%00"
    )
    # The parser already turned the NUL into U+FFFD; safe_filename drops the override.
    assert safe_filename(params["filename"]) == "passwd\ufffd"


@given(st.text())
def test_result_is_always_one_safe_component(name: str) -> None:
    result = safe_filename(name)
    assert result
    assert "/" not in result and "\\" not in result
    assert result not in (".", "..")
    assert not result.startswith((".", " "))
    assert all(ord(c) >= 0x20 and not 0x7F <= ord(c) <= 0x9F for c in result)
    assert not any(0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069 for c in result)
    assert len(result.encode("utf-8", "surrogatepass")) <= 255
