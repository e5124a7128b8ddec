"""Reading GitHub Actions workflows: jobs, steps, their scripts and containers.

The CI lints (false-green gates, floating references) ask the same questions
of `.github/workflows/*.yml`; the format is read here once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from neuroscale.check.model import Document, RepoView

WORKFLOW_DIR = ".github/workflows/"


@dataclass(frozen=True)
class Step:
    job: str
    label: str  # the step's name, or "step N"
    data: dict[str, Any]
    shell: str  # the step's shell, else the workflow's default

    @property
    def script(self) -> str:
        run = self.data.get("run")
        return run if isinstance(run, str) else ""


def workflows(view: RepoView) -> list[Document]:
    return [doc for doc in view.documents if doc.path.startswith(WORKFLOW_DIR) and isinstance(doc.data, dict)]


def jobs(doc: Document) -> Iterator[tuple[str, dict[str, Any]]]:
    found = doc.data.get("jobs") if isinstance(doc.data, dict) else None
    for job_id, job in (found.items() if isinstance(found, dict) else []):
        if isinstance(job, dict):
            yield str(job_id), job


def steps(doc: Document) -> Iterator[Step]:
    """Every step of every job, with the shell it runs under."""
    defaults = doc.data.get("defaults") if isinstance(doc.data, dict) else None
    run_defaults = defaults.get("run") if isinstance(defaults, dict) else None
    shell = str(run_defaults.get("shell") or "") if isinstance(run_defaults, dict) else ""
    for job_id, job in jobs(doc):
        found = job.get("steps")
        for index, step in enumerate(found if isinstance(found, list) else []):
            if isinstance(step, dict):
                yield Step(job_id, str(step.get("name") or f"step {index + 1}"), step,
                           str(step.get("shell") or shell))
