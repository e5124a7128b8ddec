"""The one definition of an endpoint's user-facing fields and label keys.

The CLI options, the portal form, the REST API, the Backstage template
parameters and the guardrail policies are all generated from this table, so a
template can never write `costCenter` while a policy requires `cost-center`
(FM-23). Pure data: nothing here imports a framework.
"""

from __future__ import annotations

from dataclasses import dataclass

LABEL_OWNER = "owner"
LABEL_COST_CENTER = "cost-center"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "neuroscale"

#: Label keys every workload must carry; policies and lints read this tuple.
REQUIRED_LABELS: tuple[str, ...] = (LABEL_OWNER, LABEL_COST_CENTER)

MODEL_FORMATS: tuple[str, ...] = ("sklearn", "xgboost", "lightgbm")

#: Storage URI schemes the bundled policy allows ("" is a plain local path).
ALLOWED_STORAGE_SCHEMES: tuple[str, ...] = ("file", "s3", "gs", "pvc", "https")

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
LABEL_VALUE = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"


@dataclass(frozen=True)
class Field:
    """One input of the endpoint form, in every front end at once."""

    key: str  # camelCase: JSON body, form field, Backstage parameter
    attr: str  # snake_case attribute on EndpointSpec and CLI option
    title: str
    description: str
    kind: str = "string"  # string | integer | enum
    required: bool = False
    default: str | int | None = None
    pattern: str | None = None
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    example: str | int | None = None
    flag: str = ""  # CLI option when the attribute's own name is too long for a help screen

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.attr.replace("_", "-")


FIELDS: tuple[Field, ...] = (
    Field("name", "name", "Endpoint name", "Lowercase letters, digits and '-', at most 63 characters (DNS-1123 label).",
          required=True, pattern=DNS1123_LABEL, max_length=63, example="fraud-scorer"),
    Field("namespace", "namespace", "Namespace", "Kubernetes namespace the endpoint lives in.",
          default="default", pattern=DNS1123_LABEL, max_length=63),
    Field("owner", "owner", "Owner", f"Team or person answerable for the endpoint (label '{LABEL_OWNER}').",
          required=True, pattern=LABEL_VALUE, max_length=63, example="team-risk"),
    Field("costCenter", "cost_center", "Cost center", f"Who pays for it (label '{LABEL_COST_CENTER}').",
          required=True, pattern=LABEL_VALUE, max_length=63, example="cc-1234"),
    Field("modelFormat", "model_format", "Model format", "Framework the model was saved with.",
          kind="enum", required=True, choices=MODEL_FORMATS, default="sklearn"),
    Field("storageUri", "storage_uri", "Storage URI",
          "Where the model lives: a local path, file://, s3:// (also gs://, pvc://, https:// in cluster mode).",
          required=True, max_length=1024, example="s3://models/fraud/v3"),
    Field("runtimeVersion", "runtime_version", "Runtime version", "Optional serving runtime version to pin.",
          max_length=63),
    Field("cpuRequest", "cpu_request", "CPU request", "Guaranteed CPU (Kubernetes quantity).", default="100m"),
    Field("cpuLimit", "cpu_limit", "CPU limit", "CPU ceiling (Kubernetes quantity).", default="1"),
    Field("memoryRequest", "memory_request", "Memory request", "Guaranteed memory (Kubernetes quantity).",
          default="256Mi"),
    Field("memoryLimit", "memory_limit", "Memory limit", "Memory ceiling (Kubernetes quantity).", default="1Gi"),
    Field("minReplicas", "min_replicas", "Min replicas", "Replicas kept warm.", kind="integer", default=1),
    Field("maxReplicas", "max_replicas", "Max replicas", "Upper bound for autoscaling.", kind="integer", default=1),
    Field("canaryTrafficPercent", "canary_traffic_percent", "Canary traffic %",
          "Share of traffic (0-100) a changed model gets while the last revision keeps the rest; "
          "100 or empty promotes it.", kind="integer", flag="--canary-percent"),
)

FIELDS_BY_KEY = {field.key: field for field in FIELDS}
FIELDS_BY_ATTR = {field.attr: field for field in FIELDS}
