"""The events of an SMTP or LMTP conversation, used for sending and receiving.

One class per protocol noun: commands of RFC 5321 section 4.1 (``Ehlo``,
``Mail``, ``Rcpt``, ``Data``, ...), the extension commands (``Bdat`` of RFC
3030, ``StartTLS`` of RFC 3207, ``Auth`` of RFC 4954, ``Lhlo`` of RFC 2033),
message content (``MessageChunk``, ``EndOfMessage``), replies (``Reply``, RFC
5321 section 4.2, and ``AuthChallenge``, the 334 of RFC 4954 section 4) and
what the machine reports about its peer (``BadCommand``, ``MessageRejected``,
``DiscardedPlaintext``, ``ConnectionClosed``).

Every event is a frozen, slotted, keyword-only dataclass. Constructors check
their arguments: a CR, LF or NUL, or anything the grammar forbids, raises
:class:`~rfcmail.errors.LocalProtocolError`, so that a caller's string never
puts an extra command on the wire (SECURITY A3.1, CPython bpo-43124).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar, Union

from ..errors import LocalProtocolError
from ._abnf import (
    ESMTP_KEYWORD_RE,
    ESMTP_VALUE_RE,
    is_mailbox,
)
from ._replies import STANDARD_REPLIES, EnhancedStatus

__all__ = [
    "Auth",
    "AuthCancel",
    "AuthChallenge",
    "AuthResponse",
    "BadCommand",
    "Bdat",
    "ConnectionClosed",
    "Data",
    "DiscardedPlaintext",
    "Ehlo",
    "EndOfChunk",
    "EndOfMessage",
    "Event",
    "Expn",
    "Helo",
    "Help",
    "Lhlo",
    "Mail",
    "MessageChunk",
    "MessageRejected",
    "Noop",
    "Params",
    "Quit",
    "Rcpt",
    "Reply",
    "Rset",
    "StartTLS",
    "Vrfy",
]

Params = tuple[tuple[str, Union[str, None]], ...]
"""ESMTP parameters in order: ``(("SIZE", "1024"), ("SMTPUTF8", None))``."""

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_HELLO_RE = re.compile(r"[^\x00-\x20\x7f]{1,255}\Z")
_MECHANISM_RE = re.compile(r"[A-Z0-9_-]{1,20}\Z")
_TEXT_RE = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*\Z")


class Event:
    """Base class of every SMTP event."""

    __slots__ = ()


def _check_no_controls(value: str, what: str) -> None:
    if not isinstance(value, str):
        raise LocalProtocolError(f"{what} must be a str, not {type(value).__name__}")
    if _CONTROL_RE.search(value):
        raise LocalProtocolError(f"{what} contains a control character (CR, LF, NUL ...): {value!r}")


def _normalise_params(params: object, what: str) -> Params:
    items: Iterable[object]
    if isinstance(params, Mapping):
        items = params.items()
    elif isinstance(params, (tuple, list)):
        items = params
    else:
        raise LocalProtocolError(f"{what} parameters must be a mapping or a sequence of pairs")
    result: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, tuple) or len(item) != 2:
            raise LocalProtocolError(f"{what} parameter must be a (keyword, value) pair: {item!r}")
        keyword, value = item
        if not isinstance(keyword, str) or not ESMTP_KEYWORD_RE.match(keyword):
            raise LocalProtocolError(f"{what} parameter keyword is not an esmtp-keyword: {keyword!r}")
        keyword = keyword.upper()
        if keyword in seen:
            raise LocalProtocolError(f"{what} parameter {keyword} given twice")
        seen.add(keyword)
        if value is not None:
            if not isinstance(value, str) or not ESMTP_VALUE_RE.match(value):
                raise LocalProtocolError(
                    f"{what} parameter {keyword} value is not an esmtp-value "
                    f"(RFC 5321 section 4.1.2: no SP, '=' or control characters): {value!r}"
                )
        result.append((keyword, value))
    return tuple(result)


_E = TypeVar("_E", bound="Event")


def trusted(cls: type[_E], **fields: object) -> _E:
    """Build an event without running its checks: only for values a reader has
    just parsed with the same grammar (the hot path of a server)."""
    event = object.__new__(cls)
    for name, value in fields.items():
        object.__setattr__(event, name, value)
    return event


def _param(params: Params, name: str) -> str | None:
    name = name.upper()
    for keyword, value in params:
        if keyword == name:
            return value
    return None


def _has_param(params: Params, name: str) -> bool:
    name = name.upper()
    return any(keyword == name for keyword, _ in params)


class _WithParams:
    """Parameter access shared by MAIL and RCPT."""

    __slots__ = ()
    params: Params

    def param(self, name: str) -> str | None:
        """The value of parameter ``name`` (``None`` when absent or valueless)."""
        return _param(self.params, name)

    def has_param(self, name: str) -> bool:
        """Whether parameter ``name`` was given."""
        return _has_param(self.params, name)


# --- session commands (RFC 5321 section 4.1.1) -------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Hello(Event):
    domain: str

    def __post_init__(self) -> None:
        _check_no_controls(self.domain, f"{type(self).__name__} domain")
        # RFC 5321 section 4.1.1.1 asks for a Domain or an address literal;
        # deployed clients send other names (underscores, bare host names)
        # and RFC 5321 section 4.1.4 forbids refusing mail for a mismatch, so
        # only what would break the framing is refused here.
        if not _HELLO_RE.match(self.domain):
            raise LocalProtocolError(
                f"{type(self).__name__} domain must be 1 to 255 visible characters: {self.domain!r}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Ehlo(_Hello):
    """``EHLO domain``: extended hello (RFC 5321 section 4.1.1.1)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Helo(_Hello):
    """``HELO domain``: plain hello, no service extensions (RFC 5321 section 4.1.1.1)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Lhlo(_Hello):
    """``LHLO domain``: the LMTP hello (RFC 2033 section 4.1)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Mail(_WithParams, Event):
    """``MAIL FROM:<reverse-path> [params]`` (RFC 5321 section 4.1.1.2).

    Attributes:
        reverse_path: the sender mailbox, or ``""`` for the null reverse
            path ``<>`` (bounces, RFC 5321 section 4.5.5). A source route
            received from the peer is dropped (RFC 5321 appendix F.2).
        params: ESMTP parameters, keywords upper-cased (a mapping is accepted
            and turned into pairs). See :func:`~rfcmail.smtp.mail_params_for`.
    """

    reverse_path: str
    params: Params = ()

    def __post_init__(self) -> None:
        _check_no_controls(self.reverse_path, "MAIL reverse path")
        if self.reverse_path and not is_mailbox(self.reverse_path):
            raise LocalProtocolError(
                f"MAIL reverse path is not a mailbox (RFC 5321 section 4.1.2): {self.reverse_path!r}"
            )
        object.__setattr__(self, "params", _normalise_params(self.params, "MAIL"))

    @property
    def size(self) -> int | None:
        """The declared message size (RFC 1870 ``SIZE=``), if any and valid."""
        value = self.param("SIZE")
        if value is None or not value.isdigit() or not value.isascii():
            return None
        return int(value)

    @property
    def body(self) -> str | None:
        """``7BIT``, ``8BITMIME`` or ``BINARYMIME`` (RFC 6152, RFC 3030), upper-cased."""
        value = self.param("BODY")
        return None if value is None else value.upper()

    @property
    def smtputf8(self) -> bool:
        """Whether the ``SMTPUTF8`` parameter was given (RFC 6531 section 3.4)."""
        return self.has_param("SMTPUTF8")


@dataclass(frozen=True, slots=True, kw_only=True)
class Rcpt(_WithParams, Event):
    """``RCPT TO:<forward-path> [params]`` (RFC 5321 section 4.1.1.3).

    Attributes:
        forward_path: the recipient mailbox, or ``"Postmaster"`` (any case)
            for the local postmaster without a domain.
        params: ESMTP parameters (NOTIFY and ORCPT of RFC 3461 ...).
    """

    forward_path: str
    params: Params = ()

    def __post_init__(self) -> None:
        _check_no_controls(self.forward_path, "RCPT forward path")
        if self.forward_path.lower() != "postmaster" and not is_mailbox(self.forward_path):
            raise LocalProtocolError(
                f"RCPT forward path is not a mailbox (RFC 5321 section 4.1.2): {self.forward_path!r}"
            )
        object.__setattr__(self, "params", _normalise_params(self.params, "RCPT"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Data(Event):
    """``DATA`` (RFC 5321 section 4.1.1.4); content follows the 354 reply."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Bdat(Event):
    """``BDAT size [LAST]`` (RFC 3030 section 2): a chunk of exactly ``size`` octets follows.

    The chunk travels as :class:`MessageChunk` events (no dot-stuffing); after
    the ``LAST`` chunk an :class:`EndOfMessage` follows.
    """

    size: int
    last: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise LocalProtocolError(f"BDAT size must be a non-negative int, not {self.size!r}")
        if self.size >= 10**20:
            raise LocalProtocolError("BDAT size must have at most 20 digits")


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageChunk(Event):
    """A piece of message content.

    Received: already dot-unstuffed (DATA) and bounded by what was received;
    a message arrives as many chunks, never whole. Sent: the machine
    normalises line endings to CRLF and dot-stuffs (RFC 5321 section 4.5.2)
    in DATA, and sends the bytes as they are in BDAT.
    """

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class EndOfMessage(Event):
    """The end of the message content: ``CRLF.CRLF`` after DATA, or the end of ``BDAT LAST``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EndOfChunk(Event):
    """The data of a BDAT chunk without LAST is complete (server role): reply to it now.

    The server receives ``Bdat``, the chunk as ``MessageChunk`` events, then
    this; a ``BDAT ... LAST`` ends with :class:`EndOfMessage` instead.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class Rset(Event):
    """``RSET`` (RFC 5321 section 4.1.1.5): abort the mail transaction."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _ArgumentCommand(Event):
    argument: str = ""

    def __post_init__(self) -> None:
        _check_no_controls(self.argument, f"{type(self).__name__} argument")
        if self.argument != self.argument.strip(" "):
            raise LocalProtocolError(f"{type(self).__name__} argument has leading or trailing spaces")


@dataclass(frozen=True, slots=True, kw_only=True)
class Noop(_ArgumentCommand):
    """``NOOP [string]`` (RFC 5321 section 4.1.1.9)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Help(_ArgumentCommand):
    """``HELP [string]`` (RFC 5321 section 4.1.1.8)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Vrfy(_ArgumentCommand):
    """``VRFY string`` (RFC 5321 section 4.1.1.6); refused with 252 by default (SECURITY A6.5)."""

    def __post_init__(self) -> None:
        _ArgumentCommand.__post_init__(self)
        if not self.argument:
            raise LocalProtocolError("VRFY needs an argument")


@dataclass(frozen=True, slots=True, kw_only=True)
class Expn(_ArgumentCommand):
    """``EXPN string`` (RFC 5321 section 4.1.1.7); not implemented by default (SECURITY A6.5)."""

    def __post_init__(self) -> None:
        _ArgumentCommand.__post_init__(self)
        if not self.argument:
            raise LocalProtocolError("EXPN needs an argument")


@dataclass(frozen=True, slots=True, kw_only=True)
class Quit(Event):
    """``QUIT`` (RFC 5321 section 4.1.1.10)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTLS(Event):
    """``STARTTLS`` (RFC 3207 section 4); after its 220 the machine returns PAUSED."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Auth(Event):
    """``AUTH mechanism [initial-response]`` (RFC 4954 section 4).

    Attributes:
        mechanism: the SASL mechanism name, upper-cased (RFC 4422 section 3.1).
        initial_response: raw bytes (the machine does the base64); ``b""``
            is sent as ``=``; ``None`` means no initial response.
    """

    mechanism: str
    initial_response: bytes | None = None

    def __post_init__(self) -> None:
        _check_no_controls(self.mechanism, "AUTH mechanism")
        object.__setattr__(self, "mechanism", self.mechanism.upper())
        if not _MECHANISM_RE.match(self.mechanism):
            raise LocalProtocolError(f"not a SASL mechanism name (RFC 4422 section 3.1): {self.mechanism!r}")
        if self.initial_response is not None and not isinstance(self.initial_response, bytes):
            raise LocalProtocolError("AUTH initial response must be bytes or None")


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthResponse(Event):
    """A client's SASL response line (raw bytes; base64 on the wire, RFC 4954 section 4)."""

    data: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise LocalProtocolError("AuthResponse data must be bytes")


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthCancel(Event):
    """The client's ``*`` line: cancel the SASL exchange (RFC 4954 section 4)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthChallenge(Event):
    """A server's SASL challenge: the ``334`` reply with base64 data (RFC 4954 section 4).

    Attributes:
        data: the raw challenge bytes (the machine does the base64).
    """

    data: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise LocalProtocolError("AuthChallenge data must be bytes")


# --- replies (RFC 5321 section 4.2) ----------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply(Event):
    """A server reply, single or multi-line (RFC 5321 section 4.2.1).

    Attributes:
        code: the three-digit reply code, 200 to 599.
        lines: the text of each line, without code, separator or enhanced
            code (an empty tuple writes a bare code).
        enhanced: the RFC 3463 enhanced status code; written at the start of
            every line when the server advertises ENHANCEDSTATUSCODES (RFC
            2034 section 3); when received, recognised only if every line
            starts with the same code of the reply's class.
        command: on a received reply, the command it answers (a ``Mail``, a
            ``Rcpt`` for each LMTP per-recipient reply, ``None`` for the
            greeting). Ignored when sending and in comparisons.
    """

    code: int
    lines: tuple[str, ...] = ()
    enhanced: EnhancedStatus | None = None
    command: Event | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.code, bool) or not isinstance(self.code, int) or not 200 <= self.code <= 599:
            raise LocalProtocolError(f"reply code must be an int 200..599, not {self.code!r}")
        lines: object = self.lines
        if isinstance(lines, str):
            object.__setattr__(self, "lines", (lines,))
        elif not isinstance(lines, tuple):
            if not isinstance(lines, Iterable):
                raise LocalProtocolError("reply lines must be a tuple of str")
            object.__setattr__(self, "lines", tuple(lines))
        for line in self.lines:
            if not isinstance(line, str) or not _TEXT_RE.match(line):
                raise LocalProtocolError(f"reply line contains a control character: {line!r}")
        if self.enhanced is not None and self.enhanced.klass != self.code // 100:
            raise LocalProtocolError(
                f"enhanced status {self.enhanced} does not match the class of reply code {self.code}"
            )

    @property
    def text(self) -> str:
        """The lines joined with LF (for logs and messages)."""
        return "\n".join(self.lines)

    @property
    def is_positive(self) -> bool:
        """2xx or 3xx."""
        return self.code < 400

    @property
    def is_completion(self) -> bool:
        """2xx: the command succeeded."""
        return self.code < 300

    @property
    def is_intermediate(self) -> bool:
        """3xx: more input is expected (354, 334)."""
        return 300 <= self.code < 400

    @property
    def is_transient(self) -> bool:
        """4xx: failed, may succeed if tried again."""
        return 400 <= self.code < 500

    @property
    def is_permanent(self) -> bool:
        """5xx: failed for good."""
        return self.code >= 500

    @classmethod
    def from_text(cls, text: str) -> Reply:
        """Build a reply from ``"550 5.7.1 Relaying denied"`` (a ``reply_hint``).

        Lines separated by LF become a multi-line reply; an enhanced code
        right after the reply code is recognised.

        Raises:
            LocalProtocolError: ``text`` does not start with a reply code.
        """
        first, _, rest = text.partition(" ")
        if len(first) != 3 or not first.isdigit():
            raise LocalProtocolError(f"reply text must start with a three-digit code: {text!r}")
        code = int(first)
        enhanced = None
        head, sep, tail = rest.partition(" ")
        candidate = EnhancedStatus.maybe_parse(head)
        if candidate is not None and candidate.klass == code // 100:
            enhanced = candidate
            rest = tail
        return cls(code=code, lines=tuple(rest.split("\n")), enhanced=enhanced)

    @classmethod
    def standard(cls, name: str, *, text: str | None = None) -> Reply:
        """One of the standard replies (see ``STANDARD_REPLIES``), optionally with other text."""
        code, enhanced, default = STANDARD_REPLIES[name]
        return cls(
            code=code,
            lines=(text if text is not None else default,),
            enhanced=EnhancedStatus.parse(enhanced) if enhanced else None,
        )

    def __str__(self) -> str:
        prefix = f"{self.code} {self.enhanced} " if self.enhanced else f"{self.code} "
        return prefix + " / ".join(self.lines)


# --- what the machine reports ------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BadCommand(Event):
    """The peer sent a command the server must refuse (server role only).

    The machine checked syntax and sequence itself; the connection goes on.
    Send ``reply_hint`` (or another failure reply).

    Attributes:
        line: the offending line as received (cut at the line limit).
        reason: what was wrong.
        reply_hint: the reply to send (500, 501, 502, 503, 504, 530, 538, 555 ...).
    """

    line: bytes
    reason: str
    reply_hint: Reply


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRejected(Event):
    """The message content broke a rule; comes instead of :class:`EndOfMessage` (server role).

    Emitted at the end of the content (the terminator or the last BDAT
    chunk) when the machine already knows the message must be refused: a
    bare CR or LF under the ``"reject"`` policy (SECURITY A1.1/A1.2), a line
    over ``max_text_line``, more than ``max_message_size`` octets (SECURITY
    A1.7). Content after the fault was discarded, not buffered. The reply must
    be a failure (the machine refuses a 2xx here).

    Attributes:
        reason: what was wrong.
        reply_hint: the reply to send (``550 5.6.11``, ``552 5.3.4``, ``500 5.5.2``).
    """

    reason: str
    reply_hint: Reply


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscardedPlaintext(Event):
    """Plaintext that arrived after STARTTLS and before the TLS handshake (server role).

    It was dropped, never executed (SECURITY A2.1, CVE-2011-0411); report it.
    ``data`` holds at most the first 64 KiB; anything beyond is dropped unseen.
    """

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed(Event):
    """The peer closed the connection (``receive_data(b"")``)."""
