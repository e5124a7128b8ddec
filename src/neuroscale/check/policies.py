"""Run the one policy engine over every object, with the policies the repository deploys.

Policies where they live: every policy object anywhere in the repository —
Kyverno ClusterPolicy, Policy and PolicyException, ValidatingAdmissionPolicy
and its bindings, Kyverno ValidatingPolicy — plus `--policies DIR`, layered
over the bundled set (a policy with a bundled policy's name replaces it). They
go through the same `admit()` the embedded admission calls, over every applied
object at once, so match/exclude, namespaces, bindings, params, quotas and
Audit vs Enforce mean what they mean in the cluster.

The bundled policies judge what NeuroScale governs (see `repoconfig`):
InferenceServices wherever they are, and the workloads of the governed
namespaces. Their findings on anything else are dropped and counted in one
info finding, so a vendored Kyverno or Argo CD install is not judged by our
labels (`--bundled-scope all` keeps them).

Bad input stays local: an object the engine cannot take (a mapping key that is
not a string, a value CEL cannot represent) is an error finding on that object
and every other object is still admitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neuroscale.check.applied import applied_objects
from neuroscale.check.jsonshape import json_shape
from neuroscale.check.model import BundledScope, CheckOptions, Document, RepoView, rendered_note
from neuroscale.check.repoconfig import CONFIG_FILE, RepoConfig, read_config
from neuroscale.errors import ToolError
from neuroscale.findings import Finding, Severity

if TYPE_CHECKING:
    from neuroscale.check.policy_verdicts import PolicyVerdicts

RULE_UNEVALUABLE_OBJECT = "NS-E001"
RULE_OUT_OF_SCOPE = "NS-E002"
_ENDPOINT = ("serving.kserve.io", "InferenceService")


def is_repository_policy(data: Any) -> bool:
    """A document that takes part in admission as a policy (Kyverno PolicyExceptions included)."""
    from neuroscale.policy.policyset import is_policy_document  # the engine is heavy: loaded when checking

    return is_policy_document(data)


def policy_objects(view: RepoView) -> list[Document]:
    """Every policy object the repository deploys, wherever it sits (patch files excluded)."""
    return [doc for doc in applied_objects(view) if is_repository_policy(doc.data)]


def external_policies(directories: Sequence[Path]) -> list[dict[str, Any]]:
    """Policies of every `--policies DIR` (a bad file there is the tool's input error: exit 2)."""
    from neuroscale.policy.repository import read_yaml_documents, yaml_files

    found: list[dict[str, Any]] = []
    for directory in directories:
        if not directory.is_dir():
            raise ToolError(f"policy directory {directory} does not exist", where="--policies",
                            fix="pass a directory holding policy YAML files")
        for path in yaml_files(directory):
            found += [dict(d) for d in read_yaml_documents(path, root=directory) if is_repository_policy(d)]
    return found


def evaluate_policies(view: RepoView, options: CheckOptions | None = None) -> list[Finding]:
    """Policy findings, each placed at the file and line of the object it judges."""
    from neuroscale.policy.bundled import bundled_policy_documents
    from neuroscale.policy.policyset import layer

    chosen = options or CheckOptions()
    config, _ = read_config(view)
    repo_policies = [doc.data for doc in policy_objects(view)]
    extra = external_policies(chosen.policy_dirs)
    bundled = bundled_policy_documents(chosen.bundled)
    documents = layer(bundled, repo_policies, extra)
    replaced = {_name(d) for d in [*repo_policies, *extra]}
    scoped = {_name(d) for d in bundled} - replaced if chosen.bundled_scope is BundledScope.GOVERNED else set()
    candidates = applied_objects(view)
    subjects: list[Document] = []
    objects: list[Any] = []
    findings: list[Finding] = []
    for doc in candidates:
        data, problem = json_shape(doc.data)
        if problem:
            findings.append(view.finding(
                doc, rule=RULE_UNEVALUABLE_OBJECT, severity=Severity.ERROR, field_path=problem[0],
                needle=problem[2], message=f"object cannot be evaluated by the policies: {problem[1]}",
                fix="quote the key or value so it is a plain string (Kubernetes reads JSON: keys are strings)"))
            continue
        subjects.append(doc)
        objects.append(data)
    from neuroscale.check.policy_verdicts import PolicyVerdicts

    verdicts = PolicyVerdicts(chosen.cache_dir, documents=documents, objects=objects)
    results, crashed = _admit(objects, documents, verdicts=verdicts)
    verdicts.save()
    for index, error in crashed:
        findings.append(view.finding(
            subjects[index], rule=RULE_UNEVALUABLE_OBJECT, severity=Severity.ERROR,
            message=f"object cannot be evaluated by the policies: {error}",
            fix="make every key and value of the object a plain YAML string, number, boolean, list or map"))
    kept, dropped = _scope(results, scoped, config)
    policies = policy_objects(view)
    findings += [_place(finding, subjects, policies, view) for finding in kept]
    if dropped:
        findings.append(_out_of_scope(dropped, config))
    return findings


def _admit(objects: list[Any], documents: list[Mapping[str, Any]], *,
           verdicts: PolicyVerdicts) -> tuple[list[Finding], list[tuple[int, str]]]:
    """(findings, [(object index, error)] for objects the engine crashed on).

    All objects are admitted together (namespaces, quotas and params see the whole set). Should the
    engine still fail on some input `admissible` let through, each object is admitted alone so the
    failure stays on the object that caused it (losing only the cross-object context for this run).
    """
    from neuroscale.policy.admission import admit

    try:
        return admit(objects, policy_documents=documents, include_bundled=False, verdicts=verdicts), []
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        pass
    results: list[Finding] = []
    problems: list[Finding] = []  # of the policies themselves: once (each admission compiles what it selects)
    crashed: list[tuple[int, str]] = []
    for index, obj in enumerate(objects):
        try:
            found = admit([obj], policy_documents=documents, include_bundled=False)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            crashed.append((index, f"{type(exc).__name__}: {str(exc)[:200]}"))
            continue
        results += [replace(f, extra={**f.extra, "index": index}) for f in found if "index" in f.extra]
        problems += [f for f in found if "index" not in f.extra and f not in problems]
    return problems + results, crashed


def _name(document: Mapping[str, Any]) -> str:
    metadata = document.get("metadata")
    return str(metadata.get("name", "")) if isinstance(metadata, Mapping) else ""


def _governed(finding: Finding, config: RepoConfig) -> bool:
    ref = finding.obj
    if ref is None:
        return True
    if (ref.api_version.rpartition("/")[0], ref.kind) == _ENDPOINT:
        return True
    return bool(ref.namespace) and config.governs_namespace(ref.namespace)


def _scope(results: list[Finding], scoped: set[str], config: RepoConfig) -> tuple[list[Finding], list[Finding]]:
    """(findings kept, bundled-policy findings on objects NeuroScale does not govern)."""
    kept: list[Finding] = []
    dropped: list[Finding] = []
    for finding in results:
        policy = finding.extra.get("policy")
        out = policy in scoped and "index" in finding.extra and not _governed(finding, config)
        (dropped if out else kept).append(finding)
    return kept, dropped


def _out_of_scope(dropped: list[Finding], config: RepoConfig) -> Finding:
    objects = sorted({str(f.obj) for f in dropped if f.obj is not None})
    sample = ", ".join(objects[:3]) + (f" and {len(objects) - 3} more" if len(objects) > 3 else "")
    governed = ", ".join(config.governed_namespaces) or "none"
    return Finding(
        rule=RULE_OUT_OF_SCOPE, severity=Severity.INFO, file=CONFIG_FILE,
        message=f"the bundled policies did not judge {len(objects)} object(s) outside what NeuroScale governs "
                f"(InferenceServices, and workloads in governed namespaces: {governed}): {sample}",
        fix=f"list a namespace under governedNamespaces in {CONFIG_FILE} to govern its workloads, "
            "or pass --bundled-scope all to judge every object")


def _place(finding: Finding, subjects: list[Document], policies: list[Document], view: RepoView) -> Finding:
    """The finding at the object it judges, or (for a problem of a policy itself) at that policy."""
    index: Any = finding.extra.get("index")
    if finding.file:
        return finding
    if not isinstance(index, int) or not 0 <= index < len(subjects):
        policy = next((doc for doc in policies if finding.obj is not None and doc.ref == finding.obj), None)
        return replace(finding, file=policy.path, line=policy.line) if policy is not None else finding
    doc = subjects[index]
    needle = finding.field_path.rsplit(".", 1)[-1] + ":" if finding.field_path else ""
    line = view.line_of(doc, needle) if needle else doc.line
    return replace(finding, file=doc.path, line=line, obj=finding.obj or doc.ref,
                   message=finding.message + rendered_note(doc))
