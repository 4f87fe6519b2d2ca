"""The Reference Security Incident Taxonomy (RSIT), read offline from ``pytaxonomies``.

pytaxonomies ships the MISP taxonomies inside the wheel (``pytaxonomies/data/misp-taxonomies``);
only the RSIT file is loaded, so nothing is fetched over the network (the hub runs air-gapped).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from pytaxonomies.api import Taxonomy

from varsel.errors import InvalidInput


@cache
def rsit() -> Taxonomy:
    """Return the RSIT taxonomy shipped with pytaxonomies."""
    path = resources.files("pytaxonomies").joinpath("data/misp-taxonomies/rsit/machinetag.json")
    return Taxonomy(json.loads(path.read_text(encoding="utf-8")))


def choices() -> list[dict[str, str]]:
    """Return every RSIT class/type as machine tag with its readable name."""
    tax = rsit()
    out = []
    for tag, expanded in zip(tax.machinetags(), tax.machinetags_expanded(), strict=True):
        out.append({"tag": tag, "label": expanded.split(":", 1)[1]})
    return out


def check(tag: str) -> str:
    """Return ``tag`` if it is an RSIT machine tag, e.g. ``rsit:availability="ddos"``."""
    tag = tag.strip()
    if tag not in set(rsit().machinetags()):
        raise InvalidInput(
            f'{tag!r} is not an RSIT machine tag; e.g. rsit:availability="ddos" '
            "(see GET /api/v1/incidents/taxonomy)",
            field="classification",
        )
    return tag
