"""Why a model server ended, from its exit code and the tail of its own run's log."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuroscale.engine.runtime import exit_info, log_tail
from neuroscale.status.reasons import Reason


@pytest.mark.parametrize(
    ("code", "tail", "reason", "fragment"),
    [
        (3, ["loading", "ModelLoadFailed: cannot unpickle /m.joblib; fix: re-save it"], Reason.ModelLoadFailed,
         "cannot unpickle /m.joblib"),
        (None, ["ModelLoadFailed: no such file"], Reason.ModelLoadFailed, "no such file"),
        (4, ["PortUnavailable: cannot listen on 127.0.0.1:9: in use; fix: pass a free --port"],
         Reason.PortUnavailable, "cannot listen on 127.0.0.1:9"),
        (-9, ["INFO started"], Reason.KilledBySignal, "killed by SIGKILL while loading its model, a signal the "
         "platform did not send"),
        (-15, ["ModelLoaded: iris (sklearn from /m) in 0.5s; serving on http://127.0.0.1:1"], Reason.KilledBySignal,
         "killed by SIGTERM after loading its model"),
        (1, ["ModelLoaded: iris", "Traceback", "MemoryError"], Reason.OOMKilled, "ran out of memory after loading"),
        (1, ["Traceback", "OSError: address in use"], Reason.ProcessExited,
         "code 1 while loading its model; last output: OSError"),
        (None, [], Reason.ProcessExited, "no exit status"),
    ],
)
def test_exit_info(code: int | None, tail: list[str], reason: Reason, fragment: str) -> None:
    info = exit_info(code, tail)
    assert info.reason is reason and fragment in info.message


def test_log_tail_reads_only_the_current_run(tmp_path: Path) -> None:
    log = tmp_path / "rev.log"
    log.write_text("ModelLoadFailed: old run\n")
    offset = log.stat().st_size
    with log.open("a") as handle:
        handle.write("\nstarting\nlistening\n")
    assert log_tail(log, offset) == ["starting", "listening"]
    assert log_tail(tmp_path / "missing.log", 0) == []
