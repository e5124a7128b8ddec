"""`admit()`: the one entry point CI (`neuroscale check`) and the embedded reconciler share.

Each object is admitted as a CREATE against the bundled policies plus any
given documents (Kyverno context entries may read the ConfigMaps among the
objects, and PolicyExceptions among the documents apply); then namespace-wide ResourceQuota / LimitRange are replayed
over the whole set (never cached: they read every object). ERROR findings deny, WARNING findings are warn/audit
results; anything that could not be evaluated is an ERROR
(`policy/unevaluable`), so a broken policy can never turn CI green.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from neuroscale.findings import Finding
from neuroscale.policy.bundled import BundledOptions, bundled_policy_documents
from neuroscale.policy.cel_exceptions import exempted
from neuroscale.policy.celenv import CelEnvironment, default_environment
from neuroscale.policy.kyverno import KyvernoInputs, KyvernoRun
from neuroscale.policy.kyverno_context import ContextSources, config_map_index
from neuroscale.policy.policyset import PolicySet, compile_policy_set, invalid_object, layer
from neuroscale.policy.quotas import evaluate_namespaces
from neuroscale.policy.selectors import kinds_of
from neuroscale.policy.subject import Subject, subjects
from neuroscale.policy.vap import CelPolicyRun, referenced_inputs


class SubjectVerdicts(Protocol):
    """Findings kept from an earlier evaluation (`neuroscale.check.policy_verdicts`): per subject, and the
    policy set's own (its compile problems: they depend on the documents and on the kinds of the objects, since
    the CEL of a policy that selects none of them is not compiled)."""

    def get(self, subject: Subject) -> list[Finding] | None: ...

    def put(self, subject: Subject, findings: list[Finding]) -> None: ...

    def problems(self) -> list[Finding] | None: ...

    def put_problems(self, findings: list[Finding]) -> None: ...


def admit(
    objects: Sequence[Mapping[str, Any]],
    *,
    policy_documents: Sequence[Mapping[str, Any]] | None = None,
    include_bundled: bool = True,
    bundled: BundledOptions | None = None,
    env: CelEnvironment | None = None,
    verdicts: SubjectVerdicts | None = None,
) -> list[Finding]:
    """Findings for `objects` (see module docstring); `extra["index"]` points into `objects`.

    With `verdicts`, a subject whose findings it holds is not evaluated, and when it holds every subject's
    and the policy set's own, the policies are not even compiled; what is computed is handed to it.
    """
    environment = env or default_environment()
    documents = layer(bundled_policy_documents(bundled) if include_bundled else [], list(policy_documents or []))
    admitted = subjects(objects)
    kept = [verdicts.get(subject) if verdicts is not None else None for subject in admitted]
    problems = verdicts.problems() if verdicts is not None else None
    if problems is None or any(found is None for found in kept):
        policies = compile_policy_set(documents, environment, kinds=kinds_of(admitted))
        problems = list(policies.problems)
        if verdicts is not None:
            verdicts.put_problems(problems)
        kept = _evaluate(policies, environment, objects=objects, admitted=admitted, kept=kept, verdicts=verdicts)
    findings = [*problems, *(invalid_object(i) for i, obj in enumerate(objects) if not isinstance(obj, Mapping))]
    findings += [finding for found in kept if found is not None for finding in found]
    findings += evaluate_namespaces(admitted)
    return findings


def _evaluate(policies: PolicySet, environment: CelEnvironment, *, objects: Sequence[Mapping[str, Any]],
              admitted: list[Subject], kept: list[list[Finding] | None],
              verdicts: SubjectVerdicts | None) -> list[list[Finding] | None]:
    """Each subject's findings: `kept` where known, else evaluated (and handed to `verdicts`)."""
    cel_policies = [*policies.cel_policies, *(r.cel for p in policies.kyverno_policies for r in p.rules if r.cel)]
    cel_run = CelPolicyRun(environment, admitted, inputs=referenced_inputs(cel_policies))
    kyverno_run = KyvernoRun(cel_run, KyvernoInputs(
        context=ContextSources(config_maps=config_map_index(objects)), exceptions=tuple(policies.exceptions)))
    results: list[list[Finding] | None] = []
    for subject, known in zip(admitted, kept):
        if known is not None:
            results.append(known)
            continue
        found: list[Finding] = []
        if policies.cel_policies:
            cel_run.begin(subject)
            for policy in policies.cel_policies:
                if not (policies.cel_exceptions and exempted(policies.cel_exceptions, policy.name, subject,
                                                             environment)):
                    found += cel_run.evaluate(policy, subject)
        for kpolicy in policies.kyverno_policies:
            found += kyverno_run.evaluate(kpolicy, subject)
        if verdicts is not None:
            verdicts.put(subject, found)
        results.append(found)
    return results
