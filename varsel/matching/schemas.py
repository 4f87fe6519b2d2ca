"""Request bodies of the matching API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from varsel.observables.normalize import Role


class ObservableIn(BaseModel):
    """One observable and, optionally, what it is."""

    value: str = Field(min_length=1, max_length=4096)
    type: Role = Role.ANY


class MatchRequest(BaseModel):
    """A small batch of observables to match against the indicators the caller may read."""

    observables: list[ObservableIn | str] = Field(max_length=1000)
    subdomains: bool = Field(
        default=False, description="Let domain indicators match their subdomains too."
    )
