"""Indicators on a known-benign warning list, when they are shared: warned or refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub
from varsel.config import Settings
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.ingest import warninglists
from varsel.sharing.models import IngestStatus, StixObject

RESOLVER = "[ipv4-addr:value = '8.8.8.8']"
# Not on any list (TEST-NET addresses are: they are on the RFC 5735 list).
ORDINARY = "[domain-name:value = 'c2.bad.example']"


def _world(hub: Hub) -> str:
    with hub.session() as s:
        f.org(s, "Fjordnett", "NO")
        f.user(s, "alice", "Fjordnett", password=None)
        f.community(s, "Nordic", ["Fjordnett"])
        coll = f.collection(s, "Indicators", "Nordic", alias="indicators")
        s.commit()
        return coll.id


def _share(hub: Hub, collection_id: str, *objects: dict[str, Any]) -> ingesting.IngestResult:
    with hub.session() as s:
        result = ingesting.ingest(
            session=s,
            collection=sharing.get_collection(session=s, collection_id=collection_id),
            principal=f.principal(s, "alice"),
            body=f.envelope(*objects),
        )
        s.commit()
        return result


def _stored(hub: Hub) -> set[str]:
    with hub.session() as s:
        return set(s.execute(select(StixObject.stix_id)).scalars())


def test_warn_mode_shares_with_a_warning_in_the_status(
    hub: Hub, configure: Callable[..., Settings]
) -> None:
    configure(warninglist_mode="warn")
    collection_id = _world(hub)
    resolver = f.indicator(pattern=RESOLVER)
    ordinary = f.indicator(pattern=ORDINARY)
    result = _share(hub, collection_id, resolver, ordinary)
    assert not result.failures
    messages = {o.id: o.message for o in result.successes}
    assert messages[ordinary["id"]] is None
    warning = messages[resolver["id"]] or ""
    assert warning.startswith("warning: 8.8.8.8 is on the warning list")
    assert "public DNS resolvers" in warning
    assert _stored(hub) == {resolver["id"], ordinary["id"]}
    # The TAXII status resource carries the warning as the object's message.
    with hub.session() as s:
        details = json.loads(s.get(IngestStatus, result.status_id).details)  # type: ignore[union-attr]
    taxii = {d["id"]: d for d in details["successes"]}
    assert taxii[resolver["id"]]["message"] == warning
    assert "message" not in taxii[ordinary["id"]]


def test_refuse_mode_refuses_the_flagged_indicator_only(
    hub: Hub, configure: Callable[..., Settings]
) -> None:
    configure(warninglist_mode="refuse")
    collection_id = _world(hub)
    resolver = f.indicator(pattern=RESOLVER)
    ordinary = f.indicator(pattern=ORDINARY)
    result = _share(hub, collection_id, resolver, ordinary)
    assert [(o.id, o.message) for o in result.successes] == [(ordinary["id"], None)]
    [refused] = result.failures
    assert refused.id == resolver["id"] and refused.version == resolver["modified"]
    assert "refused by this hub's warning-list policy" in (refused.message or "")
    assert "List of known IPv4 public DNS resolvers" in (refused.message or "")
    assert _stored(hub) == {ordinary["id"]}
    # Revoking a flagged indicator that got in earlier must still be possible.
    revoked = f.indicator(pattern=RESOLVER, revoked=True, modified="2026-02-01T00:00:00.000Z")
    assert not _share(hub, collection_id, revoked).failures


def test_refusals_reach_taxii_clients(hub: Hub, configure: Callable[..., Settings]) -> None:
    configure(warninglist_mode="refuse")
    collection_id = _world(hub)
    with hub.session() as s:
        token = f.token(s, "alice")
        s.commit()
    resolver = f.indicator(pattern=RESOLVER)
    headers = {"Authorization": f"Bearer {token}", "Accept": f.TAXII, "Content-Type": f.TAXII}
    with TestClient(hub.app) as client:
        roots = client.get("/taxii2/", headers=headers).json()
        root = roots["api_roots"][0]
        status = client.post(
            f"{root}collections/{collection_id}/objects/",
            content=f.envelope(resolver),
            headers=headers,
        )
    assert status.status_code == 202, status.text
    body = status.json()
    assert body["failure_count"] == 1 and body["success_count"] == 0
    assert "public DNS resolvers" in body["failures"][0]["message"]


def test_envelopes_without_indicators_never_load_the_lists(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, configure: Callable[..., Settings]
) -> None:
    configure(warninglist_mode="refuse")

    def refuse_to_load() -> None:
        raise AssertionError("the warning lists were loaded for an envelope without indicators")

    monkeypatch.setattr(warninglists, "_lists", refuse_to_load)
    collection_id = _world(hub)
    malware = {
        "type": "malware",
        "spec_version": "2.1",
        "id": f.stix_id("malware"),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "Loader",
        "is_family": True,
    }
    result = _share(hub, collection_id, malware)
    assert [o.id for o in result.successes] == [malware["id"]] and not result.failures
