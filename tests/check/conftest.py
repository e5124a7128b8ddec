"""Fixtures for check tests: a session-wide schema cache and the CLI run in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from neuroscale.cli.main import main


@pytest.fixture(scope="session")
def schema_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One compiled-schema cache for the whole session (compiling the ISVC CRD once is enough)."""
    return tmp_path_factory.mktemp("schema-cache")


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], schema_cache: Path) -> Callable[..., tuple[int, str, str]]:
    def run(*args: str) -> tuple[int, str, str]:
        code = main(["check", *args, "--cache-dir", str(schema_cache)])
        out, err = capsys.readouterr()
        return code, out, err
    return run


