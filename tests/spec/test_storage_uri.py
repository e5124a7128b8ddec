"""The storage-URI shape rule: every shape KServe's storage initializer reads passes, the hostile ones do not.

The legal table holds each form KServe documents (its storage initializer's prefixes and its
ClusterStorageContainer formats) and, when the corpus is on this machine, every `storageUri` of
KServe's own samples (/work/corpus/repos/*kserve*), so the rule can never refuse what KServe serves.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.storage_uri import storage_uri_problem
from neuroscale.errors import InvalidInput

CORPUS = Path("/work/corpus/repos")
LEGAL = [
    "gs://kfserving-examples/models/sklearn/1.0/model",
    "s3://bucket/models/iris/model.joblib",
    "s3://bucket",
    "pvc://task-pv-claim/models/iris",
    "pvc://models.team-a/iris/model.joblib",
    "pvc://claim",
    "hdfs://namenode/user/me/model",
    "webhdfs://namenode/user/me/model",
    "hf://google-t5/t5-small",
    "oci://registry.example.com/models/iris:1.0",
    "https://account.blob.core.windows.net/container/model",
    "https://account.file.core.windows.net/share/model",
    "http://files.example.com/models/model.joblib",
    "https://example.com/a/../model.joblib",  # a remote server resolves its own paths
    "abc://custom/storage/container/format",  # a ClusterStorageContainer may add any scheme
    "file:///srv/models/iris/model.joblib",
    "file://localhost/srv/models/iris/model.joblib",
    "file:///srv/models/my%20model/model.joblib",
    "/mnt/models",
    "/srv/models/iris..v2/model.joblib",  # dots inside a name are no segment
    "./models/iris",
    "models/iris/model.joblib",
]
HOSTILE = [
    ("file://../other-team/model", "names the host '..'"),
    ("file://fileserver/srv/models/iris", "names the host 'fileserver'"),
    ("FILE://../x", "names the host '..'"),
    ("pvc://x/../../", "climbs out of claim 'x'"),
    ("pvc://claim/models/%2E%2E/%2e%2e/secrets", "climbs out of claim 'claim'"),
    ("pvc://../x", "not a PersistentVolumeClaim name"),
    ("pvc://Claim_A/x", "not a PersistentVolumeClaim name"),
    ("pvc:///x", "not a PersistentVolumeClaim name"),
    ("/srv/models/../../etc/passwd", "has a '..' segment"),
    ("../other-team/model.joblib", "has a '..' segment"),
    ("file:///srv/models/%2e%2e/%2e%2e/etc/passwd", "has a '..' segment"),
    ("file:///srv/models/iris%00.joblib", "control character"),
]


def _kserve_samples() -> list[str]:
    found: set[str] = set()
    for path in sorted(CORPUS.glob("*kserve*/**/*.yaml")):
        found.update(re.findall(r"^\s*(?:storageUri|uri):\s*[\"']?([^\"'\s#]+)", path.read_text(errors="replace"),
                                re.MULTILINE))
    return sorted(found)


@pytest.mark.parametrize("uri", LEGAL + _kserve_samples())
def test_what_kserve_reads_passes(uri: str) -> None:
    assert storage_uri_problem(uri) is None


@pytest.mark.parametrize(("uri", "words"), HOSTILE)
def test_hostile_uris_are_refused_with_what_and_how_to_fix(uri: str, words: str) -> None:
    problem = storage_uri_problem(uri)
    assert problem is not None and words in problem.message and problem.fix
    assert repr(uri) in problem.message  # names what it refuses


@pytest.mark.parametrize(("uri", "words"), HOSTILE[:4])
def test_the_form_refuses_them_on_the_storage_uri_field(uri: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        EndpointSpec.from_input({"name": "iris", "owner": "team-ml", "costCenter": "cc-1", "storageUri": uri})
    (field,) = caught.value.details["fields"]
    assert field["field"] == "storageUri" and words in field["message"] and "fix:" in field["message"]
