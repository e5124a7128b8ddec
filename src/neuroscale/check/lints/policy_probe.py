"""Run one policy on probe objects to learn what it does, whatever its pattern or CEL looks like.

Reading a policy's text cannot tell whether `image: "*:*"`, a regex or a CEL
`contains(':')` really requires a tag; running it can. Two probe workloads
differ only in their untagged image — one whose registry has a port — in each
namespace the policy names, and otherwise follow the usual hardening rules
(non-root, resources, dropped capabilities), so the image decides; a rule that denies the plain one and admits the
one with a port mistakes the port for a tag. The probes go through the same
`admit()` as everything else, so Kyverno autogen, bindings and match blocks
apply exactly as for real objects.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

PORT_IMAGE = "registry.example:5000/team/app"
PLAIN_IMAGE = "registry.example/team/app"
_AUTOGEN = ("autogen-cronjob-", "autogen-")


def _probe(kind: str, namespace: str, image: str, name: str) -> dict[str, Any]:
    """A workload that satisfies the usual hardening rules, so only the image decides its fate."""
    container = {"name": "app", "image": image, "imagePullPolicy": "IfNotPresent",
                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                               "limits": {"cpu": "500m", "memory": "256Mi"}},
                 "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "allowPrivilegeEscalation": False,
                                     "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
                                     "seccompProfile": {"type": "RuntimeDefault"}}}
    pod = {"containers": [container], "automountServiceAccountToken": False,
           "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}}
    metadata = {"name": name, "namespace": namespace,
                "labels": {"app": name, "owner": "probe", "cost-center": "probe", "app.kubernetes.io/name": name}}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": pod}}}


def _named_namespaces(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "namespaces" and isinstance(value, list):
                yield from (str(v) for v in value if isinstance(v, str) and "*" not in v)
            else:
                yield from _named_namespaces(value)
    elif isinstance(node, list):
        for item in node:
            yield from _named_namespaces(item)


def _rule(finding_rule: Any) -> str:
    text = str(finding_rule or "")
    for prefix in _AUTOGEN:
        text = text.removeprefix(prefix)
    return text


def untagged_port_gaps(policy: Mapping[str, Any], bindings: Sequence[Mapping[str, Any]]) -> list[str]:
    """Names of the policy's rules that deny an untagged image but admit one whose registry has a port."""
    from neuroscale.policy.admission import admit

    if "image" not in str(policy.get("spec")):
        return []
    metadata: Mapping[str, Any] = policy.get("metadata") or {} if isinstance(policy.get("metadata"), Mapping) else {}
    name = str(metadata.get("name", ""))
    namespaces = sorted({"default", *_named_namespaces(policy.get("spec")),
                         *([str(metadata["namespace"])] if metadata.get("namespace") else [])})
    objects, probes = [], []
    for namespace in namespaces:
        for kind in ("Deployment", "Pod"):
            for tag, image in (("port", PORT_IMAGE), ("plain", PLAIN_IMAGE)):
                objects.append(_probe(kind, namespace, image, f"probe-{tag}"))
                probes.append((kind, namespace, tag))
    own = [b for b in bindings if (b.get("spec") or {}).get("policyName") == name]
    try:
        findings = admit(objects, policy_documents=[policy, *own], include_bundled=False)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return []  # a policy the engine cannot run is reported by the policy stage, not guessed at here
    fired = {(probes[f.extra["index"]], _rule(f.extra.get("rule"))) for f in findings
             if isinstance(f.extra.get("index"), int) and f.extra.get("policy") == name}
    gaps = {rule for (kind, namespace, tag), rule in fired
            if tag == "plain" and ((kind, namespace, "port"), rule) not in fired}
    return sorted(f"{name}{' rule ' + rule if rule else ''}" for rule in gaps)
