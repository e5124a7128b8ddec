"""The generated guardrails govern endpoints, not the platform: the numbers of issue 14.

The policies `init` writes (VAP + bindings, or Kyverno ClusterPolicies) are read back from the generated
repository and evaluated by NeuroScale's engine as the API server / Kyverno would: against every object the
platform installs (its own files and the pinned charts rendered), as created by the platform's own service
accounts or by Argo CD; against what the platform's controllers create at run time (a Knative revision
Deployment, a predictor Pod); and against every bad-endpoint fixture of the bundled policies, placed in the
endpoint namespace. The platform must pass; every bad endpoint must be denied; a label must exempt nothing.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from neuroscale.findings import Finding, Severity
from neuroscale.platform.governance import ENDPOINT_LIMITS, POLICIES_PATH
from neuroscale.platform.argocd import ENDPOINTS_PROJECT
from neuroscale.platform.options import PREVIEW_NAMESPACE, InitOptions
from neuroscale.platform.previews import PROJECT as PREVIEWS_PROJECT
from neuroscale.policy.bundled import PLATFORM_CONTROLLERS
from neuroscale.policy.celenv import default_environment
from neuroscale.policy.kyverno import KyvernoInputs, KyvernoRun
from neuroscale.policy.kyverno_match import Requester
from neuroscale.policy.policyset import compile_policy_set, is_policy_document
from neuroscale.policy.subject import Subject, subjects
from neuroscale.policy.vap import CelPolicyRun, referenced_inputs
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.manifest import render
from neuroscale.yamlio import load_all, load_one

from tests.platform.conftest import objects
from tests.platform.installed import installed

FIXTURES = Path(__file__).parents[1] / "policy" / "fixtures" / "bundled"
ARGOCD = "system:serviceaccount:argocd:argocd-application-controller"
KNATIVE = "system:serviceaccount:knative-serving:controller"
REPLICASET_CONTROLLER = "system:serviceaccount:kube-system:replicaset-controller"
#: Enforced by the API server itself (ResourceQuota/LimitRange), not by a policy object.
NATIVE = {"neuroscale-resource-quota", "neuroscale-limit-range"}


@dataclasses.dataclass(frozen=True)
class RequestedBy(Subject):
    """A subject whose admission request comes from `user` (offline, requests come from nobody's account)."""

    user: str = ""

    def request(self) -> dict[str, Any]:
        return {**super().request(), "userInfo": {"username": self.user, "groups": ["system:authenticated"]}}


def denials(documents: Sequence[Mapping[str, Any]], items: Sequence[Mapping[str, Any]], *,
            user: str) -> list[Finding]:
    """ERROR findings (denials, or anything that could not be evaluated) of `documents` for `items`."""
    env = default_environment()
    policies = compile_policy_set(list(documents), env)
    admitted = [RequestedBy(**{f.name: getattr(s, f.name) for f in dataclasses.fields(Subject)}, user=user)
                for s in subjects(items)]
    cel = [*policies.cel_policies, *(r.cel for p in policies.kyverno_policies for r in p.rules if r.cel)]
    cel_run = CelPolicyRun(env, admitted, inputs=referenced_inputs(cel))
    kyverno_run = KyvernoRun(cel_run, KyvernoInputs(requester=Requester(username=user)))
    found = list(policies.problems)
    for subject in admitted:
        cel_run.begin(subject)
        for policy in policies.cel_policies:
            found += cel_run.evaluate(policy, subject)
        for kpolicy in policies.kyverno_policies:
            found += kyverno_run.evaluate(kpolicy, subject)
    return [f for f in found if f.severity is Severity.ERROR]


def generated_policies(root: Path) -> list[dict[str, Any]]:
    """The admission policies among the generated policy files (not the kustomization or the preview TTL)."""
    return [obj for path, obj in objects(root) if path.startswith(f"{POLICIES_PATH}/") and is_policy_document(obj)]


def bad_endpoints(namespace: str) -> list[dict[str, Any]]:
    """Every resource a bundled-policy fixture expects a policy to deny, moved into `namespace`."""
    found = []
    for suite in sorted(FIXTURES.glob("*/kyverno-test.yaml")):
        resources = {(r["kind"], r["metadata"].get("namespace", "default"), r["metadata"]["name"]): r
                     for r in load_all((suite.parent / "resources.yaml").read_text()) if isinstance(r, dict)}
        for result in load_one(suite.read_text())["results"]:
            if result["result"] != "fail" or result["policy"] in NATIVE:
                continue
            for entry in result["resources"]:
                ns, _, name = entry.rpartition("/")
                obj = copy.deepcopy(resources[(result["kind"], ns or "default", name)])
                obj["metadata"]["namespace"] = namespace
                found.append(obj)
    return found


def revision_deployment(namespace: str) -> dict[str, Any]:
    """A Deployment as Knative writes it for a revision: queue-proxy without limits, image by digest."""
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "fraud-predictor-00001-deployment", "namespace": namespace,
                         "labels": {"serving.knative.dev/revision": "fraud-predictor-00001",
                                    "serving.kserve.io/inferenceservice": "fraud"}},
            "spec": {"selector": {"matchLabels": {"app": "fraud"}}, "template": {
                "metadata": {"labels": {"app": "fraud"}},
                "spec": {"containers": [
                    {"name": "kserve-container", "image": "index.docker.io/kserve/sklearnserver@sha256:" + "a" * 64,
                     "securityContext": {"runAsNonRoot": True}},
                    {"name": "queue-proxy", "image": "gcr.io/knative-releases/queue@sha256:" + "b" * 64,
                     "resources": {"requests": {"cpu": "25m"}}, "securityContext": {"runAsNonRoot": True}}]}}}}


def predictor_pod(namespace: str, *, root: bool = False) -> dict[str, Any]:
    deployment = revision_deployment(namespace)
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "fraud-predictor-00001-deployment-7c9f-x2", "namespace": namespace,
                        "labels": deployment["metadata"]["labels"]},
           "spec": copy.deepcopy(deployment["spec"]["template"]["spec"])}
    if root:
        pod["spec"]["containers"][0]["securityContext"] = {"runAsUser": 0}
    return pod


def endpoint(namespace: str, **fields: Any) -> dict[str, Any]:
    spec = {"name": "fraud", "namespace": namespace, "owner": "team-risk", "costCenter": "cc-1",
            "storageUri": "s3://models/fraud", **fields}
    loaded: dict[str, Any] = load_one(render(EndpointSpec.from_input(spec)))
    return loaded


def test_the_platform_passes_its_own_policies(platform_repo: tuple[Path, InitOptions], reference: Path) -> None:
    root, options = platform_repo
    policies = generated_policies(root)
    assert len(policies) >= 13
    apps = installed(root, reference)
    platform = [obj for app in apps for obj in app.objects]
    assert len(platform) > 50
    for user in (ARGOCD, *PLATFORM_CONTROLLERS):
        assert [f"{f.rule} {f.obj}" for f in denials(policies, platform, user=user)] == []
    # What the platform's controllers create at run time, for a valid endpoint.
    namespace = options.namespace
    assert denials(policies, [endpoint(namespace)], user=ARGOCD) == []
    assert denials(policies, [revision_deployment(namespace)], user=KNATIVE) == []
    assert denials(policies, [predictor_pod(namespace)], user=REPLICASET_CONTROLLER) == []


def test_every_bad_endpoint_is_denied(platform_repo: tuple[Path, InitOptions]) -> None:
    root, options = platform_repo
    policies = generated_policies(root)
    bad = bad_endpoints(options.namespace)
    assert len(bad) >= 15
    for obj in bad:
        assert denials(policies, [obj], user=ARGOCD), f"{obj['kind']} {obj['metadata']['name']} was admitted"
    assert denials(policies, [predictor_pod(options.namespace, root=True)], user=REPLICASET_CONTROLLER)


def test_a_label_exempts_nothing_the_service_account_does(platform_repo: tuple[Path, InitOptions]) -> None:
    root, options = platform_repo
    policies = generated_policies(root)
    revision = revision_deployment(options.namespace)
    forged = {f.rule.split("/")[0] for f in denials(policies, [revision], user=ARGOCD)}
    assert {"neuroscale-require-resources-deployment", "neuroscale-require-labels"} <= forged
    labelled = endpoint(options.namespace)
    labelled["metadata"]["labels"]["serving.kserve.io/inferenceservice"] = "fraud"
    labelled["spec"]["predictor"]["model"]["resources"]["limits"]["cpu"] = "64"
    assert denials(policies, [labelled], user=ARGOCD)
    # The controllers' exemption covers their Deployments, never InferenceServices or Pods.
    assert denials(policies, [labelled], user=KNATIVE)
    assert denials(policies, [predictor_pod(options.namespace, root=True)], user=KNATIVE)


def test_policies_govern_the_endpoint_namespace_only(platform_repo: tuple[Path, InitOptions]) -> None:
    root, options = platform_repo
    policies = generated_policies(root)
    elsewhere = bad_endpoints("kube-system")
    assert denials(policies, elsewhere, user=ARGOCD) == []
    # ... and endpoints cannot go elsewhere: each AppProject lets InferenceServices into one governed namespace
    # only: the endpoints' project into theirs, the previews' project (with previews) into the previews'.
    projects = {obj["metadata"]["name"]: obj for _, obj in objects(root) if obj["kind"] == "AppProject"}
    expected = {ENDPOINTS_PROJECT: options.namespace, **({PREVIEWS_PROJECT: PREVIEW_NAMESPACE} if options.previews
                                                         else {})}
    assert {name: project["spec"]["destinations"] for name, project in projects.items()} == {
        name: [{"server": "https://kubernetes.default.svc", "namespace": namespace}]
        for name, namespace in expected.items()}
    assert set(options.governed_namespaces) == set(expected.values())
    for project in projects.values():
        assert project["spec"]["clusterResourceWhitelist"] == []
        assert project["spec"]["namespaceResourceWhitelist"] == [{"group": "serving.kserve.io",
                                                                  "kind": "InferenceService"}]
    appsets = {obj["metadata"]["name"]: obj["spec"]["template"]["spec"]["project"]
               for _, obj in objects(root) if obj["kind"] == "ApplicationSet"}
    assert appsets and set(appsets.values()) == set(expected)
    template = load_one((root / "backstage/templates/model-endpoint/template.yaml").read_text())
    assert template["spec"]["parameters"][0]["properties"]["namespace"]["enum"] == [options.namespace]


@pytest.mark.parametrize("resource", ["cpu", "memory"])
def test_one_source_for_limits(platform_repo: tuple[Path, InitOptions], resource: str) -> None:
    """The LimitRange maximum is the policies' ceiling: at it an endpoint is admitted, above it denied."""
    root, options = platform_repo
    policies = generated_policies(root)
    limits = load_one((root / "infrastructure/namespaces/limit-range.yaml").read_text())["spec"]["limits"][0]
    maximum = limits["max"][resource]
    assert maximum == ENDPOINT_LIMITS.container_max.as_dict()[resource]
    above = {"cpu": "4100m", "memory": "17Gi"}[resource]
    key = {"cpu": "cpuLimit", "memory": "memoryLimit"}[resource]
    assert denials(policies, [endpoint(options.namespace, **{key: maximum})], user=ARGOCD) == []
    denied = {f.rule for f in denials(policies, [endpoint(options.namespace, **{key: above})], user=ARGOCD)}
    assert denied == {f"neuroscale-resource-ceilings-inferenceservice/{resource}-limit-ceiling"}
    quota = load_one((root / "infrastructure/namespaces/resource-quota.yaml").read_text())["spec"]["hard"]
    from neuroscale.spec.quantity import parse_quantity

    assert parse_quantity(quota[f"limits.{resource}"]) >= parse_quantity(maximum)
