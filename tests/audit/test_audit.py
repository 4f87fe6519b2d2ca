"""The audit log: sensitive acts land in it, and any tampering breaks the chain."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update

from tests import factories as f
from tests.conftest import Hub
from varsel.audit import service as audit
from varsel.audit.models import AuditEvent
from varsel.sharing import ingest as ingesting
from varsel.sharing import query as querying
from varsel.sharing.tlp import TLP


def _seed(hub: Hub) -> str:
    with hub.session() as s:
        f.org(s, "Fjordnett")
        f.org(s, "Svea", "SE")
        f.user(s, "alice", "Fjordnett", password=None)
        f.user(s, "bob", "Svea", password=None)
        f.community(s, "Nordic", ["Fjordnett", "Svea"])
        coll = f.collection(s, "Indicators", "Nordic")
        f.token(s, "alice")
        red = f.indicator(tlp=TLP.RED, recipients=["Svea"])
        ingesting.ingest(
            session=s, collection=coll, principal=f.principal(s, "alice"), body=f.envelope(red)
        )
        querying.page(
            session=s,
            collection_id=coll.id,
            principal=f.principal(s, "bob"),
            filters=querying.Filters(),
            limit=10,
            next_cursor=None,
            secret_key="k",
        )
        s.commit()
        return str(red["id"])


def test_sensitive_acts_are_recorded_and_the_chain_verifies(hub: Hub) -> None:
    red_id = _seed(hub)
    with hub.session() as s:
        actions = [
            e.action for e in s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()
        ]
        report = audit.verify(session=s)
        reads = (
            s.execute(select(AuditEvent).where(AuditEvent.action == "objects.read.red"))
            .scalars()
            .all()
        )
    for action in [
        "org.create",
        "user.create",
        "community.create",
        "community.member.add",
        "collection.create",
        "token.create",
        "objects.share",
        "objects.read.red",
    ]:
        assert action in actions
    assert report.ok and report.events == len(actions)
    assert len(reads) == 1 and red_id in reads[0].details and reads[0].actor == "bob@Svea"


@pytest.mark.parametrize("tamper", ["edit", "delete-middle", "delete-last", "reorder"])
def test_tampering_is_detected(hub: Hub, tamper: str) -> None:
    _seed(hub)
    with hub.session() as s:
        ids = list(s.execute(select(AuditEvent.id).order_by(AuditEvent.id)).scalars())
        if tamper == "edit":
            s.execute(update(AuditEvent).where(AuditEvent.id == ids[2]).values(actor="mallory"))
        elif tamper == "delete-middle":
            s.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[3]})
        elif tamper == "delete-last":
            s.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[-1]})
        else:
            a, b = (s.get(AuditEvent, ids[1]), s.get(AuditEvent, ids[2]))
            assert a is not None and b is not None
            a.details, b.details = b.details, a.details
        s.commit()
        report = audit.verify(session=s)
    assert not report.ok
    assert report.problem
