"""Admins' orders between gateway and engine: the spool keeps their order, the engine's table keeps the state."""

from __future__ import annotations

import stat
from pathlib import Path

from neuroscale.db import connect
from neuroscale.engine.unloads import Unloads
from neuroscale.model_orders import Action, Order, pending, submit

UNLOAD = Order("iris", Action.unload, "ann", "2026-01-01T00:00:00+00:00")
LOAD = Order("iris", Action.load, "bob", "2026-01-01T00:01:00+00:00")


def test_orders_come_back_in_the_order_given_and_stay_until_done(tmp_path: Path) -> None:
    spool = tmp_path / "orders"
    assert pending(spool) == [], "no spool yet: no orders"
    for order in (UNLOAD, LOAD, UNLOAD):
        submit(spool, order)
    (spool / "0-broken.json").write_text("{not json")
    (spool / ".half-written.tmp").write_text("{")
    found = pending(spool)
    assert [item.order for item in found] == [UNLOAD, LOAD, UNLOAD]
    assert all(stat.S_IMODE(item.path.stat().st_mode) == 0o600 for item in found)
    assert not (spool / "0-broken.json").exists(), "an unreadable order is dropped (and logged)"
    assert [item.order for item in pending(spool)] == [UNLOAD, LOAD, UNLOAD], "read is not done"
    found[0].done()
    assert [item.order for item in pending(spool)] == [LOAD, UNLOAD]


def test_the_unloaded_state_is_the_databases_and_each_change_counts_once(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    unloads = Unloads(connect(db), tmp_path / "orders")
    assert unloads.record(UNLOAD) and not unloads.record(UNLOAD), "unloading twice changes nothing the second time"
    assert unloads.message("iris") == "", "read back by refresh, after the caller commits"
    unloads.refresh()
    assert unloads.message("iris").startswith("unloaded by admin ann at 2026-01-01T00:00:00+00:00")
    assert "POST /v2/repository/models/iris/load" in unloads.message("iris")
    assert Unloads(connect(db), tmp_path / "orders").message("iris") == unloads.message("iris"), "a restart keeps it"
    assert unloads.record(LOAD) and not unloads.record(LOAD)
    unloads.refresh()
    assert unloads.message("iris") == "" and not unloads.forget("iris")
