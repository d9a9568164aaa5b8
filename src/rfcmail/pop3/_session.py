"""The POP3 server's behaviour over a maildrop, shared by the asyncio and blocking adapters.

:class:`ServerSession` answers each command event from a server
:class:`~rfcmail.pop3.Connection` using the backend Protocols of
:mod:`rfcmail.pop3.backend`, and says what the adapter must do as a stream
of actions: bytes to write, a :class:`Delay` to sleep before the next bytes
(a failed login), :data:`START_TLS` after STLS, :data:`CLOSE` at the end. It
does no I/O itself, so both adapters behave identically.

Sources: RFC 1939 sections 4-7 (message numbering, deletion marks, RSET,
UPDATE only on QUIT from TRANSACTION), RFC 2449 (CAPA, response codes),
RFC 2595 section 4 (STLS), RFC 5034 (AUTH), RFC 3206 ([AUTH], [SYS/*]).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import ProtocolError
from ._connection import Connection, ConnectionClosed
from ._events import (
    Apop,
    Auth,
    AuthCancel,
    AuthChallenge,
    AuthResponse,
    Capa,
    Dele,
    EndOfMultiline,
    Event,
    Greeting,
    List,
    MessageChunk,
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
from ._state import State
from ._writers import top_of_message
from .backend import APOPSecrets, Authenticator, Maildrop, MaildropStore, MessageInfo, POP3Error, verify_apop

__all__ = ["CLOSE", "START_TLS", "Action", "Delay", "ServerAction", "ServerSession"]


class ServerAction(enum.Enum):
    """Things the adapter must do besides writing bytes."""

    START_TLS = "start-tls"
    """Flush what was written, then run the TLS handshake and call ``tls_established()``."""
    CLOSE = "close"
    """Flush what was written, then close the connection."""


START_TLS = ServerAction.START_TLS
CLOSE = ServerAction.CLOSE


@dataclass(frozen=True, slots=True, kw_only=True)
class Delay:
    """Wait this many seconds before writing what follows (after a failed login)."""

    seconds: float


Action = bytes | Delay | ServerAction
"""One step of what the adapter does: write bytes, sleep, or a :class:`ServerAction`."""

SASLFactory = Callable[[str], Any]
"""Makes a server SASL mechanism by name: an object with ``start(initial)`` and
``step(response)`` returning a Challenge, Success or Failure (``rfcmail.sasl``)."""

_AUTH_FAILED = Response(ok=False, code="AUTH", text="authentication failed")


class ServerSession:
    """One POP3 server session over a maildrop store.

    Args:
        conn: a server :class:`~rfcmail.pop3.Connection`.
        store: opens and locks maildrops.
        authenticator: checks USER/PASS; if it is also an
            :class:`~rfcmail.pop3.APOPSecrets`, APOP can be offered.
        sasl: makes server SASL mechanisms by name (``None``: no AUTH).
        apop_timestamp: the ``<...>`` timestamp for the greeting (the adapter
            makes it unique: RFC 1939 section 7); used only when the
            config enables APOP and the authenticator has shared secrets.
    """

    def __init__(self, conn: Connection, store: MaildropStore, authenticator: Authenticator, *,
                 sasl: SASLFactory | None = None, apop_timestamp: str | None = None) -> None:
        self.conn = conn
        self.store = store
        self.authenticator = authenticator
        self.sasl = sasl
        self._apop_timestamp = apop_timestamp
        self.user: str | None = None
        self.maildrop: Maildrop | None = None
        self._infos: list[MessageInfo] = []
        self._deleted: set[int] = set()
        self._mechanism: Any = None
        self._sasl_success: Any = None

    # -- entry points ---------------------------------------------------------------

    def greeting(self) -> Iterator[Action]:
        """The greeting (RFC 1939 section 4), with an APOP timestamp when APOP is usable."""
        timestamp = None
        if (self.conn.config.enable_apop and isinstance(self.authenticator, APOPSecrets)
                and self._apop_timestamp is not None):
            timestamp = self._apop_timestamp
        yield self.conn.send(Greeting(ok=True, text="POP3 server ready", timestamp=timestamp))

    def handle(self, event: Event) -> Iterator[Action]:
        """Answer one event from ``conn.next_event()``."""
        if isinstance(event, ConnectionClosed):
            self.connection_lost()
            yield CLOSE
            return
        handler = _HANDLERS.get(type(event))
        if handler is None:  # pragma: no cover - every command type has a handler
            yield self.conn.send(Response(ok=False, text="not implemented"))
            return
        yield from handler(self, event)

    def handle_error(self, error: ProtocolError) -> Iterator[Action]:
        """Answer a protocol error raised by ``conn.next_event()``: its ``-ERR``, and close if fatal."""
        response = Response.from_reply_hint(error.reply_hint)
        if response.ok:
            response = Response(ok=False, text=response.text)
        yield from self._reply(response)

    def connection_lost(self) -> None:
        """Release the maildrop without committing anything (RFC 1939 section 6)."""
        maildrop, self.maildrop = self.maildrop, None
        if maildrop is not None:
            maildrop.close()

    # -- helpers ---------------------------------------------------------------------

    def _reply(self, response: Response) -> Iterator[Action]:
        data = self.conn.send(response)
        if self.conn.reply_delay:
            yield Delay(seconds=self.conn.reply_delay)
        yield data
        if self.conn.state is State.CLOSED:
            self.connection_lost()
            yield CLOSE

    def _open(self, user: str) -> Iterator[Action]:
        try:
            maildrop = self.store.open_maildrop(user)
            infos = list(maildrop.messages())
        except POP3Error as error:
            yield from self._reply(error.response())
            return
        self.user = user
        self.maildrop = maildrop
        self._infos = infos
        self._deleted = set()
        total = sum(info.size for info in infos)
        yield from self._reply(Response(ok=True, text=f"maildrop has {len(infos)} messages ({total} octets)"))

    def _index(self, number: int) -> int | None:
        index = number - 1
        if 0 <= index < len(self._infos) and index not in self._deleted:
            return index
        return None

    def _no_such_message(self, number: int) -> Response:
        if 1 <= number <= len(self._infos):
            return Response(ok=False, text=f"message {number} already deleted")
        return Response(ok=False, text=f"no such message, only {len(self._infos)} messages in maildrop")

    # -- AUTHORIZATION -------------------------------------------------------------

    def _capa(self, event: Capa) -> Iterator[Action]:
        conn = self.conn
        parts = [conn.send(Response(ok=True, text="Capability list follows"))]
        for capability in conn.capabilities():
            parts.append(conn.send(capability))
        parts.append(conn.send(EndOfMultiline()))
        yield b"".join(parts)

    def _user(self, event: User) -> Iterator[Action]:
        # Accept any name: whether it exists is revealed by nothing before PASS.
        self.user = event.name
        yield from self._reply(Response(ok=True, text="send PASS"))

    def _pass(self, event: Pass) -> Iterator[Action]:
        user = self.user or ""
        if not self.authenticator.check_password(user, event.password):
            yield from self._reply(_AUTH_FAILED)
            return
        yield from self._open(user)

    def _apop(self, event: Apop) -> Iterator[Action]:
        timestamp = self.conn.apop_timestamp or ""
        secret = None
        if isinstance(self.authenticator, APOPSecrets):
            secret = self.authenticator.shared_secret(event.name)
        if not verify_apop(timestamp, secret, event.digest):
            yield from self._reply(_AUTH_FAILED)
            return
        yield from self._open(event.name)

    def _auth(self, event: Auth) -> Iterator[Action]:
        if self.sasl is None:
            yield from self._reply(Response(ok=False, text="unsupported mechanism"))
            return
        try:
            self._mechanism = self.sasl(event.mechanism)
        except Exception:
            yield from self._reply(Response(ok=False, text="unsupported mechanism"))
            return
        yield from self._sasl_result(self._mechanism.start(event.initial_response))

    def _auth_response(self, event: AuthResponse) -> Iterator[Action]:
        if self._sasl_success is not None:
            # RFC 4422 section 5: the empty response after additional data on success.
            success, self._sasl_success = self._sasl_success, None
            if event.data:
                self._mechanism = None
                yield from self._reply(_AUTH_FAILED)
                return
            yield from self._open(success.authzid or success.authcid)
            return
        if self._mechanism is None:
            yield from self._reply(_AUTH_FAILED)
            return
        yield from self._sasl_result(self._mechanism.step(event.data))

    def _auth_cancel(self, event: AuthCancel) -> Iterator[Action]:
        self._mechanism = None
        self._sasl_success = None
        yield from self._reply(Response(ok=False, text="authentication cancelled"))

    def _sasl_result(self, step: Any) -> Iterator[Action]:
        kind = type(step).__name__
        if kind == "Challenge":
            yield self.conn.send(AuthChallenge(data=step.data))
            return
        self._mechanism = None
        if kind == "Success":
            if step.additional_data is not None:
                self._sasl_success = step
                yield self.conn.send(AuthChallenge(data=step.additional_data))
                return
            yield from self._open(step.authzid or step.authcid)
            return
        if getattr(step, "temporary", False):
            yield from self._reply(Response(ok=False, code="SYS/TEMP", text="authentication unavailable"))
            return
        yield from self._reply(_AUTH_FAILED)

    def _stls(self, event: Stls) -> Iterator[Action]:
        yield self.conn.send(Response(ok=True, text="Begin TLS negotiation"))
        yield START_TLS

    def _quit(self, event: Quit) -> Iterator[Action]:
        if self.conn.state is State.UPDATE and self.maildrop is not None:
            # RFC 1939 section 6: the UPDATE state removes the marked messages.
            response = Response(ok=True, text=f"bye, {len(self._deleted)} messages deleted")
            try:
                if self._deleted:
                    self.maildrop.commit(frozenset(self._deleted))
            except POP3Error as error:
                response = Response(ok=False, code=error.code or "SYS/TEMP",
                                    text="some deleted messages not removed")
            self.connection_lost()
            yield from self._reply(response)
        else:
            yield from self._reply(Response(ok=True, text="bye"))

    # -- TRANSACTION -----------------------------------------------------------------

    def _stat(self, event: Stat) -> Iterator[Action]:
        live = [info for index, info in enumerate(self._infos) if index not in self._deleted]
        yield from self._reply(Response(ok=True, text=f"{len(live)} {sum(info.size for info in live)}"))

    def _list(self, event: List) -> Iterator[Action]:
        conn = self.conn
        if event.message_number is not None:
            index = self._index(event.message_number)
            if index is None:
                yield from self._reply(self._no_such_message(event.message_number))
            else:
                yield from self._reply(Response(ok=True, text=f"{event.message_number} {self._infos[index].size}"))
            return
        parts = [conn.send(Response(ok=True, text="scan listing follows"))]
        for index, info in enumerate(self._infos):
            if index not in self._deleted:
                parts.append(conn.send(ScanListing(message_number=index + 1, size=info.size)))
        parts.append(conn.send(EndOfMultiline()))
        yield b"".join(parts)

    def _uidl(self, event: Uidl) -> Iterator[Action]:
        conn = self.conn
        if event.message_number is not None:
            index = self._index(event.message_number)
            if index is None:
                yield from self._reply(self._no_such_message(event.message_number))
            else:
                yield from self._reply(Response(
                    ok=True, text=f"{event.message_number} {self._infos[index].unique_id}"))
            return
        parts = [conn.send(Response(ok=True, text="unique-id listing follows"))]
        for index, info in enumerate(self._infos):
            if index not in self._deleted:
                parts.append(conn.send(UniqueIdListing(message_number=index + 1, unique_id=info.unique_id)))
        parts.append(conn.send(EndOfMultiline()))
        yield b"".join(parts)

    def _body(self, number: int, lines: int | None) -> Iterator[Action]:
        index = self._index(number)
        if index is None or self.maildrop is None:
            yield from self._reply(self._no_such_message(number))
            return
        try:
            chunks = iter(self.maildrop.read(index))
            if lines is not None:
                chunks = iter(top_of_message(chunks, lines))
            first = next(chunks, b"")
        except POP3Error as error:
            yield from self._reply(error.response())
            return
        conn = self.conn
        head = conn.send(Response(ok=True, text=f"{self._infos[index].size} octets"))
        yield head + conn.send(MessageChunk(data=first))
        for chunk in chunks:
            yield conn.send(MessageChunk(data=chunk))
        yield conn.send(EndOfMultiline())

    def _retr(self, event: Retr) -> Iterator[Action]:
        yield from self._body(event.message_number, None)

    def _top(self, event: Top) -> Iterator[Action]:
        yield from self._body(event.message_number, event.lines)

    def _dele(self, event: Dele) -> Iterator[Action]:
        index = self._index(event.message_number)
        if index is None:
            yield from self._reply(self._no_such_message(event.message_number))
            return
        self._deleted.add(index)
        yield from self._reply(Response(ok=True, text=f"message {event.message_number} deleted"))

    def _noop(self, event: Noop) -> Iterator[Action]:
        yield from self._reply(Response(ok=True))

    def _rset(self, event: Rset) -> Iterator[Action]:
        self._deleted.clear()
        total = sum(info.size for info in self._infos)
        yield from self._reply(Response(ok=True, text=f"maildrop has {len(self._infos)} messages ({total} octets)"))


_HANDLERS: dict[type[Event], Callable[[ServerSession, Any], Iterator[Action]]] = {
    Capa: ServerSession._capa,
    User: ServerSession._user,
    Pass: ServerSession._pass,
    Apop: ServerSession._apop,
    Auth: ServerSession._auth,
    AuthResponse: ServerSession._auth_response,
    AuthCancel: ServerSession._auth_cancel,
    Stls: ServerSession._stls,
    Quit: ServerSession._quit,
    Stat: ServerSession._stat,
    List: ServerSession._list,
    Uidl: ServerSession._uidl,
    Retr: ServerSession._retr,
    Top: ServerSession._top,
    Dele: ServerSession._dele,
    Noop: ServerSession._noop,
    Rset: ServerSession._rset,
}
