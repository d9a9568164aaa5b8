"""The ``tls-server-end-point`` channel binding, computed from a certificate (RFC 5929 section 4).

``tls-unique`` is undefined for TLS 1.3 (RFC 9266 section 1) and the
standard library cannot export keying material for ``tls-exporter``; but
``tls-server-end-point`` needs only the server's certificate, which both ends
have (the client from ``getpeercert(binary_form=True)``, the server from its
own certificate file). RFC 5929 section 4.1: the binding data is the hash of
the DER certificate, with the hash of the certificate's signature algorithm,
except that MD5 and SHA-1 are replaced by SHA-256.

Only the few DER structures needed to find the signature algorithm are
parsed (RFC 5280 section 4.1: ``Certificate ::= SEQUENCE { tbsCertificate,
signatureAlgorithm, signatureValue }``).
"""

from __future__ import annotations

import hashlib

from ._base import ChannelBinding

__all__ = ["tls_server_end_point"]

# Signature algorithm OIDs (DER content octets) to the hash RFC 5929 section 4.1 says to use.
_HASH_BY_SIGNATURE_OID: dict[bytes, str] = {
    bytes.fromhex("2a864886f70d010104"): "sha256",  # md5WithRSAEncryption -> SHA-256
    bytes.fromhex("2a864886f70d010105"): "sha256",  # sha1WithRSAEncryption -> SHA-256
    bytes.fromhex("2a864886f70d01010e"): "sha224",  # sha224WithRSAEncryption
    bytes.fromhex("2a864886f70d01010b"): "sha256",  # sha256WithRSAEncryption
    bytes.fromhex("2a864886f70d01010c"): "sha384",  # sha384WithRSAEncryption
    bytes.fromhex("2a864886f70d01010d"): "sha512",  # sha512WithRSAEncryption
    bytes.fromhex("2a8648ce3d0401"): "sha256",  # ecdsa-with-SHA1 -> SHA-256
    bytes.fromhex("2a8648ce3d040301"): "sha224",  # ecdsa-with-SHA224
    bytes.fromhex("2a8648ce3d040302"): "sha256",  # ecdsa-with-SHA256
    bytes.fromhex("2a8648ce3d040303"): "sha384",  # ecdsa-with-SHA384
    bytes.fromhex("2a8648ce3d040304"): "sha512",  # ecdsa-with-SHA512
    bytes.fromhex("2a8648ce380403"): "sha256",  # dsa-with-sha1 -> SHA-256
    bytes.fromhex("608648016503040302"): "sha256",  # dsa-with-sha256
}


def _read_tlv(data: bytes, offset: int) -> tuple[int, int, int]:
    """Return (tag, content start, content end) of the DER element at ``offset``.

    Raises:
        ValueError: truncated or not DER.
    """
    if offset + 2 > len(data):
        raise ValueError("truncated DER element")
    tag = data[offset]
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > len(data):
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + length
    if end > len(data):
        raise ValueError("truncated DER element")
    return tag, start, end


def tls_server_end_point(certificate: bytes) -> ChannelBinding:
    """Return the ``tls-server-end-point`` binding for a DER server certificate.

    Args:
        certificate: the server's certificate in DER (``ssl.PEM_cert_to_DER_cert``
            of the PEM, or the client's ``getpeercert(binary_form=True)``).

    Raises:
        ValueError: not a DER certificate, or a signature algorithm RFC 5929
            gives no hash for (RSASSA-PSS, Ed25519, ...).
    """
    tag, start, end = _read_tlv(certificate, 0)
    if tag != 0x30 or end != len(certificate):
        raise ValueError("not a DER certificate (outer SEQUENCE)")
    tag, _tbs_start, tbs_end = _read_tlv(certificate, start)
    if tag != 0x30:
        raise ValueError("not a DER certificate (tbsCertificate)")
    tag, algorithm_start, _algorithm_end = _read_tlv(certificate, tbs_end)
    if tag != 0x30:
        raise ValueError("not a DER certificate (signatureAlgorithm)")
    tag, oid_start, oid_end = _read_tlv(certificate, algorithm_start)
    if tag != 0x06:
        raise ValueError("not a DER certificate (algorithm OID)")
    hash_name = _HASH_BY_SIGNATURE_OID.get(certificate[oid_start:oid_end])
    if hash_name is None:
        raise ValueError("RFC 5929 defines no tls-server-end-point hash for this signature algorithm")
    return ChannelBinding(type="tls-server-end-point", data=hashlib.new(hash_name, certificate).digest())
