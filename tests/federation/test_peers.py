"""``varsel peer …`` as an operator runs it: real processes, a real peer over HTTP for links.

The peer a link resolves its remote collection at is a real Varsel hub served over HTTP (the
``live`` fixture: the same database, reached as a remote hub by URL and token).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text

from tests import factories as f
from tests.cli.test_cli import run
from tests.conftest import Hub
from varsel.audit.models import AuditEvent
from varsel.clock import utcnow
from varsel.db import Base
from varsel.federation.models import Peer, PeerLink, TrustedHub
from varsel.orgs.models import Organisation
from varsel.provenance.keys import public_text
from varsel.sharing.models import StreamPosition, Tombstone, TombstoneAudience


def _key() -> str:
    return public_text(Ed25519PrivateKey.generate().public_key())


@pytest.fixture
def setup(hub: Hub, tmp_path: Path) -> dict[str, Any]:
    """A hub with one collection, a user whose token stands for this hub at the peer."""
    with hub.session() as s:
        f.org(s, "Fjordnett", "NO")
        f.user(s, "alice", "Fjordnett", password=None)
        f.community(s, "Nordic", ["Fjordnett"])
        coll = f.collection(s, "Indicators", "Nordic")
        token = f.token(s, "alice")
        s.commit()
        coll_id = coll.id
    token_file = tmp_path / "hub-b.token"
    token_file.write_text(token + "\n")
    return {"token": token, "token_file": token_file, "collection": coll_id, "data": tmp_path / "d"}


def _add(hub: Hub, live: str, setup: dict[str, Any], *extra: str, name: str = "hub-b") -> Any:
    return run(
        hub,
        "peer",
        "add",
        name,
        "--url",
        f"{live}/taxii2/hub/",
        "--token-file",
        str(setup["token_file"]),
        "--public-key",
        setup.get("key") or _key(),
        *extra,
        data_dir=setup["data"],
    )


def _everything_stored(hub: Hub) -> str:
    with hub.engine.connect() as conn:
        return "\n".join(
            repr(row)
            for table in Base.metadata.sorted_tables
            for row in conn.execute(text(f"SELECT * FROM {table.name}"))
        )


def test_add_keeps_the_token_in_a_0600_file_only(
    hub: Hub, live: str, setup: dict[str, Any]
) -> None:
    setup["key"] = key = _key()
    done = _add(hub, live, setup, "--country", "SE")
    assert done.returncode == 0, done.stderr
    token = setup["token"]
    assert token not in done.stdout + done.stderr
    kept = setup["data"] / "peers" / "hub-b.token"
    assert kept.read_text().strip() == token
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(kept.parent.stat().st_mode) == 0o700
    assert token not in _everything_stored(hub)
    with hub.session() as s:
        org = s.execute(select(Organisation).where(Organisation.name == "hub-b")).scalar_one()
        assert (org.kind, org.country) == ("hub", "SE")
        pin = s.get(TrustedHub, "hub-b")
        assert pin is not None and (pin.public_key, pin.org_id) == (key, org.id)
        peer = s.execute(select(Peer)).scalar_one()
        assert peer.url == f"{live}/taxii2/hub/" and peer.token_file == str(kept)
        actor, details = s.execute(
            select(AuditEvent.actor, AuditEvent.details).where(AuditEvent.action == "peer.add")
        ).one()
        assert actor.startswith("operator:") and json.loads(details)["public_key"] == key
    listed = run(hub, "peer", "list")
    assert listed.returncode == 0 and "hub-b" in listed.stdout and token not in listed.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--country", "SE", "--public-key", "bm90IGEga2V5"), "32 bytes"),
        ((), "--country"),
        (("--country", "SE", "--url", "ftp://x/taxii2/hub/"), "http(s)"),
    ],
)
def test_add_refuses_bad_input_in_one_line(
    hub: Hub, live: str, setup: dict[str, Any], args: tuple[str, ...], needle: str
) -> None:
    done = _add(hub, live, setup, *args)
    assert done.returncode == 1
    assert needle in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (setup["data"] / "peers" / "hub-b.token").exists()
    with hub.session() as s:
        assert s.execute(select(Peer)).first() is None


def test_add_refuses_an_organisation_of_another_kind_and_a_second_add(
    hub: Hub, live: str, setup: dict[str, Any]
) -> None:
    clash = _add(hub, live, setup, "--country", "NO", name="Fjordnett")
    assert clash.returncode == 1 and "not 'hub'" in clash.stderr
    assert _add(hub, live, setup, "--country", "SE").returncode == 0
    again = _add(hub, live, setup, "--country", "SE")
    assert again.returncode == 1 and "exists already" in again.stderr


def test_link_resolves_the_remote_collection_at_the_peer(
    hub: Hub, live: str, setup: dict[str, Any]
) -> None:
    assert _add(hub, live, setup, "--country", "SE").returncode == 0
    done = run(
        hub, "peer", "link", "hub-b", "--remote", "Indicators", "--local", "Indicators",
        "--direction", "both",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with hub.session() as s:
        link = s.execute(select(PeerLink)).scalar_one()
        assert link.remote_collection_id == setup["collection"]
        assert (link.local_collection_id, link.direction) == (setup["collection"], "both")
        assert "peer.link" in s.execute(select(AuditEvent.action)).scalars().all()
    unknown = run(
        hub, "peer", "link", "hub-b", "--remote", "Nope", "--local", "Indicators",
        "--direction", "pull",
    )  # fmt: skip
    assert unknown.returncode == 1 and "no collection 'Nope'" in unknown.stderr
    bad = run(
        hub, "peer", "link", "hub-b", "--remote", "Indicators", "--local", "Indicators",
        "--direction", "sideways",
    )  # fmt: skip
    assert bad.returncode == 1 and "pull, push or both" in bad.stderr


def test_link_says_so_when_the_peer_refuses_the_token(
    hub: Hub, live: str, setup: dict[str, Any]
) -> None:
    assert _add(hub, live, setup, "--country", "SE").returncode == 0
    kept = setup["data"] / "peers" / "hub-b.token"
    kept.write_text("vs_not-a-real-token\n")
    done = run(
        hub, "peer", "link", "hub-b", "--remote", "Indicators", "--local", "Indicators",
        "--direction", "pull",
    )  # fmt: skip
    assert done.returncode == 1 and "401" in done.stderr
    assert "vs_not-a-real-token" not in done.stderr


def test_trust_pins_and_repins_audited(hub: Hub, setup: dict[str, Any]) -> None:
    first, second = _key(), _key()
    missing = run(hub, "peer", "trust", "hub-c", "--public-key", first)
    assert missing.returncode == 1 and "--country" in missing.stderr
    assert (
        run(hub, "peer", "trust", "hub-c", "--public-key", first, "--country", "DK").returncode == 0
    )
    assert run(hub, "peer", "trust", "hub-c", "--public-key", second).returncode == 0
    with hub.session() as s:
        assert s.get(TrustedHub, "hub-c").public_key == second  # type: ignore[union-attr]
        events = (
            s.execute(select(AuditEvent.details).where(AuditEvent.action == "peer.trust"))
            .scalars()
            .all()
        )
        assert [json.loads(e)["replaced"] for e in events] == [None, first]
        assert s.execute(select(Peer)).first() is None  # a pin is not a peer


def test_remove_drops_links_and_token_but_keeps_the_pin(
    hub: Hub, live: str, setup: dict[str, Any]
) -> None:
    assert _add(hub, live, setup, "--country", "SE").returncode == 0
    assert run(
        hub, "peer", "link", "hub-b", "--remote", setup["collection"], "--local", "Indicators",
        "--direction", "pull",
    ).returncode == 0  # fmt: skip
    done = run(hub, "peer", "remove", "hub-b", data_dir=setup["data"])
    assert done.returncode == 0, done.stderr
    assert not (setup["data"] / "peers" / "hub-b.token").exists()
    with hub.session() as s:
        assert s.execute(select(Peer)).first() is None
        assert s.execute(select(PeerLink)).first() is None
        assert s.get(TrustedHub, "hub-b") is not None
        assert "peer.remove" in s.execute(select(AuditEvent.action)).scalars().all()
    assert run(hub, "peer", "remove", "hub-b").returncode == 1


def test_status_json_reports_links_refusals_and_pending_tombstones(
    hub: Hub, live: str, setup: dict[str, Any]
) -> None:
    assert _add(hub, live, setup, "--country", "SE").returncode == 0
    assert run(
        hub, "peer", "link", "hub-b", "--remote", "Indicators", "--local", "Indicators",
        "--direction", "pull",
    ).returncode == 0  # fmt: skip
    coll = setup["collection"]
    with hub.session() as s:
        hub_b = s.execute(select(Organisation.id).where(Organisation.name == "hub-b")).scalar_one()
        for position in (10, 20, 30):
            stone = Tombstone(
                collection_id=coll,
                stix_id=f.stix_id(),
                origin_hub="here",
                reason="deleted",
                date_added_us=position,
                document="{}",
                created_at=utcnow(),
            )
            s.add(stone)
            s.flush()
            s.add(TombstoneAudience(tombstone_id=stone.id, org_id=hub_b))
        # hub-b confirmed the stream up to 15: the tombstones at 20 and 30 are pending.
        s.add(StreamPosition(org_id=hub_b, collection_id=coll, position_us=15, updated_at=utcnow()))
        s.commit()
    done = run(hub, "peer", "status", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == {"worker", "peers", "subscribers", "inbound_refusals", "trusted"}
    assert report["worker"]["running"] is False
    (peer,) = report["peers"]
    assert peer["name"] == "hub-b" and peer["refused"] == 0
    (link,) = peer["links"]
    assert {
        "state", "last_success_at", "lag_objects", "lag_seconds", "last_error", "refused",
        "latest_refusals", "pending_tombstones", "direction", "pull_position", "push_position",
    } <= set(link)  # fmt: skip
    assert (link["state"], link["pending_tombstones"]) == ("new", 2)
    (sub,) = report["subscribers"]
    assert (sub["org"], sub["position"], sub["pending_tombstones"]) == ("hub-b", 15, 2)
    table = run(hub, "peer", "status")
    assert table.returncode == 0 and "hub-b" in table.stdout


@pytest.mark.parametrize(
    ("api_root", "base"),
    [
        ("http://127.0.0.1:8001/taxii2/hub/", "http://127.0.0.1:8001/"),
        ("https://x.example/varsel/taxii2/hub/", "https://x.example/varsel/"),
        ("https://x.example/api1/", "https://x.example/"),
    ],
)
def test_the_hub_base_is_the_api_root_up_to_taxii2(api_root: str, base: str) -> None:
    from varsel.federation.client import check_url, hub_base

    assert hub_base(check_url(api_root)) == base
