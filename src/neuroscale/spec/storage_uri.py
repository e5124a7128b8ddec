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
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

_CLAIM = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")  # DNS-1123 subdomain
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class UriProblem:
    """What is wrong with a storage URI, and how to write it instead."""

    message: str
    fix: str


def storage_uri_problem(uri: str) -> UriProblem | None:
    """Why `uri` can never name a model safely; None when its shape is fine (its scheme is the policy's call)."""
    scheme, separator, rest = uri.partition("://")
    if not separator:  # KServe reads anything without a scheme as a local path
        return _path_problem(uri, uri, inside="the directory it names")
    scheme = scheme.lower()
    if scheme == "file":
        host, _, path = rest.partition("/")
        if host not in ("", "localhost"):
            return UriProblem(f"file:// URI {uri!r} names the host {host!r}; the model server reads files on its "
                              "own machine only", "write file:///ABSOLUTE/PATH (three slashes) or a plain path")
        return _path_problem(uri, "/" + path, inside="the directory it names")
    if scheme == "pvc":
        claim, _, path = rest.partition("/")
        if len(claim) > 253 or not _CLAIM.match(claim):
            return UriProblem(f"pvc:// URI {uri!r} names {claim!r}, which is not a PersistentVolumeClaim name",
                              "write pvc://CLAIM/PATH with the claim's name (lowercase letters, digits, '-' and '.')")
        return _path_problem(uri, path, inside=f"claim {claim!r}")
    return None


def _path_problem(uri: str, path: str, *, inside: str) -> UriProblem | None:
    decoded = unquote(path)
    if ".." in path.split("/") or ".." in decoded.split("/"):
        return UriProblem(f"storage URI {uri!r} has a '..' segment in its path (written or percent-encoded): it "
                          f"climbs out of {inside}",
                          "write the model's own path without '..' (local paths must lie under a model root, "
                          "pvc:// paths inside their claim)")
    if _CONTROL.search(decoded):
        return UriProblem(f"storage URI {uri!r} holds a control character in its path once percent-decoded",
                          "write the path as it is on disk, without control characters")
    return None
