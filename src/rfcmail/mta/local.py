"""Local delivery into Maildir, trace fields and loop detection.

* :func:`received_field` builds the ``Received:`` trace field an SMTP server
  adds when it accepts a message (RFC 5321 section 4.4): ``from`` with the
  client's EHLO name and address, ``by`` with ours, ``with`` the RFC 3848
  protocol keyword, ``id`` the queue id, ``for`` the recipient when there is
  one. Whatever came from the client is checked against the RFC 5321
  grammar and replaced when it does not fit, so a hostile EHLO name cannot
  add fields (SECURITY A3.4).
* :func:`count_received` counts the ``Received:`` fields of a header block;
  an MTA refuses (or bounces) a message that has passed through too many
  hops, ``554 5.4.6`` (RFC 5321 section 6.3, SECURITY R6).
* :class:`LocalDelivery` delivers queued messages into each user's Maildir
  (the store writes into ``tmp/``, links into ``new/`` and flushes both the
  file and ``new/``, so a delivery reported done survives a crash), adding
  ``Return-Path`` (RFC 5321 section 4.4: added at final delivery) and
  ``Delivered-To``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from .._abnf import ADDRESS_LITERAL_RE, DOMAIN_RE
from ..message.headers import format_date
from ..pop3 import POP3Error
from ..store.maildir import MaildirStore
from .queue import DeliveryState, QueueEntry, ReceivedFrom, RecipientOutcome, RecipientStatus

__all__ = [
    "DEFAULT_MAX_HOPS",
    "LocalDelivery",
    "count_received",
    "received_field",
]

DEFAULT_MAX_HOPS = 100
"""Received fields a message may carry before it is taken for a loop (RFC 5321 section 6.3: "at least 100")."""

_RECEIVED_RE = re.compile(rb"(?im)^received[ \t]*:")
_HEADER_END_RE = re.compile(rb"\r?\n\r?\n")
_COMMENT_UNSAFE_RE = re.compile(r"[^\x21-\x27\x2a-\x5b\x5d-\x7e ]")
_IP_RE = re.compile(r"[0-9A-Fa-f:.]{2,45}\Z")


def _safe_name(name: str | None) -> str | None:
    """The EHLO name when it is a domain or an address literal, else None."""
    if name and len(name) <= 255 and (DOMAIN_RE.match(name) or ADDRESS_LITERAL_RE.match(name)):
        return name
    return None


def _comment_text(text: str, limit: int = 64) -> str:
    """Text safe inside a comment: no parentheses, backslashes or controls (RFC 5322 3.2.2 ctext)."""
    return _COMMENT_UNSAFE_RE.sub("?", text[:limit])


def received_field(
    *,
    by_host: str,
    received_from: ReceivedFrom | None,
    queue_id: str | None = None,
    recipient: str | None = None,
    when: datetime | None = None,
    tls: bool = False,
) -> bytes:
    """The ``Received:`` field for a message accepted now, CRLF-terminated and folded.

    Args:
        by_host: our host name.
        received_from: the client's EHLO name, address, protocol and
            authenticated identity.
        queue_id: our id for the message (``id`` clause).
        recipient: the single recipient (``for`` clause), if there is just one.
        when: the time of acceptance (now by default).
        tls: the message came over TLS; ``with`` then says ``ESMTPS``
            (``ESMTPSA`` when authenticated too), RFC 3848.
    """
    moment = when or datetime.now(timezone.utc)
    lines = _trace_clauses(by_host, received_from, queue_id, recipient, tls)
    date = _date_text(moment)
    if len(lines[-1]) + 2 + len(date) > 76:
        text = "\r\n".join(lines) + ";\r\n\t" + date
    else:
        text = "\r\n".join(lines) + "; " + date
    return (text + "\r\n").encode("utf-8", "replace")


@functools.lru_cache(maxsize=256)
def _trace_clauses(by_host: str, received_from: ReceivedFrom | None, queue_id: str | None,
                   recipient: str | None, tls: bool) -> tuple[str, ...]:
    """The folded lines of a Received field before its date (the same for a client's every message)."""
    parts: list[str] = []
    if received_from is not None:
        helo = _safe_name(received_from.helo)
        address = received_from.address if received_from.address and _IP_RE.match(
            received_from.address) else None
        tcp_info = f"[{address}]" if address else "unknown"
        if received_from.helo and helo is None:
            tcp_info += f" helo={_comment_text(received_from.helo)}"
        parts.append(f"from {helo or 'unknown'} ({tcp_info})")
    parts.append(f"by {by_host}")
    protocol = received_from.protocol if received_from else "ESMTP"
    authenticated = bool(received_from and received_from.authenticated)
    if protocol.upper() in ("ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA"):
        protocol = "ESMTP" + ("S" if tls else "") + ("A" if authenticated else "")
    parts.append(f"with {protocol}")
    if queue_id and re.fullmatch(r"[A-Za-z0-9._-]+", queue_id):
        parts.append(f"id {queue_id}")
    if recipient and not any(c in recipient for c in "\r\n\0<>") and len(recipient) <= 256:
        parts.append(f"for <{recipient}>")
    lines = ["Received: " + parts[0]]
    for part in parts[1:]:
        if len(lines[-1]) + 1 + len(part) > 76:
            lines.append("\t" + part)
        else:
            lines[-1] += " " + part
    return tuple(lines)


_last_date: tuple[datetime, object, str] | None = None


def _date_text(moment: datetime) -> str:
    """format_date, kept for the rest of the second (a busy server asks many times a second)."""
    global _last_date
    whole = moment.replace(microsecond=0)
    last = _last_date
    if last is not None and last[0] == whole and last[1] is whole.tzinfo:
        return last[2]
    text = format_date(whole)
    _last_date = (whole, whole.tzinfo, text)
    return text


def count_received(message: bytes) -> int:
    """How many ``Received:`` fields the header block of ``message`` holds.

    Only the header block is looked at (up to the first empty line); a body
    quoting trace fields does not count.
    """
    end = _HEADER_END_RE.search(message)
    header = message if end is None else message[: end.start() + 1]
    if header.startswith((b"\r\n", b"\n")):
        return 0
    return len(_RECEIVED_RE.findall(header))


def _default_mailbox(local_part: str, domain: str) -> str:
    return local_part.lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Split:
    local_part: str
    domain: str


def _split(address: str) -> _Split | None:
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return None
    if local.startswith('"') and local.endswith('"') and len(local) >= 2:
        local = re.sub(r"\\(.)", r"\1", local[1:-1])
    return _Split(local_part=local, domain=domain.lower())


class LocalDelivery:
    """Deliver queued messages to local Maildir mailboxes.

    Args:
        store: where the mailboxes are (``<root>/<user>/`` by default).
        hostname: our name, for replies.
        mailbox_for: maps (local part, domain) to the store's user name; by
            default the local part in lower case (one mailbox per user name,
            whatever the local domain).
        max_hops: a message with this many ``Received`` fields or more is
            refused as a loop (``554 5.4.6``) instead of being delivered.
    """

    def __init__(
        self,
        store: MaildirStore,
        *,
        hostname: str,
        mailbox_for: Callable[[str, str], str] = _default_mailbox,
        max_hops: int = DEFAULT_MAX_HOPS,
    ) -> None:
        self.store = store
        self.hostname = hostname
        self.mailbox_for = mailbox_for
        self.max_hops = max_hops

    def deliver(
        self, entry: QueueEntry, recipients: Sequence[RecipientStatus], message: bytes
    ) -> list[RecipientOutcome]:
        """Deliver ``message`` to each of ``recipients``; one outcome per recipient.

        A mailbox that cannot be written (disk full, permissions) gives a
        temporary failure (``451 4.3.0``): the recipient stays pending and is
        tried again; nothing that was delivered is delivered twice in the
        same attempt.
        """
        outcomes: list[RecipientOutcome] = []
        if count_received(message) >= self.max_hops:
            reply = f"554 5.4.6 Too many hops ({self.max_hops} or more Received fields): mail loop"
            return [RecipientOutcome(address=r.recipient.address, state=DeliveryState.FAILED,
                                     reply=reply, remote_mta=self.hostname) for r in recipients]
        return_path = f"Return-Path: <{entry.envelope.reverse_path}>\r\n".encode("utf-8", "replace")
        for status in recipients:
            address = status.recipient.address
            split = _split(address)
            if split is None:
                outcomes.append(RecipientOutcome(address=address, state=DeliveryState.FAILED,
                                                 reply="550 5.1.3 Bad recipient address syntax",
                                                 remote_mta=self.hostname))
                continue
            mailbox = self.mailbox_for(split.local_part, split.domain)
            delivered_to = f"Delivered-To: {address}\r\n".encode("utf-8", "replace")
            try:
                key = self.store.deliver(mailbox, return_path + delivered_to + message)
            except POP3Error as exc:
                permanent = exc.code != "SYS/TEMP"
                outcomes.append(RecipientOutcome(
                    address=address,
                    state=DeliveryState.FAILED if permanent else DeliveryState.PENDING,
                    reply=("550 5.1.1 No such mailbox" if permanent
                           else "451 4.3.0 Mailbox temporarily unavailable"),
                    remote_mta=self.hostname))
                continue
            except (OSError, ValueError) as exc:
                outcomes.append(RecipientOutcome(
                    address=address, state=DeliveryState.PENDING,
                    reply=f"451 4.3.0 Local delivery failed: {type(exc).__name__}",
                    remote_mta=self.hostname))
                continue
            outcomes.append(RecipientOutcome(address=address, state=DeliveryState.DELIVERED,
                                             reply=f"250 2.0.0 Delivered to {mailbox} as {key}",
                                             remote_mta=self.hostname))
        return outcomes
