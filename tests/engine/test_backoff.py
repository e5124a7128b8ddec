"""Restart backoff: immediate first restart, then exponential up to the cap."""

from __future__ import annotations

import pytest

from neuroscale.engine.backoff import BackoffPolicy, FailureRecord

POLICY = BackoffPolicy(initial=1.0, factor=2.0, cap=30.0, crashloop_after=2, stable_after=10.0)


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


def restart_delay_after_ready_death(record: FailureRecord, ready_for: float) -> tuple[FailureRecord, float]:
    record = record.served_then_died(POLICY, ready_for=ready_for)
    record = record.failed(POLICY, now=0.0, reason="ProcessExited", message="kill")
    return record, record.delay


def test_killing_a_server_that_served_a_while_restarts_it_at_once_every_time() -> None:
    record = FailureRecord()
    delays = []
    for _ in range(10):  # ten external SIGKILLs, each after the server had been ready >= stable_after
        record, delay = restart_delay_after_ready_death(record, POLICY.stable_after)
        delays.append(delay)
    assert delays == [0.0] * 10
    assert not record.crashlooping(POLICY)


def test_a_server_that_dies_soon_after_ready_backs_off() -> None:
    record = FailureRecord()
    delays = []
    for _ in range(5):
        record, delay = restart_delay_after_ready_death(record, POLICY.stable_after - 0.1)
        delays.append(delay)
    assert delays == [0.0, 1.0, 2.0, 4.0, 8.0]
    assert record.crashlooping(POLICY)


def test_one_healthy_stretch_clears_an_earlier_crash_loop() -> None:
    record = FailureRecord()
    for _ in range(4):
        record, _ = restart_delay_after_ready_death(record, 0.5)
    assert record.crashlooping(POLICY)
    record, delay = restart_delay_after_ready_death(record, 60.0)
    assert (delay, record.failures) == (0.0, 1) and not record.crashlooping(POLICY)
