"""Per-object verdicts kept by content: a warm check gives the cold check's findings, an edit to the object, a
policy, a namespace a policy reads or a CRD judges again, and a corrupt or foreign cache is never trusted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neuroscale.check.model import CheckOptions
from neuroscale.check.runner import run_check
from neuroscale.check.verdicts import KEEP_UNUSED, VerdictCache
from neuroscale.findings import Finding

from .helpers import deployment, write_repo

POLICY = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: replicas-cap}}
spec:
  matchConstraints:
    resourceRules:
      - {{apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}}
  validations:
    - {{expression: "object.spec.replicas <= {cap}", message: "at most {cap} replicas"}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: replicas-cap-prod}}
spec:
  policyName: replicas-cap
  validationActions: [Deny]
  matchResources:
    namespaceSelector: {{matchLabels: {{tier: prod}}}}
"""

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: default\n  labels: {{tier: {tier}}}\n"

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.example.org}}
spec:
  group: example.org
  names: {{kind: Widget, plural: widgets}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {{openAPIV3Schema: {{type: object, properties: {{spec: {{properties: {{size: {{type: {size}}}}}}}}}}}}}
"""

WIDGET = "apiVersion: example.org/v1\nkind: Widget\nmetadata: {name: w, namespace: default}\nspec: {size: \"3\"}\n"


def files(*, replicas: int = 5, cap: int = 10, tier: str = "prod", size: str = "string") -> dict[str, str]:
    return {"apps/web.yaml": deployment(replicas=replicas), "apps/namespace.yaml": NAMESPACE.format(tier=tier),
            "policies/cap.yaml": POLICY.format(cap=cap), "crds/widget.yaml": CRD.format(size=size),
            "apps/widget.yaml": WIDGET}


def findings(root: Path, cache: Path | None) -> list[Finding]:
    return list(run_check(root, options=CheckOptions(cache_dir=cache, render=False)).findings)


def judged(found: list[Finding]) -> set[tuple[str, str]]:
    """(schema rule or policy name, file) of the schema and policy findings."""
    return {(str(f.extra.get("policy", f.rule)), f.file) for f in found if f.rule == "NS-S001" or "policy" in f.extra}


@pytest.fixture
def warm(tmp_path: Path) -> tuple[Path, Path]:
    """A repository and a cache a first run filled."""
    root, cache = write_repo(tmp_path / "repo", files()), tmp_path / "cache"
    findings(root, cache)
    assert {p.name for p in cache.glob("verdicts-*.json")} == {"verdicts-schema.json", "verdicts-policies.json"}
    return root, cache


def test_a_warm_run_gives_the_findings_of_a_run_without_cache(warm: tuple[Path, Path]) -> None:
    root, cache = warm
    assert findings(root, cache) == findings(root, None)


@pytest.mark.parametrize(("edit", "appears"), [
    ({"replicas": 12}, ("replicas-cap", "apps/web.yaml")),  # the object changed
    ({"cap": 3}, ("replicas-cap", "apps/web.yaml")),  # the policy changed
    ({"size": "integer"}, ("NS-S001", "apps/widget.yaml")),  # the CRD changed
])
def test_an_edit_to_what_judges_or_is_judged_judges_again(warm: tuple[Path, Path], edit: dict[str, object],
                                                          appears: tuple[str, str]) -> None:
    root, cache = warm
    assert appears not in judged(findings(root, cache))
    write_repo(root, files(**edit))  # type: ignore[arg-type]
    found = findings(root, cache)
    assert appears in judged(found) and found == findings(root, None)


def test_a_namespace_a_policy_reads_judges_its_objects_again(tmp_path: Path) -> None:
    root, cache = write_repo(tmp_path / "repo", files(replicas=12, tier="dev")), tmp_path / "cache"
    assert ("replicas-cap", "apps/web.yaml") not in judged(findings(root, cache))
    write_repo(root, files(replicas=12, tier="prod"))  # the Deployment itself is unchanged
    assert ("replicas-cap", "apps/web.yaml") in judged(findings(root, cache))


@pytest.mark.parametrize("spoil", [
    lambda text: b"\x00not json" + text[:10],  # corrupt
    lambda text: json.dumps({"format": 1, "entries": {k: [["spoiled"]] for k in json.loads(text)["entries"]}}).encode(),
    lambda text: json.dumps({"format": 1, "entries": {k: "pass" for k in json.loads(text)["entries"]}}).encode(),
    lambda text: json.dumps({"format": 99, "entries": {}}).encode(),  # a cache another version wrote
])
def test_a_corrupt_or_foreign_cache_is_ignored(tmp_path: Path, spoil: object) -> None:
    root, cache = write_repo(tmp_path / "repo", files(replicas=12, cap=3, size="integer")), tmp_path / "cache"
    cold = findings(root, cache)
    assert {("replicas-cap", "apps/web.yaml"), ("NS-S001", "apps/widget.yaml")} <= judged(cold)
    for entry in cache.glob("verdicts-*.json"):
        entry.write_bytes(spoil(entry.read_bytes()))  # type: ignore[operator]
    assert findings(root, cache) == cold
    assert findings(root, cache) == cold  # and the recomputed verdicts were written back sound


REGISTRIES = """
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: allowed-registries}
spec:
  rules:
    - name: registries
      match: {any: [{resources: {kinds: [Deployment]}}]}
      context:
        - name: settings
          configMap: {name: registries, namespace: platform}
      validate:
        message: "registry not allowed"
        deny:
          conditions:
            all:
              - key: "{{ images.containers.*.registry }}"
                operator: AnyNotIn
                value: "{{ settings.data.registries | split(@, ',') }}"
  validationFailureAction: Enforce
---
apiVersion: v1
kind: ConfigMap
metadata: {name: registries, namespace: platform}
data: {registries: "REGISTRIES"}
"""


def test_a_configmap_a_policy_reads_judges_its_objects_again(tmp_path: Path) -> None:
    def repo(registries: str) -> Path:
        return write_repo(tmp_path / "repo", {"apps/web.yaml": deployment(),
                                              "policies/registries.yaml": REGISTRIES.replace("REGISTRIES", registries)})

    cache = tmp_path / "cache"
    allowed = ("allowed-registries", "apps/web.yaml")
    assert allowed not in judged(findings(repo("registry.example.org,ghcr.io"), cache))
    assert allowed in judged(findings(repo("ghcr.io"), cache))  # only the ConfigMap changed
    assert findings(repo("ghcr.io"), cache) == findings(repo("ghcr.io"), None)


def test_verdicts_of_another_configuration_are_kept_within_a_bound(tmp_path: Path) -> None:
    def run(items: range) -> int:
        """Judge `items` (a verdict is the item itself); how many verdicts came from the cache."""
        cache = VerdictCache(tmp_path, stage="t", salt="s", valid=lambda value: isinstance(value, int))
        hits = 0
        for item in items:
            key = cache.key("judge", item)
            if cache.get(key) is None:
                cache.put(key, item)
            else:
                hits += 1
        cache.save()
        return hits

    assert (run(range(10)), run(range(10))) == (0, 10)
    assert (run(range(100, 100 + 3 * KEEP_UNUSED)), run(range(10))) == (0, 10)  # both configurations kept
    assert run(range(-10, 0)) == 0  # a small run keeps only the most recent of the others ...
    entries = json.loads((tmp_path / "verdicts-t.json").read_text())["entries"]
    assert len(entries) == KEEP_UNUSED + 2 * 10
    assert run(range(10)) == 0  # ... so the oldest went first


def test_a_policy_that_does_not_compile_is_reported_by_every_warm_run(tmp_path: Path) -> None:
    broken = POLICY.format(cap=10).replace("object.spec.replicas <= 10", "object.spec.replicas <=")
    root, cache = write_repo(tmp_path / "repo", {**files(), "policies/cap.yaml": broken}), tmp_path / "cache"
    cold = findings(root, cache)
    assert any(f.extra.get("policy") == "replicas-cap" and "index" not in f.extra for f in cold)
    assert findings(root, cache) == findings(root, cache) == cold == findings(root, None)


def test_a_cache_that_cannot_be_written_costs_time_not_the_result(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "repo", files(replicas=12, cap=3))
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache directory should be\n")
    assert findings(root, blocked / "sub") == findings(root, None)
