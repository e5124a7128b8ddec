"""A real platform home and the real processes a doctor test starts (killed afterwards)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from neuroscale.home import Home
from neuroscale.services.context import PlatformContext
from tests.conftest import free_port


@pytest.fixture()
def home(tmp_path: Path) -> Iterator[Home]:
    home = Home(tmp_path / "home")
    PlatformContext.open(home, create=True).close()
    home.run_dir.mkdir(parents=True, exist_ok=True)
    ports = {"portal_port": free_port(), "gateway_port": free_port()}
    home.settings_file.write_text(json.dumps({"host": "127.0.0.1", **ports}))
    yield home


@pytest.fixture()
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)
