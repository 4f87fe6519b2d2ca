"""MISP event → STIX 2.1 objects through ``misp-stix``, then placed, compacted and checked.

The whole event goes through ``misp-stix`` in one call. When that call raises, the event is
converted again item by item (the event's own part, then each attribute, object and report on
its own), so one item ``misp-stix`` cannot take costs that item alone, named as a loss. After
conversion every attribute, object, report, sighting and galaxy cluster is looked for among the
objects made (their ids carry the item's uuid); whatever is missing is a loss with the reason
``misp-stix`` gave, or "made nothing of it". Nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from varsel.errors import InvalidInput
from varsel.misp.convert import _compact, _fast
from varsel.misp.convert._annotate import annotate
from varsel.misp.convert._fidelity import attributes, differences
from varsel.misp.convert._import import stix_to_event
from varsel.misp.convert._misp_stix import run_misp_stix, stix_time, uuid_of
from varsel.misp.convert._placing import (
    Unplaceable,
    is_tlp_definition,
    mark,
    narrower,
    scope_of,
    tag_names,
)
from varsel.misp.convert._properties import (
    CREATOR_PROPERTY,
)
from varsel.misp.convert._reading import describe, read_event
from varsel.misp.convert._types import Converted, Loss, Placer
from varsel.misp.sharing import Placement, Scope
from varsel.sharing.tlp import TLP

_CONTAINER_KEYS = ("Attribute", "Object", "EventReport")


class _Export:
    """One event's conversion: the objects, the losses, and whose each object is."""

    def __init__(self, event: dict[str, Any], losses: list[Loss]) -> None:
        self.event = event
        self.uuid: str = event["uuid"]
        self.timestamp = int(event["timestamp"])
        self.losses = losses
        self.messages: list[str] = []
        self.objects: list[dict[str, Any]] = []
        self.fast: set[str] = set()

    def lose(self, item: str | None, what: str, reason: str) -> None:
        self.losses.append(Loss(self.uuid, item, what, reason))

    # -- conversion -------------------------------------------------------------------------

    def convert(self, *, fast: bool = True) -> None:
        built = self._fast_objects() if fast else {}
        self.fast = set(built)
        whole = self.event
        if built:
            self.event = dict(
                whole, Attribute=[a for a in whole.get("Attribute", ()) if a["uuid"] not in built]
            )
        try:
            self.objects, self.messages = run_misp_stix(self.event)
        except Exception as exc:  # noqa: BLE001 - misp-stix raises anything; it becomes a reason
            self._convert_item_by_item(exc)
        self.event = whole
        if built:
            self.objects = _fast.merge(self.event, self.objects, built)
        annotate(self.event, self.objects)

    def _fast_objects(self) -> dict[str, list[dict[str, Any]]]:
        if self.event.get("EventReport"):
            return {}  # misp-stix's notes refer to the objects of the attributes they name
        orgc = self.event.get("Orgc")
        creator = None
        if isinstance(orgc, Mapping) and orgc.get("name") is not None and orgc.get("uuid"):
            creator = f"identity--{orgc['uuid']}"
        built = {}
        for attribute in self.event.get("Attribute", ()):
            if _compact.compactable(attribute) or not _compact.truthy(attribute.get("to_ids")):
                made = _fast.build(attribute, creator)
                if made is not None:
                    built[attribute["uuid"]] = made
        return built

    def _convert_item_by_item(self, first: Exception) -> None:
        shell = {k: v for k, v in self.event.items() if k not in _CONTAINER_KEYS}
        try:
            objects, self.messages = run_misp_stix(shell)
        except Exception as exc:  # noqa: BLE001
            raise InvalidInput(
                f"event {self.uuid}: misp-stix cannot convert the event itself: "
                f"{_reason(exc)} (first failure: {_reason(first)})"
            ) from exc
        by_id = {obj["id"]: obj for obj in objects}
        grouping = next(obj for obj in objects if obj["type"] == "grouping")
        refs: list[str] = [
            ref for ref in grouping["object_refs"] if not ref.startswith("note--" + self.uuid)
        ]
        for key, what in (
            ("Attribute", describe),
            ("Object", _object_what),
            ("EventReport", _report_what),
        ):
            for item in self.event.get(key, ()):
                alone = dict(shell, **{key: [item]})
                try:
                    made, messages = run_misp_stix(alone)
                except Exception as exc:  # noqa: BLE001
                    self.lose(item["uuid"], what(item), f"misp-stix failed on it: {_reason(exc)}")
                    continue
                self.messages.extend(messages)
                for obj in made:
                    if obj["type"] == "grouping":
                        refs.extend(r for r in obj["object_refs"] if r not in by_id)
                    elif obj["id"] not in by_id:
                        by_id[obj["id"]] = obj
        grouping["object_refs"] = list(dict.fromkeys(r for r in refs if r in by_id))
        self.objects = list(by_id.values())

    # -- what did not become STIX -----------------------------------------------------------

    def check_coverage(self) -> None:
        made = {uuid_of(obj["id"]) for obj in self.objects}
        labels = {label for obj in self.objects for label in obj.get("labels", ())}

        lost = {loss.item for loss in self.losses}

        def missing(item: str, what: str) -> None:
            if item in lost:
                return
            said = next((m for m in self.messages if item in m), None)
            reason = f"misp-stix: {said}" if said else "misp-stix made no STIX object of it"
            self.lose(item, what, reason)

        for attribute in self.event.get("Attribute", ()):
            if attribute["uuid"] not in made:
                missing(attribute["uuid"], describe(attribute))
            else:
                self._check_sightings(attribute, made)
            self._check_galaxies(attribute.get("Galaxy"), made, labels)
        for misp_object in self.event.get("Object", ()):
            if misp_object["uuid"] not in made:
                missing(misp_object["uuid"], _object_what(misp_object))
                continue
            for attribute in misp_object["Attribute"]:
                self._check_sightings(attribute, made)
                self._check_galaxies(attribute.get("Galaxy"), made, labels)
        for report in self.event.get("EventReport", ()):
            if report["uuid"] not in made:
                missing(report["uuid"], _report_what(report))
        self._check_galaxies(self.event.get("Galaxy"), made, labels)

    def _check_sightings(self, attribute: Mapping[str, Any], made: set[str]) -> None:
        for sighting in attribute.get("Sighting", ()):
            if sighting["uuid"] not in made:
                self.lose(
                    sighting["uuid"],
                    f"sighting of {describe(attribute)}",
                    "misp-stix made no STIX sighting or opinion of it",
                )

    def _check_galaxies(self, galaxies: Any, made: set[str], labels: set[str]) -> None:
        for galaxy in galaxies or ():
            if not isinstance(galaxy, Mapping):
                self.lose(None, "a galaxy", "it is not a JSON object")
                continue
            for cluster in galaxy.get("GalaxyCluster") or ():
                if not isinstance(cluster, Mapping):
                    continue
                cluster_uuid = str(cluster.get("uuid", ""))
                tag = cluster.get("tag_name")
                if cluster_uuid in made or (isinstance(tag, str) and tag in labels):
                    continue
                name = f"galaxy cluster {galaxy.get('type', '?')} {cluster.get('value', '?')}"
                self.lose(cluster_uuid or None, name, "misp-stix made nothing of it")

    # -- placement --------------------------------------------------------------------------

    def place(self, place: Placer) -> None:
        orgc = self.event.get("Orgc") or self.event.get("Org") or {}
        producer = str(orgc.get("name", "")) if isinstance(orgc, Mapping) else ""
        event_scope = scope_of(self.event, Scope(0, None, (), producer))
        event_place = place(event_scope)
        placements: dict[str, Placement] = {self.uuid: event_place}
        unplaceable: set[str] = set()
        # Most items of an event share a scope: place each scope once (a Scope is a value).
        known: dict[tuple[Scope, Placement], Placement | Unplaceable] = {}

        def within(scope: Scope, parent: Placement) -> Placement:
            found = known.get((scope, parent))
            if found is None:
                try:
                    found = narrower(place(scope), parent)
                except Unplaceable as exc:
                    found = exc
                known[(scope, parent)] = found
            if isinstance(found, Unplaceable):
                raise found
            return found

        def item_place(
            item: Mapping[str, Any],
            parent_scope: Scope,
            parent: Placement,
            what: Callable[[Mapping[str, Any]], str],
        ) -> tuple[Scope, Placement] | None:
            scope = scope_of(item, parent_scope)
            try:
                own = within(scope, parent)
            except Unplaceable as exc:
                self.lose(item["uuid"], what(item), f"cannot be placed: {exc}")
                unplaceable.add(item["uuid"])
                return None
            placements[item["uuid"]] = own
            return scope, own

        for attribute in self.event.get("Attribute", ()):
            placed = item_place(attribute, event_scope, event_place, describe)
            if placed is not None:
                for sighting in attribute.get("Sighting", ()):
                    placements[sighting["uuid"]] = placed[1]
        for misp_object in self.event.get("Object", ()):
            object_scope = scope_of(
                misp_object,
                event_scope,
                extra_tags=tuple(t for a in misp_object["Attribute"] for t in tag_names(a)),
            )
            try:
                object_place = narrower(place(object_scope), event_place)
                for attribute in misp_object["Attribute"]:
                    own = narrower(place(scope_of(attribute, object_scope)), object_place)
                    object_place = narrower(object_place, own)
            except Unplaceable as exc:
                self.lose(
                    misp_object["uuid"], _object_what(misp_object), f"cannot be placed: {exc}"
                )
                unplaceable.add(misp_object["uuid"])
                continue
            placements[misp_object["uuid"]] = object_place
            for attribute in misp_object["Attribute"]:
                placements[attribute["uuid"]] = object_place
                for sighting in attribute.get("Sighting", ()):
                    placements[sighting["uuid"]] = object_place
        for report in self.event.get("EventReport", ()):
            item_place(report, event_scope, event_place, _report_what)
        self._apply(event_place, placements, unplaceable)

    def _apply(
        self, event_place: Placement, placements: dict[str, Placement], unplaceable: set[str]
    ) -> None:
        kept: list[dict[str, Any]] = []
        dropped: set[str] = set()
        for obj in self.objects:
            if is_tlp_definition(obj):
                continue
            if uuid_of(obj["id"]) in unplaceable:
                dropped.add(obj["id"])
                continue
            kept.append(obj)
        by_id: dict[str, Placement] = {}
        for obj in kept:
            found = placements.get(uuid_of(obj["id"]))
            if found is not None:
                by_id[obj["id"]] = found
        # Whatever is not an item's own (galaxy clusters, identities, relationships) is placed
        # as narrowly as the narrowest item it is tied to, and never broader than the event.
        for obj in kept:
            if obj["id"] in by_id or obj["type"] == "marking-definition":
                continue
            tied = [by_id[ref] for ref in _refs(obj) if ref in by_id]
            placement: Placement | None = event_place
            for other in tied:
                try:
                    placement = narrower(placement, other) if placement else None
                except Unplaceable:
                    placement = None
            if placement is None:
                self.lose(
                    None,
                    f"{obj['type']} {obj['id']}",
                    "it is tied to items that have no reader in common, so no placement fits it",
                )
                dropped.add(obj["id"])
                continue
            by_id[obj["id"]] = placement
        kept = [obj for obj in kept if obj["id"] not in dropped]
        for obj in kept:
            if obj["type"] == "marking-definition":
                continue
            mark(obj, by_id[obj["id"]])
        if dropped:
            for obj in kept:
                _drop_refs(obj, dropped)
        self.objects = kept

    # -- what does not come back ------------------------------------------------------------

    def verify(self, fast: set[str]) -> None:
        """Name as a loss each attribute misp-stix's parser does not give back as it was.

        The objects of the fast path are left out: they are misp-stix's own output for types
        whose round trip is proven (``_compact``), and reading them back would cost as much as
        writing them.
        """
        lost = {loss.item for loss in self.losses}
        checked = [
            a
            for a in attributes({"Attribute": self.event.get("Attribute", ())})
            if a["uuid"] not in fast and a["uuid"] not in lost
        ] + [
            a
            for o in self.event.get("Object", ())
            if o["uuid"] not in lost
            for a in o["Attribute"]
            if a["uuid"] not in lost
        ]
        if not checked:
            return
        grouping = next(o for o in self.objects if o["type"] == "grouping")
        members = [o for o in self.objects if o is not grouping and uuid_of(o["id"]) not in fast]
        try:
            back = stix_to_event(grouping, members, scope=_no_scope)
        except Exception as exc:  # noqa: BLE001 - a reader would meet the same failure
            self.lose(None, "the event", f"misp-stix cannot read it back: {_reason(exc)}")
            return
        returned = {a.get("uuid"): a for a in attributes(back)}
        for attribute in checked:
            diff = differences(attribute, returned.get(attribute["uuid"]))
            if diff == ["missing"]:
                reason = "misp-stix does not carry it to STIX and back"
            elif diff:
                reason = f"misp-stix does not carry its {', '.join(diff)} to STIX and back"
            else:
                continue
            self.lose(attribute["uuid"], describe(attribute), reason)

    def unclaim_creator(self) -> None:
        """Leave the MISP creator out as ``created_by_ref``: the hub takes that only for an
        identity registered to the sharing organisation, and the creator of an event shared by
        another organisation is not; the grouping names it instead."""
        grouping = next(o for o in self.objects if o["type"] == "grouping")
        creator = grouping.get("created_by_ref")
        if not isinstance(creator, str):
            return
        orgc = self.event.get("Orgc")
        if isinstance(orgc, Mapping):
            grouping[CREATOR_PROPERTY] = {"name": str(orgc["name"]), "uuid": str(orgc["uuid"])}
        for obj in self.objects:
            if obj.get("created_by_ref") == creator:
                del obj["created_by_ref"]
        still = any(creator in _refs(obj) for obj in self.objects if obj["type"] in _REFERRERS)
        if not still:
            self.objects = [obj for obj in self.objects if obj["id"] != creator]

    # -- versions ---------------------------------------------------------------------------

    def stamp_identities(self) -> None:
        # misp-stix stamps the identities of sighting organisations with the time of
        # conversion; the event's timestamp keeps a re-import of the same event identical.
        stamp = stix_time(self.timestamp)
        for obj in self.objects:
            if obj["type"] == "identity" and obj.get("created", "") > stamp:
                obj["created"] = obj["modified"] = stamp

    def order(self) -> list[dict[str, Any]]:
        grouping = [obj for obj in self.objects if obj["type"] == "grouping"]
        rest = [obj for obj in self.objects if obj["type"] != "grouping"]
        return grouping + rest


# What may refer to an identity other than as its creator: who sighted, who holds an opinion.
_REFERRERS = frozenset({"sighting", "opinion", "relationship", "note", "report", "grouping"})


def _refs(obj: Mapping[str, Any]) -> Iterable[str]:
    for key, value in obj.items():
        if key.endswith("_ref") and isinstance(value, str):
            yield value
        elif key.endswith("_refs") and isinstance(value, list) and key != "object_marking_refs":
            yield from (v for v in value if isinstance(v, str))


def _drop_refs(obj: dict[str, Any], dropped: set[str]) -> None:
    for key in list(obj):
        value = obj[key]
        if key.endswith("_refs") and isinstance(value, list):
            obj[key] = [v for v in value if v not in dropped]


def _no_scope(level: TLP, recipients: tuple[str, ...]) -> tuple[int, list[str]]:
    return 0, []


def _object_what(misp_object: Mapping[str, Any]) -> str:
    return f"object {misp_object.get('name', '?')}"


def _report_what(report: Mapping[str, Any]) -> str:
    return f"event report {str(report.get('name', '?'))[:60]}"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "…"


def event_to_stix(event: Mapping[str, Any], *, place: Placer, fast: bool = True) -> Converted:
    """Return ``event`` as STIX 2.1 objects, each placed by ``place``; name every loss.

    ``fast=False`` sends every attribute through ``misp-stix`` (the fast path's reference).
    """
    clean, losses, attributes = read_event(event)
    export = _Export(clean, losses)
    export.convert(fast=fast)
    export.unclaim_creator()
    export.check_coverage()
    export.objects = _compact.compact(export.objects, clean, done=frozenset(export.fast))
    export.place(place)
    export.stamp_identities()
    export.verify(export.fast)
    return Converted(
        uuid=export.uuid,
        timestamp=export.timestamp,
        objects=export.order(),
        losses=export.losses,
        attributes=attributes,
    )
