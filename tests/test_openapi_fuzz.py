"""Schemathesis generates requests for every operation in the OpenAPI schema: never a 500.

Schemathesis's own pytest integration does not support this pytest yet, so each operation's
Hypothesis strategy is driven directly.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests import factories as f
from tests.conftest import Hub


def test_no_operation_answers_500(hub: Hub) -> None:
    with hub.session() as s:
        f.org(s, "Fjordnett")
        f.user(s, "alice", "Fjordnett", role="hub-admin", password=None)
        f.community(s, "Nordic", ["Fjordnett"])
        f.collection(s, "Indicators", "Nordic", alias="fuzz")
        token = f.token(s, "alice")
        s.commit()
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", hub.app)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/taxii+json;version=2.1"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @settings(
            max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        check()
