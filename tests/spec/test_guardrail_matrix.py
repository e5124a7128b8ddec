"""Shape × policy × engine: every bundled guardrail catches its violation wherever the CRD lets it hide.

Each case puts one container in one place an InferenceService can hold it (every framework key, `model`,
plain and init containers, a multi-node `workerSpec`, a transformer, an explainer, a `spec.canary[]`
predictor), with one violation, and runs it through every engine: the bundled CEL as `neuroscale check` and
the pull-request checks evaluate it, the exported ValidatingAdmissionPolicy files, the exported Kyverno
ClusterPolicies (both re-read from their YAML text), and the embedded reconciler's admission. The clean
variant of each shape must pass all of them: a guardrail that denies everything would pass the first half.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from neuroscale.engine.desired import Rejected, desired_state
from neuroscale.engine.source import Artifact, artifact_digest
from neuroscale.findings import Severity
from neuroscale.policy.admission import admit
from neuroscale.policy.export import export_policies
from neuroscale.spec.isvc import MODEL_KEYS
from neuroscale.spec.manifest import manifest_path
from neuroscale.status.reasons import Reason
from neuroscale.yamlio import dump, dump_all, load_all

RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
MODEL = {"storageUri": "s3://models/m/v1", "resources": RESOURCES}
CONTAINER = {"name": "c", "image": "registry.example.org/ml/c:1.4.2", "securityContext": {"runAsNonRoot": True},
             "resources": RESOURCES}

#: slot id → (is a model slot, is an init container, builder putting `container` there)
Slot = tuple[bool, bool, Callable[[dict[str, Any]], dict[str, Any]]]


def _predictor(**extra: Any) -> dict[str, Any]:
    return {"sklearn": copy.deepcopy(MODEL), **extra}


def _slots() -> dict[str, Slot]:
    slots: dict[str, Slot] = {}
    for key in MODEL_KEYS["predictor"]:
        model_key = key
        slots[f"predictor.{key}"] = (True, False, lambda c, k=model_key: {"predictor": {k: c}})
    slots["predictor.containers"] = (False, False, lambda c: {"predictor": _predictor(containers=[c])})
    slots["predictor.initContainers"] = (False, True, lambda c: {"predictor": _predictor(initContainers=[c])})
    slots["predictor.workerSpec"] = (False, False,
                                     lambda c: {"predictor": _predictor(workerSpec={"containers": [c]})})
    slots["transformer.containers"] = (False, False,
                                       lambda c: {"predictor": _predictor(), "transformer": {"containers": [c]}})
    slots["explainer.art"] = (True, False, lambda c: {"predictor": _predictor(), "explainer": {"art": c}})
    slots["canary.onnx"] = (True, False, lambda c: {"predictor": _predictor(), "canary": [
        {"trafficPercent": 10, "predictor": {"onnx": c}}]})
    slots["canary.containers"] = (False, False, lambda c: {"predictor": _predictor(), "canary": [
        {"trafficPercent": 10, "predictor": _predictor(containers=[c])}]})
    return slots


SLOTS = _slots()

#: violation → (policy that must deny, how to break a clean container, applies to (model slot, init slot))
VIOLATIONS: dict[str, tuple[str, Callable[[dict[str, Any]], None], Callable[[bool, bool], bool]]] = {
    "no-requests": ("neuroscale-require-resources-inferenceservice",
                    lambda c: c["resources"].pop("requests"), lambda model, init: not init),
    "over-ceiling": ("neuroscale-resource-ceilings-inferenceservice",
                     lambda c: c["resources"]["limits"].update(cpu="64"), lambda model, init: True),
    "latest-image": ("neuroscale-disallow-latest-tag-inferenceservice",
                     lambda c: c.update(image="registry.example.org/ml/c:latest"), lambda model, init: True),
    "root": ("neuroscale-run-as-non-root-inferenceservice",
             lambda c: c.update(securityContext={"runAsUser": 0}), lambda model, init: True),
    "ftp-storage": ("neuroscale-storage-uri-scheme",
                    lambda c: c.update(storageUri="ftp://models.example.org/m"), lambda model, init: model),
}


def manifest(slot: str, violation: str | None) -> dict[str, Any]:
    is_model, _, build = SLOTS[slot]
    container = copy.deepcopy(MODEL if is_model else CONTAINER)
    if violation is not None:
        VIOLATIONS[violation][1](container)
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "shape", "namespace": "team-a", "labels": {"owner": "team-ml", "cost-center": "cc-1"}},
            "spec": build(container)}


def _reloaded(fmt: str) -> list[Any]:
    """The exported files as a cluster receives them: YAML text, read back."""
    return load_all(dump_all(export_policies(fmt)))  # type: ignore[arg-type]


EXPORTED = {"vap": _reloaded("vap"), "kyverno": _reloaded("kyverno")}


def denying_policies(engine: str, obj: dict[str, Any]) -> set[str]:
    """Which policies deny `obj` in one engine."""
    if engine == "embedded":
        text = dump(obj).encode()
        files = {manifest_path("shape"): text}
        desired = desired_state(Artifact(commit="c0ffee", digest=artifact_digest(files), files=files))["shape"]
        if isinstance(desired, Rejected) and desired.reason == Reason.AdmissionDenied:
            return {part.split("denied by ", 1)[1].split("/")[0] for part in desired.message.split("; ")}
        return set()
    documents: Sequence[Any] | None = None if engine == "cel" else EXPORTED[engine]
    findings = admit([obj], policy_documents=documents, include_bundled=documents is None)
    return {f.rule.split("/")[0] for f in findings if f.severity is Severity.ERROR}


ENGINES = ("cel", "vap", "kyverno", "embedded")
CASES = [(slot, violation) for slot, (is_model, is_init, _) in SLOTS.items()
         for violation, (_, _, applies) in VIOLATIONS.items() if applies(is_model, is_init)]


@pytest.mark.parametrize(("slot", "violation"), CASES, ids=[f"{s}-{v}" for s, v in CASES])
def test_each_engine_denies_the_violation_in_each_shape(slot: str, violation: str) -> None:
    policy = VIOLATIONS[violation][0]
    obj = manifest(slot, violation)
    verdicts = {engine: denying_policies(engine, obj) for engine in ENGINES}
    assert all(policy in denied for denied in verdicts.values()), verdicts
    assert len({frozenset(denied) for denied in verdicts.values()}) == 1, f"engines disagree: {verdicts}"


@pytest.mark.parametrize("slot", list(SLOTS))
def test_the_clean_shape_passes_every_engine(slot: str) -> None:
    obj = manifest(slot, None)
    assert {engine: denying_policies(engine, obj) for engine in ENGINES} == dict.fromkeys(ENGINES, set())


def test_the_issue_manifest_is_denied_by_every_engine() -> None:
    """A framework-key predictor over the ceiling plus a transformer on :latest — zero findings before."""
    obj = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
           "metadata": {"name": "shape", "namespace": "default", "labels": {"owner": "a", "cost-center": "b"}},
           "spec": {"predictor": {"sklearn": {"storageUri": "gs://bucket/model",
                                              "resources": {"limits": {"cpu": "64", "memory": "1Ti"}}}},
                    "transformer": {"containers": [{"name": "t", "image": "x:latest"}]}}}
    for engine in ENGINES:
        denied = denying_policies(engine, obj)
        assert {"neuroscale-resource-ceilings-inferenceservice", "neuroscale-disallow-latest-tag-inferenceservice",
                "neuroscale-require-resources-inferenceservice"} <= denied, (engine, denied)


def test_findings_point_at_the_container_at_fault() -> None:
    findings = admit([manifest("transformer.containers", "latest-image")])
    [finding] = [f for f in findings if f.severity is Severity.ERROR]
    assert finding.field_path == "spec.transformer.containers[c].image"
    assert "spec.transformer.containers[c]" in finding.message


def test_a_generated_label_does_not_switch_off_inference_service_checks() -> None:
    obj = manifest("transformer.containers", "latest-image")
    obj["metadata"]["labels"]["serving.kserve.io/inferenceservice"] = "shape"
    obj["metadata"]["labels"]["serving.knative.dev/revision"] = "shape-00001"
    for engine in ENGINES:
        assert "neuroscale-disallow-latest-tag-inferenceservice" in denying_policies(engine, obj), engine
