"""The layers in DESIGN.md hold: import-linter contracts, and every command is real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--config", str(REPO_ROOT / "pyproject.toml")], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def test_every_registered_command_module_registers_commands() -> None:
    from neuroscale.cli.main import COMMAND_MODULES, create_app

    app = create_app()
    names = {command.name for command in app.registered_commands} | {
        group.name for group in app.registered_groups}
    assert len(names) >= len(COMMAND_MODULES)
    for module in COMMAND_MODULES:
        source = Path(REPO_ROOT / "src" / (module.replace(".", "/") + ".py")).read_text()
        assert "Placeholder" not in source, f"{module} is still a placeholder"


def test_no_import_time_side_effects() -> None:
    """Importing every package must not start servers, touch git or create files."""
    code = ("import pkgutil, importlib, neuroscale, os; before=set(os.listdir('.'));"
            "[importlib.import_module(m.name) for m in pkgutil.walk_packages(neuroscale.__path__, 'neuroscale.')"
            " if not m.name.endswith('__main__')];"
            "assert set(os.listdir('.'))==before, set(os.listdir('.'))-before")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
