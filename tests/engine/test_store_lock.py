"""SQLite store (bounded events, status round trip) and the single-instance lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuroscale.db import connect
from neuroscale.engine import store as store_module
from neuroscale.engine.lock import acquire
from neuroscale.engine.store import EngineStore, StatusStore
from neuroscale.errors import AlreadyRunning
from neuroscale.home import Home
from neuroscale.status.conditions import ConditionType, true
from neuroscale.status.model import EndpointStatus, Event, EventType, Health, Sync


def test_events_are_bounded_and_ordered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "EVENTS_KEPT", 5)
    store = EngineStore(connect(tmp_path / "state.db"))
    for i in range(8):
        store.record_event(Event(f"T{i}", "a" if i % 2 else "b", EventType.Normal, "RevisionReady", str(i)))
    reader = StatusStore(connect(tmp_path / "state.db"))
    assert [e.message for e in reader.events()] == ["3", "4", "5", "6", "7"]
    assert [e.message for e in reader.events(name="a", limit=2)] == ["5", "7"]


def test_status_round_trip(tmp_path: Path) -> None:
    store = EngineStore(connect(tmp_path / "state.db"))
    status = EndpointStatus(name="iris", namespace="default", url="http://iris.default.localhost:8080",
                            sync=Sync.Synced, health=Health.Healthy, revision="iris-predictor-00001",
                            conditions=(true(ConditionType.Ready, "Deployed"),), observed_commit="abc",
                            updated_at="T")
    store.save_status(status)
    store.save_status(status)
    assert [s.name for s in store.list_endpoints()] == ["iris"]
    got = store.get("iris")
    assert got is not None and got.ready and got.observed_commit == "abc"
    store.delete_status("iris")
    assert store.get("iris") is None and store.list_endpoints() == []


def test_second_reconciler_is_refused(tmp_path: Path) -> None:
    home = Home(tmp_path)
    held = acquire(home)
    try:
        with pytest.raises(AlreadyRunning, match="already running"):
            acquire(home)
    finally:
        held.close()
    acquire(home).close()
