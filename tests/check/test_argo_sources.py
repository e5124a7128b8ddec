"""Which Argo CD sources are this repository's, and what a placeholder destination means (NS-L013, charts).

The shapes come from outside repositories: argocd-example-apps' README Application (guestbook from
github.com/argoproj/argocd-example-apps) kept beside a team's own Application on a directory of the same
name; its app-of-apps-kustomize base (`server: $(SERVER)`, `repoURL: $(REPO_URL)`, substituted by kustomize
vars); ApplicationSet templates (`{{server}}`, `{{ .cluster }}`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from neuroscale.check.helmrender import chart_uses
from neuroscale.check.lints import l013_duplicate_objects as l013
from neuroscale.check.lints.argo import repository_key
from neuroscale.check.model import CheckOptions
from neuroscale.check.runner import run_check
from neuroscale.findings import Finding, Severity

from .helpers import deployment, git, lint, view_of, write_repo

IN_CLUSTER = "https://kubernetes.default.svc"
OURS = "https://github.com/acme/platform.git"
UPSTREAM = "https://github.com/argoproj/argocd-example-apps.git"


def application(name: str, path: str, *, repo: str = OURS, server: str = IN_CLUSTER) -> str:
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: argocd\n"
            f"spec:\n  project: default\n  source:\n    repoURL: {repo}\n    targetRevision: HEAD\n    path: {path}\n"
            f"  destination:\n    server: '{server}'\n    namespace: guestbook\n")


#: Our guestbook directory and Application, and the upstream example's Application on its own `guestbook`.
GUESTBOOK = {
    "argocd/guestbook.yaml": application("guestbook", "guestbook", repo="git@github.com:acme/platform.git"),
    "argocd/upstream-guestbook.yaml": application("upstream-guestbook", "guestbook", repo=UPSTREAM),
    "guestbook/guestbook-ui-deployment.yaml": deployment("guestbook-ui", namespace="guestbook"),
}


def l013_messages(findings: tuple[Finding, ...] | list[Finding]) -> list[str]:
    return [f.message for f in findings if f.rule == l013.ID]


@pytest.mark.parametrize(("url", "key"), [
    ("https://github.com/Acme/Platform.git", "github.com/acme/platform"),
    ("git@github.com:acme/platform.git", "github.com/acme/platform"),
    ("ssh://git@github.com:22/acme/platform/", "github.com/acme/platform"),
    ("https://user:token@gitlab.example.org/group/sub/repo", "gitlab.example.org/group/sub/repo"),
    ("github.com/acme/platform", "github.com/acme/platform"),
])
def test_one_repository_has_one_key_however_its_url_is_spelled(url: str, key: str) -> None:
    assert repository_key(url) == key


def test_a_source_of_another_repository_does_not_apply_this_repositorys_directory(tmp_path: Path) -> None:
    root = write_repo(tmp_path, GUESTBOOK)
    git(root, "init", "-q")
    git(root, "remote", "add", "origin", OURS)
    assert l013_messages(run_check(root, options=CheckOptions()).findings) == []


def test_a_remote_no_application_names_is_said_not_silently_trusted(tmp_path: Path) -> None:
    # A local clone (or a mirror): every Application names the URL Argo CD fetches, not this remote.
    root = write_repo(tmp_path, {"argocd/guestbook.yaml": application("guestbook", "guestbook"),
                                 "guestbook/guestbook-ui-deployment.yaml": deployment("guestbook-ui")})
    git(root, "init", "-q")
    git(root, "remote", "add", "origin", "/srv/git/platform.git")
    found = [f for f in run_check(root, options=CheckOptions()).findings if f.rule == l013.ID]
    assert [(f.severity, f.file, f.message) for f in found] == [
        (Severity.INFO, "argocd/guestbook.yaml", "no Application syncs a directory of this repository "
         "(/srv/git/platform): 1 source(s) name other repositories (e.g. https://github.com/acme/platform.git), "
         "so they own none of its files")]


def test_without_a_remote_every_git_source_is_taken_as_this_repository(tmp_path: Path) -> None:
    # Nothing names the repository (a copied directory): the rule falls back to "every git source is ours".
    found = [f for f in run_check(write_repo(tmp_path, GUESTBOOK), options=CheckOptions()).findings
             if f.rule == l013.ID]
    assert [f.message for f in found] == ["Deployment.apps guestbook/guestbook-ui is managed by 2 Applications "
                                          "(guestbook, upstream-guestbook)"]
    assert "nor `repoURLs` in neuroscale.yaml names this repository" in found[0].fix  # and says it guessed


def test_neuroscale_yaml_names_the_repository_when_the_checkout_has_no_remote(tmp_path: Path) -> None:
    files = {**GUESTBOOK, "neuroscale.yaml": f"repoURLs: [{OURS}]\n"}
    assert l013_messages(run_check(write_repo(tmp_path, files), options=CheckOptions()).findings) == []


def test_an_application_of_another_repository_still_collides_with_its_twin() -> None:
    # Two Applications on the same directory of the same outside repository apply it twice all the same.
    found = lint(l013.LINT, {"a.yaml": application("a", "guestbook", repo=UPSTREAM),
                             "b.yaml": application("b", "guestbook", repo=UPSTREAM),
                             "neuroscale.yaml": f"repoURLs: [{OURS}]\n"})
    assert [(f.severity, f.message) for f in found] == [
        (Severity.ERROR, f"Applications a and b both sync guestbook from {UPSTREAM}: every object there is "
                         "applied twice"),
        (Severity.INFO, "no Application syncs a directory of this repository (github.com/acme/platform): 2 "
                        f"source(s) name other repositories (e.g. {UPSTREAM}), so they own none of its files")]


def test_a_chart_is_rendered_only_for_a_source_of_this_repository() -> None:
    # argocd-example-apps keeps its helm-guestbook chart at the root; a fork's Application on the same path
    # renders the fork's chart, not this one.
    files = {"helm-guestbook/Chart.yaml": "apiVersion: v2\nname: helm-guestbook\nversion: 0.1.0\n",
             "apps/ours.yaml": application("ours", "helm-guestbook"),
             "apps/fork.yaml": application("fork", "helm-guestbook", repo="https://github.com/someone/fork.git"),
             "neuroscale.yaml": f"repoURLs: [{OURS}]\n"}
    assert [use.app.name for use in chart_uses(view_of(files))] == ["ours"]


# --- destinations written with placeholders ------------------------------------------------------------------------

@pytest.mark.parametrize("server", ["$(SERVER)", "{{server}}", "{{ .cluster }}", "${CLUSTER_URL}"])
def test_a_placeholder_destination_is_neither_the_same_cluster_nor_another(server: str) -> None:
    found = lint(l013.LINT, {"apps/web.yaml": application("web", "web"),
                             "apps/web-edge.yaml": application("web-edge", "web", server=server),
                             "web/web.yaml": deployment()})
    assert [(f.severity, f.message) for f in found] == [
        (Severity.WARNING, "Deployment.apps default/web is applied by 2 Applications (web, web-edge); the "
                           "destination of web-edge is a placeholder, so whether they fight over it in one "
                           "cluster is unknown"),
        (Severity.WARNING, "Applications web-edge and web both sync web from https://github.com/acme/platform.git:"
                           " the destination of web-edge is a placeholder, so whether every object there is "
                           "applied twice in one cluster is unknown")]


def test_one_placeholder_written_twice_is_not_one_cluster() -> None:
    # app-of-apps-kustomize: every Application says `server: $(SERVER)`; unsubstituted, nothing is known.
    found = lint(l013.LINT, {"apps/a.yaml": application("a", "web", server="$(SERVER)"),
                             "apps/b.yaml": application("b", "web", server="$(SERVER)"),
                             "web/web.yaml": deployment()})
    assert {f.severity for f in found} == {Severity.WARNING}
    assert "the destinations of a, b are placeholders" in found[0].message


def test_known_destinations_still_decide() -> None:
    same = lint(l013.LINT, {"apps/a.yaml": application("a", "web"), "apps/b.yaml": application("b", "web"),
                            "web/web.yaml": deployment()})
    assert [f.severity for f in same] == [Severity.ERROR, Severity.ERROR]
    apart = lint(l013.LINT, {"apps/a.yaml": application("a", "web"),
                             "apps/b.yaml": application("b", "web", server="https://edge.example.org"),
                             "web/web.yaml": deployment()})
    assert apart == []
