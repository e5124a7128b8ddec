"""Validate every object of a view: built-in kinds, custom resources, and loud gaps.

Order of trust: a CRD from `--crd-dir`, the repository or the CRD cache of the
releases the repository pins (`neuroscale crds pull`) defines its kinds;
otherwise the kind must be a Kubernetes built-in of the chosen release. An
object matching neither is reported "not validated: no schema" — at the
severity the user chose, but never silently passed (the reference's
`-ignore-missing-schemas` hid every custom resource, FM-35/FM-36 family).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from neuroscale.check.applied import not_applied
from neuroscale.check.loader import build_view, read_tree
from neuroscale.check.model import CheckOptions, Document, RepoView
from neuroscale.check.schemas.builtin import BuiltinSchemas, resolve_version
from neuroscale.check.schemas import builtin as builtin_module, compiled as compiled_module, crd as crd_module
from neuroscale.check.schemas.compiled import SchemaError, UnusableSchema, valid_verdict
from neuroscale.check.schemas.crd import CrdIndex, CrdVersion
from neuroscale.check.verdicts import VerdictCache, code_salt
from neuroscale.errors import ToolError
from neuroscale.findings import Finding, Severity

RULE_INVALID = "NS-S001"
RULE_NO_SCHEMA = "NS-S002"
RULE_BROKEN_CRD = "NS-S003"
RULE_NOT_OBJECT = "NS-S004"
RULE_CRD_CACHE = "NS-S005"

CRD_KIND = "CustomResourceDefinition"


def cached_crds(view: RepoView, cache_dir: Path, options: CheckOptions) -> tuple[list[Document], list[Finding]]:
    """CRDs of the releases the repository pins, from the `neuroscale crds pull` cache."""
    from neuroscale.check.crds import cache
    from neuroscale.check.crds.pins import repository_pins
    from neuroscale.check.repoconfig import read_config

    docs: list[Document] = []
    findings: list[Finding] = []
    for pin in repository_pins(view, read_config(view)[0]):
        entry = cache.read(cache_dir, pin)
        if entry.crds is None:
            missing = entry.missing
            findings.append(Finding(
                rule=RULE_CRD_CACHE, severity=Severity.INFO if missing else Severity.ERROR, file=pin.where,
                message=f"CRDs of {pin} (pinned here) are {'not in the cache' if missing else 'corrupt in the cache'}"
                        f" at {entry.path}{'' if missing else ': ' + entry.problem}; its custom resources are "
                        "validated only against CRDs in the repository or --crd-dir",
                fix=f"run `neuroscale crds pull{' --refresh' if not missing else ''}` in the repository "
                    "(`--from DIR` offline)"))
            continue
        source = f"crd-cache/{pin.project}/{pin.key}/{cache.CRDS_FILE}"
        docs += [Document(path=source, index=i, line=1, end_line=1, data=crd) for i, crd in enumerate(entry.crds)
                 if crd.get("kind") == CRD_KIND]
    return docs, findings


def crd_documents(view: RepoView, crd_dirs: Iterable[Path], options: CheckOptions) -> tuple[list[Document], list[Finding]]:
    """CRDs from the repository, every `--crd-dir` (each read with the same bounds) and the CRD cache."""
    docs, findings = cached_crds(view, options.crd_cache, options) if options.crd_cache is not None else ([], [])
    docs += view.of_kind(CRD_KIND)  # later definitions win: the cache, then the repository, then --crd-dir
    extra, problems = crd_dir_documents(crd_dirs, options)
    return docs + extra, findings + problems


def catalog_crds(view: RepoView, options: CheckOptions) -> list[Document]:
    """CRDs from outside the repository: the CRD cache, then every `--crd-dir` (their problems are the schema
    stage's to report)."""
    cached = cached_crds(view, options.crd_cache, options)[0] if options.crd_cache is not None else []
    return cached + crd_dir_documents(options.crd_dirs, options)[0]


def crd_dir_documents(crd_dirs: Iterable[Path], options: CheckOptions) -> tuple[list[Document], list[Finding]]:
    docs: list[Document] = []
    findings: list[Finding] = []
    for directory in crd_dirs:
        if not directory.is_dir():
            raise ToolError(f"CRD directory {directory} does not exist", where="--crd-dir",
                            fix="pass a directory holding CustomResourceDefinition YAML files")
        files, problems = read_tree(directory, limits=options.limits)
        extra, parse_problems = build_view({f"{directory.name}/{k}": v for k, v in files.items()},
                                           limits=options.limits, cache_dir=options.cache_dir)
        docs.extend(extra.of_kind(CRD_KIND))
        findings.extend(problems + parse_problems)
    return docs, findings


def validate_view(view: RepoView, options: CheckOptions) -> list[Finding]:
    """Schema findings for every object in `view`."""
    crds, findings = crd_documents(view, options.crd_dirs, options)
    verdicts = VerdictCache(options.cache_dir, stage="schema", salt=_salt(), valid=valid_verdict)
    index = CrdIndex(cache_dir=options.cache_dir, verdicts=verdicts)
    for crd in crds:
        index.add(crd)
    for doc, problem in index.problems:
        findings.append(view.finding(doc, rule=RULE_BROKEN_CRD, severity=Severity.ERROR,
                                     message=f"CRD {doc.name} is broken: {problem}",
                                     fix="fix the CustomResourceDefinition so its kinds can be validated"))
    builtin = BuiltinSchemas(resolve_version(options.kubernetes_version), cache_dir=options.cache_dir,
                             verdicts=verdicts)
    reported_broken: set[tuple[str, str, str]] = set()
    patches = not_applied(view)
    for doc in view.documents:
        if (doc.path in patches and not doc.rendered_from) or not view.current(doc):
            continue  # a partial object merged by Kustomize, or an object replaced by what its build rendered
        if not doc.is_object:
            if isinstance(doc.data, dict) and "kind" in doc.data and "metadata" in doc.data:
                findings.append(view.finding(doc, rule=RULE_NOT_OBJECT, severity=Severity.ERROR,
                                             message="object has no string apiVersion and kind",
                                             fix="set both apiVersion and kind"))
            continue
        findings.extend(_validate(view, doc, index=index, builtin=builtin, options=options, reported=reported_broken))
    verdicts.save()
    return findings


def _kubernetes_group(group: str) -> bool:
    """Kubernetes' own API groups: the core group, the dotless ones (apps, extensions, ...) and `*.k8s.io` (a CRD's
    group always has a dot; the few approved `*.k8s.io` CRD groups define kinds Kubernetes does not build in)."""
    return "." not in group or group.endswith(".k8s.io")


def _salt() -> str:
    """The code a schema verdict depends on (see `VerdictCache`)."""
    import fastjsonschema
    import jsonschema

    return code_salt([compiled_module.__file__, crd_module.__file__, builtin_module.__file__, jsonschema,
                      fastjsonschema])


def _validate(view: RepoView, doc: Document, *, index: CrdIndex, builtin: BuiltinSchemas,
              options: CheckOptions, reported: set[tuple[str, str, str]]) -> list[Finding]:
    version = doc.api_version.rpartition("/")[2]
    entry = index.get(doc.group, version, doc.kind)
    if entry is not None and entry.problem:
        return _broken(entry, doc, version=version, reported=reported)
    compiled = entry.compiled if entry is not None else builtin.get(doc.api_version, doc.kind)
    if compiled is None and entry is None and _kubernetes_group(doc.group) and not index.knows_kind(doc.group, doc.kind):
        if served := builtin.served_versions(doc.kind):
            return [view.finding(
                doc, rule=RULE_INVALID, severity=Severity.ERROR,
                message=f"{doc.kind} {doc.api_version} is not served by Kubernetes {builtin.version} (it serves "
                        f"{doc.kind} as {', '.join(served)}): the API server rejects the object",
                fix=f"move it to {served[-1]} (check the fields that changed), or pass --kubernetes-version "
                    "for an older cluster")]
    if compiled is None:
        known = "its CRD does not serve this version" if index.knows_kind(doc.group, doc.kind) else "no CRD for it was found"
        return [view.finding(doc, rule=RULE_NO_SCHEMA, severity=options.no_schema_severity,
                             message=f"not validated: no schema for {doc.kind} {doc.api_version} ({known})",
                             fix="run `neuroscale crds pull` (CRDs of the releases the repository pins), add the "
                                 "CRD to the repository or pass --crd-dir; "
                                 "--no-schema-severity error makes this fail the check")]
    try:
        errors = compiled.errors(doc.data)
    except UnusableSchema as exc:
        if entry is None:
            raise  # a bundled Kubernetes schema: the tool itself is broken
        entry.problem = str(exc)
        return _broken(entry, doc, version=version, reported=reported)
    if entry is not None:  # the CRD schema leaves metadata to the API server: check it as ObjectMeta
        errors += [SchemaError(f"metadata{'.' + e.path if e.path else ''}", e.message)
                   for e in builtin.object_meta.errors(doc.metadata)]
    source = f"CRD {entry.source}" if entry is not None else f"Kubernetes {builtin.version}"
    return [view.finding(doc, rule=RULE_INVALID, severity=Severity.ERROR, field_path=err.path,
                         needle=_needle(err.path, err.message),
                         message=f"{err.path or '(root)'}: {err.message} (schema: {source})",
                         fix="correct or remove the field; unknown fields are silently dropped by the API server")
            for err in errors]


def _broken(entry: CrdVersion, doc: Document, *, version: str, reported: set[tuple[str, str, str]]) -> list[Finding]:
    """The broken-schema finding of a custom kind, once per kind."""
    key = (doc.group, version, doc.kind)
    if key in reported:
        return []
    reported.add(key)
    return [Finding(rule=RULE_BROKEN_CRD, severity=Severity.ERROR, file=entry.source, line=entry.line,
                    message=f"schema for {doc.kind} {doc.api_version} is broken: {entry.problem}",
                    fix="fix the CRD's openAPIV3Schema; objects of this kind cannot be validated until then")]


_UNEXPECTED = re.compile(r"\('([^']+)' (?:was|were) unexpected")


def _needle(path: str, message: str) -> str:
    """Text of the line to point at: the unexpected key itself, else the last key of the path."""
    unexpected = _UNEXPECTED.search(message)
    tail = unexpected.group(1) if unexpected else path.rsplit(".", 1)[-1].split("[", 1)[0]
    return f"{tail}:" if tail else ""
