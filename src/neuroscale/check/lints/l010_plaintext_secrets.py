"""NS-L010: Kubernetes Secrets committed with their values (FM-34).

A Secret in a GitOps repository is readable by everyone who can read the
repository, forever (git history). Only key names and value lengths are shown.

A kustomize `secretGenerator` commits the same values another way: as
`literals` (`password=hunter2`), or in the env files and files it reads. They
are judged where they are written, whether or not the kustomization could be
built; the Secret a build renders from a generator is that same finding, so it
is not reported twice.
"""

from __future__ import annotations

from collections.abc import Iterator

from neuroscale.check.kustomization import Kustomization, SecretGenerator, env_entries, kustomizations
from neuroscale.check.lints.base import Lint
from neuroscale.check.model import RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L010"
_FIX = "commit a SealedSecret or ExternalSecret instead, and rotate the exposed values"


def check(view: RepoView) -> list[Finding]:
    kusts = {kust.doc.path: kust for kust in kustomizations(view).values()}
    findings = []
    for doc in view.of_kind("Secret"):
        kust = kusts.get(doc.path) if doc.rendered_from else None
        if kust is not None and any(gen.name and gen.name in doc.name for gen in kust.secret_generators):
            continue  # rendered from a generator: judged at the generator below
        keys: list[str] = []
        for field in ("data", "stringData"):
            entries = doc.data.get(field)
            if isinstance(entries, dict):
                keys.extend(_shown(key, str(value)) for key, value in entries.items() if value not in (None, ""))
        if keys:
            findings.append(view.finding(
                doc, rule=ID, severity=Severity.ERROR, needle="data",
                message=f"Secret {doc.name} commits values in plain text: {', '.join(keys)}", fix=_FIX))
    for kust in kusts.values():
        findings.extend(_generated(view, kust))
    return findings


def _shown(key: str, value: str, where: str = "") -> str:
    """A key and its value's length (never the value)."""
    return f"{key} ({len(value)} chars{', in ' + where if where else ''})"


def _generated(view: RepoView, kust: Kustomization) -> Iterator[Finding]:
    for gen in kust.secret_generators:
        keys = [_shown(key, value) for key, value in gen.literals if value]
        keys += _from_files(view, kust, gen)
        if keys:
            written = [f"{key}=" for key, value in gen.literals if value] + [*gen.envs, *(f for _, f in gen.files)]
            needle = written[0] if written else gen.name
            yield view.finding(
                kust.doc, rule=ID, severity=Severity.ERROR, needle=needle,
                message=f"secretGenerator {gen.name} commits values in plain text: {', '.join(keys)}", fix=_FIX)


def _from_files(view: RepoView, kust: Kustomization, gen: SecretGenerator) -> list[str]:
    """The values a generator reads from env files and files committed in the repository."""
    shown = []
    for written in gen.envs:
        text = _committed(view, kust, written)
        shown += [_shown(key, value, written) for key, value in env_entries(text) if value]
    for key, written in gen.files:
        text = _committed(view, kust, written)
        if text.strip():
            shown.append(_shown(key, text, written))
    return shown


def _committed(view: RepoView, kust: Kustomization, written: str) -> str:
    """The text of a file a kustomization names ('' when it is not in the repository)."""
    path = kust.local(written)
    return view.text(path) if path is not None else ""


LINT = Lint(id=ID, title="Secret values committed in plain text", failure_modes=("FM-34",), severity=Severity.ERROR,
            check=check)
