"""Disk nearly full under the platform home: SQLite, git and model caches fail on write.

The threshold is the home's `NEUROSCALE_DISK_MIN_FREE` (default 1 GiB, read by
the snapshot): below it a warning, below a fifth of it an error.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import ObjectRef, Severity

MIB = 1024 * 1024
DEFAULT_MIN_FREE = 1024 * MIB


#: Said by the findings a full disk causes (a reconciler that cannot save), so this finding explains them.
FULL = "the disk of the platform home is full"


def _space(index: SnapshotIndex) -> tuple[int, int, int]:
    disk = index.host.get("disk") or {}
    return int(disk.get("total", 0)), int(disk.get("free", 0)), int(disk.get("min_free", DEFAULT_MIN_FREE))


def is_full(index: SnapshotIndex) -> bool:
    """Free space below the error level (a fifth of the threshold): writes under the home fail."""
    total, free, min_free = _space(index)
    return bool(total) and free < min_free // 5


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    disk = index.host.get("disk") or {}
    total, free, min_free = _space(index)
    if not total or free >= min_free:
        return []
    return [RULE.finding(
        obj=ObjectRef(kind="Disk", name=str(disk.get("path", ""))),
        severity=Severity.ERROR if is_full(index) else Severity.WARNING, explains_when=(FULL,),
        message=f"only {free // MIB} MiB free on the disk of the platform home",
        evidence=f"shutil.disk_usage({disk.get('path')}): free={free} total={total} ({100 * free / total:.1f}%), "
        f"below the {min_free // MIB} MiB threshold (NEUROSCALE_DISK_MIN_FREE)",
        root_cause="the platform writes SQLite state, git objects, logs and model caches under its home; "
        "a full disk makes those writes fail",
        fix=f"du -sh {disk.get('path')}/* | sort -h  # clear logs/ and cache/models, or move the home "
        "(--home / NEUROSCALE_HOME) to a larger disk",
    )]


RULE = Rule(
    id="disk-space", title="Disk space for the home", covers=("EMB-DISK",),
    category=Category.ENVIRONMENT, severity=Severity.ERROR, check=check, targets=("embedded",),
)
