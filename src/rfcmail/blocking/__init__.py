"""Blocking adapters: drive the sans-IO machines over plain sockets and threads, with TLS and timeouts."""

from .smtp import SMTPClient, ThreadedSMTPServer

__all__ = ["SMTPClient", "ThreadedSMTPServer"]
