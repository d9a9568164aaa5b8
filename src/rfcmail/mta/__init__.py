"""Store-and-forward building blocks: the durable queue, retry schedule, relay policy and DSNs.

* :mod:`rfcmail.mta.queue`: the spool directory (RFC 5321 section 6.1:
  nothing is acknowledged before it is durable; at-least-once delivery).
* :mod:`rfcmail.mta.schedule`: retry with back-off per destination (RFC
  5321 section 4.5.4.1), on an injected clock.
* :mod:`rfcmail.mta.policy`: relay control at RCPT time (RFC 5321 section
  3.6, RFC 2505).
* :mod:`rfcmail.mta.dsn`: RFC 3464 delivery status notifications honouring
  RFC 3461 NOTIFY, RET, ENVID and ORCPT.

Every public name of those modules is re-exported here.
"""

from __future__ import annotations

from .dsn import (
    Action,
    DeliveryStatusNotification,
    RecipientReport,
    build_dsn,
    build_dsn_for_entry,
    wants_notification,
)
from .policy import InMemoryUserDirectory, RecipientDecision, RelayPolicy, Route, UserDirectory
from .queue import (
    DeliveryState,
    Envelope,
    Queue,
    QueueCorruptError,
    QueueEntry,
    QueueError,
    QueueResourceError,
    ReceivedFrom,
    Recipient,
    RecipientOutcome,
    RecipientStatus,
    RecoveryReport,
    UnknownQueueIdError,
)
from .schedule import (
    DEFAULT_RETRY_POLICY,
    DestinationBackoff,
    RetryAction,
    RetryDecision,
    RetryPolicy,
    RetrySchedule,
)

__all__ = [
    "DEFAULT_RETRY_POLICY",
    "Action",
    "DeliveryState",
    "DeliveryStatusNotification",
    "DestinationBackoff",
    "Envelope",
    "InMemoryUserDirectory",
    "Queue",
    "QueueCorruptError",
    "QueueEntry",
    "QueueError",
    "QueueResourceError",
    "ReceivedFrom",
    "Recipient",
    "RecipientDecision",
    "RecipientOutcome",
    "RecipientReport",
    "RecipientStatus",
    "RecoveryReport",
    "RelayPolicy",
    "RetryAction",
    "RetryDecision",
    "RetryPolicy",
    "RetrySchedule",
    "Route",
    "UnknownQueueIdError",
    "UserDirectory",
    "build_dsn",
    "build_dsn_for_entry",
    "wants_notification",
]
