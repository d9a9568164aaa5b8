"""The sans-IO POP3 connection, for both the client and the server role.

:class:`Connection` takes received bytes with :meth:`~Connection.receive_data`,
hands out events with :meth:`~Connection.next_event` and turns the events the
caller sends into bytes with :meth:`~Connection.send`. It never touches a
socket, a clock or a file; it tells the adapter what to do (write these bytes,
wait this long before answering a failed login, start TLS now, close).

Sources: RFC 1939 (sections 3-7: states, commands, multi-line responses,
UPDATE only after QUIT), RFC 2449 (CAPA, PIPELINING, extended response codes,
255-octet command lines), RFC 2595 section 4 (STLS; plaintext pipelined after
it is discarded by a server and fatal to a client, SECURITY.md A2.1/A2.2),
RFC 5034 (AUTH framing), RFC 3206 (the AUTH and SYS response codes).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from .._receivebuffer import ReceiveBuffer
from ..errors import LimitExceeded, LocalProtocolError, ProtocolError, RemoteProtocolError
from ._events import (
    Apop,
    Auth,
    AuthCancel,
    AuthChallenge,
    AuthResponse,
    Capa,
    Capability,
    Command,
    EndOfMultiline,
    Event,
    Greeting,
    List,
    MessageChunk,
    Pass,
    Response,
    Retr,
    ScanListing,
    Stls,
    Top,
    Uidl,
    UniqueIdListing,
    User,
    expects_multiline,
)
from ._readers import (
    BodyReader,
    maybe_read_auth_line,
    maybe_read_command,
    maybe_read_listing_line,
    maybe_read_status,
)
from ._state import (
    COMMAND_TRANSITIONS,
    GREETING_TRANSITIONS,
    RESPONSE_TRANSITIONS,
    TLS_TRANSITIONS,
    Outcome,
    Role,
    State,
)
from ._writers import BodyWriter, write_command, write_response
from .config import Config

__all__ = ["CLIENT", "Connection", "ConnectionClosed", "NEED_DATA", "PAUSED", "SERVER", "Sentinel"]

CLIENT = Role.CLIENT
SERVER = Role.SERVER


class Sentinel(enum.Enum):
    """Values :meth:`Connection.next_event` returns when it has no event."""

    NEED_DATA = "need-data"
    """Feed more bytes with :meth:`Connection.receive_data`."""
    PAUSED = "paused"
    """Nothing is processed until the caller acts: a server owes a reply (or
    the greeting), or TLS must be started after STLS."""


NEED_DATA = Sentinel.NEED_DATA
PAUSED = Sentinel.PAUSED


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed(Event):
    """The peer closed its side of the connection (``receive_data(b"")``)."""


# Failure replies that are not a wrong credential (RFC 3206, RFC 2449 section 8).
_NOT_AUTH_FAILURE_CODES = frozenset({"IN-USE", "SYS/TEMP", "SYS/PERM", "LOGIN-DELAY"})
_AUTH_COMMANDS = (Pass, Apop, Auth, AuthResponse)
# SASL mechanisms that put a reusable secret on the wire (RFC 4954 section 4, RFC 8314).
_PLAINTEXT_MECHANISMS = frozenset({"PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"})
_LISTING_EVENTS: dict[type[Command], type[Event]] = {
    List: ScanListing, Uidl: UniqueIdListing, Capa: Capability,
}


class _BadLine(Command):
    """The placeholder for a line that was answered with ``-ERR`` by the machine's verdict."""

    __slots__ = ()


class Connection:
    """A POP3 conversation seen from one side.

    Args:
        our_role: :data:`CLIENT` or :data:`SERVER`.
        config: the machine's configuration (a client uses only its limits).
        tls_active: the transport is already TLS (implicit TLS, port 995
            style, RFC 8314); a server then offers USER and SASL and no STLS.

    Attributes:
        our_role: this side's role.
        state: the session state (:class:`State`).
        tls_active: whether TLS protects the connection.
        apop_timestamp: the greeting's APOP timestamp, once known (client:
            received; server: sent).
        server_capabilities: (client) the capabilities of the last complete
            CAPA answer, forgotten after STLS (RFC 2595 section 4,
            SECURITY.md A2.4); ``None`` until one was received.
        auth_failures: (server) failed authentication attempts so far.
        reply_delay: (server) seconds the adapter should wait before writing
            the bytes the last :meth:`send` returned (non-zero after a failed
            authentication, SECURITY.md A6.2/A1.9).
        discarded_after_tls: (server) how many plaintext bytes were received
            after STLS and thrown away when TLS started (SECURITY.md A2.1).
    """

    def __init__(self, our_role: Role, config: Config | None = None, *, tls_active: bool = False) -> None:
        self.our_role = our_role
        self.config = config if config is not None else Config()
        self.tls_active = tls_active
        self.state = State.GREETING
        self.apop_timestamp: str | None = None
        self.server_capabilities: dict[str, tuple[str, ...]] | None = None
        self.auth_failures = 0
        self.reply_delay = 0.0
        self.discarded_after_tls = 0
        self._buffer = ReceiveBuffer()
        self._peer_closed = False
        self._closed_reported = False
        self._error_side: Role | None = None
        # Server: the command awaiting our reply. Client: commands awaiting theirs.
        self._pending: deque[Command] = deque()
        self._bad_commands = 0
        self._commands = 0
        self._discarding = False
        self._body: BodyWriter | None = None
        self._body_reader: BodyReader | None = None
        self._listing: type[Command] | None = None
        self._collected_capabilities: dict[str, tuple[str, ...]] = {}
        self._challenge_outstanding = False
        self._sasl_done = False
        self._predicted: State | None = None

    # -- public state ---------------------------------------------------------

    @property
    def their_role(self) -> Role:
        """The peer's role."""
        return SERVER if self.our_role is CLIENT else CLIENT

    @property
    def our_state(self) -> State:
        """The session state, or ERROR when we broke the protocol."""
        return State.ERROR if self._error_side is self.our_role else self.state

    @property
    def their_state(self) -> State:
        """The session state, or ERROR when the peer broke the protocol."""
        return State.ERROR if self._error_side is self.their_role else self.state

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """Received bytes not yet processed, and whether the peer has closed."""
        return self._buffer.peek(), self._peer_closed

    @property
    def pending_commands(self) -> int:
        """How many commands await a response (client) or our reply (server)."""
        return len(self._pending)

    # -- receiving -------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes received from the peer; ``b""`` means the peer closed."""
        if data:
            if self._peer_closed:
                raise LocalProtocolError("data received after the peer closed the connection")
            self._buffer.append(data)
        else:
            self._peer_closed = True

    def next_event(self) -> Event | Sentinel:
        """The next event the peer's bytes make, or :data:`NEED_DATA` / :data:`PAUSED`.

        Raises:
            RemoteProtocolError: the peer broke the protocol. When
                :attr:`their_state` is not ERROR the conversation can go on:
                a server sends ``Response.from_reply_hint(error.reply_hint)``.
            LimitExceeded: a line was too long (recoverable the same way) or
                a count limit was hit (fatal: their_state is ERROR).
        """
        if self.state is State.ERROR or self._error_side is not None:
            raise LocalProtocolError("the connection is in the ERROR state; close it")
        try:
            if self.our_role is SERVER:
                return self._next_server_event()
            return self._next_client_event()
        except LocalProtocolError as error:
            # The peer's bytes made an event we could not build: their fault.
            self._error_side = self.their_role
            raise RemoteProtocolError(error.message, reply_hint=error.reply_hint) from error

    def _closed_event(self) -> Event | Sentinel:
        if self._closed_reported:
            return PAUSED
        self._closed_reported = True
        if self.state not in (State.CLOSED, State.ERROR):
            # RFC 1939 section 6: a session that ends without QUIT commits nothing.
            self.state = State.CLOSED
        return ConnectionClosed()

    # -- server side -----------------------------------------------------------

    def _fatal(self, error: ProtocolError) -> ProtocolError:
        self._error_side = self.their_role
        return error

    def _next_server_event(self) -> Event | Sentinel:
        if self.state in (State.GREETING, State.STLS) or self._pending or self._body is not None:
            return PAUSED
        if self.state is State.CLOSED:
            return self._closed_event() if self._peer_closed else PAUSED
        if self._discarding:
            if not self._buffer.discard_line():
                return self._closed_event() if self._peer_closed else NEED_DATA
            self._discarding = False
        limits = self.config.limits
        try:
            if self.state is State.SASL:
                event: Command | None = maybe_read_auth_line(self._buffer, limits)
            else:
                event = maybe_read_command(self._buffer, limits)
        except LimitExceeded as error:
            self._discarding = True
            self._refuse(AuthResponse if self.state is State.SASL else None)
            raise error
        except RemoteProtocolError as error:
            self._refuse(AuthResponse if self.state is State.SASL else None)
            raise error
        if event is None:
            if self._peer_closed:
                return self._closed_event()
            return NEED_DATA
        self._commands += 1
        if self._commands > limits.max_commands:
            raise self._fatal(LimitExceeded("max_commands", limits.max_commands, self._commands,
                                            what="commands on this connection",
                                            reply_hint="-ERR [SYS/TEMP] too many commands"))
        refusal = self._server_refusal(event)
        if refusal is not None:
            self._refuse(AuthResponse if self.state is State.SASL else None)
            raise RemoteProtocolError(refusal[0], reply_hint=refusal[1])
        self.state = COMMAND_TRANSITIONS[(self.state, type(event))]
        self._pending.append(event)
        return event

    def _refuse(self, as_command: type[Command] | None) -> None:
        """Record that the peer's last line gets -ERR; too many of them is fatal."""
        self._bad_commands += 1
        limits = self.config.limits
        if self._bad_commands > limits.max_bad_commands:
            raise self._fatal(LimitExceeded("max_bad_commands", limits.max_bad_commands,
                                            self._bad_commands, what="invalid commands",
                                            reply_hint="-ERR too many invalid commands"))
        self._pending.append(AuthResponse(data=b"") if as_command is not None else _BadLine())

    def _server_refusal(self, command: Command) -> tuple[str, str] | None:
        """Why a well-formed command is refused here, with its reply, or None."""
        config = self.config
        kind = type(command)
        plaintext_ok = self.tls_active or config.allow_plaintext_auth
        if kind in (User, Pass) and not config.enable_user:
            return "USER/PASS is disabled", "-ERR unknown command"
        if kind is Apop and not (config.enable_apop and self.apop_timestamp is not None):
            return "APOP is not offered", "-ERR APOP not available"
        if kind is Auth:
            if self._sasl_done:
                return "AUTH after a successful AUTH", "-ERR already authenticated"
        if kind in (Top,) and not config.enable_top:
            return "TOP is disabled", "-ERR unknown command"
        if kind is Uidl and not config.enable_uidl:
            return "UIDL is disabled", "-ERR unknown command"
        if kind is Stls and (not config.stls or self.tls_active):
            return "STLS is not offered", "-ERR STLS not available"
        if (self.state, kind) not in COMMAND_TRANSITIONS:
            return (f"{kind.__name__.upper()} is not valid in the {self.state.value} state",
                    "-ERR command not valid in this state")
        if kind in (User, Pass) and not plaintext_ok:
            # SECURITY.md A6.1, RFC 2595 section 2.3.
            return ("USER/PASS refused before TLS",
                    "-ERR [AUTH] plaintext authentication disallowed without TLS (use STLS)")
        if isinstance(command, Auth):
            if command.mechanism not in config.sasl_mechanisms:
                return f"SASL mechanism {command.mechanism} not offered", "-ERR unsupported mechanism"
            if command.mechanism not in self.offered_mechanisms():
                return (f"AUTH {command.mechanism} refused before TLS",
                        "-ERR [AUTH] plaintext authentication disallowed without TLS (use STLS)")
        return None

    def _send_server(self, event: Event) -> bytes:
        if self._error_side is self.their_role and isinstance(event, Response) and not event.ok:
            # The one reply to a fatal error; then the connection is over.
            self.state = State.CLOSED
            self._pending.clear()
            return write_response(event)
        if self._error_side is not None:
            raise LocalProtocolError("the connection is in the ERROR state")
        if isinstance(event, Greeting):
            if self.state is not State.GREETING:
                raise LocalProtocolError("the greeting was already sent")
            self.state = GREETING_TRANSITIONS[(self.state, event.ok)]
            self.apop_timestamp = event.timestamp
            return write_response(event)
        if self._body is not None:
            return self._send_body_part(event)
        if self._listing is not None:
            return self._send_listing_part(event)
        if not self._pending:
            raise LocalProtocolError(f"{type(event).__name__} sent with no command to answer")
        command = self._pending[0]
        if isinstance(event, AuthChallenge):
            if not isinstance(command, (Auth, AuthResponse)):
                raise LocalProtocolError("AuthChallenge answers only AUTH or an AUTH response")
            self._pending.popleft()
            self.state = RESPONSE_TRANSITIONS[(self.state, type(command), Outcome.CHALLENGE)]
            return write_response(event)
        if not isinstance(event, Response):
            raise LocalProtocolError(f"{type(event).__name__} cannot answer {type(command).__name__}")
        self.reply_delay = 0.0
        if isinstance(command, _BadLine):
            if event.ok:
                raise LocalProtocolError("an invalid command must be answered with -ERR")
            self._pending.popleft()
            return write_response(event)
        outcome = Outcome.OK if event.ok else Outcome.ERR
        key = (self.state, type(command), outcome)
        if key not in RESPONSE_TRANSITIONS:
            raise LocalProtocolError(f"{'+OK' if event.ok else '-ERR'} cannot answer "
                                     f"{type(command).__name__} in the {self.state.value} state")
        data = write_response(event)
        if event.ok and expects_multiline(command):
            if isinstance(command, (Retr, Top)):
                self._body = BodyWriter()
            else:
                self._listing = type(command)
            return data
        self._pending.popleft()
        self.state = RESPONSE_TRANSITIONS[key]
        if isinstance(command, _AUTH_COMMANDS) or isinstance(command, AuthCancel):
            if event.ok:
                self._sasl_done = isinstance(command, (Auth, AuthResponse))
            elif not isinstance(command, AuthCancel) and event.code not in _NOT_AUTH_FAILURE_CODES:
                self._count_auth_failure()
        return data

    def _count_auth_failure(self) -> None:
        self.auth_failures += 1
        config = self.config
        self.reply_delay = min(config.auth_failure_delay * 2 ** (self.auth_failures - 1),
                               config.max_auth_failure_delay)
        if self.auth_failures >= config.limits.max_auth_failures:
            # SECURITY.md A1.9/A6.2: after the last allowed failure the server hangs up.
            self.state = State.CLOSED

    def _finish_multiline(self) -> None:
        command = self._pending.popleft()
        self._body = None
        self._listing = None
        self.state = RESPONSE_TRANSITIONS[(self.state, type(command), Outcome.OK)]

    def _send_body_part(self, event: Event) -> bytes:
        assert self._body is not None
        if isinstance(event, MessageChunk):
            return self._body.write(event.data)
        if isinstance(event, EndOfMultiline):
            data = self._body.finish()
            self._finish_multiline()
            return data
        raise LocalProtocolError(f"{type(event).__name__} sent inside a message body")

    def _send_listing_part(self, event: Event) -> bytes:
        assert self._listing is not None
        if isinstance(event, EndOfMultiline):
            self._finish_multiline()
            return b".\r\n"
        if type(event) is not _LISTING_EVENTS[self._listing]:
            raise LocalProtocolError(f"{type(event).__name__} sent inside a {self._listing.keyword} listing")
        assert isinstance(event, (ScanListing, UniqueIdListing, Capability))
        return write_response(event)

    def offered_mechanisms(self) -> tuple[str, ...]:
        """(Server) the SASL mechanisms usable now: PLAIN and LOGIN only under TLS unless allowed."""
        if self.tls_active or self.config.allow_plaintext_auth:
            return self.config.sasl_mechanisms
        return tuple(name for name in self.config.sasl_mechanisms if name not in _PLAINTEXT_MECHANISMS)

    def capabilities(self) -> list[Capability]:
        """(Server) what CAPA lists now: only what is enabled and usable (RFC 2449 section 6)."""
        config = self.config
        plaintext_ok = self.tls_active or config.allow_plaintext_auth
        listed: list[Capability] = []
        if config.enable_top:
            listed.append(Capability(name="TOP"))
        if config.enable_user and plaintext_ok and self.state is not State.TRANSACTION:
            listed.append(Capability(name="USER"))
        mechanisms = self.offered_mechanisms()
        if mechanisms and self.state is not State.TRANSACTION:
            listed.append(Capability(name="SASL", arguments=mechanisms))
        if config.resp_codes:
            listed.append(Capability(name="RESP-CODES"))
            listed.append(Capability(name="AUTH-RESP-CODE"))
        if config.login_delay is not None:
            listed.append(Capability(name="LOGIN-DELAY", arguments=(str(config.login_delay),)))
        if config.pipelining:
            listed.append(Capability(name="PIPELINING"))
        if config.expire is not None:
            listed.append(Capability(name="EXPIRE", arguments=(config.expire,)))
        if config.enable_uidl:
            listed.append(Capability(name="UIDL"))
        if config.implementation is not None:
            listed.append(Capability(name="IMPLEMENTATION", arguments=(config.implementation,)))
        if config.stls and not self.tls_active and self.state is not State.TRANSACTION:
            listed.append(Capability(name="STLS"))
        return listed

    # -- client side -------------------------------------------------------------

    @staticmethod
    def _after_success(state: State, command: Command) -> State:
        flight = COMMAND_TRANSITIONS.get((state, type(command)), state)
        return RESPONSE_TRANSITIONS.get((flight, type(command), Outcome.OK), flight)

    def _predicted_state(self) -> State:
        """The state after every pending command succeeds (used to validate pipelined sends).

        Cached while responses go as predicted (+OK); any other outcome drops
        the cache and it is folded again over the commands still pending.
        """
        if self._predicted is None or not self._pending:
            state = self.state
            for command in self._pending:
                state = self._after_success(state, command)
            self._predicted = state
        return self._predicted

    def _send_client(self, event: Event) -> bytes:
        if not isinstance(event, Command):
            raise LocalProtocolError(f"a client sends commands, not {type(event).__name__}")
        if self.state in (State.GREETING, State.CLOSED, State.STLS, State.UPDATE):
            raise LocalProtocolError(f"cannot send {type(event).__name__} in the {self.state.value} state")
        if isinstance(event, (AuthResponse, AuthCancel)):
            if not self._challenge_outstanding:
                raise LocalProtocolError(f"{type(event).__name__} is sent only after an AuthChallenge")
            self._challenge_outstanding = False
            self._pending.append(event)
            self._predicted = None
            return write_command(event)
        if self._pending and isinstance(self._pending[-1], (Stls, Auth, AuthResponse, AuthCancel)):
            # RFC 2449 section 6.6: STLS and AUTH end a pipelined batch.
            raise LocalProtocolError(f"cannot pipeline {type(event).__name__} after "
                                     f"{type(self._pending[-1]).__name__}")
        if self._challenge_outstanding:
            raise LocalProtocolError("an AUTH exchange awaits AuthResponse or AuthCancel")
        state = self._predicted_state()
        if (state, type(event)) not in COMMAND_TRANSITIONS:
            raise LocalProtocolError(f"{type(event).__name__} is not valid in the {state.value} state")
        data = write_command(event)
        if len(data) > self.config.limits.max_pop3_line and not isinstance(event, Auth):
            raise LimitExceeded("max_pop3_line", self.config.limits.max_pop3_line, len(data),
                                what="command line length")
        if isinstance(event, Auth) and len(data) > 255:
            # RFC 5034 section 4: send the initial response after an empty challenge instead.
            raise LocalProtocolError("AUTH with this initial response exceeds 255 octets; "
                                     "send it after an empty challenge")
        self._pending.append(event)
        self._predicted = self._after_success(state, event)
        return data

    def _next_client_event(self) -> Event | Sentinel:
        limits = self.config.limits
        if self.state is State.STLS:
            if self._buffer:
                # SECURITY.md A2.2: bytes after STLS's +OK are never trusted.
                self._error_side = self.their_role
                raise RemoteProtocolError(
                    f"{len(self._buffer)} bytes received after the STLS +OK, before TLS started "
                    "(possible response injection, CVE-2020-14954 class)")
            return PAUSED
        if self.state is State.GREETING:
            greeting = maybe_read_status(self._buffer, limits, greeting=True)
            if greeting is None:
                return self._closed_event() if self._peer_closed else NEED_DATA
            assert isinstance(greeting, Greeting)
            self.state = GREETING_TRANSITIONS[(self.state, greeting.ok)]
            self.apop_timestamp = greeting.timestamp
            return greeting
        if not self._pending:
            if self._buffer:
                self._error_side = self.their_role
                raise RemoteProtocolError(f"unsolicited data from the server: {self._buffer.peek(40)!r}")
            return self._closed_event() if self._peer_closed else NEED_DATA
        command = self._pending[0]
        if self._body_reader is not None:
            return self._read_body()
        if self._listing is not None:
            return self._read_listing()
        in_sasl = isinstance(command, (Auth, AuthResponse))
        try:
            status = maybe_read_status(self._buffer, limits, in_sasl=in_sasl)
        except ProtocolError as error:
            self._error_side = self.their_role
            raise error
        if status is None:
            return self._closed_event() if self._peer_closed else NEED_DATA
        flight = COMMAND_TRANSITIONS.get((self.state, type(command)))
        if flight is None:
            # A pipelined command that the outcome of an earlier one made invalid:
            # the server must refuse it, and the state stays as it is.
            if isinstance(status, Response) and not status.ok:
                self._pending.popleft()
                self._predicted = None
                return status
            self._error_side = self.their_role
            raise RemoteProtocolError(f"the server accepted {type(command).__name__} "
                                      f"in the {self.state.value} state")
        self.state = flight
        if isinstance(status, AuthChallenge):
            self._predicted = None
            self._pending.popleft()
            self.state = RESPONSE_TRANSITIONS[(self.state, type(command), Outcome.CHALLENGE)]
            self._challenge_outstanding = True
            return status
        assert isinstance(status, Response)
        outcome = Outcome.OK if status.ok else Outcome.ERR
        if not status.ok:
            self._predicted = None
        key = (self.state, type(command), outcome)
        if key not in RESPONSE_TRANSITIONS:
            self._error_side = self.their_role
            raise RemoteProtocolError(f"{outcome.value} is not a valid answer to "
                                      f"{type(command).__name__} in the {self.state.value} state")
        if status.ok and expects_multiline(command):
            if isinstance(command, (Retr, Top)):
                self._body_reader = BodyReader()
            else:
                self._listing = type(command)
                self._collected_capabilities = {}
            return status
        self._pending.popleft()
        self.state = RESPONSE_TRANSITIONS[key]
        if self.state is State.STLS and self._buffer:
            self._error_side = self.their_role
            raise RemoteProtocolError(
                f"{len(self._buffer)} bytes received after the STLS +OK, before TLS started "
                "(possible response injection, CVE-2020-14954 class)")
        return status

    def _client_finish_multiline(self) -> EndOfMultiline:
        command = self._pending.popleft()
        if isinstance(command, Capa):
            self.server_capabilities = self._collected_capabilities
        self._body_reader = None
        self._listing = None
        self.state = RESPONSE_TRANSITIONS[(self.state, type(command), Outcome.OK)]
        return EndOfMultiline()

    def _read_body(self) -> Event | Sentinel:
        assert self._body_reader is not None
        chunk = self._body_reader.read(self._buffer)
        if chunk is True:
            return self._client_finish_multiline()
        if chunk is None or chunk is False:
            if self._peer_closed:
                self._error_side = self.their_role
                raise RemoteProtocolError("connection closed inside a multi-line response")
            return NEED_DATA
        return MessageChunk(data=chunk)

    def _read_listing(self) -> Event | Sentinel:
        assert self._listing is not None
        try:
            entry = maybe_read_listing_line(self._buffer, self.config.limits, self._listing)
        except ProtocolError as error:
            self._error_side = self.their_role
            raise error
        if entry is True:
            return self._client_finish_multiline()
        if entry is None or entry is False:
            if self._peer_closed:
                self._error_side = self.their_role
                raise RemoteProtocolError("connection closed inside a multi-line response")
            return NEED_DATA
        if isinstance(entry, Capability):
            self._collected_capabilities[entry.name] = entry.arguments
        return entry

    # -- sending and TLS ------------------------------------------------------------

    def send(self, event: Event) -> bytes:
        """Return the bytes for ``event`` and advance the state.

        Raises:
            LocalProtocolError: the event is not valid now (nothing to send).
        """
        if self.our_role is SERVER:
            return self._send_server(event)
        return self._send_client(event)

    def tls_established(self) -> None:
        """TLS is up after STLS: resume from a clean AUTHORIZATION state (RFC 2595 section 4).

        A server discards whatever plaintext arrived after STLS and records
        how much in :attr:`discarded_after_tls` (SECURITY.md A2.1). A client
        forgets the capabilities learnt before TLS (A2.4).
        """
        if self.state not in TLS_TRANSITIONS:
            raise LocalProtocolError(f"tls_established() in the {self.state.value} state, not after STLS +OK")
        self.state = TLS_TRANSITIONS[self.state]
        self._predicted = None
        self.tls_active = True
        discarded = self._buffer.extract_all()
        if self.our_role is SERVER:
            self.discarded_after_tls += len(discarded)
        self.server_capabilities = None
