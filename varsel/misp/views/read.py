"""MISP REST API routes that read: version, user, types, events, searches, feeds (docs/misp.md)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
