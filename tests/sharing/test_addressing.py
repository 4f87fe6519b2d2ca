"""Addressing across hubs at ingest: ``NAME@HUB`` recipients, recipient rows with ``remote``,
TLP:AMBER+STRICT that names recipients, and the signed provenance of a share
(docs/federation.md, "TLP across hubs" and "Signatures")."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests import factories as f
from tests.conftest import Hub
from varsel import config
from varsel.orgs.models import Organisation, User
from varsel.provenance import keys
from varsel.provenance import seal as sealing
from varsel.sharing import ingest as ingesting
from varsel.sharing.models import Collection, Recipient, Seal, StixObject
from varsel.sharing.tlp import TLP


@pytest.fixture(autouse=True)
def _this_hub(configure: Callable[..., Any]) -> None:
    configure(hub_name="hub-a")


def _world(s: Session) -> Collection:
    f.org(s, "Fjordnett", "NO")
    f.org(s, "Svea", "SE")
    # Organisation names and usernames may hold '@' where it names no hub.
    f.org(s, "Acme@Work", "SE")
    f.org(s, "hub-b", "SE", kind="hub")
    f.user(s, "alice", "Fjordnett", password=None)
    f.user(s, "bob", "Svea", password=None)
    f.user(s, "carol@cert.no", "Svea", password=None)
    f.user(s, "peer-b", "hub-b", password=None)
    f.community(s, "Nordic", ["Fjordnett", "Svea", "hub-b"])
    coll = f.collection(s, "Indicators", "Nordic", default_tlp="green")
    s.commit()
    return coll


def _ingest(
    s: Session, coll: Collection, *objs: dict[str, Any], **kwargs: Any
) -> ingesting.IngestResult:
    result = ingesting.ingest(
        session=s,
        collection=coll,
        principal=f.principal(s, "alice"),
        body=f.envelope(*objs),
        **kwargs,
    )
    s.commit()
    return result


def _rows(s: Session, stix_id: str) -> set[tuple[str | None, str | None, str | None]]:
    """Return the recipient rows of ``stix_id``: (organisation, username, remote)."""
    query = (
        select(Organisation.name, User.username, Recipient.remote)
        .select_from(Recipient)
        .join(StixObject, StixObject.id == Recipient.object_pk)
        .outerjoin(Organisation, Organisation.id == Recipient.org_id)
        .outerjoin(User, User.id == Recipient.user_id)
        .where(StixObject.stix_id == stix_id)
    )
    return {(o, u, r) for o, u, r in s.execute(query)}


def _provenance(s: Session, stix_id: str) -> dict[str, Any]:
    text = s.execute(select(StixObject.provenance).where(StixObject.stix_id == stix_id)).scalar()
    assert text is not None
    return sealing.parse_provenance(text)


@pytest.mark.parametrize(
    ("name", "row", "qualified"),
    [
        ("CERT-SE@hub-b", ("hub-b", None, "CERT-SE"), "CERT-SE@hub-b"),
        ("org:CERT-SE@hub-b", ("hub-b", None, "CERT-SE"), "CERT-SE@hub-b"),
        ("user:Analyst@hub-b", ("hub-b", None, "user:Analyst"), "user:Analyst@hub-b"),
        # The hub's part is matched by the organisation's key, and written as it is named here.
        ("CERT-SE@HUB-B", ("hub-b", None, "CERT-SE"), "CERT-SE@hub-b"),
        ("user:x@y.se@hub-b", ("hub-b", None, "user:x@y.se"), "user:x@y.se@hub-b"),
        # This hub's name: the local organisation or user.
        ("Svea@hub-a", ("Svea", None, None), "Svea@hub-a"),
        ("user:BOB@hub-a", (None, "bob", None), "user:bob@hub-a"),
        ("svea", ("Svea", None, None), "Svea@hub-a"),
        # '@' followed by no hub known here: the whole text is a local name.
        ("Acme@Work", ("Acme@Work", None, None), "Acme@Work@hub-a"),
        ("user:carol@cert.no", (None, "carol@cert.no", None), "user:carol@cert.no@hub-a"),
        # ... and a local name that reads like a hub's is qualified with this hub.
        ("Acme@Work@hub-a", ("Acme@Work", None, None), "Acme@Work@hub-a"),
    ],
)
def test_a_recipient_is_resolved_here_or_at_a_peer_hub(
    hub: Hub, name: str, row: tuple[str | None, str | None, str | None], qualified: str
) -> None:
    with hub.session() as s:
        coll = _world(s)
        obj = f.indicator(tlp=TLP.RED, recipients=[name])
        result = _ingest(s, coll, obj)
        assert not result.failures, result.failures
        assert _rows(s, obj["id"]) == {row}
        assert _provenance(s, obj["id"])["recipients"] == [qualified]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("CERT-SE@nohub", "no hub 'nohub' is known here"),
        # An organisation that is not of kind hub is no hub.
        ("CERT-SE@Svea", "no hub 'Svea' is known here"),
        ("user:@hub-b", "at hub 'hub-b', name an organisation"),
        ("x" * 201 + "@hub-b", "at most 200 characters"),
        ("Nobody@hub-a", "unknown recipient 'Nobody@hub-a'"),
    ],
)
@pytest.mark.parametrize("level", [TLP.RED, TLP.AMBER_STRICT])
def test_a_recipient_nobody_can_be_refuses_the_object(
    hub: Hub, name: str, reason: str, level: TLP
) -> None:
    with hub.session() as s:
        coll = _world(s)
        bad = f.indicator(tlp=level, recipients=["Svea", name])
        good = f.indicator(tlp=level, recipients=["Svea"])
        result = _ingest(s, coll, bad, good)
        assert [d.id for d in result.failures] == [bad["id"]]
        message = result.failures[0].message or ""
        assert "unknown recipient" in message and reason in message, message
        stored = set(s.execute(select(StixObject.stix_id)).scalars())
        assert bad["id"] not in stored and good["id"] in stored


def test_amber_strict_takes_recipients_from_the_envelope_or_none(hub: Hub) -> None:
    with hub.session() as s:
        coll = _world(s)
        own = f.indicator(tlp=TLP.AMBER_STRICT, recipients=["CERT-SE@hub-b"])
        inherits = f.indicator(tlp=TLP.AMBER_STRICT)
        opts_out = f.indicator(tlp=TLP.AMBER_STRICT, recipients=[])
        green = f.indicator(tlp=TLP.GREEN)
        result = _ingest(s, coll, own, inherits, opts_out, green, recipients=["Svea"])
        assert not result.failures, result.failures
        assert _rows(s, own["id"]) == {("hub-b", None, "CERT-SE")}
        assert _rows(s, inherits["id"]) == {("Svea", None, None)}
        assert _rows(s, opts_out["id"]) == set()
        assert _rows(s, green["id"]) == set()  # only RED and AMBER+STRICT name recipients
        assert _provenance(s, inherits["id"])["recipients"] == ["Svea@hub-a"]
        assert _provenance(s, opts_out["id"])["recipients"] == []


def test_amber_strict_without_recipients_is_stored_and_red_without_is_refused(hub: Hub) -> None:
    with hub.session() as s:
        coll = _world(s)
        strict = f.indicator(tlp=TLP.AMBER_STRICT)
        red = f.indicator(tlp=TLP.RED)
        result = _ingest(s, coll, strict, red)
        assert [d.id for d in result.failures] == [red["id"]]
        assert "must name its recipients" in (result.failures[0].message or "")


def test_the_seal_of_a_share_covers_its_qualified_recipients(hub: Hub) -> None:
    with hub.session() as s:
        coll = _world(s)
        red = f.indicator(tlp=TLP.RED, recipients=["user:bob", "CERT-SE@hub-b", "user:eve@hub-b"])
        strict = f.indicator(tlp=TLP.AMBER_STRICT, recipients=["Svea"])
        plain = f.indicator(tlp=TLP.GREEN)
        result = _ingest(s, coll, red, strict, plain)
        assert not result.failures, result.failures
        doc = _provenance(s, red["id"])
        assert doc == {
            "class": None,
            "origin": "hub-a",
            "producer": "Fjordnett",
            "recipients": ["CERT-SE@hub-b", "user:bob@hub-a", "user:eve@hub-b"],
            "tlp": "red",
        }
        rows = s.execute(
            select(StixObject.seal_id, StixObject.provenance, StixObject.raw, StixObject.origin_hub)
        ).all()
        assert len({r.seal_id for r in rows}) == 1  # one seal per share
        assert {r.origin_hub for r in rows} == {None}  # first stored here
        stored = s.get(Seal, rows[0].seal_id)
        assert stored is not None
        signed = sealing.Seal(stored.id, stored.origin_hub, stored.manifest, stored.signature)
        settings = config.current()
        public = keys.current(settings.data_dir, settings.hub_name).private.public_key()
        assert sealing.verify_seal(signed, public)
        for row in rows:
            assert sealing.digest(row.provenance, row.raw) in signed.digests
        # The digest covers the provenance: another recipient list is not in the seal.
        forged = json.loads(rows[0].provenance)
        forged["recipients"] = ["CERT-SE@hub-c"]
        text = sealing.provenance(
            origin=forged["origin"],
            producer=forged["producer"],
            tlp=forged["tlp"],
            recipients=forged["recipients"],
            classification=forged["class"],
        )
        assert sealing.digest(text, rows[0].raw) not in signed.digests


def test_the_rest_share_names_recipients_at_a_peer_hub(hub: Hub) -> None:
    with hub.session() as s:
        coll = _world(s)
        token = f.token(s, "alice")
        s.commit()
    red = f.indicator(tlp=TLP.RED)
    with TestClient(hub.app) as client:
        response = client.post(
            f"/api/v1/collections/{coll.id}/share",
            json={"objects": [red], "recipients": ["CERT-SE@hub-b"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == []
        refused = client.post(
            f"/api/v1/collections/{coll.id}/share",
            json={"objects": [f.indicator(tlp=TLP.RED)], "recipients": ["CERT-SE@nohub"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert "no hub 'nohub'" in refused.json()["rejected"][0]["message"]
    with hub.session() as s:
        assert _rows(s, red["id"]) == {("hub-b", None, "CERT-SE")}
