"""A stored object always names a collection, organisation and user that exist, on both databases.

SQLite enforces this with its foreign keys; PostgreSQL with statement-level triggers (migration
0007), which must keep the same rules: a row naming a missing parent is refused whichever way it
is written, deleting a collection deletes its objects, and an organisation or user that objects
name can be neither deleted nor re-keyed, also while a concurrent share has not committed yet,
nor can the parent tables be emptied under the objects.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tests import factories as f
from tests.conftest import Hub
from varsel.db import make_engine, make_sessionmaker
from varsel.errors import Busy
from varsel.orgs.models import Organisation, User
from varsel.sharing import ingest as ingesting
from varsel.sharing.ingest._store import _COPY_COLUMNS, _insert_rows
from varsel.sharing.models import Collection, IngestStatus, Recipient, StixObject
from varsel.sharing.tlp import TLP


def _seed(hub: Hub) -> dict[str, Any]:
    """A shared envelope (one TLP:RED object), plus an organisation and a user nothing names."""
    with hub.session() as s:
        f.org(s, "Fjordnett")
        f.org(s, "Svea", "SE")
        f.org(s, "Idle", "FI")  # no users, no communities
        f.user(s, "alice", "Fjordnett", password=None)
        f.user(s, "spare", "Svea", password=None)  # no tokens, shares nothing
        f.community(s, "Nordic", ["Fjordnett", "Svea"])
        coll = f.collection(s, "Indicators", "Nordic")
        red = f.indicator(tlp=TLP.RED, recipients=["Svea"], value="198.51.100.9")
        result = ingesting.ingest(
            session=s,
            collection=coll,
            principal=f.principal(s, "alice"),
            body=f.envelope(f.indicator(), red),
        )
        assert not result.failures
        s.commit()
        return {
            "collection": coll.id,
            "org": f.principal(s, "alice").org_id,
            "user": f.principal(s, "alice").user_id,
            "idle_org": s.execute(
                select(Organisation.id).where(Organisation.name == "Idle")
            ).scalar_one(),
            "spare_user": f.principal(s, "spare").user_id,
        }


def _row(ids: dict[str, Any], **override: Any) -> list[Any]:
    values = {
        "collection_id": ids["collection"],
        "stix_id": f.stix_id(),
        "type": "indicator",
        "spec_version": "2.1",
        "version": "2026-01-01T00:00:00.000Z",
        "version_key": "2026-01-01T00:00:00.000000Z",
        "date_added_us": 10**15,
        "is_latest": True,
        "is_first": True,
        "tlp": "TLP:GREEN",
        "producer_org_id": ids["org"],
        "shared_by_user_id": ids["user"],
        "name": None,
        "revoked": False,
        "raw": "{}",
        "class_country": None,
        "class_grade": None,
        "class_level": None,
        "origin_hub": None,
        "seal_id": None,
        "provenance": None,
        **override,
    }
    return [values[column] for column in _COPY_COLUMNS]


def _count(s: Session) -> int:
    return int(s.execute(select(func.count()).select_from(StixObject)).scalar_one())


@pytest.mark.parametrize(
    "override",
    [
        {"collection_id": "no-such-collection"},
        {"producer_org_id": 10**9},
        {"shared_by_user_id": 10**9},
    ],
    ids=["collection", "organisation", "user"],
)
@pytest.mark.parametrize("path", ["bulk", "single"])
def test_a_row_naming_a_missing_parent_is_refused(
    hub: Hub, override: dict[str, Any], path: str
) -> None:
    ids = _seed(hub)
    with hub.session() as s:
        before = _count(s)
        good, bad = _row(ids), _row(ids, **override)
        with pytest.raises(IntegrityError):
            if path == "bulk":  # COPY on PostgreSQL, executemany on SQLite: the ingest's path
                _insert_rows(s, [good, bad, _row(ids)])
            else:
                s.execute(insert(StixObject).values(dict(zip(_COPY_COLUMNS, bad, strict=True))))
            s.flush()
        s.rollback()
        assert _count(s) == before
        # A row whose user is unknown is refused, one with no user at all is not.
        _insert_rows(s, [_row(ids, shared_by_user_id=None)])
        assert _count(s) == before + 1


def test_an_update_to_a_missing_parent_is_refused(hub: Hub) -> None:
    _seed(hub)
    with hub.session() as s, pytest.raises(IntegrityError):
        s.execute(update(StixObject).values(producer_org_id=10**9))
        s.flush()


def test_deleting_a_collection_deletes_its_objects_and_their_recipients(hub: Hub) -> None:
    ids = _seed(hub)
    with hub.session() as s:
        assert _count(s) == 2 and s.execute(select(func.count(Recipient.id))).scalar_one() == 1
        s.execute(delete(Collection).where(Collection.id == ids["collection"]))
        s.commit()
        assert _count(s) == 0
        assert s.execute(select(func.count(Recipient.id))).scalar_one() == 0


@pytest.mark.parametrize("parent", ["organisation", "user"])
def test_a_named_parent_can_be_neither_deleted_nor_rekeyed(hub: Hub, parent: str) -> None:
    ids = _seed(hub)
    if parent == "organisation":
        model: type[Organisation] | type[User] = Organisation
        pk, naming = ids["idle_org"], _row(ids, producer_org_id=ids["idle_org"])
    else:
        model = User
        pk, naming = ids["spare_user"], _row(ids, shared_by_user_id=ids["spare_user"])
    with hub.session() as s:
        _insert_rows(s, [naming])
        s.commit()
        for statement in (
            delete(model).where(model.id == pk),
            update(model).where(model.id == pk).values(id=10**9),
        ):
            with pytest.raises(IntegrityError):
                s.execute(statement)
                s.flush()
            s.rollback()
        # Once no object names it, it goes: the row was all that held it.
        s.execute(delete(StixObject).where(StixObject.stix_id == naming[1]))
        s.execute(delete(model).where(model.id == pk))
        s.commit()
        assert s.get(model, pk) is None


def test_a_collection_that_objects_name_cannot_be_rekeyed(hub: Hub) -> None:
    ids = _seed(hub)
    with hub.session() as s:
        # The statuses name the collection too; without them only the objects hold it.
        s.execute(delete(IngestStatus))
        with pytest.raises(IntegrityError):
            s.execute(
                update(Collection).where(Collection.id == ids["collection"]).values(id="moved")
            )
            s.flush()


def test_a_share_in_flight_holds_its_parents(hub: Hub) -> None:
    """Until a share commits, nobody can delete the organisation its rows name (PostgreSQL: the
    key-share lock the check takes; SQLite: the database's write lock, taken at BEGIN); the
    one who waits in vain gets Busy; afterwards the share's rows refuse the delete."""
    ids = _seed(hub)
    sqlite = hub.backend == "sqlite"
    # A short busy timeout for the other writer (varsel.db reads it from the URL).
    other_engine = make_engine(f"{hub.settings.database_url}?timeout=0.2") if sqlite else hub.engine
    writer, other = hub.session(), make_sessionmaker(other_engine)()
    try:
        _insert_rows(writer, [_row(ids, producer_org_id=ids["idle_org"])])
        writer.flush()
        with pytest.raises(Busy):
            if not sqlite:
                other.execute(text("SET LOCAL lock_timeout = '200ms'"))
            other.execute(delete(Organisation).where(Organisation.id == ids["idle_org"]))
            other.flush()
        other.rollback()
        writer.commit()
        with pytest.raises(IntegrityError):
            other.execute(delete(Organisation).where(Organisation.id == ids["idle_org"]))
            other.flush()
        other.rollback()
    finally:
        writer.close()
        other.close()
        if sqlite:
            other_engine.dispose()


def test_the_parents_cannot_be_emptied_under_the_objects(hub: Hub) -> None:
    """PostgreSQL refuses TRUNCATE of a parent table (CASCADE or not) while objects exist;
    SQLite has no TRUNCATE, and its DELETE of every organisation fails on the foreign key."""
    _seed(hub)
    statements = (
        ["DELETE FROM organisations"]
        if hub.backend == "sqlite"
        else [f"TRUNCATE {t} CASCADE" for t in ("collections", "organisations", "users")]
    )
    for statement in statements:
        with hub.session() as s:
            with pytest.raises(IntegrityError):
                s.execute(text(statement))
            s.rollback()
            assert _count(s) == 2
