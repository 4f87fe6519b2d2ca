"""Seed a realistic demonstration hub: Nordic and US organisations, communities, collections and
a few hundred STIX objects of several types and TLPs.

All addresses come from the documentation ranges (RFC 5737, RFC 3849) and all domains end in
``.example`` (RFC 2606), so nothing here points at a real host. The organisations are fictional;
the subsea cables named in the infrastructure objects are real and come with their source
(shared/domain/infrastructure.md).
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from varsel.clock import datetime_to_us
from varsel.orgs import service as orgs
from varsel.orgs.models import Visibility
from varsel.policy.principal import principal_of
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.envelope import Envelope
from varsel.sharing.tlp import TLP

NAMESPACE = uuid.UUID("6f0d8a4c-1b7e-4f36-9d65-3c1a0f2e8b11")
# The hub-admin's own organisation: in no community and named in no share, so the demo shows
# the promise that hub-admins administer the hub and read no intelligence.
HUB_OPERATIONS = "Varsel hub operations"

ORGS = [
    # name, country, kind, sector
    (HUB_OPERATIONS, "NO", "company", None),
    ("Fjordnett AS", "NO", "company", "digital-infrastructure"),
    ("Norsk Demo-CSIRT", "NO", "csirt", None),
    ("Svea Moln AB", "SE", "company", "ict-service-management"),
    ("Svensk Demo-CERT", "SE", "csirt", None),
    ("Nordvakt MSSP AB", "SE", "company", "ict-service-management"),
    ("Småland Kraft AB", "SE", "company", "energy"),
    ("Øresund Bank A/S", "DK", "company", "banking"),
    ("Dansk Demo-CSIRT", "DK", "csirt", None),
    ("Saimaa Data Oy", "FI", "company", "digital-infrastructure"),
    ("Suomen Demo-CERT", "FI", "csirt", None),
    ("US Partner Agency (demo)", "US", "international-partner", None),
]
USERS = [
    # username, organisation, role
    ("admin", HUB_OPERATIONS, "hub-admin"),
    ("analyst.no", "Fjordnett AS", "analyst"),
    ("csirt.no", "Norsk Demo-CSIRT", "analyst"),
    ("analyst.se", "Svea Moln AB", "analyst"),
    ("csirt.se", "Svensk Demo-CERT", "analyst"),
    ("mssp.se", "Nordvakt MSSP AB", "org-admin"),
    ("kraft.se", "Småland Kraft AB", "analyst"),
    ("analyst.dk", "Øresund Bank A/S", "analyst"),
    ("csirt.dk", "Dansk Demo-CSIRT", "analyst"),
    ("analyst.fi", "Saimaa Data Oy", "analyst"),
    ("csirt.fi", "Suomen Demo-CERT", "analyst"),
    ("partner.us", "US Partner Agency (demo)", "analyst"),
]
NORDIC = [
    name
    for name, country, _, _ in ORGS
    if country != "US" and name not in {"Småland Kraft AB", HUB_OPERATIONS}
]
COMMUNITIES = {
    "Nordic Technology Security Group": NORDIC,
    "Nordic–US partners": [
        "Norsk Demo-CSIRT",
        "Svensk Demo-CERT",
        "Dansk Demo-CSIRT",
        "Suomen Demo-CERT",
        "US Partner Agency (demo)",
    ],
    "Nordic finance sector": ["Øresund Bank A/S", "Dansk Demo-CSIRT", "Svensk Demo-CERT"],
}
LISTED = {"Nordic Technology Security Group"}
COLLECTIONS = [
    # title, community, default TLP, description
    (
        "Nordic threat indicators",
        "Nordic Technology Security Group",
        "amber",
        "Indicators and context shared across the Nordic tech sector",
    ),
    (
        "Nordic–US ransomware",
        "Nordic–US partners",
        "amber+strict",
        "Ransomware intelligence under the Swedish–US cooperation",
    ),
    (
        "Public advisories",
        "Nordic Technology Security Group",
        "clear",
        "Advisories that may be published",
    ),
    ("Finance sector", "Nordic finance sector", "green", "Sector sharing for banks"),
]
CABLES = [
    (
        "C-Lion1",
        "Helsinki (FI) – Rostock (DE), 1,173 km; operated by Cinia",
        "en.wikipedia.org/wiki/2024_Baltic_Sea_submarine_cable_disruptions",
    ),
    (
        "BCS East-West Interlink",
        "Lithuania – Gotland (SE), 218 km",
        "en.wikipedia.org/wiki/2024_Baltic_Sea_submarine_cable_disruptions",
    ),
    ("EE-S1", "Stavsnäs (SE) – Estonia, 240 km; Arelion", "en.wikipedia.org/wiki/EE-S1"),
    ("Estlink 2", "Finland – Estonia power cable", "en.wikipedia.org/wiki/2024_Estlink_2_incident"),
    ("Svalbard cable", "Longyearbyen – Andøya/Harstad (NO)", "nrk.no"),
]


@dataclass(frozen=True)
class DemoSummary:
    """What the seed created."""

    organisations: int
    users: int
    communities: int
    collections: int
    objects: int
    password: str


def _sid(kind: str, *parts: object) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, kind + '|' + '|'.join(map(str, parts)))}"


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _marking(level: TLP | None) -> dict[str, Any]:
    return {"object_marking_refs": [level.stix_id]} if level else {}


def _indicator(
    rng: random.Random, n: int, when: datetime, level: TLP | None, recipients: list[str] | None
) -> dict[str, Any]:
    kind = n % 5
    if kind == 0:
        value = f"198.51.100.{n % 250 + 1}" if n % 2 else f"203.0.113.{n % 250 + 1}"
        pattern, name = f"[ipv4-addr:value = '{value}']", f"C2 address {value}"
    elif kind == 1:
        value = f"update-{rng.randrange(10**6):06d}.malicious.example"
        pattern, name = f"[domain-name:value = '{value}']", f"Phishing domain {value}"
    elif kind == 2:
        value = f"http://cdn{n}.badcdn.example/payload/{rng.randrange(10**4)}.bin"
        pattern, name = f"[url:value = '{value}']", "Payload URL"
    elif kind == 3:
        digest = hashlib.sha256(f"sample-{n}".encode()).hexdigest()
        pattern, name = f"[file:hashes.'SHA-256' = '{digest}']", "Ransomware loader (SHA-256)"
    else:
        value = f"invoice{n}@mail.example"
        pattern, name = f"[email-addr:value = '{value}']", f"Phishing sender {value}"
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": _sid("indicator", n),
        "created": _ts(when),
        "modified": _ts(when),
        "name": name,
        "description": "Seen in a campaign against Nordic telecom and cloud operators.",
        "indicator_types": ["malicious-activity"],
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": _ts(when),
        "labels": ["demo"],
    }
    obj.update(_marking(level))
    if recipients:
        obj["x_varsel_recipients"] = recipients
    return obj


def build_objects(
    seed: int = 7, start: datetime | None = None
) -> list[tuple[str, TLP | None, dict[str, Any], list[str] | None]]:
    """Return (collection title, TLP or None for default, object, TLP:RED recipients) tuples.

    The objects' times run over about 55 days from ``start`` (default: 60 days ago).
    """
    rng = random.Random(seed)
    if start is None:
        start = (datetime.now(UTC) - timedelta(days=60)).replace(minute=0, second=0, microsecond=0)
    out: list[tuple[str, TLP | None, dict[str, Any], list[str] | None]] = []
    for name, country, _kind, _ in ORGS:
        ident = {
            "type": "identity",
            "spec_version": "2.1",
            "id": _sid("identity", name),
            "created": _ts(start),
            "modified": _ts(start),
            "name": name,
            "identity_class": "organization",
            "x_varsel_country": country,
        }
        out.append(("Public advisories", TLP.CLEAR, ident, None))
    actor = {
        "type": "intrusion-set",
        "spec_version": "2.1",
        "id": _sid("intrusion-set", "BALTIC"),
        "created": _ts(start),
        "modified": _ts(start),
        "name": "DEMO BALTIC ANCHOR",
        "description": "Fictional intrusion set for the demonstration hub.",
    }
    malware = {
        "type": "malware",
        "spec_version": "2.1",
        "id": _sid("malware", "fjordlock"),
        "created": _ts(start),
        "modified": _ts(start),
        "name": "FjordLock (demo)",
        "is_family": True,
        "malware_types": ["ransomware"],
    }
    out += [
        ("Nordic threat indicators", None, actor, None),
        ("Nordic–US ransomware", None, malware, None),
    ]
    for i, (cable, where, source) in enumerate(CABLES):
        infra = {
            "type": "infrastructure",
            "spec_version": "2.1",
            "id": _sid("infrastructure", cable),
            "created": _ts(start),
            "modified": _ts(start),
            "name": cable,
            "description": where,
            "infrastructure_types": ["unknown"],
            "external_references": [{"source_name": "public reporting", "description": source}],
        }
        out.append(("Public advisories", TLP.CLEAR if i % 2 else TLP.GREEN, infra, None))
    levels: list[tuple[TLP | None, int]] = [
        (None, 40),
        (TLP.CLEAR, 10),
        (TLP.GREEN, 25),
        (TLP.AMBER, 15),
        (TLP.AMBER_STRICT, 6),
        (TLP.RED, 4),
    ]
    choices = [lvl for lvl, weight in levels for _ in range(weight)]
    for n in range(300):
        when = start + timedelta(hours=n * 4.4, minutes=rng.randrange(60))
        level = rng.choice(choices)
        title = rng.choice(
            ["Nordic threat indicators"] * 6 + ["Nordic–US ransomware"] * 2 + ["Finance sector"]
        )
        recipients = None
        if level is TLP.RED:
            recipients = rng.sample(
                ["Norsk Demo-CSIRT", "Svensk Demo-CERT", "Suomen Demo-CERT", "Dansk Demo-CSIRT"], 2
            )
            title = "Nordic–US ransomware" if rng.random() < 0.5 else "Nordic threat indicators"
        ind = _indicator(rng, n, when, level, recipients)
        out.append((title, level, ind, recipients))
        if n % 10 == 0:
            rel = {
                "type": "relationship",
                "spec_version": "2.1",
                "id": _sid("relationship", n),
                "created": _ts(when),
                "modified": _ts(when),
                "relationship_type": "indicates",
                "source_ref": ind["id"],
                "target_ref": malware["id"] if title == "Nordic–US ransomware" else actor["id"],
            }
            rel.update(_marking(level))
            if recipients:
                rel["x_varsel_recipients"] = recipients
            out.append((title, level, rel, recipients))
        if n % 25 == 0:
            sighting = {
                "type": "sighting",
                "spec_version": "2.1",
                "id": _sid("sighting", n),
                "created": _ts(when),
                "modified": _ts(when),
                "count": rng.randrange(1, 40),
                "sighting_of_ref": ind["id"],
                "first_seen": _ts(when),
                "last_seen": _ts(when + timedelta(hours=3)),
            }
            sighting.update(_marking(TLP.AMBER if level is not TLP.RED else TLP.RED))
            if recipients:
                sighting["x_varsel_recipients"] = recipients
            out.append((title, TLP.AMBER, sighting, recipients))
    report_refs = [
        obj["id"]
        for title, lvl, obj, _ in out
        if title == "Public advisories" and obj["type"] == "infrastructure"
    ]
    out.append(
        (
            "Public advisories",
            TLP.CLEAR,
            {
                "type": "report",
                "spec_version": "2.1",
                "id": _sid("report", "subsea"),
                "created": _ts(start),
                "modified": _ts(start),
                "published": _ts(start),
                "name": "Baltic subsea cable incidents 2022–2025 (public sources)",
                "report_types": ["infrastructure"],
                "object_refs": report_refs,
            },
            None,
        )
    )
    return out


def seed(
    *, session: Session, password: str, progress: Callable[[int, int], None] | None = None
) -> DemoSummary:
    """Create the demonstration hub in an empty database."""
    for name, country, kind, sector in ORGS:
        orgs.add_org(
            session=session, name=name, country=country, kind=kind, sector=sector, actor="demo"
        )
        if name != HUB_OPERATIONS:
            # The demo's operator knows its organisations: their sightings count in aggregates.
            orgs.vouch_org(session=session, name=name, actor="demo")
    orgs.add_client(
        session=session, provider="Nordvakt MSSP AB", client="Småland Kraft AB", actor="demo"
    )
    for username, org, role in USERS:
        orgs.add_user(
            session=session, username=username, org=org, role=role, password=password, actor="demo"
        )
    for name, members in COMMUNITIES.items():
        # The broad sector group (with its public advisories) is listed; the partner and
        # finance groups keep the default, unlisted: only their members see them.
        visibility = Visibility.LISTED if name in LISTED else Visibility.UNLISTED
        orgs.add_community(
            session=session, name=name, members=members, visibility=visibility, actor="demo"
        )
    collections = {}
    for title, community, tlp, description in COLLECTIONS:
        collections[title] = sharing.add_collection(
            session=session,
            title=title,
            community=community,
            default_tlp=tlp,
            description=description,
            actor="demo",
        )
    objects = build_objects()
    # Share each object as a user of a plausible producing organisation.
    producers = {
        "Nordic threat indicators": ["csirt.no", "analyst.se", "csirt.fi", "analyst.no"],
        "Nordic–US ransomware": ["csirt.se", "partner.us", "csirt.dk"],
        "Public advisories": ["csirt.fi", "csirt.no"],
        "Finance sector": ["analyst.dk", "csirt.dk"],
    }
    principals = {u: principal_of(orgs.get_user(session=session, username=u)) for u, _, _ in USERS}
    # Shared in the order they were made, each stamped with its own time, so the demo hub has a
    # history (charts, "added since" filters) instead of everything arriving at once.
    ordered = sorted(enumerate(objects), key=lambda item: (item[1][2]["created"], item[0]))
    done = 0
    for i, (title, _level, obj, _recipients) in ordered:
        who = producers[title][i % len(producers[title])]
        ingesting.ingest(
            session=session,
            collection=collections[title],
            principal=principals[who],
            body=Envelope(objects=[(json.dumps(obj, ensure_ascii=False), obj)]),
            stamp_us=datetime_to_us(_parse(obj["created"])) + i,
        )
        done += 1
        if progress:
            progress(done, len(objects))
    return DemoSummary(
        organisations=len(ORGS),
        users=len(USERS),
        communities=len(COMMUNITIES),
        collections=len(COLLECTIONS),
        objects=len(objects),
        password=password,
    )
