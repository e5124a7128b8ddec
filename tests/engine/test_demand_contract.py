"""The gateway's demand file is what the engine's autoscaler reads (both real halves, one file)."""

from __future__ import annotations

from pathlib import Path

from neuroscale.engine.demand import DemandReader
from neuroscale.gateway.balancer import Balancer
from neuroscale.gateway.demand import DemandPublisher


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def publish(publisher: DemandPublisher) -> bool:
    """One period of `DemandPublisher.run`, without the event loop: True when the file was written."""
    text = publisher.snapshot()
    if text is not None:
        publisher.write(text)
    return text is not None


def test_published_demand_becomes_an_average_concurrency(tmp_path: Path) -> None:
    clock, path = Clock(), tmp_path / "gateway.stats"
    balancer = Balancer(clock)
    balancer.sync([("iris", (("iris-predictor-00001", 100, (("127.0.0.1", 1),)),), 0)])
    publisher, reader = DemandPublisher(path, balancer), DemandReader(path, period=0.0)
    assert publish(publisher) and not publish(publisher), "idle: written once, then not again"
    pool = balancer.pool("iris-predictor-00001")
    for _ in range(3):
        pool.arrive()
    for second in range(5):
        clock.now = 100.0 + second
        assert publish(publisher)
        reader.sample(now=clock.now, wall=clock.now)
    history = reader.history("iris-predictor-00001")
    assert 2.5 < history.average(60.0, metric="concurrency") <= 3.0
    assert history.average(60.0, metric="rps") == 0.0  # all three arrived before the first sample


def test_a_new_gateway_process_resets_the_history(tmp_path: Path) -> None:
    path = tmp_path / "gateway.stats"
    path.write_text('{"version": 1, "pid": 1, "at": 0, "revisions": {"r": {"requests": 9, "busy": 9.0}}}')
    reader = DemandReader(path, period=0.0)
    reader.sample(now=1.0, wall=1.0)
    assert len(reader.history("r").samples) == 1
    path.write_text('{"version": 1, "pid": 2, "at": 0, "revisions": {"r": {"requests": 1, "busy": 0.5}}}')
    reader.sample(now=2.0, wall=2.0)
    assert [s.requests for s in reader.history("r").samples] == [1.0]
