"""Delivery status notifications: RFC 3464 multipart/report bounces, RFC 3461 NOTIFY and RET.

A DSN is a ``multipart/report; report-type=delivery-status`` message
(RFC 6522) with three parts:

1. a human-readable explanation (text/plain);
2. ``message/delivery-status`` (RFC 3464 section 2): the per-message fields
   (``Reporting-MTA``, ``Original-Envelope-Id``, ``Received-From-MTA``,
   ``Arrival-Date``) and, per recipient, ``Original-Recipient``,
   ``Final-Recipient``, ``Action``, ``Status`` (RFC 3463), ``Remote-MTA``,
   ``Diagnostic-Code``, ``Last-Attempt-Date`` and ``Will-Retry-Until``;
3. the original message (``message/rfc822``) or only its header
   (``text/rfc822-headers``), as RET asks (RFC 3461 section 4.3).

Rules applied here:

* a DSN is never sent for a message whose reverse path is null (RFC 5321
  sections 4.5.5 and 6.1, SECURITY R5): :func:`build_dsn` returns ``None``;
* each recipient appears only when its NOTIFY asks for its action (RFC 3461
  section 4.1): ``NEVER`` never, ``SUCCESS`` for delivered/relayed/expanded,
  ``FAILURE`` for failed, ``DELAY`` for delayed; without NOTIFY, failures
  (and delays, which the caller only reports when its delay warning is on);
* the DSN itself goes out with the null reverse path and carries
  ``Auto-Submitted: auto-replied`` (RFC 3834) so that it cannot start a loop.

The message is built with the standard library's :mod:`email` package (the
rfcmail message builder will take over when it lands); text that came from
outside (remote replies, addresses) is stripped of control characters before
it goes into a header field, so a hostile reply cannot inject fields.
"""

from __future__ import annotations

import email.policy
import email.utils
import enum
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage, Message

from .queue import Envelope, QueueEntry, Recipient

__all__ = [
    "Action",
    "DeliveryStatusNotification",
    "RecipientReport",
    "build_dsn",
    "build_dsn_for_entry",
    "wants_notification",
]

_STATUS_RE = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})\Z")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")
_MAX_FIELD = 900  # keeps every DSN field line under RFC 5322's 998 octets
_POLICY = email.policy.SMTP.clone(refold_source="none", max_line_length=998)


class Action(enum.Enum):
    """The RFC 3464 section 2.3.3 Action values."""

    FAILED = "failed"
    DELAYED = "delayed"
    DELIVERED = "delivered"
    RELAYED = "relayed"
    EXPANDED = "expanded"


_STATUS_CLASS = {
    Action.FAILED: "5",
    Action.DELAYED: "4",
    Action.DELIVERED: "2",
    Action.RELAYED: "2",
    Action.EXPANDED: "2",
}
_NOTIFY_FOR = {
    Action.FAILED: "FAILURE",
    Action.DELAYED: "DELAY",
    Action.DELIVERED: "SUCCESS",
    Action.RELAYED: "SUCCESS",
    Action.EXPANDED: "SUCCESS",
}


def wants_notification(notify: frozenset[str], action: Action) -> bool:
    """True when a recipient with these NOTIFY keywords is reported for ``action``.

    RFC 3461 section 4.1: ``NEVER`` suppresses everything; an absent NOTIFY
    means ``FAILURE`` (plus ``DELAY`` at the MTA's discretion: a caller only
    builds delayed reports when its delay warning is enabled).
    """
    keywords = {keyword.upper() for keyword in notify}
    if "NEVER" in keywords:
        return False
    if not keywords:
        return action in (Action.FAILED, Action.DELAYED)
    return _NOTIFY_FOR[action] in keywords


def _clean(value: str) -> str:
    """One safe header-field line: no controls, ASCII only, bounded length."""
    text = _CONTROL_RE.sub(" ", value).strip()
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text[:_MAX_FIELD]


def _date(timestamp: float) -> str:
    return email.utils.format_datetime(datetime.fromtimestamp(timestamp, timezone.utc))


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientReport:
    """What happened to one recipient, for its per-recipient DSN fields.

    Attributes:
        final_recipient: the address the report is about.
        action: failed, delayed, delivered, relayed or expanded.
        status: the RFC 3463 code; its class must match the action (5 for
            failed, 4 for delayed, 2 otherwise).
        notify: the recipient's NOTIFY keywords (empty when none were given).
        original_recipient: the ORCPT value as ``type;address``, if any.
        remote_mta: the host that answered, if any.
        diagnostic_code: the reply received (``"550 5.1.1 User unknown"``),
            reported as ``smtp; ...``.
        last_attempt: when the last attempt was made (clock seconds).
        will_retry_until: for ``delayed``: when the MTA gives up.
    """

    final_recipient: str
    action: Action
    status: str
    notify: frozenset[str] = frozenset()
    original_recipient: str | None = None
    remote_mta: str | None = None
    diagnostic_code: str | None = None
    last_attempt: float | None = None
    will_retry_until: float | None = None

    def __post_init__(self) -> None:
        match = _STATUS_RE.match(self.status)
        if match is None:
            raise ValueError(f"status {self.status!r} is not an RFC 3463 code like 5.1.1")
        if match.group(1) != _STATUS_CLASS[self.action]:
            raise ValueError(f"status {self.status} does not fit Action: {self.action.value}")

    @classmethod
    def for_recipient(cls, recipient: Recipient, **fields: object) -> RecipientReport:
        """A report for a queued :class:`~rfcmail.mta.queue.Recipient` (NOTIFY, ORCPT copied)."""
        return cls(final_recipient=recipient.address, notify=recipient.notify,
                   original_recipient=recipient.orcpt, **fields)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryStatusNotification:
    """A DSN ready to be queued.

    Attributes:
        recipient: where it goes: the original reverse path.
        message: the DSN, CRLF line endings.
        reports: the recipients it reports on.
    """

    recipient: str
    message: bytes
    reports: tuple[RecipientReport, ...]

    @property
    def envelope(self) -> Envelope:
        """The envelope to queue it with: null reverse path (RFC 5321 6.1), NOTIFY=NEVER."""
        return Envelope(reverse_path="",
                        recipients=(Recipient(address=self.recipient,
                                              notify=frozenset({"NEVER"})),))


def _field_block(fields: Sequence[tuple[str, str]]) -> Message:
    block = Message(policy=_POLICY)
    for name, value in fields:
        block[name] = value
    return block


def _split_header(original: bytes) -> bytes:
    """The header section of ``original`` (up to the first empty line)."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        index = original.find(separator)
        if index != -1:
            return original[: index + len(separator) // 2]
    return original


def _summary(reports: Sequence[RecipientReport]) -> tuple[str, str]:
    actions = {report.action for report in reports}
    if Action.FAILED in actions:
        return ("Undelivered Mail Returned to Sender",
                "Your message could not be delivered to one or more recipients.")
    if Action.DELAYED in actions:
        return ("Delayed Mail (still being retried)",
                "Your message has not been delivered yet to one or more recipients. "
                "Delivery will be retried; you do not need to resend it.")
    return ("Successful Mail Delivery Report",
            "Your message was delivered (or relayed) as you asked to be told.")


def build_dsn(
    *,
    reporting_mta: str,
    reverse_path: str,
    reports: Sequence[RecipientReport],
    original: bytes,
    arrival_time: float,
    now: float,
    envid: str | None = None,
    ret: str | None = None,
    received_from_mta: str | None = None,
    max_returned_size: int = 1024 * 1024,
) -> DeliveryStatusNotification | None:
    """Build an RFC 3464 DSN, or return ``None`` when none may or need be sent.

    Args:
        reporting_mta: this MTA's host name (``Reporting-MTA: dns; ...``).
        reverse_path: the original MAIL FROM; ``""`` (null) gives ``None``.
        reports: one report per recipient considered; those whose NOTIFY
            does not ask for their action are left out, and when none is
            left the result is ``None``.
        original: the original message bytes.
        arrival_time: when the original arrived (``Arrival-Date``).
        now: the DSN's ``Date``.
        envid: the ENVID (``Original-Envelope-Id``), if the sender gave one.
        ret: ``"FULL"`` returns the whole message, ``"HDRS"`` only its
            header; ``None`` returns the whole message up to
            ``max_returned_size`` octets and the header beyond that.
        received_from_mta: the client that gave us the message
            (``Received-From-MTA: dns; ...``), if known.
        max_returned_size: the largest original returned in full when RET
            was not given (or was FULL: a DSN must not be a mail bomb).
    """
    if not reverse_path:
        return None
    chosen = tuple(r for r in reports if wants_notification(r.notify, r.action))
    if not chosen:
        return None
    subject, opening = _summary(chosen)

    lines = [opening, ""]
    for report in chosen:
        line = f"<{_clean(report.final_recipient)}>: {report.action.value} ({report.status})"
        if report.diagnostic_code:
            line += f"\n    {_clean(report.diagnostic_code)}"
        lines.append(line)
    lines += ["", f"-- The mail system at {_clean(reporting_mta)}", ""]

    per_message = [("Reporting-MTA", f"dns; {_clean(reporting_mta)}")]
    if envid is not None:
        per_message.append(("Original-Envelope-Id", _clean(envid)))
    if received_from_mta:
        per_message.append(("Received-From-MTA", f"dns; {_clean(received_from_mta)}"))
    per_message.append(("Arrival-Date", _date(arrival_time)))
    blocks: list[Message | str] = [_field_block(per_message)]
    for report in chosen:
        fields: list[tuple[str, str]] = []
        if report.original_recipient:
            kind, _, address = report.original_recipient.partition(";")
            if not address:
                kind, address = "rfc822", kind
            fields.append(("Original-Recipient", f"{_clean(kind)};{_clean(address)}"))
        fields.append(("Final-Recipient", f"rfc822;{_clean(report.final_recipient)}"))
        fields.append(("Action", report.action.value))
        fields.append(("Status", report.status))
        if report.remote_mta:
            fields.append(("Remote-MTA", f"dns; {_clean(report.remote_mta)}"))
        if report.diagnostic_code:
            fields.append(("Diagnostic-Code", f"smtp; {_clean(report.diagnostic_code)}"))
        if report.last_attempt is not None:
            fields.append(("Last-Attempt-Date", _date(report.last_attempt)))
        if report.will_retry_until is not None and report.action is Action.DELAYED:
            fields.append(("Will-Retry-Until", _date(report.will_retry_until)))
        blocks.append(_field_block(fields))

    dsn = EmailMessage(policy=_POLICY)
    dsn["From"] = f"Mail Delivery System <MAILER-DAEMON@{_clean(reporting_mta)}>"
    dsn["To"] = f"<{_clean(reverse_path)}>"
    dsn["Subject"] = subject
    dsn["Date"] = _date(now)
    dsn["Message-ID"] = email.utils.make_msgid("dsn", domain=_clean(reporting_mta))
    dsn["Auto-Submitted"] = "auto-replied"
    dsn["MIME-Version"] = "1.0"
    dsn.set_type("multipart/report")
    dsn.set_param("report-type", "delivery-status")

    human = EmailMessage(policy=_POLICY)
    human.set_content("\n".join(lines), subtype="plain", charset="us-ascii", cte="7bit")
    del human["MIME-Version"]
    status = Message(policy=_POLICY)
    status["Content-Type"] = "message/delivery-status"
    status.set_payload(blocks)

    headers_only = ret == "HDRS" or len(original) > max_returned_size
    returned = Message(policy=_POLICY)
    if headers_only:
        returned["Content-Type"] = "text/rfc822-headers"
        header_text = _split_header(original).decode("utf-8", "surrogateescape")
        returned["Content-Transfer-Encoding"] = "7bit" if header_text.isascii() else "8bit"
        returned.set_payload(header_text)
    else:
        inner = email.message_from_bytes(original, policy=_POLICY)
        returned["Content-Type"] = "message/rfc822"
        returned.set_payload([inner])
    dsn.set_payload([human, status, returned])
    # An explicit boundary keeps the generator from scanning for one.
    dsn.set_boundary(f"=_dsn_{secrets.token_hex(12)}")
    data = dsn.as_bytes(policy=_POLICY)
    return DeliveryStatusNotification(recipient=reverse_path, message=data, reports=chosen)


def build_dsn_for_entry(
    entry: QueueEntry,
    reports: Sequence[RecipientReport],
    original: bytes,
    *,
    reporting_mta: str,
    now: float,
    max_returned_size: int = 1024 * 1024,
) -> DeliveryStatusNotification | None:
    """:func:`build_dsn` with the envelope fields (reverse path, ENVID, RET, client) of a queue entry."""
    envelope = entry.envelope
    received = envelope.received_from
    return build_dsn(
        reporting_mta=reporting_mta, reverse_path=envelope.reverse_path, reports=reports,
        original=original, arrival_time=entry.arrival_time, now=now, envid=envelope.envid,
        ret=envelope.ret, received_from_mta=received.helo if received else None,
        max_returned_size=max_returned_size,
    )

