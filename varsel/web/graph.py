"""An object's neighbourhood drawn on the server as inline SVG: no script, no external library.

The object sits in the middle and the objects its readable relationships name sit on a circle
around it, each edge labelled with the relationship type and each readable neighbour a link to
its page. A neighbour the reader may not see is a grey, unlinked node labelled "an object you
cannot see" — never its id or type. The picture has a ``<title>`` and ``<desc>``, and the page
lists the same relationships as text, so nothing is conveyed by the picture alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import Markup

MAX_NEIGHBOURS = 16
_LABEL = 26


@dataclass(frozen=True)
class Node:
    """A neighbour: its label, the link to its page (None when hidden), the edge's label."""

    label: str
    href: str | None
    edge: str
    outgoing: bool


def _cut(text: str, limit: int = _LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def neighbourhood(
    centre: str, nodes: list[Node], *, title: str, description: str, width: int = 640
) -> Markup:
    """Return the SVG of ``centre`` and up to :data:`MAX_NEIGHBOURS` neighbours around it."""
    shown = nodes[:MAX_NEIGHBOURS]
    height = 360 if len(shown) > 2 else 220
    cx, cy = width / 2, height / 2
    rx, ry = width / 2 - 110, height / 2 - 40
    parts = [
        Markup(
            '<svg class="graph" viewBox="0 0 {w} {h}" width="100%" role="img" '
            'aria-labelledby="graph-t graph-d" xmlns="http://www.w3.org/2000/svg">'
            '<title id="graph-t">{title}</title><desc id="graph-d">{desc}</desc>'
            '<defs><marker id="graph-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
            'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            '<path d="M 0 0 L 10 5 L 0 10 z" class="graph-arrow"/></marker></defs>'
        ).format(w=width, h=height, title=title, desc=description)
    ]
    points = []
    for index in range(len(shown)):
        angle = -math.pi / 2 + 2 * math.pi * index / max(1, len(shown))
        if len(shown) == 1:
            angle = 0.0
        elif len(shown) == 2:
            angle = math.pi * index
        points.append((cx + rx * math.cos(angle), cy + ry * math.sin(angle)))
    for node, (x, y) in zip(shown, points, strict=True):
        # The edge stops short of both boxes so the arrow head stays visible.
        dx, dy = x - cx, y - cy
        trim = 0.18
        x1, y1 = cx + dx * trim, cy + dy * trim
        x2, y2 = x - dx * trim * 0.9, y - dy * trim * 0.9
        if not node.outgoing:
            x1, y1, x2, y2 = x2, y2, x1, y1
        parts.append(
            Markup(
                '<line class="graph-edge" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" '
                'marker-end="url(#graph-arrow)"/>'
                '<text class="graph-edge-label" x="{mx}" y="{my}" text-anchor="middle" '
                'font-size="11">{label}</text>'
            ).format(
                x1=round(x1, 1),
                y1=round(y1, 1),
                x2=round(x2, 1),
                y2=round(y2, 1),
                mx=round(cx + dx * 0.5, 1),
                my=round(cy + dy * 0.5 - 4, 1),
                label=_cut(node.edge, 18),
            )
        )
    for node, (x, y) in zip(shown, points, strict=True):
        parts.append(_box(node.label, node.href, x, y, hidden=node.href is None))
    parts.append(_box(centre, None, cx, cy, centre_node=True))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _box(
    label: str,
    href: str | None,
    x: float,
    y: float,
    *,
    hidden: bool = False,
    centre_node: bool = False,
) -> Markup:
    text = _cut(label)
    w, h = max(60, 7 * len(text) + 16), 26
    kind = "graph-centre" if centre_node else "graph-hidden" if hidden else "graph-node"
    item = Markup(
        '<g class="{kind}"><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6"/>'
        '<text x="{tx}" y="{ty}" text-anchor="middle" font-size="12">{text}</text>'
        "<title>{full}</title></g>"
    ).format(
        kind=kind,
        x=round(x - w / 2, 1),
        y=round(y - h / 2, 1),
        w=w,
        h=h,
        tx=round(x, 1),
        ty=round(y + 4, 1),
        text=text,
        full=label,
    )
    if href:
        return Markup('<a href="{}">{}</a>').format(href, item)
    return item
