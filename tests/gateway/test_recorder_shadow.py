"""Recording keeps a bounded, rotating sample; shadowing copies an exact share, evenly spread."""

from __future__ import annotations

import json
from pathlib import Path

from neuroscale.gateway.balancer import Balancer
from neuroscale.gateway.recorder import Recorder
from neuroscale.gateway.shadow import Mirror
from neuroscale.gateway.upstream import UpstreamPool


def test_the_ring_is_bounded_in_requests_and_bytes_and_rotates(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "samples")
    for index in range(10):
        recorder.keep("iris", json.dumps({"instances": [[index]]}).encode(), max_requests=3, max_bytes=1000)
    recorder.keep("iris", b"not json", max_requests=3, max_bytes=1000)
    recorder.keep("iris", b"x" * 2000, max_requests=3, max_bytes=1000)  # larger than the cap: never kept
    assert recorder.flush() == 1 and recorder.flush() == 0, "rewritten only when it changed"
    lines = (tmp_path / "samples" / "iris.jsonl").read_text().splitlines()
    assert [json.loads(line)["instances"] for line in lines] == [[[8]], [[9]]], "oldest out; non-JSON left out"
    small = Recorder(tmp_path / "small")
    for index in range(10):
        small.keep("e", b'{"instances": [[%d]]}' % index, max_requests=100, max_bytes=40)
    small.flush()
    assert len((tmp_path / "small" / "e.jsonl").read_text().splitlines()) == 2


def test_the_shadow_share_is_exact_over_every_hundred_requests() -> None:
    mirror = Mirror(Balancer(lambda: 0.0), UpstreamPool(), path=None)
    for percent in (1, 20, 50, 100):
        picks = [mirror.due(f"e{percent}", percent) for _ in range(1000)]
        assert sum(picks) == 10 * percent and sum(picks[:100]) == percent
    assert not any(mirror.due("zero", 0) for _ in range(100))
