"""NS-L019: a secret a component needs, referenced as `optional` (FM-44).

`optional: true` on a `secretKeyRef`, an `envFrom.secretRef` or a secret
volume lets the pod start without the secret. For a credential the component
cannot work without — a database password, an API token, a signing key — the
failure moves from a clear `CreateContainerConfigError` at deploy time to an
obscure authentication error at runtime (or a component silently running
unauthenticated). A credential is recognised by its environment variable or
key name; a reference to a secret nothing in the repository creates says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from neuroscale.check.lints.base import Lint, containers, dig
from neuroscale.check.model import Document, RepoView
from neuroscale.findings import Finding, Severity
from neuroscale.policy.workloads import POD_SPEC_PATHS

ID = "NS-L019"
CREDENTIAL = re.compile(r"pass(word|wd)?|secret|token|api[-_]?key|private[-_]?key|credential|auth|dsn|"
                        r"access[-_]?key|cert|tls|(^|[-_])key($|[-_])", re.IGNORECASE)
#: Kinds that create a Secret of their own name (a cert-manager Certificate names it in spec.secretName).
SECRET_SOURCES = frozenset({"Secret", "SealedSecret", "ExternalSecret", "SecretProviderClass"})


def _optional_refs(doc: Document) -> Iterator[tuple[str, str, str, str]]:
    """(field path, secret name, what needs it, line needle) of every optional secret reference."""
    for path, container in containers(doc):
        for index, env in enumerate(container.get("env") or [] if isinstance(container.get("env"), list) else []):
            ref = dig(env, "valueFrom", "secretKeyRef")
            if isinstance(ref, dict) and ref.get("optional") is True:
                yield (f"{path}.env[{index}].valueFrom.secretKeyRef", str(ref.get("name", "")),
                       f"{env.get('name')} (key {ref.get('key')})", "optional:")
        env_from = container.get("envFrom")
        for index, source in enumerate(env_from if isinstance(env_from, list) else []):
            ref = dig(source, "secretRef")
            if isinstance(ref, dict) and ref.get("optional") is True:
                yield f"{path}.envFrom[{index}].secretRef", str(ref.get("name", "")), "", "optional:"
    spec_path = POD_SPEC_PATHS.get(doc.kind)
    volumes = dig(doc.data, *spec_path, "volumes") if spec_path else None
    for index, volume in enumerate(volumes if isinstance(volumes, list) else []):
        secret = dig(volume, "secret")
        if isinstance(secret, dict) and secret.get("optional") is True:
            yield (f"{'.'.join(spec_path or ())}.volumes[{index}].secret", str(secret.get("secretName", "")),
                   f"volume {volume.get('name')}", "optional:")


def _defined(view: RepoView) -> set[tuple[str, str]]:
    """(namespace, name) of every Secret the repository creates (directly, sealed, external, generated)."""
    return {(doc.namespace, str(dig(doc.data, "spec", "secretName") or "") if doc.kind == "Certificate" else doc.name)
            for doc in view.objects() if doc.kind in SECRET_SOURCES or doc.kind == "Certificate"}


def _needed(name: str, what: str) -> bool:
    return bool(CREDENTIAL.search(what) or CREDENTIAL.search(name))


def check(view: RepoView) -> list[Finding]:
    defined = _defined(view)
    findings = []
    for doc in view.objects():
        for path, name, what, needle in _optional_refs(doc):
            if not _needed(name, what):
                continue
            created = any(n == name and ns in (doc.namespace, "") for ns, n in defined)
            where = f" for {what}" if what else ""
            findings.append(view.finding(
                doc, rule=ID, severity=Severity.WARNING, needle=needle, field_path=path,
                message=f"secret {name}{where} is optional, yet it holds a credential the component needs: without "
                        "it the pod starts and fails at runtime instead of at deploy"
                        + ("" if created else "; nothing in the repository creates it"),
                fix="drop `optional: true` so a missing secret stops the rollout with CreateContainerConfigError, "
                    "and create the secret (SealedSecret, ExternalSecret) alongside the component"))
    return findings


LINT = Lint(id=ID, title="Needed secrets referenced as optional", failure_modes=("FM-44",),
            severity=Severity.WARNING, check=check)
