"""The access policy: the one place that decides who may read or write what.

Every read path — TAXII, REST, web pages, listings, search, exports — builds its query and hands
it to :func:`restrict`, which adds the policy's conditions in SQL. A query over something the
policy does not know returns nothing, so a forgotten rule leaks nothing (NetBox's
``RestrictedQuerySet`` works the same way). The rules are documented in ``docs/access-policy.md``;
keep the two in step.

Rules for reading a STIX object version in collection C, owned by community K, for principal P
(user U of organisation O with role R):

1. O produced it (shared it into the hub)                                 → visible
2. TLP:CLEAR                                                               → visible
3. TLP:GREEN, TLP:AMBER: O is a member of K and R is one of C's read roles
   TLP:AMBER+STRICT that names no recipients: the same, unless P is a peer hub
                                                                           → visible
4. TLP:AMBER: a member M of K re-shared this object to O, and O is still a registered client
   of M, and M is still a member of K                                      → visible
5. TLP:RED, or TLP:AMBER+STRICT that names recipients: O or U is named as a recipient of
   this version                                                            → visible
Nothing else is visible. A peer hub (a user of an organisation of kind ``hub``,
``Principal.hub``) thus reads TLP:AMBER+STRICT and TLP:RED only where it is named (rule 5) or
produced it (rule 1): docs/federation.md, "TLP across hubs". A recipient at another hub is a
recipient row for that hub's organisation (``Recipient.remote`` says whom there), so rule 5
needs nothing more for it. An older version is visible only while the latest version of its
series (collection, id, producer) is visible too: withdrawn is withdrawn. For a classified
version (a classification marking of country and level), the clearance condition of
``varsel.clearances.condition`` is ANDed with rules 1-5: the principal's clearances must allow
that level today (docs/classification.md). Membership, client relations, recipients and
clearances are read at query time, so changes take effect on the next request.

Community metadata is need-to-know: a community, its member list and its collections (their
existence, title and description) are seen by everyone only if the community is *listed*; an
unlisted one (the default) only by the users of its member organisations and by hub-admins
(:func:`_community_visible`). Organisation names stay visible to every authenticated user,
since they are needed to address TLP:RED shares and to see who produced what. Objects keep rules
1-5: a TLP:CLEAR object in an unlisted community's collection is still readable by everyone on
the paths that read objects, but the collection itself is not shown to outsiders.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import lru_cache
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Select, and_, exists, false, literal, or_, select, true
from sqlalchemy.sql.util import ClauseAdapter

from varsel.alerts.models import AlertPreference, Notification, SavedFilter, Watch
from varsel.audit.models import AuditEvent
from varsel.clearances import condition as clearance_condition
from varsel.clearances.models import Clearance, ExpiryNotice, Person, RecognitionRequest
from varsel.incidents.models import Incident, Participant, ParticipantRole
from varsel.orgs.models import (
    ApiToken,
    ClientRelation,
    Community,
    CommunityMember,
    Organisation,
    Role,
    TokenScope,
    User,
    Visibility,
)
from varsel.policy.principal import Principal
from varsel.sharing.models import Collection, Recipient, Reshare, StixObject
from varsel.sharing.tlp import TLP

Q = TypeVar("Q", bound="Select[*tuple[Any, ...]]")

# Read by the members of the collection's community (rule 3); AMBER+STRICT is added below.
_COMMUNITY_LEVELS = (TLP.GREEN.value, TLP.AMBER.value)
# Read by the recipients they name (rule 5).
_ADDRESSED_LEVELS = (TLP.RED.value, TLP.AMBER_STRICT.value)


class Action(StrEnum):
    """What the principal wants to do."""

    READ = "read"
    WRITE = "write"
    DELETE = "delete"


def _has_role(roles_column: Any, role: Role) -> Any:
    # Roles are stored space-separated; pad both sides so "admin" can never match "org-admin".
    return (literal(" ") + roles_column + literal(" ")).contains(f" {role.value} ")


def _member_collections(org_id: int, role: Role, action: Action) -> Select[Any]:
    """Return the ids of collections whose community has O as member and whose rights admit R."""
    roles = Collection.write_roles if action is Action.WRITE else Collection.read_roles
    return (
        select(Collection.id)
        .join(CommunityMember, CommunityMember.community_id == Collection.community_id)
        .where(CommunityMember.org_id == org_id, _has_role(roles, role))
    )


def object_read_condition(principal: Principal) -> Any:
    """Return the SQL condition under which ``principal`` may read a StixObject row."""
    tlp_and_community = _tlp_and_community(
        principal.org_id, principal.user_id, principal.role, principal.hub
    )
    # Classified rows also need the clearance decision, for the producer too: the hub never
    # shows anyone more than their own clearance (docs/classification.md). Built on every call:
    # it depends on the day and on the hub's accreditation, not on the principal alone.
    return and_(tlp_and_community, clearance_condition.read_condition(principal))


# The latest version of a row's series, for the rule below.
_SERIES_LATEST = StixObject.__table__.alias("series_latest")


@lru_cache(maxsize=1024)
def _series_latest_tlp_and_community(org_id: int, user_id: int, role: Role, hub: bool) -> Any:
    """Return rules 1-5 applied to the series' latest row; memoised as rules 1-5 are."""
    return ClauseAdapter(_SERIES_LATEST).traverse(_tlp_and_community(org_id, user_id, role, hub))


@lru_cache(maxsize=1024)
def _not_withdrawn(org_id: int, user_id: int, role: Role, hub: bool) -> Any:
    """Return the condition that a row is its series' latest version or that one is readable.

    Once a producer re-marks an object so that a principal may no longer read its latest
    version (AMBER to RED, say), no older version may stand in for it on any path. Memoised
    like rules 1-5, on everything it depends on.
    """
    latest = _SERIES_LATEST
    # The row itself passes the clearance condition (ANDed by the caller). Clearance is
    # monotonic in grade within a scheme, so a latest version unclassified, or of the row's
    # scheme and no higher grade, passes it too. Any other classification of the latest version
    # counts as unreadable here: narrower at worst, never wider, and it spares building the
    # clearance condition a second time (milliseconds with an accreditation ceiling).
    no_higher = or_(
        latest.c.class_grade.is_(None),
        and_(
            latest.c.class_country == StixObject.class_country,
            latest.c.class_grade <= StixObject.class_grade,
        ),
    )
    return or_(
        StixObject.is_latest.is_(True),
        exists(
            select(latest.c.id)
            .where(
                latest.c.stix_id == StixObject.stix_id,
                latest.c.collection_id == StixObject.collection_id,
                latest.c.producer_org_id == StixObject.producer_org_id,
                latest.c.is_latest.is_(True),
                _series_latest_tlp_and_community(org_id, user_id, role, hub),
                no_higher,
            )
            .correlate(StixObject)
        ),
    )


@lru_cache(maxsize=1024)
def _tlp_and_community(org_id: int, user_id: int, role: Role, hub: bool) -> Any:
    """Return rules 1-5 as SQL for one organisation, user and role (``hub``: a peer hub's).

    Memoised because building this expression cost more than running the query it guards
    (about 0.5 ms a request). What is kept is an SQL expression with the ids bound in, not a
    decision: membership, client relations and recipients are still read by the query, at
    query time, and the arguments are everything the expression depends on, so a role change
    (or an organisation's kind) is a new key. A built expression is immutable, and SQLAlchemy
    itself shares such expressions between threads (its statement cache), so one copy serves
    every thread.
    """
    member_of_community = StixObject.collection_id.in_(
        _member_collections(org_id, role, Action.READ)
    )
    provider = ClientRelation.__table__.alias("provider")
    reshared_to_me = exists(
        select(Reshare.id)
        .join(
            provider,
            and_(
                provider.c.provider_id == Reshare.from_org_id,
                provider.c.client_id == Reshare.to_org_id,
            ),
        )
        .join(Collection, Collection.id == StixObject.collection_id)
        .join(
            CommunityMember,
            and_(
                CommunityMember.community_id == Collection.community_id,
                CommunityMember.org_id == Reshare.from_org_id,
            ),
        )
        .where(Reshare.object_pk == StixObject.id, Reshare.to_org_id == org_id)
    )
    named_recipient = exists(
        select(Recipient.id).where(
            Recipient.object_pk == StixObject.id,
            or_(Recipient.org_id == org_id, Recipient.user_id == user_id),
        )
    )
    rules = [
        StixObject.producer_org_id == org_id,
        StixObject.tlp == TLP.CLEAR.value,
        and_(StixObject.tlp.in_(_COMMUNITY_LEVELS), member_of_community),
        and_(StixObject.tlp == TLP.AMBER.value, reshared_to_me),
        and_(StixObject.tlp.in_(_ADDRESSED_LEVELS), named_recipient),
    ]
    if not hub:
        # AMBER+STRICT that names recipients is theirs alone; without, the community's. A peer
        # hub reads it only where named: its community at the other hub is not this one's.
        addressed = exists(select(Recipient.id).where(Recipient.object_pk == StixObject.id))
        rules.append(
            and_(StixObject.tlp == TLP.AMBER_STRICT.value, member_of_community, ~addressed)
        )
    return or_(*rules)


def _object_rule(query: Q, principal: Principal, action: Action) -> Q:
    if action is Action.READ:
        return query.where(
            object_read_condition(principal),
            _not_withdrawn(principal.org_id, principal.user_id, principal.role, principal.hub),
        )
    if action is Action.DELETE:
        # Only the producing organisation deletes, and only where it may still write.
        return query.where(
            StixObject.producer_org_id == principal.org_id,
            StixObject.collection_id.in_(
                _member_collections(principal.org_id, principal.role, Action.WRITE)
            ),
        )
    return query.where(false())


_LISTED = Community.__table__.alias("listed_communities")
_MINE = CommunityMember.__table__.alias("my_memberships")


def _community_visible(community_id: Any, principal: Principal) -> Any:
    """Return the condition that ``principal`` may know the community ``community_id``.

    Listed communities are seen by everyone, unlisted ones by the users of their member
    organisations; hub-admins see all (they administer communities). Any visibility other than
    "listed" counts as unlisted, so an unknown value shows less, never more. Membership is read
    by the query, so joining or leaving takes effect on the next request.
    """
    if principal.role is Role.HUB_ADMIN:
        return true()
    # Aliases, so that the subqueries never correlate with a query over the same tables.
    listed = select(_LISTED.c.id).where(_LISTED.c.visibility == Visibility.LISTED.value)
    mine = select(_MINE.c.community_id).where(_MINE.c.org_id == principal.org_id)
    return or_(community_id.in_(listed), community_id.in_(mine))


def _collection_rule(query: Q, principal: Principal, action: Action) -> Q:
    if action is Action.READ:
        # A collection is seen where its community is; rules 1-5 still filter the objects in it.
        return query.where(_community_visible(Collection.community_id, principal))
    if action is Action.WRITE:
        return query.where(
            Collection.id.in_(_member_collections(principal.org_id, principal.role, Action.WRITE))
        )
    return query.where(false())


def _directory_rule(query: Q, principal: Principal, action: Action) -> Q:
    # Organisation names are needed to address TLP:RED shares and to see who shared what;
    # only hub-admins change them.
    if action is Action.READ or principal.role is Role.HUB_ADMIN:
        return query
    return query.where(false())


def _community_rule(query: Q, principal: Principal, action: Action) -> Q:
    # Need-to-know: an unlisted community is seen by its members and hub-admins only. Changes
    # go through the change rules (varsel.policy._changes); a query that writes is hub-admin's.
    if action is Action.READ:
        return query.where(_community_visible(Community.id, principal))
    if principal.role is Role.HUB_ADMIN:
        return query
    return query.where(false())


def _membership_rule(query: Q, principal: Principal, action: Action) -> Q:
    # Who belongs to a community is as sensitive as the community: same rule as above.
    if action is Action.READ:
        return query.where(_community_visible(CommunityMember.community_id, principal))
    if principal.role is Role.HUB_ADMIN:
        return query
    return query.where(false())


def _user_rule(query: Q, principal: Principal, action: Action) -> Q:
    # Hub-admins see every account (to disable one in an emergency), but organisations
    # administer their own people: a hub-admin changes accounts of its own organisation only
    # (the few changes it may make elsewhere are in the change rules below).
    if principal.role is Role.HUB_ADMIN and (action is Action.READ or principal.operator):
        return query
    if principal.role in (Role.ORG_ADMIN, Role.HUB_ADMIN):
        return query.where(User.org_id == principal.org_id)
    if action is Action.READ:
        return query.where(User.id == principal.user_id)
    return query.where(false())


def _token_rule(query: Q, principal: Principal, action: Action) -> Q:
    if principal.role is Role.HUB_ADMIN:
        return query
    if principal.role is Role.ORG_ADMIN:
        return query.where(
            ApiToken.user_id.in_(select(User.id).where(User.org_id == principal.org_id))
        )
    return query.where(ApiToken.user_id == principal.user_id)


def _audit_rule(query: Q, principal: Principal, action: Action) -> Q:
    # The audit log is append-only: nobody writes through a query, hub-admins read.
    if action is Action.READ and principal.role is Role.HUB_ADMIN:
        return query
    return query.where(false())


def _security_officer_persons(principal: Principal) -> Any:
    """Return the condition on Person rows this principal sees: own record, or as officer."""
    if principal.role is Role.ORG_ADMIN:
        return or_(Person.employer_org_id == principal.org_id, Person.user_id == principal.user_id)
    return Person.user_id == principal.user_id


def _authority_for(principal: Principal) -> ColumnElement[bool]:
    """Return the condition on RecognitionRequest rows addressed to the principal's authority."""
    if principal.role is not Role.ORG_ADMIN:
        return false()
    return and_(
        RecognitionRequest.country == principal.country,
        exists(
            select(Organisation.id).where(
                Organisation.id == principal.org_id, Organisation.kind == "authority"
            )
        ),
    )


def _addressed_clearances(principal: Principal) -> Select[Any]:
    """Return ids of clearances whose recognition was asked of the principal's authority."""
    return select(RecognitionRequest.clearance_id).where(_authority_for(principal))


def _person_rule(query: Q, principal: Principal, action: Action) -> Q:
    # Security officers are the org-admins of the person's employer; hub-admins see all;
    # a person sees their own record; an authority asked to recognise a clearance sees its
    # holder, since it cannot decide without knowing whom. Only officers and hub-admins change.
    if principal.role is Role.HUB_ADMIN:
        return query
    if action is Action.READ:
        addressed = select(Clearance.person_id).where(
            Clearance.id.in_(_addressed_clearances(principal))
        )
        return query.where(or_(_security_officer_persons(principal), Person.id.in_(addressed)))
    if principal.role is Role.ORG_ADMIN:
        return query.where(Person.employer_org_id == principal.org_id)
    return query.where(false())


def _clearance_rule(query: Q, principal: Principal, action: Action) -> Q:
    if principal.role is Role.HUB_ADMIN:
        return query
    if action is Action.READ:
        return query.where(
            or_(
                Clearance.person_id.in_(
                    select(Person.id).where(_security_officer_persons(principal))
                ),
                Clearance.id.in_(_addressed_clearances(principal)),
            )
        )
    if principal.role is Role.ORG_ADMIN:
        return query.where(
            Clearance.person_id.in_(
                select(Person.id).where(Person.employer_org_id == principal.org_id)
            )
        )
    return query.where(false())


def _recognition_rule(query: Q, principal: Principal, action: Action) -> Q:
    # Besides the person's officers, the org-admins of an authority of the country asked to
    # recognise see (and decide) the requests addressed to that country.
    if principal.role is Role.HUB_ADMIN:
        return query
    mine = RecognitionRequest.clearance_id.in_(
        select(Clearance.id)
        .join(Person, Person.id == Clearance.person_id)
        .where(_security_officer_persons(principal))
    )
    authority = _authority_for(principal)
    if action is Action.READ:
        return query.where(or_(mine, authority))
    if action is Action.WRITE and principal.role is Role.ORG_ADMIN:
        return query.where(authority)
    return query.where(false())


def _notice_rule(query: Q, principal: Principal, action: Action) -> Q:
    if action is Action.READ and principal.role is Role.HUB_ADMIN:
        return query
    if action is Action.READ:
        return query.where(ExpiryNotice.recipient_user_id == principal.user_id)
    return query.where(false())


def _incident_rule(query: Q, principal: Principal, action: Action) -> Q:
    # Participants are organisations (all their users) or single users. TLP:CLEAR incidents
    # are open to every authenticated user; every other level only to participants, so a
    # TLP:RED incident reaches exactly the named participants.
    named = exists(
        select(Participant.id).where(
            Participant.incident_id == Incident.id,
            or_(Participant.org_id == principal.org_id, Participant.user_id == principal.user_id),
        )
    )
    if action is Action.READ:
        return query.where(or_(Incident.tlp == TLP.CLEAR.value, named))
    if action is Action.WRITE:
        if principal.role is Role.HUB_ADMIN:
            return query
        lead = exists(
            select(Participant.id).where(
                Participant.incident_id == Incident.id,
                Participant.role == ParticipantRole.LEAD.value,
                or_(
                    Participant.org_id == principal.org_id, Participant.user_id == principal.user_id
                ),
            )
        )
        return query.where(lead)
    return query.where(false())


def _own_rule(column: Any) -> Callable[[Select[Any], Principal, Action], Select[Any]]:
    """Return the rule of a user's own records (alerts): theirs alone, for every action."""

    def rule(query: Select[Any], principal: Principal, action: Action) -> Select[Any]:
        if principal.operator:
            return query.where(false())  # the operator is nobody's inbox
        return query.where(column == principal.user_id)

    return rule


Rule = Callable[[Select[Any], Principal, Action], Select[Any]]

# One rule per entity, listed here explicitly; an entity missing from this table is invisible.
_RULES: dict[type[Any], Rule] = {
    StixObject: _object_rule,
    Collection: _collection_rule,
    Organisation: _directory_rule,
    Community: _community_rule,
    CommunityMember: _membership_rule,
    User: _user_rule,
    ApiToken: _token_rule,
    AuditEvent: _audit_rule,
    Incident: _incident_rule,
    Person: _person_rule,
    Clearance: _clearance_rule,
    RecognitionRequest: _recognition_rule,
    ExpiryNotice: _notice_rule,
    Notification: _own_rule(Notification.user_id),
    AlertPreference: _own_rule(AlertPreference.user_id),
    Watch: _own_rule(Watch.user_id),
    SavedFilter: _own_rule(SavedFilter.user_id),
}


def restrict(query: Q, principal: Principal | None, action: Action) -> Q:
    """Return ``query`` narrowed to what ``principal`` may do ``action`` to; empty if unknown.

    The entity of the query's first column decides which rule applies; a query over an entity
    without a rule, or without a principal, returns nothing. A read-only token writes nothing.
    """
    if principal is None or not query.column_descriptions:
        return query.where(false())
    if action is not Action.READ and principal.scope is TokenScope.READ:
        return query.where(false())
    entity = query.column_descriptions[0].get("entity")
    rule = _RULES.get(entity) if entity is not None else None
    if rule is None:
        return query.where(false())
    # Every rule only adds WHERE clauses, so the query keeps its type.
    return cast(Q, rule(query, principal, action))
