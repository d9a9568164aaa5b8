"""The progress bar ``rfcmail send`` draws for large messages on a terminal."""

from __future__ import annotations

import io

import pytest

from rfcmail._serve import _Progress


def test_progress_reads_everything_and_reaches_100(capsys: pytest.CaptureFixture[str]) -> None:
    data = bytes(range(256)) * 10_000
    reader = io.BufferedReader(_Progress(io.BytesIO(data), len(data)), buffer_size=65536)
    assert reader.read() == data
    err = capsys.readouterr().err
    assert "100%" in err and err.endswith("\n")
    assert err.count("\r") >= 2
