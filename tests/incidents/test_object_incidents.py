"""The incidents an object page shows (those I may read) and offers to link (read and change)."""

from __future__ import annotations

from tests import factories as f
from tests.conftest import Hub
from tests.incidents.conftest import World
from varsel.incidents import flows, service
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.tlp import TLP


def test_linked_and_linkable_incidents_follow_read_and_write(hub: Hub, world: World) -> None:
    with hub.session() as s:
        f.community(s, "Nordic", ["Pilvi Oy", "Svea Moln AB"])
        coll = f.collection(s, "Shared", "Nordic", default_tlp="green")
        s.commit()
        lead, partner = f.principal(s, "lead"), f.principal(s, "partner")
        admin, outsider = f.principal(s, "admin"), f.principal(s, "outsider")
        obj = f.indicator(tlp=TLP.CLEAR, value="192.0.2.5")
        ingesting.ingest(
            session=s,
            collection=sharing.get_collection(session=s, collection_id=coll.id),
            principal=lead,
            body=f.envelope(obj),
        )
        led = service.create(session=s, principal=lead, title="Ours", tlp="red")
        joined = service.create(session=s, principal=partner, title="Theirs", tlp="amber")
        service.add_participant(
            session=s, principal=partner, incident_id=joined.id, role="responder", org="Pilvi Oy"
        )
        other = service.create(session=s, principal=lead, title="Unrelated", tlp="amber")
        s.flush()
        # The lead may change "Ours" and "Unrelated"; "Theirs" only read (a responder).
        ids = [i.id for i in flows.linkable_incidents(session=s, principal=lead, stix_id=obj["id"])]
        assert ids == [other.id, led.id]
        for incident in (led, joined):
            flows.link_object(
                session=s,
                principal=partner if incident is joined else lead,
                incident_id=incident.id,
                stix_id=obj["id"],
                collection_id=coll.id,
            )
        s.flush()
        linked = flows.linked_incidents(session=s, principal=lead, stix_id=obj["id"])
        assert [i.title for i in linked] == ["Theirs", "Ours"]
        assert [
            i.id for i in flows.linkable_incidents(session=s, principal=lead, stix_id=obj["id"])
        ] == [other.id]
        # The partner does not take part in "Ours" (TLP:RED): neither shown nor offered.
        assert [
            i.title for i in flows.linked_incidents(session=s, principal=partner, stix_id=obj["id"])
        ] == ["Theirs"]
        # A hub-admin may change incidents it may not read; none is offered by its title.
        assert service.readable(session=s, principal=admin, incident_id=other.id) is False
        assert flows.linkable_incidents(session=s, principal=admin, stix_id=obj["id"]) == []
        assert flows.linked_incidents(session=s, principal=outsider, stix_id=obj["id"]) == []
