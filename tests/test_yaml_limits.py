"""One safe YAML loader: a 9-level alias bomb, extreme nesting and oversized text are refused on every path.

Each path that reads YAML is driven with the same hostile text: the shared
loader (`neuroscale.yamlio`), `neuroscale check`'s fast parser, the pull-request
checks, the reconciler's admission, price tables, policy files and the CLI.
Each must answer with a finding, a denial or an `InvalidInput` that names the
file, and must not grow memory by more than 50 MB while doing so (measured
with tracemalloc; the < 1 s budget is measured in `bench/yaml_bombs.py`).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from neuroscale import yamlio
from neuroscale.check.model import Limits
from neuroscale.check.yamldocs import parse_file
from neuroscale.cli.main import main
from neuroscale.cost.prices import PriceTable
from neuroscale.engine.desired import Admitted, Rejected, desired_state
from neuroscale.engine.source import Artifact, artifact_digest
from neuroscale.errors import InvalidInput
from neuroscale.policy.repository import read_yaml_documents
from neuroscale.services.pr_checks import parse_manifest_file
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.manifest import manifest_path, render
from tests.conftest import alias_bomb

T = TypeVar("T")
MEMORY_BUDGET = 50 * 1024 * 1024
BOMB = alias_bomb(9)
ISVC_HEAD = "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: bomb\n"
DEEP_FLOW = "a: " + "[" * 50_000 + "]" * 50_000 + "\n"
DEEP_BLOCK = "a:\n" + "".join(" " * depth + "b:\n" for depth in range(1, 400))
DEEP_ITEMS = "- " * 300 + "x\n"


@pytest.fixture()
def memory() -> Iterator[Callable[[Callable[[], T]], T]]:
    """Run a call under tracemalloc and fail if its peak allocation exceeds the budget."""

    def measured(call: Callable[[], T]) -> T:
        tracemalloc.start()
        try:
            result = call()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < MEMORY_BUDGET, f"peak {peak / 2**20:.1f} MiB while refusing hostile YAML"
        return result

    yield measured


def _refused(call: Callable[[], Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call()
    return caught.value


@pytest.mark.parametrize(("text", "problem"), [
    (BOMB, "alias bomb"),
    (ISVC_HEAD + BOMB, "alias bomb"),
    ("a: &a\n  - *a\n", "refers to itself"),
    (DEEP_FLOW, "levels deep"),
    (DEEP_BLOCK, "levels deep"),
    (DEEP_ITEMS, "levels deep"),
], ids=["bomb", "bomb-in-manifest", "self-reference", "deep-flow", "deep-block", "deep-items"])
def test_the_shared_loader_refuses_and_names_the_file(memory: Any, text: str, problem: str) -> None:
    error = memory(lambda: _refused(lambda: yamlio.load_all(text, where="apps/bomb/inference-service.yaml")))
    assert problem in error.message and error.where == "apps/bomb/inference-service.yaml" and error.fix


@pytest.mark.parametrize("text", [ISVC_HEAD + BOMB, DEEP_FLOW], ids=["bomb", "deep"])
def test_the_round_trip_loader_for_edits_has_the_same_limits(memory: Any, text: str) -> None:
    error = memory(lambda: _refused(lambda: yamlio.load_roundtrip(text, where="apps/bomb/inference-service.yaml")))
    assert error.where == "apps/bomb/inference-service.yaml" and error.fix


def test_oversized_text_is_refused_before_parsing() -> None:
    limits = yamlio.YamlLimits(max_chars=1000)
    error = _refused(lambda: yamlio.load_all("a: 1\n" * 500, where="big.yaml", limits=limits))
    assert "over the limit" in error.message and error.where == "big.yaml"


def test_ordinary_aliases_and_nesting_still_load() -> None:
    text = "base: &b {cpu: 1, memory: 1Gi}\nx: *b\ny: [*b, *b]\n" + "z:\n" + "".join(
        " " * (2 * depth) + f"k{depth}:\n" for depth in range(1, 40)) + " " * 80 + "leaf: [[[1]]]\n"
    [loaded] = yamlio.load_all(text, where="ok.yaml")
    assert loaded["y"][1] == {"cpu": 1, "memory": "1Gi"}


def test_no_upstream_crd_or_chart_file_is_mistaken_for_deep_nesting(reference: Path) -> None:
    files = [p for p in reference.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()]
    assert files, "no YAML in the reference data"
    flagged = [str(p) for p in files if yamlio.too_deep(p.read_text(errors="replace"), max_depth=200)]
    assert flagged == []


def test_check_reports_a_finding_for_the_file(memory: Any) -> None:
    documents, findings = memory(lambda: parse_file("apps/bomb/inference-service.yaml", (ISVC_HEAD + BOMB).encode(),
                                                    limits=Limits()))
    assert documents == [] and [(f.rule, f.file) for f in findings] == [("NS-P003", "apps/bomb/inference-service.yaml")]
    _, deep = parse_file("deep.yaml", DEEP_FLOW.encode(), limits=Limits())
    assert [f.rule for f in deep] == ["NS-P003"] and "levels deep" in deep[0].message


def test_pull_request_checks_report_a_finding_for_the_file(memory: Any) -> None:
    objects, findings = memory(lambda: parse_manifest_file("apps/bomb/inference-service.yaml",
                                                           (ISVC_HEAD + BOMB).encode()))
    assert objects == [] and [(f.rule, f.file) for f in findings] == [("manifest-parses",
                                                                      "apps/bomb/inference-service.yaml")]
    assert "alias bomb" in findings[0].message


def test_admission_rejects_the_bomb_and_admits_the_other_endpoints(memory: Any) -> None:
    good = EndpointSpec(name="good", owner="team-a", cost_center="cc-1", storage_uri="/models/good/model.joblib")
    files = {manifest_path("bomb"): (ISVC_HEAD + BOMB).encode(), manifest_path("good"): render(good).encode()}
    desired = memory(lambda: desired_state(Artifact("c" * 40, artifact_digest(files), files)))
    assert isinstance(desired["good"], Admitted)
    rejected = desired["bomb"]
    assert isinstance(rejected, Rejected) and rejected.reason == "InvalidManifest"
    assert "apps/bomb/inference-service.yaml" in rejected.message and "alias bomb" in rejected.message


def test_price_tables_and_policy_files_refuse_the_bomb(tmp_path: Path, memory: Any) -> None:
    bomb = tmp_path / "hostile.yaml"
    bomb.write_text(BOMB)
    for read in (lambda: PriceTable.load(bomb), lambda: read_yaml_documents(bomb)):
        error = memory(lambda: _refused(read))
        assert "alias bomb" in error.message and error.where == str(bomb)


def test_the_cli_refuses_a_bomb_manifest_with_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUROSCALE_HOME", str(tmp_path / "home"))
    manifest = tmp_path / "bomb.yaml"
    manifest.write_text(ISVC_HEAD + BOMB)
    code = main(["endpoint", "create", "--from-file", str(manifest)])
    _, err = capsys.readouterr()
    assert code == 1 and "alias bomb" in err and str(manifest) in err and "Traceback" not in err


def test_an_oversized_manifest_is_refused_by_admission_and_pull_request_checks() -> None:
    padded = (ISVC_HEAD + "  annotations:\n" + "".join(f"    k{i}: {'v' * 60}\n" for i in range(1200))).encode()
    assert len(padded) > yamlio.MANIFEST_LIMITS.max_chars
    files = {manifest_path("bomb"): padded}
    rejected = desired_state(Artifact("c" * 40, artifact_digest(files), files))["bomb"]
    assert isinstance(rejected, Rejected) and "over the limit" in rejected.message
    _, findings = parse_manifest_file("apps/bomb/inference-service.yaml", padded)
    assert [f.file for f in findings] == ["apps/bomb/inference-service.yaml"] and "over the limit" in findings[0].message
