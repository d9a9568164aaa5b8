"""The exception hierarchy shared by every part of rfcmail.

::

    RfcmailError
     +-- ProtocolError                 a conversation or a document broke the rules
          +-- LocalProtocolError       our side (the caller) did something invalid
          +-- RemoteProtocolError      the peer sent something invalid
          +-- LimitExceeded            a configured bound was hit (either side)

Every :class:`ProtocolError` carries a ``reply_hint``: the protocol reply a
server should send when the error was caused by its peer (for example
``"500 5.5.2 Line too long"`` for SMTP, ``"-ERR line too long"`` for POP3,
``"BAD [CLIENTBUG] ..."`` for IMAP). Adapters send it as it is; the sans-IO
machines never write by themselves.
"""

from __future__ import annotations

__all__ = [
    "LimitExceeded",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "RfcmailError",
]


class RfcmailError(Exception):
    """Base class of every exception rfcmail raises on purpose."""


class ProtocolError(RfcmailError):
    """A protocol or format rule was broken.

    Args:
        message: what was wrong, for humans and logs.
        reply_hint: the reply a server should send to the peer that caused
            the error, or ``None`` when no reply fits (the connection should
            then be closed).
    """

    def __init__(self, message: str, *, reply_hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reply_hint = reply_hint

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, reply_hint={self.reply_hint!r})"


class LocalProtocolError(ProtocolError):
    """The caller asked for something the protocol does not allow.

    Raised, for example, when an event is sent in the wrong state or when an
    argument would put a CR, LF or NUL on the wire. Nothing has been sent when
    this is raised.
    """


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow.

    Machines raise it from ``next_event()``; the side that misbehaved moves to
    an ERROR state. ``reply_hint`` says what a server should answer.
    """


class LimitExceeded(ProtocolError):
    """A configured limit was hit.

    Args:
        limit_name: the name of the limit, as spelled in
            :class:`rfcmail.limits.Limits` (for example ``"max_command_line"``).
        limit: the configured value of that limit.
        actual: how far the input went when it was stopped, if known (it
            may be only a lower bound: input is never read past the limit
            just to measure it).
        reply_hint: the reply a server should send.
    """

    def __init__(
        self,
        limit_name: str,
        limit: int,
        actual: int | None = None,
        *,
        what: str | None = None,
        reply_hint: str | None = None,
    ) -> None:
        subject = what or limit_name.replace("_", " ")
        if actual is None:
            text = f"{subject} exceeds the limit {limit_name}={limit}"
        else:
            text = f"{subject} is {actual}, over the limit {limit_name}={limit}"
        super().__init__(text, reply_hint=reply_hint)
        self.limit_name = limit_name
        self.limit = limit
        self.actual = actual
