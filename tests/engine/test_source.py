"""The artifact digest identifies the tree under apps/; only endpoint manifests count as endpoints."""

from __future__ import annotations

import pytest

from neuroscale.engine.desired import endpoint_name_of
from neuroscale.engine.source import artifact_digest


def test_digest_is_order_independent_and_content_sensitive() -> None:
    a = {"apps/a/inference-service.yaml": b"x", "apps/b/inference-service.yaml": b"y"}
    b = dict(reversed(list(a.items())))
    assert artifact_digest(a) == artifact_digest(b)
    assert artifact_digest(a) != artifact_digest({**a, "apps/b/inference-service.yaml": b"z"})
    assert artifact_digest(a) != artifact_digest({"apps/a/inference-service.yamlx": b"y"})


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("apps/iris/inference-service.yaml", "iris"),
        ("apps/.gitkeep", None),
        ("apps/iris/kustomization.yaml", None),
        ("apps/iris/nested/inference-service.yaml", None),
        ("other/iris/inference-service.yaml", None),
        ("apps//inference-service.yaml", None),
    ],
)
def test_endpoint_name_of(path: str, name: str | None) -> None:
    assert endpoint_name_of(path) == name
