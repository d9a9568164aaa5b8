"""Blocking adapters: drive the sans-IO machines over plain sockets and threads, with TLS and timeouts."""

from .pop3 import POP3Client, POP3Server
from .smtp import SMTPClient, ThreadedSMTPServer

__all__ = ["POP3Client", "POP3Server", "SMTPClient", "ThreadedSMTPServer"]
