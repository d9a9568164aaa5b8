"""POP3 events: the commands a client sends and the responses a server sends.

The same classes serve both roles: a client passes a command to
:meth:`rfcmail.pop3.Connection.send` and the server's machine returns the
same class from :meth:`~rfcmail.pop3.Connection.next_event`, and likewise for
responses. Constructors validate their arguments and raise
:class:`~rfcmail.errors.LocalProtocolError` when a value cannot go on the
wire (a CR, LF or NUL in an argument, a message number below 1), so that a
caller's string never injects a second command (SECURITY.md A3.3).

Sources: RFC 1939 sections 3-7 (commands and responses, byte-stuffing of
multi-line responses), RFC 2449 sections 5-8 (CAPA, extended response codes),
RFC 2595 section 4 (STLS), RFC 5034 section 4 (AUTH, "+ " continuations,
"*" cancel).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from ..errors import LocalProtocolError, RfcmailError

__all__ = [
    "Apop",
    "Auth",
    "AuthCancel",
    "AuthChallenge",
    "AuthResponse",
    "Capa",
    "Capability",
    "Command",
    "Dele",
    "EndOfMultiline",
    "Event",
    "Greeting",
    "List",
    "MessageChunk",
    "Noop",
    "Pass",
    "Quit",
    "Response",
    "ResponseError",
    "Retr",
    "Rset",
    "ScanListing",
    "Stat",
    "Stls",
    "Top",
    "UniqueIdListing",
    "Uidl",
    "User",
]

# RFC 2449 section 8: a unique-id is 1 to 70 characters in the range 0x21-0x7E.
_UNIQUE_ID_RE = re.compile(r"[\x21-\x7e]{1,70}")
# RFC 2449 section 8: resp-level = 1*<any CHAR except "/" and SP and "]">.
_RESP_CODE_RE = re.compile(r"[\x21-\x2e\x30-\x5c\x5e-\x7e]+(?:/[\x21-\x2e\x30-\x5c\x5e-\x7e]+)*")
# RFC 2449 section 5: capa-tag = 1*cchar, cchar = %x21-7F except "/".
_CAPA_TAG_RE = re.compile(r"[\x21-\x2e\x30-\x7e]+")
_PARAM_RE = re.compile(r"[\x21-\x7e]+")
# RFC 4422 section 3.1 mechanism names; RFC 5034 uses them as given.
_MECHANISM_RE = re.compile(r"[A-Z0-9_-]{1,20}")
_MAX_NUMBER = 2**32 - 1


def _check_text(value: str, what: str, *, allow_empty: bool = True) -> None:
    if not isinstance(value, str):
        raise LocalProtocolError(f"{what} must be str, not {type(value).__name__}")
    for bad in ("\r", "\n", "\0"):
        if bad in value:
            raise LocalProtocolError(f"{what} contains {bad!r}: it would inject a line on the wire")
    if not allow_empty and not value:
        raise LocalProtocolError(f"{what} must not be empty")
    if not value.isascii():
        raise LocalProtocolError(f"{what} must be ASCII (POP3 without UTF8, RFC 6856)")


def _check_argument(value: str, what: str) -> None:
    _check_text(value, what, allow_empty=False)
    if not _PARAM_RE.fullmatch(value):
        raise LocalProtocolError(f"{what} must be printable ASCII without spaces, got {value!r}")


def _check_number(value: int, what: str, *, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LocalProtocolError(f"{what} must be an int, not {type(value).__name__}")
    if not minimum <= value <= _MAX_NUMBER:
        raise LocalProtocolError(f"{what} must be between {minimum} and {_MAX_NUMBER}, got {value}")


class Event:
    """Base class of every POP3 event."""

    __slots__ = ()


class Command(Event):
    """Base class of the commands a client sends (RFC 1939 section 3)."""

    __slots__ = ()
    keyword: ClassVar[str] = ""
    multiline: ClassVar[bool] = False
    """Whether a +OK answer to this command is followed by a multi-line body."""


@dataclass(frozen=True, slots=True, kw_only=True)
class User(Command):
    """``USER name`` (RFC 1939 section 7)."""

    keyword: ClassVar[str] = "USER"
    name: str

    def __post_init__(self) -> None:
        _check_text(self.name, "USER name", allow_empty=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pass(Command):
    """``PASS password`` (RFC 1939 section 7). The password may contain spaces."""

    keyword: ClassVar[str] = "PASS"
    password: str

    def __post_init__(self) -> None:
        _check_text(self.password, "PASS password")

    def __repr__(self) -> str:
        return "Pass(password=<hidden>)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Apop(Command):
    """``APOP name digest`` (RFC 1939 section 7): MD5 of the greeting's timestamp and a shared secret."""

    keyword: ClassVar[str] = "APOP"
    name: str
    digest: str

    def __post_init__(self) -> None:
        _check_argument(self.name, "APOP name")
        if not re.fullmatch(r"[0-9a-f]{32}", self.digest):
            raise LocalProtocolError("APOP digest must be 32 lowercase hex digits (RFC 1939 section 7)")


@dataclass(frozen=True, slots=True, kw_only=True)
class Auth(Command):
    """``AUTH mechanism [initial-response]`` (RFC 5034 section 4).

    Attributes:
        mechanism: the SASL mechanism name, upper case.
        initial_response: the decoded initial response; ``None`` when absent,
            ``b""`` for an empty one (sent as ``=``).
    """

    keyword: ClassVar[str] = "AUTH"
    mechanism: str
    initial_response: bytes | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.mechanism, str) or not _MECHANISM_RE.fullmatch(self.mechanism):
            raise LocalProtocolError(
                f"AUTH mechanism must be 1-20 of A-Z 0-9 - _ (RFC 4422 section 3.1), got {self.mechanism!r}")
        if self.initial_response is not None and not isinstance(self.initial_response, bytes):
            raise LocalProtocolError("AUTH initial_response must be bytes or None")

    def __repr__(self) -> str:
        shown = "None" if self.initial_response is None else "<hidden>"
        return f"Auth(mechanism={self.mechanism!r}, initial_response={shown})"


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthResponse(Command):
    """A client's SASL response line during AUTH (RFC 5034 section 4), decoded."""

    keyword: ClassVar[str] = ""
    data: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise LocalProtocolError("AuthResponse data must be bytes")

    def __repr__(self) -> str:
        return "AuthResponse(data=<hidden>)"


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthCancel(Command):
    """The client's ``*`` line: cancel the AUTH exchange (RFC 5034 section 4)."""

    keyword: ClassVar[str] = "*"


@dataclass(frozen=True, slots=True, kw_only=True)
class Stls(Command):
    """``STLS`` (RFC 2595 section 4): switch to TLS."""

    keyword: ClassVar[str] = "STLS"


@dataclass(frozen=True, slots=True, kw_only=True)
class Capa(Command):
    """``CAPA`` (RFC 2449 section 5): list capabilities."""

    keyword: ClassVar[str] = "CAPA"
    multiline: ClassVar[bool] = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Stat(Command):
    """``STAT`` (RFC 1939 section 5): ``+OK count octets``."""

    keyword: ClassVar[str] = "STAT"


@dataclass(frozen=True, slots=True, kw_only=True)
class List(Command):
    """``LIST [msg]`` (RFC 1939 section 5): scan listing of one message or all of them."""

    keyword: ClassVar[str] = "LIST"
    message_number: int | None = None

    def __post_init__(self) -> None:
        if self.message_number is not None:
            _check_number(self.message_number, "LIST message number")

    @property
    def is_multiline(self) -> bool:
        """True for the no-argument form, answered with a multi-line listing."""
        return self.message_number is None


@dataclass(frozen=True, slots=True, kw_only=True)
class Uidl(Command):
    """``UIDL [msg]`` (RFC 1939 section 7): unique-id listing of one message or all."""

    keyword: ClassVar[str] = "UIDL"
    message_number: int | None = None

    def __post_init__(self) -> None:
        if self.message_number is not None:
            _check_number(self.message_number, "UIDL message number")

    @property
    def is_multiline(self) -> bool:
        """True for the no-argument form, answered with a multi-line listing."""
        return self.message_number is None


@dataclass(frozen=True, slots=True, kw_only=True)
class Retr(Command):
    """``RETR msg`` (RFC 1939 section 5): the whole message, multi-line."""

    keyword: ClassVar[str] = "RETR"
    multiline: ClassVar[bool] = True
    message_number: int

    def __post_init__(self) -> None:
        _check_number(self.message_number, "RETR message number")


@dataclass(frozen=True, slots=True, kw_only=True)
class Top(Command):
    """``TOP msg n`` (RFC 1939 section 7): the header and the first ``lines`` body lines."""

    keyword: ClassVar[str] = "TOP"
    multiline: ClassVar[bool] = True
    message_number: int
    lines: int

    def __post_init__(self) -> None:
        _check_number(self.message_number, "TOP message number")
        _check_number(self.lines, "TOP line count", minimum=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Dele(Command):
    """``DELE msg`` (RFC 1939 section 5): mark a message deleted (removed at UPDATE)."""

    keyword: ClassVar[str] = "DELE"
    message_number: int

    def __post_init__(self) -> None:
        _check_number(self.message_number, "DELE message number")


@dataclass(frozen=True, slots=True, kw_only=True)
class Noop(Command):
    """``NOOP`` (RFC 1939 section 5)."""

    keyword: ClassVar[str] = "NOOP"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rset(Command):
    """``RSET`` (RFC 1939 section 5): unmark every deleted message."""

    keyword: ClassVar[str] = "RSET"


@dataclass(frozen=True, slots=True, kw_only=True)
class Quit(Command):
    """``QUIT`` (RFC 1939 sections 4 and 6): in TRANSACTION, enter UPDATE."""

    keyword: ClassVar[str] = "QUIT"


def expects_multiline(command: Command) -> bool:
    """Whether a +OK answer to ``command`` is followed by a multi-line body."""
    if isinstance(command, (List, Uidl)):
        return command.is_multiline
    return command.multiline


# --- responses -----------------------------------------------------------------


def _check_code(code: str | None) -> None:
    if code is not None and (not isinstance(code, str) or not _RESP_CODE_RE.fullmatch(code)):
        raise LocalProtocolError(f"response code must match RFC 2449 section 8 resp-code, got {code!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Greeting(Event):
    """The server's first line (RFC 1939 section 4).

    Attributes:
        ok: ``False`` for a server that refuses the session (``-ERR``).
        text: the human-readable text.
        timestamp: the APOP timestamp ``<...>`` (RFC 1939 section 7), brackets
            included, or ``None`` when the server offers no APOP.
        code: an extended response code (RFC 2449 section 8), without brackets.
    """

    ok: bool = True
    text: str = ""
    timestamp: str | None = None
    code: str | None = None

    def __post_init__(self) -> None:
        _check_text(self.text, "greeting text")
        _check_code(self.code)
        if self.timestamp is not None:
            _check_text(self.timestamp, "APOP timestamp", allow_empty=False)
            if not re.fullmatch(r"<[\x21-\x3b\x3d\x3f-\x7e]+>", self.timestamp):
                raise LocalProtocolError(f"APOP timestamp must look like <msg-id>, got {self.timestamp!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Response(Event):
    """A status line: ``+OK`` or ``-ERR`` with an optional ``[CODE]`` and text.

    Attributes:
        ok: ``True`` for ``+OK``.
        text: the text after the status indicator and code.
        code: an extended response code such as ``"IN-USE"`` or
            ``"SYS/TEMP"`` (RFC 2449 section 8, RFC 3206), without brackets.
    """

    ok: bool
    text: str = ""
    code: str | None = None

    def __post_init__(self) -> None:
        _check_text(self.text, "response text")
        _check_code(self.code)

    @classmethod
    def from_reply_hint(cls, hint: str | None) -> Response:
        """Build the ``-ERR`` response an error's ``reply_hint`` describes."""
        text = hint or "-ERR protocol error"
        ok = text.startswith("+OK")
        text = text[3 if ok else 4:].lstrip(" ")
        code = None
        match = re.match(r"\[([^\]\s]+)\]\s*", text)
        if match and _RESP_CODE_RE.fullmatch(match.group(1)):
            code = match.group(1)
            text = text[match.end():]
        return cls(ok=ok, text=text.replace("\r", " ").replace("\n", " ").replace("\0", " "), code=code)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthChallenge(Event):
    """A server's SASL challenge ``+ base64`` (RFC 5034 section 4), decoded."""

    data: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise LocalProtocolError("AuthChallenge data must be bytes")


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanListing(Event):
    """One line of a multi-line LIST answer: ``msg size`` (RFC 1939 section 5)."""

    message_number: int
    size: int

    def __post_init__(self) -> None:
        _check_number(self.message_number, "message number")
        _check_number(self.size, "message size", minimum=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class UniqueIdListing(Event):
    """One line of a multi-line UIDL answer: ``msg unique-id`` (RFC 1939 section 7)."""

    message_number: int
    unique_id: str

    def __post_init__(self) -> None:
        _check_number(self.message_number, "message number")
        if not isinstance(self.unique_id, str) or not _UNIQUE_ID_RE.fullmatch(self.unique_id):
            raise LocalProtocolError(
                f"unique-id must be 1-70 characters 0x21-0x7E (RFC 1939 section 7), got {self.unique_id!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Capability(Event):
    """One line of a CAPA answer (RFC 2449 section 5): a tag and its parameters."""

    name: str
    arguments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _CAPA_TAG_RE.fullmatch(self.name):
            raise LocalProtocolError(f"capability name must be printable ASCII, got {self.name!r}")
        for argument in self.arguments:
            _check_argument(argument, "capability argument")


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageChunk(Event):
    """A piece of a RETR or TOP body.

    Sending (server): any slice of the message as stored, CRLF or LF line
    endings; the machine converts line endings to CRLF and byte-stuffs.
    Receiving (client): the unstuffed bytes with CRLF line endings, in pieces
    that end where the received data ended (a line may span chunks).
    """

    data: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.data, (bytes, bytearray, memoryview)):
            raise LocalProtocolError("MessageChunk data must be bytes")

    def __repr__(self) -> str:
        return f"MessageChunk(<{len(self.data)} bytes>)"


@dataclass(frozen=True, slots=True, kw_only=True)
class EndOfMultiline(Event):
    """The ``.`` line that ends a multi-line answer (RFC 1939 section 3)."""


class ResponseError(RfcmailError):
    """A POP3 server answered ``-ERR`` (client adapters raise it).

    Attributes:
        response: the server's :class:`Response`, with its ``code``
            (``"IN-USE"``, ``"AUTH"``, ``"SYS/TEMP"``, ...) and text.
        command: the name of the command that was refused.
    """

    def __init__(self, response: Response, command: str = "") -> None:
        code = f"[{response.code}] " if response.code else ""
        super().__init__(f"{command or 'command'} refused: -ERR {code}{response.text}")
        self.response = response
        self.command = command
