"""A refusal at the HTTP level, which the error handlers of :mod:`varsel.api.errors` answer."""

from __future__ import annotations

__all__ = ["HttpProblem"]


class HttpProblem(Exception):
    """An HTTP-level refusal raised by the web layer itself (406, 413, 415)."""

    def __init__(self, status: int, title: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.title = title
        self.description = description
