"""Endpoint use cases: every create, update and delete becomes a pull request.

Why validate first: a request is fully validated (spec, name, state of main)
before any branch is written, so bad input leaves nothing behind; the provider
undoes its own git step if the database step fails. A manifest given as YAML
(`RawManifest`) is committed as written once it is recognisably an
InferenceService with a valid name: the pull-request checks then judge the
rest, exactly as CI would for a hand-edited file.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from neuroscale.cluster.sample_request import parse_sample_request, sample_request_path
from neuroscale.errors import Conflict, Forbidden, InvalidInput, NotFound
from neuroscale.gitops.provider import Action, Proposal, PullRequest
from neuroscale.gitops.repo import MAIN
from neuroscale.identity.roles import Actor, Permission
from neuroscale.services.audit import record
from neuroscale.services.context import PlatformContext, commit_author
from neuroscale.services.pulls import run_pull_request_checks
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.fields import DNS1123_LABEL
from neuroscale.spec.manifest import (
    API_VERSION,
    APPS_DIR,
    KIND,
    apply_to_text,
    endpoint_kustomization,
    form_values,
    kustomization_path,
    manifest_path,
    parse,
    render,
)
from neuroscale.spec.serving import serving_spec
from neuroscale.status.model import EndpointStatus
from neuroscale.status.reasons import Reason
from neuroscale.yamlio import MANIFEST_LIMITS, load_one

_NAME = re.compile(DNS1123_LABEL)


def validate_name(name: str, *, where: str = "name") -> str:
    if len(name) > 63 or not _NAME.match(name):
        raise InvalidInput(
            f"{name[:70]!r} is not a valid endpoint name (DNS-1123 label)", where=where,
            fix="use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit")
    return name


@dataclass(frozen=True)
class RawManifest:
    """An InferenceService given as YAML text, committed byte for byte."""

    name: str
    content: bytes

    @classmethod
    def parse(cls, text: str, *, where: str = "manifest") -> RawManifest:
        obj: Any = load_one(text, where=where, limits=MANIFEST_LIMITS)
        if not isinstance(obj, dict) or obj.get("apiVersion") != API_VERSION or obj.get("kind") != KIND:
            found = f"{obj.get('apiVersion')} {obj.get('kind')}" if isinstance(obj, dict) else type(obj).__name__
            raise InvalidInput(f"expected apiVersion {API_VERSION} kind {KIND}, found {found}", where=where,
                               fix=f"give one KServe {KIND} manifest")
        metadata = obj.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not isinstance(name, str):
            raise InvalidInput("metadata.name is missing", where=where, fix="set metadata.name to the endpoint name")
        validate_name(name, where=f"{where}: metadata.name")
        return cls(name, text.encode() if text.endswith("\n") else f"{text}\n".encode())


EndpointChange = EndpointSpec | RawManifest


def _name_and_content(change: EndpointChange, *, current: bytes | None = None) -> tuple[str, bytes]:
    """The manifest to commit: as written, the form applied onto the current manifest, or freshly rendered."""
    if isinstance(change, RawManifest):
        return change.name, change.content
    if current is not None:
        path = manifest_path(change.name)
        return change.name, apply_to_text(current.decode("utf-8", "replace"), change, where=path).encode()
    return change.name, render(change).encode()


def _manifest_if_any(ctx: PlatformContext, name: str) -> bytes | None:
    """The endpoint's manifest as last proposed: its open pull request's head, else main (None: neither)."""
    pending = ctx.provider.find_open(name)
    ref = pending.head_sha if pending else MAIN
    return ctx.repo.read_files(ref, manifest_path(name)).get(manifest_path(name))


def _on_main(ctx: PlatformContext, name: str) -> dict[str, bytes]:
    return ctx.repo.read_files(MAIN, f"{APPS_DIR}/{name}/")


def _propose(ctx: PlatformContext, name: str, *, action: Action, files: dict[str, bytes | None],
             actor: Actor, title: str = "") -> PullRequest:
    title = title or f"{action.capitalize()} endpoint {name}"
    before = ctx.provider.find_open(name)
    if before is not None and ctx.provider.reviews_locally and before.author != actor.name:
        raise Forbidden(f"pull request #{before.number} for endpoint {name} is {before.author}'s; only its author "
                        "adds commits to it (so a reviewer never approves their own change)",
                        where=f"pull request #{before.number}",
                        fix=f"ask {before.author} to make the change, or close #{before.number} and propose yours")
    pr = ctx.provider.propose(Proposal(endpoint=name, action=action, title=title, files=files,
                                       author=commit_author(actor)))
    if pr.number:
        opened = before is None or before.number != pr.number
        record(ctx, actor=actor, endpoint=name,
               reason=Reason.PullRequestOpened if opened else Reason.PullRequestUpdated,
               message=f"{'opened' if opened else 'updated'} #{pr.number} at {pr.head_sha[:7]}: {title}")
    return run_pull_request_checks(ctx, pr)


def _files(name: str, content: bytes, sample_request: bytes | None) -> dict[str, bytes | None]:
    """The manifest, its directory's kustomization, and the sample request beside it (validated first, so a
    bad one commits nothing)."""
    files: dict[str, bytes | None] = {manifest_path(name): content, kustomization_path(name): endpoint_kustomization()}
    if sample_request is not None:
        parse_sample_request(sample_request, where="sample request")
        files[sample_request_path(name)] = sample_request
    return files


def create_endpoint(ctx: PlatformContext, spec: EndpointChange, *, actor: Actor,
                    sample_request: bytes | None = None) -> PullRequest:
    """Open a pull request adding the endpoint; the same name again updates its open pull request.

    `sample_request` (a KServe V1 or V2 JSON body) is committed beside the manifest for `neuroscale smoke`.
    """
    actor.require(Permission.propose, to="propose endpoints")
    name, content = _name_and_content(spec)
    files = _files(name, content, sample_request)
    if ctx.provider.find_open(name) is None and _on_main(ctx, name):
        raise Conflict(f"endpoint {name} already exists on main", where=manifest_path(name),
                       fix=f"change it with `neuroscale endpoint update {name} ...`")
    return _propose(ctx, name, action="create", files=files, actor=actor)


def update_endpoint(ctx: PlatformContext, spec: EndpointChange, *, actor: Actor,
                    sample_request: bytes | None = None) -> PullRequest:
    """Open (or add to) a pull request changing an endpoint that is on main or already proposed.

    Form fields are applied onto the manifest as last proposed, so whatever else it says is kept.
    """
    actor.require(Permission.propose, to="propose endpoint changes")
    current = _manifest_if_any(ctx, validate_name(spec.name))
    name, content = _name_and_content(spec, current=current)
    files = _files(name, content, sample_request)
    if ctx.provider.find_open(name) is None and not _on_main(ctx, name):
        raise NotFound(f"endpoint {name} is not on main", where=manifest_path(name),
                       fix=f"create it with `neuroscale endpoint create --name {name} ...`")
    return _propose(ctx, name, action="update", files=files, actor=actor)


def delete_endpoint(ctx: PlatformContext, name: str, *, actor: Actor) -> PullRequest:
    """Open a pull request removing the endpoint's directory from main."""
    actor.require(Permission.propose, to="propose deleting endpoints")
    validate_name(name)
    pending = ctx.provider.find_open(name)
    if pending is not None:
        raise Conflict(f"pull request #{pending.number} is open for endpoint {name}", where=pending.branch,
                       fix=f"merge or close it first (`neuroscale pr close {pending.number}`)")
    files = _on_main(ctx, name)
    if not files:
        raise NotFound(f"endpoint {name} is not on main", where=f"{APPS_DIR}/{name}/",
                       fix="list endpoints with `neuroscale endpoint list`")
    return _propose(ctx, name, action="delete", files=dict.fromkeys(files), actor=actor)


def _process_digest(content: bytes, *, where: str) -> str | None:
    """What a manifest runs (its revision identity), or None when it is not servable."""
    try:
        return serving_spec(load_one(content.decode("utf-8", "replace"), where=where, limits=MANIFEST_LIMITS),
                            where=where).process_digest()
    except InvalidInput:
        return None


def rollback_endpoint(ctx: PlatformContext, name: str, *, actor: Actor) -> PullRequest:
    """Open a pull request restoring the manifest of the revision before the one main runs now.

    The previous revision is found in main's history of the manifest: the newest earlier version
    whose model, resources or batching differ from today's (a relabel is not a revision).
    """
    path = manifest_path(validate_name(name))
    pending = ctx.provider.find_open(name)
    if pending is not None:
        raise Conflict(f"pull request #{pending.number} is open for endpoint {name}", where=pending.branch,
                       fix=f"merge or close it first (`neuroscale pr close {pending.number}`)")
    history = ctx.repo.history(MAIN, path)
    current = ctx.repo.read_files(MAIN, path).get(path)
    if not history or current is None:
        raise NotFound(f"endpoint {name} is not on main", where=path, fix="list endpoints with `neuroscale endpoint list`")
    today = _process_digest(current, where=path)
    for sha in history[1:]:
        earlier = ctx.repo.read_files(sha, path).get(path)
        if earlier is None:
            break  # the endpoint did not exist before this point
        digest = _process_digest(earlier, where=f"{path}@{sha[:12]}")
        if digest is not None and digest != today:
            return _propose(ctx, name, action="update", files={path: earlier}, actor=actor,
                            title=f"Roll back endpoint {name} to its revision of {sha[:12]}")
    raise NotFound(f"endpoint {name} has no earlier revision on main to roll back to", where=path,
                   fix="change the endpoint with `neuroscale endpoint update` instead")


def current_manifest(ctx: PlatformContext, name: str) -> bytes:
    """The endpoint's manifest as last proposed (its open pull request's head, else main); NotFound if neither."""
    content = _manifest_if_any(ctx, validate_name(name))
    if content is None:
        raise NotFound(f"endpoint {name} is not on main", where=manifest_path(name),
                       fix="list endpoints with `neuroscale endpoint list`")
    return content


def current_spec(ctx: PlatformContext, name: str) -> EndpointSpec:
    """The endpoint as last proposed: its open pull request's head, else main."""
    return parse(current_manifest(ctx, name).decode(), where=manifest_path(name))


def current_values(ctx: PlatformContext, name: str) -> dict[str, Any]:
    """The form's fields as last proposed, unvalidated: a manifest that fails policies can still be edited."""
    path = manifest_path(name)
    return form_values(load_one(current_manifest(ctx, name).decode("utf-8", "replace"), where=path,
                                limits=MANIFEST_LIMITS), where=path)


@dataclass(frozen=True)
class ManifestEntry:
    """One manifest on main: the form's fields as it states them, its spec when valid, or why not."""

    path: str
    spec: EndpointSpec | None
    error: str = ""
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        parts = self.path.split("/")
        return str(self.values.get("name") or (parts[1] if len(parts) > 2 else self.path))


def manifests_on_main(ctx: PlatformContext) -> list[ManifestEntry]:
    return [_read_entry(path, content) for path, content in sorted(ctx.repo.read_files(MAIN, f"{APPS_DIR}/").items())
            if path.endswith((".yaml", ".yml"))]


@functools.lru_cache(maxsize=4096)
def _read_entry(path: str, content: bytes) -> ManifestEntry:
    """One manifest read, remembered by its bytes: every portal page lists main, and main rarely changes
    (parsing 100 manifests with ruamel on each request was most of a page's time)."""
    try:
        values = form_values(load_one(content.decode(errors="replace"), where=path), where=path)
    except InvalidInput as exc:
        return ManifestEntry(path, None, str(exc))
    try:
        return ManifestEntry(path, EndpointSpec.from_input(values, where=path), values=values)
    except InvalidInput as exc:
        return ManifestEntry(path, None, str(exc), values=values)


def list_endpoints_on_main(ctx: PlatformContext) -> list[EndpointSpec]:
    return [entry.spec for entry in manifests_on_main(ctx) if entry.spec is not None]


@dataclass(frozen=True)
class EndpointOnMain:
    """An endpoint manifest on main with what the reconciler last said about it."""

    entry: ManifestEntry
    status: EndpointStatus | None

    @property
    def state(self) -> str:
        """One line: healthy, denied (and what still serves), invalid, or not deployed yet."""
        refusal = self.status.refusal if self.status is not None else None
        if self.status is not None and refusal is not None:
            serving = f"serving last good revision {self.status.revision}" if self.status.revision else "nothing serves"
            return f"denied — {serving}: {refusal.reason}: {refusal.message}"
        if self.entry.error:
            return f"invalid: {self.entry.error}"
        return self.status.health.value if self.status is not None else "not deployed yet"


def endpoints_on_main(ctx: PlatformContext) -> list[EndpointOnMain]:
    """Every endpoint manifest on main, those that fail policies or parsing included, with its status."""
    return [EndpointOnMain(entry, ctx.events.get(entry.name)) for entry in manifests_on_main(ctx)]
