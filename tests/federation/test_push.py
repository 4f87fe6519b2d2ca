"""The push route over HTTP: only a peer hub that may write the collection delivers a batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub
from tests.federation.batches import batch, hub_key, trust, version
from varsel import config
from varsel.orgs import service as orgs
from varsel.orgs.models import TokenScope
from varsel.sharing.models import StixObject


def test_only_a_peer_hub_that_may_write_pushes_a_batch(
    hub: Hub, live: str, configure: Callable[..., config.Settings]
) -> None:
    configure(hub_name="hub-b")
    key = hub_key("hub-a")
    with hub.session() as s:
        f.org(s, "CERT-B", "NO")
        f.user(s, "bob", "CERT-B", password=None)
        trust(s, key)
        f.user(s, "peer-a", "hub-a", password=None)
        f.org(s, "hub-c", "DK", kind="hub")
        f.user(s, "peer-c", "hub-c", password=None)
        f.community(s, "Nordic", ["CERT-B", "hub-a"])
        coll = f.collection(s, "Shared", "Nordic")
        f.community(s, "Open", ["CERT-B", "hub-c"], visibility="listed")
        read_only_coll = f.collection(s, "Read only", "Open", write_roles="org-admin")
        tokens = {u: f.token(s, u) for u in ("bob", "peer-a", "peer-c")}
        read_only = orgs.create_token(
            session=s, username="peer-a", actor="test", scope=TokenScope.READ.value
        )[1]
        s.commit()

    obj = f.indicator()
    body = batch(key, [version(obj, origin="hub-a")])
    url = f"{live}/api/v1/federation/collections/{coll.id}/batch"

    def push(token: str, payload: Any = body, target: str = url) -> requests.Response:
        return requests.post(
            target, json=payload, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    # An organisation's user is no peer hub, whatever it may write.
    refused = push(tokens["bob"])
    assert refused.status_code == 403 and "peer hub" in refused.json()["detail"]
    # A peer hub that is not in the collection's community does not see it.
    assert push(tokens["peer-c"]).status_code == 404
    # One it sees but may not write.
    elsewhere = f"{live}/api/v1/federation/collections/{read_only_coll.id}/batch"
    assert push(tokens["peer-c"], target=elsewhere).status_code == 403
    assert push(read_only).status_code == 403
    assert requests.post(url, json=body, timeout=30).status_code == 401
    with hub.session() as s:
        assert s.execute(select(StixObject)).first() is None

    answer = push(tokens["peer-a"])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 1, "duplicates": 0, "refused": [], "tombstones": 0}
    assert push(tokens["peer-a"]).json()["duplicates"] == 1

    malformed = push(tokens["peer-a"], payload={"objects": "nope"})
    assert malformed.status_code == 400
    assert malformed.headers["content-type"].startswith("application/problem+json")
    not_json = requests.post(
        url,
        data=b"{not json",
        headers={"Authorization": f"Bearer {tokens['peer-a']}"},
        timeout=30,
    )
    assert not_json.status_code == 400
    with hub.session() as s:
        (row,) = s.execute(select(StixObject)).scalars()
        assert (row.stix_id, row.origin_hub) == (obj["id"], "hub-a")
