"""Persons in the register: register one (by the employer's officers), find one, list them.

Reads go through :func:`varsel.policy.restrict` unless the local operator asks.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clearances.models import Person
from varsel.clearances.service._common import actor_label, country_code, is_officer
from varsel.clock import utcnow
from varsel.errors import Conflict, Forbidden, InvalidInput, NotFound
from varsel.orgs import service as orgs
from varsel.orgs.models import User
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal


def add_person(
    *,
    session: Session,
    principal: Principal | None,
    name: str,
    nationality: str,
    employer: str,
    username: str | None = None,
) -> Person:
    """Register a person employed by ``employer``, linked to hub user ``username`` if given."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("a person needs a name of 1-200 characters")
    nationality = country_code(nationality, "nationality")
    org = orgs.get_org(session=session, name=employer)
    if not is_officer(principal, org.id):
        raise Forbidden(
            f"only a security officer of {employer} or a hub-admin registers its personnel"
        )
    user_id = None
    if username:
        user = orgs.get_user(session=session, username=username)
        if user.org_id != org.id:
            raise InvalidInput(
                f"user {username!r} belongs to another organisation than "
                f"{employer}; a person's user must work for the employer"
            )
        if session.execute(select(Person.id).where(Person.user_id == user.id)).first():
            raise Conflict(f"user {username!r} is already linked to a person")
        user_id = user.id
    person = Person(
        name=name,
        nationality=nationality,
        employer_org_id=org.id,
        user_id=user_id,
        created_at=utcnow(),
    )
    session.add(person)
    session.flush()
    audit.record(
        session=session,
        actor=actor_label(principal),
        action="clearance.person.add",
        target=f"person:{person.id}",
        details={"name": name, "employer": employer, "user": username},
    )
    return person


def find_person(*, session: Session, principal: Principal | None, ref: str | int) -> Person:
    """Return the person ``ref`` names (id, linked username, or unique name) that may be seen."""
    query = select(Person)
    if isinstance(ref, int) or str(ref).isdigit():
        query = query.where(Person.id == int(ref))
    else:
        by_user = select(User.id).where(User.username == ref)
        candidates = select(Person.id).where(Person.user_id.in_(by_user))
        if session.execute(candidates).first() is not None:
            query = query.where(Person.id.in_(candidates))
        else:
            query = query.where(Person.name == ref)
    if principal is not None:
        query = restrict(query, principal, Action.READ)
    found = session.execute(query.limit(2)).scalars().all()
    if not found:
        raise NotFound(f"no person {ref!r} in the clearance register")
    if len(found) > 1:
        raise InvalidInput(f"more than one person is called {ref!r}; use the person's id")
    return found[0]


def person_for_user(*, session: Session, user_id: int) -> Person | None:
    """Return the person linked to hub user ``user_id``, if any."""
    return session.execute(select(Person).where(Person.user_id == user_id)).scalar_one_or_none()


def list_persons(*, session: Session, principal: Principal | None) -> list[Person]:
    """Return the persons ``principal`` may see, by name."""
    query = select(Person).order_by(Person.name, Person.id)
    if principal is not None:
        query = restrict(query, principal, Action.READ)
    return list(session.execute(query).scalars())
