"""The CEL of a policy that selects no object of the repository is not compiled (a cost on every cold check).

Observable through the check: an expression that does not compile is reported only once the repository
holds an object the policy selects — on a cold run and on a warm one that adds that object. The policy is
Kyverno's own shape (a pod ValidatingPolicy with autogen for Deployments, as kyverno/policies' CEL variants
are written), broken on purpose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from neuroscale.check.model import CheckOptions
from neuroscale.check.runner import run_check
from neuroscale.policy.celenv import CelEnvironment
from neuroscale.policy.kyverno_match import may_match
from neuroscale.policy.policyset import compile_policy_set
from neuroscale.policy.selectors import kinds_of, may_select
from neuroscale.policy.subject import subjects

from .helpers import deployment, write_repo

HOST_PATH = """
apiVersion: policies.kyverno.io/v1alpha1
kind: ValidatingPolicy
metadata:
  name: disallow-host-path
spec:
  validationActions: [Audit]
  autogen:
    podControllers:
      controllers: [deployments]
  matchConstraints:
    resourceRules:
      - apiGroups: ['']
        apiVersions: [v1]
        operations: [CREATE, UPDATE]
        resources: [pods]
  validations:
    - expression: "!has(object.spec.volumes) || object.spec.volumes.all(v, !has(v.hostPath)"
      message: HostPath volumes are forbidden.
"""
CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default}\ndata: {a: b}\n"
POD = ("apiVersion: v1\nkind: Pod\nmetadata: {name: debug, namespace: default}\n"
       "spec:\n  containers: [{name: c, image: 'busybox:1.36'}]\n")


def broken_expression(root: Path, **options: Any) -> list[str]:
    report = run_check(root, options=CheckOptions(**options))
    return [f.message for f in report.findings if f.rule == "policy/unevaluable"]


def test_a_policy_that_selects_nothing_is_not_compiled_until_something_it_selects_arrives(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "repo", {"policies/disallow-host-path.yaml": HOST_PATH,
                                          "apps/settings.yaml": CONFIG_MAP})
    cache = tmp_path / "cache"
    assert broken_expression(root, cache_dir=cache) == []
    write_repo(root, {"apps/debug-pod.yaml": POD})  # warm: the policy set's own findings are not reused
    found = broken_expression(root, cache_dir=cache)
    assert len(found) == 1 and "CEL does not compile" in found[0]
    assert broken_expression(root, cache_dir=cache) == found
    (root / "apps/debug-pod.yaml").unlink()  # every object's verdict is cached: the policy set's own are not
    assert broken_expression(root, cache_dir=cache) == []


def test_an_autogen_variant_selects_what_the_pod_policy_does_not(tmp_path: Path) -> None:
    # Only a Deployment: the pod policy selects nothing, its Deployment variant does and is compiled.
    root = write_repo(tmp_path, {"policies/disallow-host-path.yaml": HOST_PATH, "apps/web.yaml": deployment()})
    assert len(broken_expression(root)) == 1


def _kinds(*objects: dict[str, Any]) -> list[Any]:
    return kinds_of(subjects(list(objects)))


POD_OBJ = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
DEPLOY_OBJ = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}
PODS = {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}


@pytest.mark.parametrize(("spec", "objects", "expected"), [
    (None, [POD_OBJ], True),  # no matchConstraints: every object
    (None, [], False),  # nothing to select
    ({"resourceRules": [PODS]}, [DEPLOY_OBJ], False),
    ({"resourceRules": [PODS]}, [DEPLOY_OBJ, POD_OBJ], True),
    ({"resourceRules": [{**PODS, "resourceNames": ["other"]}]}, [POD_OBJ], True),  # names only narrow
    ({"resourceRules": [{**PODS, "operations": ["DELETE"]}]}, [POD_OBJ], False),  # a check is a CREATE
    ({"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"]}]}, [DEPLOY_OBJ], True),
    ({"namespaceSelector": {"matchLabels": {"team": "a"}}}, [POD_OBJ], True),  # selectors only narrow
    ({"resourceRules": "pods"}, [DEPLOY_OBJ], True),  # unreadable: evaluation reports it
    ("pods", [DEPLOY_OBJ], True),
])
def test_may_select(spec: Any, objects: list[dict[str, Any]], expected: bool) -> None:
    assert may_select(spec, _kinds(*objects)) is expected


def test_rules_too_malformed_to_read_are_compiled_and_left_to_evaluation() -> None:
    policy = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
              "metadata": {"name": "odd"},
              "spec": {"matchConstraints": {"resourceRules": [{**PODS, "resources": 3}]},
                       "validations": [{"expression": "object.metadata.name != ''"}]}}
    compiled = compile_policy_set([policy], CelEnvironment(), kinds=_kinds(POD_OBJ))
    assert [len(p.validations) for p in compiled.cel_policies] == [1]


HOST_PATH_CLUSTER_POLICY = """
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: disallow-host-path-cel
  annotations: {annotations}
spec:
  validationFailureAction: Audit
  rules:
    - name: host-path
      match:
        any:
          - resources:
              kinds: [Pod]
      validate:
        cel:
          expressions:
            - expression: "!has(object.spec.volumes) || object.spec.volumes.all(v, !has(v.hostPath)"
              message: HostPath volumes are forbidden.
"""


def cluster_policy(autogen: str | None = None) -> str:
    annotations = "{}" if autogen is None else f"{{pod-policies.kyverno.io/autogen-controllers: {autogen}}}"
    return HOST_PATH_CLUSTER_POLICY.format(annotations=annotations)


@pytest.mark.parametrize(("autogen", "objects", "reported"), [
    (None, {"apps/settings.yaml": CONFIG_MAP}, False),
    (None, {"apps/debug-pod.yaml": POD}, True),
    (None, {"apps/web.yaml": deployment()}, True),  # autogen: the Deployment's pod template reaches the rule
    ("none", {"apps/web.yaml": deployment()}, False),
    ("StatefulSet", {"apps/web.yaml": deployment()}, False),
    ("Deployment", {"apps/web.yaml": deployment()}, True),
])
def test_a_cluster_policy_cel_rule_is_compiled_only_when_an_object_can_reach_it(
        tmp_path: Path, autogen: str | None, objects: dict[str, str], reported: bool) -> None:
    root = write_repo(tmp_path, {"policies/disallow-host-path.yaml": cluster_policy(autogen), **objects})
    found = broken_expression(root)
    assert len(found) == (1 if reported else 0), found


def test_a_cluster_policy_cel_rule_is_compiled_when_a_warm_run_brings_what_it_selects(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "repo", {"policies/disallow-host-path.yaml": cluster_policy(),
                                          "apps/settings.yaml": CONFIG_MAP})
    cache = tmp_path / "cache"
    assert broken_expression(root, cache_dir=cache) == []
    write_repo(root, {"apps/debug-pod.yaml": POD})
    found = broken_expression(root, cache_dir=cache)
    assert len(found) == 1 and "CEL does not compile" in found[0]
    (root / "apps/debug-pod.yaml").unlink()
    assert broken_expression(root, cache_dir=cache) == []


@pytest.mark.parametrize(("match", "objects", "kind", "expected"), [
    ({"any": [{"resources": {"kinds": ["Pod"]}}]}, [DEPLOY_OBJ], None, False),
    ({"any": [{"resources": {"kinds": ["Pod"]}}]}, [DEPLOY_OBJ], "Pod", True),  # a controller's pod template
    ({"any": [{"resources": {"kinds": ["Pod"]}}, {"resources": {"kinds": ["apps/v1/Deployment"]}}]}, [DEPLOY_OBJ],
     None, True),
    ({"all": [{"resources": {"kinds": ["Pod"]}}, {"resources": {"kinds": ["Deployment"]}}]}, [DEPLOY_OBJ, POD_OBJ],
     None, False),  # `all`: one object must fit every filter
    ({"resources": {"kinds": ["v1/Pod"]}}, [POD_OBJ], None, True),  # the legacy single filter
    ({"resources": {"kinds": ["apps/*/Deploy*"]}}, [DEPLOY_OBJ], None, True),
    ({"any": [{"resources": {"names": ["web"]}}]}, [DEPLOY_OBJ], None, True),  # names only narrow
    ({"any": [{"subjects": [{"kind": "User", "name": "x"}]}]}, [DEPLOY_OBJ], None, True),
    ({"any": "Pod"}, [DEPLOY_OBJ], None, True),  # unreadable: evaluation reports it
    (None, [DEPLOY_OBJ], None, True),
])
def test_may_match(match: Any, objects: list[dict[str, Any]], kind: str | None, expected: bool) -> None:
    assert may_match(match, _kinds(*objects), kind=kind) is expected
