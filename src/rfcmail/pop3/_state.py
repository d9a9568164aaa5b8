"""POP3 session states and the flat transition tables that drive them.

RFC 1939 section 3 names three states: AUTHORIZATION, TRANSACTION and UPDATE.
The machine refines them with the points at which the conversation waits for
something other than a command: the greeting, a USER accepted and waiting for
PASS (section 7), a SASL exchange (RFC 5034 section 4), the switch to TLS
after STLS (RFC 2595 section 4). Nothing outside this module decides a
transition: :mod:`rfcmail.pop3._connection` looks states up here.

Two tables describe a command's life. :data:`COMMAND_TRANSITIONS` says in
which states a command may be sent and which state holds while its response
is awaited; :data:`RESPONSE_TRANSITIONS` says where that in-flight state goes
on each :class:`Outcome` of the response.
"""

from __future__ import annotations

import enum

from ._events import (
    Apop,
    Auth,
    AuthCancel,
    AuthResponse,
    Capa,
    Command,
    Dele,
    List,
    Noop,
    Pass,
    Quit,
    Retr,
    Rset,
    Stat,
    Stls,
    Top,
    Uidl,
    User,
)

__all__ = [
    "COMMAND_TRANSITIONS",
    "GREETING_TRANSITIONS",
    "Outcome",
    "RESPONSE_TRANSITIONS",
    "Role",
    "State",
    "TLS_TRANSITIONS",
]


class Role(enum.Enum):
    """Which end of the connection a machine plays."""

    CLIENT = "client"
    SERVER = "server"


class State(enum.Enum):
    """Where a POP3 session is (RFC 1939 section 3, refined)."""

    GREETING = "greeting"
    """Connected; the server has not sent its greeting yet."""
    AUTHORIZATION = "authorization"
    """RFC 1939 section 4: the client must identify itself."""
    USER_ACCEPTED = "user-accepted"
    """USER got +OK; PASS (or QUIT, or another USER) follows (RFC 1939 section 7)."""
    SASL = "sasl"
    """An AUTH exchange is in progress (RFC 5034 section 4)."""
    STLS = "stls"
    """STLS got +OK: nothing more is processed until TLS is up (RFC 2595 section 4)."""
    TRANSACTION = "transaction"
    """RFC 1939 section 5: the maildrop is locked and open."""
    UPDATE = "update"
    """RFC 1939 section 6: QUIT from TRANSACTION; deletions are being committed."""
    CLOSED = "closed"
    """The session is over; the connection should be closed."""
    ERROR = "error"
    """A protocol error that cannot be recovered from; close the connection."""

    # Members are singletons: identity hashing is exact, and much cheaper than
    # Enum's Python-level hash of the name in the transition-table lookups.
    __hash__ = object.__hash__


class Outcome(enum.Enum):
    """How a server answered a command."""

    OK = "+OK"
    ERR = "-ERR"
    CHALLENGE = "+ "


# Commands the RFCs allow in both AUTHORIZATION-like states and TRANSACTION.
_ANYTIME: tuple[type[Command], ...] = (Capa,)

COMMAND_TRANSITIONS: dict[tuple[State, type[Command]], State] = {
    # RFC 1939 section 4, RFC 2449 section 5, RFC 2595 section 4, RFC 5034 section 4.
    (State.AUTHORIZATION, User): State.AUTHORIZATION,
    (State.AUTHORIZATION, Apop): State.AUTHORIZATION,
    (State.AUTHORIZATION, Auth): State.SASL,
    (State.AUTHORIZATION, Stls): State.AUTHORIZATION,
    (State.AUTHORIZATION, Capa): State.AUTHORIZATION,
    (State.AUTHORIZATION, Quit): State.AUTHORIZATION,
    (State.USER_ACCEPTED, Pass): State.USER_ACCEPTED,
    (State.USER_ACCEPTED, User): State.AUTHORIZATION,
    (State.USER_ACCEPTED, Capa): State.USER_ACCEPTED,
    (State.USER_ACCEPTED, Quit): State.AUTHORIZATION,
    (State.SASL, AuthResponse): State.SASL,
    (State.SASL, AuthCancel): State.SASL,
    # RFC 1939 sections 5 and 7.
    (State.TRANSACTION, Stat): State.TRANSACTION,
    (State.TRANSACTION, List): State.TRANSACTION,
    (State.TRANSACTION, Retr): State.TRANSACTION,
    (State.TRANSACTION, Dele): State.TRANSACTION,
    (State.TRANSACTION, Noop): State.TRANSACTION,
    (State.TRANSACTION, Rset): State.TRANSACTION,
    (State.TRANSACTION, Top): State.TRANSACTION,
    (State.TRANSACTION, Uidl): State.TRANSACTION,
    (State.TRANSACTION, Capa): State.TRANSACTION,
    # RFC 1939 section 6: QUIT from TRANSACTION enters UPDATE.
    (State.TRANSACTION, Quit): State.UPDATE,
}
"""``(state, command) -> state while the command's response is awaited``."""

_ALL_OUTCOMES = (Outcome.OK, Outcome.ERR)

RESPONSE_TRANSITIONS: dict[tuple[State, type[Command], Outcome], State] = {
    (State.AUTHORIZATION, User, Outcome.OK): State.USER_ACCEPTED,
    (State.AUTHORIZATION, User, Outcome.ERR): State.AUTHORIZATION,
    (State.AUTHORIZATION, Apop, Outcome.OK): State.TRANSACTION,
    (State.AUTHORIZATION, Apop, Outcome.ERR): State.AUTHORIZATION,
    (State.AUTHORIZATION, Stls, Outcome.OK): State.STLS,
    (State.AUTHORIZATION, Stls, Outcome.ERR): State.AUTHORIZATION,
    (State.AUTHORIZATION, Capa, Outcome.OK): State.AUTHORIZATION,
    (State.AUTHORIZATION, Capa, Outcome.ERR): State.AUTHORIZATION,
    (State.AUTHORIZATION, Quit, Outcome.OK): State.CLOSED,
    (State.AUTHORIZATION, Quit, Outcome.ERR): State.CLOSED,
    (State.USER_ACCEPTED, Pass, Outcome.OK): State.TRANSACTION,
    (State.USER_ACCEPTED, Pass, Outcome.ERR): State.AUTHORIZATION,
    (State.USER_ACCEPTED, Capa, Outcome.OK): State.USER_ACCEPTED,
    (State.USER_ACCEPTED, Capa, Outcome.ERR): State.USER_ACCEPTED,
    # The in-flight state of USER and QUIT from USER_ACCEPTED is AUTHORIZATION,
    # so their outcomes are the AUTHORIZATION rows above.
    (State.SASL, Auth, Outcome.OK): State.TRANSACTION,
    (State.SASL, Auth, Outcome.ERR): State.AUTHORIZATION,
    (State.SASL, Auth, Outcome.CHALLENGE): State.SASL,
    (State.SASL, AuthResponse, Outcome.OK): State.TRANSACTION,
    (State.SASL, AuthResponse, Outcome.ERR): State.AUTHORIZATION,
    (State.SASL, AuthResponse, Outcome.CHALLENGE): State.SASL,
    (State.SASL, AuthCancel, Outcome.ERR): State.AUTHORIZATION,
    (State.UPDATE, Quit, Outcome.OK): State.CLOSED,
    # RFC 1939 section 6: -ERR when some deleted message could not be removed.
    (State.UPDATE, Quit, Outcome.ERR): State.CLOSED,
    **{
        (State.TRANSACTION, command, outcome): State.TRANSACTION
        for command in (Stat, List, Retr, Dele, Noop, Rset, Top, Uidl, Capa)
        for outcome in _ALL_OUTCOMES
    },
}
"""``(in-flight state, command, outcome) -> next state``."""

GREETING_TRANSITIONS: dict[tuple[State, bool], State] = {
    (State.GREETING, True): State.AUTHORIZATION,
    (State.GREETING, False): State.CLOSED,
}
"""``(state, greeting is +OK) -> next state`` (RFC 1939 section 4)."""

TLS_TRANSITIONS: dict[State, State] = {
    # RFC 2595 section 4: after the TLS negotiation the session is back in
    # AUTHORIZATION, with everything learnt before it forgotten.
    State.STLS: State.AUTHORIZATION,
}
"""``state -> state once TLS is established``."""

