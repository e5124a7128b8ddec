"""Preview endpoints: the model a pull request proposes, running, before anyone merges it.

For every open pull request that creates or changes an endpoint, once its head
passed the manifest and policy checks, the engine runs the head's
InferenceService as an endpoint of its own, `<endpoint>-pr-<n>`: its own
revisions, its own routes (`/v1/models/<endpoint>-pr-<n>…` and Host
`<endpoint>-pr-<n>.<namespace>.<domain>`) and status. It never receives the
endpoint's traffic, scales to zero when idle (minReplicas 0, at most one
replica), follows new pushes (a new head is checked, then previewed) and
disappears when the pull request is merged or closed. An endpoint on main
keeps its name: a pull request whose preview name is taken by one (an
endpoint literally called `iris-pr-1` while #1 changes `iris`) gets no
preview, and neither does one whose preview name would not fit a DNS label;
`preview_refusal` and `services.previews` say why. At most
`max_previews` run at once: beyond that, the longest-idle one is stopped and
its status says why (it starts again on its next request).

Read from the pull requests the local provider records (the embedded
platform's own; a GitHub remote's previews are Argo CD's job in a cluster).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from neuroscale.engine.desired import Admitted, Desired, Rejected, admit_endpoints
from neuroscale.engine.revisions import spec_digest
from neuroscale.engine.source import SourceRepo
from neuroscale.gitops.provider import PullRequest
from neuroscale.policy.bundled import BundledOptions
from neuroscale.spec.manifest import manifest_path

INFIX = "-pr-"
#: The checks a head must have passed before anything of it runs.
GATING_CHECKS = ("manifest-parses", "policies")


#: A preview's name is a DNS label in its Host (`<name>.<namespace>.<domain>`).
MAX_NAME = 63


def preview_name(endpoint: str, number: int) -> str:
    return f"{endpoint}{INFIX}{number}"


def preview_refusal(endpoint: str, number: int) -> str:
    """Why pull request `number` changing `endpoint` can have no preview by its name alone ("" when it can)."""
    name = preview_name(endpoint, number)
    if len(name) <= MAX_NAME:
        return ""
    return (f"its preview name {name} is {len(name)} characters, over the {MAX_NAME} of a DNS label "
            f"(an endpoint name of at most {MAX_NAME - len(INFIX) - len(str(number))} characters has previews)")


@dataclass(frozen=True)
class PreviewSource:
    """An open pull request whose head may be previewed."""

    number: int
    endpoint: str
    head_sha: str

    @property
    def name(self) -> str:
        return preview_name(self.endpoint, self.number)


def sources(pulls: Sequence[PullRequest]) -> list[PreviewSource]:
    """Open pull requests creating or changing an endpoint whose current head passed the gating checks."""
    found = []
    for pr in pulls:
        if pr.state != "open" or pr.action == "delete" or not pr.number:
            continue
        passed = {check.name for check in pr.checks if check.passed}
        if all(name in passed for name in GATING_CHECKS) and not preview_refusal(pr.endpoint, pr.number):
            found.append(PreviewSource(pr.number, pr.endpoint, pr.head_sha))
    return found


def longest_idle(running: Sequence[tuple[str, float]], *, limit: int) -> list[str]:
    """Which previews to stop so at most `limit` run: (name, last demand) pairs, the longest idle first."""
    excess = len(running) - limit
    return [name for name, _ in sorted(running, key=lambda item: item[1])[:excess]] if excess > 0 else []


def desired_previews(repo: SourceRepo, found: Sequence[PreviewSource], *,
                     bundled: BundledOptions | None = None) -> dict[str, Desired]:
    """Each source's head manifest admitted (as the reconciler admits main) and renamed to its preview."""
    result: dict[str, Desired] = {}
    for source in found:
        path = manifest_path(source.endpoint)
        content = repo.read_files(source.head_sha, path).get(path)
        want = admit_endpoints({path: content} if content is not None else {}, bundled=bundled).get(source.endpoint)
        if isinstance(want, Admitted):
            spec = want.spec.model_copy(update={
                "name": source.name, "preview_of": source.number, "canary_traffic_percent": None,
                "recording": None, "shadow_percent": 0,
                "scaling": want.spec.scaling.model_copy(update={"min_replicas": 0, "max_replicas": 1})})
            result[source.name] = Admitted(source.name, want.namespace, spec, spec_digest(spec))
        elif isinstance(want, Rejected):
            result[source.name] = Rejected(source.name, want.namespace, want.reason, want.message)
    return result
