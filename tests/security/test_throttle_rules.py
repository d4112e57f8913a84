"""The throttle's arithmetic with a fake clock: the waits the issue specifies, exactly."""

from __future__ import annotations

import pytest

from dashboard.web.throttle import LoginThrottle, describe_wait


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def fail(throttle: LoginThrottle, name: str, address: str, times: int) -> None:
    for _ in range(times):
        throttle.failed(name, address)


def test_waits_double_from_the_base_after_five_failures_and_cap_at_15_minutes(clock) -> None:
    throttle = LoginThrottle(base_delay_s=1.0, max_delay_s=900.0, clock=clock)
    fail(throttle, "ann", "a", 4)
    assert throttle.check("ann", "a") is None
    waits = []
    for _ in range(13):
        throttle.failed("ann", "a")
        refusal = throttle.check("ann", "a")
        waits.append(refusal.wait_s)
        clock.now += refusal.wait_s  # wait it out exactly, then fail again
        assert throttle.check("ann", "a") is None
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]


def test_one_audit_flag_per_wait(clock) -> None:
    throttle = LoginThrottle(clock=clock)
    fail(throttle, "ann", "a", 5)
    flags = [throttle.check("ann", "a").first for _ in range(3)]
    clock.now += 1.0
    throttle.failed("ann", "a")
    flags += [throttle.check("ann", "a").first for _ in range(2)]
    assert flags == [True, False, False, True, False]


def test_the_name_rule_starts_after_50_failures_across_addresses(clock) -> None:
    throttle = LoginThrottle(clock=clock)
    for i in range(49):
        throttle.failed("ann", f"10.0.0.{i}")
    assert throttle.check("ann", "10.0.1.1") is None
    throttle.failed("ann", "10.0.0.99")  # the 50th
    refusal = throttle.check("ann", "10.0.1.1")
    assert (refusal.scope, refusal.wait_s) == ("name", 1.0)
    assert throttle.check("bob", "10.0.1.1") is None


def test_an_address_gets_100_failures_an_hour(clock) -> None:
    throttle = LoginThrottle(clock=clock)
    for i in range(100):
        throttle.failed(f"name{i}", "a")
        clock.now += 1.0
    refusal = throttle.check("someone", "a")
    assert refusal.scope == "address"
    assert refusal.wait_s == pytest.approx(3600.0 - 100.0)
    assert throttle.check("someone", "b") is None
    clock.now += refusal.wait_s  # the oldest failure is an hour old
    assert throttle.check("someone", "a") is None


def test_success_clears_the_name_counters(clock) -> None:
    throttle = LoginThrottle(clock=clock)
    fail(throttle, "ann", "a", 5)
    clock.now += 1.0
    throttle.succeeded("ann", "a")
    throttle.failed("ann", "a")
    assert throttle.check("ann", "a") is None


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0.2, "1 second"),
        (1.0, "1 second"),
        (7.01, "8 seconds"),
        (119, "119 seconds"),
        (130, "3 minutes"),
        (900, "15 minutes"),
    ],
)
def test_waits_in_plain_words(seconds, words) -> None:
    assert describe_wait(seconds) == words
