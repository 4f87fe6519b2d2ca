"""Commands on the incident itself: open, list, invite, describe the entity, record facts."""

# Commands: no ``from __future__ import annotations`` (see varsel.console).

from typing import Annotated, Any

import typer
from rich.table import Table

from varsel.errors import InvalidInput
from varsel.incidents.cli._common import AsOpt, DatabaseOpt, out, principal_named, split_list


def new(
    title: Annotated[str, typer.Option(help="Short title.")],
    as_user: AsOpt,
    summary: Annotated[str, typer.Option(help="What happened.")] = "",
    severity: Annotated[str, typer.Option(help="low, medium, high or critical.")] = "medium",
    tlp: Annotated[str, typer.Option(help="clear, green, amber, amber+strict or red.")] = "amber",
    classification: Annotated[
        str | None, typer.Option(help='RSIT machine tag, e.g. rsit:availability="ddos".')
    ] = None,
    notify: Annotated[
        list[str] | None, typer.Option(help="E-mail address told before deadlines (repeat).")
    ] = None,
    webhook: Annotated[str | None, typer.Option(help="Webhook URL told before deadlines.")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Open an incident led by your organisation; prints its id on stdout."""
    from varsel.console import unit_of_work
    from varsel.incidents import service

    with unit_of_work(database_url) as session:
        incident = service.create(
            session=session,
            principal=principal_named(session, as_user),
            title=title,
            summary=summary,
            severity=severity,
            tlp=tlp,
            classification=classification,
            notify_emails=split_list(notify),
            webhook_url=webhook,
        )
    typer.echo(incident.id)


def list_(as_user: AsOpt, database_url: DatabaseOpt = None) -> None:
    """List the incidents you may read."""
    from varsel.console import unit_of_work
    from varsel.incidents import service

    with unit_of_work(database_url) as session:
        table = Table("id", "title", "status", "severity", "TLP")
        for i in service.list_incidents(
            session=session, principal=principal_named(session, as_user)
        ):
            table.add_row(str(i.id), i.title, i.status, i.severity, i.tlp)
    out.print(table)


def invite(
    incident_id: int,
    as_user: AsOpt,
    role: Annotated[str, typer.Option(help="lead, affected, responder, authority, observer.")],
    org: Annotated[str | None, typer.Option(help="An organisation, e.g. a national CSIRT.")] = None,
    user: Annotated[str | None, typer.Option(help="A single user.")] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Invite an organisation or a user to an incident."""
    from varsel.console import unit_of_work
    from varsel.incidents import service

    with unit_of_work(database_url) as session:
        service.add_participant(
            session=session,
            principal=principal_named(session, as_user),
            incident_id=incident_id,
            role=role,
            org=org,
            username=user,
        )
    out.print(f"{org or user} joined incident {incident_id} as {role}")


def entity(
    incident_id: int,
    as_user: AsOpt,
    name: Annotated[str, typer.Option(help="The affected entity's name.")],
    established_in: Annotated[list[str], typer.Option(help="Country of establishment (repeat).")],
    serves: Annotated[
        list[str] | None,
        typer.Option(help="Country where the affected services are provided (repeat)."),
    ] = None,
    main_establishment: Annotated[str | None, typer.Option(help="Main establishment.")] = None,
    nis2_class: Annotated[str | None, typer.Option(help="essential or important.")] = None,
    sector: Annotated[str | None, typer.Option(help="NIS2 sector, e.g. energy.")] = None,
    entity_type: Annotated[
        str | None,
        typer.Option(
            help="2024/2690 type (dns, tld, cloud, data-centre, cdn, msp, mssp, marketplace, "
            "search-engine, social-network, trust-service) or electronic-communications."
        ),
    ] = None,
    nis1_scope: Annotated[
        bool, typer.Option(help="In scope of Norway's or Iceland's NIS1-based law.")
    ] = False,
    dora: Annotated[bool, typer.Option(help="A DORA financial entity.")] = False,
    dora_kind: Annotated[
        str | None,
        typer.Option(help="credit-institution, central-counterparty, trading-venue, ..."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            help="Add or change a further affected entity under this key (e.g. se-sub); "
            "without it, the incident's first entity is set."
        ),
    ] = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Set an affected entity's profile (decides which countries' rules apply)."""
    from varsel.console import unit_of_work
    from varsel.incidents import service

    values: dict[str, Any] = {
        "name": name,
        "established_in": split_list(established_in),
        "services_in": split_list(serves),
        "main_establishment": main_establishment,
        "nis2_class": nis2_class,
        "sector": sector,
        "entity_type": entity_type,
        "nis1_scope": nis1_scope,
        "dora_financial": dora,
        "dora_entity_kind": dora_kind,
    }
    with unit_of_work(database_url) as session:
        me = principal_named(session, as_user)
        if key:
            service.set_entity(
                session=session, principal=me, incident_id=incident_id, key=key, **values
            )
        else:
            service.set_profile(session=session, principal=me, incident_id=incident_id, **values)
    which = f"affected entity {key}" if key else "entity profile"
    out.print(f"{which} of incident {incident_id} set")


def facts(
    incident_id: int,
    as_user: AsOpt,
    set_: Annotated[
        list[str],
        typer.Option("--set", help="NAME=VALUE (repeat); VALUE 'null' clears; times in ISO 8601."),
    ],
    entity_key: Annotated[
        str,
        typer.Option(
            "--entity", help="A further affected entity's key: its own facts (default: shared)."
        ),
    ] = "",
    database_url: DatabaseOpt = None,
) -> None:
    """Record impact facts, e.g. --set detected_at=2026-03-27T16:00+02:00.

    Facts (docs/reporting.md explains each): times detected_at, aware_at, classified_major_at,
    resolved_at; counts users_total, users_affected, clients_total, clients_affected,
    domains_managed, domains_affected; shares (%) users_affected_share_pct,
    clients_affected_share_pct, domains_affected_share_pct, financial_loss_pct_of_turnover;
    figures unavailable_minutes, weekly_unavailable_minutes, degraded_minutes,
    avg_response_seconds, duration_hours, financial_loss_eur, turnover_eur; yes/no
    data_compromised, misconfiguration, physical_access_compromised, suspected_malicious,
    cross_border, trade_secrets_exfiltrated, death, health_damage, malicious_access_severe,
    recurring, scheduled_maintenance, severe_operational_disruption,
    considerable_damage_to_others, nis1_significant_impact, critical_services_affected,
    dora_materiality_threshold_met, reputational_impact.
    """
    from varsel.console import unit_of_work
    from varsel.incidents import service

    values: dict[str, Any] = {}
    for item in set_:
        name, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"--set wants NAME=VALUE, got {item!r}")
        values[name.strip()] = None if value.strip() == "null" else value.strip()
    with unit_of_work(database_url) as session:
        current = service.set_facts(
            session=session,
            principal=principal_named(session, as_user),
            incident_id=incident_id,
            values=values,
            entity=entity_key,
        )
    out.print(f"{len(values)} fact(s) recorded; {len(current)} known")
