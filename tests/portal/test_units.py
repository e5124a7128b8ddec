"""Pure helpers of the portal: HTML patterns, camelCase JSON, timestamps, and the entry point's errors."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from neuroscale.home import Home
from neuroscale.portal.app import create_app, when
from neuroscale.portal.form import html_pattern
from neuroscale.jsonable import as_plain, camel_key
from neuroscale.portal.settings import PortalSettings
from neuroscale.spec.fields import DNS1123_LABEL, LABEL_VALUE


@pytest.mark.parametrize(("regex", "expected"), [
    (DNS1123_LABEL, r"[a-z0-9]([\-a-z0-9]*[a-z0-9])?"),
    (LABEL_VALUE, r"[A-Za-z0-9]([\-A-Za-z0-9_.]*[A-Za-z0-9])?"),
    (r"^[^-a]x[a-]$", r"[^\-a]x[a\-]"),
    (r"^a-b$", r"a-b"),
])
def test_html_pattern_drops_anchors_and_escapes_edge_dashes(regex: str, expected: str) -> None:
    assert html_pattern(regex) == expected
    probe = re.compile(f"^{expected}$")
    for sample in ("ok-1", "a", "Bad", "-x", "x-"):
        assert bool(probe.match(sample)) == bool(re.match(regex, sample)), sample


@pytest.mark.parametrize(("key", "expected"), [
    ("head_sha", "headSha"), ("last_transition", "lastTransition"), ("name", "name"),
    ("cost-center", "cost-center"), ("app.kubernetes.io/managed-by", "app.kubernetes.io/managed-by"),
    ("Mixed_Case", "Mixed_Case"),
])
def test_camel_key_renames_only_snake_case_identifiers(key: str, expected: str) -> None:
    assert camel_key(key) == expected


def test_as_plain_converts_nested_dataclasses() -> None:
    @dataclass(frozen=True)
    class Inner:
        field_path: str

    @dataclass(frozen=True)
    class Outer:
        merged_sha: str | None
        items: tuple[Inner, ...]
        labels: dict[str, str]

    plain = as_plain(Outer(None, (Inner("metadata.name"),), {"cost-center": "cc", "team_name": "risk"}))
    assert plain == {"mergedSha": None, "items": [{"fieldPath": "metadata.name"}],
                     "labels": {"cost-center": "cc", "team_name": "risk"}}, "label names are the user's"


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-01-02T03:04:05+00:00", "2026-01-02 03:04:05 UTC"),
    ("2026-01-02T04:04:05+01:00", "2026-01-02 03:04:05 UTC"),
    ("2026-01-02T03:04:05Z", "2026-01-02 03:04:05 UTC"),
    (0, "1970-01-01 00:00:00 UTC"),
    ("", ""), (None, ""), ("yesterday", "yesterday"),
])
def test_when_formats_timestamps_in_utc(value: object, expected: str) -> None:
    assert when(value) == expected


def test_building_the_app_touches_nothing(tmp_path: Path) -> None:
    home = Home(tmp_path / "absent")
    create_app(PortalSettings(home=home))
    assert not home.root.exists()


def test_missing_home_is_one_clear_line_and_exit_code_1(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "neuroscale.portal", "--home", str(tmp_path / "absent"),
                             "--port", "0"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "no NeuroScale platform at" in result.stderr and "neuroscale up" in result.stderr
    assert "Traceback" not in result.stderr


def test_portal_process_imports_neither_the_cli_nor_the_gateway() -> None:
    probe = ("import sys, neuroscale.portal.main; "
             "print(sorted(m for m in sys.modules if m.startswith(('neuroscale.cli', 'neuroscale.gateway'))))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
