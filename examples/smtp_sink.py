"""An SMTP (or LMTP) sink that writes each message it receives to a directory, one file per message.

Run it::

    python examples/smtp_sink.py --port 2525 --directory /tmp/sink
    python examples/smtp_sink.py --port 2424 --lmtp --directory /tmp/sink
    python examples/smtp_sink.py --port 2525 --tls-cert chain.pem --tls-key key.pem   # offers STARTTLS

then send it mail (``swaks --server 127.0.0.1 --port 2525 --to you@example.test``).

Each message is streamed into ``DIRECTORY/tmp/`` as it arrives (never held
in memory), flushed and fsynced when the client ends the data, and only then
renamed into ``DIRECTORY/new/`` (a rename within one file system is atomic,
so a reader of ``new/`` never sees half a message, the Maildir rule) before
the server answers 250 (RFC 5321 section 6.1: accept only what is safe).
The file starts with ``Return-Path:`` and one ``X-Original-To:`` line per
recipient, then the message exactly as received. An aborted transaction
(RSET, a refused message, a dropped connection) leaves nothing behind.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import ssl
import sys
import time
from pathlib import Path
from typing import BinaryIO

from rfcmail.aio.smtp import ServerSettings, SMTPServer
from rfcmail.smtp import Config, Mail, PeerInfo, Rcpt, SessionContext, SMTPReplyError

log = logging.getLogger("smtp_sink")


class DirectorySession:
    """Streams one transaction at a time into ``tmp/`` and renames it into ``new/``."""

    def __init__(self, directory: Path, counter: list[int]) -> None:
        self.directory = directory
        self.counter = counter
        self.file: BinaryIO | None = None
        self.temporary: Path | None = None
        self.recipients: list[str] = []
        self.sender = ""

    def _discard(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        if self.temporary is not None:
            self.temporary.unlink(missing_ok=True)
            self.temporary = None
        self.recipients = []

    def _unique_name(self) -> str:
        self.counter[0] += 1
        return f"{time.time_ns()}.P{os.getpid()}Q{self.counter[0]}.{socket.gethostname()}.eml"

    def mail(self, mail: Mail, context: SessionContext) -> None:
        self._discard()
        self.sender = mail.reverse_path

    def rcpt(self, rcpt: Rcpt, context: SessionContext) -> None:
        self.recipients.append(rcpt.forward_path)

    def data(self, chunk: bytes, context: SessionContext) -> None:
        if self.file is None:
            self.temporary = self.directory / "tmp" / self._unique_name()
            self.file = open(self.temporary, "xb")
            header = f"Return-Path: <{self.sender}>\r\n".encode()
            for recipient in self.recipients:
                header += f"X-Original-To: {recipient}\r\n".encode()
            self.file.write(header)
        self.file.write(chunk)

    def end(self, context: SessionContext) -> str | None:
        if self.file is None:  # an empty message
            self.data(b"", context)
        assert self.file is not None and self.temporary is not None
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            self.file = None
            final = self.directory / "new" / self.temporary.name
            os.rename(self.temporary, final)
            directory_fd = os.open(self.directory / "new", os.O_RDONLY)
            try:
                os.fsync(directory_fd)
            finally:
                os.close(directory_fd)
        except OSError as error:
            log.error("cannot store the message: %s", error)
            self._discard()
            raise SMTPReplyError(451, "4.3.0", "Cannot store the message now, try again later") from error
        self.temporary = None
        log.info("stored %s from <%s> for %d recipient(s)", final.name, self.sender, len(self.recipients))
        self.recipients = []
        return final.name

    def reset(self, context: SessionContext) -> None:
        self._discard()

    def close(self, context: SessionContext) -> None:
        self._discard()


class DirectoryBackend:
    """Hands each connection a :class:`DirectorySession` over the same directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.counter = [0]
        for name in ("tmp", "new"):
            (directory / name).mkdir(parents=True, exist_ok=True)

    def session(self, peer: PeerInfo) -> DirectorySession:
        log.info("connection from %s", peer.address)
        return DirectorySession(self.directory, self.counter)


async def serve(args: argparse.Namespace) -> None:
    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    server = SMTPServer(
        DirectoryBackend(Path(args.directory)),
        config=Config(hostname=args.hostname, lmtp=args.lmtp),
        settings=ServerSettings(tls_context=context),
    )
    await server.listen(args.host, args.port)
    print(f"{'LMTP' if args.lmtp else 'SMTP'} sink on {args.host}:{server.port}, writing to {args.directory}/new",
          flush=True)
    await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--directory", default="./sink")
    parser.add_argument("--hostname", default="sink.localhost", help="the name in the greeting")
    parser.add_argument("--lmtp", action="store_true", help="speak LMTP (RFC 2033)")
    parser.add_argument("--tls-cert", help="certificate chain (PEM): offer STARTTLS")
    parser.add_argument("--tls-key", help="private key (PEM)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
