"""Small charts drawn on the server as inline SVG: no script, no external library.

Each chart carries a ``<title>`` and ``<desc>`` for screen readers (a labelled ``group``, not an
``img``: the bars are links, and an image may not hold focusable parts), and the pages show the same
numbers as a table, so nothing is conveyed by the picture alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

from varsel.clock import us_to_datetime
from varsel.web.i18n import DEFAULT, format_day, format_day_month, format_number

_BAR = "#1f5f8b"
_AXIS = "#5a6570"
_TEXT = "#1d252c"


@dataclass(frozen=True)
class Bar:
    """One bar: its label, value, link, and colours (fill and, for text on it, ink)."""

    label: str
    value: int
    href: str | None = None
    fill: str = _BAR
    stroke: str | None = None


def _nice_max(value: int) -> int:
    if value <= 5:
        return max(value, 1)
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 2.5, 5, 10):
        top = int(step * magnitude)
        if top >= value:
            return top
    return value


def horizontal(bars: list[Bar], *, title: str, description: str, width: int = 520) -> Markup:
    """Return a horizontal bar chart; each bar links to the objects it counts."""
    row, label_w, gap = 30, 150, 8
    height = max(1, len(bars)) * row + 4
    top = _nice_max(max((b.value for b in bars), default=0))
    span = width - label_w - 60
    parts = [
        Markup(
            '<svg class="chart" viewBox="0 0 {w} {h}" width="100%" role="group" '
            'aria-labelledby="{i}-t {i}-d" xmlns="http://www.w3.org/2000/svg">'
            '<title id="{i}-t">{title}</title><desc id="{i}-d">{desc}</desc>'
        ).format(w=width, h=height, i=_id(title), title=title, desc=description)
    ]
    for index, bar in enumerate(bars):
        y = index * row + 2
        length = 0 if top == 0 else max(2, round(span * bar.value / top)) if bar.value else 0
        stroke = Markup(' stroke="{}"').format(bar.stroke) if bar.stroke else Markup("")
        item = Markup(
            '<text x="{lx}" y="{ty}" text-anchor="end" fill="{ink}" font-size="13">{label}</text>'
            '<rect x="{x}" y="{y}" width="{len}" height="{bh}" rx="3" fill="{fill}"{stroke}/>'
            '<text x="{vx}" y="{ty}" fill="{ink}" font-size="13">{value}</text>'
        ).format(
            lx=label_w - gap,
            ty=y + row / 2 + 4,
            ink=_TEXT,
            label=bar.label,
            x=label_w,
            y=y + 4,
            len=length,
            bh=row - 10,
            fill=bar.fill,
            stroke=stroke,
            vx=label_w + length + 6,
            value=f"{bar.value:,}",
        )
        if bar.href:
            item = Markup('<a href="{}">{}</a>').format(bar.href, item)
        parts.append(item)
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def activity(
    days: list[tuple[int, int]],
    *,
    title: str,
    description: str,
    width: int = 1100,
    height: int = 200,
    lang: str = DEFAULT,
) -> Markup:
    """Return a column chart of objects shared per day (``days`` as (day µs, count)).

    Dates and counts are written as ``lang`` writes them.
    """
    left, bottom, top_pad = 40, 24, 10
    plot_w, plot_h = width - left - 8, height - bottom - top_pad
    top = _nice_max(max((n for _, n in days), default=0))
    slot = plot_w / max(1, len(days))
    parts = [
        Markup(
            '<svg class="chart" viewBox="0 0 {w} {h}" width="100%" role="group" '
            'aria-labelledby="{i}-t {i}-d" xmlns="http://www.w3.org/2000/svg">'
            '<title id="{i}-t">{title}</title><desc id="{i}-d">{desc}</desc>'
        ).format(w=width, h=height, i=_id(title), title=title, desc=description)
    ]
    for fraction in (0, 0.5, 1):
        y = top_pad + plot_h * (1 - fraction)
        parts.append(
            Markup(
                '<line x1="{l}" x2="{r}" y1="{y}" y2="{y}" stroke="#d5dbe0"/>'
                '<text x="{tx}" y="{ty}" text-anchor="end" font-size="11" fill="{ink}">{v}</text>'
            ).format(
                l=left,
                r=width - 8,
                y=round(y, 1),
                tx=left - 6,
                ty=round(y + 4, 1),
                ink=_AXIS,
                v=round(top * fraction),
            )
        )
    for index, (day_us, n) in enumerate(days):
        h = 0 if top == 0 else plot_h * n / top
        x = left + index * slot + 1
        day = format_day(day_us, lang)
        parts.append(
            Markup(
                '<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}">'
                "<title>{day}: {n}</title></rect>"
            ).format(
                x=round(x, 1),
                y=round(top_pad + plot_h - h, 1),
                w=round(max(1, slot - 2), 1),
                h=round(h, 1),
                fill=_BAR,
                day=day,
                n=format_number(n, lang),
            )
        )
        if (len(days) - 1 - index) % 7 == 0:
            parts.append(
                Markup(
                    '<text x="{x}" y="{y}" font-size="11" fill="{ink}" text-anchor="middle">{d}'
                    "</text>"
                ).format(
                    x=round(x + slot / 2, 1),
                    y=height - 6,
                    ink=_AXIS,
                    d=format_day_month(us_to_datetime(day_us), lang),
                )
            )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _id(title: str) -> str:
    return "c" + "".join(ch for ch in str(escape(title)).lower() if ch.isalnum())[:24]
