"""One verdict per storage URI: the bundled policy's CEL refuses exactly what `storage_uri_problem` refuses.

The reader is the strict reader's early error (embedded admission, the pull-request checks); the CEL is
what `neuroscale check` evaluates and what clusters enforce. Each URI becomes an InferenceService admitted
through `admit()`, the path `neuroscale check` takes, with the bundled set as generated and as exported
(ValidatingAdmissionPolicy, Kyverno ClusterPolicy), and the shape checks' verdict must equal the reader's:
for hypothesis-generated URIs (schemes, hosts, claims of every length and character class, written and
percent-encoded `..` and slashes, control characters, non-ASCII), for KServe's own samples and for the
hostile table. The first check that fails, in the reader's order, is the rule the reader names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuroscale.findings import Finding
from neuroscale.policy.admission import admit
from neuroscale.policy.bundled import bundled_policy_documents
from neuroscale.policy.export import export_policies
from neuroscale.spec.storage_uri import RULES, storage_uri_problem

from tests.conftest import REFERENCE
from tests.spec.storage_uris import CORPUS, HOSTILE, LEGAL, kserve_samples

POLICY = "neuroscale-storage-uri-scheme"
SHAPE_RULES = {f"{POLICY}/{rule.name}" for rule in RULES}
ORDER = [rule.name for rule in RULES]


def storage_policy(documents: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The storage-URI policy (and its binding) of a policy set: the others only slow the fuzzing down."""
    return [d for d in documents if d["metadata"]["name"] in (POLICY, f"{POLICY}-binding")]


FORMS = {form: storage_policy(documents) for form, documents in (
    ("bundled", bundled_policy_documents()), ("vap", export_policies("vap")), ("kyverno", export_policies("kyverno")))}
FUZZ = settings(max_examples=200, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def endpoint(uri: str, index: int) -> dict[str, Any]:
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": f"m{index}", "namespace": "team-a", "labels": {"owner": "o", "cost-center": "c"}},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": uri}}}}


def refusals(uris: Sequence[str], documents: Sequence[Mapping[str, Any]]) -> list[set[str]]:
    """Per URI, the shape checks the policy fails (its findings must all be verdicts of its known checks)."""
    found: list[Finding] = admit([endpoint(uri, i) for i, uri in enumerate(uris)], policy_documents=documents,
                                 include_bundled=False)
    ours = [f for f in found if f.extra.get("policy") == POLICY or f.rule.startswith(f"{POLICY}/")]
    assert all(f.rule in SHAPE_RULES | {f"{POLICY}/storage-uri-scheme"} for f in ours), ours
    assert all("evaluat" not in f.message for f in ours), ours
    verdicts: list[set[str]] = [set() for _ in uris]
    for finding in ours:
        if finding.rule in SHAPE_RULES:
            verdicts[finding.extra["index"]].add(finding.rule.removeprefix(f"{POLICY}/"))
    return verdicts


def assert_agree(uris: Sequence[str], form: str = "bundled") -> None:
    for uri, refused in zip(uris, refusals(uris, FORMS[form]), strict=True):
        problem = storage_uri_problem(uri)
        assert (problem is None) == (not refused), (uri, problem, refused)
        first = next((rule.name for rule in RULES if rule.name in refused), None)
        assert first == (problem.rule.name if problem else None), (uri, problem, refused)  # the reader's order


# --- generated URIs -------------------------------------------------------------------------------------------

FILE = ["file://", "FILE://", "File://", "fIlE://"]
PVC = ["pvc://", "PVC://", "Pvc://"]
OTHER = ["s3://", "gs://", "https://", "http://", "hf://", "oci://", "hdfs://", "abc://", "file:/", "file:", "pvc:/",
         "://"]
DOTS = ["..", ".", "...", "%2e%2e", "%2E%2E", "%2E.", ".%2e", "%2e", "%2e%2e%2e", "%252e%252e", "%%2e%2e", "%2%2e.",
        ". .", "a..b", "..a", "~"]
SLASHES = ["/", "/", "%2f", "%2F", "//", "%252f", ""]
PIECES = ["models", "iris", "model.joblib", "%20", "%00", "%0a", "%1F", "%7f", "%7F", "%80", "%c2%85", "%ff", "%",
          "%2", "%g0", "\x00", "\n", "\t", "\x1f", "\x7f", "\x85", "é", "模型", "\U0001f600", " ", "?", "#", ":", "@",
          "localhost", "LOCALHOST"]
HOSTS = ["", "", "localhost", "LOCALHOST", "..", "%2e%2e", "host", "localhost:80", "localhost.", " "]
CLAIM_CHARS = "az09-.A_%/:é\n"


def claims() -> st.SearchStrategy[str]:
    """Claim names of every length (around the 63/253 limits too) and character class."""
    label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)
    return st.one_of(
        st.lists(label, min_size=1, max_size=6).map(".".join),
        st.lists(label, min_size=1, max_size=2).map(".".join),
        st.text(alphabet=CLAIM_CHARS, max_size=12),
        st.integers(min_value=248, max_value=258).map(lambda n: "a" * n),
        st.integers(min_value=1, max_value=130).map(lambda n: "a" + ".b" * n),
        st.sampled_from(["", "..", ".", "claim", "a", "0", "-a", "a-", "a.-b", "a..b", "Claim", "a\n", "localhost"]),
    )


@st.composite
def paths(draw: st.DrawFn) -> str:
    """Segments of dots, names, escapes, control characters and non-ASCII, joined by written or encoded slashes."""
    segments = draw(st.lists(st.one_of(st.sampled_from(DOTS), st.sampled_from(PIECES), st.text(max_size=4)),
                             max_size=6))
    slashes = draw(st.lists(st.sampled_from(SLASHES), min_size=len(segments), max_size=len(segments)))
    return "".join(slash + segment for slash, segment in zip(slashes, segments))


def uris() -> st.SearchStrategy[str]:
    """Plain local paths, file:// with good and bad hosts, pvc:// with every claim, and other schemes."""
    return st.one_of(
        paths(),
        st.tuples(st.sampled_from(["", "/", "./", "../"]), paths()).map("".join),
        st.tuples(st.sampled_from(FILE), st.sampled_from(HOSTS), paths()).map("".join),
        st.tuples(st.sampled_from(PVC), claims(), paths()).map("".join),
        st.tuples(st.sampled_from(OTHER), st.one_of(claims(), st.sampled_from(HOSTS)), paths()).map("".join),
    )


ANY_URI = st.one_of(uris(), st.text(max_size=24), st.text(alphabet="./%2eEfF:/lpvc\x00\n", max_size=16))


@FUZZ
@given(st.lists(ANY_URI, min_size=10, max_size=40))
def test_generated_uris_get_one_verdict(batch: list[str]) -> None:
    assert_agree(batch)


@settings(FUZZ, max_examples=25)
@given(st.lists(uris(), min_size=10, max_size=40))
def test_generated_uris_get_one_verdict_from_the_kyverno_export(batch: list[str]) -> None:
    assert_agree(batch, "kyverno")


# --- fixed tables ---------------------------------------------------------------------------------------------

FIXED = [*LEGAL, *kserve_samples(REFERENCE), *(case[0] for case in HOSTILE)]


@pytest.mark.parametrize("form", list(FORMS))
def test_kserve_samples_and_the_hostile_table_get_one_verdict(form: str) -> None:
    assert_agree(FIXED, form)
    refused = refusals([case[0] for case in HOSTILE], FORMS[form])
    assert [min(rules, key=ORDER.index) for rules in refused] == [case[2] for case in HOSTILE]


def test_the_samples_are_there() -> None:
    """The reference samples (a URI under each prefix KServe's chart declares) are read, and KServe's own sample
    URIs when the corpus is on this machine (it is not in CI): the agreement above covers them."""
    found = set(kserve_samples(REFERENCE))
    assert "hf://bucket/models/iris" in found
    if CORPUS.is_dir():
        assert {"pvc://model-pv-claim", "gs://kfserving-samples/models/sklearn/iris"} <= found


def test_a_refusal_names_the_field_the_uri_and_the_fix() -> None:
    manifest = endpoint("s3://ok/model", 0)
    manifest["spec"]["predictor"]["storageUris"] = [{"uri": "file://../team-b/m", "mountPath": "/m"}]
    [finding] = [f for f in admit([manifest]) if f.rule in SHAPE_RULES]
    problem = storage_uri_problem("file://../team-b/m")
    assert problem is not None and finding.rule == f"{POLICY}/storage-uri-file-host"
    assert finding.field_path == "spec.predictor.storageUris[].uri"
    assert finding.message == f"{problem.message} (at spec.predictor.storageUris[].uri)"
    assert finding.fix == problem.fix


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize(("uri", "rule"), [(uri, rule) for uri, _, rule in HOSTILE if repr(uri) == f"'{uri}'"])
def test_the_policy_says_what_the_reader_says(form: str, uri: str, rule: str) -> None:
    """In the reader's words, filled in by CEL (the control character rule names the field only: CEL cannot
    escape the URI)."""
    found = admit([endpoint(uri, 0)], policy_documents=FORMS[form], include_bundled=False)
    [finding] = [f for f in found if f.rule in SHAPE_RULES]
    problem = storage_uri_problem(uri)
    assert problem is not None and finding.rule == f"{POLICY}/{rule}"
    expected = f"{problem.rule.summary} (at spec.predictor.model.storageUri)" \
        if rule == "storage-uri-control-character" else f"{problem.message} (at spec.predictor.model.storageUri)"
    assert finding.message == expected


def test_the_exports_carry_every_rule() -> None:
    vap = next(d for d in FORMS["vap"] if d["kind"] == "ValidatingAdmissionPolicy")
    kyverno = next(d for d in FORMS["kyverno"] if d["metadata"]["name"] == POLICY)
    expressions = [v["expression"] for v in vap["spec"]["validations"]]
    rules = {r["name"]: r["validate"]["cel"]["expressions"][0]["expression"] for r in kyverno["spec"]["rules"]}
    assert {rule.name for rule in RULES} <= set(rules)
    assert [rules[name] for name in rules] == expressions  # one Kyverno rule per validation, same CEL
