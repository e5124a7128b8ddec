"""`neuroscale init`: bad input, re-runs that keep user edits, `--dry-run`, switching engines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from neuroscale.cli import init as init_cli
from neuroscale.errors import InvalidInput
from neuroscale.gitops.github_provider import github_repository as github_slug
from neuroscale.platform.options import InitOptions
from neuroscale.platform.writer import MANIFEST

from tests.platform.conftest import NEUROSCALE_SOURCE, make_options, write_repo

SOURCE = ["--neuroscale-source", NEUROSCALE_SOURCE]
ARGS = ["--repo-url", "git@github.com:acme/ml-platform.git", "--domain", "ml.acme.dev", *SOURCE]


def run(*args: str) -> tuple[int, str]:
    app = typer.Typer()
    init_cli.register(app)
    app.command("noop")(lambda: None)  # keep `init` a sub-command
    result = CliRunner().invoke(app, list(args))
    if isinstance(result.exception, InvalidInput):
        return 1, str(result.exception)
    return result.exit_code, result.output


@pytest.mark.parametrize("url", ["not a url", "ftp://host/repo.git", "https://github.com", "<YOUR_REPO_URL>",
                                 "/srv/git/repo.git", "https://user:secret@github.com/a/b.git"])
def test_rejects_urls_that_are_not_git_remotes(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        InitOptions(repo_url=url, domain="ml.acme.dev", neuroscale_source=NEUROSCALE_SOURCE)
    assert caught.value.where == "--repo-url" and caught.value.fix
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("domain", ["example.com", "models.example.com", "example.org", "YOUR_DOMAIN_HERE", "-bad-", ""])
def test_rejects_placeholder_domains(domain: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        InitOptions(repo_url="https://github.com/a/b.git", domain=domain, neuroscale_source=NEUROSCALE_SOURCE)
    assert caught.value.where == "--domain" and "sslip.io" in caught.value.fix


@pytest.mark.parametrize(("domain", "says"), [
    ("127.0.0.1", "sslip.io"), ("10.0.0.12", "sslip.io"), ("localhost", "single DNS label"),
    ("a" * 62 + "." + "b" * 62 + "." + "c" * 62 + ".dev", "253-character")])
def test_rejects_domains_no_wildcard_record_can_serve(domain: str, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        InitOptions(repo_url="https://github.com/a/b.git", domain=domain, neuroscale_source=NEUROSCALE_SOURCE)
    assert caught.value.where == "--domain" and says in str(caught.value)


def test_accepts_an_sslip_domain_for_a_local_cluster() -> None:
    assert InitOptions(repo_url="https://github.com/a/b.git", domain="127.0.0.1.sslip.io",
                       neuroscale_source=NEUROSCALE_SOURCE).domain == "127.0.0.1.sslip.io"


@pytest.mark.parametrize("source", ["", "neuroscale==0.1.0", "git+https://github.com/acme/neuroscale@main",
                                    "git+https://github.com/acme/neuroscale@v0.1.0",
                                    "git+https://github.com/acme/neuroscale@0123abc",
                                    "git+https://token@github.com/acme/neuroscale@" + "a" * 40,
                                    "git+http://github.com/acme/neuroscale@" + "a" * 40])
def test_ci_source_must_be_a_git_commit(source: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        InitOptions(repo_url="https://github.com/a/b.git", domain="ml.acme.dev", neuroscale_source=source)
    assert caught.value.where == "--neuroscale-source" and "commit" in caught.value.fix
    assert "token@" not in str(caught.value)


@pytest.mark.parametrize(("version", "ingress", "engine", "says"), [
    ("1.29", "kourier", "vap", "1.30 or newer"), ("v1.28.4", "istio", "kyverno", "1.30 or newer"),
    ("1.32", "kourier", "vap", "argo-cd"), ("1.34", "istio", "kyverno", "istiod"), ("one.thirty", "kourier", "vap",
                                                                                    "not a Kubernetes version")])
def test_rejects_kubernetes_versions_the_pinned_combination_does_not_support(
        version: str, ingress: str, engine: str, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        InitOptions(repo_url="https://github.com/a/b.git", domain="ml.acme.dev", neuroscale_source=NEUROSCALE_SOURCE,
                    ingress=ingress, policy_engine=engine, kubernetes_version=version)  # type: ignore[arg-type]
    assert caught.value.where == "--kubernetes-version" and says in str(caught.value)
    assert "1.30-1.31" in caught.value.fix or "Kubernetes version" in str(caught.value)


@pytest.mark.parametrize("bad", [["--ingress", "nginx"], ["--policy-engine", "gatekeeper"],
                                 ["--kubernetes-version", "1.27"], ["--neuroscale-source", "neuroscale==0.1.0"],
                                 ["--repo-url", "ftp://host/repo.git"], ["--domain", "192.168.1.20"]])
def test_cli_writes_nothing_on_bad_input(tmp_path: Path, bad: list[str]) -> None:
    args = dict(zip(ARGS[::2], ARGS[1::2], strict=True))
    args[bad[0]] = bad[1]
    code, message = run("init", str(tmp_path / "repo"), *(part for pair in args.items() for part in pair))
    assert code == 1 and "fix:" in message, message
    assert not (tmp_path / "repo").exists()


def test_github_slug_from_https_and_scp_urls() -> None:
    assert github_slug("https://github.com/acme/platform.git") == "acme/platform"
    assert github_slug("git@github.com:acme/platform.git") == "acme/platform"
    assert github_slug("https://gitlab.com/acme/platform.git") is None


def test_cli_writes_then_reruns_without_changes(tmp_path: Path) -> None:
    code, out = run("init", str(tmp_path / "repo"), *ARGS, "-o", "json")
    assert code == 0, out
    first = json.loads(out)
    assert first["changes"] and all(c["action"] == "create" for c in first["changes"])
    code, out = run("init", str(tmp_path / "repo"), *ARGS, "-o", "json")
    second = json.loads(out)
    assert second["changes"] == [] and second["unchanged"] == len(first["changes"])


def test_cli_reports_bad_domain_without_writing(tmp_path: Path) -> None:
    code, message = run("init", str(tmp_path / "repo"), "--repo-url", "https://github.com/a/b.git",
                        "--domain", "example.com", *SOURCE)
    assert code == 1 and "placeholder" in message
    assert not (tmp_path / "repo").exists()


def test_rerun_keeps_user_edits_and_updates_owned_files(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_repo(root, make_options())
    edited = root / "infrastructure/namespaces/resource-quota.yaml"
    edited.write_text(edited.read_text().replace("pods: '40'", "pods: '80'"))
    (root / "apps/fraud").mkdir()
    (root / "apps/fraud/inference-service.yaml").write_text("kind: InferenceService\n")
    code, out = run("init", str(root), "--repo-url", "https://github.com/acme/ml-platform.git",
                    "--domain", "ai.acme.dev", *SOURCE, "--dry-run", "-o", "json")
    assert code == 0, out
    actions = {c["path"]: c["action"] for c in json.loads(out)["changes"]}
    assert actions[edited.relative_to(root).as_posix()] == "keep"
    assert actions["infrastructure/serving-stack/knative-serving.yaml"] == "update"
    assert not any(path.startswith("apps/fraud") for path in actions)
    assert "ml.acme.dev" in (root / "infrastructure/serving-stack/knative-serving.yaml").read_text()  # dry run
    run("init", str(root), "--repo-url", "https://github.com/acme/ml-platform.git", "--domain", "ai.acme.dev", *SOURCE)
    assert "ai.acme.dev" in (root / "infrastructure/serving-stack/knative-serving.yaml").read_text()
    assert "pods: '80'" in edited.read_text()
    assert (root / "apps/fraud/inference-service.yaml").read_text() == "kind: InferenceService\n"


def test_switching_engine_removes_untouched_files_it_no_longer_generates(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    before = write_repo(root, make_options(ingress="kourier"))
    write_repo(root, make_options(ingress="istio"))
    owned = json.loads((root / MANIFEST).read_text())["files"]
    assert any("istio" in path for path in owned)
    assert set(owned) == {p for p in owned if (root / p).exists()}
    assert set(before) - set(owned) == {p for p in before if not (root / p).exists()}


def test_pre_existing_files_are_never_overwritten(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root).mkdir()
    (root / "README.md").write_text("# our platform\n")
    write_repo(root, make_options())
    assert (root / "README.md").read_text() == "# our platform\n"
    assert "README.md" not in json.loads((root / MANIFEST).read_text())["files"]


def test_previews_add_a_pull_request_applicationset_a_governed_namespace_and_need_github(tmp_path: Path) -> None:
    from neuroscale.errors import InvalidInput
    from neuroscale.gitops.provider import PREVIEW_LABEL
    from neuroscale.platform.argocd import PREVIEWS_APPSET_NAME
    from neuroscale.platform.options import PREVIEW_NAMESPACE

    files = write_repo(tmp_path / "repo", make_options(previews=True))
    from neuroscale.yamlio import load_one

    appset = load_one((tmp_path / "repo" / "infrastructure/apps/endpoint-previews.yaml").read_text())
    assert appset["metadata"]["name"] == PREVIEWS_APPSET_NAME
    [generator] = appset["spec"]["generators"]
    assert generator["pullRequest"]["github"] == {"owner": "acme", "repo": "ml-platform",
                                                  "tokenRef": {"secretName": "neuroscale-github", "key": "token"},
                                                  "labels": [PREVIEW_LABEL]}
    template = appset["spec"]["template"]["spec"]
    assert template["destination"]["namespace"] == PREVIEW_NAMESPACE and template["source"]["targetRevision"] == \
        "{{.head_sha}}"
    config = load_one((tmp_path / "repo" / "neuroscale.yaml").read_text())
    assert PREVIEW_NAMESPACE in config["governedNamespaces"]
    assert any(path.endswith("previews-resource-quota.yaml") for path in files)
    with pytest.raises(InvalidInput, match="GitHub"):
        InitOptions(repo_url="https://gitlab.com/acme/ml-platform.git", domain="ml.acme.dev", previews=True,
                    neuroscale_source=make_options().neuroscale_source)


def test_a_clone_with_another_remote_still_knows_its_applications(tmp_path: Path) -> None:
    """neuroscale.yaml names the URL Argo CD fetches: `check` on a local clone (whose remote is a path) still
    takes the generated Applications as syncing this repository's directories, not as another's."""
    import subprocess

    from neuroscale.check.lints import l013_duplicate_objects as l013
    from neuroscale.check.model import CheckOptions
    from neuroscale.check.runner import run_check

    root = tmp_path / "repo"
    options = make_options()
    write_repo(root, options)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "remote", "add", "origin", "/srv/git/ml-platform.git"], check=True)
    found = [f for f in run_check(root, options=CheckOptions()).findings if f.rule == l013.ID]
    assert found == [], [f.message for f in found]
    config = (root / "neuroscale.yaml").read_text()
    assert options.repo_url in config
