"""Cluster previews as Argo CD would build them: the pushed endpoint directory through the real kustomize.

The preview Application's kustomize options are what Argo CD writes into the directory's kustomization
before `kustomize build` (namespace, name suffix, labels, patches). Applied here to the very branch
`neuroscale endpoint create --remote` pushed, the build must give `<name>-pr-<n>` in the previews
namespace at zero idle replicas, and the plain build must give the endpoint exactly as written.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from neuroscale.cli.main import main
from neuroscale.errors import InvalidInput
from neuroscale.gitops.provider import PREVIEW_LABEL
from neuroscale.gitops.repo import Author, GitRepo
from neuroscale.platform.options import PREVIEW_NAMESPACE, InitOptions
from neuroscale.platform.previews import LABEL_PREVIEW_OF, LABEL_PULL_REQUEST, ttl_policy
from neuroscale.spec.fields import DNS1123_LABEL
from neuroscale.spec.manifest import KUSTOMIZATION_FILE
from neuroscale.yamlio import dump, load_all, load_one

from tests.platform.conftest import make_options, write_repo

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) not installed")

FIELDS = ["--name", "fraud", "--namespace", "ml-prod", "--owner", "team-risk", "--cost-center", "cc-1234",
          "--model-format", "sklearn", "--storage-uri", "s3://models/fraud/v3", "--min-replicas", "2", "--max-replicas", "3"]


@pytest.fixture
def endpoint_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """apps/fraud/ as pushed to the pull request's branch."""
    remote = tmp_path / "platform.git"
    GitRepo.init_bare(remote, files={"apps/.gitkeep": b""}, author=Author("Dana Ops", "dana@acme.dev"), message="init")
    assert main(["endpoint", "create", *FIELDS, "--remote", str(remote), "--home", str(tmp_path / "home")]) == 0, \
        capsys.readouterr().out
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", "--branch", "endpoint/fraud", str(remote), str(checkout)], check=True)
    return checkout / "apps" / "fraud"


def kustomize(directory: Path) -> list[dict[str, Any]]:
    done = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [doc for doc in load_all(done.stdout) if doc]


def preview_source(tmp_path: Path) -> dict[str, Any]:
    write_repo(tmp_path / "platform", make_options(engine="kyverno", namespace="ml-prod", previews=True))
    appset = load_one((tmp_path / "platform" / "infrastructure/apps/endpoint-previews.yaml").read_text())
    return appset["spec"]["template"]["spec"]["source"]


def instantiate(template: Any, branch: str, number: str) -> Any:
    """The ApplicationSet template for one pull request (only the two expressions the template uses)."""
    if isinstance(template, dict):
        return {key: instantiate(value, branch, number) for key, value in template.items()}
    if isinstance(template, list):
        return [instantiate(value, branch, number) for value in template]
    if isinstance(template, str):
        return (template.replace('{{ trimPrefix "endpoint/" .branch }}', branch.removeprefix("endpoint/"))
                .replace("{{.number}}", number))
    return template


def apply_preview_options(directory: Path, options: dict[str, Any]) -> None:
    """What Argo CD's repo server does with `source.kustomize` before it builds: edit the kustomization."""
    kustomization = load_one((directory / KUSTOMIZATION_FILE).read_text())
    kustomization.update(namespace=options["namespace"], nameSuffix=options["nameSuffix"],
                         commonLabels=options["commonLabels"], patches=options["patches"])
    (directory / KUSTOMIZATION_FILE).write_text(dump(kustomization))


def test_the_endpoint_directory_builds_to_exactly_its_manifest(endpoint_dir: Path) -> None:
    assert sorted(p.name for p in endpoint_dir.iterdir()) == sorted([KUSTOMIZATION_FILE, "inference-service.yaml"])
    written = load_one((endpoint_dir / "inference-service.yaml").read_text())
    assert kustomize(endpoint_dir) == [written]


def test_a_preview_is_renamed_moved_labelled_and_idle_at_zero(endpoint_dir: Path, tmp_path: Path) -> None:
    source = instantiate(preview_source(tmp_path), "endpoint/fraud", "7")
    assert source["path"] == "apps/fraud"
    apply_preview_options(endpoint_dir, source["kustomize"])

    [preview] = kustomize(endpoint_dir)
    assert (preview["kind"], preview["metadata"]["name"], preview["metadata"]["namespace"]) == (
        "InferenceService", "fraud-pr-7", PREVIEW_NAMESPACE)
    assert preview["metadata"]["labels"][LABEL_PREVIEW_OF] == "fraud"
    assert preview["metadata"]["labels"][LABEL_PULL_REQUEST] == "7"
    assert preview["metadata"]["labels"]["owner"] == "team-risk"  # the endpoint's own labels are kept
    assert preview["spec"]["predictor"]["minReplicas"] == 0
    written = load_one((endpoint_dir / "inference-service.yaml").read_text())
    assert preview["spec"]["predictor"]["model"] == written["spec"]["predictor"]["model"]


def test_the_ttl_policy_deletes_only_previews_older_than_the_setting() -> None:
    policy = ttl_policy(make_options(engine="kyverno", previews=True, preview_ttl_hours=72))
    assert (policy["kind"], policy["metadata"]["namespace"]) == ("CleanupPolicy", PREVIEW_NAMESPACE)
    [match] = policy["spec"]["match"]["any"]
    assert match["resources"]["selector"] == {"matchExpressions": [{"key": LABEL_PREVIEW_OF, "operator": "Exists"}]}
    [condition] = policy["spec"]["conditions"]["all"]
    assert condition["operator"] == "GreaterThan" and condition["value"] == "72h"
    assert "creationTimestamp" in condition["key"]


@pytest.mark.parametrize(("changes", "said"), [
    ({"previews": False}, "needs --previews"),
    ({"policy_engine": "vap"}, "--policy-engine kyverno"),
    ({"preview_ttl_hours": 0}, "at least 1 hour"),
])
def test_a_ttl_needs_previews_kyverno_and_a_positive_number_of_hours(changes: dict[str, Any], said: str) -> None:
    values = {"repo_url": "https://github.com/acme/ml-platform.git", "domain": "ml.acme.dev", "previews": True,
              "policy_engine": "kyverno", "preview_ttl_hours": 24,
              "neuroscale_source": make_options().neuroscale_source}
    InitOptions(**values)  # the valid combination
    with pytest.raises(InvalidInput, match=said) as raised:
        InitOptions(**{**values, **changes})
    assert raised.value.where == "--preview-ttl-hours"


def preview_generator(tmp_path: Path) -> dict[str, Any]:
    write_repo(tmp_path / "platform", make_options(engine="kyverno", namespace="ml-prod", previews=True))
    appset = load_one((tmp_path / "platform" / "infrastructure/apps/endpoint-previews.yaml").read_text())
    [generator] = appset["spec"]["generators"]
    return generator["pullRequest"]


def undeclared(schema: dict[str, Any], value: Any, where: str = "") -> list[str]:
    """Paths in `value` that a CRD's structural schema does not declare: the API server drops those fields
    without a word, so Argo CD would never see them."""
    if isinstance(value, list):
        items = schema.get("items", {})
        return [path for i, item in enumerate(value) for path in undeclared(items, item, f"{where}[{i}]")]
    if not isinstance(value, dict) or schema.get("x-kubernetes-preserve-unknown-fields") or "properties" not in schema:
        return []
    return [path for key, item in value.items()
            for path in ([f"{where}.{key}"] if key not in schema["properties"]
                         else undeclared(schema["properties"][key], item, f"{where}.{key}"))]


def test_only_a_labelled_pull_request_gets_a_preview(tmp_path: Path, reference: Path) -> None:
    """A preview loads the model file its pull request names, and a pickle runs code when loaded: a pull
    request from a fork must not be deployed by being opened. The generator lists only pull requests carrying
    the label (Argo CD's GitHub `labels`: all of them must be on it), which on GitHub only triage or write
    access can add; a field the ApplicationSet CRD does not declare would be dropped and preview them all."""
    generator = preview_generator(tmp_path)
    assert generator["github"]["labels"] == [PREVIEW_LABEL]
    crd = yaml.load((reference / "crds/argocd/applicationset-crd.yaml").read_text(), Loader=yaml.CSafeLoader)
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    schema = spec["generators"]["items"]["properties"]["pullRequest"]
    assert undeclared(schema, generator) == []
    assert schema["properties"]["github"]["properties"]["labels"] == {"type": "array", "items": {"type": "string"}}


def test_the_generated_readme_says_who_gets_a_preview_and_how_a_maintainer_grants_one(tmp_path: Path) -> None:
    write_repo(tmp_path / "platform", make_options(previews=True))
    readme = " ".join((tmp_path / "platform" / "README.md").read_text().split())
    assert f"Only pull requests labelled `{PREVIEW_LABEL}` get one" in readme
    assert "fork" in readme and "pickle" in readme and "maintainer adds the label" in readme
    assert "`issues: write` or `pull_requests: write`" in readme


#: Source branches any pull request may have (a fork names its own); git allows every one of them.
BRANCHES = ["endpoint/fraud", "endpoint/7up", "endpoint/fraud-scorer-v2", "endpoint/" + "a" * 63,
            "endpoint/" + "a" * 64, "endpoint/Fraud", "endpoint/fraud_v2", "endpoint/fraud.v2", "endpoint/-fraud",
            "endpoint/fraud-", "endpoint/ünïcode", "endpoint/fraud/extra",
            "endpoint/feature/ÜBER-long-" + "x" * 80, "feature/endpoint/fraud", "endpoint/"]


def test_only_a_branch_naming_a_possible_endpoint_gets_a_preview_application(tmp_path: Path) -> None:
    """Argo CD keeps a pull request whose source branch the `branchMatch` regular expression matches anywhere
    (Go's MatchString, as `re.search`); every kept branch must render a preview the API server accepts: its
    endpoint a DNS label (the directory and the InferenceService's name), and a valid label value."""
    generator = preview_generator(tmp_path)
    [branch_filter] = generator["filters"]
    kept = [branch for branch in BRANCHES if re.search(branch_filter["branchMatch"], branch)]
    assert kept == ["endpoint/fraud", "endpoint/7up", "endpoint/fraud-scorer-v2", "endpoint/" + "a" * 63]
    for branch in kept:
        source = instantiate(preview_source(tmp_path), branch, "100000")
        endpoint = source["kustomize"]["commonLabels"][LABEL_PREVIEW_OF]
        assert re.fullmatch(DNS1123_LABEL, endpoint) and len(endpoint) <= 63 and source["path"] == f"apps/{endpoint}"


def test_a_preview_application_is_named_as_its_preview_never_like_an_ordinary_endpoint(tmp_path: Path) -> None:
    """Both ApplicationSets create Applications in the one `argocd` namespace, and Argo CD gives a name to
    the first set that claims it: an endpoint called `preview-7` must not take pull request 7's preview
    away (nor be held back by it). A preview is named as the embedded platform names it, `<name>-pr-<n>`,
    which only an endpoint literally called so can share (and that one keeps its name there too)."""
    from neuroscale.engine.previews import preview_name

    write_repo(tmp_path / "platform", make_options(engine="kyverno", namespace="ml-prod", previews=True))
    apps = tmp_path / "platform" / "infrastructure/apps"
    endpoint_app = load_one((apps / "model-endpoints.yaml").read_text())["spec"]["template"]["metadata"]["name"]
    preview_app = load_one((apps / "endpoint-previews.yaml").read_text())["spec"]["template"]["metadata"]["name"]
    assert endpoint_app == "{{.path.basename}}"
    assert instantiate(preview_app, "endpoint/fraud", "7") == preview_name("fraud", 7) != "preview-7"


def test_a_pull_request_can_never_move_its_preview_into_a_governed_namespace(endpoint_dir: Path,
                                                                             tmp_path: Path) -> None:
    """The pull request writes its own kustomization, and kustomize runs its `transformers:` after the
    namespace Argo CD sets: here one moves the preview back into ml-prod, where it would take the
    production quota (and a patch could as well rename it onto the endpoint). The preview's AppProject,
    which Argo CD checks every object's namespace against, is what must refuse it."""
    (endpoint_dir / "back-to-prod.yaml").write_text(dump({
        "apiVersion": "builtin", "kind": "NamespaceTransformer",
        "metadata": {"name": "back-to-prod", "namespace": "ml-prod"}, "unsetOnly": False}))
    kustomization = load_one((endpoint_dir / KUSTOMIZATION_FILE).read_text())
    (endpoint_dir / KUSTOMIZATION_FILE).write_text(dump({**kustomization, "transformers": ["back-to-prod.yaml"]}))
    apply_preview_options(endpoint_dir, instantiate(preview_source(tmp_path), "endpoint/fraud", "7")["kustomize"])
    [preview] = kustomize(endpoint_dir)
    assert preview["metadata"]["namespace"] == "ml-prod"  # kustomize did as the pull request asked

    apps = tmp_path / "platform" / "infrastructure/apps"
    project_name = load_one((apps / "endpoint-previews.yaml").read_text())["spec"]["template"]["spec"]["project"]
    [project] = [p for p in (load_one(f.read_text()) for f in apps.glob("*.yaml"))
                 if p["kind"] == "AppProject" and p["metadata"]["name"] == project_name]
    permitted = {destination["namespace"] for destination in project["spec"]["destinations"]}
    assert permitted == {PREVIEW_NAMESPACE}


def test_the_ttl_option_says_what_the_cleanup_policy_counts() -> None:
    """The policy measures the InferenceService's creationTimestamp, which a push (an in-place update by
    Argo CD) never moves: the option must not promise hours after the last push."""
    import inspect

    from neuroscale.cli.init import init

    promise = inspect.signature(init).parameters["preview_ttl_hours"].default.help
    [condition] = ttl_policy(make_options(engine="kyverno", previews=True, preview_ttl_hours=72))["spec"][
        "conditions"]["all"]
    assert "creationTimestamp" in condition["key"]
    assert "after it was created" in promise and "push" not in promise.split("(")[0]
