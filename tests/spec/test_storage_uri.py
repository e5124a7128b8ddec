"""The storage-URI shape rule: every shape KServe's storage initializer reads passes, the hostile ones do not.

The legal table holds each form KServe documents (its storage initializer's prefixes and its
ClusterStorageContainer formats) and, when the corpus is on this machine, every storage URI of
KServe's own samples (/work/corpus/repos/*kserve*) and of its chart's ClusterStorageContainer, so the rule
can never refuse what KServe serves. The bundled policy's CEL must agree on each (`tests/policy`).
"""

from __future__ import annotations

import pytest

from neuroscale.errors import InvalidInput
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.storage_uri import RULES, storage_uri_problem

from tests.conftest import REFERENCE
from tests.spec.storage_uris import HOSTILE, LEGAL, kserve_samples


@pytest.mark.parametrize("uri", LEGAL + kserve_samples(REFERENCE))
def test_what_kserve_reads_passes(uri: str) -> None:
    assert storage_uri_problem(uri) is None


@pytest.mark.parametrize(("uri", "words", "rule"), HOSTILE)
def test_hostile_uris_are_refused_with_what_and_how_to_fix(uri: str, words: str, rule: str) -> None:
    problem = storage_uri_problem(uri)
    assert problem is not None and words in problem.message and problem.fix
    assert problem.rule.name == rule and problem.rule in RULES
    assert repr(uri) in problem.message  # names what it refuses


@pytest.mark.parametrize(("uri", "words"), [case[:2] for case in HOSTILE[:4]])
def test_the_form_refuses_them_on_the_storage_uri_field(uri: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        EndpointSpec.from_input({"name": "iris", "owner": "team-ml", "costCenter": "cc-1", "storageUri": uri})
    (field,) = caught.value.details["fields"]
    assert field["field"] == "storageUri" and words in field["message"] and "fix:" in field["message"]
