"""TLS settings shared by the asyncio and blocking adapters.

RFC 8314 (implicit TLS preferred, certificate checks on by default), RFC 3207
(SMTP STARTTLS), RFC 2595 (POP3 STLS and IMAP STARTTLS). The sans-IO machines
know nothing of TLS beyond the protocol's switch command; everything here is
for adapters.
"""

from __future__ import annotations

import enum
import ssl

__all__ = ["TLSMode", "client_context", "ensure_self_signed", "server_context"]


class TLSMode(enum.Enum):
    """How a connection uses TLS.

    ``STARTTLS_OPPORTUNISTIC`` upgrades when the server offers it and goes on
    in plaintext otherwise: an attacker on the path can strip the offer, so it
    protects only against passive eavesdropping. ``STARTTLS_REQUIRED`` aborts
    before any authentication or mail command when the upgrade is not offered
    or fails. ``IMPLICIT`` starts TLS at connect (ports 465, 993, 995).
    """

    NONE = "none"
    STARTTLS_OPPORTUNISTIC = "starttls-opportunistic"
    STARTTLS_REQUIRED = "starttls-required"
    IMPLICIT = "implicit"


def client_context(*, cafile: str | None = None, verify: bool = True) -> ssl.SSLContext:
    """A client context: system trust (or ``cafile``), hostname checks, TLS 1.2 or newer.

    ``verify=False`` turns certificate and hostname checks off, for
    opportunistic MTA-to-MTA TLS where no certificate can be expected to
    verify (RFC 3207 section 4.1); never use it for submission or retrieval.
    """
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def server_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    """A server context with the given certificate chain and key, TLS 1.2 or newer."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    return context


def ensure_self_signed(certfile: str, keyfile: str, hostname: str = "localhost") -> bool:
    """Create a self-signed certificate and key for ``hostname`` unless both files exist.

    For demos and first runs (``rfcmail serve``): clients must be told to
    trust it or not to verify. Uses the ``cryptography`` package when it is
    installed, else the ``openssl`` program.

    Returns:
        True when new files were written.

    Raises:
        RuntimeError: neither ``cryptography`` nor ``openssl`` is available.
    """
    import os

    if os.path.exists(certfile) and os.path.exists(keyfile):
        return False
    try:
        _self_signed_with_cryptography(certfile, keyfile, hostname)
    except ImportError:
        _self_signed_with_openssl(certfile, keyfile, hostname)
    os.chmod(keyfile, 0o600)
    return True


def _self_signed_with_cryptography(certfile: str, keyfile: str, hostname: str) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.timezone.utc)
    alternatives: list[x509.GeneralName] = [x509.DNSName(hostname), x509.DNSName("localhost"),
                                            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                            x509.IPAddress(ipaddress.ip_address("::1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    with open(keyfile, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    with open(certfile, "wb") as handle:
        handle.write(certificate.public_bytes(serialization.Encoding.PEM))


def _self_signed_with_openssl(certfile: str, keyfile: str, hostname: str) -> None:
    import shutil
    import subprocess

    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("cannot create a certificate: install the 'cryptography' package or openssl")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-days", "3650", "-subj", f"/CN={hostname}", "-keyout", keyfile, "-out", certfile,
         "-addext", f"subjectAltName=DNS:{hostname},DNS:localhost,IP:127.0.0.1,IP:::1"],
        check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=60,
    )
