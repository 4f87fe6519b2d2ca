"""The harness itself: hubs start and stop as real processes with their own keys and databases,
the operator's commands work against each, and a SIGKILLed hub comes back."""

from __future__ import annotations

import base64

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from tests.federation import harness as h

pytestmark = pytest.mark.federation


def _key_in(hub: h.Hub) -> str:
    pem = (hub.data_dir / "hub-ed25519.pem").read_bytes()
    private = serialization.load_pem_private_key(pem, password=None)
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(raw).decode("ascii")


def test_two_hubs_start_with_their_own_database_and_stop(federation: h.Federation) -> None:
    a, b = federation.start(["hub-a", "hub-b"], {"hub-b": "postgresql"})
    assert a.port != b.port and a.data_dir != b.data_dir
    assert a.database_url.startswith("sqlite:") and b.database_url.startswith("postgresql")
    for hub in (a, b):
        assert httpx.get(f"{hub.url}/taxii2/", timeout=5).status_code in (200, 401)
    a.add_org("CERT-A")
    assert "CERT-A" in a.org_names() and "CERT-A" not in b.org_names()
    a.stop()
    assert not a.running
    assert b.running


def test_hub_id_prints_the_name_and_the_key_in_the_data_directory(
    federation: h.Federation,
) -> None:
    a = federation.add_hub("hub-a")
    b = federation.add_hub("hub-b")
    name, key = a.hub_id()
    assert name == "hub-a"
    assert key == _key_in(a)
    assert b.hub_id()[1] != key
    assert (a.data_dir / "hub-ed25519.pem").stat().st_mode & 0o777 == 0o600


def test_a_hub_org_reads_and_a_killed_hub_restarts_with_what_it_had(
    federation: h.Federation,
) -> None:
    (a,) = federation.start(["hub-a"])
    a.add_org("CERT-A")
    a.add_community("Nordic", ["CERT-A"])
    coll = a.add_collection("Intel", "Nordic", "green")
    token = a.add_reader("CERT-A", "alice")
    shared = a.share(token, coll, h.indicator())
    assert shared["success_count"] == 1
    # An organisation of kind hub, member of the community: its user reads like anyone's.
    peer_token = h.admit_hub(a, federation.add_hub("hub-b"), "Nordic")
    assert a.sql("SELECT kind, country FROM organisations WHERE name = 'hub-b'") == [("hub", "SE")]
    response = httpx.get(f"{a.api_root_url}collections/", headers=h.bearer(peer_token), timeout=10)
    assert response.status_code == 200, response.text
    assert len(a.read(peer_token, coll)) == 1
    a.kill()
    assert not a.running
    a.start()
    assert len(a.read(token, coll)) == 1
    assert a.count_rows(coll) == 1


def test_wait_until_names_what_it_waited_for() -> None:
    try:
        h.wait_until(lambda: False, timeout=0.2, message="the impossible")
    except h.HarnessError as exc:
        assert "the impossible" in str(exc)
    else:  # pragma: no cover - the wait must fail
        raise AssertionError("wait_until returned")
