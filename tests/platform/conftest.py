"""Fixtures for the generated platform repository: options, a written repo, schema validation."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from neuroscale.platform.generate import generate
from neuroscale.platform.options import InitOptions
from neuroscale.platform.writer import apply, plan
from neuroscale.yamlio import load_all

K8S_VERSION = "1.31"
COMBINATIONS = [("kourier", "vap", "default"), ("istio", "kyverno", "ml-prod")]
#: Where the generated CI installs NeuroScale from in these tests (a git commit, never a package name).
NEUROSCALE_SOURCE = "git+https://github.com/acme/neuroscale@" + "0123456789abcdef" * 2 + "01234567"


def make_options(ingress: str = "kourier", engine: str = "vap", namespace: str = "default", *,
                 previews: bool = False, preview_ttl_hours: int | None = None) -> InitOptions:
    return InitOptions(repo_url="https://github.com/acme/ml-platform.git", domain="ml.acme.dev",
                       ingress=ingress, policy_engine=engine, namespace=namespace,  # type: ignore[arg-type]
                       neuroscale_source=NEUROSCALE_SOURCE, previews=previews,
                       preview_ttl_hours=preview_ttl_hours)


def write_repo(root: Path, options: InitOptions) -> dict[str, str]:
    files = generate(options)
    apply(root, files, plan(root, files))
    return files


@pytest.fixture(params=COMBINATIONS, ids=lambda c: "-".join(c))
def platform_repo(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, InitOptions]:
    # The second combination also previews pull requests (with a TTL), so every platform test covers that shape too.
    second = request.param != COMBINATIONS[0]
    options = make_options(*request.param, previews=second, preview_ttl_hours=72 if second else None)
    write_repo(tmp_path / "repo", options)
    return tmp_path / "repo", options


def objects(root: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every Kubernetes-style object in the repository's YAML files, with its path."""
    out = []
    for path in sorted(root.rglob("*.yaml")):
        rel = path.relative_to(root).as_posix()
        for doc in load_all(path.read_text(), where=rel):
            if isinstance(doc, dict) and "kind" in doc and "apiVersion" in doc:
                out.append((rel, doc))
    return out


class CrdSchemas:
    """openAPIV3Schema per (group, version, kind) from the real upstream CRDs."""

    def __init__(self, crd_root: Path) -> None:
        self.schemas: dict[tuple[str, str, str], dict[str, Any]] = {}
        for path in crd_root.rglob("*.yaml"):
            # The upstream CRDs are megabytes: libyaml reads them in a fraction of the pure-Python time.
            self.add(yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader))

    def add(self, objects: Iterable[dict[str, Any]]) -> None:
        """Learn the CRDs among `objects` (a rendered chart's, say)."""
        for crd in objects:
            if crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                self.schemas[(group, version["name"], kind)] = version["schema"]["openAPIV3Schema"]

    def validate(self, obj: dict[str, Any]) -> list[str] | None:
        """Error messages, or None when no CRD defines the kind."""
        group, _, version = obj["apiVersion"].rpartition("/")
        schema = self.schemas.get((group, version, obj["kind"]))
        if schema is None:
            return None
        validator = jsonschema.Draft7Validator(schema)
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]



def validate_builtin(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.fixture(scope="session")
def js_tools(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, Any], str]:
    """Runs a script of tests/platform/js with JSON on stdin, returning its stdout.

    The upstream packages are installed by `make test` (`make js-tools`); without
    them, an offline install from the local npm cache is tried before skipping.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node/npm not installed (`make system-deps`)")
    source = Path(__file__).parent / "js"
    work = source
    if not (source / "node_modules" / ".installed").is_file():
        work = tmp_path_factory.mktemp("js")
        for script in source.iterdir():
            if script.is_file():
                shutil.copy(script, work / script.name)
        result = subprocess.run([npm, "install", "--offline", "--no-audit", "--no-fund", "--silent"], cwd=work,
                                capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            pytest.skip(f"the test-only JavaScript tools are not installed (run `make js-tools`): {result.stderr[-200:]}")

    def run(script: str, payload: Any) -> str:
        done = subprocess.run([node, str(work / script)], input=json.dumps(payload), capture_output=True, text=True,
                              timeout=120, check=True)
        return done.stdout

    return run


@pytest.fixture(scope="session")
def nunjucks_render(js_tools: Callable[[str, Any], str]) -> Callable[[str, dict[str, Any]], str]:
    """Real nunjucks, configured as Backstage's scaffolder configures it."""
    def render(template: str, values: dict[str, Any]) -> str:
        return js_tools("render.js", {"template": template, "values": values})

    return render


@pytest.fixture(scope="session")
def upstream_errors(js_tools: Callable[[str, Any], str]) -> Callable[[str, dict[str, Any]], list[str]]:
    """Error messages of an upstream validator (`backstage-template`, `knative-serving`) for one object."""
    def errors(validator: str, obj: dict[str, Any]) -> list[str]:
        [found] = json.loads(js_tools("validate.mjs", [{"validator": validator, "object": obj}]))
        return list(found)

    return errors

