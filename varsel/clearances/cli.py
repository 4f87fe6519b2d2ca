"""``varsel clearance …`` and ``varsel person …``: the register from the command line.

``varsel clearance check PERSON --level NO:KONFIDENSIELT`` prints the decision and its reasons
and exits 0 when allowed, 4 when refused (1 stays a domain error, 2 a usage error).
"""

# Commands: no ``from __future__ import annotations`` (see varsel.console).

import json
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from varsel.console import DatabaseOpt, unit_of_work
from varsel.errors import InvalidInput

if TYPE_CHECKING:
    from varsel.policy.principal import Principal

clearance_app = typer.Typer(
    help="Personnel security clearances across borders.", no_args_is_help=True
)
person_app = typer.Typer(help="Persons in the clearance register.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
EXIT_REFUSED = 4

AsOpt = Annotated[
    str | None,
    typer.Option(
        "--as", help="Act as this hub user (default: the local operator, recorded as 'cli')."
    ),
]


def _principal(session: object, username: str | None) -> "Principal | None":
    from varsel.orgs import service as orgs
    from varsel.policy.principal import principal_of

    if not username:
        return None
    return principal_of(orgs.get_user(session=session, username=username))  # type: ignore[arg-type]


def _date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{what} must be a date like 2027-12-31, got {text!r}") from None


@person_app.command("add")
def person_add(
    name: str,
    employer: Annotated[str, typer.Option(help="Employer organisation (by name).")],
    nationality: Annotated[str, typer.Option(help="ISO 3166-1 alpha-2 code.")],
    user: Annotated[str | None, typer.Option(help="Link to this hub user.")] = None,
    as_user: AsOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Register a person; prints the person's id."""
    from varsel.clearances import service

    with unit_of_work(database_url) as session:
        person = service.add_person(
            session=session,
            principal=_principal(session, as_user),
            name=name,
            nationality=nationality,
            employer=employer,
            username=user,
        )
        out.print(person.id)


@person_app.command("list")
def person_list(as_user: AsOpt = None, database_url: DatabaseOpt = None) -> None:
    """List the persons in the register."""
    from varsel.clearances import service

    with unit_of_work(database_url) as session:
        table = Table("id", "name", "nationality", "employer id", "user id")
        for p in service.list_persons(session=session, principal=_principal(session, as_user)):
            table.add_row(
                str(p.id), p.name, p.nationality, str(p.employer_org_id), str(p.user_id or "")
            )
        out.print(table)


@clearance_app.command("add")
def clearance_add(
    person: Annotated[str, typer.Argument(help="Person id, linked username or unique name.")],
    country: Annotated[str, typer.Option(help="Issuing country, e.g. SE.")],
    level: Annotated[str, typer.Option(help="Level as written, e.g. HEMLIG.")],
    authority: Annotated[str, typer.Option(help="Issuing authority.")],
    valid_from: Annotated[str, typer.Option(help="First valid day, YYYY-MM-DD.")],
    valid_until: Annotated[str, typer.Option(help="Last valid day (inclusive), YYYY-MM-DD.")],
    scope: Annotated[str, typer.Option(help="national, nato or eu.")] = "national",
    verified: Annotated[
        bool, typer.Option("--verified", help="Also record the security officer's verification.")
    ] = False,
    as_user: AsOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Register a clearance (declared; --verified also verifies it); prints its id."""
    from varsel.clearances import service

    with unit_of_work(database_url) as session:
        principal = _principal(session, as_user)
        who = service.find_person(session=session, principal=principal, ref=person)
        clearance = service.add_clearance(
            session=session,
            principal=principal,
            person=who,
            country=country,
            level=level,
            authority=authority,
            valid_from=_date(valid_from, "--valid-from"),
            valid_until=_date(valid_until, "--valid-until"),
            scope=scope,
        )
        if verified:
            service.verify_clearance(
                session=session, principal=principal, clearance_id=clearance.id
            )
        out.print(clearance.id)


@clearance_app.command("verify")
def clearance_verify(
    clearance_id: int, as_user: AsOpt = None, database_url: DatabaseOpt = None
) -> None:
    """Record the security officer's verification of a clearance."""
    from varsel.clearances import service

    with unit_of_work(database_url) as session:
        service.verify_clearance(
            session=session, principal=_principal(session, as_user), clearance_id=clearance_id
        )
        out.print(f"clearance {clearance_id} verified")


@clearance_app.command("revoke")
def clearance_revoke(
    clearance_id: int,
    reason: Annotated[str, typer.Option(help="Why it is revoked.")],
    as_user: AsOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Revoke a clearance at once."""
    from varsel.clearances import service

    with unit_of_work(database_url) as session:
        service.revoke_clearance(
            session=session,
            principal=_principal(session, as_user),
            clearance_id=clearance_id,
            reason=reason,
        )
        out.print(f"clearance {clearance_id} revoked")


@clearance_app.command("list")
def clearance_list(
    person: Annotated[str | None, typer.Option(help="Only this person's clearances.")] = None,
    as_user: AsOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """List clearances and their state."""
    from varsel.clearances import service

    with unit_of_work(database_url) as session:
        principal = _principal(session, as_user)
        who = (
            service.find_person(session=session, principal=principal, ref=person)
            if person
            else None
        )
        table = Table("id", "person", "country", "scope", "level", "valid", "state")
        for c in service.list_clearances(session=session, principal=principal, person=who):
            state = "revoked" if c.revoked_at else c.state
            table.add_row(
                str(c.id),
                str(c.person_id),
                c.country,
                c.scope,
                c.level,
                f"{c.valid_from} – {c.valid_until}",
                state,
            )
        out.print(table)


@clearance_app.command("expiring")
def clearance_expiring(
    days: Annotated[int, typer.Option(help="Within this many days.", min=0)] = 60,
    as_user: AsOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """List clearances whose last valid day is near."""
    from varsel.clearances import service

    with unit_of_work(database_url) as session:
        table = Table("id", "person", "country", "level", "last valid day")
        for c in service.expiring(
            session=session, principal=_principal(session, as_user), within_days=days
        ):
            table.add_row(str(c.id), str(c.person_id), c.country, c.level, str(c.valid_until))
        out.print(table)


@clearance_app.command("check")
def clearance_check(
    person: Annotated[str, typer.Argument(help="Person id, linked username or unique name.")],
    level: Annotated[str, typer.Option(help="Material's classification, e.g. NO:KONFIDENSIELT.")],
    community: Annotated[
        str | None, typer.Option(help="Community owning the material (need-to-know).")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(help="Decide for this moment (ISO 8601 with offset) instead of now."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
    as_user: AsOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Decide whether PERSON may see material classified --level; exit 4 when refused."""
    from varsel.clearances import service

    with unit_of_work(database_url) as session:
        principal = _principal(session, as_user)
        when = None
        if at:
            try:
                when = datetime.fromisoformat(at)
            except ValueError:
                raise InvalidInput(f"--at must be an ISO 8601 time, got {at!r}") from None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
        who = service.find_person(session=session, principal=principal, ref=person)
        decision = service.check(
            session=session,
            principal=principal,
            person=who,
            label=level,
            at=when,
            community=community,
        )
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "person": who.id,
                    "material": level,
                    "allowed": decision.allowed,
                    "reasons": decision.reasons,
                }
            )
        )
    else:
        for reason in decision.reasons:
            out.print(reason, markup=False, highlight=False)
    if not decision.allowed:
        raise typer.Exit(EXIT_REFUSED)


@clearance_app.command("recognise")
def clearance_recognise(
    clearance_id: Annotated[int, typer.Argument(help="The clearance to be recognised.")],
    country: Annotated[str, typer.Option(help="The recognising country, e.g. NO.")],
    note: Annotated[str, typer.Option(help="A note to the authority.")] = "",
    as_user: AsOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Ask COUNTRY's authority to recognise a verified clearance; prints the request id."""
    from varsel.clearances import service

    with unit_of_work(database_url) as session:
        request = service.request_recognition(
            session=session,
            principal=_principal(session, as_user),
            clearance_id=clearance_id,
            country=country,
            note=note,
        )
        out.print(request.id)


@clearance_app.command("decide")
def clearance_decide(
    request_id: Annotated[int, typer.Argument(help="The recognition request.")],
    approve: Annotated[bool, typer.Option("--approve/--refuse", help="The answer.")],
    reason: Annotated[str, typer.Option(help="Why (required to refuse).")] = "",
    as_user: AsOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Approve or refuse a recognition request as the recognising authority."""
    from varsel.clearances import service

    with unit_of_work(database_url) as session:
        request = service.decide_recognition(
            session=session,
            principal=_principal(session, as_user),
            request_id=request_id,
            approve=approve,
            reason=reason,
        )
        out.print(f"request {request.id} {request.status}")


@clearance_app.command("requests")
def clearance_requests(
    status: Annotated[str | None, typer.Option(help="pending, approved, refused.")] = None,
    as_user: AsOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """List recognition requests."""
    from varsel.clearances import service

    with unit_of_work(database_url) as session:
        table = Table(
            "id", "clearance", "country", "status", "requested by", "decided by", "reason"
        )
        for r in service.list_recognitions(
            session=session, principal=_principal(session, as_user), status=status
        ):
            table.add_row(
                str(r.id),
                str(r.clearance_id),
                r.country,
                r.status,
                r.requested_by,
                r.decided_by or "",
                r.reason or "",
            )
        out.print(table)


@clearance_app.command("notify")
def clearance_notify(
    today: Annotated[str | None, typer.Option(help="Pretend today is this date.")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Send the due 60/30/7-day expiry warnings once each; prints what was sent."""
    from varsel.clearances import notices

    with unit_of_work(database_url) as session:
        sent = notices.send_expiry_warnings(
            session=session,
            today=_date(today, "--today") if today else None,
            mailer=notices.smtp_mailer(),
        )
        for n in sent:
            out.print(
                f"clearance {n.clearance_id}: {n.days_ahead} days' notice to "
                f"{n.recipient} ({n.channel}, {n.status})",
                markup=False,
            )
        out.print(f"{len(sent)} warning(s)")


@clearance_app.command("levels")
def clearance_levels() -> None:
    """Print the equivalence table and the hub's accreditation ceiling."""
    from varsel.clearances import rules

    table = Table("scheme", "grade", "level", "verified")
    for sch in rules.schemes():
        for lvl in sch.levels:
            table.add_row(sch.code, str(lvl.grade), lvl.name, "yes" if lvl.verified else "[verify]")
    out.print(table)
    out.print(rules.ceiling().describe(), markup=False)


def register(app: typer.Typer) -> None:
    """Add ``clearance`` and ``person`` to the command line."""
    app.add_typer(clearance_app, name="clearance")
    app.add_typer(person_app, name="person")
