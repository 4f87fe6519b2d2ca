"""Fuzz the HTTP API: whatever arrives, the answer is a clear 4xx, never a 500."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests import factories as f
from tests.conftest import Hub
from tests.factories import TAXII

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "id",
                    "spec_version",
                    "created",
                    "modified",
                    "pattern",
                    "pattern_type",
                    "valid_from",
                    "objects",
                    "object_marking_refs",
                    "x_varsel_recipients",
                    "name",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=15,
)
stixish = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["indicator", "malware", "sighting", "x-custom", "bad type", ""]),
        "id": st.sampled_from(
            [
                "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "x",
                "",
                "indicator--00000000-0000-0000-0000-000000000000",
            ]
        ),
        "spec_version": st.sampled_from(["2.1", "2.0", ""]),
        "created": st.sampled_from(["2026-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "now"]),
        "modified": st.sampled_from(["2026-01-01T00:00:00.123Z", "2025-01-01T00:00:00Z", ""]),
    },
    optional={
        "pattern": st.text(max_size=40),
        "pattern_type": st.sampled_from(["stix", "yara"]),
        "valid_from": st.sampled_from(["2026-01-01T00:00:00Z", "x"]),
        "object_marking_refs": st.lists(st.text(max_size=50), max_size=2),
        "x_varsel_recipients": json_values,
    },
)
bodies = st.one_of(
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    json_values.map(json.dumps),
    st.lists(st.one_of(stixish, json_values), max_size=5).map(lambda o: json.dumps({"objects": o})),
)
params = st.dictionaries(
    st.sampled_from(
        [
            "match[id]",
            "match[type]",
            "match[version]",
            "match[spec_version]",
            "added_after",
            "limit",
            "next",
        ]
    ),
    st.one_of(
        st.text(max_size=30),
        st.sampled_from(["all", "first", "last", "0", "-1", "2026-01-01T00:00:00Z", "1" * 30]),
    ),
    max_size=4,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=bodies,
    query=params,
    path=st.sampled_from(["objects/", "manifest/", "", "objects/indicator--x/versions/"]),
)
def test_taxii_never_answers_500(hub: Hub, body: str, query: dict[str, str], path: str) -> None:
    with hub.session() as s:
        if not s.execute(text("SELECT 1 FROM users")).first():
            f.org(s, "Fjordnett")
            f.user(s, "alice", "Fjordnett", password=None)
            f.community(s, "Nordic", ["Fjordnett"])
            f.collection(s, "Indicators", "Nordic", alias="fuzz")
            token = f.token(s, "alice")
            s.commit()
            hub.app.state.fuzz_token = token
    token = hub.app.state.fuzz_token
    headers = {"Accept": TAXII, "Content-Type": TAXII, "Authorization": f"Bearer {token}"}
    with TestClient(hub.app, raise_server_exceptions=False) as client:
        url = f"/taxii2/hub/collections/fuzz/{path}"
        got = client.get(url, params=query, headers=headers)
        posted = client.post(
            "/taxii2/hub/collections/fuzz/objects/", content=body.encode(), headers=headers
        )
        rest = client.post(
            "/api/v1/collections/fuzz/share",
            content=body.encode(),
            headers={"Authorization": f"Bearer {token}"},
        )
    for response in (got, posted, rest):
        assert response.status_code < 500, response.text
    assert got.status_code in {200, 400, 404}
    assert posted.status_code in {202, 400}
