"""The layers in DESIGN.md hold: import-linter contracts, and every command is real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

from tests.conftest import REPO_ROOT


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--config", str(REPO_ROOT / "pyproject.toml")], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def test_the_root_table_names_exactly_what_each_command_module_registers() -> None:
    """The root lists commands without importing their modules: its table must match every `register`."""
    from neuroscale.cli.lazy import module_commands
    from neuroscale.cli.main import COMMANDS, create_app

    for module in set(COMMANDS.values()):
        source = Path(REPO_ROOT / "src" / (module.replace(".", "/") + ".py")).read_text()
        assert "Placeholder" not in source, f"{module} is still a placeholder"
        assert set(module_commands(module)) == {name for name, owner in COMMANDS.items() if owner == module}
    app = create_app()
    assert all(app.get_command(typer.Context(app), name) is not None for name in COMMANDS)


def test_a_command_imports_only_its_own_module() -> None:
    """`neuroscale check` in CI must not pay for the platform, engine and portal behind other commands."""
    code = ("import sys; from neuroscale.cli.main import COMMANDS, main; main(['check', '--help']);"
            "print(sorted(set(COMMANDS.values()) & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['neuroscale.cli.check']"


def test_no_import_time_side_effects() -> None:
    """Importing every package must not start servers, touch git or create files."""
    code = ("import pkgutil, importlib, neuroscale, os; before=set(os.listdir('.'));"
            "[importlib.import_module(m.name) for m in pkgutil.walk_packages(neuroscale.__path__, 'neuroscale.')"
            " if not m.name.endswith('__main__')];"
            "assert set(os.listdir('.'))==before, set(os.listdir('.'))-before")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
