"""The hub's identity from the command line: ``varsel init`` makes the key and seals the versions
stored before federation, ``varsel hub id`` prints ``NAME PUBLIC-KEY``, and peer hubs are
organisations of kind ``hub`` (docs/federation.md, "The model")."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests import factories as f
from tests.cli.test_cli import run
from tests.conftest import Hub
from varsel.audit.models import AuditEvent
from varsel.orgs.models import Organisation
from varsel.provenance import keys
from varsel.provenance import seal as sealing
from varsel.sharing import ingest as ingesting
from varsel.sharing.models import Seal, StixObject
from varsel.sharing.tlp import TLP

HUB_ID = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*) (?P<key>[A-Za-z0-9+/]{43}=)")


@pytest.fixture(autouse=True)
def _hub_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # The subprocesses read the environment; run() passes it on.
    monkeypatch.setenv("VARSEL_HUB_NAME", "hub-a")


def _hub_id(hub: Hub, data_dir: Path) -> tuple[str, str]:
    done = run(hub, "hub", "id", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    match = HUB_ID.fullmatch(lines[0])
    assert match, lines[0]
    return match["name"], match["key"]


def test_hub_id_prints_the_name_and_the_public_key_on_one_line(hub: Hub, tmp_path: Path) -> None:
    name, public = _hub_id(hub, tmp_path)
    assert name == "hub-a"
    # The key of the private key in the data directory, as 32 raw bytes in base64.
    assert public == keys.load(tmp_path, "hub-a").public
    keys.parse_public(public)
    # The same key every time.
    assert _hub_id(hub, tmp_path) == (name, public)


def test_hub_id_refuses_a_private_key_others_may_read(hub: Hub, tmp_path: Path) -> None:
    keys.create(tmp_path)
    keys.key_path(tmp_path).chmod(0o644)
    done = run(hub, "hub", "id", data_dir=tmp_path)
    assert done.returncode == 1
    assert "chmod 600" in done.stderr and done.stdout == ""


def test_init_creates_the_key_and_seals_versions_stored_before_federation(
    hub: Hub, tmp_path: Path
) -> None:
    with hub.session() as s:
        f.org(s, "Fjordnett", "NO")
        f.org(s, "Svea", "SE")
        f.org(s, "hub-b", "SE", kind="hub")
        f.user(s, "alice", "Fjordnett", password=None)
        f.user(s, "bob", "Svea", password=None)
        f.community(s, "Nordic", ["Fjordnett", "Svea", "hub-b"])
        coll = f.collection(s, "Indicators", "Nordic", default_tlp="green")
        red = f.indicator(tlp=TLP.RED, recipients=["user:bob", "CERT-SE@hub-b"])
        strict = f.indicator(tlp=TLP.AMBER_STRICT, recipients=["Svea"])
        green = f.indicator(tlp=TLP.GREEN)
        result = ingesting.ingest(
            session=s,
            collection=coll,
            principal=f.principal(s, "alice"),
            body=f.envelope(red, strict, green),
        )
        assert not result.failures, result.failures
        later = f.indicator(tlp=TLP.CLEAR)
        ingesting.ingest(
            session=s, collection=coll, principal=f.principal(s, "bob"), body=f.envelope(later)
        )
        # As migration 0014 leaves the versions stored before it: no provenance, no seal.
        legacy = [red["id"], strict["id"], green["id"]]
        s.execute(
            update(StixObject)
            .where(StixObject.stix_id.in_(legacy))
            .values(seal_id=None, provenance=None)
        )
        kept = s.execute(
            select(StixObject.seal_id, StixObject.provenance).where(
                StixObject.stix_id == later["id"]
            )
        ).one()
        s.commit()

    assert not keys.key_path(tmp_path).exists()
    done = run(hub, "init", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "sealed 3 stored versions" in done.stdout
    path = keys.key_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    _, public = _hub_id(hub, tmp_path)
    verifier = keys.parse_public(public)

    with hub.session() as s:
        rows = {
            r.stix_id: r
            for r in s.execute(
                select(
                    StixObject.stix_id,
                    StixObject.seal_id,
                    StixObject.provenance,
                    StixObject.raw,
                    StixObject.origin_hub,
                )
            )
        }
        # A version sealed when it was shared keeps its seal and provenance.
        assert (rows[later["id"]].seal_id, rows[later["id"]].provenance) == tuple(kept)
        seal_ids = {rows[i].seal_id for i in legacy}
        assert len(seal_ids) == 1 and None not in seal_ids  # one seal for the batch
        stored = s.get(Seal, seal_ids.pop())
        assert stored is not None and stored.origin_hub == "hub-a"
        signed = sealing.Seal(stored.id, stored.origin_hub, stored.manifest, stored.signature)
        assert sealing.verify_seal(signed, verifier)
        for stix_id in legacy:
            row = rows[stix_id]
            assert row.origin_hub is None  # first stored here
            assert sealing.digest(row.provenance, row.raw) in signed.digests
        assert sealing.parse_provenance(rows[red["id"]].provenance) == {
            "class": None,
            "origin": "hub-a",
            "producer": "Fjordnett",
            "recipients": ["CERT-SE@hub-b", "user:bob@hub-a"],
            "tlp": "red",
        }
        assert sealing.parse_provenance(rows[strict["id"]].provenance)["recipients"] == [
            "Svea@hub-a"
        ]
        assert sealing.parse_provenance(rows[green["id"]].provenance)["recipients"] == []
        actions = list(s.execute(select(AuditEvent.action, AuditEvent.details)))
        assert [a for a, _ in actions if a == "hub.key.create"] == ["hub.key.create"]
        assert any(a == "provenance.seal" and '"versions": 3' in d for a, d in actions)

    # Again: the key is kept, nothing is left to seal.
    again = run(hub, "init", data_dir=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "hub key kept" in again.stdout and "sealed" not in again.stdout
    assert _hub_id(hub, tmp_path)[1] == public


def test_a_peer_hub_is_added_as_an_organisation_of_kind_hub(hub: Hub) -> None:
    done = run(hub, "org", "add", "hub-b", "--country", "SE", "--kind", "hub")
    assert done.returncode == 0, done.stderr
    with hub.session() as s:
        org = s.execute(select(Organisation).where(Organisation.name == "hub-b")).scalar_one()
        assert org.kind == "hub"
    listing = run(hub, "org", "list")
    assert re.search(r"hub-b\s.*SE\s.*hub", listing.stdout), listing.stdout
    assert "hub" in run(hub, "org", "add", "--help").stdout
