"""`neuroscale endpoint create --remote URL`: cluster mode pushes the branch to a real git remote."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from neuroscale.cli.main import main
from neuroscale.gitops.repo import Author, GitRepo

FIELDS = ["--name", "fraud", "--owner", "team-risk", "--cost-center", "cc-1234", "--model-format", "sklearn",
          "--storage-uri", "s3://models/fraud/v3"]


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    GitRepo.init_bare(tmp_path / "platform.git", files={"apps/.gitkeep": b""},
                      author=Author("Dana Ops", "dana@acme.dev"), message="init")
    return tmp_path / "platform.git"


def remote_file(remote: Path, ref: str, path: str) -> str:
    return subprocess.run(["git", "--git-dir", str(remote), "show", f"{ref}:{path}"], capture_output=True,
                          text=True, check=True).stdout


def test_branch_with_the_manifest_is_pushed_and_checks_reported(tmp_path: Path, remote: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["endpoint", "create", *FIELDS, "--remote", str(remote), "--home", str(tmp_path / "home")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "pushed to the remote" in out
    assert "✓ policies" in out
    assert "open a pull request from endpoint/fraud into main" in out
    manifest = remote_file(remote, "endpoint/fraud", "apps/fraud/inference-service.yaml")
    assert 'cost-center: "cc-1234"' in manifest

    # Running it again with a change updates the same branch rather than failing.
    code = main(["endpoint", "create", *FIELDS, "--cpu-limit", "2", "--remote", str(remote),
                 "--home", str(tmp_path / "home")])
    assert code == 0, capsys.readouterr()
    assert 'cpu: "2"' in remote_file(remote, "endpoint/fraud", "apps/fraud/inference-service.yaml")


def test_bad_input_pushes_nothing(tmp_path: Path, remote: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["endpoint", "create", *FIELDS[:-2], "--storage-uri", "s3://m", "--name", "Bad_Name",
                 "--remote", str(remote), "--home", str(tmp_path / "home")])
    assert code == 1
    assert "DNS-1123" in capsys.readouterr().err
    heads = subprocess.run(["git", "--git-dir", str(remote), "for-each-ref", "--format=%(refname)", "refs/heads"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert heads == ["refs/heads/main"]


def test_unreachable_remote_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["endpoint", "create", *FIELDS, "--remote", str(tmp_path / "missing.git"),
                 "--home", str(tmp_path / "home")])
    err = capsys.readouterr().err
    assert code == 2
    assert "missing.git" in err
    assert "fix" in err
    assert "Traceback" not in err
