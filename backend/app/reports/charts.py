"""Inline SVG charts for the HTML and PDF reports: no script, no external file, the same markup in both.

Colours are SVG presentation attributes rather than CSS classes, because WeasyPrint draws SVG with its own
renderer and the page's stylesheet does not reach inside it. Every label is escaped: probe titles and ids can
come from imported files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import cos, pi, sin

from markupsafe import Markup, escape

from app.reports.view import ComplianceView, ProbeRow

__all__ = [
    "SEVERITY_COLOURS",
    "STATUS_COLOURS",
    "Bar",
    "TrendPoint",
    "bar_chart",
    "compliance_chart",
    "interval_chart",
    "risk_gauge",
    "trend_chart",
]

SEVERITY_COLOURS = {
    "critical": "#7f1d1d",
    "high": "#dc2626",
    "medium": "#d97706",
    "low": "#2563eb",
    "info": "#6b7280",
}
STATUS_COLOURS = {"failed": "#dc2626", "partial": "#d97706", "passed": "#16a34a", "not_tested": "#d1d5db"}
BAND_COLOURS = {"low": "#16a34a", "medium": "#d97706", "high": "#dc2626", "critical": "#7f1d1d"}
_FONT = 'font-family="sans-serif"'  # one generic family: WeasyPrint's SVG reader takes no list
_AXIS = "#9ca3af"


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    colour: str


def _svg(width: int, height: int, body: str, title: str) -> Markup:
    # every value interpolated into the chart bodies is a number, a fixed colour or passed through escape()
    return Markup(  # noqa: S704
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" {_FONT} font-size="11"><title>{escape(title)}</title>{body}</svg>'
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bar_chart(bars: Sequence[Bar], title: str, *, width: int = 520, label_width: int = 150) -> Markup:
    """Horizontal bars scaled to the largest value, each labelled with its count."""
    row, top = 22, 6
    height = top * 2 + row * max(len(bars), 1)
    span = width - label_width - 50
    largest = max((bar.value for bar in bars), default=0) or 1
    parts = []
    for index, bar in enumerate(bars):
        y = top + index * row
        length = round(span * bar.value / largest)
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end" fill="#111827">'
            f"{escape(_clip(bar.label, 34))}</text>"
            f'<rect x="{label_width}" y="{y + 4}" width="{max(length, 1 if bar.value else 0)}" height="14" '
            f'fill="{bar.colour}"/>'
            f'<text x="{label_width + length + 6}" y="{y + 15}" fill="#111827">{bar.value}</text>'
        )
    parts.append(f'<line x1="{label_width}" y1="{top}" x2="{label_width}" y2="{height - top}" stroke="{_AXIS}"/>')
    return _svg(width, height, "".join(parts), title)


def interval_chart(rows: Sequence[ProbeRow], title: str, *, width: int = 640, label_width: int = 250) -> Markup:
    """Each probe's attack success rate as a dot, and its 95 % interval as a whisker, on a 0-100 % axis."""
    row, top, bottom = 18, 8, 26
    height = top + bottom + row * max(len(rows), 1)
    span = width - label_width - 20
    parts = []
    for tick in range(0, 101, 25):
        x = label_width + span * tick / 100
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" stroke="#e5e7eb"/>'
            f'<text x="{x:.1f}" y="{height - bottom + 14}" text-anchor="middle" fill="#4b5563">{tick}%</text>'
        )
    for index, probe in enumerate(rows):
        y = top + index * row + row / 2
        colour = SEVERITY_COLOURS[probe.severity]
        low, high = label_width + span * probe.low, label_width + span * probe.high
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#111827">'
            f"{escape(_clip(probe.probe_id, 40))}</text>"
            f'<line x1="{low:.1f}" y1="{y:.1f}" x2="{high:.1f}" y2="{y:.1f}" stroke="{colour}" stroke-width="2"/>'
            f'<line x1="{low:.1f}" y1="{y - 4:.1f}" x2="{low:.1f}" y2="{y + 4:.1f}" stroke="{colour}"/>'
            f'<line x1="{high:.1f}" y1="{y - 4:.1f}" x2="{high:.1f}" y2="{y + 4:.1f}" stroke="{colour}"/>'
        )
        if probe.asr is not None:
            parts.append(f'<circle cx="{label_width + span * probe.asr:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>')
    return _svg(width, height, "".join(parts), title)


def compliance_chart(
    views: Sequence[ComplianceView], title: str, *, width: int = 640, label_width: int = 170
) -> Markup:
    """Per framework, one bar split into failed, partial, passed and not tested requirements."""
    row, top = 24, 6
    legend = 22
    height = top * 2 + legend + row * max(len(views), 1)
    span = width - label_width - 60
    parts = []
    for index, (status, colour) in enumerate(STATUS_COLOURS.items()):
        key_x = label_width + index * 110
        parts.append(
            f'<rect x="{key_x}" y="{top}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{key_x + 14}" y="{top + 9}" fill="#111827">{status.replace("_", " ")}</text>'
        )
    for index, view in enumerate(views):
        y = top + legend + index * row
        total = sum(view.counts.values()) or 1
        x = float(label_width)
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end" fill="#111827">'
            f"{escape(_clip(view.framework_id, 26))}</text>"
        )
        for status, colour in STATUS_COLOURS.items():
            length = span * view.counts.get(status, 0) / total
            if length:
                parts.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{length:.1f}" height="15" fill="{colour}"/>')
            x += length
        parts.append(f'<text x="{label_width + span + 6}" y="{y + 16}" fill="#111827">{view.coverage_pct:g}%</text>')
    return _svg(width, height, "".join(parts), title)


def risk_gauge(score: float | None, band: str, *, width: int = 220) -> Markup:
    """The 0-100 risk score as a filled arc with the number in the middle."""
    height = width // 2 + 30
    radius, cx, cy = width // 2 - 15, width // 2, width // 2 + 5
    track = f"M {cx - radius} {cy} A {radius} {radius} 0 0 1 {cx + radius} {cy}"
    parts = [f'<path d="{track}" fill="none" stroke="#e5e7eb" stroke-width="18"/>']
    if score is not None and score > 0:
        angle = pi * (1 - min(score, 100.0) / 100)
        end_x, end_y = cx + radius * cos(angle), cy - radius * sin(angle)
        colour = BAND_COLOURS.get(band, "#6b7280")
        parts.append(
            f'<path d="M {cx - radius} {cy} A {radius} {radius} 0 0 1 {end_x:.1f} {end_y:.1f}" fill="none" '
            f'stroke="{colour}" stroke-width="18"/>'
        )
    number = "n/a" if score is None else f"{score:.1f}"
    parts.append(
        f'<text x="{cx}" y="{cy - 8}" text-anchor="middle" font-size="30" font-weight="bold" fill="#111827">'
        f"{number}</text>"
        f'<text x="{cx}" y="{cy + 18}" text-anchor="middle" font-size="12" fill="#4b5563">'
        f"risk {escape(band)} · of 100</text>"
    )
    return _svg(width, height, "".join(parts), f"Risk score {number} of 100 ({band})")


@dataclass(frozen=True)
class TrendPoint:
    """One value (0-100) of a trend line, with the label its dot carries as a tooltip."""

    label: str
    value: float
    colour: str = "#1f2937"


def trend_chart(points: Sequence[TrendPoint], title: str, *, width: int = 640, height: int = 180) -> Markup:
    """Values from 0 to 100 in order, as a line with a dot each (a tooltip names it); empty without points."""
    left, right, top, bottom = 34, 12, 10, 22
    span_x, span_y = width - left - right, height - top - bottom
    parts = []
    for tick in range(0, 101, 25):
        y = top + span_y * (1 - tick / 100)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#4b5563">{tick}</text>'
        )
    step = span_x / max(len(points) - 1, 1)
    coords = [
        (left + (step * index if len(points) > 1 else span_x / 2), top + span_y * (1 - min(max(p.value, 0), 100) / 100))
        for index, p in enumerate(points)
    ]
    if len(coords) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#9ca3af" stroke-width="2"/>')
    for (x, y), point in zip(coords, points, strict=True):
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{point.colour}">'
            f"<title>{escape(point.label)}: {point.value:g}</title></circle>"
        )
    if points:
        parts.append(f'<text x="{left}" y="{height - 6}" fill="#4b5563">{escape(_clip(points[0].label, 40))}</text>')
    if len(points) > 1:
        parts.append(
            f'<text x="{width - right}" y="{height - 6}" text-anchor="end" fill="#4b5563">'
            f"{escape(_clip(points[-1].label, 40))}</text>"
        )
    return _svg(width, height, "".join(parts), title)
