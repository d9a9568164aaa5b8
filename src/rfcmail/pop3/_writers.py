"""Writers: POP3 events to the bytes that go on the wire.

Commands are written per RFC 1939 section 3 (keyword, single spaces, CRLF),
AUTH per RFC 5034 section 4 (base64, ``=`` for an empty initial response,
``*`` to cancel). Responses carry an RFC 2449 section 8 code in brackets.
Multi-line bodies are byte-stuffed (RFC 1939 section 3) by
:class:`BodyWriter`, which converts line endings to CRLF on the way and
keeps its place across chunks, so a large message is written piece by piece.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator

from ._events import (
    Apop,
    Auth,
    AuthCancel,
    AuthChallenge,
    AuthResponse,
    Capability,
    Command,
    Greeting,
    List,
    Pass,
    Response,
    Retr,
    ScanListing,
    Top,
    Uidl,
    UniqueIdListing,
    User,
)

__all__ = ["BodyWriter", "top_of_message", "write_command", "write_response"]


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def write_command(command: Command) -> bytes:
    """The line for a client command, CRLF included (RFC 1939 section 3)."""
    if isinstance(command, User):
        return b"USER " + command.name.encode("utf-8") + b"\r\n"
    if isinstance(command, Pass):
        return b"PASS " + command.password.encode("utf-8") + b"\r\n"
    if isinstance(command, Apop):
        return f"APOP {command.name} {command.digest}\r\n".encode("ascii")
    if isinstance(command, Auth):
        if command.initial_response is None:
            return f"AUTH {command.mechanism}\r\n".encode("ascii")
        encoded = _b64(command.initial_response) or b"="
        return b"AUTH " + command.mechanism.encode("ascii") + b" " + encoded + b"\r\n"
    if isinstance(command, AuthResponse):
        return _b64(command.data) + b"\r\n"
    if isinstance(command, AuthCancel):
        return b"*\r\n"
    if isinstance(command, (List, Uidl)):
        if command.message_number is None:
            return command.keyword.encode("ascii") + b"\r\n"
        return f"{command.keyword} {command.message_number}\r\n".encode("ascii")
    if isinstance(command, Top):
        return f"TOP {command.message_number} {command.lines}\r\n".encode("ascii")
    number = getattr(command, "message_number", None)
    if isinstance(command, Retr) or number is not None:
        return f"{command.keyword} {number}\r\n".encode("ascii")
    return command.keyword.encode("ascii") + b"\r\n"


def _status(ok: bool, code: str | None, text: str) -> bytes:
    parts = ["+OK" if ok else "-ERR"]
    if code is not None:
        parts.append(f"[{code}]")
    if text:
        parts.append(text)
    return (" ".join(parts) + "\r\n").encode("ascii")


def write_response(event: Greeting | Response | AuthChallenge | ScanListing
                   | UniqueIdListing | Capability) -> bytes:
    """The line for a server status line, challenge or listing entry, CRLF included."""
    if isinstance(event, Greeting):
        text = event.text
        if event.timestamp is not None:
            text = f"{text} {event.timestamp}" if text else event.timestamp
        return _status(event.ok, event.code, text)
    if isinstance(event, Response):
        return _status(event.ok, event.code, event.text)
    if isinstance(event, AuthChallenge):
        # RFC 5034 section 4: an empty challenge is "+" and a single space.
        return b"+ " + _b64(event.data) + b"\r\n"
    if isinstance(event, ScanListing):
        return f"{event.message_number} {event.size}\r\n".encode("ascii")
    if isinstance(event, UniqueIdListing):
        return f"{event.message_number} {event.unique_id}\r\n".encode("ascii")
    line = " ".join((event.name, *event.arguments))
    # A capability line starting with "." would need stuffing; tags never do.
    return line.encode("ascii") + b"\r\n"


class BodyWriter:
    """Byte-stuffs a multi-line body written in chunks (RFC 1939 section 3).

    Line endings are normalised to CRLF (a CR followed by LF, or a lone LF,
    ends a line; a CR on its own is kept as data), and every line that begins
    with ``.`` gets another ``.`` in front. A CR at the end of a chunk is held
    back until the next one shows whether an LF follows.
    """

    __slots__ = ("_at_line_start", "_held_cr")

    def __init__(self) -> None:
        self._at_line_start = True
        self._held_cr = False

    def write(self, data: bytes | bytearray | memoryview) -> bytes:
        """Stuff one chunk of the body."""
        chunk = bytes(data)
        if self._held_cr:
            chunk = b"\r" + chunk
            self._held_cr = False
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
            self._held_cr = True
        if not chunk:
            return b""
        if b"\n" in chunk:
            if b"\r\n" in chunk:
                chunk = chunk.replace(b"\r\n", b"\n")
            chunk = chunk.replace(b"\n", b"\r\n")
            if b"\n." in chunk:
                chunk = chunk.replace(b"\n.", b"\n..")
        if self._at_line_start and chunk[:1] == b".":
            chunk = b"." + chunk
        self._at_line_start = chunk.endswith(b"\n")
        return chunk

    def finish(self) -> bytes:
        """The end of the body: a held CR, a CRLF if the last line lacked one, and ``.``."""
        tail = b""
        if self._held_cr:
            tail = b"\r\n" if not self._at_line_start else b"\r\n"
            self._held_cr = False
            self._at_line_start = True
        if not self._at_line_start:
            tail += b"\r\n"
        self._at_line_start = True
        return tail + b".\r\n"


def top_of_message(chunks: Iterable[bytes], lines: int) -> Iterator[bytes]:
    """The header and the first ``lines`` lines of the body (RFC 1939 section 7, TOP).

    Reads ``chunks`` only as far as needed. The header ends at the first
    empty line (CRLF or LF line endings).
    """
    in_header = True
    remaining = lines
    pending = b""
    for chunk in chunks:
        pending += chunk
        start = 0
        while True:
            end = pending.find(b"\n", start)
            if end < 0:
                break
            line = pending[start:end + 1]
            start = end + 1
            if in_header:
                if line in (b"\r\n", b"\n"):
                    in_header = False
                    yield pending[:start]
                    pending = pending[start:]
                    start = 0
                    if remaining == 0:
                        return
                continue
            remaining -= 1
            if remaining == 0:
                yield pending[:start]
                return
        if not in_header and start:
            yield pending[:start]
            pending = pending[start:]
    if pending:
        yield pending
