"""Storage URIs the shape rule is tested with: what KServe reads (documented forms and its own samples) and what
no reading makes safe. Shared by the reader's tests (`tests/spec`) and the bundled policy's (`tests/policy`),
which must agree on every one of them."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

CORPUS = Path("/work/corpus/repos")
LEGAL = [
    "gs://kfserving-examples/models/sklearn/1.0/model",
    "gs://kfserving-samples/models/sklearn/iris",  # KServe's samples name these two
    "pvc://model-pv-claim",
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
#: (URI, words of the reader's message, the rule it breaks)
HOSTILE = [
    ("file://../other-team/model", "names the host '..'", "storage-uri-file-host"),
    ("file://fileserver/srv/models/iris", "names the host 'fileserver'", "storage-uri-file-host"),
    ("FILE://../x", "names the host '..'", "storage-uri-file-host"),
    ("pvc://x/../../", "climbs out of claim 'x'", "storage-uri-dot-segment"),
    ("pvc://claim/models/%2E%2E/%2e%2e/secrets", "climbs out of claim 'claim'", "storage-uri-dot-segment"),
    ("pvc://../x", "not a PersistentVolumeClaim name", "storage-uri-pvc-claim"),
    ("pvc://Claim_A/x", "not a PersistentVolumeClaim name", "storage-uri-pvc-claim"),
    ("pvc:///x", "not a PersistentVolumeClaim name", "storage-uri-pvc-claim"),
    ("pvc://claim\n/model", "not a PersistentVolumeClaim name", "storage-uri-pvc-claim"),  # `$` took the '\n'
    ("pvc://" + "a" * 254 + "/model", "not a PersistentVolumeClaim name", "storage-uri-pvc-claim"),
    ("/srv/models/../../etc/passwd", "has a '..' segment", "storage-uri-dot-segment"),
    ("../other-team/model.joblib", "has a '..' segment", "storage-uri-dot-segment"),
    ("file:///srv/models/%2e%2e/%2e%2e/etc/passwd", "has a '..' segment", "storage-uri-dot-segment"),
    ("/srv/models%2f%2E.%2Fetc", "has a '..' segment", "storage-uri-dot-segment"),
    ("file:///srv/models/iris%00.joblib", "control character", "storage-uri-control-character"),
    ("/srv/models/iris\x7f", "control character", "storage-uri-control-character"),
]
_SAMPLE = re.compile(r"^\s*(?:storageUri|uri|value):\s*[\"']?([a-z0-9]+://[^\"'\s#]*|/[^\"'\s#]*)", re.MULTILINE)
_PREFIX = re.compile(r"^\s*-?\s*prefix:\s*[\"']?([a-z0-9]+://)", re.MULTILINE)


def kserve_samples(reference: Path) -> list[str]:
    """Every storage URI of KServe's own samples (corpus) and a URI under each prefix its chart's
    ClusterStorageContainer declares (reference); empty when neither is on this machine."""
    found: set[str] = set()
    for path in sorted(CORPUS.glob("*kserve*/**/*.yaml")):
        found.update(_SAMPLE.findall(path.read_text(errors="replace")))
    for chart in sorted((reference / "charts").glob("kserve-resources-*.tgz")):
        with tarfile.open(chart) as archive:
            for member in archive.getmembers():
                if member.name.endswith("storagecontainer.yaml"):
                    text = io.TextIOWrapper(archive.extractfile(member) or io.BytesIO(), encoding="utf-8").read()
                    found.update(f"{prefix}bucket/models/iris" for prefix in _PREFIX.findall(text))
    return sorted(found)
