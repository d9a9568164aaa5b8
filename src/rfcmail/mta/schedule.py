"""Retry scheduling with back-off, per destination, on an injected clock.

RFC 5321 section 4.5.4.1: the sender MUST delay retrying a failed
destination; the retry interval SHOULD be at least 30 minutes, with "two
connection attempts in the first hour ... and then ... one every two or
three hours" as the recommended shape; the give-up time "generally needs to
be at least 4-5 days"; and the parameters MUST be configurable. Retries are
per destination as well as per message: when a host is down, every message
for it waits, not only the one that failed (SECURITY R4).

The defaults (:class:`RetryPolicy`): first retry 30 minutes after the first
failure, each interval doubled, capped at 2 hours, give up 5 days after
arrival, no "delayed" warning unless :attr:`RetryPolicy.delay_warning` is set
(the DSN for it is :func:`rfcmail.mta.dsn.build_dsn` with ``Action:
delayed``). Nothing here reads the real time: every method takes ``now`` or
asks the clock it was given, so tests run days of retries in simulated time.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "DEFAULT_RETRY_POLICY",
    "DestinationBackoff",
    "RetryAction",
    "RetryDecision",
    "RetryPolicy",
    "RetrySchedule",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """The retry parameters (RFC 5321 section 4.5.4.1: all configurable).

    Attributes:
        first_retry: seconds from the first failure to the first retry.
        backoff_factor: each following interval is the previous one times
            this (1.0 for a fixed interval).
        max_interval: the longest interval between two attempts.
        max_age: seconds after arrival when the message is given up and
            bounced (5 days by default).
        delay_warning: seconds after arrival when the sender gets a "delayed"
            DSN, or ``None`` (the default) for no warning.
    """

    first_retry: float = 30 * 60
    backoff_factor: float = 2.0
    max_interval: float = 2 * 60 * 60
    max_age: float = 5 * 24 * 60 * 60
    delay_warning: float | None = None

    def __post_init__(self) -> None:
        for name in ("first_retry", "max_interval", "max_age"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"RetryPolicy.{name} must be a positive number, got {value!r}")
        if not math.isfinite(self.backoff_factor) or self.backoff_factor < 1.0:
            raise ValueError(f"RetryPolicy.backoff_factor must be >= 1, got {self.backoff_factor}")
        if self.max_interval < self.first_retry:
            raise ValueError("RetryPolicy.max_interval must not be below first_retry")
        if self.delay_warning is not None and not 0 < self.delay_warning < self.max_age:
            raise ValueError("RetryPolicy.delay_warning must be between 0 and max_age")

    def interval(self, failures: int) -> float:
        """The wait after the ``failures``-th consecutive failure (1 = the first)."""
        if failures < 1:
            return 0.0
        # Capped before exponentiating so that huge counts cannot overflow.
        steps = min(failures - 1, 1024)
        try:
            value = self.first_retry * self.backoff_factor**steps
        except OverflowError:
            return self.max_interval
        return min(value, self.max_interval)


DEFAULT_RETRY_POLICY = RetryPolicy()
"""30 minutes, doubling, at most 2 hours apart, give up after 5 days, no warning."""


class RetryAction(enum.Enum):
    """What to do with a message after a temporary failure."""

    RETRY = "retry"
    """Try again at :attr:`RetryDecision.next_attempt`."""
    GIVE_UP = "give-up"
    """The maximum age is reached: fail the pending recipients and bounce."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryDecision:
    """The schedule's answer after a temporary failure.

    Attributes:
        action: retry or give up.
        next_attempt: when to retry (clock seconds), ``None`` when giving up.
        warn: True when a "delayed" DSN is due now (once per message).
    """

    action: RetryAction
    next_attempt: float | None
    warn: bool = False


@dataclass(slots=True)
class DestinationBackoff:
    """The failure record of one destination (a domain, a host or a smart host).

    Attributes:
        failures: consecutive failures.
        ready_at: no attempt to this destination before this time.
    """

    failures: int = 0
    ready_at: float = 0.0


class RetrySchedule:
    """Decides when messages and destinations are tried again.

    Args:
        policy: the retry parameters.
        clock: returns the current time in seconds (``time.time`` by
            default); pass a fake clock in tests.
        max_destinations: most destinations remembered; the least recently
            failed ones are forgotten first, so a flood of distinct failing domains
            cannot grow memory without bound.
    """

    def __init__(self, policy: RetryPolicy = DEFAULT_RETRY_POLICY, *,
                 clock: Callable[[], float] = time.time, max_destinations: int = 100_000) -> None:
        if max_destinations < 1:
            raise ValueError("max_destinations must be at least 1")
        self.policy = policy
        self.clock = clock
        self.max_destinations = max_destinations
        self._destinations: dict[str, DestinationBackoff] = {}

    # -- per message

    def after_failure(self, *, arrival_time: float, attempts: int, delay_warned: bool = False,
                      now: float | None = None) -> RetryDecision:
        """Decide what follows a temporary failure of a message.

        Args:
            arrival_time: when the message was queued.
            attempts: failed attempts so far, this one included.
            delay_warned: whether the "delayed" DSN already went out.
            now: the time of the failure (the clock by default).

        Returns:
            ``GIVE_UP`` once the message is ``max_age`` old; otherwise the
            next attempt, never later than the give-up time, so the last try
            happens at the deadline.
        """
        moment = self.clock() if now is None else now
        deadline = arrival_time + self.policy.max_age
        warn = (
            self.policy.delay_warning is not None
            and not delay_warned
            and moment - arrival_time >= self.policy.delay_warning
        )
        if moment >= deadline:
            return RetryDecision(action=RetryAction.GIVE_UP, next_attempt=None, warn=False)
        following = min(moment + self.policy.interval(max(attempts, 1)), deadline)
        return RetryDecision(action=RetryAction.RETRY, next_attempt=following, warn=warn)

    def expired(self, arrival_time: float, now: float | None = None) -> bool:
        """True when a message that arrived at ``arrival_time`` is past its maximum age."""
        moment = self.clock() if now is None else now
        return moment >= arrival_time + self.policy.max_age

    # -- per destination

    def record_failure(self, destination: str, now: float | None = None) -> float:
        """Note a failed attempt to ``destination``; return when it may be tried again."""
        moment = self.clock() if now is None else now
        key = destination.lower()
        state = self._destinations.pop(key, None) or DestinationBackoff()
        state.failures += 1
        state.ready_at = moment + self.policy.interval(state.failures)
        self._destinations[key] = state
        if len(self._destinations) > self.max_destinations:
            # Insertion order is failure order: forget the least recently failed.
            del self._destinations[next(iter(self._destinations))]
        return state.ready_at

    def record_success(self, destination: str) -> None:
        """Note a successful attempt: the destination's back-off is cleared."""
        self._destinations.pop(destination.lower(), None)

    def ready_at(self, destination: str) -> float:
        """The earliest time ``destination`` may be tried (0 when it never failed)."""
        state = self._destinations.get(destination.lower())
        return 0.0 if state is None else state.ready_at

    def is_ready(self, destination: str, now: float | None = None) -> bool:
        """True when ``destination`` may be tried now."""
        moment = self.clock() if now is None else now
        return self.ready_at(destination) <= moment

    def failures(self, destination: str) -> int:
        """Consecutive failures recorded for ``destination``."""
        state = self._destinations.get(destination.lower())
        return 0 if state is None else state.failures

    def next_attempt(self, *, message_due: float, destination: str) -> float:
        """When a message due at ``message_due`` for ``destination`` should really be tried."""
        return max(message_due, self.ready_at(destination))

    def __len__(self) -> int:
        return len(self._destinations)
