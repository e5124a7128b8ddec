"""`neuroscale endpoint …` and `neuroscale pr …` through the real CLI entry point (exit codes + output)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neuroscale.cli.main import main
from neuroscale.home import Home
from neuroscale.services.context import PlatformContext
from neuroscale.spec.fields import FIELDS

from .test_endpoints import MISSING_COST_CENTER, NOT_ISVC

CREATE = ["endpoint", "create", "--name", "demo-iris", "--owner", "team-ml", "--cost-center", "cc-1234",
          "--storage-uri", "file:///models/iris.joblib"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    root = tmp_path / "home"
    monkeypatch.setenv("NEUROSCALE_HOME", str(root))
    return Home(root)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def state(home: Home) -> tuple[list[str], int]:
    with PlatformContext.open(home) as ctx:
        return ctx.repo.branches(), int(ctx.db.execute("SELECT count(*) FROM pull_requests").fetchone()[0])


def test_every_field_is_an_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "endpoint", "create", "--help")
    assert code == 0
    for field in FIELDS:
        assert field.cli_flag in out
    assert "--from-file" in out and "--author" not in out  # the author is who signed in


def test_golden_path(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *CREATE)
    assert code == 0, err
    assert "Pull request #1 (open)" in out and "endpoint/demo-iris" in out
    assert "✓ manifest-parses" in out and "✓ policies" in out and "neuroscale pr merge 1" in out
    assert home.exists(), "endpoint create makes the home when it is missing"

    code, out, _ = run(capsys, "pr", "list", "-o", "json")
    listed = json.loads(out)
    assert code == 0 and [(p["number"], p["state"], p["author"]) for p in listed] == [(1, "open", "admin")]

    code, out, _ = run(capsys, "pr", "show", "1", "-o", "yaml")
    assert code == 0 and "checksPassed: true" in out

    code, out, _ = run(capsys, "pr", "merge", "1")
    assert code == 0 and "(merged)" in out

    code, out, _ = run(capsys, "endpoint", "list", "-o", "json")
    assert code == 0 and [e["name"] for e in json.loads(out)] == ["demo-iris"]
    code, out, _ = run(capsys, "endpoint", "list")
    assert code == 0 and "demo-iris" in out and "cc-1234" in out

    code, out, err = run(capsys, *CREATE)
    assert code == 1 and "endpoint update demo-iris" in err and "Traceback" not in err


def test_update_delete_close(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, *CREATE)[0] == 0
    assert run(capsys, "pr", "merge", "1")[0] == 0
    code, out, err = run(capsys, "endpoint", "update", "demo-iris", "--cpu-limit", "2", "-o", "json")
    pr = json.loads(out)
    assert code == 0 and (pr["number"], pr["action"], pr["checksPassed"]) == (2, "update", True), err
    code, _, err = run(capsys, "endpoint", "update", "demo-iris")
    assert code == 1 and "nothing to change" in err
    code, out, _ = run(capsys, "pr", "close", "2")
    assert code == 0 and "(closed)" in out
    code, out, _ = run(capsys, "endpoint", "delete", "demo-iris")
    assert code == 0 and "Pull request #3 (open): Delete endpoint demo-iris" in out
    assert state(home) == (["endpoint/demo-iris", "main"], 3)


def test_failing_checks_show_fixes_and_block_merge(home: Home, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "isvc.yaml"
    manifest.write_text(MISSING_COST_CENTER)
    code, out, _ = run(capsys, "endpoint", "create", "--from-file", str(manifest))
    assert code == 0 and "✗ policies" in out and "metadata.labels.cost-center" in out and "fix:" in out
    code, _, err = run(capsys, "pr", "merge", "1")
    assert code == 1 and "cannot merge" in err and "cost-center" in err and "Traceback" not in err


@pytest.mark.parametrize("args", [
    ["--name", "../x"], ["--name", "Demo"], ["--name", "a" * 64], ["--cost-center", ""],
    ["--cpu-request", "lots"], ["--memory-limit", "1GB"], ["--model-format", "tensorflow"],
    ["--cpu-limit", "1e9999999"], ["--cpu-request", "1e-1000000000"], ["--memory-limit", "١٠٠Mi"],
    ["--min-replicas", "x"],
], ids=str)
def test_bad_options_leave_nothing(home: Home, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    assert run(capsys, *CREATE)[0] == 0
    before = state(home)
    code, out, err = run(capsys, *CREATE, *args)
    assert code in (1, 2) and err.strip() and "Traceback" not in err + out
    assert state(home) == before


def test_an_absurd_quantity_is_exit_1_naming_the_field(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *CREATE, "--cpu-limit", "1e9999999")
    assert code == 1 and "cpuLimit" in err and "too large" in err and "Traceback" not in err + out
    assert len(err.strip().splitlines()) < 6


@pytest.mark.parametrize("content", [NOT_ISVC, "a: [b\n", MISSING_COST_CENTER.replace("demo-iris", "../x")],
                         ids=["configmap", "broken", "dotdot"])
def test_bad_files_leave_nothing(home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 content: str) -> None:
    assert run(capsys, *CREATE)[0] == 0
    before = state(home)
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(content)
    code, _, err = run(capsys, "endpoint", "create", "--from-file", str(manifest))
    assert code == 1 and "error" in err and "Traceback" not in err
    code, _, err = run(capsys, "endpoint", "create", "--from-file", str(tmp_path / "missing.yaml"))
    assert code == 1 and "cannot read" in err
    code, _, err = run(capsys, "endpoint", "create", "--from-file", str(manifest), "--owner", "x")
    assert code == 1 and "cannot be combined" in err
    assert state(home) == before


def test_commands_on_a_missing_home_say_how_to_start(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["pr", "list"], ["endpoint", "list"], ["endpoint", "delete", "x"], ["pr", "show", "1"]):
        code, _, err = run(capsys, *argv)
        assert code == 1 and "neuroscale up" in err
    assert not home.root.exists()
    assert run(capsys, "pr", "show", "abc")[0] == 2


def test_the_author_is_the_signed_in_user_not_the_os_or_git_user(
        home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Grace Hopper\n\temail = grace@example.com\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    code, out, _ = run(capsys, *CREATE, "-o", "json")
    assert code == 0 and json.loads(out)["author"] == "admin"  # the home's admin credential, picked up by itself

    code, out, err = run(capsys, "user", "add", "grace", "--role", "author", "--email", "grace@navy.mil")
    assert code == 0, err
    monkeypatch.setenv("NEUROSCALE_TOKEN", out.strip())
    code, out, _ = run(capsys, *CREATE[:-2], "--name", "grace-model", "--storage-uri", "file:///models/m.joblib", "-o", "json")
    assert code == 0 and json.loads(out)["author"] == "grace"
    with PlatformContext.open(home) as ctx:
        head = ctx.provider.get(2).head_sha
        assert "grace <grace@navy.mil>" in ctx.repo._git("log", "-1", "--format=%an <%ae>", head)


def test_update_from_file_must_name_the_same_endpoint(home: Home, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, *CREATE)[0] == 0 and run(capsys, "pr", "merge", "1")[0] == 0
    code, out, _ = run(capsys, "endpoint", "update", "--help")
    assert code == 0 and "--cpu-limit" in out and "--name " not in out
    manifest = tmp_path / "isvc.yaml"
    manifest.write_text(MISSING_COST_CENTER)
    code, _, err = run(capsys, "endpoint", "update", "other", "--from-file", str(manifest))
    assert code == 1 and "not 'other'" in err
    code, out, _ = run(capsys, "endpoint", "update", "demo-iris", "--from-file", str(manifest), "-o", "json")
    pr = json.loads(out)
    assert code == 0 and pr["action"] == "update" and not pr["checksPassed"]


def test_denied_on_main_is_listed_and_repairable(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 10 item 4: a manifest pushed to main without `owner` is listed with its denial and fixed by `update`."""
    from neuroscale.engine.store import EngineStore
    from neuroscale.gitops.repo import Author
    from neuroscale.status.conditions import ConditionType, false
    from neuroscale.status.model import EndpointStatus, Health, Sync

    assert run(capsys, *CREATE)[0] == 0 and run(capsys, "pr", "merge", "1")[0] == 0
    denial = "denied by neuroscale-require-labels-inferenceservice/owner-label at metadata.labels.owner: label 'owner'"
    with PlatformContext.open(home) as ctx:
        path = "apps/demo-iris/inference-service.yaml"
        text = ctx.repo.read_files("main", path)[path].decode().replace("    owner: \"team-ml\"\n", "")
        ctx.repo.commit(branch="main", files={path: text.encode()}, message="plain push", author=Author("x", "x@y"))
        EngineStore(ctx.db).save_status(EndpointStatus(
            name="demo-iris", namespace="default", url="", sync=Sync.OutOfSync, health=Health.Degraded,
            revision="demo-iris-predictor-00001", conditions=(false(ConditionType.Ready, "AdmissionDenied", denial),)))
    code, out, _ = run(capsys, "endpoint", "list", "-o", "json")
    [listed] = json.loads(out)
    assert code == 0 and listed["name"] == "demo-iris" and "owner" not in listed and "owner" in listed["error"]
    assert listed["state"].startswith("denied — serving last good revision demo-iris-predictor-00001: AdmissionDenied")
    code, out, _ = run(capsys, "endpoint", "list")
    assert code == 0 and "demo-iris" in out and "denied" in out
    code, out, err = run(capsys, "endpoint", "update", "demo-iris", "--owner", "team-growth", "-o", "json")
    assert code == 0 and json.loads(out)["checksPassed"] is True, err
