"""Only strict JSON is stored (issue 12.10): bad values are refused per object, never a 500.

Every case goes through the real HTTP paths (TAXII add-objects, REST share, the web upload)
on SQLite and PostgreSQL, and then every reader's paths must still answer with strict JSON.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests import factories as f
from tests.conftest import Hub
from tests.factories import TAXII
from tests.web.conftest import post_form, sign_in
from varsel.sharing.envelope import MAX_DEPTH, MAX_INTEGER_DIGITS
from varsel.sharing.tlp import TLP

GOOD = "203.0.113.1"


def _strict(text: str) -> Any:
    """Decode ``text`` as strict JSON (RFC 8259: no NaN, no lone surrogates), or fail."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")

    value = json.loads(text, parse_constant=refuse)
    json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return value


@pytest.fixture
def hubworld(hub: Hub) -> tuple[str, dict[str, str]]:
    """Return a collection of community Nordic and API tokens of alice (member) and bob."""
    with hub.session() as s:
        f.org(s, "Fjordnett", "NO")
        f.org(s, "Svea", "SE")
        f.user(s, "alice", "Fjordnett")
        f.user(s, "bob", "Svea", password=None)
        f.community(s, "Nordic", ["Fjordnett", "Svea"])
        coll = f.collection(s, "Indicators", "Nordic", default_tlp="green")
        tokens = {name: f.token(s, name) for name in ("alice", "bob")}
        s.commit()
        return coll.id, tokens


def _raw_indicator(value: str, **raw_properties: str) -> tuple[str, str]:
    """Return an indicator's id and its JSON text with ``raw_properties`` spliced in verbatim."""
    obj = f.indicator(value=value)
    text = json.dumps(obj)[:-1]
    for name, raw in raw_properties.items():
        text += f', "{name}": {raw}'
    return obj["id"], text + "}"


def _body(*raw_objects: str) -> str:
    return '{"objects": [' + ", ".join(raw_objects) + "]}"


def _taxii(client: TestClient, coll: str, token: str, body: str) -> Any:
    return client.post(
        f"/taxii2/hub/collections/{coll}/objects/",
        content=body.encode("utf-8"),
        headers={"Authorization": f"Bearer {token}", "Content-Type": TAXII, "Accept": TAXII},
    )


def _readers_answer_strict_json(client: TestClient, coll: str, tokens: dict[str, str]) -> set[str]:
    """Check that every read path answers 200 with strict JSON; return the ids read."""
    auth = {"Authorization": f"Bearer {tokens['bob']}"}
    rest = client.get("/api/v1/objects", headers=auth)
    assert rest.status_code == 200, rest.text
    search = client.get("/api/v1/objects", params={"q": "bad"}, headers=auth)
    assert search.status_code == 200, search.text
    taxii = client.get(
        f"/taxii2/hub/collections/{coll}/objects/", headers={**auth, "Accept": TAXII}
    )
    assert taxii.status_code == 200, taxii.text
    ids = {o["id"] for o in _strict(rest.text)["objects"]}
    assert ids == {o["id"] for o in _strict(taxii.text).get("objects", [])}
    for oid in ids:
        one = client.get(f"/api/v1/objects/{oid}", headers=auth)
        assert one.status_code == 200, one.text
        _strict(one.text)
    return ids


BAD_VALUES = {
    "nan": ('{"x_score": NaN}', "NaN"),
    "infinity": ('{"x_score": -Infinity}', "-Infinity"),
    "overflowing-float": ('{"x_score": 1e400}', "finite"),
    "lone-high-surrogate": ('{"x_note": "a\\ud800b"}', "surrogate"),
    "lone-low-surrogate-in-a-key": ('{"x_\\udc00": 1}', "surrogate"),
    "huge-integer": ('{"x_size": ' + "9" * 50_000 + "}", "digits"),
    "deep-nesting": ('{"x_deep": ' + "[" * 100_000 + "]" * 100_000 + "}", "nest"),
    "a-name-twice": ('{"x_a": 1, "x_b": {}, "x_a": 2}', "twice"),
}


@pytest.mark.parametrize(("raw", "reason"), BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_taxii_refuses_non_strict_json_per_object(
    hub: Hub, hubworld: tuple[str, dict[str, str]], raw: str, reason: str
) -> None:
    coll, tokens = hubworld
    bad_id, bad = _raw_indicator("198.51.100.66", x_extra=raw)
    good_id, good = _raw_indicator(GOOD)
    with TestClient(hub.app) as client:
        response = _taxii(client, coll, tokens["alice"], _body(bad, good))
        assert response.status_code == 202, response.text[:500]
        status = response.json()
        assert [s["id"] for s in status["successes"]] == [good_id]
        (failure,) = status["failures"]
        assert failure["id"] == bad_id
        assert reason in failure["message"]
        assert len(response.text) < 5_000  # the reason does not echo the value
        assert _readers_answer_strict_json(client, coll, tokens) == {good_id}


def test_markings_named_twice_are_refused(hub: Hub, hubworld: tuple[str, dict[str, str]]) -> None:
    coll, tokens = hubworld
    # The hub would see the last (CLEAR); a reader that keeps the first would see RED.
    red = json.dumps([TLP.RED.stix_id])
    clear = json.dumps([TLP.CLEAR.stix_id])
    oid, text = _raw_indicator("198.51.100.72", object_marking_refs=red)
    text = text[:-1] + f', "object_marking_refs": {clear}}}'
    with TestClient(hub.app) as client:
        status = _taxii(client, coll, tokens["alice"], _body(text)).json()
        assert [fail["id"] for fail in status["failures"]] == [oid]
        assert "'object_marking_refs' twice" in status["failures"][0]["message"]
        assert _readers_answer_strict_json(client, coll, tokens) == set()


def test_a_valid_surrogate_pair_and_big_but_sane_numbers_are_kept(
    hub: Hub, hubworld: tuple[str, dict[str, str]]
) -> None:
    coll, tokens = hubworld
    oid, text = _raw_indicator(
        GOOD,
        x_note='"\\ud83d\\ude00 \\\\ud800 is text"',
        x_size="-1" + "0" * (MAX_INTEGER_DIGITS - 1),
        x_ratio="1.5e300",
        # The object is the first level.
        x_deep="[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1),
    )
    with TestClient(hub.app) as client:
        status = _taxii(client, coll, tokens["alice"], _body(text)).json()
        assert status["failure_count"] == 0, status
        assert _readers_answer_strict_json(client, coll, tokens) == {oid}
        sign_in(client, "alice")
        page = client.get(f"/objects/{oid}")
        assert page.status_code == 200, page.text[:300]
        assert "\U0001f600" in page.text
    # One level more is refused.
    _, deeper = _raw_indicator("198.51.100.67", x_deep="[" * MAX_DEPTH + "]" * MAX_DEPTH)
    with TestClient(hub.app) as client:
        status = _taxii(client, coll, tokens["alice"], _body(deeper)).json()
        assert status["failure_count"] == 1 and "nest" in status["failures"][0]["message"]


def test_rest_share_refuses_per_object_and_answers_400_for_a_broken_body(
    hub: Hub, hubworld: tuple[str, dict[str, str]]
) -> None:
    coll, tokens = hubworld
    auth = {"Authorization": f"Bearer {tokens['alice']}", "Content-Type": "application/json"}
    bad_id, bad = _raw_indicator("198.51.100.66", x_deep="[" * 100_000 + "]" * 100_000)
    nan_id, nan = _raw_indicator("198.51.100.68", x_score="NaN")
    good_id, good = _raw_indicator(GOOD)
    with TestClient(hub.app) as client:
        response = client.post(
            f"/api/v1/collections/{coll}/share", content=_body(bad, nan, good), headers=auth
        )
        assert response.status_code == 200, response.text[:500]
        result = response.json()
        assert {r["id"] for r in result["rejected"]} == {bad_id, nan_id}
        assert [a["id"] for a in result["accepted"]] == [good_id]
        # Unbalanced deep nesting, or deep nesting outside the objects: the body as a whole.
        for body in (
            '{"objects": [' + "[" * 100_000 + "]}",
            '{"recipients": ' + "[" * 100_000 + "]" * 100_000 + ', "objects": []}',
            '{"recipients": ["a\\udc00"], "objects": []}',
        ):
            broken = client.post(f"/api/v1/collections/{coll}/share", content=body, headers=auth)
            assert broken.status_code == 400, broken.text[:500]
            assert broken.headers["content-type"].startswith("application/problem+json")
        assert _readers_answer_strict_json(client, coll, tokens) == {good_id}


def test_web_upload_refuses_per_object(hub: Hub, hubworld: tuple[str, dict[str, str]]) -> None:
    coll, tokens = hubworld
    bad_id, bad = _raw_indicator("198.51.100.66", x_deep="{" + '"a": {' * 100_000 + "}" * 100_001)
    surrogate_id, surrogate = _raw_indicator("198.51.100.69", name='"\\ud800"')
    good_id, good = _raw_indicator(GOOD)
    with TestClient(hub.app) as client:
        sign_in(client, "alice")
        report: Any = post_form(
            client,
            "/share",
            "/share/bundle",
            {"collection": coll},
            files={"file": ("b.json", _body(bad, surrogate, good), "application/json")},
        )
        assert report.status_code == 200, report.text[:500]
        assert "1 accepted, 2 rejected" in report.text
        assert bad_id in report.text and surrogate_id in report.text
        broken: Any = post_form(
            client,
            "/share",
            "/share/bundle",
            {"collection": coll},
            files={"file": ("b.json", "[" * 100_000, "application/json")},
        )
        assert broken.status_code == 400, broken.text[:500]
        page = client.get(f"/objects/{good_id}")
        assert page.status_code == 200
    with TestClient(hub.app) as api:
        assert _readers_answer_strict_json(api, coll, tokens) == {good_id}


def test_a_timestamp_finer_than_nanoseconds_is_refused_alone_on_both_databases(
    hub: Hub, hubworld: tuple[str, dict[str, str]]
) -> None:
    coll, tokens = hubworld
    fine = f.indicator(value="198.51.100.70", modified="2026-01-01T00:00:00." + "1" * 60 + "Z")
    nine = f.indicator(value="198.51.100.71", modified="2026-01-01T00:00:00.123456789Z")
    good = f.indicator(value=GOOD)
    with TestClient(hub.app) as client:
        response = _taxii(client, coll, tokens["alice"], f.envelope(fine, nine, good))
        assert response.status_code == 202, response.text[:500]
        status = response.json()
        assert {s["id"] for s in status["successes"]} == {nine["id"], good["id"]}
        (failure,) = status["failures"]
        assert failure["id"] == fine["id"]
        assert "at most 9 fractional digits" in failure["message"]
        assert _readers_answer_strict_json(client, coll, tokens) == {nine["id"], good["id"]}


def test_a_search_text_too_long_is_a_400_on_both_databases(
    hub: Hub, hubworld: tuple[str, dict[str, str]]
) -> None:
    coll, tokens = hubworld
    auth = {"Authorization": f"Bearer {tokens['bob']}"}
    with TestClient(hub.app) as client:
        # Something to search, so that the query runs on both databases.
        assert _taxii(client, coll, tokens["alice"], f.envelope(f.indicator())).is_success
        response = client.get("/api/v1/objects", params={"q": "a" * 50_000}, headers=auth)
        assert response.status_code == 400, response.text[:300]
        assert "at most" in response.json()["detail"]
        for name in ("q", "producer"):
            nul = client.get("/api/v1/objects", params={name: "a\x00b"}, headers=auth)
            assert nul.status_code == 400, nul.text[:300]
        assert client.get("/api/v1/objects", params={"q": "a" * 200}, headers=auth).is_success


def test_taxii_answers_400_for_a_body_that_is_not_json_as_a_whole(
    hub: Hub, hubworld: tuple[str, dict[str, str]]
) -> None:
    coll, tokens = hubworld
    with TestClient(hub.app) as client:
        for body in (
            "[" * 100_000,
            '{"objects": [' + "{" * 100_000,
            '{"x_varsel_recipients": ' + "[" * 100_000 + "]" * 100_000 + ', "objects": []}',
            '{"x_varsel_recipients": NaN, "objects": []}',
        ):
            response = _taxii(client, coll, tokens["alice"], body)
            assert response.status_code == 400, response.text[:300]
            assert response.headers["content-type"] == TAXII
            assert "JSON" in response.json()["description"]
