"""The one quantity parser: Kubernetes' grammar, exact values, and hostile input refused with the field named.

Valid quantities are compared with the official `kubernetes` client's parser
(the upstream other side); hostile ones must be `InvalidInput` (a 4xx / exit 1),
never an arithmetic exception that would surface as a traceback or HTTP 500.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from kubernetes.utils.quantity import parse_quantity as upstream_parse

from neuroscale.errors import InvalidInput
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.quantity import parse_quantity

VALID = ["0", "1", "+1", "-1", "1.", ".5", "0.25", "100m", "250m", "1n", "5u", "1k", "1M", "2G", "1T", "1P", "3E",
         "1Ki", "512Mi", "2Gi", "1Ti", "1Pi", "1Ei", "1e3", "1E3", "1.5e-3", "2e+2", "123456789", "0.000000001"]


@pytest.mark.parametrize("text", VALID)
def test_valid_quantities_equal_the_kubernetes_clients_value(text: str) -> None:
    assert parse_quantity(text) == upstream_parse(text)


@pytest.mark.parametrize(("value", "problem"), [
    ("1e9999999", "too large"),
    ("1e-1000000000", "smaller than 1n"),
    ("1e2147483648", "exponent beyond"),
    ("1e99999999999999999999", "exponent beyond"),
    ("9" * 30, "too large"),
    ("10Ei", "too large"),
    ("١٠٠m", "not a Kubernetes quantity"),  # Arabic-Indic digits
    ("１００m", "not a Kubernetes quantity"),  # full-width digits
    ("Infinity", "not a Kubernetes quantity"),
    ("NaN", "not a Kubernetes quantity"),
    ("1ki", "not a Kubernetes quantity"),
    ("1e", "not a Kubernetes quantity"),
    ("", "not a Kubernetes quantity"),
    (float("inf"), "not a Kubernetes quantity"),
    (float("nan"), "not a Kubernetes quantity"),
    (1e300, "too large"),
    (10**40, "too large"),
    (True, "not a quantity"),
])
def test_hostile_quantities_are_invalid_input(value: object, problem: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_quantity(value, where="cpuLimit")  # type: ignore[arg-type]
    assert problem in caught.value.message and caught.value.where == "cpuLimit"
    assert caught.value.http_status == 422 and caught.value.exit_code == 1


def test_the_largest_and_smallest_representable_values_are_accepted() -> None:
    assert parse_quantity(str(2**63 - 1)) == Decimal(2**63 - 1)
    assert parse_quantity("1n") == Decimal("1e-9")


@pytest.mark.parametrize(("field", "value"), [("cpuLimit", "1e9999999"), ("cpuRequest", "1e-1000000000"),
                                              ("memoryLimit", "١٠٠Mi"), ("memoryRequest", 1e308)])
def test_the_endpoint_spec_names_the_field(field: str, value: object) -> None:
    body = {"name": "q", "owner": "team-a", "costCenter": "cc-1", "storageUri": "/models/m.joblib", field: value}
    with pytest.raises(InvalidInput) as caught:
        EndpointSpec.from_input(body)
    assert [item["field"] for item in caught.value.details["fields"]] == [field]
