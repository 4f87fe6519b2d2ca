"""TAXII 2.1 server endpoints (OASIS TAXII Version 2.1, Committee Specification / OS, 2021).

Every handler cites the section it implements. Objects are returned as the raw JSON they were
received in, joined into the envelope without re-encoding, which is what makes reads fast.
Every read goes through :func:`varsel.policy.restrict` (inside the query functions used here).

The private modules, by what they hold: ``_http`` (content negotiation, request bodies, query
parameters, responses), ``_server`` (discovery, the API root and status, §4),
``_collections`` (§5.1-§5.2) and ``_objects`` (manifests and objects, §5.3-§5.8). The routes
are registered here, explicitly, on the one :data:`router`, in the order they are matched.
"""

from __future__ import annotations

from fastapi import APIRouter

from varsel.api.taxii._collections import collection, collections
from varsel.api.taxii._http import Negotiated
from varsel.api.taxii._objects import (
    add_objects,
    delete_object,
    get_object,
    get_objects,
    manifest,
    versions,
)
from varsel.api.taxii._server import API_ROOT, api_root, discovery, status

router = APIRouter(prefix="/taxii2")
router.get("/", dependencies=[Negotiated])(discovery)
router.get(f"/{API_ROOT}/", dependencies=[Negotiated])(api_root)
router.get(f"/{API_ROOT}/status/{{status_id}}/", dependencies=[Negotiated])(status)
router.get(f"/{API_ROOT}/collections/", dependencies=[Negotiated])(collections)
router.get(f"/{API_ROOT}/collections/{{collection_id}}/", dependencies=[Negotiated])(collection)
router.get(f"/{API_ROOT}/collections/{{collection_id}}/manifest/", dependencies=[Negotiated])(
    manifest
)
router.get(f"/{API_ROOT}/collections/{{collection_id}}/objects/", dependencies=[Negotiated])(
    get_objects
)
router.post(f"/{API_ROOT}/collections/{{collection_id}}/objects/", dependencies=[Negotiated])(
    add_objects
)
router.get(
    f"/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/", dependencies=[Negotiated]
)(get_object)
router.delete(
    f"/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/", dependencies=[Negotiated]
)(delete_object)
router.get(
    f"/{API_ROOT}/collections/{{collection_id}}/objects/{{object_id}}/versions/",
    dependencies=[Negotiated],
)(versions)

__all__ = [
    "API_ROOT",
    "Negotiated",
    "add_objects",
    "api_root",
    "collection",
    "collections",
    "delete_object",
    "discovery",
    "get_object",
    "get_objects",
    "manifest",
    "router",
    "status",
    "versions",
]
