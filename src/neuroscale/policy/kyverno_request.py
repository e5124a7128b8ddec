"""The data Kyverno variables read for one resource: the admission request, images, test values.

`request` is the AdmissionReview request as Kyverno sees it (operation,
object, oldObject, userInfo, ...); `serviceAccountName` /
`serviceAccountNamespace` come from the requester; `images` maps each
container of a pod (or pod template) to its parsed image reference, with
`docker.io` added as Kyverno does. A `kyverno test` values file can set any
of these by dotted name (`request.operation: UPDATE`) and add variables;
the CLI reads the resource back from `request.object` afterwards, so values
there change the resource that is matched and validated (`shaped_object`).
On DELETE the resource is the old object; Kyverno then reads `request.object`
as `request.oldObject`, so both hold it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from neuroscale.policy.kyverno_match import Requester
from neuroscale.policy.kyverno_variables import path_parts, set_path
from neuroscale.policy.subject import Subject
from neuroscale.policy.workloads import POD_SPEC_PATHS

DEFAULT_REGISTRY = "docker.io"
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


@dataclass(frozen=True)
class Values:
    """Variables a `kyverno test` values file gives: for all, per rule, per resource."""

    global_values: Mapping[str, Any] = field(default_factory=dict)
    rules: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    resources: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)

    def for_rule(self, policy: str, rule: str, resource: str) -> dict[str, Any]:
        merged = dict(self.global_values)
        merged.update(self.rules.get((policy, rule), {}))
        merged.update(self.resources.get((policy, resource), {}))
        return merged

    def with_operation(self, operation: str) -> Values:
        """These values with every request's `request.operation` set to `operation`."""
        def given(values: Mapping[str, Any]) -> dict[str, Any]:
            result = {k: v for k, v in values.items() if k != "request.operation"}
            nested = result.get("request")
            if isinstance(nested, Mapping) and "operation" in nested:
                result["request"] = {k: v for k, v in nested.items() if k != "operation"}
            return result

        return Values(global_values={**given(self.global_values), "request.operation": operation},
                      rules={key: given(values) for key, values in self.rules.items()},
                      resources={key: given(values) for key, values in self.resources.items()})

    def names(self, policy: str, rule: str) -> set[str]:
        """Variable names given for a rule whatever the resource (context entries they replace)."""
        names = set(self.global_values) | set(self.rules.get((policy, rule), {}))
        for (named_policy, _), values in self.resources.items():
            if named_policy == policy:
                names |= set(values)
        return names


NO_VALUES = Values()


def given_operation(values: Mapping[str, Any]) -> str:
    """`request.operation` from values, written dotted or nested; "" when not given (or given empty)."""
    nested = values.get("request")
    operation = values.get("request.operation") or (nested.get("operation") if isinstance(nested, Mapping) else "")
    return str(operation or "")


def shaped_object(obj: Mapping[str, Any], values: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """`obj` with the values given under `request.object` written in (None when there are none): Kyverno's
    CLI adds test values to the request, then takes the resource it matches and validates from there."""
    touching = {str(name): value for name, value in values.items()
                if path_parts(str(name))[:2] == ["request", "object"]
                or (str(name) == "request" and isinstance(value, Mapping) and "object" in value)}
    if not touching:
        return None
    data: dict[str, Any] = {"request": {"object": obj}}
    for name, value in touching.items():
        set_path(data, name, value)
    shaped = data["request"]["object"]
    return shaped if isinstance(shaped, Mapping) else None


def image_info(image: str) -> dict[str, str] | None:
    """Kyverno's parsed image reference (`registry`, `path`, `name`, `tag`, `digest`, `reference`)."""
    first, slash, _ = image.partition("/")
    defaulted = not slash or ("." not in first and ":" not in first and first != "localhost"
                              and first.lower() == first)
    full = f"{DEFAULT_REGISTRY}/{image}" if defaulted else image
    name, _, digest = full.partition("@")
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        repository, tag = name, ""
    if not repository or not all(part for part in repository.split("/")):
        return None
    registry, _, path = repository.partition("/")
    if not tag and not digest:
        tag = "latest"
    reference = f"{registry}/{path}" + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    return {"registry": registry, "path": path, "name": path.rsplit("/", 1)[-1], "tag": tag, "digest": digest,
            "reference": reference, "referenceWithTag": f"{registry}/{path}:{tag}" if tag else reference}


def images(obj: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """`images.containers.<name>` (and initContainers, ephemeralContainers) for a pod-bearing object."""
    pod: Any = obj
    for key in POD_SPEC_PATHS.get(str(obj.get("kind")), ()):
        pod = pod.get(key) if isinstance(pod, Mapping) else None
    result: dict[str, dict[str, Any]] = {}
    if not isinstance(pod, Mapping):
        return result
    for field_name in _CONTAINER_LISTS:
        for container in pod.get(field_name) or []:
            if isinstance(container, Mapping) and isinstance(container.get("image"), str):
                info = image_info(container["image"])
                if info is not None:
                    result.setdefault(field_name, {})[str(container.get("name", ""))] = info
    return result


def request_data(subject: Subject, view: Subject, *, requester: Requester, values: Mapping[str, Any],
                 image_data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What `{{ }}` variables resolve against for `view` (the resource or its autogen pod);
    `image_data` is `images(subject.obj)` when the caller has it already."""
    operation = given_operation(values) or requester.operation
    request = {**view.request(), "operation": operation, "userInfo": requester.user_info(),
               "object": view.obj, "oldObject": view.obj if operation != "CREATE" else None,
               "roles": list(requester.roles), "clusterRoles": list(requester.cluster_roles)}
    namespace, account = requester.service_account()
    data: dict[str, Any] = {"request": request, "serviceAccountName": account,
                            "serviceAccountNamespace": namespace,
                            "images": images(subject.obj) if image_data is None else image_data}
    for name, value in values.items():
        if name != "request.operation":  # applied above; an empty one means the default, as in the CLI
            set_path(data, str(name), value)
    data["request"]["operation"] = operation
    return data
