"""SECURITY.md A8.1: the raw bytes of a signed part are exactly what the signature covers.

OpenSSL (S/MIME, RFC 8551) and GnuPG (PGP/MIME, RFC 3156) produce real
multipart/signed messages; rfcmail parses them, and the signing program
verifies its own detached signature over ``parts[0].raw_bytes``. A message
whose signed part is changed by one byte must fail, which proves the check
is live. Both programs are driven through files in a temporary directory.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rfcmail.message import parse
from tests.interop.framework import require_program

pytestmark = pytest.mark.interop

SIGNED_CONTENT = (
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"X-Folded: a\r\n  folded   header   \r\n"
    b"\r\n"
    b"trailing white space   \r\n"
    b"From the start of a line\r\n"
    b"--not-a-boundary\r\n"
)


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, capture_output=True, timeout=60, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


@pytest.fixture
def smime_signer(tmp_path: Path) -> tuple[str, Path, Path]:
    openssl = require_program("openssl")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    made = run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                "-days", "2", "-subj", "/CN=signer@example.org"])
    assert made.returncode == 0, made.stderr
    return openssl, key, cert


def smime_verify(openssl: str, cert: Path, tmp_path: Path, content: bytes, signature: bytes) -> bool:
    (tmp_path / "content.bin").write_bytes(content)
    (tmp_path / "sig.der").write_bytes(signature)
    result = run([openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "sig.der"),
                  "-content", str(tmp_path / "content.bin"), "-CAfile", str(cert), "-out", os.devnull])
    return result.returncode == 0


def test_smime_signed_part_raw_bytes_verify(smime_signer: tuple[str, Path, Path], tmp_path: Path) -> None:
    openssl, key, cert = smime_signer
    (tmp_path / "in.eml").write_bytes(SIGNED_CONTENT)
    signed = run([openssl, "cms", "-sign", "-binary", "-in", str(tmp_path / "in.eml"), "-signer", str(cert),
                  "-inkey", str(key), "-out", str(tmp_path / "signed.eml")])
    assert signed.returncode == 0, signed.stderr
    data = b"From: signer@example.org\r\nSubject: signed\r\n" + (tmp_path / "signed.eml").read_bytes()
    message = parse(data)
    assert message.content_type == "multipart/signed"
    assert bytes(message) == data
    first, signature_part = message.parts
    assert first.raw_bytes == SIGNED_CONTENT
    signature = signature_part.get_content()
    assert isinstance(signature, bytes)
    assert smime_verify(openssl, cert, tmp_path, first.raw_bytes, signature)
    tampered = first.raw_bytes.replace(b"trailing white space   ", b"trailing white space  ")
    assert not smime_verify(openssl, cert, tmp_path, tampered, signature)
    # A change to the outer header leaves the signed bytes alone.
    message["Subject"] = "re-subject"
    assert parse(bytes(message)).parts[0].raw_bytes == first.raw_bytes


def test_pgp_mime_signed_part_raw_bytes_verify(tmp_path: Path) -> None:
    gpg = require_program("gpg")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    base = [gpg, "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    made = run(base + ["--quick-gen-key", "signer@example.org", "ed25519", "sign", "1d"])
    assert made.returncode == 0, made.stderr
    # RFC 3156 section 5: the signed data is the first part in canonical CRLF form.
    (tmp_path / "content.bin").write_bytes(SIGNED_CONTENT)
    signed = run(base + ["--armor", "--detach-sign", "--digest-algo", "SHA256", "--output", str(tmp_path / "sig.asc"),
                         str(tmp_path / "content.bin")])
    assert signed.returncode == 0, signed.stderr
    signature = (tmp_path / "sig.asc").read_bytes()
    data = (
        b'Content-Type: multipart/signed; micalg=pgp-sha256;\r\n protocol="application/pgp-signature"; boundary="pgp"\r\n'
        b"\r\nThis is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n--pgp\r\n" + SIGNED_CONTENT
        + b"\r\n--pgp\r\nContent-Type: application/pgp-signature; name=\"signature.asc\"\r\n\r\n" + signature
        + b"\r\n--pgp--\r\n"
    )
    message = parse(data)
    first, signature_part = message.parts
    assert first.raw_bytes == SIGNED_CONTENT

    def verify(content: bytes) -> bool:
        (tmp_path / "check.bin").write_bytes(content)
        (tmp_path / "check.asc").write_bytes(signature_part.raw_body)
        return run(base + ["--verify", str(tmp_path / "check.asc"), str(tmp_path / "check.bin")]).returncode == 0

    assert verify(first.raw_bytes)
    assert not verify(first.raw_bytes + b" ")
