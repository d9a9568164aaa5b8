"""asyncio adapters: drive the sans-IO machines over asyncio streams, with TLS and timeouts."""

from .smtp import SMTPClient, SMTPServer

__all__ = ["SMTPClient", "SMTPServer"]
