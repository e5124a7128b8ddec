"""Pull-request previews in a cluster: how they are rendered, and how long they live.

The preview Application builds the pull request's endpoint directory (a kustomization, see
`spec.manifest.endpoint_kustomization`) with Argo CD's kustomize options: renamed `<name>-pr-<n>`
and moved to the previews namespace whatever namespace the manifest names, so a preview can never
replace the endpoint it previews, and held at zero replicas while idle. A preview lives while its
pull request is open and, with Kyverno, at most `preview_ttl_hours` after it was created: Kyverno's
cleanup controller deletes older ones, and as the preview Application does not self-heal, only the
next push brings it back.
"""

from __future__ import annotations

from typing import Any

from neuroscale.gitops.provider import PREVIEW_LABEL
from neuroscale.platform.options import PREVIEW_NAMESPACE, InitOptions
from neuroscale.spec.fields import LABEL_MANAGED_BY, MANAGED_BY

TTL_POLICY_NAME = "neuroscale-preview-ttl"
LABEL_PREVIEW_OF = "neuroscale.dev/preview-of"
LABEL_PULL_REQUEST = "neuroscale.dev/pull-request"
#: How often the cleanup controller looks for expired previews.
TTL_SCHEDULE = "*/15 * * * *"
#: A preview is `<name>-pr-<number>`, as the embedded platform names it (`engine.previews`).
NAME_INFIX = "-pr-"
#: The AppProject of preview Applications (`platform.argocd.previews_project`).
PROJECT = "neuroscale-previews"


def name(endpoint: str, number: str) -> str:
    """The name of a preview: its InferenceService and its Application (arguments may be ApplicationSet
    templates). Only an endpoint literally called so can share it: an ordinary endpoint name cannot."""
    return f"{endpoint}{NAME_INFIX}{number}"


def kustomize_options(endpoint: str, number: str) -> dict[str, Any]:
    """Argo CD `source.kustomize` of one preview (`endpoint` and `number` may be ApplicationSet templates)."""
    return {
        "namespace": PREVIEW_NAMESPACE,
        "nameSuffix": f"{NAME_INFIX}{number}",
        "commonLabels": {LABEL_PREVIEW_OF: endpoint, LABEL_PULL_REQUEST: number},
        "patches": [{
            "target": {"group": "serving.kserve.io", "kind": "InferenceService"},
            "patch": '[{"op": "add", "path": "/spec/predictor/minReplicas", "value": 0}]',
        }],
    }


def ttl_policy(options: InitOptions) -> dict[str, Any]:
    """A Kyverno CleanupPolicy deleting previews older than the TTL (only with the Kyverno engine)."""
    return {
        "apiVersion": "kyverno.io/v2",
        "kind": "CleanupPolicy",
        "metadata": {"name": TTL_POLICY_NAME, "namespace": PREVIEW_NAMESPACE,
                     "labels": {LABEL_MANAGED_BY: MANAGED_BY}},
        "spec": {
            "schedule": TTL_SCHEDULE,
            "match": {"any": [{"resources": {"kinds": ["serving.kserve.io/v1beta1/InferenceService"],
                                             "selector": {"matchExpressions": [
                                                 {"key": LABEL_PREVIEW_OF, "operator": "Exists"}]}}}]},
            "conditions": {"all": [{
                "key": "{{ time_since('', '{{ target.metadata.creationTimestamp }}', '') }}",
                "operator": "GreaterThan",
                "value": f"{options.preview_ttl_hours}h",
            }]},
        },
    }


def readme_section(options: InitOptions) -> str:
    """What the repository's README says about previews, for the options it was generated with."""
    if not options.previews:
        return ("Pull-request previews are off. `neuroscale init --previews` (GitHub repositories) adds one "
                f"preview endpoint per open pull request labelled `{PREVIEW_LABEL}`.")
    lifetime = (f"Kyverno's cleanup controller deletes a preview {options.preview_ttl_hours} hours after it was "
                "created (`infrastructure/policies/cleanup-policy-neuroscale-preview-ttl.yaml`); the next push "
                "to the pull request brings it back." if options.preview_ttl_hours else
                "A preview lives until its pull request is merged or closed (`neuroscale init --previews "
                "--preview-ttl-hours N --policy-engine kyverno` bounds that).")
    who = (f"Only pull requests labelled `{PREVIEW_LABEL}` get one. NeuroScale labels those it opens "
           "(`neuroscale endpoint create`/`update`, the portal), as their authors are the platform's signed-in "
           "users; if its token may not label (it needs `issues: write` or `pull_requests: write`), it warns and "
           "the pull request stays without a preview. Any other pull request (the Backstage form's too, and above "
           "all one from a fork, which anyone can open on a public repository) gets none until a maintainer adds "
           "the label on GitHub (only people with triage or write access can): a preview loads the model file "
           "the pull request names, and loading a pickle (sklearn, joblib) runs its code inside the cluster. "
           "Read the change before you label it; the label stays when the author pushes again, so remove it from "
           "a pull request you no longer vouch for (Argo CD then deletes its preview).")
    return (f"Every open pull request from an `endpoint/<name>` branch may get a preview. {who} The Application "
            "`<name>-pr-<number>` builds `apps/<name>` at the pull request's head commit, renamed "
            f"`<name>-pr-<number>` and moved to the `{PREVIEW_NAMESPACE}` namespace (the directory's "
            "`Kustomization` is what lets Argo CD do that; `neuroscale endpoint create` and `update` write it), "
            "labelled `neuroscale.dev/preview-of` and held at zero replicas while idle. It never takes the "
            "endpoint's traffic; its URL is `status.url` of that InferenceService. The namespace has its own quota, "
            f"and the same policies apply there; the AppProject `{PROJECT}` admits InferenceServices in "
            f"that namespace only, whatever the pull request's kustomization says. {lifetime} Argo CD lists pull requests every minute with "
            "the GitHub token of the `neuroscale-github` Secret (read access to pull requests is enough).")


def cleanup_permissions() -> list[dict[str, Any]]:
    """What Kyverno's cleanup controller needs besides its defaults to delete previews."""
    return [{"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"],
             "verbs": ["delete", "get", "list", "watch"]}]
