"""Kustomizations built together by one kustomize process give what each gives built alone (real kubectl)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from neuroscale.check import kustgroup, render
from neuroscale.check.model import CheckOptions
from neuroscale.check.runner import load_view, run_check

from .helpers import deployment, view_of, write_repo

pytestmark = pytest.mark.skipif(render.find_tool() is None, reason="kustomize rendering needs kubectl or kustomize")


def team(name: str, *, extra: str = "") -> dict[str, str]:
    """A team: a base of one Deployment and an overlay that patches, labels and re-tags it."""
    return {
        f"apps/{name}/base/deployment.yaml": deployment("web").replace("  namespace: default\n",
                                                                       f"  namespace: {name}\n"),
        f"apps/{name}/base/kustomization.yaml": "resources: [deployment.yaml]\n",
        f"apps/{name}/overlay/service.yaml": f"""
            apiVersion: v1
            kind: Service
            metadata: {{name: web, namespace: {name}}}
            spec: {{selector: {{app: web}}, ports: [{{port: 80}}]}}
            """,
        f"apps/{name}/overlay/kustomization.yaml": f"""
            resources: [../base, service.yaml]
            commonLabels: {{team: {name}}}
            images: [{{name: nginx, newTag: "1.27.{len(name)}"}}]
            patches:
              - path: replicas.yaml
            {extra}
            """,
        f"apps/{name}/overlay/replicas.yaml": f"""
            apiVersion: apps/v1
            kind: Deployment
            metadata: {{name: web, namespace: {name}}}
            spec: {{replicas: 3}}
            """,
    }


def ready_builds(files: dict[str, str]) -> list[render.Build]:
    view = view_of(files)
    return [b for b in render.plan(view, online=False, helm=False) if not b.blocked]


def test_a_group_renders_each_kustomization_byte_for_byte_as_alone(tmp_path: Path) -> None:
    files = {**team("alpha"), **team("beta"), **team("gamma")}
    root = write_repo(tmp_path / "repo", files)
    view, _ = load_view(root, options=CheckOptions(render=False))
    builds = [b for b in render.plan(view, online=False, helm=False) if not b.blocked]
    [group] = kustgroup.groups(builds)
    tool = render.find_tool()
    assert tool is not None and len(group) == 3
    with tempfile.TemporaryDirectory() as tmp:
        render.materialise(view, Path(tmp), builds=builds)
        together = kustgroup.build_group(group, argv=tool.argv, tree=Path(tmp), env=render._env(online=False),
                                         timeout=render.BUILD_TIMEOUT_S)
        assert together is not None
        for build in group:
            render._run(build, tool=tool, tree=Path(tmp), online=False, cache=None, key="")
            assert build.output and together[id(build)] == build.output, build.kust.directory


def test_only_disjoint_kustomizations_without_build_wide_fields_are_grouped() -> None:
    shared_base = {**team("alpha"), "apps/alpha/canary/kustomization.yaml": "resources: [../base]\n"}
    prefixed = team("beta", extra="namePrefix: beta-")
    generated = team("gamma", extra="configMapGenerator: [{name: cfg, literals: [a=b]}]")
    builds = ready_builds({**shared_base, **prefixed, **generated, **team("delta"),
                           "kustomization.yaml": "resources: [root.yaml]\ncommonLabels: {a: b}\n",
                           "root.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: root}\n"})
    grouped = [sorted(b.kust.directory for b in group) for group in kustgroup.groups(builds)]
    # alpha's two overlays share its base: never in one group; namePrefix, a generator and the root stay alone.
    assert sorted(grouped) == sorted([["apps/alpha/canary", "apps/delta/overlay"], ["apps/alpha/overlay"],
                                      ["apps/beta/overlay"], ["apps/gamma/overlay"], [""]])


def test_a_failing_group_is_built_one_by_one_and_the_error_names_its_kustomization(tmp_path: Path) -> None:
    broken = team("beta")
    broken["apps/beta/overlay/replicas.yaml"] = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: nope}\n"
    root = write_repo(tmp_path, {**team("alpha"), **broken})
    report = run_check(root, options=CheckOptions(cache_dir=tmp_path / "cache"))
    failed = [f for f in report.findings if f.rule == render.RULE_BUILD_FAILED]
    assert [f.file for f in failed] == ["apps/beta/overlay/kustomization.yaml"]
    assert "nope" in failed[0].message
    # alpha rendered (and was cached) on its own after the group failed: its objects are judged as patched.
    assert len(list((tmp_path / "cache/kustomize").glob("*.yaml"))) == 1
    view, _ = load_view(root, options=CheckOptions())
    replicas = {(d.path, d.data["spec"].get("replicas")) for d in view.documents
                if d.rendered_from and d.kind == "Deployment"}
    assert replicas == {("apps/alpha/base/deployment.yaml", 3)}


@pytest.mark.parametrize("output", [
    b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n",  # no origin at all
    b"apiVersion: v1\nkind: Namespace\nmetadata:\n  annotations:\n    config.kubernetes.io/origin: |\n"
    b"      path: ../elsewhere/ns.yaml\n  name: a\n",  # from a file no member of the group holds
    b"apiVersion: v1\nkind: Namespace\nmetadata:\n  annotations:\n    config.kubernetes.io/origin: |\n"
    b"      path: ns.yaml\n      repo: https://github.com/example/repo\n  name: a\n",  # fetched
])
def test_an_object_the_split_cannot_attribute_makes_the_group_fail(output: bytes) -> None:
    builds = ready_builds({**team("alpha"), **team("beta")})
    assert kustgroup.split(output, builds, wrapper=".group") is None


def test_a_group_build_that_dies_leaves_the_same_verdicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    real = render.find_tool()
    assert real is not None
    tools = tmp_path / "bin"
    tools.mkdir()
    # A kubectl that is killed whenever it is asked to build a group, and is the real one otherwise.
    (tools / "kubectl").write_text(f"""#!/bin/sh
case "$*" in *.neuroscale-group-*) kill -9 $$ ;; esac
exec {real.argv[0]} "$@"
""")
    (tools / "kubectl").chmod(0o755)
    root = write_repo(tmp_path / "repo", {**team("alpha"), **team("beta")})
    expected = run_check(root, options=CheckOptions(cache_dir=tmp_path / "real-cache"))
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    faked = render.find_tool()
    assert faked is not None and faked.argv[0] == str(tools / "kubectl")
    dying = run_check(root, options=CheckOptions(cache_dir=tmp_path / "cache"))
    assert dying.findings == expected.findings and dying.checked_objects == expected.checked_objects
    assert len(list((tmp_path / "cache/kustomize").glob("*.yaml"))) == 2  # each built alone, and cached
