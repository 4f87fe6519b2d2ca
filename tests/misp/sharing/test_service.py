"""Who may change the MISP mapping, what is refused, and the audit rows each change leaves."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests import factories as f
from tests.conftest import Hub
from varsel.audit.models import AuditEvent
from varsel.errors import Forbidden, InvalidInput, NotFound
from varsel.misp import service
from varsel.misp.sharing import DEFAULT_CEILINGS
from varsel.orgs.models import TokenScope
from varsel.policy.principal import local_operator
from varsel.sharing.tlp import TLP

GROUP = "0b6f0f3e-7d1c-4f6a-9c2e-1a2b3c4d5e6f"


def _world(s: Session) -> None:
    for name in ("Fjordnett", "Svea", "Outsider", "Hubco"):
        f.org(s, name, "NO")
    f.user(s, "admin-fj", "Fjordnett", role="org-admin", password=None)
    f.user(s, "analyst-fj", "Fjordnett", password=None)
    f.user(s, "admin-sv", "Svea", role="org-admin", password=None)
    f.user(s, "admin-out", "Outsider", role="org-admin", password=None)
    f.user(s, "root", "Hubco", role="hub-admin", password=None)
    f.community(s, "Nordic", ["Fjordnett", "Svea"])
    f.community(s, "Closed", ["Outsider"])
    f.collection(s, "Events", "Nordic")
    f.collection(s, "Read only", "Nordic", write_roles="hub-admin")
    f.collection(s, "Elsewhere", "Closed")
    s.commit()


def _audit(s: Session, action: str) -> list[tuple[str, str]]:
    rows = s.execute(
        select(AuditEvent.actor, AuditEvent.target)
        .where(AuditEvent.action == action)
        .order_by(AuditEvent.id)  # in the order written: no order is no order on PostgreSQL
    ).all()
    return [(actor, target) for actor, target in rows]


def test_an_org_admin_sets_its_own_organisations_collection(hub: Hub) -> None:
    with hub.session() as s:
        _world(s)
        fj = f.principal(s, "admin-fj")
        chosen = service.set_collection(
            session=s, principal=fj, org="Fjordnett", collection="Events"
        )
        s.commit()
        assert chosen.title == "Events"
        found = service.collection_for(s, fj.org_id)
        assert found is not None and found.id == chosen.id
        assert _audit(s, "misp.collection.set") == [("admin-fj@Fjordnett", "Fjordnett")]
        # By id too, and a second change replaces the first.
        service.set_collection(session=s, principal=fj, org="Fjordnett", collection=chosen.id)
        s.commit()
        assert len(_audit(s, "misp.collection.set")) == 2


def test_nobody_else_below_hub_admin_sets_an_organisations_collection(hub: Hub) -> None:
    with hub.session() as s:
        _world(s)
        for username in ("admin-sv", "analyst-fj"):
            with pytest.raises(Forbidden, match="org-admin"):
                service.set_collection(
                    session=s,
                    principal=f.principal(s, username),
                    org="Fjordnett",
                    collection="Events",
                )
        read_only = dataclasses.replace(f.principal(s, "admin-fj"), scope=TokenScope.READ)
        with pytest.raises(Forbidden, match="read-only"):
            service.set_collection(
                session=s, principal=read_only, org="Fjordnett", collection="Events"
            )
        assert service.collection_for(s, f.principal(s, "admin-fj").org_id) is None
        assert _audit(s, "misp.collection.set") == []


def test_a_hub_admin_and_the_operator_set_any_organisations_collection(hub: Hub) -> None:
    with hub.session() as s:
        _world(s)
        service.set_collection(
            session=s, principal=f.principal(s, "root"), org="Svea", collection="Events"
        )
        service.set_collection(
            session=s, principal=local_operator(), org="Outsider", collection="Elsewhere"
        )
        s.commit()
        landing = service.org_collections(session=s, principal=f.principal(s, "root"))
        assert [(r.org, r.collection_title) for r in landing] == [
            ("Outsider", "Elsewhere"),
            ("Svea", "Events"),
        ]
        # An org-admin sees its own organisation's only.
        mine = service.org_collections(session=s, principal=f.principal(s, "admin-sv"))
        assert [r.org for r in mine] == ["Svea"]


def test_only_a_collection_the_organisation_may_write_to(hub: Hub) -> None:
    with hub.session() as s:
        _world(s)
        # Not a member of the collection's community: refused even to the operator.
        for principal in (local_operator(), f.principal(s, "root")):
            with pytest.raises(Forbidden, match="may not write") as refused:
                service.set_collection(
                    session=s, principal=principal, org="Outsider", collection="Events"
                )
            assert refused.value.field == "collection"
        # A member, but the collection's write rights admit none of its users' roles.
        with pytest.raises(Forbidden, match="may not write"):
            service.set_collection(
                session=s, principal=local_operator(), org="Fjordnett", collection="Read only"
            )
        # An org-admin cannot even name a collection of an unlisted community it is not in.
        with pytest.raises(NotFound):
            service.set_collection(
                session=s,
                principal=f.principal(s, "admin-fj"),
                org="Fjordnett",
                collection="Elsewhere",
            )
        offered = service.writable_collections(
            session=s, principal=f.principal(s, "admin-fj"), org="Fjordnett"
        )
        assert [c.title for c in offered] == ["Events"]
        assert _audit(s, "misp.collection.set") == []


def test_sharing_groups_are_the_hub_admins(hub: Hub) -> None:
    with hub.session() as s:
        _world(s)
        for username in ("admin-fj", "analyst-fj"):
            with pytest.raises(Forbidden, match="hub-admin"):
                service.set_sharing_group(
                    session=s,
                    principal=f.principal(s, username),
                    uuid=GROUP,
                    name="Nordic energy",
                    recipients=["Fjordnett"],
                )
        group = service.set_sharing_group(
            session=s,
            principal=f.principal(s, "root"),
            uuid=GROUP.upper(),
            name="Nordic energy",
            recipients=["svea", "Fjordnett"],
        )
        s.commit()
        assert group.uuid == GROUP
        assert service.mapping_of(s).groups == {GROUP: ("Fjordnett", "Svea")}
        # Setting again replaces the organisations.
        service.set_sharing_group(
            session=s,
            principal=local_operator(),
            uuid=GROUP,
            name="Nordic energy",
            recipients=["Outsider"],
        )
        s.commit()
        assert service.mapping_of(s).groups == {GROUP: ("Outsider",)}
        with pytest.raises(Forbidden):
            service.remove_sharing_group(
                session=s, principal=f.principal(s, "admin-fj"), uuid=GROUP
            )
        service.remove_sharing_group(session=s, principal=f.principal(s, "root"), uuid=GROUP)
        s.commit()
        assert service.mapping_of(s).groups == {}
        assert service.sharing_groups(session=s) == []
        assert [a for a, _ in _audit(s, "misp.sharing_group.set")] == [
            "root@Hubco",
            local_operator().label,
        ]
        assert _audit(s, "misp.sharing_group.remove") == [("root@Hubco", GROUP)]


def test_bad_sharing_groups_are_refused_with_the_field(hub: Hub) -> None:
    with hub.session() as s:
        _world(s)
        root = f.principal(s, "root")
        cases = [
            ({"uuid": "not-a-uuid", "name": "x", "recipients": ["Svea"]}, InvalidInput, "uuid"),
            ({"uuid": GROUP, "name": " ", "recipients": ["Svea"]}, InvalidInput, "name"),
            ({"uuid": GROUP, "name": "x", "recipients": [" "]}, InvalidInput, "recipients"),
            ({"uuid": GROUP, "name": "x", "recipients": ["Nobody"]}, NotFound, "recipients"),
        ]
        for kwargs, error, field in cases:
            with pytest.raises(error) as refused:
                service.set_sharing_group(session=s, principal=root, **kwargs)  # type: ignore[arg-type]
            assert refused.value.field == field
        with pytest.raises(NotFound):
            service.remove_sharing_group(session=s, principal=root, uuid=GROUP)
        assert service.sharing_groups(session=s) == []
        assert _audit(s, "misp.sharing_group.set") == []


def test_ceilings_only_narrow_and_are_the_hub_admins(hub: Hub) -> None:
    with hub.session() as s:
        _world(s)
        assert service.mapping_of(s).ceilings == DEFAULT_CEILINGS
        root = f.principal(s, "root")
        with pytest.raises(Forbidden, match="hub-admin"):
            service.set_ceiling(
                session=s, principal=f.principal(s, "admin-fj"), distribution=3, level="green"
            )
        for distribution, level in ((1, "clear"), (2, "clear"), (0, "amber")):
            with pytest.raises(Forbidden, match="broader") as refused:
                service.set_ceiling(
                    session=s, principal=local_operator(), distribution=distribution, level=level
                )
            assert refused.value.field == "level"
        for distribution in ("4", "x", "-1"):
            with pytest.raises(InvalidInput) as bad:
                service.set_ceiling(
                    session=s, principal=root, distribution=distribution, level="red"
                )
            assert bad.value.field == "distribution"
        with pytest.raises(InvalidInput) as bad:
            service.set_ceiling(session=s, principal=root, distribution=3, level="purple")
        assert bad.value.field == "level"
        assert service.set_ceiling(session=s, principal=root, distribution=3, level="amber") is (
            TLP.AMBER
        )
        service.set_ceiling(session=s, principal=root, distribution="2", level="TLP:RED")
        s.commit()
        assert service.mapping_of(s).ceilings == {
            0: TLP.RED,
            1: TLP.GREEN,
            2: TLP.RED,
            3: TLP.AMBER,
        }
        assert _audit(s, "misp.distribution.set") == [("root@Hubco", "3"), ("root@Hubco", "2")]
