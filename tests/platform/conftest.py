"""Fixtures for the generated platform repository: options, a written repo, schema validation."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
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


def make_options(ingress: str = "kourier", engine: str = "vap", namespace: str = "default") -> InitOptions:
    return InitOptions(repo_url="https://github.com/acme/ml-platform.git", domain="ml.acme.dev",
                       ingress=ingress, policy_engine=engine, namespace=namespace)  # type: ignore[arg-type]


def write_repo(root: Path, options: InitOptions) -> dict[str, str]:
    files = generate(options)
    apply(root, files, plan(root, files))
    return files


@pytest.fixture(params=COMBINATIONS, ids=lambda c: "-".join(c))
def platform_repo(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, InitOptions]:
    options = make_options(*request.param)
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
            for crd in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader):
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


@pytest.fixture(scope="session")
def crd_schemas(reference: Path) -> CrdSchemas:
    return CrdSchemas(reference / "crds")


def validate_builtin(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.fixture(scope="session")
def nunjucks_render(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, dict[str, Any]], str]:
    """Real nunjucks (the engine inside Backstage): installed by `make test` (`make nunjucks`) next to render.js,
    else from the local npm cache only."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node/npm not installed: the jinja2 renderer test still covers the skeleton")
    source = Path(__file__).parent / "nunjucks"
    work = source
    if not (source / "node_modules" / "nunjucks").is_dir():
        work = tmp_path_factory.mktemp("nunjucks")
        for name in ("package.json", "render.js"):
            shutil.copy(source / name, work / name)
        result = subprocess.run([npm, "install", "--offline", "--no-audit", "--no-fund", "--silent"], cwd=work,
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            pytest.skip(f"nunjucks is not installed (run `make nunjucks`): {result.stderr[-200:]}")

    def render(template: str, values: dict[str, Any]) -> str:
        done = subprocess.run([node, str(work / "render.js")], input=json.dumps({"template": template, "values": values}),
                              capture_output=True, text=True, timeout=60, check=True)
        return done.stdout

    return render

