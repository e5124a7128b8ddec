"""Pricing, workload resources (InferenceServices included) and the cost delta: pure, table-driven."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from neuroscale.cost import PriceTable, cost_delta, render_markdown, workloads
from neuroscale.cost.workloads import QUEUE_PROXY_CPU
from neuroscale.errors import InvalidInput
from tests.conftest import alias_bomb


def isvc(name: str = "iris", *, resources: dict[str, Any] | None = None, fmt: str = "sklearn",
         labels: dict[str, str] | None = None, **predictor: Any) -> dict[str, Any]:
    model: dict[str, Any] = {"modelFormat": {"name": fmt}, "storageUri": "s3://m"}
    if resources is not None:
        model["resources"] = resources
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "labels": labels if labels is not None else {"cost-center": "cc-1", "owner": "a"}},
            "spec": {"predictor": {"model": model, **predictor}}}


def deployment(name: str = "web", *, replicas: int = 2, cpu: str = "500m", memory: str = "1Gi") -> dict[str, Any]:
    container = {"name": "c", "image": "x:1", "resources": {"requests": {"cpu": cpu, "memory": memory}}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"cost-center": "cc-2"}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [container]}}}}


RUNTIME = {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "ClusterServingRuntime", "metadata": {"name": "kserve-sklearnserver"},
           "spec": {"supportedModelFormats": [{"name": "sklearn"}],
                    "containers": [{"name": "kserve-container", "resources": {"requests": {"cpu": "1", "memory": "2Gi"},
                                                                              "limits": {"cpu": "1", "memory": "2Gi"}}}]}}


def test_price_table_defaults_and_monthly_maths() -> None:
    prices = PriceTable()
    assert prices.monthly(cpu_cores=Decimal(1), memory_bytes=Decimal(2**30), replicas=2) == Decimal("52.27")


def test_price_table_from_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("currency: EUR\ncpuPerVcpuHour: 0.05\nmemoryPerGibHour: 0\nhoursPerMonth: 100\n")
    prices = PriceTable.load(path)
    assert prices.currency == "EUR" and prices.monthly(cpu_cores=Decimal(2), memory_bytes=Decimal(0), replicas=1) == Decimal("10.00")


@pytest.mark.parametrize("text", ["cpuPerVcpuHour: cheap\n", "cpuPerVCPUHour: 1\n", "cpuPerVcpuHour: -1\n", "- 1\n",
                                  "cpuPerVcpuHour: .nan\n", "cpuPerVcpuHour: .inf\n", "cpuPerVcpuHour: '1e9999999'\n",
                                  "cpuPerVcpuHour: '١'\n", alias_bomb(9)])
def test_price_table_rejects_bad_input(tmp_path: Path, text: str) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInput):
        PriceTable.load(path)


@pytest.mark.parametrize("cpu", ["1e9999999", "1e-1000000000", "١٠٠m", "1e2147483648"])
def test_hostile_quantities_never_break_the_cost_maths(cpu: str) -> None:
    """Schema and policy stages report the value; cost must neither raise nor price it."""
    hostile = isvc(resources={"requests": {"cpu": cpu, "memory": "256Mi"}, "limits": {"cpu": cpu, "memory": "1Gi"}})
    [after] = workloads([("a.yaml", hostile)])
    assert after.per_replica.cpu_request == QUEUE_PROXY_CPU  # only the sidecar's request is priced
    delta = cost_delta([], [after], PriceTable())
    assert "iris" in render_markdown(delta)


def test_isvc_with_explicit_resources() -> None:
    [w] = workloads([("a.yaml", isvc(resources={"requests": {"cpu": "100m", "memory": "256Mi"},
                                                  "limits": {"cpu": "1", "memory": "1Gi"}}, minReplicas=2, maxReplicas=4))])
    assert w.resources_from == "spec" and (w.min_replicas, w.max_replicas) == (2, 4)
    assert w.per_replica.cpu_request == Decimal("0.1") + QUEUE_PROXY_CPU
    assert w.per_replica.memory_limit == 2**30 and w.cost_center == "cc-1"


def test_isvc_without_resources_inherits_from_its_runtime() -> None:
    [w] = workloads([("a.yaml", isvc()), ("rt.yaml", RUNTIME)])
    assert w.resources_from == "runtime kserve-sklearnserver"
    assert w.per_replica.cpu_request == Decimal(1) + QUEUE_PROXY_CPU and w.per_replica.memory_request == 2 * 2**30


def test_isvc_without_resources_or_runtime_is_flagged_not_dashed() -> None:
    [w] = workloads([("a.yaml", isvc(fmt="xgboost", labels={}))])
    delta = cost_delta([], [w], PriceTable())
    assert w.resources_from == "unset" and w.per_replica.cpu_request == QUEUE_PROXY_CPU
    assert any("resources unset" in f for f in delta.items[0].flags)
    assert any("no cost-center" in f for f in delta.items[0].flags)
    assert "(unallocated)" in delta.by_cost_center


def test_deployment_limits_only_bill_at_limits() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "2", "memory": "1Gi"}}
    [w] = workloads([("d.yaml", obj)])
    assert w.per_replica.cpu_request == 2 and w.per_replica.memory_request == 2**30


def test_delta_skips_unchanged_and_totals_per_cost_center() -> None:
    prices = PriceTable()
    before = workloads([("d.yaml", deployment("web")), ("e.yaml", deployment("same"))])
    after = workloads([("d.yaml", deployment("web", replicas=40)), ("e.yaml", deployment("same"))])
    delta = cost_delta(before, after, prices)
    assert [item.current.name for item in delta.items] == ["web"]
    web = delta.items[0]
    assert web.delta == web.monthly_after - web.monthly_before > prices.workload_delta_threshold
    assert delta.by_cost_center["cc-2"][1] - delta.by_cost_center["cc-2"][0] == web.delta
    assert delta.flags and "total monthly cost rises" in delta.flags[0]
    table = render_markdown(delta)
    assert "| Deployment/web | changed | cc-2 | 500m/0 | 1024Mi/0 | 2 → 40 |" in table
    assert "| **total** |" in table


def test_no_change_renders_a_sentence() -> None:
    same = workloads([("d.yaml", deployment())])
    assert render_markdown(cost_delta(same, same, PriceTable())) == "No workload resources change.\n"
