"""One smoke inference, for any model, the way a client would call it: through the gateway, by Host header.

Shared by the embedded and the cluster smoke. The request is the endpoint's
stored sample when it has one, else built from its V2 metadata fetched
through the same gateway; the answer must be a V1 `predictions` or a V2
`outputs` document. Every way this can go wrong is a FAIL with the status and
body seen, or a SKIP saying what is missing; never a pass on a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from neuroscale.cluster.results import SmokeResult, failed, passed, skipped
from neuroscale.cluster.sample_request import SampleRequest, request_from_metadata

TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Target:
    """Where to send: the gateway's base URL, the Host the endpoint answers to, and the model name."""

    gateway: str
    host: str
    model: str


FAILED_HINT = ("neuroscale doctor; `neuroscale events <endpoint>`; a 4xx names the input the model expected "
               "(fix the stored sample request)")


def smoke_inference(target: Target, *, stored: SampleRequest | None, section: str, name: str,
                    unreachable_hint: str, failed_hint: str = FAILED_HINT) -> SmokeResult:
    base = target.gateway.rstrip("/")
    headers = {"Host": target.host}
    try:
        request = stored or _from_metadata(base, target, headers)
    except httpx.HTTPError as exc:
        return failed(section, name, f"{target.model}: GET /v2/models/{target.model}: {type(exc).__name__}",
                      unreachable_hint)
    except _NoRequest as exc:
        return (failed(section, name, f"{target.model}: {exc}", failed_hint) if exc.answered_badly else
                skipped(section, name, f"{target.model}: {exc}", "store a sample request with the endpoint: "
                        f"neuroscale endpoint update {target.model} --sample-request request.json"))
    try:
        response = httpx.post(base + request.path(target.model), json=dict(request.body), headers=headers,
                              timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        return failed(section, name, f"{target.model}: {type(exc).__name__} from {base}", unreachable_hint)
    try:
        body = response.json()
    except ValueError:
        body = None
    answer = request.answered(body) if response.status_code == 200 else None
    if answer is None:
        return failed(section, name, f"{target.model} ({request.source}): HTTP {response.status_code} "
                      f"{response.text[:160]!r}", failed_hint)
    return passed(section, name, f"{target.model} ({request.source}): {answer}")


class _NoRequest(Exception):
    """No request could be built: the endpoint answered badly (a failure) or publishes too little (a skip)."""

    def __init__(self, message: str, *, answered_badly: bool) -> None:
        super().__init__(message)
        self.answered_badly = answered_badly


def _from_metadata(base: str, target: Target, headers: dict[str, str]) -> SampleRequest:
    """A request built from the model's V2 metadata."""
    response = httpx.get(f"{base}/v2/models/{target.model}", headers=headers, timeout=TIMEOUT_S)
    if response.status_code != 200:
        raise _NoRequest(f"GET /v2/models/{target.model} answered HTTP {response.status_code} "
                         f"{response.text[:120]!r}", answered_badly=True)
    try:
        metadata = response.json()
    except ValueError:
        raise _NoRequest(f"GET /v2/models/{target.model} did not answer JSON", answered_badly=True) from None
    built = request_from_metadata(metadata, model=target.model)
    if built is None:
        raise _NoRequest("its V2 metadata publishes no input shape and datatype to build a request from",
                         answered_badly=False)
    return built
