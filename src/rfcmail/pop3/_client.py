"""Client procedures: the POP3 client's conversations as sans-IO generators.

Each procedure is a generator over a client :class:`~rfcmail.pop3.Connection`.
It yields ``bytes`` (the adapter writes them and sends back ``None``),
:data:`NEXT` (the adapter reads until the machine has an event and sends it
back) or :data:`TLS` (the adapter runs the TLS handshake, calls
``conn.tls_established()`` and sends back ``None``); its return value is the
result. The asyncio and blocking clients drive the same procedures, so they
behave identically.

Sources: RFC 1939 sections 4-7, RFC 2449 (CAPA, PIPELINING), RFC 2595
section 4 (STLS; capabilities re-read after TLS), RFC 5034 (AUTH with an
initial response, ``*`` to cancel), RFC 4422 section 5 (additional data with
success), SECURITY.md A2.3 (no credentials before a required STLS) and A6.1
(no plaintext credentials without TLS unless allowed).
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

from ..errors import LocalProtocolError, RemoteProtocolError, RfcmailError
from ._connection import Connection, ConnectionClosed
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
    MessageChunk,
    Pass,
    Response,
    ResponseError,
    Retr,
    ScanListing,
    Stls,
    UniqueIdListing,
    User,
    expects_multiline,
)
from ._writers import write_command
from .backend import apop_digest

__all__ = [
    "NEXT",
    "TLS",
    "InsecureAuthError",
    "Procedure",
    "Request",
    "capabilities",
    "command",
    "greeting",
    "listing",
    "login",
    "parse_scan",
    "retrieve",
    "retrieve_many",
    "starttls",
]

T = TypeVar("T")


class Request(enum.Enum):
    """What a procedure asks of its adapter, besides writing bytes."""

    NEXT = "next-event"
    TLS = "start-tls"


NEXT = Request.NEXT
TLS = Request.TLS

Procedure = Generator[bytes | Request, Event | None, T]
"""A client conversation: yields bytes or a :class:`Request`, returns a result."""


class InsecureAuthError(RfcmailError):
    """Credentials would go out without TLS and ``allow_insecure_auth`` is off (SECURITY.md A6.1)."""


def _event(conn: Connection) -> Procedure[Event]:
    received = yield NEXT
    assert received is not None
    if isinstance(received, ConnectionClosed):
        raise RemoteProtocolError("the server closed the connection")
    return received


def _response(conn: Connection, what: str) -> Procedure[Response]:
    received = yield from _event(conn)
    if not isinstance(received, Response):
        raise RemoteProtocolError(f"expected a response to {what}, got {type(received).__name__}")
    return received


def parse_scan(text: str, what: str) -> tuple[int, int]:
    """Two decimal numbers at the start of a response text (STAT, LIST n: RFC 1939 section 5)."""
    fields = text.split()
    if len(fields) < 2 or not fields[0].isdigit() or not fields[1].isdigit():
        raise RemoteProtocolError(f"malformed {what} response: {text[:60]!r}")
    return int(fields[0]), int(fields[1])


def greeting(conn: Connection) -> Procedure[Greeting]:
    """Read the greeting; raise :class:`ResponseError` for a ``-ERR`` one."""
    received = yield from _event(conn)
    if not isinstance(received, Greeting):
        raise RemoteProtocolError(f"expected the greeting, got {type(received).__name__}")
    if not received.ok:
        raise ResponseError(Response(ok=False, text=received.text, code=received.code), "connect")
    return received


def capabilities(conn: Connection) -> Procedure[dict[str, tuple[str, ...]]]:
    """CAPA (RFC 2449 section 5); an empty dict when the server does not know CAPA."""
    yield conn.send(Capa())
    response = yield from _response(conn, "CAPA")
    if not response.ok:
        return {}
    collected: dict[str, tuple[str, ...]] = {}
    while True:
        received = yield from _event(conn)
        if isinstance(received, EndOfMultiline):
            return collected
        if isinstance(received, Capability):
            collected[received.name] = received.arguments


def command(conn: Connection, event: Command) -> Procedure[Response]:
    """Send a single-line command and return its ``+OK`` response."""
    yield conn.send(event)
    response = yield from _response(conn, event.keyword)
    if not response.ok:
        raise ResponseError(response, event.keyword)
    return response


def starttls(conn: Connection) -> Procedure[dict[str, tuple[str, ...]]]:
    """STLS, the handshake, then CAPA again: knowledge from before TLS is dropped (RFC 2595 section 4)."""
    yield from command(conn, Stls())
    yield TLS
    return (yield from capabilities(conn))


def listing(conn: Connection, event: Command) -> Procedure[list[Event]]:
    """A multi-line LIST or UIDL: every entry up to the terminating ``.``."""
    yield conn.send(event)
    response = yield from _response(conn, event.keyword)
    if not response.ok:
        raise ResponseError(response, event.keyword)
    entries: list[Event] = []
    while True:
        received = yield from _event(conn)
        if isinstance(received, EndOfMultiline):
            return entries
        if isinstance(received, (ScanListing, UniqueIdListing)):
            entries.append(received)


def _body(conn: Connection, what: str) -> Procedure[bytes]:
    # The hot path of every download: events are taken inline rather than
    # through _event/_response, one generator frame instead of three.
    received = yield NEXT
    if not isinstance(received, Response):
        if isinstance(received, ConnectionClosed):
            raise RemoteProtocolError("the server closed the connection")
        raise RemoteProtocolError(f"expected a response to {what}, got {type(received).__name__}")
    if not received.ok:
        raise ResponseError(received, what)
    parts: list[bytes] = []
    while True:
        received = yield NEXT
        if isinstance(received, MessageChunk):
            parts.append(received.data)
        elif isinstance(received, EndOfMultiline):
            return parts[0] if len(parts) == 1 else b"".join(parts)
        elif isinstance(received, ConnectionClosed) or received is None:
            raise RemoteProtocolError("the server closed the connection")


def retrieve(conn: Connection, event: Command) -> Procedure[bytes]:
    """RETR or TOP: the unstuffed message with CRLF line endings."""
    yield conn.send(event)
    return (yield from _body(conn, event.keyword))


def retrieve_many(conn: Connection, numbers: Sequence[int], *, pipelining: bool, window: int = 128,
                  sink: Callable[[int, bytes], None] | None = None) -> Procedure[list[bytes]]:
    """RETR each message; with PIPELINING, up to ``window`` commands in flight (RFC 2449 section 6.6).

    Returns the messages in order, or, with ``sink``, hands each to
    ``sink(number, data)`` as it arrives and returns an empty list (memory
    stays bounded by one message however many are fetched).
    """
    results: list[bytes] = []
    depth = max(1, window if pipelining else 1)
    sent = 0
    done = 0
    while done < len(numbers):
        if sent - done <= depth // 2:
            # Refill in batches of half the window: one write (and one segment)
            # per batch rather than one per command.
            batch = []
            while sent < len(numbers) and sent - done < depth:
                batch.append(conn.send(Retr(message_number=numbers[sent])))
                sent += 1
            if batch:
                yield b"".join(batch)
        data = yield from _body(conn, "RETR")
        if sink is None:
            results.append(data)
        else:
            sink(numbers[done], data)
        done += 1
    return results


def _sasl_module() -> Any:
    try:
        return importlib.import_module("rfcmail.sasl")
    except ImportError:  # pragma: no cover - rfcmail.sasl ships with rfcmail
        return None


_SAFE_WITHOUT_TLS = ("SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5")


def login(conn: Connection, user: str, password: str, *, caps: dict[str, tuple[str, ...]],
          allow_insecure_auth: bool = False, mechanism: str | None = None) -> Procedure[str]:
    """Authenticate with the best method the server offers; return the method used.

    Order: a SASL mechanism chosen by :func:`rfcmail.sasl.choose_mechanism`
    (SCRAM first), then USER/PASS, then APOP. Without TLS only SCRAM and
    CRAM-MD5 are used unless ``allow_insecure_auth``; USER/PASS, PLAIN,
    LOGIN and APOP (MD5, CVE-2007-1558) need TLS or that flag.

    Raises:
        InsecureAuthError: nothing safe is offered on this connection; no
            credential byte was sent.
        ResponseError: the server refused the credentials.
    """
    for value in (user, password):
        if any(bad in value for bad in "\r\n\0"):
            raise LocalProtocolError("CR, LF or NUL in a credential")
    secure = conn.tls_active or allow_insecure_auth
    sasl = _sasl_module()
    offered = caps.get("SASL", ())
    chosen: str | None = mechanism.upper() if mechanism else None
    if chosen is None and sasl is not None and offered:
        chosen = sasl.choose_mechanism(offered, tls=conn.tls_active, allow_plaintext=allow_insecure_auth)
    if chosen is not None and chosen not in ("USER", "APOP"):
        if not secure and chosen not in _SAFE_WITHOUT_TLS:
            raise InsecureAuthError(f"{chosen} would send the password without TLS; "
                                    "use TLS or allow_insecure_auth=True")
        if sasl is None:  # pragma: no cover
            raise LocalProtocolError("SASL needs rfcmail.sasl")
        yield from _sasl_login(conn, sasl.create_client(chosen, username=user, password=password), sasl)
        return chosen
    use_user = chosen == "USER" or (chosen is None and ("USER" in caps or not caps))
    if use_user:
        if not secure:
            raise InsecureAuthError("USER/PASS would send the password without TLS; "
                                    "use TLS or allow_insecure_auth=True")
        yield from command(conn, User(name=user))
        yield from command(conn, Pass(password=password))
        return "USER"
    if conn.apop_timestamp is not None and (chosen in (None, "APOP")):
        if not secure:
            raise InsecureAuthError("APOP (MD5) without TLS; use TLS or allow_insecure_auth=True")
        yield from command(conn, Apop(name=user, digest=apop_digest(conn.apop_timestamp, password)))
        return "APOP"
    raise InsecureAuthError("the server offers no login method this client can use safely here")


def _sasl_login(conn: Connection, mechanism: Any, sasl: Any) -> Procedure[None]:
    initial = mechanism.initial_response()
    auth = Auth(mechanism=mechanism.name, initial_response=initial)
    if initial is not None and len(write_command(auth)) > 255:
        # RFC 5034 section 4: too long for the command line; the mechanism
        # sends it in answer to the server's empty challenge instead.
        auth = Auth(mechanism=mechanism.name)
    yield conn.send(auth)
    while True:
        received = yield from _event(conn)
        if isinstance(received, AuthChallenge):
            try:
                reply = mechanism.respond(received.data)
            except sasl.SASLError:
                # RFC 5034 section 4: cancel with "*"; the server answers -ERR.
                yield conn.send(AuthCancel())
                cancelled = yield from _response(conn, "AUTH")
                raise ResponseError(cancelled, "AUTH (cancelled: the server's challenge was invalid)") from None
            yield conn.send(AuthResponse(data=reply))
            continue
        if not isinstance(received, Response):
            raise RemoteProtocolError(f"unexpected {type(received).__name__} during AUTH")
        if not received.ok:
            raise ResponseError(received, "AUTH")
        # SCRAM: success without the server's proof is not success (RFC 5802 section 5).
        mechanism.verify_success(None)
        return


def expects_body(event: Command) -> bool:
    """Whether ``event`` is answered with a multi-line body (for adapters that stream)."""
    return expects_multiline(event)
