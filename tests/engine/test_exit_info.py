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
        (-9, ["INFO started"], Reason.ProcessExited, "killed by SIGKILL"),
        (1, ["Traceback", "OSError: address in use"], Reason.ProcessExited, "code 1; last output: OSError"),
        (None, [], Reason.ProcessExited, "exited"),
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
