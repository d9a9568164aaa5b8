"""Readers: POP3 bytes from the receive buffer to events.

Each ``maybe_read_*`` function takes what it needs from a
:class:`~rfcmail._receivebuffer.ReceiveBuffer` and returns an event, or
``None`` when more data is needed. Malformed input raises
:class:`~rfcmail.errors.RemoteProtocolError` (or
:class:`~rfcmail.errors.LimitExceeded`) with the ``-ERR`` reply a server
should send.

Sources: RFC 1939 section 3 (commands: a keyword of 3-4 characters and
arguments separated by single spaces, each up to 40 characters; responses:
``+OK``/``-ERR``, multi-line bodies ending in ``.`` with byte-stuffing),
RFC 2449 sections 4, 5 and 8 (255-octet command lines, 512-octet response
lines, CAPA lines, ``[CODE]``), RFC 5034 section 4 (base64 AUTH lines with
strict decoding, ``*`` to cancel).
"""

from __future__ import annotations

import binascii
import re

from .._receivebuffer import ReceiveBuffer
from ..errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from ..limits import Limits
from ._events import (
    Apop,
    Auth,
    AuthCancel,
    AuthChallenge,
    AuthResponse,
    Capa,
    Capability,
    Command,
    Dele,
    Greeting,
    List,
    Noop,
    Pass,
    Quit,
    Response,
    Retr,
    Rset,
    ScanListing,
    Stat,
    Stls,
    Top,
    Uidl,
    UniqueIdListing,
    User,
)

__all__ = [
    "BodyReader",
    "decode_base64",
    "maybe_read_auth_line",
    "maybe_read_command",
    "maybe_read_listing_line",
    "maybe_read_status",
    "parse_status_line",
]

_NO_ARGUMENT: dict[str, type[Command]] = {
    "STAT": Stat, "NOOP": Noop, "RSET": Rset, "QUIT": Quit, "CAPA": Capa, "STLS": Stls,
}
_ONE_NUMBER: dict[str, type[Retr] | type[Dele]] = {"RETR": Retr, "DELE": Dele}
_OPTIONAL_NUMBER: dict[str, type[List] | type[Uidl]] = {"LIST": List, "UIDL": Uidl}
_NUMBER_RE = re.compile(rb"[0-9]{1,10}")
_CODE_RE = re.compile(r"\[([^\]\s]*)\]")
# RFC 1939 section 7: the timestamp is a msg-id, "<" ... ">".
_TIMESTAMP_RE = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]+>")
_B64_RE = re.compile(rb"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def decode_base64(data: bytes, *, what: str) -> bytes:
    """Strict base64 (RFC 5034 section 4, RFC 4648 section 4): reject anything else."""
    if not _B64_RE.fullmatch(data):
        raise RemoteProtocolError(f"{what} is not valid base64", reply_hint="-ERR invalid base64 data")
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except binascii.Error as error:  # pragma: no cover - the regex above already rejects these
        raise RemoteProtocolError(f"{what} is not valid base64: {error}",
                                  reply_hint="-ERR invalid base64 data") from None


def _strip_line(line: bytes, what: str, reply_hint: str | None) -> bytes:
    if line.endswith(b"\r\n"):
        content = line[:-2]
    else:
        content = line[:-1]  # a bare LF is tolerated as a line ending (RFC 1939 is strict; peers are not)
    if b"\r" in content or b"\0" in content or b"\n" in content:
        raise RemoteProtocolError(f"{what} contains a bare CR or a NUL", reply_hint=reply_hint)
    return content


def _number(raw: bytes, what: str) -> int:
    if not _NUMBER_RE.fullmatch(raw):
        raise RemoteProtocolError(f"{what} must be a decimal number, got {raw[:40]!r}",
                                  reply_hint=f"-ERR invalid {what}")
    value = int(raw)
    if not 1 <= value <= 2**32 - 1:
        raise RemoteProtocolError(f"{what} out of range: {value}", reply_hint="-ERR no such message")
    return value


def parse_command(content: bytes) -> Command:
    """Parse a command line without its line ending (RFC 1939 section 3).

    Raises:
        RemoteProtocolError: unknown command, wrong arguments or bad characters.
    """
    keyword_raw, _, rest = content.partition(b" ")
    keyword = keyword_raw.decode("ascii", "replace").upper()
    try:
        if keyword == "PASS":
            # RFC 1939 section 7: the server may treat spaces as part of the password.
            return Pass(password=rest.decode("utf-8"))
        arguments = rest.split(b" ") if rest else []
        if keyword in _NO_ARGUMENT:
            if arguments:
                raise RemoteProtocolError(f"{keyword} takes no argument",
                                          reply_hint=f"-ERR {keyword} takes no argument")
            return _NO_ARGUMENT[keyword]()
        if keyword in _ONE_NUMBER:
            if len(arguments) != 1:
                raise RemoteProtocolError(f"{keyword} takes one message number",
                                          reply_hint=f"-ERR {keyword} needs a message number")
            return _ONE_NUMBER[keyword](message_number=_number(arguments[0], "message number"))
        if keyword in _OPTIONAL_NUMBER:
            if len(arguments) > 1:
                raise RemoteProtocolError(f"{keyword} takes at most one message number",
                                          reply_hint=f"-ERR {keyword} takes at most one argument")
            number = _number(arguments[0], "message number") if arguments else None
            return _OPTIONAL_NUMBER[keyword](message_number=number)
        if keyword == "TOP":
            if len(arguments) != 2:
                raise RemoteProtocolError("TOP takes a message number and a line count",
                                          reply_hint="-ERR TOP needs a message number and a line count")
            if not _NUMBER_RE.fullmatch(arguments[1]):
                raise RemoteProtocolError("TOP line count must be a decimal number",
                                          reply_hint="-ERR invalid line count")
            return Top(message_number=_number(arguments[0], "message number"), lines=int(arguments[1]))
        if keyword == "USER":
            if not rest:
                raise RemoteProtocolError("USER needs a name", reply_hint="-ERR USER needs a name")
            return User(name=rest.decode("utf-8"))
        if keyword == "APOP":
            if len(arguments) != 2:
                raise RemoteProtocolError("APOP takes a name and a digest",
                                          reply_hint="-ERR APOP needs a name and a digest")
            return Apop(name=arguments[0].decode("ascii"), digest=arguments[1].decode("ascii").lower())
        if keyword == "AUTH":
            if not arguments or len(arguments) > 2:
                raise RemoteProtocolError("AUTH takes a mechanism and an optional initial response",
                                          reply_hint="-ERR AUTH needs a mechanism")
            mechanism = arguments[0].decode("ascii").upper()
            initial: bytes | None = None
            if len(arguments) == 2:
                initial = b"" if arguments[1] == b"=" else decode_base64(arguments[1],
                                                                          what="AUTH initial response")
            return Auth(mechanism=mechanism, initial_response=initial)
    except (UnicodeDecodeError, LocalProtocolError) as error:
        raise RemoteProtocolError(f"invalid {keyword} arguments: {error}",
                                  reply_hint=f"-ERR invalid {keyword} arguments") from None
    shown = keyword_raw[:8].decode("ascii", "replace")
    raise RemoteProtocolError(f"unknown command {shown!r}", reply_hint="-ERR unknown command")


def maybe_read_command(buf: ReceiveBuffer, limits: Limits) -> Command | None:
    """Read one command line (RFC 1939 section 3; 255 octets per RFC 2449 section 4).

    Raises:
        LimitExceeded: the line is longer than ``limits.max_pop3_line``; nothing
            is consumed (the machine discards the line).
        RemoteProtocolError: the line is not a valid command.
    """
    line = buf.maybe_extract_line(limits.max_pop3_line, limit_name="max_pop3_line",
                                  reply_hint="-ERR command line too long")
    if line is None:
        return None
    return parse_command(_strip_line(line, "command line", "-ERR invalid characters in command"))


def maybe_read_auth_line(buf: ReceiveBuffer, limits: Limits) -> AuthResponse | AuthCancel | None:
    """Read a client's SASL response line (RFC 5034 section 4)."""
    line = buf.maybe_extract_line(limits.max_auth_line, limit_name="max_auth_line",
                                  reply_hint="-ERR authentication line too long")
    if line is None:
        return None
    content = _strip_line(line, "AUTH response", "-ERR invalid AUTH response")
    if content == b"*":
        return AuthCancel()
    return AuthResponse(data=decode_base64(content, what="AUTH response"))


def parse_status_line(content: bytes) -> Response:
    """Parse ``+OK``/``-ERR`` with an optional RFC 2449 code (the line ending removed)."""
    if content[:3] == b"+OK" and content[3:4] in (b"", b" "):
        ok = True
        rest = content[4:]
    elif content[:4] == b"-ERR" and content[4:5] in (b"", b" "):
        ok = False
        rest = content[5:]
    else:
        raise RemoteProtocolError(f"response must start with +OK or -ERR, got {content[:40]!r}")
    text = rest.decode("utf-8", "replace")
    code = None
    match = _CODE_RE.match(text)
    if match:
        try:
            probe = Response(ok=ok, text="", code=match.group(1))
        except LocalProtocolError:
            probe = None
        if probe is not None:
            code = probe.code
            text = text[match.end():].lstrip(" ")
    # Non-ASCII text is replaced: the event carries ASCII only (RFC 1939 has no charset).
    text = "".join(ch if " " <= ch <= "~" or ch == "\t" else "?" for ch in text)
    return Response(ok=ok, text=text, code=code)


def maybe_read_status(buf: ReceiveBuffer, limits: Limits, *, greeting: bool = False,
                      in_sasl: bool = False) -> Response | Greeting | AuthChallenge | None:
    """Read a server status line: a greeting, a response or, during AUTH, a challenge."""
    line = buf.maybe_extract_line(limits.max_auth_line if in_sasl else limits.max_reply_line,
                                  limit_name="max_auth_line" if in_sasl else "max_reply_line")
    if line is None:
        return None
    content = _strip_line(line, "response line", None)
    if in_sasl and (content == b"+" or content.startswith(b"+ ")):
        return AuthChallenge(data=decode_base64(content[2:].strip(b" "), what="AUTH challenge"))
    response = parse_status_line(content)
    if not greeting:
        return response
    timestamp = None
    found = _TIMESTAMP_RE.search(response.text)
    if found:
        timestamp = found.group(0)
    return Greeting(ok=response.ok, text=response.text, timestamp=timestamp, code=response.code)


def maybe_read_listing_line(buf: ReceiveBuffer, limits: Limits, kind: type[Command]
                            ) -> ScanListing | UniqueIdListing | Capability | None | bool:
    """Read one line of a LIST, UIDL or CAPA listing.

    Returns:
        The entry, ``None`` when more data is needed, or ``True`` for the
        terminating ``.`` line.
    """
    line = buf.maybe_extract_line(limits.max_reply_line, limit_name="max_reply_line")
    if line is None:
        return None
    content = _strip_line(line, "listing line", None)
    if content == b".":
        return True
    if content[:1] == b".":
        content = content[1:]
    try:
        if kind is Capa:
            name, *arguments = content.decode("ascii").split()
            return Capability(name=name.upper(), arguments=tuple(arguments))
        fields = content.split()
        if len(fields) < 2:
            raise RemoteProtocolError(f"listing line needs a number and a value, got {content[:40]!r}")
        number = _number(fields[0], "message number")
        if kind is List:
            if not _NUMBER_RE.fullmatch(fields[1]):
                raise RemoteProtocolError(f"message size must be a number, got {fields[1][:20]!r}")
            return ScanListing(message_number=number, size=int(fields[1]))
        return UniqueIdListing(message_number=number, unique_id=fields[1].decode("ascii"))
    except (UnicodeDecodeError, LocalProtocolError, ValueError) as error:
        raise RemoteProtocolError(f"malformed listing line {content[:60]!r}: {error}") from None


class BodyReader:
    """Reads a RETR or TOP body: unstuffs and finds the end (RFC 1939 section 3).

    Works on whole runs of lines rather than line by line: everything up to
    the last complete line received is unstuffed with two byte-string
    operations and returned as one chunk. A single line longer than
    ``max_line`` without an LF is passed on in pieces (still bounded).
    """

    __slots__ = ("_at_line_start", "max_piece")

    def __init__(self, max_piece: int = 1024 * 1024) -> None:
        self._at_line_start = True
        self.max_piece = max_piece

    def read(self, buf: ReceiveBuffer) -> bytes | None | bool:
        """Return unstuffed body bytes, ``None`` for need-more-data, ``True`` at the end."""
        if self._at_line_start:
            head = buf.peek(3)
            if head == b".\r\n":
                buf.extract_at_most(3)
                return True
            if head[:2] == b".\n":
                buf.extract_at_most(2)
                return True
            if head in (b"", b".", b".\r"):
                return None
        # The terminator is found with searches in place (no copy of what may be
        # many pipelined messages); bare-LF servers end with "\n.\n".
        end = buf.find(b"\n.\r\n")
        bare = buf.find(b"\n.\n", 0, None if end < 0 else end + 4)
        if bare >= 0 and (end < 0 or bare < end):
            end = bare
        if end >= 0:
            cut = end + 1
        else:
            data = buf.peek()
            last_lf = data.rfind(b"\n")
            if last_lf >= 0:
                cut = last_lf + 1  # a trailing "." or ".\r" stays: it may be the terminator
            elif len(data) >= self.max_piece:
                cut = len(data) - (1 if data.endswith(b"\r") else 0)
            else:
                return None
        chunk = buf.extract_at_most(cut)
        stuffed = b"\n." in chunk
        starts_line = self._at_line_start
        self._at_line_start = chunk.endswith(b"\n")
        if stuffed:
            chunk = chunk.replace(b"\n.", b"\n")
        if starts_line and chunk[:1] == b".":
            chunk = chunk[1:]
        return chunk
