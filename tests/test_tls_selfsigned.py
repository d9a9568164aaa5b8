"""Self-signed certificates for ``rfcmail serve``'s first run, made both ways."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

import pytest

from rfcmail import _tls


def check_pair(cert: Path, key: Path) -> None:
    context = _tls.server_context(str(cert), str(key))
    assert isinstance(context, ssl.SSLContext)
    assert key.stat().st_mode & 0o777 == 0o600
    text = ssl._ssl._test_decode_cert(str(cert))  # type: ignore[attr-defined]
    names = {value for kind, value in text["subjectAltName"]}
    assert {"mail.test", "localhost", "127.0.0.1"} <= names


def test_with_cryptography(tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    assert _tls.ensure_self_signed(str(cert), str(key), "mail.test") is True
    check_pair(cert, key)
    assert _tls.ensure_self_signed(str(cert), str(key), "mail.test") is False  # kept, not remade


def test_with_openssl(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    _tls._self_signed_with_openssl(str(cert), str(key), "mail.test")
    key.chmod(0o600)
    check_pair(cert, key)
