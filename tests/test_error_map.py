"""The one error map: every exception Varsel raises on purpose is in the tree and has a status.

The tree is walked over every module of the package, so a new exception class defined anywhere
outside ``varsel.errors``'s tree, or a new category without its own row, fails here first.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.responses import Response

import varsel
from tests.conftest import Hub
from varsel import error_map, errors
from varsel.api.app import create_app
from varsel.config import Settings
from varsel.error_map import status_of
from varsel.errors import Busy, VarselError
from varsel.web.render import render

# Not imported by the walk: the command's entry point and Alembic's migration scripts.
_SKIP = ("varsel.__main__", "varsel.migrations")

# The codes are part of the API (``error_code`` in TAXII errors, ``code`` in problems): a
# change here is a change clients see.
EXPECTED = {
    "NotFound": (404, "not-found"),
    "Conflict": (409, "conflict"),
    "InvalidInput": (400, "invalid-input"),
    "NotAcceptable": (406, "not-acceptable"),
    "UnsupportedMediaType": (415, "unsupported-media-type"),
    "TooLarge": (413, "too-large"),
    "AuthenticationFailed": (401, "authentication-failed"),
    "AccountLocked": (401, "account-locked"),
    "TooManyAttempts": (429, "too-many-attempts"),
    "Forbidden": (403, "forbidden"),
    "Busy": (503, "busy"),
    "UpstreamFailed": (502, "upstream-failed"),
    "Misconfigured": (500, "misconfigured"),
}


def _modules() -> list[str]:
    names = ["varsel"]
    for info in pkgutil.walk_packages(varsel.__path__, "varsel."):
        if not info.name.startswith(_SKIP):
            names.append(info.name)
    return names


def _exception_classes() -> Iterator[type[BaseException]]:
    seen: set[type[BaseException]] = set()
    for name in _modules():
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(value, BaseException)
                and value.__module__.startswith("varsel")
                and value not in seen
            ):
                seen.add(value)
                yield value


def _subclasses(kind: type[VarselError]) -> Iterator[type[VarselError]]:
    for sub in kind.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_exception_defined_in_varsel_is_in_the_tree() -> None:
    outside = sorted(
        f"{kind.__module__}.{kind.__qualname__}"
        for kind in _exception_classes()
        if not issubclass(kind, VarselError)
    )
    assert outside == [], "exceptions raised on purpose belong under varsel.errors.VarselError"


def test_every_class_of_the_tree_has_a_status() -> None:
    for name in _modules():  # defines every subclass there is
        importlib.import_module(name)
    walked = list(_subclasses(VarselError))
    assert len(walked) > len(EXPECTED)  # the walk reached classes defined outside errors.py
    unmapped = sorted(k.__qualname__ for k in walked if error_map.lookup(k) is None)
    assert unmapped == [], "give each a row in varsel.error_map.ERRORS or a mapped base"
    # Nothing is answered by the bare base class: it has no row on purpose.
    assert error_map.lookup(VarselError) is None


def test_each_category_in_errors_py_has_its_own_stable_row() -> None:
    categories = {
        kind.__name__: kind
        for _, kind in inspect.getmembers(errors, inspect.isclass)
        if issubclass(kind, VarselError) and kind is not VarselError
    }
    rows = {k.__name__: (v.status, v.code) for k, v in error_map.ERRORS.items()}
    assert set(categories) == set(rows), "each class of varsel.errors needs its own row"
    assert rows == EXPECTED
    codes = [v.code for v in error_map.ERRORS.values()]
    assert len(codes) == len(set(codes))


def test_subclasses_elsewhere_answer_like_their_category() -> None:
    from varsel.clearances.rules import AgreementsFileError, UnknownLevel
    from varsel.matching import LogFormatError
    from varsel.reporting.notify import DeliveryFailed, WebhookRefused
    from varsel.sharing.validation import InvalidStixObject
    from varsel.web.sessions import CsrfRefused, NotPermitted

    assert error_map.status_of(UnknownLevel("x")) == 400
    assert error_map.status_of(LogFormatError("x")) == 400
    assert error_map.status_of(InvalidStixObject("x")) == 400
    assert error_map.status_of(WebhookRefused("x")) == 400
    assert error_map.status_of(DeliveryFailed("x")) == 502
    assert error_map.status_of(AgreementsFileError("x")) == 500
    assert error_map.status_of(CsrfRefused("x")) == 403
    assert error_map.status_of(NotPermitted("x")) == 403
    # Names callers catch by keep working: still ValueErrors where they were.
    assert issubclass(UnknownLevel, ValueError) and issubclass(LogFormatError, ValueError)


# Busy: the database layer raises it when it cannot get the write lock in time. -----------------


@pytest.fixture
def busy_app(tmp_path: Path) -> FastAPI:
    """Return a real hub application with one route of each kind that finds the database busy."""
    app = create_app(
        Settings(database_url=f"sqlite:///{tmp_path / 'hub.db'}", secret_key="busy-test-secret")
    )

    def busy() -> None:
        raise Busy("the database is busy with another write; send the request again")

    def busy_form(request: Request) -> Response:
        # What every form handler does with a domain error: show the form again with its status.
        try:
            busy()
        except VarselError as exc:
            return render(
                request, "error.html", status_code=status_of(exc), status=503, detail=exc.message
            )
        return Response()

    for path in ("/taxii2/busy/", "/api/v1/busy", "/busy"):
        app.add_api_route(path, busy, methods=["GET"])
    app.add_api_route("/busy-form", busy_form, methods=["POST"])
    return app


def test_busy_is_503_with_retry_after_in_each_shape(busy_app: FastAPI) -> None:
    with TestClient(busy_app) as client:
        taxii = client.get("/taxii2/busy/")
        rest = client.get("/api/v1/busy")
        page = client.get("/busy")
        form = client.post("/busy-form")
    for response in (taxii, rest, page, form):
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
    assert taxii.headers["content-type"].startswith("application/taxii+json")
    assert taxii.json() == {
        "title": "Service unavailable",
        "description": "the database is busy with another write; send the request again",
        "http_status": "503",
        "error_code": "busy",
    }
    assert rest.headers["content-type"].startswith("application/problem+json")
    assert rest.json()["code"] == "busy" and rest.json()["status"] == 503
    assert page.headers["content-type"].startswith("text/html")
    assert "the database is busy" in page.text


def test_a_real_taxii_refusal_carries_its_status_and_code(hub: Hub) -> None:
    with TestClient(hub.app) as client:
        answer = client.get("/taxii2/", headers={"Accept": "text/html"})
        missing = client.get("/api/v1/objects/indicator--00000000-0000-4000-8000-000000000000")
    assert answer.status_code == 406
    assert answer.headers["content-type"].startswith("application/taxii+json")
    assert answer.json()["error_code"] == "not-acceptable"
    assert answer.json()["http_status"] == "406"
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["code"] == "authentication-failed"
