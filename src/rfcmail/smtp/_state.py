"""The states of an SMTP or LMTP session and the tables that move between them.

RFC 5321 section 4.1.4 (command order: EHLO or HELO first, then MAIL,
RCPT, DATA; RSET, NOOP, VRFY, EXPN, HELP and QUIT at any time outside the
message content), section 3.3 (the mail transaction), RFC 3030 section 2
(BDAT), RFC 3207 section 4.2 (STARTTLS resets the session), RFC 4954
section 4 (the AUTH exchange) and RFC 2033 section 4.2 (LMTP).

Two flat tables decide every transition, and nothing outside this module
does:

* :data:`COMMANDS` ``{(State, type[Event]): State}``: the commands allowed
  in each state and the state the client is in once it has sent one
  (assuming success; pipelined commands run ahead of the replies).
* :data:`OUTCOMES` ``{(State, type[Event], Outcome): State}``: the state the
  session is in after a reply of that outcome to that command; a pair
  missing from it leaves the state unchanged.

On the server, ``their_state`` is the client's state after its last command
(from :data:`COMMANDS`) and ``our_state`` the state the replies have granted
(from :data:`OUTCOMES`). On the client it is the other way round.
"""

from __future__ import annotations

import enum

from ._events import (
    Auth,
    AuthCancel,
    AuthResponse,
    BadCommand,
    Bdat,
    Data,
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
    Rset,
    StartTLS,
    Vrfy,
)

__all__ = [
    "CLIENT",
    "COMMANDS",
    "GROUP_ENDERS",
    "NEED_DATA",
    "OUTCOMES",
    "Outcome",
    "PAUSED",
    "Role",
    "SERVER",
    "State",
]


class Role(enum.Enum):
    """Which side of the conversation a :class:`~rfcmail.smtp.Connection` plays."""

    CLIENT = "client"
    SERVER = "server"


CLIENT = Role.CLIENT
"""The SMTP client (sender-SMTP)."""
SERVER = Role.SERVER
"""The SMTP server (receiver-SMTP)."""


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


NEED_DATA = _Sentinel("NEED_DATA")
"""Returned by ``next_event()``: feed more received bytes with ``receive_data()``."""
PAUSED = _Sentinel("PAUSED")
"""Returned by ``next_event()``: the machine waits for you: send the reply a
command is owed (server), or finish the TLS handshake and call
``tls_established()`` (both roles, after STARTTLS)."""

Sentinel = _Sentinel


class State(enum.Enum):
    """Where a session stands (RFC 5321 section 4.1.4)."""

    GREETING = "greeting"
    """Before the server's greeting (RFC 5321 section 4.3.1)."""
    REFUSED = "refused"
    """The greeting was 554: only QUIT is accepted (RFC 5321 section 3.1)."""
    HELLO = "hello"
    """Greeted, or just after TLS started: EHLO, HELO or LHLO is expected."""
    READY = "ready"
    """Hello done, no mail transaction."""
    AUTH = "auth"
    """A SASL exchange is in progress (RFC 4954 section 4)."""
    MAIL = "mail"
    """MAIL accepted, no recipient yet."""
    RCPT = "rcpt"
    """At least one recipient accepted."""
    DATA = "data"
    """Message content after the 354 reply."""
    BDAT = "bdat"
    """Inside a BDAT sequence: at least one chunk sent (RFC 3030)."""
    STARTTLS = "starttls"
    """STARTTLS answered with 220: the TLS handshake runs; PAUSED until ``tls_established()``."""
    CLOSED = "closed"
    """QUIT answered, a 421 sent or received, or the connection closed."""
    ERROR = "error"
    """The side broke the protocol; see the raised error."""


# Enum members are singletons compared by identity; hashing them by identity
# in C instead of Enum's Python-level hash of the name keeps the table
# lookups of every command cheap.
State.__hash__ = object.__hash__  # type: ignore[method-assign]


class Outcome(enum.Enum):
    """The class of a reply, as far as state is concerned (RFC 5321 section 4.2.1)."""

    COMPLETED = "completed"
    """2xx."""
    INTERMEDIATE = "intermediate"
    """3xx: 354 to DATA, 334 to AUTH."""
    FAILED = "failed"
    """4xx or 5xx."""

    @classmethod
    def of(cls, code: int) -> Outcome:
        """The outcome of reply ``code``."""
        if code < 300:
            return cls.COMPLETED
        if code < 400:
            return cls.INTERMEDIATE
        return cls.FAILED


class Opening(Event):
    """The opening of the connection: the server's greeting answers it."""

    __slots__ = ()


_HELLOS: tuple[type[Event], ...] = (Ehlo, Helo, Lhlo)
_ANYTIME: tuple[type[Event], ...] = (Noop, Help, Vrfy, Expn)
_SESSION_STATES = (State.HELLO, State.READY, State.MAIL, State.RCPT, State.BDAT)
_TRANSACTION_STATES = (State.MAIL, State.RCPT, State.BDAT)


def _build_commands() -> dict[tuple[State, type[Event]], State]:
    table: dict[tuple[State, type[Event]], State] = {(State.REFUSED, Quit): State.CLOSED}
    for state in _SESSION_STATES:
        for hello in _HELLOS:
            table[(state, hello)] = State.READY
        for command in _ANYTIME:
            table[(state, command)] = state
        table[(state, Quit)] = State.CLOSED
        table[(state, Rset)] = State.HELLO if state is State.HELLO else State.READY
    table.update({
        (State.READY, Mail): State.MAIL,
        (State.READY, StartTLS): State.STARTTLS,
        (State.READY, Auth): State.AUTH,
        (State.AUTH, AuthResponse): State.AUTH,
        (State.AUTH, AuthCancel): State.READY,
        (State.MAIL, Rcpt): State.RCPT,
        (State.RCPT, Rcpt): State.RCPT,
        (State.RCPT, Data): State.DATA,
        (State.DATA, MessageChunk): State.DATA,
        (State.DATA, EndOfMessage): State.READY,
        (State.RCPT, Bdat): State.BDAT,
        (State.BDAT, Bdat): State.BDAT,
        (State.BDAT, MessageChunk): State.BDAT,
        (State.BDAT, EndOfChunk): State.BDAT,
        (State.BDAT, EndOfMessage): State.READY,
    })
    return table


def _build_outcomes() -> dict[tuple[State, type[Event], Outcome], State]:
    table: dict[tuple[State, type[Event], Outcome], State] = {
        (State.GREETING, Opening, Outcome.COMPLETED): State.HELLO,
        (State.GREETING, Opening, Outcome.FAILED): State.REFUSED,
        (State.READY, Mail, Outcome.COMPLETED): State.MAIL,
        (State.MAIL, Rcpt, Outcome.COMPLETED): State.RCPT,
        (State.RCPT, Rcpt, Outcome.COMPLETED): State.RCPT,
        (State.RCPT, Data, Outcome.INTERMEDIATE): State.DATA,
        (State.READY, StartTLS, Outcome.COMPLETED): State.STARTTLS,
        (State.READY, Auth, Outcome.INTERMEDIATE): State.AUTH,
        (State.AUTH, AuthResponse, Outcome.INTERMEDIATE): State.AUTH,
        (State.AUTH, AuthResponse, Outcome.COMPLETED): State.READY,
        (State.AUTH, AuthResponse, Outcome.FAILED): State.READY,
        (State.AUTH, AuthCancel, Outcome.FAILED): State.READY,
        (State.AUTH, BadCommand, Outcome.FAILED): State.READY,
    }
    final = (Outcome.COMPLETED, Outcome.FAILED)
    for outcome in final:
        table[(State.DATA, EndOfMessage, outcome)] = State.READY
    # A message the machine rejected can only be answered with a failure.
    table[(State.DATA, MessageRejected, Outcome.FAILED)] = State.READY
    for state in (State.RCPT, State.BDAT):
        # A BDAT chunk accepted continues the sequence; a failed one ends the
        # transaction (RFC 3030 section 2: no more chunks may follow).
        table[(state, EndOfChunk, Outcome.COMPLETED)] = State.BDAT
        table[(state, EndOfChunk, Outcome.FAILED)] = State.READY
        # The client's view of the same reply: it answers the Bdat it sent.
        table[(state, Bdat, Outcome.COMPLETED)] = State.BDAT
        table[(state, Bdat, Outcome.FAILED)] = State.READY
        for outcome in final:
            table[(state, EndOfMessage, outcome)] = State.READY
        table[(state, MessageRejected, Outcome.FAILED)] = State.READY
    for state in _SESSION_STATES:
        for hello in _HELLOS:
            table[(state, hello, Outcome.COMPLETED)] = State.READY
        if state is not State.HELLO:
            table[(state, Rset, Outcome.COMPLETED)] = State.READY
    for state in (State.REFUSED, *_SESSION_STATES):
        for outcome in final:
            table[(state, Quit, outcome)] = State.CLOSED
    return table


Outcome.__hash__ = object.__hash__  # type: ignore[method-assign]

COMMANDS: dict[tuple[State, type[Event]], State] = _build_commands()
"""``(state, command type) -> state``: what may be sent where, and where it leads."""

OUTCOMES: dict[tuple[State, type[Event], Outcome], State] = _build_outcomes()
"""``(state, command type, outcome) -> state``: the effect of a reply."""

GROUP_ENDERS: frozenset[type[Event]] = frozenset(
    {Ehlo, Helo, Lhlo, Data, Vrfy, Expn, Noop, Help, Quit, StartTLS, Auth, AuthResponse, AuthCancel}
)
"""Commands after which a client must wait for the reply even with PIPELINING
(RFC 2920 section 3.1; STARTTLS RFC 3207 section 4.2; AUTH RFC 4954 section 4)."""

TRANSACTION_STATES = frozenset(_TRANSACTION_STATES)
"""States inside a mail transaction."""
