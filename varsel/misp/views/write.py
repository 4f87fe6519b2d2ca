"""MISP REST API routes that share: events/add, events/edit, sightings/add (docs/misp.md)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
