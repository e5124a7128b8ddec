"""Charts as server-rendered SVG, drawn by pygal (a dependency, not code of ours).

Why server-side: the pages stay script-free and work without JavaScript, an
`<img>` with a text alternative is accessible, and the SVG is cacheable. The
style keeps every label at WCAG AA contrast on white and uses colours that
stay apart for the common colour-vision deficiencies.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import pygal
from pygal.style import Style

#: Okabe–Ito colours (distinguishable with colour-vision deficiencies), darkened for contrast on white.
_COLOURS = ("#0b5fa5", "#b35900", "#117a5b", "#a3267e", "#5b5b5b")
_STYLE = Style(background="#ffffff", plot_background="#ffffff", foreground="#1d2330", foreground_strong="#1d2330",
               foreground_subtle="#5d6676", colors=_COLOURS, font_family="system-ui, sans-serif",
               label_font_size=12, major_label_font_size=12, legend_font_size=13, title_font_size=15)

#: What each chart of the endpoint page draws: title, unit, the point fields (with legend names).
ENDPOINT_CHARTS: dict[str, tuple[str, str, tuple[tuple[str, str], ...]]] = {
    "requests": ("Request rate", "requests/s", (("requestsPerS", "requests/s"),)),
    "latency": ("Latency", "ms", (("p50", "p50"), ("p95", "p95"), ("p99", "p99"))),
    "errors": ("Error rate", "% 5xx", (("errorRatio", "errors"),)),
    "replicas": ("Replicas", "processes", (("replicas", "replicas"),)),
    "cpu": ("CPU", "cores", (("cpuCores", "cores used"),)),
    "memory": ("Memory", "MiB", (("memoryBytes", "resident MiB"),)),
}
_SCALE = {"p50": 1000.0, "p95": 1000.0, "p99": 1000.0, "errorRatio": 100.0, "memoryBytes": 1 / 2**20}


def _label(at: float, span: float) -> str:
    moment = datetime.fromtimestamp(at, tz=timezone.utc)
    return moment.strftime("%H:%M" if span <= 24 * 3600 else "%d %b %H:%M")


def _chart(title: str, unit: str, *, width: int = 640, height: int = 260) -> Any:
    return pygal.Line(style=_STYLE, width=width, height=height, title=f"{title} ({unit})", show_dots=False,
                      fill=False, x_label_rotation=0, show_minor_x_labels=False, truncate_label=-1,
                      legend_at_bottom=True, no_data_text="no data in this window", allow_interruptions=True,
                      disable_xml_declaration=True, js=[])


def endpoint_chart(kind: str, points: Sequence[dict[str, Any]], *, span: float) -> bytes:
    """One chart of the endpoint page as SVG bytes."""
    title, unit, series = ENDPOINT_CHARTS[kind]
    chart = _chart(title, unit)
    chart.x_labels = [_label(p["at"], span) for p in points]
    chart.x_labels_major_every = max(len(points) // 6, 1)
    for key, legend in series:
        scale = _SCALE.get(key, 1.0)
        chart.add(legend, [None if p.get(key) is None else round(p[key] * scale, 4) for p in points])
    return bytes(chart.render())


def cost_chart(rows: Sequence[tuple[str, float, float]], *, currency: str) -> bytes:
    """Used and idle cost per allocation, stacked bars."""
    chart = pygal.HorizontalStackedBar(style=_STYLE, width=720, height=max(180, 60 + 34 * len(rows)),
                                       title=f"Cost ({currency})", legend_at_bottom=True, truncate_label=-1,
                                       no_data_text="no usage recorded in this window", disable_xml_declaration=True,
                                       js=[])
    chart.x_labels = [name for name, _, _ in rows]
    chart.add("used", [round(used, 6) for _, used, _ in rows])
    chart.add("idle (requested, unused)", [round(idle, 6) for _, _, idle in rows])
    return bytes(chart.render())
