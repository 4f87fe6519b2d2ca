"""A refused form comes back with what was typed, the message beside the field at fault
(aria-invalid, aria-describedby, autofocus), and a message about the whole form on top."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import World, post_form, sign_in
from varsel.errors import Conflict, InvalidInput
from varsel.incidents import service as incidents
from varsel.web.pages import refusal


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    """Yield a browser-like client of the hub."""
    with TestClient(hub.app) as test_client:
        yield test_client


def _control(html: str, control_id: str) -> str:
    match = re.search(rf"<(?:input|select|textarea) id=\"{control_id}\"[^>]*>", html)
    assert match, f"no control #{control_id}"
    return match.group(0)


def _beside(html: str, control_id: str, words: str) -> None:
    tag = _control(html, control_id)
    assert 'aria-invalid="true"' in tag and " autofocus" in tag, tag
    assert f"{control_id}-error" in tag, tag
    error = re.search(rf'<span class="field-error" id="{control_id}-error">([^<]*)</span>', html)
    assert error and words in error.group(1), error


def test_refusal_puts_a_fields_message_beside_it_and_others_on_top() -> None:
    assert refusal(InvalidInput("bad", field="value")) == {
        "error": None,
        "errors": {"value": "bad"},
    }
    assert refusal(Conflict("taken", field="password"), {"password": "new"})["errors"] == {
        "new": "taken"
    }
    assert refusal(InvalidInput("no")) == {"error": "no", "errors": {}}


def test_share_form_keeps_values_and_marks_the_value(
    hub: Hub, world: World, client: TestClient
) -> None:
    sign_in(client, "alice")
    response = post_form(
        client,
        "/share",
        "/share/indicator",
        {
            "kind": "sha256",
            "value": "abc",
            "name": "Kept",
            "tlp": "green",
            "collection": world.collection_id,
        },
    )
    html = response.text  # type: ignore[attr-defined]
    assert response.status_code == 400  # type: ignore[attr-defined]
    _beside(html, "i-value", "hash")
    assert 'value="abc"' in _control(html, "i-value")
    assert 'value="Kept"' in _control(html, "i-name")
    assert '<option value="green" selected>' in html
    # Only one field is marked: the others carry no aria-invalid.
    assert html.count('aria-invalid="true"') == 1


def test_incident_form_marks_the_title(hub: Hub, world: World, client: TestClient) -> None:
    sign_in(client, "alice")
    response = post_form(
        client, "/incidents", "/incidents", {"title": "   ", "summary": "Kept", "severity": "high"}
    )
    html = response.text  # type: ignore[attr-defined]
    assert response.status_code == 400  # type: ignore[attr-defined]
    _beside(html, "n-title", "title")
    assert ">Kept</textarea>" in html
    assert '<option value="high" selected>' in html


def test_new_user_form_marks_the_username_and_never_echoes_the_password(
    hub: Hub, world: World, client: TestClient
) -> None:
    sign_in(client, "bob")
    response = post_form(
        client,
        "/admin/users",
        "/admin/users",
        {"username": "alice", "org": "Svea", "role": "analyst", "password": "secret secret 12"},
    )
    html = response.text  # type: ignore[attr-defined]
    assert response.status_code == 409, html  # type: ignore[attr-defined]
    _beside(html, "u-name", "already exists")
    assert 'value="alice"' in _control(html, "u-name")
    assert "secret secret 12" not in html


def test_password_form_marks_the_field_at_fault(hub: Hub, world: World, client: TestClient) -> None:
    sign_in(client, "alice")
    wrong = post_form(
        client,
        "/account",
        "/account/password",
        {"current": "not it at all", "new": "a long new password", "repeat": "a long new password"},
    )
    _beside(wrong.text, "a-current", "wrong")  # type: ignore[attr-defined]
    short = post_form(
        client,
        "/account",
        "/account/password",
        {"current": f.PASSWORD, "new": "short", "repeat": "short"},
    )
    _beside(short.text, "a-new", "12")  # type: ignore[attr-defined]
    assert "short" not in _control(short.text, "a-new")  # type: ignore[attr-defined]


def test_workspace_forms_mark_their_own_field_only(
    hub: Hub, world: World, client: TestClient
) -> None:
    with hub.session() as s:
        incident = incidents.create(session=s, principal=f.principal(s, "alice"), title="Outage")
        s.commit()
        page = f"/incidents/{incident.id}"
    sign_in(client, "alice")
    task = post_form(client, page, f"{page}/tasks", {"title": "Call the ISP", "owner": "nobody"})
    html = task.text  # type: ignore[attr-defined]
    _beside(html, "k-owner", "nobody")
    assert 'value="Call the ISP"' in _control(html, "k-title")
    # The incident's own edit form also has a "title"; only the task form's field is marked.
    assert html.count('aria-invalid="true"') == 1
    entry = post_form(
        client,
        page,
        f"{page}/timeline",
        {"text": "Rebooted", "kind": "action", "at": "2999-01-01T10:00"},
    )
    html = entry.text  # type: ignore[attr-defined]
    assert entry.status_code == 400  # type: ignore[attr-defined]
    _beside(html, "t-at", "future")
    assert ">Rebooted</textarea>" in html
    assert '<option value="action" selected>' in html


def test_token_form_marks_the_lifetime(hub: Hub, world: World, client: TestClient) -> None:
    sign_in(client, "alice")
    response = post_form(
        client, "/admin/tokens", "/admin/tokens", {"name": "siem", "days": "9999", "scope": "read"}
    )
    html = response.text  # type: ignore[attr-defined]
    assert response.status_code == 400  # type: ignore[attr-defined]
    _beside(html, "t-days", "3650")
    assert 'value="siem"' in _control(html, "t-name")
    assert '<option value="read" selected>' in html
