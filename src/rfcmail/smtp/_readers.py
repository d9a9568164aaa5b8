"""Readers: wire bytes to SMTP events.

Server side: one command line (RFC 5321 section 4.1.1, with the extension
commands of RFC 3030, 3207, 4954 and 2033) becomes an event, or a
:class:`Refusal` naming the standard reply the peer gets. Client side:
reply lines (RFC 5321 section 4.2.1) are gathered into a
:class:`~rfcmail.smtp.Reply`, with the enhanced status code of RFC 2034
section 3 recognised on each line.

Readers never see more than one line and never decide state; the
connection applies sequence rules from the tables in ``_state.py``.
"""

from __future__ import annotations

import base64
import binascii
import re

from ..errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from ._abnf import PathSyntaxError, parse_path_and_params
from ._events import Auth, AuthCancel, AuthResponse, Bdat, Event, Mail, Params, Rcpt, Reply, trusted
from ._replies import EnhancedStatus

__all__ = [
    "Refusal",
    "ReplyReader",
    "decode_base64",
    "parse_auth",
    "parse_auth_line",
    "parse_bdat",
    "parse_mail",
    "parse_rcpt",
    "split_command",
]

_VERB_RE = re.compile(rb"([A-Za-z]{1,16})(?: (.*))?\Z", re.DOTALL)
_BDAT_RE = re.compile(r"([0-9]{1,20})(?: +(LAST))? *\Z", re.IGNORECASE)
_AUTH_RE = re.compile(r"([A-Za-z0-9_-]{1,20})(?: +([^ ]+))? *\Z")
_BASE64_RE = re.compile(rb"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z")
_REPLY_RE = re.compile(rb"([2-5][0-9][0-9])(?:([ -])(.*))?\Z", re.DOTALL)
_CONTROLS_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class Refusal(Exception):
    """A command the server refuses: the standard reply name and the reason."""

    def __init__(self, reply_name: str, reason: str) -> None:
        super().__init__(reason)
        self.reply_name = reply_name
        self.reason = reason


def split_command(content: bytes) -> tuple[str, str | None]:
    """Split a command line (ending removed) into the upper-cased verb and its argument.

    Trailing spaces are dropped (some clients send ``DATA `` ); the argument
    is decoded as UTF-8 (RFC 6531 allows it in paths).

    Raises:
        Refusal: no verb, a NUL or CR, or bytes that are not UTF-8.
    """
    if b"\x00" in content or b"\r" in content:
        raise Refusal("bare_lf_command" if b"\r" in content else "syntax_error",
                      "command line contains a NUL or a bare CR")
    match = _VERB_RE.match(content.rstrip(b" "))
    if match is None:
        raise Refusal("syntax_error", "no command verb")
    verb = match[1].decode("ascii").upper()
    raw_arg = match[2]
    if raw_arg is None:
        return verb, None
    try:
        argument = raw_arg.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refusal("syntax_error", "command argument is not UTF-8") from exc
    return verb, argument


def _path_argument(argument: str | None, prefix: str, verb: str, *, reverse: bool) -> tuple[str, Params]:
    if argument is None or argument[: len(prefix)].upper() != prefix:
        raise Refusal("bad_arguments", f"{verb}: expected {prefix}<path>")
    try:
        return parse_path_and_params(argument[len(prefix):], allow_null=reverse, allow_postmaster=not reverse)
    except PathSyntaxError as exc:
        raise Refusal("bad_arguments", f"{verb}: {exc}") from exc


def parse_mail(argument: str | None) -> Mail:
    """``MAIL FROM:<reverse-path> [params]`` (RFC 5321 section 4.1.1.2).

    Raises:
        Refusal: malformed path or parameters (501 5.5.4).
    """
    path, params = _path_argument(argument, "FROM:", "MAIL", reverse=True)
    # The path grammar is the one Mail checks: build it without checking twice.
    return trusted(Mail, reverse_path=path, params=params)


def parse_rcpt(argument: str | None) -> Rcpt:
    """``RCPT TO:<forward-path> [params]`` (RFC 5321 section 4.1.1.3).

    Raises:
        Refusal: malformed path or parameters (501 5.5.4).
    """
    path, params = _path_argument(argument, "TO:", "RCPT", reverse=False)
    return trusted(Rcpt, forward_path=path, params=params)


def parse_bdat(argument: str | None) -> Bdat | None:
    """``BDAT chunk-size [SP "LAST"]`` (RFC 3030 section 2); ``None`` when malformed.

    A malformed BDAT cannot be framed (where its chunk ends is unknown), so
    the caller must close the connection.
    """
    if argument is None:
        return None
    match = _BDAT_RE.match(argument)
    if match is None:
        return None
    return Bdat(size=int(match[1]), last=match[2] is not None)


def decode_base64(data: bytes) -> bytes | None:
    """Strict base64 (RFC 4954 section 4: reject any other character or misplaced '='); ``None`` if invalid."""
    if not _BASE64_RE.match(data):
        return None
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:  # pragma: no cover - the pattern already checked
        return None


def parse_auth(argument: str | None) -> Auth:
    """``AUTH mechanism [initial-response]`` (RFC 4954 section 4).

    Raises:
        Refusal: malformed (501 5.5.4) or undecodable initial response (501 5.5.2).
    """
    if argument is None:
        raise Refusal("bad_arguments", "AUTH needs a mechanism")
    match = _AUTH_RE.match(argument)
    if match is None:
        raise Refusal("bad_arguments", "malformed AUTH arguments")
    initial: bytes | None = None
    if match[2] is not None:
        if match[2] == "=":
            initial = b""
        else:
            initial = decode_base64(match[2].encode("ascii", "replace"))
            if initial is None:
                raise Refusal("bad_base64", "AUTH initial response is not base64")
    return Auth(mechanism=match[1], initial_response=initial)


def parse_auth_line(content: bytes) -> Event:
    """A client's line during a SASL exchange: ``*`` or base64 (RFC 4954 section 4).

    Raises:
        Refusal: not base64 (501 5.5.2).
    """
    if content == b"*":
        return AuthCancel()
    data = decode_base64(content)
    if data is None:
        raise Refusal("bad_base64", "SASL response is not base64")
    return AuthResponse(data=data)


class ReplyReader:
    """Gathers reply lines into a :class:`Reply` (client side).

    Args:
        max_lines: most lines in one reply.
    """

    __slots__ = ("_code", "_lines", "_max_lines")

    def __init__(self, max_lines: int) -> None:
        self._code: int | None = None
        self._lines: list[str] = []
        self._max_lines = max_lines

    def feed_line(self, line: bytes) -> Reply | None:
        """Add one line (its ending removed); return the reply once its last line came.

        Raises:
            RemoteProtocolError: not a reply line, or the code changed between lines.
            LimitExceeded: more than ``max_lines`` lines.
        """
        match = _REPLY_RE.match(line)
        if match is None:
            raise RemoteProtocolError(f"malformed reply line: {line[:80]!r}")
        code = int(match[1])
        if self._code is None:
            self._code = code
        elif code != self._code:
            raise RemoteProtocolError(f"reply code changed from {self._code} to {code} in a multi-line reply")
        text = (match[3] or b"").decode("utf-8", "replace")
        text = _CONTROLS_RE.sub("\ufffd", text)
        self._lines.append(text)
        if len(self._lines) > self._max_lines:
            raise LimitExceeded("max_reply_lines", self._max_lines, len(self._lines), what="reply line count")
        if match[2] == b"-":
            return None
        lines, self._lines, self._code = self._lines, [], None
        return _make_reply(code, lines)


def _make_reply(code: int, lines: list[str]) -> Reply:
    # RFC 2034 section 3: with ENHANCEDSTATUSCODES every line starts with the
    # code; a reply where some line does not is read as plain text.
    first_head = lines[0].split(" ", 1)[0]
    candidate = EnhancedStatus.maybe_parse(first_head)
    if candidate is None or candidate.klass != code // 100:
        return Reply(code=code, lines=tuple(lines))
    stripped = []
    for text in lines:
        head, _, rest = text.partition(" ")
        if head != first_head:
            return Reply(code=code, lines=tuple(lines))
        stripped.append(rest)
    return Reply(code=code, lines=tuple(stripped), enhanced=candidate)
