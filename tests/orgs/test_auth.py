"""Authentication: tokens shown once and stored hashed, expiry, revocation, lockout, throttling."""

from __future__ import annotations

import base64
import hashlib
import logging
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub
from varsel.clock import utcnow
from varsel.orgs import service as orgs
from varsel.orgs.models import ApiToken, User


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def alice(hub: Hub) -> None:
    with hub.session() as s:
        f.org(s, "Fjordnett")
        f.user(s, "alice", "Fjordnett")
        s.commit()


def test_tokens_are_stored_hashed_and_work_until_revoked(
    hub: Hub, alice: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with hub.session() as s:
        row, token = orgs.create_token(session=s, username="alice")
        s.commit()
        stored = s.execute(select(ApiToken)).scalar_one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(stored.__dict__)
    with TestClient(hub.app) as client:
        ok = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json()["username"] == "alice"
        with hub.session() as s:
            assert s.get(ApiToken, row.id).last_used_at is not None  # type: ignore[union-attr]
            orgs.revoke_token(session=s, token_id=row.id)
            s.commit()
        revoked = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["detail"]
    assert token not in caplog.text


def test_expired_tokens_are_refused(hub: Hub, alice: None) -> None:
    with hub.session() as s:
        _, token = orgs.create_token(
            session=s, username="alice", expires_at=utcnow() - timedelta(seconds=1)
        )
        s.commit()
    with TestClient(hub.app) as client:
        response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_account_locks_after_repeated_failures(hub: Hub, alice: None) -> None:
    with TestClient(hub.app) as client:
        for _ in range(5):
            bad = client.get("/api/v1/me", headers=_basic("alice", "wrong password!"))
            assert bad.status_code == 401
        locked = client.get("/api/v1/me", headers=_basic("alice", f.PASSWORD))
    assert locked.status_code == 401
    assert "locked" in locked.json()["detail"]
    with hub.session() as s:
        user = s.execute(select(User).where(User.username == "alice")).scalar_one()
        assert user.locked_until is not None


def test_failures_from_one_address_are_throttled(hub: Hub, alice: None) -> None:
    throttle = hub.app.state.hub.throttle
    old = throttle.limit
    throttle.limit = 3
    try:
        with TestClient(hub.app) as client:
            codes = [
                client.get("/api/v1/me", headers={"Authorization": "Bearer vs_nope"}).status_code
                for _ in range(4)
            ]
    finally:
        throttle.limit = old
    assert codes == [401, 401, 401, 429]


def test_passwords_are_argon2_hashed(hub: Hub, alice: None) -> None:
    with hub.session() as s:
        user = s.execute(select(User).where(User.username == "alice")).scalar_one()
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    assert f.PASSWORD not in user.password_hash
