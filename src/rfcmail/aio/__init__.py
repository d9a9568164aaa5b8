"""asyncio adapters: drive the sans-IO machines over asyncio streams, with TLS and timeouts."""

from .pop3 import POP3Client, POP3Server
from .smtp import SMTPClient, SMTPServer

__all__ = ["POP3Client", "POP3Server", "SMTPClient", "SMTPServer"]
