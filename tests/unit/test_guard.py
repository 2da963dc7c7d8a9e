"""``guard.time_limit`` next to an alarm someone else armed (pytest-timeout's signal method)."""

from __future__ import annotations

import signal

import pytest

from pytest_flaggems_import.runner.guard import OperatorTimeout, time_limit


class OuterAlarm(Exception):
    pass


@pytest.fixture
def outer_alarm():
    """Arm an outer SIGALRM (as pytest-timeout does) and put everything back afterwards."""

    def on_alarm(signum, frame):
        raise OuterAlarm

    previous = signal.signal(signal.SIGALRM, on_alarm)

    def arm(seconds: float) -> None:
        signal.setitimer(signal.ITIMER_REAL, seconds)

    yield arm, on_alarm
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def spin():
    while True:
        pass


def test_an_outer_alarm_that_comes_first_is_left_to_fire(outer_alarm):
    arm, _ = outer_alarm
    arm(0.2)
    with pytest.raises(OuterAlarm), time_limit(600):
        spin()


def test_a_shorter_limit_fires_and_the_outer_alarm_is_rearmed_with_its_time_left(outer_alarm):
    arm, handler = outer_alarm
    arm(600)
    with pytest.raises(OperatorTimeout), time_limit(0.2):
        spin()
    left, _ = signal.getitimer(signal.ITIMER_REAL)
    assert 590 < left < 600
    assert signal.getsignal(signal.SIGALRM) is handler


def test_without_an_outer_alarm_nothing_is_left_armed():
    with time_limit(30):
        pass
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
