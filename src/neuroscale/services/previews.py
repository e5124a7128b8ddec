"""What a reviewer needs about a pull request's preview: where it answers, whether it is up, how to call it.

`preview_state` is the one reading of "does this pull request have a preview, and does it run the
pull request's head": the status row under the preview's name may belong to an endpoint on main of
that name, and right after a push it still describes the previous head until the engine has seen
the new one (the serving revision's spec digest says which head it runs).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass

from neuroscale.engine.desired import Admitted
from neuroscale.engine.previews import PreviewSource, desired_previews, preview_name, preview_refusal
from neuroscale.gitops.provider import PullRequest
from neuroscale.policy.bundled import model_root_policy
from neuroscale.services.context import PlatformContext
from neuroscale.services.samples import SAMPLE_FILE, read_sample
from neuroscale.spec.manifest import APPS_DIR
from neuroscale.status.conditions import ConditionType
from neuroscale.status.model import EndpointStatus
from neuroscale.supervisor.settings import load_settings

#: What to send when the pull request carries no sample: the iris-shaped V1 body of the quickstart.
_FALLBACK_BODY = {"instances": [[6.8, 2.8, 4.8, 1.4]]}
#: The longest request body shown: the PR page and `pr show` print it, and a sample line may be megabytes.
SHOWN_BODY_CHARS = 2048


def curl_post(url: str, body: str) -> str:
    """A curl command that POSTs the JSON `body` to `url`, quoted for the shell: the body holds names a model
    or a sample chose (an ONNX graph's input name, a recorded request), so it must reach curl as it is."""
    return shlex.join(["curl", "-s", url, "-H", "Content-Type: application/json", "-d", body])


@dataclass(frozen=True)
class PreviewInfo:
    name: str
    url: str  # Host-routed, as the endpoint's own URL
    path_url: str  # path-routed on the gateway
    state: str  # Ready, NotReady, Pending (the engine has not started its head) or Unavailable (see message)
    message: str
    request: str  # a ready-to-run curl command: the first sample request short enough to read, else an iris one

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class PreviewState:
    """The preview of one pull request as the engine runs it."""

    name: str
    refused: str  # why the pull request can have no preview ("" when it can)
    status: EndpointStatus | None  # the preview's own status row (None: not started, or refused)
    current: bool  # its latest revision runs the pull request's head (a failure of it is the head's)

    @property
    def serves_head(self) -> bool:
        """Ready, with every request going to the revision of the pull request's head."""
        status = self.status
        return (self.current and status is not None and status.ready and status.revision == status.latest_revision
                and all(t.revision == status.revision for t in status.traffic if t.percent))


def preview_state(ctx: PlatformContext, pr: PullRequest) -> PreviewState:
    name = preview_name(pr.endpoint, pr.number)
    refused = preview_refusal(pr.endpoint, pr.number)
    status = None if refused else ctx.events.get(name)
    if status is not None and status.preview_of != pr.number:
        refused, status = f"an endpoint named {name} runs from main and keeps its name", None
    if status is None:
        return PreviewState(name, refused, None, current=False)
    revision = ctx.events.revision(status.latest_revision) if status.latest_revision else None
    head = desired_previews(ctx.repo, [PreviewSource(pr.number, pr.endpoint, pr.head_sha)],
                            bundled=model_root_policy(ctx.home.model_roots())).get(name)
    current = revision is not None and isinstance(head, Admitted) and revision[0].digest == head.digest
    return PreviewState(name, refused, status, current)


def preview_info(ctx: PlatformContext, pr: PullRequest) -> PreviewInfo | None:
    """The preview of an open pull request that proposes an endpoint, or None (merged, closed, delete)."""
    if pr.state != "open" or pr.action == "delete" or not pr.number:
        return None
    preview = preview_state(ctx, pr)
    name, status = preview.name, preview.status
    settings = load_settings(ctx.home)
    if preview.refused:
        state, message = "Unavailable", f"no preview: {preview.refused}"
    elif status is None:
        state, message = "Pending", "starts once the manifest and policy checks pass on the pull request's head"
    elif not preview.current:
        state, message = "Pending", f"the head {pr.head_sha[:7]} starts once its checks pass (an earlier push runs)"
    else:
        ready = status.condition(ConditionType.Ready)
        state = "Ready" if status.ready else "NotReady"
        message = status.note or ("" if status.ready or ready is None else ready.message)
    sample_path = f"{APPS_DIR}/{pr.endpoint}/{SAMPLE_FILE}"
    requests, _ = read_sample(ctx.repo.read_files(pr.head_sha, sample_path).get(sample_path, b""), where=sample_path)
    shown = ((request.protocol, text) for request in requests
             if len(text := json.dumps(request.body, separators=(",", ":"))) <= SHOWN_BODY_CHARS)
    protocol, body = next(shown, ("v1", json.dumps(_FALLBACK_BODY, separators=(",", ":"))))
    path = f"/v2/models/{name}/infer" if protocol == "v2" else f"/v1/models/{name}:predict"
    return PreviewInfo(name=name, url=status.url if status else f"http://{name}.default.{settings.domain}",
                       path_url=f"{settings.gateway_url}/v1/models/{name}", state=state, message=message,
                       request=curl_post(f"{settings.gateway_url}{path}", body))
