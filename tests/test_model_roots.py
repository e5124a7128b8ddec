"""`Home.model_roots()`: the one answer to "where may local models come from", for engine and policies alike."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from neuroscale.cli.main import main
from neuroscale.home import MODEL_ROOTS_ENV, Home
from neuroscale.supervisor.settings import PlatformSettings, load_settings, save_settings
from tests.conftest import free_port


def test_the_default_root_is_the_homes_models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODEL_ROOTS_ENV, raising=False)
    home = Home(tmp_path / "home")
    assert home.model_roots() == ((tmp_path / "home" / "models").resolve(),)


def test_saved_and_environment_roots_are_resolved_and_deduplicated(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    home = Home(tmp_path / "home")
    real = tmp_path / "real-models"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    save_settings(home, PlatformSettings(model_roots=(str(tmp_path / "link"),)).resolved())
    monkeypatch.setenv(MODEL_ROOTS_ENV, os.pathsep.join([str(tmp_path / "x" / ".." / "real-models"), "",
                                                         str(tmp_path / "env-models")]))
    assert home.model_roots() == (home.models_dir.resolve(), real.resolve(), (tmp_path / "env-models").resolve())
    assert load_settings(home).model_roots == (str(real.resolve()),)
    assert json.loads(home.settings_file.read_text())["model_roots"] == [str(real.resolve())]


def test_up_refuses_a_model_root_that_is_not_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    portal = free_port()
    gateway = next(port for port in iter(free_port, 0) if port != portal)
    code = main(["up", "--home", str(tmp_path / "home"), "--model-root", str(tmp_path / "nowhere"),
                 "--portal-port", str(portal), "--gateway-port", str(gateway)])
    err = capsys.readouterr().err
    assert code == 1 and "nowhere is not a directory" in err and "--model-root" in err and "Traceback" not in err
