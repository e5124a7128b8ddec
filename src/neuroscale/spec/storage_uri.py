"""The one rule for the shape of a storage URI, applied when an endpoint is admitted, not when its model loads.

`file://../other-team/model`, `pvc://claim/../../` and `file:///models/%2e%2e/%2e%2e/etc/passwd` used
to pass the form, the pull-request checks and the reconciler, and were refused only by the model
server, as "no model file" in a revision that never came up. Every reader of an endpoint asks here
instead: the form, CLI and API (`EndpointSpec`) and the strict reader behind the pull-request checks
and the reconciler (`spec.serving`), for every storage URI of the InferenceService.

What is legal comes from KServe's storage initializer, so nothing KServe reads is refused: a path
without `scheme://` is a local path (absolute or relative), `file://` a local one, `pvc://CLAIM/PATH`
a path inside a PersistentVolumeClaim, and every other scheme (gs, s3, hdfs, webhdfs, hf, oci,
http(s), or one a ClusterStorageContainer adds) names remote storage, which the bundled policy allows
or not by scheme. Refused here is only what no reading makes safe:

* a `..` segment in a local, `file://` or `pvc://` path, written or percent-encoded (the model server
  decodes `file://` paths): it climbs out of the model root or the claim;
* a `file://` URI with a host other than `localhost` (`file://../x` names the host `..`): the model
  server reads files of this machine only, and says so only when it loads;
* a `pvc://` URI whose claim is not a PersistentVolumeClaim name;
* a control character (NUL included) in a local path, once decoded: no file has such a name.

Which local directories are allowed (the model roots) is a fact of the installation, not of the
manifest: the bundled policy judges that with the roots it is given (`policy.bundled`).

The bundled policy enforces these same rules as CEL (`policy.storage_uri_cel`, one check per `UriRule`),
so `neuroscale check` and a cluster (its ValidatingAdmissionPolicy or Kyverno export) refuse what this
reader refuses; a differential test holds the two to one verdict. This reader stays the strict reader's
early error, naming the URI, the host or the claim at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

#: A PersistentVolumeClaim name (a DNS-1123 subdomain, at most 253 characters), unanchored: RE2 syntax too.
CLAIM_PATTERN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
CLAIM_MAX_LENGTH = 253
_CLAIM = re.compile(CLAIM_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class UriRule:
    """One way a storage URI can never name a model safely: its check's name in the bundled policy, what it
    means in general, how to write the URI instead, and the message naming one URI: a template whose
    `{uri}`, `{host}` and `{claim}` are quoted values and `{inside}` is `INSIDE_DIRECTORY` or `INSIDE_CLAIM`
    (the reader fills it in Python, the policy in CEL: one wording)."""

    name: str
    summary: str
    fix: str
    detail: str


INSIDE_DIRECTORY = "the directory it names"
INSIDE_CLAIM = "claim {claim}"
FILE_HOST = UriRule(
    "storage-uri-file-host",
    "a file:// storage URI names a host other than localhost; the model server reads files on its own machine only",
    "write file:///ABSOLUTE/PATH (three slashes) or a plain path",
    "file:// URI {uri} names the host {host}; the model server reads files on its own machine only")
PVC_CLAIM = UriRule(
    "storage-uri-pvc-claim", "a pvc:// storage URI must name a PersistentVolumeClaim",
    "write pvc://CLAIM/PATH with the claim's name (lowercase letters, digits, '-' and '.')",
    "pvc:// URI {uri} names {claim}, which is not a PersistentVolumeClaim name")
DOT_SEGMENT = UriRule(
    "storage-uri-dot-segment",
    "a local, file:// or pvc:// storage URI has a '..' segment in its path (written or percent-encoded): it climbs "
    "out of the model root or the claim",
    "write the model's own path without '..' (local paths must lie under a model root, pvc:// paths inside their "
    "claim)",
    "storage URI {uri} has a '..' segment in its path (written or percent-encoded): it climbs out of {inside}")
CONTROL_CHARACTER = UriRule(
    "storage-uri-control-character",
    "a local, file:// or pvc:// storage URI holds a control character in its path once percent-decoded",
    "write the path as it is on disk, without control characters",
    "storage URI {uri} holds a control character in its path once percent-decoded")
#: Every rule, in the order the reader applies them.
RULES = (FILE_HOST, PVC_CLAIM, DOT_SEGMENT, CONTROL_CHARACTER)


@dataclass(frozen=True)
class UriProblem:
    """What is wrong with a storage URI (naming it), by which rule, and how to write it instead."""

    rule: UriRule
    message: str

    @property
    def fix(self) -> str:
        return self.rule.fix


def storage_uri_problem(uri: str) -> UriProblem | None:
    """Why `uri` can never name a model safely; None when its shape is fine (its scheme is the policy's call)."""
    scheme, separator, rest = uri.partition("://")
    if not separator:  # KServe reads anything without a scheme as a local path
        return _path_problem(uri, uri, inside=INSIDE_DIRECTORY)
    scheme = scheme.lower()
    if scheme == "file":
        host, _, path = rest.partition("/")
        if host not in ("", "localhost"):
            return UriProblem(FILE_HOST, FILE_HOST.detail.format(uri=repr(uri), host=repr(host)))
        return _path_problem(uri, "/" + path, inside=INSIDE_DIRECTORY)
    if scheme == "pvc":
        claim, _, path = rest.partition("/")
        if len(claim) > CLAIM_MAX_LENGTH or not _CLAIM.fullmatch(claim):
            return UriProblem(PVC_CLAIM, PVC_CLAIM.detail.format(uri=repr(uri), claim=repr(claim)))
        return _path_problem(uri, path, inside=INSIDE_CLAIM.format(claim=repr(claim)))
    return None


def _path_problem(uri: str, path: str, *, inside: str) -> UriProblem | None:
    decoded = unquote(path)
    if ".." in path.split("/") or ".." in decoded.split("/"):
        return UriProblem(DOT_SEGMENT, DOT_SEGMENT.detail.format(uri=repr(uri), inside=inside))
    if _CONTROL.search(decoded):
        return UriProblem(CONTROL_CHARACTER, CONTROL_CHARACTER.detail.format(uri=repr(uri)))
    return None
