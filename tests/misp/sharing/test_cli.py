"""``varsel misp set-collection``, ``sharing-group``, ``distribution`` as operators run them."""

from __future__ import annotations

from sqlalchemy import select

from tests import factories as f
from tests.cli.test_cli import run
from tests.conftest import Hub
from varsel.audit.models import AuditEvent
from varsel.misp import service
from varsel.sharing.tlp import TLP

GROUP = "0b6f0f3e-7d1c-4f6a-9c2e-1a2b3c4d5e6f"


def test_the_operator_maps_misp_from_the_command_line(hub: Hub) -> None:
    with hub.session() as s:
        f.org(s, "Fjordnett AS", "NO")
        f.org(s, "Svea Moln AB", "SE")
        f.org(s, "Outsider", "FI")
        f.community(s, "Nordic", ["Fjordnett AS", "Svea Moln AB"])
        events = f.collection(s, "MISP events", "Nordic")
        events_id = events.id
        s.commit()

    landed = run(hub, "misp", "set-collection", "Fjordnett AS", "MISP events")
    assert landed.returncode == 0, landed.stderr
    assert events_id in landed.stdout
    by_id = run(hub, "misp", "set-collection", "Svea Moln AB", events_id)
    assert by_id.returncode == 0, by_id.stderr
    refused = run(hub, "misp", "set-collection", "Outsider", "MISP events")
    assert refused.returncode == 1
    assert "may not write" in refused.stderr

    grouped = run(
        hub,
        "misp",
        "sharing-group",
        "set",
        GROUP,
        "--name",
        "Nordic energy",
        "--recipient",
        "Fjordnett AS",
        "--recipient",
        "Outsider",
    )
    assert grouped.returncode == 0, grouped.stderr
    unknown = run(
        hub, "misp", "sharing-group", "set", GROUP, "--name", "x", "--recipient", "Nobody"
    )
    assert unknown.returncode == 1 and "Nobody" in unknown.stderr
    listed = run(hub, "misp", "sharing-group", "list")
    assert GROUP in listed.stdout and "Outsider" in listed.stdout

    narrowed = run(hub, "misp", "distribution", "set", "3", "green")
    assert narrowed.returncode == 0, narrowed.stderr
    broader = run(hub, "misp", "distribution", "set", "1", "clear")
    assert broader.returncode == 1 and "broader" in broader.stderr
    ceilings = run(hub, "misp", "distribution", "list")
    assert "TLP:GREEN" in ceilings.stdout

    whole = run(hub, "misp", "mapping")
    assert whole.returncode == 0, whole.stderr
    assert "MISP events" in whole.stdout and "Nordic energy" in whole.stdout

    removed = run(hub, "misp", "sharing-group", "remove", GROUP)
    assert removed.returncode == 0, removed.stderr

    with hub.session() as s:
        org_ids = {
            name: service.orgs.get_org(session=s, name=name).id
            for name in ("Fjordnett AS", "Svea Moln AB", "Outsider")
        }
        assert {
            name: (c.id if (c := service.collection_for(s, oid)) else None)
            for name, oid in org_ids.items()
        } == {"Fjordnett AS": events_id, "Svea Moln AB": events_id, "Outsider": None}
        mapping = service.mapping_of(s)
        assert mapping.groups == {}
        assert mapping.ceilings[3] is TLP.GREEN and mapping.ceilings[1] is TLP.GREEN
        actions = [
            a
            for (a,) in s.execute(
                select(AuditEvent.action)
                .where(AuditEvent.action.like("misp.%"))
                .order_by(AuditEvent.id)
            )
        ]
        assert actions == [
            "misp.collection.set",
            "misp.collection.set",
            "misp.sharing_group.set",
            "misp.distribution.set",
            "misp.sharing_group.remove",
        ]
