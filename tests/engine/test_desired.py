"""Admission stage, table-driven, with the real policy code: each manifest is admitted or says why not."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuroscale.engine.desired import Admitted, Rejected, desired_state
from neuroscale.engine.revisions import spec_digest
from neuroscale.engine.source import Artifact, artifact_digest
from neuroscale.spec.manifest import manifest_path, render, to_manifest
from neuroscale.spec.serving import serving_spec
from tests.engine.conftest import iris_spec, without_cost_center

MODEL = Path("/models/iris.joblib")
GOOD = render(iris_spec(MODEL)).encode()


def artifact(files: dict[str, bytes]) -> Artifact:
    return Artifact(commit="c0ffee", digest=artifact_digest(files), files=files)


@pytest.mark.parametrize(
    ("content", "reason", "fragment"),
    [
        (without_cost_center(MODEL), "AdmissionDenied", "metadata.labels.cost-center"),
        (render(iris_spec(MODEL, storage_uri="ftp://host/model")).encode(), "AdmissionDenied", "storageUri"),
        (b"kind: [unclosed\n", "InvalidManifest", "YAML does not parse"),
        (b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: iris}\n", "InvalidManifest", "ConfigMap"),
        (b"- just\n- a list\n", "InvalidManifest", "not a Kubernetes object"),
        (render(iris_spec(MODEL, name="other")).encode(), "InvalidManifest", "metadata.name 'other'"),
    ],
    ids=["missing-label", "bad-scheme", "bad-yaml", "wrong-kind", "not-a-mapping", "name-mismatch"],
)
def test_rejections_say_why(content: bytes, reason: str, fragment: str) -> None:
    desired = desired_state(artifact({manifest_path("iris"): content, manifest_path("good"): render(
        iris_spec(MODEL, name="good")).encode()}))
    rejected = desired["iris"]
    assert isinstance(rejected, Rejected) and rejected.reason == reason and fragment in rejected.message
    assert isinstance(desired["good"], Admitted)  # one bad endpoint does not block the others


def test_admitted_endpoint_carries_spec_and_digest() -> None:
    desired = desired_state(artifact({manifest_path("iris"): GOOD, "apps/.gitkeep": b"", "apps/README.md": b"x"}))
    assert list(desired) == ["iris"]
    admitted = desired["iris"]
    assert isinstance(admitted, Admitted)
    expected = serving_spec(to_manifest(iris_spec(MODEL)))
    assert admitted.spec == expected and admitted.digest == spec_digest(expected)


def test_empty_apps_means_no_endpoints() -> None:
    assert desired_state(artifact({"apps/.gitkeep": b""})) == {}
