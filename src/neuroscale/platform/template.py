"""The Backstage Software Template: the same form as `neuroscale endpoint create`.

Parameters are generated from `neuroscale.spec.fields.FIELDS`, and the
skeleton is derived from `neuroscale.spec.manifest.render` itself: we render a
spec whose values are unique markers and swap each marker for the Backstage
expression that prints that field. So the scaffolder writes byte-identical
InferenceService YAML to the CLI for the same inputs (FM-23 can't recur), and
the skeleton carries no per-endpoint Argo CD Application (FM-07).
The skeleton ends in `.njk` and the step sets `templateFileExtension`, so
Backstage templates it and drops the suffix.
"""

from __future__ import annotations

from typing import Any

from neuroscale.field_schema import field_json_schema
from neuroscale.platform.options import InitOptions
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.fields import FIELDS, Field
from neuroscale.spec.manifest import manifest_path, render

TEMPLATE_DIR = "backstage/templates/model-endpoint"
TEMPLATE_NAME = "neuroscale-model-endpoint"
SKELETON_SUFFIX = ".njk"

#: Marker values: valid for EndpointSpec and unique inside the rendered text.
_MARKERS: dict[str, str | int] = {
    "name": "nsmark-name", "namespace": "nsmark-namespace", "owner": "nsmark-owner",
    "costCenter": "nsmark-cost-center", "modelFormat": "lightgbm", "storageUri": "s3://nsmark/storage-uri",
    "runtimeVersion": "nsmark-runtime-version", "cpuRequest": "101m", "cpuLimit": "1001m",
    "memoryRequest": "257Mi", "memoryLimit": "1025Mi", "minReplicas": 7, "maxReplicas": 9,
    "canaryTrafficPercent": 13,
}


def _expression(field: Field) -> str:
    if field.kind == "integer":
        return "${{ values.%s }}" % field.key
    return "${{ values.%s | dump }}" % field.key  # JSON.stringify: a double-quoted YAML scalar


def _substitute(text: str) -> str:
    for field in FIELDS:
        marker = _MARKERS[field.key]
        if isinstance(marker, int):
            needle, replacement = f": {marker}\n", f": {_expression(field)}\n"
        else:
            needle, replacement = f'"{marker}"', _expression(field)
        if text.count(needle) > 1:
            raise AssertionError(f"marker for {field.key} is not unique in the rendered manifest")
        text = text.replace(needle, replacement)
    return text


def skeleton_manifest() -> str:
    """The skeleton text: the rendered manifest with each value replaced by its template expression."""
    full = _substitute(render(EndpointSpec.from_input(dict(_MARKERS))))
    optional = [f for f in FIELDS if not f.required and f.default is None]
    without = _substitute(render(EndpointSpec.from_input(
        {k: v for k, v in _MARKERS.items() if k not in {f.key for f in optional}})))
    lines, base = full.split("\n"), set(without.split("\n"))
    out = []
    for line in lines:
        if line in base:
            out.append(line)
            continue
        key = next(f.key for f in optional if f"values.{f.key} " in line)
        out.extend(["{%- if values." + key + " %}", line, "{%- endif %}"])
    missing = [f.key for f in FIELDS if f"values.{f.key} " not in full]
    if missing:
        raise AssertionError(f"fields not rendered into the manifest: {missing}")
    return "\n".join(out)


def _parameter(field: Field, options: InitOptions) -> dict[str, Any]:
    constraints = field_json_schema(field)
    schema: dict[str, Any] = {"title": field.title, "type": constraints.pop("type"), "description": field.description}
    default = options.namespace if field.key == "namespace" else field.default
    if default is not None:
        schema["default"] = default
    schema.update(constraints)
    if field.key == "namespace":  # endpoints only where quotas, limits and guardrails apply
        schema["enum"] = list(options.governed_namespaces)
    if field.kind == "integer":
        schema.update({"minimum": 0, "maximum": 100})
    return schema


def _publish_target(options: InitOptions) -> str:
    slug = options.github_slug or ""
    owner, _, repo = slug.partition("/")
    return f"github.com?owner={owner}&repo={repo}"


def template(options: InitOptions) -> dict[str, Any]:
    values = {f.key: "${{ parameters.%s }}" % f.key for f in FIELDS}
    return {
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "kind": "Template",
        "metadata": {
            "name": TEMPLATE_NAME,
            "title": "Model endpoint",
            "description": "Serve a trained model on KServe through a reviewed pull request.",
            "tags": ["kserve", "neuroscale", "model-serving"],
        },
        "spec": {
            "owner": "group:default/platform",
            "type": "service",
            "parameters": [{
                "title": "Model endpoint",
                "required": [f.key for f in FIELDS if f.required],
                "properties": {f.key: _parameter(f, options) for f in FIELDS},
            }],
            "steps": [
                {"id": "render", "name": "Render the InferenceService", "action": "fetch:template",
                 # Only `*.njk` files are templated (and lose the suffix), so the repository's own
                 # YAML tooling never mistakes the skeleton for a real manifest.
                 "input": {"url": "./skeleton", "templateFileExtension": True, "values": values}},
                {"id": "pr", "name": "Open a pull request", "action": "publish:github:pull-request",
                 "input": {"repoUrl": _publish_target(options),
                           "branchName": "endpoint/${{ parameters.name }}",
                           "title": "endpoint: create ${{ parameters.name }}",
                           "description": "Created from the Backstage template; `neuroscale check` runs on this PR."}},
            ],
            "output": {"links": [{"title": "Pull request", "url": "${{ steps.pr.output.remoteUrl }}"}]},
        },
    }


def template_files(options: InitOptions) -> dict[str, Any]:
    """template.yaml plus the one skeleton file, under the path the catalog location names."""
    skeleton_path = manifest_path("${{ values.name }}")
    return {
        f"{TEMPLATE_DIR}/template.yaml": template(options),
        f"{TEMPLATE_DIR}/skeleton/{skeleton_path}{SKELETON_SUFFIX}": skeleton_manifest(),
    }
