"""TLS settings shared by the asyncio and blocking adapters.

RFC 8314 (implicit TLS preferred, certificate checks on by default), RFC 3207
(SMTP STARTTLS), RFC 2595 (POP3 STLS and IMAP STARTTLS). The sans-IO machines
know nothing of TLS beyond the protocol's switch command; everything here is
for adapters.
"""

from __future__ import annotations

import enum
import ssl

__all__ = ["TLSMode", "client_context", "server_context"]


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
