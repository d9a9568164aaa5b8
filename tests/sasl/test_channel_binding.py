"""tls-server-end-point (RFC 5929 section 4): the hash choice, hostile DER, and SCRAM-PLUS over TLS 1.3."""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.sasl import (
    ChannelBinding,
    Failure,
    InMemoryCredentialStore,
    Success,
    create_client,
    create_server,
    tls_server_end_point,
)
from tests.interop.conftest import TLSMaterial, tls_material
from tests.interop.framework import ProcessManager, require_program

from . import run_exchange
from .test_real_clients import _handshake

__all__ = ["tls_material"]

STORE = InMemoryCredentialStore({"alice": "secret"})


def _der(pem_path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem_path.read_text())


def _self_signed(directory: Path, key: list[str], digest: str) -> bytes:
    openssl = require_program("openssl")
    ProcessManager(directory).run([openssl, "req", "-x509", *key, "-nodes", f"-{digest}", "-days", "1",
                                   "-subj", "/CN=cb.example", "-keyout", "k.pem", "-out", "c.pem"])
    return _der(directory / "c.pem")


@pytest.mark.interop
@pytest.mark.parametrize(
    ("key", "digest", "expected"),
    [
        (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "sha256", "sha256"),
        (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"], "sha384", "sha384"),
        (["-newkey", "rsa:2048"], "sha512", "sha512"),
        (["-newkey", "rsa:2048"], "sha1", "sha256"),  # RFC 5929 section 4.1: SHA-1 becomes SHA-256
    ],
)
def test_hash_follows_the_signature_algorithm(tmp_path: Path, key: list[str], digest: str, expected: str) -> None:
    certificate = _self_signed(tmp_path, key, digest)
    binding = tls_server_end_point(certificate)
    assert binding == ChannelBinding(type="tls-server-end-point", data=hashlib.new(expected, certificate).digest())


@pytest.mark.interop
def test_ed25519_has_no_rfc5929_hash(tmp_path: Path) -> None:
    openssl = require_program("openssl")
    directory = tmp_path
    ProcessManager(directory).run([openssl, "req", "-x509", "-newkey", "ed25519", "-nodes", "-days", "1",
                                   "-subj", "/CN=cb.example", "-keyout", "k.pem", "-out", "c.pem"])
    with pytest.raises(ValueError, match="no tls-server-end-point hash"):
        tls_server_end_point(_der(directory / "c.pem"))


@pytest.mark.parametrize(
    "data",
    [b"", b"\x30", b"\x30\x00", b"\x31\x00", b"\x30\x02\x02\x00", b"\x30\x84\xff\xff\xff\xff",
     b"\x30\x80\x00\x00", b"\x30\x04\x30\x00\x31\x00", b"\x30\x06\x30\x00\x30\x02\x05\x00",
     b"\x30\x03\x30\x00\x00"],
)
def test_malformed_der_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        tls_server_end_point(data)


@given(st.binary(max_size=64))
def test_arbitrary_bytes_raise_only_value_error(data: bytes) -> None:
    try:
        binding = tls_server_end_point(data)
    except ValueError:
        return
    assert binding.type == "tls-server-end-point"


@pytest.mark.interop
def test_scram_plus_over_real_tls13_with_server_end_point(tls_material: TLSMaterial) -> None:
    """Both ends compute the binding: the client from the peer certificate, the server from its own."""
    client_tls, server_tls = _handshake(tls_material, ssl.TLSVersion.TLSv1_3)
    assert client_tls.version() == "TLSv1.3"
    peer = client_tls.getpeercert(binary_form=True)
    assert peer is not None
    client_binding = tls_server_end_point(peer)
    server_binding = tls_server_end_point(_der(tls_material.cert))
    assert client_binding == server_binding
    client = create_client("SCRAM-SHA-256-PLUS", username="alice", password="secret", channel_binding=client_binding)
    result, _ = run_exchange(client, create_server("SCRAM-SHA-256-PLUS", STORE, channel_binding=server_binding))
    assert isinstance(result, Success) and client.complete

    # A relay that terminates TLS with its own certificate presents other binding data.
    other = ChannelBinding(type="tls-server-end-point", data=hashlib.sha256(b"mitm certificate").digest())
    client = create_client("SCRAM-SHA-256-PLUS", username="alice", password="secret", channel_binding=other)
    result, _ = run_exchange(client, create_server("SCRAM-SHA-256-PLUS", STORE, channel_binding=server_binding))
    assert result == Failure(reason="channel-bindings-dont-match")
