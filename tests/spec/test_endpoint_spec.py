"""The endpoint form's rules are the ones its published schema states (what schemathesis holds the API to)."""

from __future__ import annotations

import pytest

from neuroscale.errors import InvalidInput
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.fields import FIELDS_BY_ATTR

BASE = {"name": "iris", "owner": "team-ml", "costCenter": "cc-1", "modelFormat": "sklearn"}


def test_a_storage_uri_longer_than_the_schema_allows_is_refused_by_name() -> None:
    longest = FIELDS_BY_ATTR["storage_uri"].max_length
    assert longest
    EndpointSpec.from_input({**BASE, "storageUri": "s3://m/" + "a" * (longest - 7)})
    with pytest.raises(InvalidInput) as refused:
        EndpointSpec.from_input({**BASE, "storageUri": "s3://m/" + "\U0003775e" * (longest - 6)})  # code points
    assert refused.value.details["fields"] == [{"field": "storageUri", "message":
                                                f"is {longest + 1} characters; the limit is {longest}"}]
