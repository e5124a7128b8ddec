"""Restart backoff: immediate first restart, then exponential up to the cap."""

from __future__ import annotations

import pytest

from neuroscale.engine.backoff import BackoffPolicy, FailureRecord

POLICY = BackoffPolicy(initial=1.0, factor=2.0, cap=30.0, crashloop_after=2, flap_window=60.0, flap_limit=3)


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0.0), (1, 0.0), (2, 1.0), (3, 2.0), (4, 4.0), (6, 16.0), (7, 30.0), (50, 30.0)],
)
def test_delay(failures: int, delay: float) -> None:
    assert POLICY.delay(failures) == delay


def test_failure_record_sequence() -> None:
    record = FailureRecord()
    assert record.may_restart(now=0.0) and not record.crashlooping(POLICY)
    record = record.failed(POLICY, now=100.0, reason="ModelLoadFailed", message="corrupt")
    assert record.may_restart(now=100.0) and not record.crashlooping(POLICY)
    record = record.failed(POLICY, now=101.0, reason="ModelLoadFailed", message="corrupt")
    assert record.crashlooping(POLICY)
    assert (record.failures, record.delay, record.reason) == (2, 1.0, "ModelLoadFailed")
    assert not record.may_restart(now=101.5)
    assert record.may_restart(now=102.0)


def restart_delay_after_ready_death(record: FailureRecord, now: float) -> tuple[FailureRecord, float]:
    record = record.served_then_died(POLICY, now=now).failed(POLICY, now=now, reason="ProcessExited", message="kill")
    return record, record.delay


def test_killing_a_serving_server_restarts_it_at_once_every_time() -> None:
    record = FailureRecord()
    delays = []
    for now in (0.0, 30.0, 61.0, 92.0, 123.0):  # never 3 deaths within 60 s
        record, delay = restart_delay_after_ready_death(record, now)
        delays.append(delay)
    assert delays == [0.0] * 5
    assert not record.crashlooping(POLICY)


def test_a_server_that_keeps_dying_while_serving_backs_off() -> None:
    record = FailureRecord()
    delays = []
    for now in (0.0, 1.0, 2.0, 3.0, 4.0):
        record, delay = restart_delay_after_ready_death(record, now)
        delays.append(delay)
    assert delays == [0.0, 0.0, 1.0, 2.0, 4.0]
    assert record.crashlooping(POLICY)
