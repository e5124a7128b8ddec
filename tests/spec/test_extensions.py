"""NeuroScale's own annotations: bounds and errors that name the annotation."""

from __future__ import annotations

import pytest

from neuroscale.errors import InvalidInput
from neuroscale.spec import extensions as ext


def test_defaults_and_values() -> None:
    assert ext.recording({}) is None and ext.shadow_percent({}) == 0 and not ext.diff_gate({}).gating
    recording = ext.recording({ext.RECORD: "true", ext.RECORD_MAX_REQUESTS: "50", ext.RECORD_MAX_BYTES: "1Mi"})
    assert recording is not None and (recording.max_requests, recording.max_bytes) == (50, 1 << 20)
    assert recording.retention_s == 7 * 86400
    assert ext.recording({ext.RECORD: "true", ext.RECORD_RETENTION: "12h"}).retention_s == 12 * 3600  # type: ignore[union-attr]
    assert ext.shadow_percent({ext.SHADOW_PERCENT: "25"}) == 25
    gate = ext.diff_gate({ext.MIN_AGREEMENT: "0.95", ext.FAIL_ON_NEW_ERRORS: "true"})
    assert gate.gating and gate.min_agreement == 0.95 and gate.fail_on_new_errors
    assert not ext.require_api_key({}) and not ext.require_api_key({ext.REQUIRE_API_KEY: "false"})
    assert ext.require_api_key({ext.REQUIRE_API_KEY: "true"}) and ext.require_api_key({ext.REQUIRE_API_KEY: " True "})


@pytest.mark.parametrize(("notes", "key"), [
    ({ext.RECORD: "yes"}, ext.RECORD),
    ({ext.RECORD: "true", ext.RECORD_MAX_REQUESTS: "0"}, ext.RECORD_MAX_REQUESTS),
    ({ext.RECORD: "true", ext.RECORD_MAX_REQUESTS: "١٠"}, ext.RECORD_MAX_REQUESTS),
    ({ext.RECORD: "true", ext.RECORD_MAX_BYTES: "2Gi"}, ext.RECORD_MAX_BYTES),
    ({ext.RECORD: "true", ext.RECORD_RETENTION: "a week"}, ext.RECORD_RETENTION),
    ({ext.RECORD: "true", ext.RECORD_RETENTION: "0h"}, ext.RECORD_RETENTION),
    ({ext.SHADOW_PERCENT: "101"}, ext.SHADOW_PERCENT),
    ({ext.MIN_AGREEMENT: "95%"}, ext.MIN_AGREEMENT),
    ({ext.MIN_AGREEMENT: "nan"}, ext.MIN_AGREEMENT),
    ({ext.REQUIRE_API_KEY: "yes"}, ext.REQUIRE_API_KEY),
    ({ext.REQUIRE_API_KEY: ""}, ext.REQUIRE_API_KEY),
    ({ext.REQUIRE_API_KEY: "1"}, ext.REQUIRE_API_KEY),
])
def test_bad_values_name_the_annotation(notes: dict[str, str], key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        ext.recording(notes), ext.shadow_percent(notes), ext.diff_gate(notes), ext.require_api_key(notes)
    assert key in caught.value.where and caught.value.fix


@pytest.mark.parametrize(("value", "quoted"), [(100, '"100"'), (True, '"true"'), (0.95, '"0.95"'), (None, '""')])
def test_an_unquoted_yaml_value_of_ours_is_refused_by_name_not_ignored(value: object, quoted: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        ext.annotations_of({ext.SHADOW_PERCENT: value, "other.io/x": 1})
    assert ext.SHADOW_PERCENT in caught.value.where and quoted in caught.value.fix
    assert ext.annotations_of({ext.SHADOW_PERCENT: "100", "other.io/x": 1}) == {ext.SHADOW_PERCENT: "100"}


@pytest.mark.parametrize("value", [" 50", "50 ", "050"])
def test_whole_numbers_with_spaces_or_leading_zeros_are_read(value: str) -> None:
    assert ext.shadow_percent({ext.SHADOW_PERCENT: value}) == 50


@pytest.mark.parametrize("value", ["100.0", "1e2", "-1", "+50", "0" * 5000, "0x10"])
def test_other_spellings_of_a_percent_are_refused_by_name(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        ext.shadow_percent({ext.SHADOW_PERCENT: value})
    assert ext.SHADOW_PERCENT in caught.value.where
