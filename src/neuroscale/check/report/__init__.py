"""Report formats: text (grouped by file, colour on a TTY), JSON, Markdown, SARIF 2.1.0, JUnit XML."""

from __future__ import annotations

from neuroscale.check.model import CheckReport, OutputFormat
from neuroscale.check.report.jsonfmt import render_json
from neuroscale.check.report.junit import render_junit
from neuroscale.check.report.markdown import render_markdown
from neuroscale.check.report.sarif import render_sarif
from neuroscale.check.report.text import render_text

_RENDERERS = {
    OutputFormat.TEXT: render_text,
    OutputFormat.JSON: render_json,
    OutputFormat.MARKDOWN: render_markdown,
    OutputFormat.SARIF: render_sarif,
    OutputFormat.JUNIT: render_junit,
}


def render(report: CheckReport, fmt: OutputFormat, *, color: bool = False) -> str:
    """The report as text in `fmt` (`color` only affects the text format)."""
    if fmt is OutputFormat.TEXT:
        return render_text(report, color=color)
    return _RENDERERS[fmt](report)


__all__ = ["render"]
