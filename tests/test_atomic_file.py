"""atomic_file: readers see whole files, temp files never stay behind, private files are never readable by others."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from neuroscale.atomic_file import replace_file, write_private


def test_a_reader_sees_the_old_file_or_the_new_one_while_threads_rewrite_it(tmp_path: Path) -> None:
    target = tmp_path / "run" / "demand.json"
    versions = [bytes([65 + n]) * 200_000 for n in range(4)]
    replace_file(target, versions[0])
    seen: set[bytes] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(target.read_bytes())

    def write(version: bytes) -> None:
        for _ in range(50):
            replace_file(target, version)

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(v,)) for v in versions[1:]]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    stop.set()
    reader.join()
    assert seen <= set(versions) and seen
    assert sorted(p.name for p in target.parent.iterdir()) == ["demand.json"]


def test_private_files_are_owner_only_from_the_start_and_text_ends_with_a_newline(tmp_path: Path) -> None:
    target = tmp_path / "admin-token"
    write_private(target, "secret")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text() == "secret\n"
    replace_file(tmp_path / "routes.json", "{}")
    assert stat.S_IMODE((tmp_path / "routes.json").stat().st_mode) & 0o044  # readable as any file the process makes


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "settings.json"
    replace_file(target, "old")
    with pytest.raises(TypeError):
        replace_file(target, object())  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]
