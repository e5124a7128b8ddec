"""`neuroscale check` from a plain command line skips typer's parsing, with exactly typer's arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from neuroscale.cli.check import check
from neuroscale.cli.direct import arguments
from neuroscale.cli.main import create_app, main


def typer_arguments(args: list[str]) -> dict[str, Any]:
    command = create_app().commands["check"]
    return dict(command.make_context("check", list(args)).params)


@pytest.mark.parametrize("args", [
    [],
    ["repo"],
    ["repo", "--cache-dir", "c", "--crd-cache", "c/crds"],
    ["--format", "json", "repo", "--no-render", "--all-files", "--online", "--no-cache"],
    ["-o", "yaml", "--base=main", "--crd-dir", "a", "--crd-dir=b/", "--policies", "p"],
    ["-f", "sarif", "--max-file-size", "1024", "--kubernetes-version", "1.31", "--output", "out.sarif"],
    ["--price-table", "prices.yaml", "--no-schema-severity", "error", "--bundled-scope", "all", "."],
])
def test_a_plain_command_line_gives_typers_arguments(args: list[str]) -> None:
    assert arguments(check, args) == typer_arguments(args)


@pytest.mark.parametrize("args", [
    ["--help"], ["repo", "--help"], ["--no-all-files"], ["--all-files=true"], ["--format"], ["--format", "--online"],
    ["-ojson"], ["a", "b"], ["--max-file-size", "big"], ["--max-file-size", "1_000"], ["--base", "a", "--base", "b"], ["--", "repo"],
    ["--bogus"], ["--online", "--online"], ["-"],
])
def test_anything_else_is_left_to_typer(args: list[str]) -> None:
    assert arguments(check, args) is None


def test_help_and_usage_errors_are_typers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["check", "--help"]) == 0
    assert "--no-schema-severity" in capsys.readouterr().out
    assert main(["check", str(tmp_path), "--max-file-size", "big"]) == 2
    assert "Invalid value for '--max-file-size'" in capsys.readouterr().err
    assert main(["check", str(tmp_path), "--bogus", "-o", "json"]) == 2
    assert "No such option: --bogus" in capsys.readouterr().err
