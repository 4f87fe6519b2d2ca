"""Receive a batch of versions and tombstones from a peer hub, pulled or pushed.

The batch is the JSON object of a stream ``batch`` event (docs/federation.md, "Protocol").
Nothing in it is believed because of who sent it: each seal is verified once against the key
this hub pinned for the seal's origin (``trusted_hubs``), each version's digest must be in its
seal, and each tombstone must carry its origin's signature. So a relay can forward what it
received and the origin's signature still covers every byte; a version or tombstone that fails
a check is refused (a :class:`~varsel.federation.models.Refusal` row and one audit event), the
rest of the batch is applied.

Versions are stored through the ingest's own :func:`~varsel.sharing.ingest.store`, under the
origin's hub organisation (the producer binding of #7 becomes origin hub + producer), with the
TLP, classification and recipients of the signed provenance; the receiver never re-derives
them. A malformed batch (not the shape of the format) is refused whole with InvalidInput before
anything is written; everything else happens in the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import and_, insert, or_, select
from sqlalchemy.orm import Session

from varsel import config
from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import InvalidInput
from varsel.federation.models import Refusal, TrustedHub
from varsel.orgs.models import Organisation, OrgKind, Role, User
from varsel.orgs.names import name_key, username_key
from varsel.policy.principal import Principal
from varsel.provenance import keys, seal
from varsel.sharing import tombstones
from varsel.sharing.ingest import Addressee, Candidate, IngestResult, keep_seal, store
from varsel.sharing.ingest.marking import received_classification
from varsel.sharing.models import Collection, StixObject, Tombstone
from varsel.sharing.models import Seal as SealRow
from varsel.sharing.tlp import TLP
from varsel.sharing.validation import InvalidStixObject, timestamp_key, validate_object

# Why a version or tombstone is refused (the first word is what ``peer status`` counts).
UNKNOWN_ORIGIN = "unknown origin"
FORGED = "forged"
TAMPERED = "tampered"
_LOOP = "loop"
_PRESENT = "already present"
# Refusals an audit event lists; the rows of ``federation_refusals`` keep every one.
_AUDITED = 100
_NOBODY = 0
# The longest seal id and STIX id the tables hold (varsel.sharing.models).
_SEAL_ID_LIMIT = 140
_STIX_ID_LIMIT = 300


@dataclass(frozen=True, slots=True)
class Refused:
    """A version or tombstone this hub refused, and why."""

    id: str | None
    reason: str


@dataclass
class ReceiveResult:
    """What a batch did here: the push endpoint's answer, and the link's counters."""

    accepted: int = 0
    duplicates: int = 0
    refused: list[Refused] = field(default_factory=list)
    tombstones: int = 0
    # Recipients the provenance named that this hub cannot place: kept out of the answer,
    # since a peer could otherwise learn which usernames exist here.
    dropped_recipients: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Return the push endpoint's answer (docs/federation.md, "Push")."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "refused": [{"id": r.id, "reason": r.reason} for r in self.refused],
            "tombstones": self.tombstones,
        }


@dataclass(frozen=True, slots=True)
class _Version:
    raw: str
    provenance: str | None
    seal_id: str | None


@dataclass(frozen=True, slots=True)
class _Batch:
    seals: dict[str, seal.Seal]
    objects: list[_Version]
    tombstones: list[dict[str, Any]]


def _parse(batch: Any) -> _Batch:
    """Return the batch's parts, or InvalidInput if it is not in the format at all."""
    if not isinstance(batch, dict):
        raise InvalidInput("a federation batch is a JSON object")
    seals_doc = batch.get("seals", {})
    objects_doc = batch.get("objects", [])
    tombstones_doc = batch.get("tombstones", [])
    if not isinstance(seals_doc, dict):
        raise InvalidInput("'seals' must be an object of seals by id")
    if not isinstance(objects_doc, list) or not isinstance(tombstones_doc, list):
        raise InvalidInput("'objects' and 'tombstones' must be lists")
    seals: dict[str, seal.Seal] = {}
    for seal_id, doc in seals_doc.items():
        try:
            parsed = seal.Seal.from_json(doc)
        except ValueError as exc:
            raise InvalidInput(f"seal {str(seal_id)[:140]!r}: {exc}") from None
        if parsed.id != seal_id:
            raise InvalidInput(f"seal {seal_id[:140]!r} is filed under another id")
        seals[seal_id] = parsed
    objects: list[_Version] = []
    for n, item in enumerate(objects_doc):
        if not isinstance(item, dict) or not isinstance(item.get("raw"), str):
            raise InvalidInput(f"objects[{n}] must be an object with a string 'raw'")
        prov, seal_id = item.get("provenance"), item.get("seal")
        if not (prov is None or isinstance(prov, str)) or not (
            seal_id is None or isinstance(seal_id, str)
        ):
            raise InvalidInput(f"objects[{n}]: 'provenance' and 'seal' must be strings")
        if seal_id is not None and seal_id not in seals:
            raise InvalidInput(f"objects[{n}] names seal {seal_id[:140]!r}, which is not sent")
        if "\x00" in item["raw"] or (prov is not None and "\x00" in prov):
            # No hub stores a NUL character (PostgreSQL text cannot hold one).
            raise InvalidInput(f"objects[{n}] holds a NUL character")
        objects.append(_Version(item["raw"], prov, seal_id))
    for n, doc in enumerate(tombstones_doc):
        if not isinstance(doc, dict):
            raise InvalidInput(f"tombstones[{n}] must be an object")
    return _Batch(seals, objects, list(tombstones_doc))


def _stix_id(raw: str) -> str | None:
    """Return the id a raw version names, for reporting only."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    found = obj.get("id") if isinstance(obj, dict) else None
    return found[:_STIX_ID_LIMIT] if isinstance(found, str) else None


def _tlp(value: Any) -> TLP | None:
    """Return the TLP a provenance names ("amber" or "TLP:AMBER"), None if unknown."""
    if not isinstance(value, str):
        return None
    text = value[4:] if value[:4].upper() == "TLP:" else value
    try:
        return TLP(text.lower())
    except ValueError:
        return None


class _Origins:
    """The origins this hub trusts, each looked up once per batch."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._found: dict[str, TrustedHub | None] = {}

    def get(self, name: str) -> TrustedHub | None:
        if name not in self._found:
            self._found[name] = self._session.get(TrustedHub, name)
        return self._found[name]

    def verifies(self, name: str, check: Callable[[Ed25519PublicKey], bool]) -> str | None:
        """Return None if ``check(public key)`` holds for origin ``name``, else why not."""
        trusted = self.get(name)
        if trusted is None:
            return UNKNOWN_ORIGIN
        try:
            public = keys.parse_public(trusted.public_key)
        except InvalidInput:
            return f"{UNKNOWN_ORIGIN}: the key pinned for {name!r} is not a valid key"
        return None if check(public) else FORGED


class _Recipients:
    """Translate provenance recipients (``ORG@hub``, ``user:NAME@hub``) into recipient rows."""

    def __init__(self, session: Session, here: str) -> None:
        self._session = session
        self._here = here
        self._found: dict[tuple[str, str], int | None] = {}

    def _id(self, kind: str, name: str) -> int | None:
        """Return the id of the local user, organisation or hub organisation ``name``."""
        if (kind, name) not in self._found:
            if kind == "user":
                query = select(User.id).where(User.username_key == username_key(name))
            else:
                query = select(Organisation.id).where(Organisation.name_key == name_key(name))
                if kind == "hub":
                    query = query.where(Organisation.kind == OrgKind.HUB.value)
            self._found[kind, name] = self._session.execute(query).scalar_one_or_none()
        return self._found[kind, name]

    def hub(self, name: str) -> int | None:
        """Return the local organisation of kind ``hub`` named ``name``, if any."""
        return self._id("hub", name)

    def translate(self, names: list[Any], dropped: list[str]) -> tuple[Addressee, ...]:
        """Return the addressees ``names`` stand for here; append the unplaced to ``dropped``."""
        local: list[tuple[int | None, int | None]] = []
        remote: list[tuple[int, str]] = []
        for name in names:
            who, at, hub = name.rpartition("@") if isinstance(name, str) else ("", "", "")
            if not (who and at and hub) or "\x00" in name:
                dropped.append(str(name)[:200])
                continue
            if hub == self._here:
                found: tuple[int | None, int | None] | None = None
                if who.startswith("user:"):
                    uid = self._id("user", who[5:])
                    found = None if uid is None else (None, uid)
                else:
                    oid = self._id("org", who)
                    found = None if oid is None else (oid, None)
                if found is None:
                    dropped.append(name[:200])
                else:
                    local.append(found)
                continue
            hub_org = self.hub(hub)
            if hub_org is None:
                dropped.append(name[:200])
            else:
                remote.append((hub_org, who[:200]))
        return tuple(
            dict.fromkeys(
                [Addressee(o, u) for o, u in local] + [Addressee(o, None, w) for o, w in remote]
            )
        )


def _origin_principal(session: Session, trusted: TrustedHub) -> Principal:
    """Return the principal versions of ``trusted``'s origin are stored under here."""
    org = session.get(Organisation, trusted.org_id)
    if org is None:  # the foreign key forbids it; fail closed all the same
        raise InvalidInput(f"origin {trusted.name!r} has no organisation here")
    return Principal(
        user_id=_NOBODY,
        username=f"hub:{trusted.name}",
        org_id=org.id,
        org_name=org.name,
        country=org.country,
        role=Role.ANALYST,
        hub=True,
    )


class _Receiver:
    """One batch's work in one collection."""

    def __init__(
        self,
        session: Session,
        collection: Collection,
        sender: Principal | None,
        peer_name: str,
        batch: _Batch,
    ) -> None:
        self.session = session
        self.peer_name = peer_name
        self.collection = collection
        self.sender = sender
        self.batch = batch
        self.here = config.current().hub_name
        self.origins = _Origins(session)
        self.recipients = _Recipients(session, self.here)
        self.result = ReceiveResult()
        self._seal_status: dict[str, str | None] = {}

    def refuse(self, stix_id: str | None, reason: str) -> None:
        # Kept in the database and the audit log: what the peer sent is cleaned of NULs.
        self.result.refused.append(
            Refused(
                stix_id.replace("\x00", "\ufffd") if stix_id is not None else None,
                reason.replace("\x00", "\ufffd"),
            )
        )

    def seal_status(self, seal_id: str) -> str | None:
        """Return None for a seal that verifies, ``_LOOP`` for this hub's own, else why not."""
        if seal_id not in self._seal_status:
            self._seal_status[seal_id] = self._check_seal(self.batch.seals[seal_id])
        return self._seal_status[seal_id]

    def _check_seal(self, signed: seal.Seal) -> str | None:
        if signed.origin == self.here:
            return _LOOP
        if len(signed.id) > _SEAL_ID_LIMIT or not signed.id.startswith(signed.origin + "/"):
            # Seal ids are global keys: an origin may only mint ids under its own name.
            return f"{FORGED}: seal {signed.id[:140]!r} is not named under its origin"
        problem = self.origins.verifies(signed.origin, lambda k: seal.verify_seal(signed, k))
        if problem is not None:
            return problem
        kept = self.session.get(SealRow, signed.id)
        if kept is not None and (kept.manifest, kept.signature) != (
            signed.manifest,
            signed.signature,
        ):
            return f"{FORGED}: seal {signed.id[:140]!r} differs from the one kept here"
        return None

    def candidate(self, version: _Version) -> Candidate | None:
        """Return the version as a candidate for the store, or None (refused or a loop)."""
        stix_id = _stix_id(version.raw)
        if version.seal_id is None or version.provenance is None:
            self.refuse(stix_id, f"{FORGED}: the version carries no seal")
            return None
        status = self.seal_status(version.seal_id)
        if status == _LOOP:
            # First stored here: it came back round a loop of peers.
            self.result.duplicates += 1
            return None
        if status is not None:
            self.refuse(stix_id, status)
            return None
        signed = self.batch.seals[version.seal_id]
        if seal.digest(version.provenance, version.raw) not in signed.digests:
            self.refuse(stix_id, f"{TAMPERED}: the version is not the one its seal lists")
            return None
        try:
            prov = seal.parse_provenance(version.provenance)
        except ValueError as exc:
            self.refuse(stix_id, f"invalid provenance: {exc}")
            return None
        if prov["origin"] != signed.origin:
            self.refuse(stix_id, f"{TAMPERED}: the provenance names another origin than its seal")
            return None
        try:
            obj = json.loads(version.raw)
            facts = validate_object(obj)
        except ValueError:
            self.refuse(stix_id, "invalid STIX: the version is not JSON")
            return None
        except InvalidStixObject as exc:
            self.refuse(stix_id, f"invalid STIX: {exc.reason}")
            return None
        tlp = _tlp(prov["tlp"])
        if tlp is None:
            self.refuse(facts.stix_id, f"unknown TLP {str(prov['tlp'])[:40]!r} in the provenance")
            return None
        classification = received_classification(prov["class"])
        if classification is None:
            self.refuse(facts.stix_id, "a classification this hub does not know")
            return None
        addressees = self.recipients.translate(prov["recipients"], self.result.dropped_recipients)
        return Candidate(
            raw=version.raw,
            obj=obj,
            facts=facts,
            tlp=tlp,
            recipients=addressees,
            classification=classification,
            provenance=version.provenance,
            seal_id=signed.id,
            origin_hub=signed.origin,
        )

    def store_versions(self) -> None:
        """Store the versions that pass every check, one store per origin."""
        by_origin: dict[str, list[Candidate]] = {}
        for version in self.batch.objects:
            cand = self.candidate(version)
            if cand is not None and cand.origin_hub is not None:
                by_origin.setdefault(cand.origin_hub, []).append(cand)
        for origin, candidates in sorted(by_origin.items()):
            trusted = self.origins.get(origin)
            assert trusted is not None  # its seal verified against the pinned key
            self._keep_seals({c.seal_id for c in candidates if c.seal_id is not None})
            outcome = IngestResult(status_id="", request_timestamp="")
            store(
                session=self.session,
                collection=self.collection,
                principal=_origin_principal(self.session, trusted),
                candidates=candidates,
                result=outcome,
                stamp_us=None,
            )
            for done in outcome.successes:
                if done.message == _PRESENT:
                    self.result.duplicates += 1
                else:
                    self.result.accepted += 1
            for failed in outcome.failures:
                self.refuse(failed.id, failed.message or "refused")

    def _keep_seals(self, seal_ids: set[str]) -> None:
        """Keep the seals the stored versions point to (relays pass them on unchanged)."""
        for seal_id in sorted(seal_ids):
            if self.session.get(SealRow, seal_id) is None:
                keep_seal(self.session, self.batch.seals[seal_id])

    def apply_tombstones(self) -> None:
        """Apply each tombstone its origin signed, and keep it for this hub's own audience."""
        for doc in self.batch.tombstones:
            self._apply(doc)

    def _apply(self, doc: dict[str, Any]) -> None:
        stix_id = doc.get("stix_id")
        stix_id = stix_id[:_STIX_ID_LIMIT] if isinstance(stix_id, str) else None
        problem = _malformed(doc)
        if problem is not None:
            self.refuse(stix_id, f"invalid tombstone: {problem}")
            return
        origin: str = doc["origin"]
        if origin == self.here:
            return  # this hub's own, back round a loop of peers
        verdict = self.origins.verifies(origin, lambda k: seal.verify_tombstone(doc, k))
        if verdict is not None:
            self.refuse(stix_id, verdict)
            return
        if self._known(doc):
            self.result.duplicates += 1
            return
        pks = list(
            self.session.execute(
                select(StixObject.id).where(
                    StixObject.collection_id == self.collection.id,
                    StixObject.stix_id == doc["stix_id"],
                    StixObject.origin_hub == origin,
                    _versions_condition(doc["versions"]),
                )
            ).scalars()
        )
        # Not told back: the origin, and the peer it came from.
        trusted = self.origins.get(origin)
        exclude = {trusted.org_id} if trusted is not None else set()
        if self.sender is not None:
            exclude.add(self.sender.org_id)
        peer_org = self.recipients.hub(self.peer_name)
        if peer_org is not None:
            exclude.add(peer_org)
        # Asked before the versions go: who could read them is who must hear of it.
        hearers = tombstones.audience(self.session, pks, exclude=exclude)
        tombstones.delete_versions(
            self.session, collection_id=self.collection.id, stix_id=doc["stix_id"], pks=pks
        )
        tombstones.store(
            self.session, collection_id=self.collection.id, document=doc, audience=hearers
        )
        self.result.tombstones += 1

    def _known(self, doc: dict[str, Any]) -> bool:
        """Return whether this collection already holds the tombstone ``doc``."""
        kept = self.session.execute(
            select(Tombstone.document).where(
                Tombstone.collection_id == self.collection.id,
                Tombstone.stix_id == doc["stix_id"],
                Tombstone.origin_hub == doc["origin"],
            )
        ).scalars()
        return any(json.loads(text).get("id") == doc["id"] for text in kept)


def _malformed(doc: dict[str, Any]) -> str | None:
    """Return what is wrong with a tombstone document's fields, or None."""
    for name in ("id", "origin", "stix_id", "reason", "issued", "signature"):
        if not isinstance(doc.get(name), str):
            return f"'{name}' must be a string"
    if len(doc["stix_id"]) > _STIX_ID_LIMIT:
        return "'stix_id' is too long"
    if doc.get("type") != tombstones.DOCUMENT_TYPE:
        return f"'type' must be {tombstones.DOCUMENT_TYPE!r}"
    if doc["reason"] not in tombstones.REASONS:
        return f"unknown reason {doc['reason'][:40]!r}"
    if not doc["id"].startswith(doc["origin"] + "/"):
        return "its id is not named under its origin"
    versions = doc.get("versions")
    if versions is not None:
        if not isinstance(versions, list) or not versions:
            return "'versions' must be null or a non-empty list of timestamps"
        for value in versions:
            try:
                timestamp_key(value)
            except InvalidStixObject:
                return "'versions' must be null or a non-empty list of timestamps"
    return None


def _versions_condition(versions: list[str] | None) -> Any:
    """Return the condition on StixObject rows that a tombstone's ``versions`` selects."""
    if versions is None:
        return StixObject.id.is_not(None)
    return or_(
        *(
            or_(
                StixObject.version_key == timestamp_key(v),
                and_(StixObject.version_key == "", StixObject.version == v),
            )
            for v in versions
        )
    )


def _record_refusals(
    session: Session,
    *,
    actor: str,
    collection: Collection,
    peer_name: str,
    link_id: int | None,
    refused: list[Refused],
) -> None:
    """Keep every refusal for ``peer status`` and audit them in one event."""
    now = utcnow()
    session.execute(
        insert(Refusal),
        [
            {
                "peer_name": peer_name,
                "link_id": link_id,
                "stix_id": r.id,
                "reason": r.reason[:2000],
                "at": now,
            }
            for r in refused
        ],
    )
    audit.record(
        session=session,
        actor=actor,
        action="federation.refused",
        target=collection.id,
        details={
            "peer": peer_name,
            "link": link_id,
            "count": len(refused),
            "refused": [{"id": r.id, "reason": r.reason[:300]} for r in refused[:_AUDITED]],
        },
    )


def apply_batch(
    session: Session,
    *,
    collection: Collection,
    sender: Principal | None,
    peer_name: str,
    link_id: int | None,
    batch: Any,
) -> ReceiveResult:
    """Verify and apply one batch from peer ``peer_name`` to ``collection``; report the outcome.

    ``sender`` is the peer hub's principal when it pushed, None when this hub pulled. Versions
    first, then tombstones: a version and its deletion in one batch end deleted. Whether the
    sender may write the collection is the caller's decision (the push endpoint's ``restrict``,
    the link an operator made).
    """
    parsed = _parse(batch)
    receiver = _Receiver(session, collection, sender, peer_name, parsed)
    receiver.store_versions()
    receiver.apply_tombstones()
    result = receiver.result
    actor = sender.label if sender is not None else f"peer:{peer_name}"
    if result.refused:
        _record_refusals(
            session,
            actor=actor,
            collection=collection,
            peer_name=peer_name,
            link_id=link_id,
            refused=result.refused,
        )
    if result.accepted or result.tombstones:
        audit.record(
            session=session,
            actor=actor,
            action="federation.received",
            target=collection.id,
            details={
                "peer": peer_name,
                "link": link_id,
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "tombstones": result.tombstones,
                "dropped_recipients": result.dropped_recipients[:_AUDITED],
            },
        )
    return result
