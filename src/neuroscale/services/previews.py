"""What a reviewer needs about a pull request's preview: where it answers, whether it is up, how to call it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from neuroscale.engine.previews import preview_name
from neuroscale.gitops.provider import PullRequest
from neuroscale.services.context import PlatformContext
from neuroscale.services.samples import SAMPLE_FILE, read_sample
from neuroscale.spec.manifest import APPS_DIR
from neuroscale.status.conditions import ConditionType
from neuroscale.supervisor.settings import load_settings

#: What to send when the pull request carries no sample: the iris-shaped V1 body of the quickstart.
_FALLBACK_BODY = {"instances": [[6.8, 2.8, 4.8, 1.4]]}


@dataclass(frozen=True)
class PreviewInfo:
    name: str
    url: str  # Host-routed, as the endpoint's own URL
    path_url: str  # path-routed on the gateway
    state: str  # Ready, NotReady, or Pending (the engine has not started it)
    message: str
    request: str  # a ready-to-run curl command

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def preview_info(ctx: PlatformContext, pr: PullRequest) -> PreviewInfo | None:
    """The preview of an open pull request that proposes an endpoint, or None (merged, closed, delete)."""
    if pr.state != "open" or pr.action == "delete" or not pr.number:
        return None
    name = preview_name(pr.endpoint, pr.number)
    settings = load_settings(ctx.home)
    status = ctx.events.get(name)
    if status is None:
        state, message = "Pending", "starts once the manifest and policy checks pass on the pull request's head"
    else:
        ready = status.condition(ConditionType.Ready)
        state = "Ready" if status.ready else "NotReady"
        message = status.note or ("" if status.ready or ready is None else ready.message)
    sample_path = f"{APPS_DIR}/{pr.endpoint}/{SAMPLE_FILE}"
    requests, _ = read_sample(ctx.repo.read_files(pr.head_sha, sample_path).get(sample_path, b""), where=sample_path)
    first = requests[0] if requests else None
    body = first.body if first else _FALLBACK_BODY
    path = f"/v2/models/{name}/infer" if first and first.protocol == "v2" else f"/v1/models/{name}:predict"
    curl = (f"curl -s {settings.gateway_url}{path} -H 'Content-Type: application/json' "
            f"-d '{json.dumps(body, separators=(',', ':'))}'")
    return PreviewInfo(name=name, url=status.url if status else f"http://{name}.default.{settings.domain}",
                       path_url=f"{settings.gateway_url}/v1/models/{name}", state=state, message=message,
                       request=curl)
