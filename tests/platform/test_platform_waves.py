"""Sync waves come from what components need, and every object finds what it needs installed earlier.

Objects are what Argo CD would apply: the generated files and the pinned charts rendered (installed.py).
For each one: its kind is built in or installed by a CRD of an earlier wave; every admission webhook that
would see it is served by a Deployment of an earlier wave. The Application health check the waves rely on
is run in a real Lua interpreter, as Argo CD runs it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lupa
import pytest

from neuroscale.errors import NeuroScaleError
from neuroscale.platform import components
from neuroscale.platform.argocd import APPLICATION_HEALTH_KEY, WAVE_ANNOTATION, AppSpec
from neuroscale.platform.generate import ARGOCD_CONFIG_PATH
from neuroscale.platform.options import InitOptions
from neuroscale.policy.selectors import selector_matches
from neuroscale.policy.subject import resource_for_kind
from neuroscale.yamlio import load_one

from tests.platform.conftest import objects
from tests.platform.installed import InstalledApp, installed

BUILT_IN_GROUPS = {"", "apps", "batch", "rbac.authorization.k8s.io", "admissionregistration.k8s.io",
                   "apiextensions.k8s.io", "networking.k8s.io", "policy", "storage.k8s.io", "scheduling.k8s.io",
                   "autoscaling", "coordination.k8s.io", "apiregistration.k8s.io", "discovery.k8s.io"}

#: Webhooks of charts the reference does not hold, described by what they intercept (from each project's docs).
DECLARED_WEBHOOKS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "webhook:cert-manager": lambda o: _group(o) in {"cert-manager.io", "acme.cert-manager.io"},
    "webhook:knative-operator": lambda o: _group(o) == "operator.knative.dev",
    "webhook:knative-serving": lambda o: _group(o) == "serving.knative.dev",
    "webhook:istio-sidecar-injector": lambda o: o["kind"] in {"Deployment", "Pod"}
    and o["metadata"].get("namespace") == "istio-system",
    # Kyverno's resource webhooks are registered for what the policies match, which can be anything.
    "webhook:kyverno": lambda o: True,
}


def _group(obj: dict[str, Any]) -> str:
    return str(obj["apiVersion"]).rpartition("/")[0]


@pytest.fixture
def platform(platform_repo: tuple[Path, InitOptions], reference: Path) -> tuple[list[InstalledApp], InitOptions]:
    root, options = platform_repo
    return installed(root, reference), options


def _providers(options: InitOptions) -> dict[str, AppSpec]:
    return {capability: app for app in components.applications(options) for capability in app.provides}


def test_every_kind_is_installed_in_an_earlier_wave(platform: tuple[list[InstalledApp], InitOptions]) -> None:
    apps, options = platform
    by_name = {app.name: app for app in apps}
    providers = _providers(options)
    crd_waves = {(crd["spec"]["group"], crd["spec"]["names"]["kind"]): app.wave for app in apps
                 for crd in app.objects if crd["kind"] == "CustomResourceDefinition"}
    checked = 0
    for app in apps:
        for obj in app.objects:
            group = _group(obj)
            if group in BUILT_IN_GROUPS:
                continue
            declared = providers.get(f"kind:{group}/{obj['kind']}")
            assert declared is not None, f"{app.name}: no component installs {group}/{obj['kind']}"
            wave = crd_waves.get((group, obj["kind"]), by_name[declared.name].wave)
            assert wave < app.wave, f"{app.name} (wave {app.wave}) applies {obj['kind']}, installed at wave {wave}"
            checked += 1
    assert checked >= 5  # ClusterServingRuntimes, KnativeServing, Certificate, Issuer, ClusterStorageContainer


def test_declared_kinds_are_the_crds_the_readable_charts_install(
        platform: tuple[list[InstalledApp], InitOptions]) -> None:
    apps, options = platform
    specs = {app.name: app for app in components.applications(options)}
    seen = 0
    for app in apps:
        crds = {f"kind:{c['spec']['group']}/{c['spec']['names']['kind']}" for c in app.objects
                if c["kind"] == "CustomResourceDefinition"}
        if app.readable and crds:
            declared = {p for p in specs[app.name].provides if p.startswith("kind:")}
            assert declared <= crds, f"{app.name} declares kinds its chart does not install: {declared - crds}"
            seen += 1
    assert seen >= 1


def _rule_matches(rule: dict[str, Any], obj: dict[str, Any]) -> bool:
    group, resource = _group(obj), resource_for_kind(obj["kind"])
    return ("CREATE" in rule.get("operations", []) or "*" in rule.get("operations", [])) and \
        any(g in ("*", group) for g in rule.get("apiGroups", [])) and \
        any(r in ("*", resource) or r.split("/")[0] == resource for r in rule.get("resources", []))


def _webhook_sees(hook: dict[str, Any], obj: dict[str, Any]) -> bool:
    labels = obj["metadata"].get("labels") or {}
    ns_labels = {"kubernetes.io/metadata.name": obj["metadata"].get("namespace", "")}
    return any(_rule_matches(rule, obj) for rule in hook.get("rules") or []) and \
        selector_matches(hook.get("objectSelector"), labels, where="objectSelector") and \
        selector_matches(hook.get("namespaceSelector"), ns_labels, where="namespaceSelector")


def test_every_webhook_serves_before_the_objects_it_sees(platform: tuple[list[InstalledApp], InitOptions]) -> None:
    apps, options = platform
    rendered = 0
    for owner in apps:
        deployments = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in owner.objects
                       if o["kind"] == "Deployment"}
        services = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in owner.objects
                    if o["kind"] == "Service"}
        for config in owner.objects:
            if config["kind"] not in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
                continue
            for hook in config.get("webhooks") or []:
                target = hook["clientConfig"]["service"]
                service = services[(target["namespace"], target["name"])]
                selector = service["spec"]["selector"]
                assert any(selector_matches({"matchLabels": selector}, o["spec"]["template"]["metadata"]["labels"],
                                            where="service") for o in owner.objects if o["kind"] == "Deployment"
                           and (o["metadata"]["namespace"], o["metadata"]["name"]) in deployments), hook["name"]
                rendered += 1
                for app in apps:
                    seen = [o["kind"] for o in app.objects if _webhook_sees(hook, o)]
                    assert not seen or app.wave > owner.wave, \
                        f"{hook['name']} ({owner.name}, wave {owner.wave}) sees {seen} of {app.name} at wave {app.wave}"
    assert rendered >= 6  # KServe's validating and mutating webhooks
    providers = _providers(options)
    for capability, sees in DECLARED_WEBHOOKS.items():
        if capability not in providers:
            continue
        owner_wave = next(a.wave for a in apps if a.name == providers[capability].name)
        for app in apps:
            if app.name != providers[capability].name:
                seen = [o["kind"] for o in app.objects if sees(o)]
                assert not seen or app.wave > owner_wave, f"{capability} sees {seen} of {app.name}"
        # ... and components of charts that cannot be rendered declare the need.
        for spec in components.applications(options):
            if not next(a for a in apps if a.name == spec.name).readable and spec.name != providers[capability].name:
                wanted = capability == "webhook:kyverno" or any(
                    sees({"apiVersion": p.removeprefix("kind:").rpartition("/")[0] + "/v1",
                          "kind": p.rpartition("/")[2], "metadata": {"namespace": spec.namespace}})
                    for p in spec.provides if p.startswith("kind:"))
                assert not wanted or spec.wave > owner_wave, f"{spec.name} needs {capability} first"


def test_waves_follow_the_dependencies(platform_repo: tuple[Path, InitOptions]) -> None:
    root, options = platform_repo
    waves = {obj["metadata"]["name"]: int(obj["metadata"]["annotations"][WAVE_ANNOTATION])
             for path, obj in objects(root) if path.startswith("infrastructure/apps/")}
    before = [("cert-manager", "kserve"), ("kserve-crd", "kserve"), ("serving-stack", "kserve"),
              ("kserve", "serving-runtimes"), ("knative-operator", "serving-stack"), ("kserve-crd", "policies"),
              ("policies", "neuroscale-model-endpoints"), ("serving-runtimes", "neuroscale-model-endpoints"),
              ("neuroscale-namespaces", "neuroscale-model-endpoints"),
              ("neuroscale-endpoints", "neuroscale-model-endpoints")]
    if options.ingress == "istio":
        before += [("istio-base", "istiod"), ("istiod", "istio-ingressgateway"), ("istio-ingressgateway",
                                                                                  "serving-stack")]
    if options.policy_engine == "kyverno":  # the engine serves before anything it could judge (FM-22)
        before += [("kyverno", name) for name in waves if name != "kyverno"]
    assert [pair for pair in before if waves[pair[0]] >= waves[pair[1]]] == []
    assert max(waves.values()) == waves["neuroscale-model-endpoints"]


def test_an_unmet_need_or_a_cycle_fails_loudly() -> None:
    app = AppSpec("a", "ns", needs=("kind:example.dev/Widget",))
    with pytest.raises(NeuroScaleError, match="unmet needs: a needs kind:example.dev/Widget"):
        components.derive_waves([app])
    first = AppSpec("first", "ns", provides=("x",), needs=("y",))
    second = dataclasses.replace(first, name="second", provides=("y",), needs=("x",))
    with pytest.raises(NeuroScaleError, match="cycle"):
        components.derive_waves([first, second])
    chain = [AppSpec("c", "ns", needs=("b",)), AppSpec("b", "ns", provides=("b",), needs=("a",)),
             AppSpec("a", "ns", provides=("a",))]
    assert components.derive_waves(chain) == {"c": 10, "b": 0, "a": -10}


@pytest.mark.parametrize(("status", "expected"), [
    (None, "Progressing"),
    ({"health": {"status": "Progressing", "message": "Deployment rolling out"}}, "Progressing"),
    ({"health": {"status": "Healthy"}}, "Healthy"),
    ({"health": {"status": "Degraded", "message": "CrashLoopBackOff"}}, "Degraded"),
    ({"sync": {"status": "Synced"}}, "Progressing"),
])
def test_application_health_check_is_shipped_and_runs_in_lua(platform_repo: tuple[Path, InitOptions],
                                                             status: dict[str, Any] | None, expected: str) -> None:
    root, _ = platform_repo
    config = load_one((root / ARGOCD_CONFIG_PATH).read_text())
    assert config["kind"] == "ConfigMap" and config["metadata"] == {**config["metadata"], "name": "argocd-cm",
                                                                    "namespace": "argocd"}
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    check = lua.eval(f"function(obj)\n{config['data'][APPLICATION_HEALTH_KEY]}\nend")
    application: dict[str, Any] = {"kind": "Application", "metadata": {"name": "kserve"}}
    if status is not None:
        application["status"] = status

    def table(value: Any) -> Any:
        return lua.table_from({k: table(v) for k, v in value.items()}) if isinstance(value, dict) else value

    verdict = check(table(application))
    assert verdict["status"] == expected
    if status and status.get("health", {}).get("message"):
        assert verdict["message"] == status["health"]["message"]
