"""The sans-IO SMTP/LMTP connection, client and server.

One :class:`Connection` plays one side of one conversation. It never does
I/O: the caller feeds received bytes with :meth:`Connection.receive_data`,
takes events from :meth:`Connection.next_event` and gets the bytes to write
from :meth:`Connection.send`. RFCs: 5321 (SMTP), 2920 (PIPELINING), 1870
(SIZE), 6152 (8BITMIME), 6531 (SMTPUTF8), 3207 (STARTTLS), 4954 (AUTH), 2034
and 3463 (enhanced status codes), 3461 (DSN), 3030 (CHUNKING, BINARYMIME),
2033 (LMTP).

The server replies to one command before it reads the next: after each
command event, ``next_event()`` returns :data:`PAUSED` until the reply is
sent. Replies still go out in order and may be written in batches
(PIPELINING, RFC 2920 section 3.2: flush when ``next_event()`` says
:data:`NEED_DATA`), and the machine knows the outcome of every command
before it judges the next one, which is what keeps pipelined input from
running ahead of a STARTTLS, a DATA or a failed BDAT.
"""

from __future__ import annotations

from collections import deque

from .._receivebuffer import LineEnding, ReceiveBuffer, split_line
from ..errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from ._data import DataReceiver, DotStuffer
from ._dsn import parse_envid, parse_notify, parse_orcpt, parse_ret, xtext_decode
from ._events import (
    Auth,
    AuthCancel,
    AuthChallenge,
    AuthResponse,
    BadCommand,
    Bdat,
    ConnectionClosed,
    Data,
    DiscardedPlaintext,
    Ehlo,
    EndOfChunk,
    EndOfMessage,
    Event,
    Expn,
    Helo,
    Help,
    Lhlo,
    Mail,
    MessageChunk,
    MessageRejected,
    Noop,
    Quit,
    Rcpt,
    Reply,
    Rset,
    StartTLS,
    Vrfy,
)
from ._extensions import Extensions
from ._readers import (
    Refusal,
    ReplyReader,
    decode_base64,
    parse_auth,
    parse_auth_line,
    parse_bdat,
    parse_mail,
    parse_rcpt,
    split_command,
)
from ._replies import hint_text
from ._state import (
    CLIENT,
    COMMANDS,
    GROUP_ENDERS,
    NEED_DATA,
    OUTCOMES,
    PAUSED,
    SERVER,
    TRANSACTION_STATES,
    Opening,
    Outcome,
    Role,
    Sentinel,
    State,
)
from ._writers import write_auth_challenge, write_command, write_reply
from .config import Config

__all__ = ["Connection"]

# Hot-path constants: identity tests against these are cheaper than
# attribute lookups and isinstance chains on every command.
_CLOSED, _DATA, _AUTH, _READY, _STARTTLS = State.CLOSED, State.DATA, State.AUTH, State.READY, State.STARTTLS
_COMPLETED, _INTERMEDIATE, _FAILED = Outcome.COMPLETED, Outcome.INTERMEDIATE, Outcome.FAILED
_HELLO_TYPES: frozenset[type[Event]] = frozenset({Ehlo, Helo, Lhlo})
_NO_ENHANCED_CODES: frozenset[type[Event]] = frozenset({Opening, Ehlo, Helo, Lhlo})
_FAILURE_ONLY: frozenset[type[Event]] = frozenset({BadCommand, MessageRejected, AuthCancel})
_TRANSACTION_OR_DATA = TRANSACTION_STATES | {State.DATA}
_DISCARD_REPORT_LIMIT = 64 * 1024

_NOT_IMPLEMENTED_VERBS = frozenset({"SEND", "SOML", "SAML", "TURN", "ETRN", "ATRN", "BURL", "XCLIENT", "XFORWARD"})
_NO_ARGUMENT_VERBS = {"DATA": Data, "RSET": Rset, "QUIT": Quit, "STARTTLS": StartTLS}
_HELLO_CLASSES: dict[str, type[Ehlo] | type[Helo] | type[Lhlo]] = {"EHLO": Ehlo, "HELO": Helo, "LHLO": Lhlo}

# Command line allowances of the service extensions (octets added to
# max_command_line): RFC 1870 section 3 (SIZE 26), RFC 4954 section 5 (AUTH=
# 500), RFC 3461 section 5.4 (ENVID 100 and RET 8 on MAIL, ORCPT and NOTIFY
# 530 on RCPT), RFC 6531 section 3.4 (SMTPUTF8 10), RFC 3030 section 3
# (BODY=BINARYMIME 16).
_SIZE_ALLOWANCE = 26
_AUTH_ALLOWANCE = 500
_DSN_MAIL_ALLOWANCE = 120
_DSN_RCPT_ALLOWANCE = 530
_SMTPUTF8_ALLOWANCE = 10
_BINARYMIME_ALLOWANCE = 16


_STANDARD_CACHE: dict[str, Reply] = {}
# id(reply) -> (reply, wire without enhanced code, wire with it): the standard
# replies are written once per process, not once per command.
_STANDARD_WIRE: dict[int, tuple[Reply, bytes, bytes]] = {}


def _standard(name: str) -> Reply:
    reply = _STANDARD_CACHE.get(name)
    if reply is None:
        reply = _STANDARD_CACHE[name] = Reply.standard(name)
        _STANDARD_WIRE[id(reply)] = (reply, write_reply(reply, enhanced=False), write_reply(reply, enhanced=True))
    return reply


_DEFAULT_REPLY_NAMES: dict[type[Event], str] = {
    Mail: "mail_ok", Rcpt: "rcpt_ok", Data: "start_data", EndOfMessage: "message_ok",
    Rset: "reset_ok", Noop: "noop_ok", Help: "help", Vrfy: "vrfy_refused",
    StartTLS: "start_tls", AuthCancel: "auth_cancelled", EndOfChunk: "chunk_ok",
}


def _write_reply(reply: Reply, enhanced: bool) -> bytes:
    cached = _STANDARD_WIRE.get(id(reply))
    if cached is not None and cached[0] is reply:
        return cached[2] if enhanced else cached[1]
    return write_reply(reply, enhanced=enhanced)


class Connection:
    """One side of an SMTP or LMTP conversation, without I/O.

    Args:
        our_role: :data:`CLIENT` or :data:`SERVER`.
        config: the configuration (extensions, limits, security defaults).
        implicit_tls: the transport is already TLS (port 465, RFC 8314):
            STARTTLS is not offered and AUTH may be.

    Server use::

        conn = Connection(our_role=SERVER, config=Config(hostname="mx.example"))
        out = conn.send(Reply(code=220, lines=("mx.example ESMTP",)))
        conn.receive_data(received)
        event = conn.next_event()   # Ehlo(...), then PAUSED until replied
        out = conn.send(conn.default_reply(event))

    Client use::

        conn = Connection(our_role=CLIENT)
        conn.receive_data(b"220 mx.example ESMTP\\r\\n")
        conn.next_event()           # Reply(code=220, ...)
        out = conn.send(Ehlo(domain="client.example"))
    """

    def __init__(self, our_role: Role, config: Config | None = None, *, implicit_tls: bool = False) -> None:
        if our_role not in (CLIENT, SERVER):
            raise ValueError("our_role must be CLIENT or SERVER")
        self.our_role = our_role
        self.their_role = SERVER if our_role is CLIENT else CLIENT
        self.config = config if config is not None else Config()
        self._limits = self.config.limits
        self._buffer = ReceiveBuffer()
        self._peer_closed = False
        self._close_reported = False
        self._tls = implicit_tls
        self._state = State.GREETING
        self._requested = State.GREETING
        self._our_error = False
        self._their_error = False
        self._pending: deque[Event] = deque([Opening()])
        self._hello: Event | None = None
        self._mail: Mail | None = None
        self._recipients: list[Rcpt] = []
        self._authenticated = False
        self._extensions = Extensions()
        self._early_talker = False
        # server counters
        self._commands = 0
        self._bad_commands = 0
        self._auth_failures = 0
        self._discarded: bytearray | None = None
        self._discarding_line = False
        self._data: DataReceiver | None = None
        self._message_size = 0
        self._chunk_remaining = 0
        self._chunk_command: Bdat | None = None
        self._chunk_discard = False
        self._deferred_event: Event | None = None
        self._lmtp_replies_due = 0
        # client
        self._reply_reader = ReplyReader(self.config.max_reply_lines)
        self._stuffer: DotStuffer | None = None
        self._lmtp_replies: deque[Rcpt] | None = None
        self._bdat_message_ended = False
        self._enhanced_ok = False
        self._auth_challenges = 0
        self._line_limit_cache: int | None = None
        self._verb_limits: dict[str, int] = {
            verb: self._verb_limit(verb) for verb in ("MAIL", "RCPT", "AUTH", "NOOP")
        }

    # ------------------------------------------------------------------ state

    @property
    def our_state(self) -> State:
        """Our side's state (see ``_state.py`` for what each role's state means)."""
        if self._our_error:
            return State.ERROR
        return self._state if self.our_role is SERVER else self._requested

    @property
    def their_state(self) -> State:
        """The peer's state as far as we know."""
        if self._their_error:
            return State.ERROR
        return self._requested if self.our_role is SERVER else self._state

    @property
    def buffered(self) -> int:
        """How many received bytes wait to be turned into events.

        An adapter that stops calling :meth:`next_event` while a handler runs
        uses it to stop reading from the peer once this passes its bound.
        """
        return len(self._buffer)

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """Received bytes not yet processed, and whether the peer has closed."""
        return bytes(self._buffer), self._peer_closed

    @property
    def extensions(self) -> Extensions:
        """Service extensions: what the server advertises now (server), what it advertised (client)."""
        if self.our_role is SERVER:
            return self._advertised()
        return self._extensions

    @property
    def authenticated(self) -> bool:
        """Whether an AUTH exchange succeeded (235) on this connection since the last reset."""
        return self._authenticated

    @property
    def tls_active(self) -> bool:
        """Whether the transport is TLS (implicit, or STARTTLS completed)."""
        return self._tls

    @property
    def hello(self) -> Ehlo | Helo | Lhlo | None:
        """The accepted EHLO, HELO or LHLO of this session, if any."""
        hello = self._hello
        return hello if isinstance(hello, (Ehlo, Helo, Lhlo)) else None

    @property
    def mail(self) -> Mail | None:
        """The accepted MAIL of the current transaction."""
        return self._mail

    @property
    def recipients(self) -> tuple[Rcpt, ...]:
        """The accepted recipients of the current transaction (LMTP: one reply each after the data)."""
        return tuple(self._recipients)

    @property
    def pending_commands(self) -> tuple[Event, ...]:
        """Commands still waiting for their reply, oldest first (the greeting counts as one)."""
        return tuple(e for e in self._pending)

    @property
    def early_talker(self) -> bool:
        """The peer sent data it had to wait for (server role).

        True once the client wrote before the greeting (RFC 5321 section
        4.3.1), or sent more after a command that must end a pipelined group
        or without PIPELINING in effect (RFC 2920 section 3.1). The machine
        still answers in order; refusing such peers is a policy choice.
        """
        return self._early_talker

    @property
    def recommended_timeout(self) -> float:
        """Seconds to wait for the peer now, as RFC 5321 section 4.5.3.2 recommends.

        The machine has no clock; adapters arm their timer with this after
        each event. Server: 5 minutes for a command, 3 minutes for each piece
        of message content. Client: 5 minutes for the greeting and for the
        replies to MAIL, RCPT and other commands, 2 minutes for the reply to
        DATA, 10 minutes for the reply after the end of the message.
        """
        if self.our_role is SERVER:
            return 180.0 if self._state is _DATA or self._chunk_remaining else 300.0
        if not self._pending:
            return 180.0 if self._state is _DATA else 300.0
        first = type(self._pending[0])
        if first is Data:
            return 120.0
        if first is EndOfMessage or (first is Bdat and self._pending[0].last):  # type: ignore[attr-defined]
            return 600.0
        return 300.0

    @property
    def message_size(self) -> int:
        """Content octets received (server) in the current message so far."""
        return self._message_size

    # -------------------------------------------------------------- receiving

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes received from the peer; ``b""`` means the peer closed.

        Raises:
            RuntimeError: data after the peer closed.
        """
        if not data:
            self._peer_closed = True
            return
        if self._peer_closed:
            raise RuntimeError("received data after the peer closed the connection")
        if self._state is State.STARTTLS:
            if self.our_role is SERVER:
                if self._discarded is None:
                    self._discarded = bytearray()
                # Report at most _DISCARD_REPORT_LIMIT octets: the rest is dropped unseen.
                room = _DISCARD_REPORT_LIMIT - len(self._discarded)
                if room > 0:
                    self._discarded += bytes(data[:room])
                return
        elif self.our_role is SERVER and self._state is State.GREETING:
            self._early_talker = True
        self._buffer += data

    def next_event(self) -> Event | Sentinel:
        """The next event from the peer, :data:`NEED_DATA` or :data:`PAUSED`.

        Raises:
            RemoteProtocolError: the peer broke the protocol beyond recovery
                (its side moves to ERROR; ``reply_hint`` says what a server
                should answer before closing).
            LimitExceeded: a limit was hit that ends the connection.
        """
        if self._their_error:
            raise RemoteProtocolError("the peer's side is already in ERROR")
        try:
            if self.our_role is SERVER:
                return self._server_next_event()
            return self._client_next_event()
        except (RemoteProtocolError, LimitExceeded):
            self._their_error = True
            raise

    # ---------------------------------------------------------------- sending

    def send(self, event: Event) -> bytes:
        """Return the bytes that send ``event``.

        Raises:
            LocalProtocolError: the event is not allowed now (wrong role,
                order or arguments); nothing was sent and the state is as it
                was.
        """
        if self._our_error:
            raise LocalProtocolError("our side is in ERROR")
        if self.our_role is SERVER:
            return self._server_send(event)
        return self._client_send(event)

    def send_failed(self) -> None:
        """Mark our side as broken (the transport failed while sending)."""
        self._our_error = True

    def tls_established(self) -> None:
        """Resume after the TLS handshake that followed STARTTLS.

        Both sides forget what they learnt before TLS (RFC 3207 section
        4.2, SECURITY A2.4): the session returns to before EHLO, the client's
        extensions are cleared, and any plaintext still buffered is dropped.

        Raises:
            LocalProtocolError: no STARTTLS was accepted.
        """
        if self._state is not State.STARTTLS:
            raise LocalProtocolError("tls_established() is only valid after the 220 reply to STARTTLS")
        self._tls = True
        self._state = self._requested = State.HELLO
        self._hello = None
        self._enhanced_ok = False
        self._authenticated = False
        self._extensions = Extensions()
        self._reset_transaction()
        self._buffer = ReceiveBuffer()

    # ================================================================= server

    def _advertised(self) -> Extensions:
        config = self.config
        pairs: list[tuple[str, tuple[str, ...]]] = []
        if config.pipelining:
            pairs.append(("PIPELINING", ()))
        if config.size:
            pairs.append(("SIZE", (str(self._limits.max_message_size),)))
        if config.eightbitmime:
            pairs.append(("8BITMIME", ()))
        if config.smtputf8:
            pairs.append(("SMTPUTF8", ()))
        if config.starttls and not self._tls:
            pairs.append(("STARTTLS", ()))
        if self._auth_offered():
            pairs.append(("AUTH", config.auth_mechanisms))
        if config.enhancedstatuscodes:
            pairs.append(("ENHANCEDSTATUSCODES", ()))
        if config.dsn:
            pairs.append(("DSN", ()))
        if config.chunking:
            pairs.append(("CHUNKING", ()))
            if config.binarymime:
                pairs.append(("BINARYMIME", ()))
        if config.help:
            pairs.append(("HELP", ()))
        return Extensions.build(*pairs)

    def _auth_offered(self) -> bool:
        config = self.config
        return bool(config.auth_mechanisms) and (self._tls or not config.require_tls_for_auth)

    def default_reply(self, event: Event) -> Reply:
        """The reply a server sends to ``event`` when it has nothing else to say.

        For :class:`BadCommand` and :class:`MessageRejected` it is their
        ``reply_hint``; for EHLO and LHLO the extension list of
        :attr:`extensions`; for VRFY the 252 of RFC 5321 section 3.5.3.
        Policy decisions (accepting a sender, a recipient, a message) are
        the application's: the default for them is acceptance.

        Raises:
            LocalProtocolError: ``event`` gets no reply (a MessageChunk ...).
        """
        name = _DEFAULT_REPLY_NAMES.get(type(event))
        if name is not None:
            return _standard(name)
        hostname = self.config.hostname
        if isinstance(event, (BadCommand, MessageRejected)):
            return event.reply_hint
        if isinstance(event, (Ehlo, Lhlo)):
            return Reply(code=250, lines=(f"{hostname} Hello {event.domain}", *self._advertised().lines()))
        if isinstance(event, Helo):
            return Reply(code=250, lines=(f"{hostname} Hello {event.domain}",))
        simple: dict[type[Event], str] = {
            Mail: "mail_ok", Rcpt: "rcpt_ok", Data: "start_data", EndOfMessage: "message_ok",
            Rset: "reset_ok", Noop: "noop_ok", Help: "help", Vrfy: "vrfy_refused", Quit: "quit",
            StartTLS: "start_tls", AuthCancel: "auth_cancelled", EndOfChunk: "chunk_ok",
        }
        name = simple.get(type(event))
        if name is None and isinstance(event, Bdat):
            name = "message_ok" if event.last else "chunk_ok"
        if name is None:
            raise LocalProtocolError(f"{type(event).__name__} has no default reply")
        if name == "quit":
            return Reply(code=221, lines=(f"{hostname} Bye",), enhanced=_standard("quit").enhanced)
        return _standard(name)

    def greeting(self, text: str | None = None) -> Reply:
        """The 220 greeting (RFC 5321 section 4.3.1): ``220 hostname ESMTP`` (or LMTP)."""
        kind = "LMTP" if self.config.lmtp else "ESMTP"
        return Reply(code=220, lines=(f"{self.config.hostname} {text or kind}",))

    @property
    def pending_reply_to(self) -> Event | None:
        """Server: the event the next reply answers, or ``None``."""
        return self._pending[0] if self._pending else None

    def _server_send(self, event: Event) -> bytes:
        kind = type(event)
        if kind is not Reply:
            if kind is AuthChallenge:
                pending = self._pending[0] if self._pending else None
                if type(pending) not in (Auth, AuthResponse) or self._their_error:
                    raise LocalProtocolError("AuthChallenge only answers AUTH or a SASL response")
                assert pending is not None
                self._apply_server_reply(pending, _INTERMEDIATE)
                return write_auth_challenge(event)  # type: ignore[arg-type]
            raise LocalProtocolError(f"a server sends replies, not {kind.__name__}")
        assert isinstance(event, Reply)
        code = event.code
        if not self._pending or self._their_error or self._state is _CLOSED:
            if self._state is _CLOSED:
                raise LocalProtocolError("the connection is closed")
            if code == 421 or (self._their_error and code >= 400):
                # RFC 5321 section 3.8: the server may close at any time with 421.
                self._state = self._requested = _CLOSED
                self._pending.clear()
                return _write_reply(event, self._enhanced_ok)
            raise LocalProtocolError("no command is waiting for a reply")
        pending = self._pending[0]
        pending_kind = type(pending)
        if code < 300:
            outcome = _COMPLETED
        elif code < 400:
            if code == 334:
                raise LocalProtocolError("send an AuthChallenge for a 334")
            if not (pending_kind is Data and code == 354):
                raise LocalProtocolError(f"a {code} reply does not answer {pending_kind.__name__}")
            outcome = _INTERMEDIATE
        else:
            outcome = _FAILED
        if pending_kind is Bdat:
            raise LocalProtocolError("reply to BDAT after its chunk: the EndOfChunk or EndOfMessage event")
        if outcome is not _FAILED and pending_kind in _FAILURE_ONLY:
            raise LocalProtocolError(f"{pending_kind.__name__} must be answered with a failure (4xx/5xx)")
        if pending_kind is StartTLS and outcome is _COMPLETED and code != 220:
            raise LocalProtocolError("STARTTLS is accepted with 220")
        if pending_kind is Opening and code not in (220, 554, 421):
            raise LocalProtocolError("the greeting is 220 (or 554 to refuse service)")
        data = _write_reply(event, self._enhanced_ok and pending_kind not in _NO_ENHANCED_CODES)
        if code == 421:
            self._state = self._requested = _CLOSED
            self._pending.clear()
            return data
        self._apply_server_reply(pending, outcome)
        return data

    def _apply_server_reply(self, pending: Event, outcome: Outcome) -> None:
        kind = type(pending)
        if (kind is EndOfMessage or kind is MessageRejected) and self._lmtp_replies_due > 1:
            self._lmtp_replies_due -= 1
            return
        self._lmtp_replies_due = 0
        before = self._state
        after = OUTCOMES.get((before, kind, outcome), before)
        self._pending.popleft()
        if outcome is _COMPLETED:
            if kind is Mail:
                self._mail = pending  # type: ignore[assignment]
                self._recipients = []
                self._message_size = 0
            elif kind is Rcpt:
                self._recipients.append(pending)  # type: ignore[arg-type]
            elif kind in _HELLO_TYPES:
                self._hello = pending
                self._enhanced_ok = self.config.enhancedstatuscodes and kind is not Helo
                self._reset_transaction()
            elif kind is Auth or kind is AuthResponse:
                self._authenticated = True
            elif kind is StartTLS:
                # Whatever followed STARTTLS in plaintext is never executed (A2.1).
                rest = self._buffer.extract_all()
                if rest:
                    self._discarded = bytearray(rest[:_DISCARD_REPORT_LIMIT])
        elif outcome is _FAILED:
            if kind is Auth or kind is AuthResponse or kind is AuthCancel or (kind is BadCommand and before is _AUTH):
                self._auth_failures += 1
        elif kind is Data:
            self._data = DataReceiver(
                normalize_bare_cr=self.config.bare_cr == "normalize",
                normalize_bare_lf=self.config.bare_lf == "normalize",
                max_line=self._limits.max_text_line,
                max_size=self._limits.max_message_size,
            )
        if after is _READY and before in _TRANSACTION_OR_DATA:
            self._reset_transaction()
        self._state = after
        self._requested = after

    def _reset_transaction(self) -> None:
        self._mail = None
        self._recipients = []
        self._data = None
        self._message_size = 0

    def _server_next_event(self) -> Event | Sentinel:
        if self._discarded:
            data = bytes(self._discarded)
            self._discarded = None
            return DiscardedPlaintext(data=data)
        state = self._state
        if state is _STARTTLS:
            return PAUSED
        if state is _CLOSED:
            return self._closed_event()
        if self._chunk_remaining:
            event = self._read_chunk()
            if event is not None:
                return event
            if self._chunk_remaining:
                return self._need_data()
        if self._deferred_event is not None:
            event, self._deferred_event = self._deferred_event, None
            return event
        if self._pending:
            return PAUSED
        if state is _DATA:
            event = self._read_data()
            return event if event is not None else self._need_data()
        if self._discarding_line:
            if not self._buffer.discard_line():
                return self._need_data()
            self._discarding_line = False
        if state is _AUTH:
            return self._read_auth_line()
        return self._read_command()

    def _need_data(self) -> Event | Sentinel:
        if self._peer_closed:
            return self._closed_event()
        return NEED_DATA

    def _closed_event(self) -> Event | Sentinel:
        if self._peer_closed:
            self._state = self._requested = State.CLOSED
            self._pending.clear()
            return ConnectionClosed()
        return PAUSED

    def _count_bad(self, event: BadCommand, *, counted: bool = True) -> BadCommand:
        if counted:
            self._bad_commands += 1
            if self._bad_commands > self._limits.max_bad_commands:
                raise LimitExceeded(
                    "max_bad_commands", self._limits.max_bad_commands, self._bad_commands,
                    what="bad command count", reply_hint=hint_text("too_many_errors"),
                )
        self._pending.append(event)
        return event

    def _refuse(self, line: bytes, name: str, reason: str, *, counted: bool = True) -> BadCommand:
        return self._count_bad(
            BadCommand(line=line[:512], reason=reason, reply_hint=_standard(name)), counted=counted
        )

    def _line_limit(self) -> int:
        limit = self._line_limit_cache
        if limit is None:
            limit = self._line_limit_cache = max(self._verb_limits[verb] for verb in ("MAIL", "RCPT", "AUTH"))
        return limit

    def _verb_limit(self, verb: str) -> int:
        limits = self._limits
        config = self.config
        if verb == "MAIL":
            extra = 0
            if config.size:
                extra += _SIZE_ALLOWANCE
            if config.auth_mechanisms:
                extra += _AUTH_ALLOWANCE
            if config.dsn:
                extra += _DSN_MAIL_ALLOWANCE
            if config.smtputf8:
                extra += _SMTPUTF8_ALLOWANCE
            if config.binarymime and config.chunking:
                extra += _BINARYMIME_ALLOWANCE
            return limits.max_command_line + extra
        if verb == "RCPT":
            return limits.max_command_line + (_DSN_RCPT_ALLOWANCE if config.dsn else 0)
        if verb == "AUTH" and config.auth_mechanisms:
            return limits.max_auth_line
        return limits.max_command_line

    def _read_line(self, limit: int, too_long: str) -> tuple[bytes, LineEnding] | BadCommand | None:
        try:
            line = self._buffer.maybe_extract_line(limit, limit_name="max_command_line")
        except LimitExceeded:
            head = self._buffer.peek(512)
            self._discarding_line = not self._buffer.discard_line()
            self._commands += 1
            return self._refuse(head, too_long, f"line longer than {limit} octets")
        if line is None:
            return None
        content, ending = split_line(line)
        return content, ending

    def _after_command(self, event: Event) -> None:
        # Bytes already waiting behind a command the client had to wait on
        # (RFC 2920 section 3.1), or any pipelining without PIPELINING.
        if len(self._buffer) and type(event) is not Bdat and type(event) is not StartTLS:
            pipelining = self.config.pipelining and type(self._hello) in (Ehlo, Lhlo)
            if not pipelining or type(event) in GROUP_ENDERS:
                self._early_talker = True

    def _read_command(self) -> Event | Sentinel:
        result = self._read_line(self._line_limit(), "line_too_long")
        if result is None:
            return self._need_data()
        if isinstance(result, BadCommand):
            return result
        content, ending = result
        self._commands += 1
        if self._commands > self._limits.max_commands:
            raise LimitExceeded(
                "max_commands", self._limits.max_commands, self._commands,
                what="command count", reply_hint=hint_text("too_many_commands"),
            )
        if ending is LineEnding.LF and self.config.bare_lf == "reject":
            return self._refuse(content, "bare_lf_command", "command line ended with a bare LF")
        try:
            verb, argument = split_command(content)
            limit = self._verb_limits.get(verb) or self._verb_limits["NOOP"]
            if len(content) + 2 > limit:
                raise Refusal("line_too_long", f"{verb} line longer than {limit} octets")
            event = self._parse_verb(verb, argument, content)
        except Refusal as refusal:
            return self._refuse(content, refusal.reply_name, refusal.reason,
                                counted=refusal.reply_name != "too_many_recipients")
        if event is None:
            return self._server_next_event()
        kind = type(event)
        if kind is BadCommand or kind is Bdat:
            return event
        self._after_command(event)
        self._requested = COMMANDS.get((self._state, kind), self._state)
        self._pending.append(event)
        return event

    def _check_sequence(self, event: Event) -> None:
        if (self._state, type(event)) in COMMANDS:
            return
        if self._state is State.REFUSED:
            raise Refusal("greeting_refused", "service was refused in the greeting")
        if self._state is State.MAIL and isinstance(event, (Data, Bdat)):
            raise Refusal("no_valid_recipients", f"{type(event).__name__.upper()} without an accepted recipient")
        if self._state is State.BDAT and isinstance(event, Data):
            raise Refusal("bad_sequence", "DATA inside a BDAT transaction (RFC 3030 section 2)")
        raise Refusal("bad_sequence", f"{type(event).__name__.upper()} not allowed in state {self._state.name}")

    def _parse_verb(self, verb: str, argument: str | None, content: bytes) -> Event | None:
        config = self.config
        if verb in _HELLO_CLASSES:
            if config.lmtp and verb != "LHLO":
                raise Refusal("lmtp_lhlo_only", f"{verb} on an LMTP server")
            if not config.lmtp and verb == "LHLO":
                raise Refusal("lhlo_smtp", "LHLO on an SMTP server")
            if not argument:
                raise Refusal("bad_arguments", f"{verb} needs a domain")
            try:
                hello: Event = _HELLO_CLASSES[verb](domain=argument.strip(" "))
            except LocalProtocolError as exc:
                raise Refusal("bad_arguments", str(exc)) from exc
            self._check_sequence(hello)
            return hello
        if verb == "MAIL":
            mail = parse_mail(argument)
            self._check_sequence(mail)
            self._check_mail(mail)
            return mail
        if verb == "RCPT":
            rcpt = parse_rcpt(argument)
            self._check_sequence(rcpt)
            self._check_rcpt(rcpt)
            return rcpt
        if verb == "BDAT":
            return self._parse_bdat(argument, content)
        if verb in _NO_ARGUMENT_VERBS:
            if argument:
                raise Refusal("bad_arguments", f"{verb} takes no argument")
            event = _NO_ARGUMENT_VERBS[verb]()
            if isinstance(event, StartTLS):
                if not config.starttls:
                    raise Refusal("not_implemented", "STARTTLS is not offered")
                if self._tls:
                    raise Refusal("tls_already_active", "TLS is already active")
            self._check_sequence(event)
            if isinstance(event, Data) and self._mail is not None and self._mail.body == "BINARYMIME":
                raise Refusal("binary_needs_bdat", "BODY=BINARYMIME needs BDAT (RFC 3030 section 3)")
            if isinstance(event, StartTLS) and self._buffer:
                # Pipelined after STARTTLS: will be discarded once the 220 goes out.
                self._early_talker = True
            return event
        if verb in ("NOOP", "HELP", "VRFY", "EXPN"):
            if verb == "HELP" and not config.help:
                raise Refusal("not_implemented", "HELP is not offered")
            if verb == "EXPN" and not config.expn:
                raise Refusal("not_implemented", "EXPN is disabled (RFC 5321 section 7.3)")
            if verb in ("VRFY", "EXPN") and not argument:
                raise Refusal("bad_arguments", f"{verb} needs an argument")
            cls = {"NOOP": Noop, "HELP": Help, "VRFY": Vrfy, "EXPN": Expn}[verb]
            try:
                event = cls(argument=(argument or "").strip(" "))
            except LocalProtocolError as exc:
                raise Refusal("bad_arguments", str(exc)) from exc
            self._check_sequence(event)
            return event
        if verb == "AUTH":
            return self._parse_auth(argument)
        if verb in _NOT_IMPLEMENTED_VERBS:
            raise Refusal("not_implemented", f"{verb} is not implemented")
        raise Refusal("syntax_error", f"unknown command {verb[:16]}")

    def _check_mail(self, mail: Mail) -> None:
        config = self.config
        if config.require_auth and not self._authenticated:
            raise Refusal("auth_required", "MAIL before authentication")
        for keyword, value in mail.params:
            if keyword == "SIZE" and config.size:
                if value is None or not value.isdigit() or not value.isascii() or len(value) > 20:
                    raise Refusal("bad_arguments", "SIZE needs a number (RFC 1870)")
                if int(value) > self._limits.max_message_size:
                    raise Refusal("size_exceeded_declared", f"declared SIZE {value} over the limit")
            elif keyword == "BODY" and (config.eightbitmime or (config.binarymime and config.chunking)):
                body = (value or "").upper()
                allowed = {"7BIT"}
                if config.eightbitmime:
                    allowed.add("8BITMIME")
                if config.binarymime and config.chunking:
                    allowed.add("BINARYMIME")
                if body not in allowed:
                    raise Refusal("bad_arguments", f"BODY={value} not supported")
            elif keyword == "SMTPUTF8" and config.smtputf8:
                if value is not None:
                    raise Refusal("bad_arguments", "SMTPUTF8 takes no value")
            elif keyword in ("RET", "ENVID") and config.dsn:
                try:
                    if value is None:
                        raise LocalProtocolError(f"{keyword} needs a value")
                    parse_ret(value) if keyword == "RET" else parse_envid(value)
                except LocalProtocolError as exc:
                    raise Refusal("bad_arguments", str(exc)) from exc
            elif keyword == "AUTH" and self._auth_offered():
                if value is None or (value != "<>" and not self._is_xtext(value)):
                    raise Refusal("bad_arguments", "AUTH= needs xtext or <>")
            else:
                raise Refusal("unknown_parameter", f"MAIL parameter {keyword} not supported")
        if not mail.reverse_path.isascii() and not (config.smtputf8 and mail.smtputf8):
            raise Refusal("utf8_needs_smtputf8", "non-ASCII reverse path without SMTPUTF8")

    @staticmethod
    def _is_xtext(value: str) -> bool:
        try:
            xtext_decode(value)
        except LocalProtocolError:
            return False
        return True

    def _check_rcpt(self, rcpt: Rcpt) -> None:
        config = self.config
        for keyword, value in rcpt.params:
            if keyword == "NOTIFY" and config.dsn:
                try:
                    parse_notify(value or "")
                except LocalProtocolError as exc:
                    raise Refusal("bad_arguments", str(exc)) from exc
            elif keyword == "ORCPT" and config.dsn:
                try:
                    parse_orcpt(value or "")
                except LocalProtocolError as exc:
                    raise Refusal("bad_arguments", str(exc)) from exc
            else:
                raise Refusal("unknown_parameter", f"RCPT parameter {keyword} not supported")
        smtputf8 = self._mail is not None and self._mail.smtputf8
        if not rcpt.forward_path.isascii() and not smtputf8:
            raise Refusal("utf8_needs_smtputf8", "non-ASCII forward path without SMTPUTF8")
        if len(self._recipients) >= self._limits.max_recipients:
            raise Refusal("too_many_recipients", f"more than max_recipients={self._limits.max_recipients}")

    def _parse_bdat(self, argument: str | None, content: bytes) -> Event | None:
        bdat = parse_bdat(argument)
        if bdat is None:
            raise RemoteProtocolError(
                "malformed BDAT: the chunk cannot be framed", reply_hint=hint_text("too_many_errors")
            )
        refusal: Refusal | None = None
        try:
            if not self.config.chunking:
                raise Refusal("not_implemented", "CHUNKING is not offered")
            self._check_sequence(bdat)
            if self._message_size + bdat.size > self._limits.max_message_size:
                raise Refusal("message_too_big", f"BDAT would exceed max_message_size={self._limits.max_message_size}")
        except Refusal as exc:
            refusal = exc
        self._chunk_remaining = bdat.size
        self._after_command(bdat)
        if refusal is not None:
            # RFC 3030 section 2: accept and discard the chunk, then reply.
            bad = self._refuse(content, refusal.reply_name, refusal.reason)
            self._chunk_command = None
            if not self._chunk_remaining:
                return bad
            self._chunk_discard = True
            self._deferred_event = bad
            return None
        self._chunk_discard = False
        self._chunk_command = bdat
        self._requested = COMMANDS[(self._state, Bdat)]
        self._pending.append(bdat)
        if bdat.size == 0:
            self._deferred_event = self._end_chunk()
        return bdat

    def _end_chunk(self) -> Event:
        # The size was checked against max_message_size when the BDAT came,
        # so an accepted chunk cannot overflow: it ends the chunk or the message.
        bdat = self._chunk_command
        assert bdat is not None
        self._chunk_command = None
        self._pending.popleft()
        end: Event
        if bdat.last:
            end = EndOfMessage()
            if self.config.lmtp:
                self._lmtp_replies_due = max(1, len(self._recipients))
        else:
            end = EndOfChunk()
        self._pending.appendleft(end)
        self._requested = COMMANDS[(State.BDAT, type(end))]
        self._after_command(end)
        return end

    def _read_chunk(self) -> Event | None:
        while self._chunk_remaining and self._buffer:
            piece = self._buffer.extract_at_most(self._chunk_remaining)
            self._chunk_remaining -= len(piece)
            if self._chunk_discard:
                continue
            self._message_size += len(piece)
            if not self._chunk_remaining:
                self._deferred_event = self._end_chunk()
            return MessageChunk(data=piece)
        if not self._chunk_remaining and self._chunk_discard:
            self._chunk_discard = False
        return None

    def _parse_auth(self, argument: str | None) -> Event:
        config = self.config
        if not config.auth_mechanisms:
            raise Refusal("not_implemented", "AUTH is not offered")
        if config.require_tls_for_auth and not self._tls:
            raise Refusal("encryption_required", "AUTH before TLS (RFC 4954 section 4)")
        if self._authenticated:
            raise Refusal("already_authenticated", "AUTH after a successful AUTH")
        if self._auth_failures >= self._limits.max_auth_failures:
            raise LimitExceeded(
                "max_auth_failures", self._limits.max_auth_failures, self._auth_failures + 1,
                what="authentication attempts", reply_hint=hint_text("too_many_auth_failures"),
            )
        auth = parse_auth(argument)
        if self._state is not State.READY:
            raise Refusal("bad_sequence", "AUTH is only allowed outside a mail transaction")
        if auth.mechanism not in config.auth_mechanisms:
            raise Refusal("unknown_mechanism", f"mechanism {auth.mechanism} not offered")
        return auth

    def _read_auth_line(self) -> Event | Sentinel:
        result = self._read_line(self._limits.max_auth_line, "auth_line_too_long")
        if result is None:
            return self._need_data()
        if isinstance(result, BadCommand):
            return result
        content, ending = result
        try:
            if ending is LineEnding.LF and self.config.bare_lf == "reject":
                raise Refusal("bare_lf_command", "SASL response ended with a bare LF")
            event = parse_auth_line(content)
        except Refusal as refusal:
            return self._refuse(content, refusal.reply_name, refusal.reason)
        self._requested = COMMANDS[(State.AUTH, type(event))]
        self._pending.append(event)
        return event

    def _read_data(self) -> Event | None:
        receiver = self._data
        assert receiver is not None
        buffer = self._buffer
        while buffer:
            content, finished, rest = receiver.feed(buffer.extract_all())
            self._message_size = receiver.size
            if finished:
                if rest:
                    self._buffer = ReceiveBuffer(rest)
                end: Event
                if receiver.fault is not None:
                    end = MessageRejected(reason=receiver.fault.reason, reply_hint=_standard(receiver.fault.reply_name))
                else:
                    end = EndOfMessage()
                if self.config.lmtp:
                    # RFC 2033 section 4.2: one reply per accepted recipient, refusals too.
                    self._lmtp_replies_due = max(1, len(self._recipients))
                self._pending.append(end)
                self._requested = State.READY
                self._after_command(end)
                if content:
                    self._deferred_event = end
                    return MessageChunk(data=content)
                return end
            if content:
                return MessageChunk(data=content)
        return None

    # ================================================================= client

    def _client_send(self, event: Event) -> bytes:
        if isinstance(event, (Reply, AuthChallenge, BadCommand, MessageRejected, DiscardedPlaintext, ConnectionClosed)):
            raise LocalProtocolError(f"a client does not send {type(event).__name__}")
        if self._state in (State.GREETING, State.CLOSED, State.STARTTLS):
            raise LocalProtocolError(f"cannot send {type(event).__name__} in state {self._state.name}")
        if isinstance(event, MessageChunk):
            return self._client_send_chunk(event)
        if isinstance(event, EndOfMessage):
            return self._client_end_message(event)
        if self._chunk_remaining:
            raise LocalProtocolError(f"{self._chunk_remaining} octets of the BDAT chunk are still to be sent")
        key = (self._requested, type(event))
        if key not in COMMANDS:
            raise LocalProtocolError(f"{type(event).__name__} not allowed in state {self._requested.name}")
        if self._pending:
            last = self._pending[-1]
            if type(last) in GROUP_ENDERS or isinstance(last, Opening):
                raise LocalProtocolError(f"wait for the reply to {type(last).__name__} before sending more")
            if not self._extensions.pipelining:
                raise LocalProtocolError("the server does not offer PIPELINING: wait for each reply")
        self._client_check_command(event)
        self._bdat_message_ended = False
        data = write_command(event)
        self._requested = COMMANDS[key]
        self._pending.append(event)
        if isinstance(event, Bdat):
            self._chunk_remaining = event.size
            self._chunk_command = event
            if event.size == 0:
                self._client_finish_chunk()
        return data

    def _client_check_command(self, event: Event) -> None:
        config = self.config
        if isinstance(event, (Ehlo, Helo)) and config.lmtp:
            raise LocalProtocolError("an LMTP client sends LHLO")
        if isinstance(event, Lhlo) and not config.lmtp:
            raise LocalProtocolError("LHLO is for LMTP (Config(lmtp=True))")
        if isinstance(event, Bdat) and not self._extensions.chunking:
            raise LocalProtocolError("the server does not offer CHUNKING")
        if isinstance(event, Data) and self._mail is not None and self._mail.body == "BINARYMIME":
            raise LocalProtocolError("BODY=BINARYMIME needs BDAT")
        if isinstance(event, Mail):
            if not event.reverse_path.isascii() and not event.smtputf8:
                raise LocalProtocolError("a non-ASCII reverse path needs the SMTPUTF8 parameter")
            self._mail = event
        if isinstance(event, Rcpt):
            if not event.forward_path.isascii() and not (self._mail is not None and self._mail.smtputf8):
                raise LocalProtocolError("a non-ASCII forward path needs SMTPUTF8 on MAIL")
        if isinstance(event, (AuthResponse, AuthCancel)) and self._pending:
            raise LocalProtocolError("answer a SASL challenge only after it arrived")

    def _client_send_chunk(self, event: MessageChunk) -> bytes:
        if not event.data and (self._stuffer is not None or self._requested is State.BDAT or self._bdat_message_ended):
            return b""  # nothing to send: allowed wherever content may go (BDAT 0 included)
        if self._chunk_remaining or self._chunk_command is not None:
            if len(event.data) > self._chunk_remaining:
                raise LocalProtocolError(
                    f"chunk of {len(event.data)} octets exceeds the {self._chunk_remaining} left in the BDAT"
                )
            self._chunk_remaining -= len(event.data)
            if not self._chunk_remaining:
                self._client_finish_chunk()
            return bytes(event.data)
        if self._state is not State.DATA or self._stuffer is None:
            raise LocalProtocolError("MessageChunk only after the 354 reply to DATA, or after BDAT")
        return self._stuffer.stuff(bytes(event.data))

    def _client_finish_chunk(self) -> None:
        bdat = self._chunk_command
        assert bdat is not None
        self._chunk_command = None
        if bdat.last:
            # The reply to BDAT LAST is the end-of-message reply (one per recipient in LMTP).
            for index in range(len(self._pending) - 1, -1, -1):
                if self._pending[index] is bdat:
                    self._pending[index] = EndOfMessage()
                    break
            self._requested = State.READY
            self._bdat_message_ended = True

    def _client_end_message(self, event: EndOfMessage) -> bytes:
        if self._bdat_message_ended and self._chunk_command is None and not self._chunk_remaining:
            self._bdat_message_ended = False
            return b""
        if self._state is not State.DATA or self._stuffer is None:
            raise LocalProtocolError("EndOfMessage only ends DATA content (or follows BDAT LAST)")
        data = self._stuffer.finish()
        self._stuffer = None
        self._requested = COMMANDS[(State.DATA, EndOfMessage)]
        self._pending.append(event)
        return data

    def _client_next_event(self) -> Event | Sentinel:
        if self._state is State.STARTTLS:
            if self._buffer:
                raise RemoteProtocolError(
                    "the server sent data after its 220 to STARTTLS, before the TLS handshake "
                    "(response injection, SECURITY A2.2)"
                )
            return PAUSED
        while True:
            line = self._buffer.maybe_extract_line(self._limits.max_reply_line, limit_name="max_reply_line")
            if line is None:
                if self._peer_closed:
                    if self._buffer:
                        self._buffer.extract_all()
                    self._state = self._requested = State.CLOSED
                    return ConnectionClosed()
                return NEED_DATA
            content, _ending = split_line(line)
            reply = self._reply_reader.feed_line(content)
            if reply is not None:
                return self._client_reply(reply)

    def _client_reply(self, reply: Reply) -> Event:
        if not self._pending:
            if reply.code == 421:
                self._state = self._requested = State.CLOSED
                return reply
            raise RemoteProtocolError(f"unexpected reply with no command outstanding: {reply}")
        command = self._pending[0]
        outcome = Outcome.of(reply.code)
        answered: Event | None = None if isinstance(command, Opening) else command
        if isinstance(command, EndOfMessage) and self.config.lmtp:
            if self._lmtp_replies is None:
                self._lmtp_replies = deque(self._recipients) if self._recipients else deque()
            if self._lmtp_replies:
                answered = self._lmtp_replies.popleft()
            if self._lmtp_replies:
                return Reply(code=reply.code, lines=reply.lines, enhanced=reply.enhanced, command=answered)
            self._lmtp_replies = None
        if reply.code == 421:
            self._state = self._requested = State.CLOSED
            self._pending.clear()
            return Reply(code=reply.code, lines=reply.lines, enhanced=reply.enhanced, command=answered)
        if outcome is Outcome.INTERMEDIATE:
            valid = (isinstance(command, Data) and reply.code == 354) or (
                isinstance(command, (Auth, AuthResponse)) and reply.code == 334
            )
            if not valid:
                raise RemoteProtocolError(f"reply {reply.code} does not answer {type(command).__name__}")
        before = self._state
        after = OUTCOMES.get((before, type(command), outcome), before)
        self._pending.popleft()
        if isinstance(command, (Ehlo, Lhlo)) and outcome is Outcome.COMPLETED:
            self._extensions = Extensions.parse(reply.lines[1:])
            self._hello = command
        elif isinstance(command, Helo) and outcome is Outcome.COMPLETED:
            self._extensions = Extensions()
            self._hello = command
        elif isinstance(command, Rcpt) and outcome is Outcome.COMPLETED:
            self._recipients.append(command)
        elif isinstance(command, Mail) and outcome is Outcome.COMPLETED:
            self._recipients = []
        elif isinstance(command, Data) and outcome is Outcome.INTERMEDIATE:
            self._stuffer = DotStuffer()
        elif isinstance(command, AuthResponse | Auth) and outcome is Outcome.COMPLETED:
            self._authenticated = True
        if after is State.READY and before in _TRANSACTION_OR_DATA:
            self._recipients = []
            self._mail = None
        self._state = after
        if self._pending and outcome is Outcome.FAILED:
            requested = after
            for pending in self._pending:
                requested = COMMANDS.get((requested, type(pending)), requested)
            self._requested = requested
        elif not self._pending:
            self._requested = after
        result: Event = Reply(code=reply.code, lines=reply.lines, enhanced=reply.enhanced, command=answered)
        if isinstance(command, (Auth, AuthResponse)) and reply.code == 334:
            self._auth_challenges = 1 if isinstance(command, Auth) else self._auth_challenges + 1
            if self._auth_challenges > self.config.max_auth_challenges:
                raise LimitExceeded("max_auth_challenges", self.config.max_auth_challenges,
                                    self._auth_challenges, what="SASL challenges in one exchange")
            text = reply.lines[0] if reply.lines else ""
            data = decode_base64(text.strip().encode("ascii", "replace"))
            if data is None:
                raise RemoteProtocolError("the server's SASL challenge is not base64")
            result = AuthChallenge(data=data)
        if isinstance(command, StartTLS) and outcome is Outcome.COMPLETED and self._buffer:
            raise RemoteProtocolError(
                "the server sent data after its 220 to STARTTLS, before the TLS handshake "
                "(response injection, SECURITY A2.2)"
            )
        return result
