"""Run the one policy engine over every object of the view, as admission would.

The same `admit()` the golden path's embedded admission calls, over every
object (custom resources such as InferenceService included) at once, so
namespace quotas and LimitRanges see the whole desired state. The repository's
own `policies/` directory adds to or overrides the bundled set. A policy the
engine cannot evaluate comes back as `policy/unevaluable`, which makes the
whole check exit 2: an unevaluated rule is never a pass.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from neuroscale.check.applied import not_applied
from neuroscale.check.model import Document, RepoView
from neuroscale.findings import Finding

POLICY_DIR = "policies/"


def evaluate_policies(view: RepoView) -> list[Finding]:
    """Policy findings, each placed at the file and line of the object it judges."""
    from neuroscale.policy.admission import admit  # the engine is heavy: load it only when checking
    from neuroscale.policy.policyset import is_policy_document

    def repo_policy(doc: Document) -> bool:
        return doc.path.startswith(POLICY_DIR) and is_policy_document(doc.data)

    patches = not_applied(view)  # partial objects merged by Kustomize are not admitted alone
    policy_docs = [doc for doc in view.objects() if repo_policy(doc)]
    subjects = [doc for doc in view.objects() if not repo_policy(doc) and doc.path not in patches]
    results = admit([doc.data for doc in subjects], policy_documents=[doc.data for doc in policy_docs])
    return [_place(finding, subjects, view) for finding in results]


def _place(finding: Finding, subjects: list[Document], view: RepoView) -> Finding:
    index: Any = finding.extra.get("index")
    if finding.file or not isinstance(index, int) or not 0 <= index < len(subjects):
        return finding
    doc = subjects[index]
    needle = finding.field_path.rsplit(".", 1)[-1] + ":" if finding.field_path else ""
    line = view.line_of(doc, needle) if needle else doc.line
    return replace(finding, file=doc.path, line=line, obj=finding.obj or doc.ref)
