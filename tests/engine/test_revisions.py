"""A new revision only when a serving-relevant field changes; numbers increase."""

from __future__ import annotations

import pytest

from neuroscale.engine.revisions import RevisionRecord, SpecDigest, plan_revision, revision_name, spec_digest
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.manifest import to_manifest
from neuroscale.spec.serving import serving_spec

BASE = EndpointSpec(name="iris", owner="team-a", cost_center="cc-1", storage_uri="/models/iris.joblib")


@pytest.mark.parametrize(
    ("change", "predictor", "new_revision"),
    [
        ({"owner": "team-b"}, {}, False),
        ({"cost_center": "cc-2"}, {}, False),
        ({"namespace": "other"}, {}, False),
        ({"max_replicas": 4}, {}, False),
        ({"canary_traffic_percent": 20}, {}, False),
        ({}, {"timeout": 30, "containerConcurrency": 2, "scaleTarget": 5}, False),
        ({"storage_uri": "/models/iris-v2.joblib"}, {}, True),
        ({"model_format": "xgboost"}, {}, True),
        ({"memory_limit": "2Gi"}, {}, True),
        ({"cpu_request": "200m"}, {}, True),
        ({"runtime_version": "1.5.0"}, {}, True),
        ({}, {"batcher": {"maxBatchSize": 8}}, True),
    ],
)
def test_digest_tracks_serving_fields(change: dict[str, object], predictor: dict[str, object],
                                      new_revision: bool) -> None:
    manifest = to_manifest(BASE.model_copy(update=change))
    manifest["spec"]["predictor"].update(predictor)
    base = spec_digest(serving_spec(to_manifest(BASE)))
    assert (spec_digest(serving_spec(manifest)) != base) is new_revision


def test_revision_name_is_knative_style() -> None:
    assert revision_name("iris", 1) == "iris-predictor-00001"
    assert revision_name("iris", 12345) == "iris-predictor-12345"


D1, D2 = SpecDigest("sha256:1"), SpecDigest("sha256:2")


@pytest.mark.parametrize(
    ("latest", "digest", "number", "new"),
    [
        (None, D1, 1, True),
        (RevisionRecord("iris", 1, D1), D1, 1, False),
        (RevisionRecord("iris", 1, D1), D2, 2, True),
        (RevisionRecord("iris", 7, D2), D1, 8, True),
    ],
    ids=["first", "unchanged", "changed", "rollback-is-new"],
)
def test_plan_revision(latest: RevisionRecord | None, digest: SpecDigest, number: int, new: bool) -> None:
    record, is_new = plan_revision(latest, endpoint="iris", digest=digest)
    assert (record.number, record.digest, is_new) == (number, digest, new)
    assert record.name == revision_name("iris", number)
