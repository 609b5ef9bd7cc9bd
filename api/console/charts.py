"""Charts as inline SVG, drawn on the server: no chart library, nothing to load.

Each chart is also given as a table beside it (the page's job, not this
module's), so a screen reader or a printout loses nothing; the SVG has a
``<title>`` and ``role="img"`` for those who meet it first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape


def pounds(pence: int | None, *, whole: bool = False) -> str:
    """1234567 -> '£12,345.67' (or '£12,346' with ``whole``); None -> '—'."""
    if pence is None:
        return "—"
    sign = "-" if pence < 0 else ""
    pence = abs(int(pence))
    if whole:
        return f"{sign}£{(pence + 50) // 100:,}"
    return f"{sign}£{pence // 100:,}.{pence % 100:02d}"


def bars(rows: Sequence[dict[str, Any]], *, title: str) -> Markup:
    """Horizontal bars: each group's pot (outline) and payable (filled), in pounds."""
    width, label_w, row_h, pad = 720, 230, 26, 8
    biggest = max((int(r["maximum_pence"] or 0) for r in rows), default=0) or 1
    scale = (width - label_w - 190) / biggest  # room for "£26,586,796 of £84,012,345"
    height = pad * 2 + row_h * len(rows)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-{id(rows)}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-{id(rows)}">{escape(title)}</title>',
    ]
    for i, row in enumerate(rows):
        y = pad + i * row_h
        pot = int(row["maximum_pence"] or 0) * scale
        paid = int(row["payable_pence"] or 0) * scale
        parts += [
            f'<text x="{label_w - 6}" y="{y + 17}" text-anchor="end" class="label">'
            f"{escape(row['name'])}</text>",
            f'<rect x="{label_w}" y="{y + 4}" width="{pot:.1f}" height="{row_h - 8}" class="pot"/>',
            f'<rect x="{label_w}" y="{y + 4}" width="{paid:.1f}" height="{row_h - 8}" '
            'class="paid"/>',
            f'<text x="{label_w + pot + 6:.1f}" y="{y + 17}" class="value">'
            f"{pounds(row['payable_pence'], whole=True)} of "
            f"{pounds(row['maximum_pence'], whole=True)}</text>",
        ]
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Mark:
    position: int
    label: str
    href: str


def step_chart(
    points: Sequence[tuple[int, int]],
    marks: Sequence[Mark],
    *,
    first: int,
    last: int,
    current: int | None,
    title: str,
) -> Markup:
    """Payable (pence) over log positions as a step line; each event a marked link."""
    width, height, left, right, top, bottom = 760, 240, 90, 16, 14, 40
    span = max(last - first, 1)
    peak = max((p for _, p in points), default=0) or 1

    def x(position: int) -> float:
        return left + (position - first) * (width - left - right) / span

    def y(pence: int) -> float:
        return top + (1 - pence / peak) * (height - top - bottom)

    parts = [
        f'<svg class="chart timeline" viewBox="0 0 {width} {height}" role="group" '
        f'aria-labelledby="timeline-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="timeline-title">{escape(title)}</title>',
        f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}" class="axis"/>',
        f'<text x="{left - 6}" y="{y(peak) + 4:.1f}" text-anchor="end" class="label">'
        f"{pounds(peak, whole=True)}</text>",
        f'<text x="{left - 6}" y="{y(0) + 4:.1f}" text-anchor="end" class="label">£0</text>',
        f'<text x="{left}" y="{height - 8}" class="label">position {first}</text>',
        f'<text x="{width - right}" y="{height - 8}" text-anchor="end" class="label">'
        f"position {last}</text>",
    ]
    if points:
        path = []
        previous: int | None = None
        for position, pence in points:
            if previous is None:
                path.append(f"M{x(position):.1f},{y(pence):.1f}")
            else:
                path.append(f"H{x(position):.1f}V{y(pence):.1f}")
            previous = pence
        path.append(f"H{x(last):.1f}")
        parts.append(f'<path d="{"".join(path)}" class="step"/>')
    for mark in marks:
        parts.append(
            f'<a href="{escape(mark.href)}"><title>{escape(mark.label)}</title>'
            f'<rect x="{x(mark.position) - 2:.1f}" y="{height - bottom + 1}" width="4" '
            'height="10" class="event"/></a>'
        )
    if current is not None:
        parts.append(
            f'<line x1="{x(current):.1f}" y1="{top}" x2="{x(current):.1f}" '
            f'y2="{height - bottom}" class="now"/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
