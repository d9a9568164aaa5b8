from __future__ import annotations

import subprocess
import sys

import pytest

from rfcmail import __version__
from rfcmail.cli import main


def test_limits_prints_every_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["limits"]) == 0
    out = capsys.readouterr().out
    assert "max_command_line = 512" in out
    assert "max_mime_depth = 50" in out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: rfcmail" in capsys.readouterr().err


def test_python_dash_m_is_the_same_entry_point() -> None:
    result = subprocess.run([sys.executable, "-m", "rfcmail", "--version"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == f"rfcmail {__version__}"


def test_serve_refuses_fewer_than_one_worker(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--data", str(tmp_path), "--workers", "0", "--smtp-port", "0",
                 "--submission-port", "0", "--pop3-port", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err

