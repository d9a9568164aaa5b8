"""``rfcmail parse FILE [--json]``: the part tree and main header fields of a message file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rfcmail.cli import main

DATA = Path(__file__).resolve().parent.parent / "data"
SAMPLE = DATA / "sample.eml"


def test_text_report_of_the_sample(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(SAMPLE)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "Subject: Quarterly report — Q1" in lines
    assert "Cc: Jürgen Groß <juergen@example.de>" in lines
    tree = lines[lines.index("") + 1 :]
    assert tree[0].startswith("-") and 'multipart/mixed boundary="=_mixed_0001"' in tree[0]
    assert tree[1].split()[:2] == ["1", "multipart/alternative"]
    assert tree[2].split()[:3] == ["1.1", "text/plain", 'charset="utf-8"']
    assert "[quoted-printable]" in tree[2]
    assert tree[4].split()[:2] == ["2", "application/pdf"]
    assert "filename='q1-report.pdf'" in tree[4] and "[base64]" in tree[4] and "2276 bytes" in tree[4]


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "--json", str(SAMPLE)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["headers"]["Subject"] == ["Quarterly report — Q1"]
    assert document["date"] == "2026-03-02T10:15:00+01:00"
    assert document["size"] == SAMPLE.stat().st_size
    tree = document["tree"]
    assert tree["content_type"] == "multipart/mixed"
    alternative, pdf = tree["parts"]
    assert [p["part"] for p in alternative["parts"]] == ["1.1", "1.2"]
    assert pdf == {
        "part": "2",
        "content_type": "application/pdf",
        "params": {"name": "q1-report.pdf"},
        "transfer_encoding": "base64",
        "disposition": "attachment",
        "filename": "q1-report.pdf",
        "size": 2276,
        "offsets": pdf["offsets"],
        "defects": [],
        "parts": [],
    }
    start, body, end = pdf["offsets"]["start"], pdf["offsets"]["body"], pdf["offsets"]["end"]
    assert SAMPLE.read_bytes()[start:body].startswith(b"Content-Type: application/pdf")
    assert end - body == 2276


def test_defects_are_reported(capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / "messages" / "truncated.eml"
    assert main(["parse", str(path)]) == 0
    assert "! MissingEndBoundary at offset 673: no close delimiter for boundary 'cut'" in capsys.readouterr().out
    assert main(["parse", "--json", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["tree"]["defects"] == [
        "TruncatedMessage at offset 673: the input ended inside a multipart",
        "MissingEndBoundary at offset 673: no close delimiter for boundary 'cut'",
    ]


def test_encapsulated_message_numbering(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "--json", str(DATA / "messages" / "nested_rfc822.eml")]) == 0
    tree = json.loads(capsys.readouterr().out)["tree"]
    forwarded = tree["parts"][1]
    assert forwarded["content_type"] == "message/rfc822"
    inner = forwarded["parts"][0]
    assert inner["part"] == "2" and inner["content_type"] == "multipart/alternative"
    assert [p["part"] for p in inner["parts"]] == ["2.1", "2.2"]


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["parse", str(tmp_path / "nope.eml")]) == 1
    assert "rfcmail parse:" in capsys.readouterr().err


def test_quick_start_command_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rfcmail", "parse", "tests/data/sample.eml"],
        cwd=DATA.parent.parent, capture_output=True, text=True, check=True, timeout=60,
    )
    assert "application/pdf" in result.stdout
