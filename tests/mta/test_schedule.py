"""rfcmail.mta.schedule: RFC 5321 4.5.4.1 back-off in simulated time (SECURITY R4)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.mta.schedule import (
    DEFAULT_RETRY_POLICY,
    RetryAction,
    RetryPolicy,
    RetrySchedule,
)

HOUR = 3600.0
DAY = 24 * HOUR


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_defaults_follow_rfc_5321() -> None:
    policy = DEFAULT_RETRY_POLICY
    assert policy.first_retry >= 30 * 60  # "SHOULD be at least 30 minutes"
    assert policy.max_age == 5 * DAY  # "at least 4-5 days"
    assert policy.delay_warning is None  # off by default
    assert [policy.interval(n) for n in range(0, 6)] == [0, 1800, 3600, 7200, 7200, 7200]


def test_policy_validation() -> None:
    for bad in ({"first_retry": 0}, {"first_retry": math.inf}, {"max_age": -1},
                {"backoff_factor": 0.5}, {"backoff_factor": math.nan},
                {"max_interval": 60, "first_retry": 120}, {"delay_warning": 0},
                {"delay_warning": 6 * DAY}):
        with pytest.raises(ValueError):
            RetryPolicy(**bad)


def test_huge_failure_counts_do_not_overflow() -> None:
    policy = RetryPolicy(backoff_factor=10.0)
    assert policy.interval(10**9) == policy.max_interval


def simulate(schedule: RetrySchedule, clock: Clock, arrival: float) -> list[float]:
    """Fail every attempt; return the attempt times up to giving up."""
    attempts = [arrival]
    failures = 0
    while True:
        failures += 1
        decision = schedule.after_failure(arrival_time=arrival, attempts=failures)
        if decision.action is RetryAction.GIVE_UP:
            return attempts
        assert decision.next_attempt is not None
        clock.now = decision.next_attempt
        attempts.append(clock.now)


def test_five_days_of_failures_in_simulated_time() -> None:
    clock = Clock(1000.0)
    schedule = RetrySchedule(clock=clock)
    times = simulate(schedule, clock, arrival=1000.0)
    gaps = [b - a for a, b in zip(times, times[1:])]
    # First retry after the minimum, gaps never shrink (but the last, clipped
    # to the deadline), never exceed the cap.
    assert gaps[0] == DEFAULT_RETRY_POLICY.first_retry
    assert all(a <= b for a, b in zip(gaps[:-2], gaps[1:-1]))
    assert max(gaps) <= DEFAULT_RETRY_POLICY.max_interval
    # Two attempts in the first hour (RFC 5321 4.5.4.1's example shape).
    assert sum(1 for t in times if t - 1000.0 < HOUR) == 2
    # The last attempt happens at the deadline, and then the message is given up.
    assert times[-1] == 1000.0 + 5 * DAY
    assert 55 <= len(times) <= 65


def test_give_up_at_max_age() -> None:
    schedule = RetrySchedule(RetryPolicy(max_age=DAY))
    just_before = schedule.after_failure(arrival_time=0, attempts=3, now=DAY - 1)
    assert just_before.action is RetryAction.RETRY and just_before.next_attempt == DAY
    at = schedule.after_failure(arrival_time=0, attempts=4, now=DAY)
    assert at.action is RetryAction.GIVE_UP and at.next_attempt is None
    after = schedule.after_failure(arrival_time=0, attempts=4, now=DAY + 1)
    assert after.action is RetryAction.GIVE_UP
    assert not schedule.expired(0, now=DAY - 1) and schedule.expired(0, now=DAY)


def test_delay_warning_once_after_the_configured_delay() -> None:
    schedule = RetrySchedule(RetryPolicy(delay_warning=4 * HOUR))
    early = schedule.after_failure(arrival_time=0, attempts=2, now=4 * HOUR - 1)
    assert not early.warn
    due = schedule.after_failure(arrival_time=0, attempts=3, now=4 * HOUR)
    assert due.warn
    done = schedule.after_failure(arrival_time=0, attempts=4, now=5 * HOUR, delay_warned=True)
    assert not done.warn
    off = RetrySchedule()
    assert not off.after_failure(arrival_time=0, attempts=9, now=4 * DAY).warn


def test_backoff_is_per_destination() -> None:
    clock = Clock(0.0)
    schedule = RetrySchedule(clock=clock)
    assert schedule.is_ready("mx.example.org") and schedule.ready_at("mx.example.org") == 0
    assert schedule.record_failure("MX.example.org") == 1800
    assert schedule.failures("mx.example.org") == 1
    # A second message for the same destination waits too, though it never failed.
    assert schedule.next_attempt(message_due=10.0, destination="mx.example.org") == 1800
    assert schedule.next_attempt(message_due=10.0, destination="other.example") == 10.0
    clock.now = 1800
    assert schedule.is_ready("mx.example.org")
    assert schedule.record_failure("mx.example.org") == 1800 + 3600
    assert not schedule.is_ready("mx.example.org")
    schedule.record_success("mx.example.org")
    assert schedule.is_ready("mx.example.org") and schedule.failures("mx.example.org") == 0


@pytest.mark.parametrize("limit", [2, 3, 4])
def test_max_destinations_boundary(limit: int) -> None:
    # Three failing destinations against limits N-1, N, N+1.
    schedule = RetrySchedule(clock=Clock(), max_destinations=limit)
    for name in ("a", "b", "c"):
        schedule.record_failure(name)
    assert len(schedule) == min(limit, 3)
    # The least recently failed is forgotten first.
    assert schedule.failures("a") == (1 if limit >= 3 else 0)
    assert schedule.failures("c") == 1
    with pytest.raises(ValueError):
        RetrySchedule(max_destinations=0)


@given(
    first=st.floats(1, 10_000),
    factor=st.floats(1, 5),
    cap_extra=st.floats(0, 100_000),
    age=st.floats(1, 30 * DAY),
    failures=st.integers(1, 10_000),
    now_offset=st.floats(0, 40 * DAY),
)
def test_decisions_property(first: float, factor: float, cap_extra: float, age: float,
                            failures: int, now_offset: float) -> None:
    policy = RetryPolicy(first_retry=first, backoff_factor=factor,
                         max_interval=first + cap_extra, max_age=age)
    schedule = RetrySchedule(policy)
    decision = schedule.after_failure(arrival_time=0.0, attempts=failures, now=now_offset)
    if now_offset >= age:
        assert decision.action is RetryAction.GIVE_UP
    else:
        assert decision.next_attempt is not None
        assert now_offset < decision.next_attempt <= age
        # (a float tolerance: next_attempt is now + interval, rounded)
        assert decision.next_attempt - now_offset <= policy.max_interval * (1 + 1e-9)
    assert first <= policy.interval(failures) <= policy.max_interval
    assert policy.interval(failures) <= policy.interval(failures + 1)
