"""Versions belong to their producer; SCOs are kept per producer; no existence oracle at ingest.

Issue 12, items 8 and 12, through the paths users take: TAXII, REST share, the web upload and
the CLI (``varsel share`` and ``varsel org identity``), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select, text

from tests import factories as f
from tests import pg
from tests.conftest import SECRET, Hub
from tests.factories import TAXII
from tests.sharing.conftest import World
from tests.web.conftest import post_form, sign_in
from varsel import migrate
from varsel.audit.models import AuditEvent
from varsel.clearances import rules
from varsel.db import make_engine, make_sessionmaker
from varsel.sharing import ingest
from varsel.sharing.ingest.marking import marking_definition
from varsel.sharing.models import Collection, ObjectProducer, StixObject
from varsel.sharing.tlp import TLP
from varsel.sharing.tlp import marking_definition as tlp_definition

NOT_YOURS = "only the organisation that produced an object may add versions of it"
# STIX 2.1 §2.9: SCO ids are UUIDv5 of their id-contributing properties in this namespace.
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
V_OLD, V_NEW = "2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"


def _headers(world: World, who: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {world.tokens[who]}",
        "Accept": TAXII,
        "Content-Type": TAXII,
    }


def _taxii_add(client: TestClient, world: World, who: str, *objects: Any, **props: Any) -> Any:
    response = client.post(
        f"/taxii2/hub/collections/{world.collection_id}/objects/",
        content=f.envelope(*objects, **props),
        headers=_headers(world, who),
    )
    assert response.status_code == 202, response.text
    return response.json()


def _taxii_versions(
    client: TestClient, world: World, who: str, oid: str
) -> list[dict[str, Any]] | None:
    """Return every version of ``oid`` the user reads over TAXII, or None on 404."""
    response = client.get(
        f"/taxii2/hub/collections/{world.collection_id}/objects/{oid}/",
        params={"match[version]": "all"},
        headers=_headers(world, who),
    )
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return list(response.json().get("objects", []))


def _rest_share(
    client: TestClient, world: World, who: str, *objects: Any, **extra: Any
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/collections/{world.collection_id}/share",
        json={"objects": list(objects), **extra},
        headers={"Authorization": f"Bearer {world.tokens[who]}"},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _varsel(hub: Hub, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "VARSEL_DATABASE_URL": hub.settings.database_url,
        "VARSEL_SECRET_KEY": SECRET,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "varsel", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _ipv4(value: str, **extra: Any) -> dict[str, Any]:
    oid = uuid.uuid5(SCO_NAMESPACE, json.dumps({"value": value}))
    return {"type": "ipv4-addr", "spec_version": "2.1", "id": f"ipv4-addr--{oid}", "value": value}


def test_another_org_cannot_version_an_object_over_taxii_the_innocent_are_stored(
    hub: Hub, world: World
) -> None:
    original = f.indicator(name="Fjordnett's finding")
    forged = {**original, "modified": "2026-06-01T00:00:00.000Z", "name": "forged"}
    innocent = f.indicator(value="192.0.2.9")
    with TestClient(hub.app) as client:
        assert _taxii_add(client, world, "alice", original)["success_count"] == 1
        status = _taxii_add(client, world, "bob", forged, innocent)
        assert status["success_count"] == 1
        assert [s["id"] for s in status["successes"]] == [innocent["id"]]
        [failure] = status["failures"]
        assert failure["id"] == original["id"]
        assert NOT_YOURS in failure["message"]
        for reader in ("alice", "bob"):
            versions = _taxii_versions(client, world, reader, original["id"])
            assert [v["name"] for v in versions or []] == ["Fjordnett's finding"]
        assert _taxii_versions(client, world, "alice", innocent["id"])
    with hub.session() as s:
        event = s.execute(
            select(AuditEvent)
            .where(AuditEvent.action == "objects.share")
            .order_by(AuditEvent.id.desc())
        ).scalars()
        details = json.loads(next(iter(event)).details)
        assert details["others_ids"] == [original["id"]]


def test_a_red_version_cannot_hide_the_original_and_the_producer_still_deletes_it(
    hub: Hub, world: World
) -> None:
    original = f.indicator()
    hiding = {
        **original,
        "modified": "2026-06-01T00:00:00.000Z",
        "object_marking_refs": [TLP.RED.stix_id],
        "x_varsel_recipients": ["Svea"],
    }
    with TestClient(hub.app) as client:
        assert not _rest_share(client, world, "alice", original)["rejected"]
        answer = _rest_share(client, world, "bob", hiding)
        assert not answer["accepted"]
        assert NOT_YOURS in answer["rejected"][0]["message"]
        seen = client.get(
            f"/api/v1/objects/{original['id']}",
            headers={"Authorization": f"Bearer {world.tokens['bob']}"},
        )
        assert seen.status_code == 200
        assert [v["tlp"] for v in seen.json()["versions"]] == ["amber"]
        deleted = client.delete(
            f"/taxii2/hub/collections/{world.collection_id}/objects/{original['id']}/",
            headers=_headers(world, "alice"),
        )
        assert deleted.status_code == 200, deleted.text
        # The id stays Fjordnett's after the deletion: nobody else takes it over.
        again = _rest_share(client, world, "bob", hiding)
        assert NOT_YOURS in again["rejected"][0]["message"]
    with hub.session() as s:
        left = s.scalar(select(func.count()).where(StixObject.stix_id == original["id"]))
        assert left == 0


def test_the_web_upload_and_varsel_share_refuse_another_orgs_version(
    hub: Hub, world: World, tmp_path: Path
) -> None:
    original = f.indicator()
    with TestClient(hub.app) as client:
        assert _taxii_add(client, world, "alice", original)["success_count"] == 1
        sign_in(client, "bob")
        page = post_form(
            client,
            "/share",
            "/share/bundle",
            {
                "collection": world.collection_id,
                "bundle": f.envelope({**original, "modified": "2026-03-01T00:00:00.000Z"}),
            },
        )
        assert NOT_YOURS in page.text  # type: ignore[attr-defined]
    bundle = tmp_path / "bundle.json"
    bundle.write_text(
        json.dumps(
            {
                "type": "bundle",
                "id": f"bundle--{uuid.uuid4()}",
                "objects": [{**original, "modified": "2026-04-01T00:00:00.000Z"}],
            }
        )
    )
    shared = _varsel(hub, "share", str(bundle), "--collection", "indicators", "--as", "bob")
    assert shared.returncode == 3, shared.stderr
    assert "only the organisation" in shared.stderr
    with hub.session() as s:
        assert s.scalar(select(func.count()).where(StixObject.stix_id == original["id"])) == 1


def test_the_refusal_says_the_same_whatever_the_sender_may_read(hub: Hub, world: World) -> None:
    readable = f.indicator()
    hidden = f.indicator(tlp=TLP.RED, recipients=["Fjordnett"], value="203.0.113.77")
    with TestClient(hub.app) as client:
        assert _taxii_add(client, world, "alice", readable, hidden)["success_count"] == 2
        later = "2026-09-01T00:00:00.000Z"
        status = _taxii_add(
            client,
            world,
            "bob",
            {**readable, "modified": later},
            hidden,  # the very version stored: not "already present"
            {**hidden, "modified": later},
            {**readable, "modified": "2025-01-01T00:00:00.000Z", "created": "2025-01-01T00:00:00Z"},
        )
    assert status["success_count"] == 0
    reasons = {o["message"].replace(o["id"], "ID") for o in status["failures"]}
    assert len(reasons) == 1, reasons
    reason = reasons.pop()
    assert NOT_YOURS in reason
    for hint in ("Fjordnett", "TLP", "RED", "amber", "present", "2026"):
        assert hint not in reason


def test_created_by_ref_names_only_an_identity_registered_to_the_sharer(
    hub: Hub, world: World
) -> None:
    identity = f"identity--{uuid.uuid4()}"
    with TestClient(hub.app) as client:
        refused = _taxii_add(client, world, "alice", f.indicator(created_by_ref=identity))
        assert refused["success_count"] == 0
        message = refused["failures"][0]["message"]
        assert "not an identity registered to your organisation (Fjordnett)" in message
        assert "varsel org identity" in message

        registered = _varsel(hub, "org", "identity", "Fjordnett", identity)
        assert registered.returncode == 0, registered.stderr
        assert (
            _taxii_add(client, world, "alice", f.indicator(created_by_ref=identity))[
                "success_count"
            ]
            == 1
        )
        # Svea may not speak as Fjordnett, and cannot register Fjordnett's identity.
        impostor = _taxii_add(client, world, "bob", f.indicator(created_by_ref=identity))
        assert "(Svea)" in impostor["failures"][0]["message"]
        taken = _varsel(hub, "org", "identity", "Svea", identity)
        assert taken.returncode == 1 and "registered to another organisation" in taken.stderr

        removed = _varsel(hub, "org", "identity", "Fjordnett", identity, "--remove")
        assert removed.returncode == 0, removed.stderr
        after = _taxii_add(client, world, "alice", f.indicator(created_by_ref=identity))
        assert after["success_count"] == 0
    bad = _varsel(hub, "org", "identity", "Fjordnett", "identity--NOT-A-UUID")
    assert bad.returncode == 1 and "not a STIX identity id" in bad.stderr
    with hub.session() as s:
        actions = set(s.execute(select(AuditEvent.action)).scalars())
    assert {"org.identity.add", "org.identity.remove"} <= actions


def test_the_hubs_own_definitions_are_shared_by_every_producer(hub: Hub, world: World) -> None:
    level = rules.level("NO", "BEGRENSET")
    definitions = [marking_definition(level), tlp_definition(TLP.AMBER)]
    with TestClient(hub.app) as client:
        for who in ("alice", "bob"):
            status = _taxii_add(client, world, who, *definitions)
            assert status["success_count"] == 2, status["failures"]
            assert all("message" not in o for o in status["successes"])


def test_resending_an_sco_tells_nothing_of_a_hidden_copy(hub: Hub, world: World) -> None:
    secret = _ipv4("203.0.113.5")
    red_copy = {
        **secret,
        "object_marking_refs": [TLP.RED.stix_id],
        "x_varsel_recipients": ["Fjordnett"],
    }
    unknown = _ipv4("203.0.113.6")  # held by nobody
    with TestClient(hub.app) as client:
        assert _taxii_add(client, world, "alice", red_copy)["success_count"] == 1
        first = _taxii_add(client, world, "bob", secret, unknown)
        # Both are new to Svea, whether or not someone else's hidden object holds the value.
        assert first["success_count"] == 2 and first["failure_count"] == 0
        assert [o.get("message") for o in first["successes"]] == [None, None]
        again = _taxii_add(client, world, "bob", secret, unknown)
        assert [o.get("message") for o in again["successes"]] == ["already present"] * 2

        # Each copy says what its producer said: Svea reads its own, never the RED one.
        bobs = _taxii_versions(client, world, "bob", secret["id"])
        assert bobs is not None and ["object_marking_refs" in o for o in bobs] == [False]
        alices = _taxii_versions(client, world, "alice", secret["id"])
        assert alices is not None and len(alices) == 2
        assert any(o.get("object_marking_refs") == [TLP.RED.stix_id] for o in alices)
        # The REST listing shows each producer's copy as its own latest version.
        listing = client.get(
            "/api/v1/objects",
            params={"type": "ipv4-addr"},
            headers={"Authorization": f"Bearer {world.tokens['alice']}"},
        ).json()["objects"]
        assert sorted(o["producer"] for o in listing if o["id"] == secret["id"]) == [
            "Fjordnett",
            "Svea",
        ]


@pytest.fixture(params=["sqlite", "postgresql"])
def old_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """Yield an engine on an empty database of either kind, for migrating by hand."""
    if request.param == "sqlite":
        made = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
        yield made
        made.dispose()
        return
    request.getfixturevalue("pg_available")
    url = pg.create_database()
    made = make_engine(url)
    try:
        yield made
    finally:
        made.dispose()
        pg.drop_database(url)


def test_migration_0009_gives_each_id_its_first_sharer_and_each_producer_its_series(
    old_engine: Engine,
) -> None:
    engine = old_engine
    for head in ("0002", "0005", "0008"):
        migrate.upgrade(engine, head)
    sessions = make_sessionmaker(engine)
    indicator = f.indicator()
    # Plain SQL for the parents: today's models name columns of later revisions (0011).
    with engine.begin() as c:
        for oid, name, key in ((1, "Fjordnett", "fjordnett"), (2, "Svea", "svea")):
            c.execute(
                text(
                    "INSERT INTO organisations (id, name, name_key, country, kind, created_at) "
                    "VALUES (:i, :n, :k, 'NO', 'company', :t)"
                ),
                {"i": oid, "n": name, "k": key, "t": datetime(2026, 1, 1)},
            )
            c.execute(
                text(
                    "INSERT INTO users (id, username, username_key, org_id, role, created_at) "
                    "VALUES (:i, :n, :n, :i, 'analyst', :t)"
                ),
                {"i": oid, "n": ["alice", "bob"][oid - 1], "t": datetime(2026, 1, 1)},
            )
        c.execute(
            text(
                "INSERT INTO communities (id, name, description, created_at) "
                "VALUES (1, 'Nordic', '', :t)"
            ),
            {"t": datetime(2026, 1, 1)},
        )
        c.execute(text("INSERT INTO community_members VALUES (1, 1), (1, 2)"))
        c.execute(
            text(
                "INSERT INTO collections (id, title, description, community_id, default_tlp, "
                "read_roles, write_roles, last_added_us, created_at) VALUES "
                "('00000000-0000-4000-8000-000000000009', 'Old', '', 1, 'amber', 'analyst', "
                "'analyst', 0, :t)"
            ),
            {"t": datetime(2026, 1, 1)},
        )
    with sessions() as s:
        coll = s.get(Collection, "00000000-0000-4000-8000-000000000009")
        assert coll is not None
        alice = SimpleNamespace(org_id=1, user_id=1)
        bob = SimpleNamespace(org_id=2, user_id=2)
        sco = _ipv4("198.51.100.1")
        # As the old ingest stored a forgery: Svea's newer version demoted Fjordnett's.
        for n, (who, obj, version, latest) in enumerate(
            [
                (alice, indicator, V_OLD, False),
                (bob, {**indicator, "modified": V_NEW}, V_NEW, True),
                (bob, sco, "", True),
            ]
        ):
            # A Core insert names only these columns: the ORM would name later ones (0014).
            s.execute(
                insert(StixObject.__table__).values(
                    collection_id=coll.id,
                    stix_id=obj["id"],
                    type=obj["type"],
                    spec_version="2.1",
                    version=version or V_OLD,
                    version_key=version,
                    date_added_us=n + 1,
                    is_latest=latest,
                    is_first=n != 1,
                    tlp="amber",
                    producer_org_id=who.org_id,
                    shared_by_user_id=who.user_id,
                    name=None,
                    revoked=False,
                    raw=json.dumps(obj),
                )
            )
        s.commit()

    migrate.upgrade(engine)

    with sessions() as s:
        held = dict(s.execute(select(ObjectProducer.stix_id, ObjectProducer.org_id)).all())
        assert held == {indicator["id"]: alice.org_id}
        flags = {
            (producer, latest, first)
            for producer, latest, first in s.execute(
                select(StixObject.producer_org_id, StixObject.is_latest, StixObject.is_first).where(
                    StixObject.stix_id == indicator["id"]
                )
            )
        }
        # Each producer's version is the latest and first of its own series again.
        assert flags == {(alice.org_id, True, True), (bob.org_id, True, True)}
        coll_obj = s.get(Collection, coll.id)
        assert coll_obj is not None
        # And from now on the id is Fjordnett's alone.
        result = ingest.ingest(
            session=s,
            collection=coll_obj,
            principal=f.principal(s, "bob"),
            body=f.envelope({**indicator, "modified": "2027-01-01T00:00:00.000Z"}),
        )
        assert NOT_YOURS in (result.failures[0].message or "")


def test_two_first_shares_of_one_id_at_once_leave_one_producer(hub: Hub, world: World) -> None:
    with hub.session() as s:
        other = f.collection(s, "Elsewhere", "Nordic").id
        s.commit()
    contested = f.indicator()
    outcome: dict[str, Any] = {}

    def bob_shares() -> None:
        with hub.session() as s:
            coll = s.get(Collection, other)
            assert coll is not None
            outcome["bob"] = ingest.ingest(
                session=s,
                collection=coll,
                principal=f.principal(s, "bob"),
                body=f.envelope({**contested, "name": "Svea's"}),
            )
            s.commit()

    with hub.session() as s:
        coll = s.get(Collection, world.collection_id)
        assert coll is not None
        first = ingest.ingest(
            session=s,
            collection=coll,
            principal=f.principal(s, "alice"),
            body=f.envelope(contested),
        )
        assert not first.failures
        # Svea's share runs while Fjordnett's claim is not yet committed, in another collection.
        racer = threading.Thread(target=bob_shares)
        racer.start()
        racer.join(timeout=1)
        s.commit()
    racer.join(timeout=60)
    assert not racer.is_alive()
    result = outcome["bob"]
    assert not result.successes
    assert NOT_YOURS in (result.failures[0].message or "")
    with hub.session() as s:
        producers = set(
            s.execute(
                select(StixObject.producer_org_id).where(StixObject.stix_id == contested["id"])
            ).scalars()
        )
        assert producers == {f.principal(s, "alice").org_id}
