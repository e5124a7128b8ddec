"""What webhook rules share: walking webhook configurations to their backing Services."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from neuroscale.doctor.index import Obj, SnapshotIndex

WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")


def webhook_services(index: SnapshotIndex) -> Iterator[tuple[str, Obj, Mapping[str, Any], str, str]]:
    for kind in WEBHOOK_KINDS:
        for config in index.objects(kind):
            for hook in config.get("webhooks") or []:
                service = (hook.get("clientConfig") or {}).get("service")
                if service:
                    yield kind, config, hook, str(service.get("namespace", "")), str(service.get("name", ""))


def breadth(hook: Mapping[str, Any]) -> str:
    rules = hook.get("rules") or []
    resources = sorted({r for rule in rules for r in rule.get("resources") or []})
    return ",".join(resources[:6]) + ("..." if len(resources) > 6 else "") if resources else "nothing"


def explains(namespace: str, service: str) -> tuple[str, ...]:
    return (f'service "{service}"', f"{service}.{namespace}.svc")
