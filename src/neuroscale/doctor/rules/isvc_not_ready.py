"""FM-15 / FM-20 symptoms: an InferenceService that is not Ready, and which condition says why.

IngressReady=False points at routing (KServe ingress config, Knative); a
PredictorReady=False points at the predictor pods, whose waiting reasons and
storage-initializer logs name the model URI, format or runtime problem.
"""

from __future__ import annotations

from neuroscale.doctor.index import Obj, SnapshotIndex, condition, dig, name_of, namespace_of
from neuroscale.doctor.k8s import pod_problem, ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity
from neuroscale.spec import isvc as reading

ISVC_LABEL = "serving.kserve.io/inferenceservice"


def _unsupported_format(index: SnapshotIndex, isvc: Obj) -> str:
    """Why no runtime can serve the model, when the cluster's runtimes were read and none matches."""
    runtimes = index.objects("ClusterServingRuntime")
    predictor = reading.read(isvc).predictor
    model = predictor.model if predictor else None
    wanted = (model.model_format if model else None) or ""
    if not runtimes or not wanted or (model and model.runtime):
        return ""
    supported = {str(f.get("name")) for r in runtimes for f in dig(r, "spec", "supportedModelFormats") or []
                 if f.get("autoSelect", False)}
    return "" if wanted in supported else (
        f"no ClusterServingRuntime auto-selects modelFormat {wanted!r} (supported: {', '.join(sorted(supported))})")


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for isvc in index.objects("InferenceService"):
        ready = condition(isvc, "Ready")
        if ready is None or ready.get("status") == "True":
            continue
        failing = [c for c in dig(isvc, "status", "conditions") or []
                   if c.get("type") != "Ready" and c.get("status") == "False"]
        detail = "; ".join(f"{c.get('type')}={c.get('status')} {c.get('reason', '')}: {c.get('message', '')}"
                           for c in failing) or f"Ready={ready.get('status')}: {ready.get('message', '')}"
        pods = [p for p in index.with_label("Pod", ISVC_LABEL, name_of(isvc)) if namespace_of(p) == namespace_of(isvc)]
        problems = "; ".join(f"pod {namespace_of(p)}/{name_of(p)}: {pod_problem(p)}" for p in pods if pod_problem(p))
        logs = [line for p in pods for _, text in index.logs_matching(f"{namespace_of(p)}/{name_of(p)}/")
                for line in text.splitlines() if "error" in line.lower()]
        types = {c.get("type") for c in failing}
        unsupported = _unsupported_format(index, isvc)
        if unsupported:
            cause = unsupported
        elif "IngressReady" in types:
            cause = "KServe could not create the route for the endpoint (ingress configuration)"
        elif "PredictorReady" in types:
            cause = "the predictor does not start: bad storageUri or image, a model format the runtime does not " \
                    "support, or missing runtime args"
        else:
            cause = "KServe has not finished reconciling the endpoint"
        found.append(RULE.finding(
            obj=ref(isvc, "InferenceService"),
            message=f"InferenceService {namespace_of(isvc)}/{name_of(isvc)} is not Ready",
            evidence=detail + (f"; {problems}" if problems else "") + (f"; log: {logs[-1]}" if logs else "")
            + ("; status.url is empty" if not dig(isvc, "status", "url") else ""),
            root_cause=cause,
            fix=f"kubectl -n {namespace_of(isvc)} get pods -l {ISVC_LABEL}={name_of(isvc)}\n"
            f"kubectl -n {namespace_of(isvc)} logs -l {ISVC_LABEL}={name_of(isvc)} -c storage-initializer\n"
            "# check spec.predictor.model.storageUri and modelFormat against the ClusterServingRuntime",
        ))
    return found


RULE = Rule(
    id="isvc-not-ready", title="InferenceServices Ready", covers=("FM-15", "FM-20"),
    category=Category.WORKLOADS, severity=Severity.ERROR, check=check,
)
