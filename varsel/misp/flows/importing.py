"""Read MISP events from files, feed directories and archives; share them or post them.

:func:`read_events` walks the paths ``varsel misp import`` (and the ``/share/misp`` page) is
given and yields one :class:`Item` per event, or per thing that could not be read, in order:

- a MISP event JSON file: ``{"Event": {…}}``, a list of them, or ``{"response": [...]}`` (what
  MISP's ``events/restSearch`` answers);
- a directory in MISP feed layout: ``manifest.json`` (event uuid → summary), ``hashes.csv`` and
  one ``<uuid>.json`` per event, read in the manifest's order;
- a ``.gz`` of an event file, a ``.tar.gz``/``.tgz`` of a feed directory, or a ``.zip`` of
  either (a zip with a ``manifest.json`` is read as a feed; otherwise every ``.json`` in it).

Archives are streamed, one member at a time; no archive is loaded whole, and each file or member
is bounded (``max_bytes``, decompressed): a larger one is an :class:`Item` with the reason, and
the import goes on with the next. Nothing is skipped silently: every path, member or list
element that is not an event becomes an item with its reason.

:func:`share_items` shares the events as a local principal (one savepoint and one ingest per
event, :func:`varsel.misp.flows.writing.share_event`); :func:`post_event` sends one to another
hub's ``/misp/events/add`` and reads its answer into the same outcome.
"""

from __future__ import annotations

import functools
import gzip
import json
import tarfile
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import httpx
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from varsel.errors import Forbidden, VarselError
from varsel.misp import service
from varsel.misp.flows import writing
from varsel.policy.principal import Principal
from varsel.sharing.models import Collection
from varsel.sharing.tlp import TLP

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
"""The largest event file or archive member read, decompressed (``--max-file-size``)."""

_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Item:
    """One event read from a source, or why something there could not be read as one."""

    source: str
    """Where it came from: ``path``, ``archive.zip:member`` and ``[n]`` for a list's element."""
    event: dict[str, Any] | None = None
    error: str | None = None


class _TooLarge(Exception):
    pass


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _read_bounded(stream: _Readable, limit: int) -> bytes:
    """Return everything ``stream`` holds, or raise ``_TooLarge`` past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)


def _too_large(source: str, limit: int) -> Item:
    return Item(
        source,
        error=f"larger than {limit:,} bytes (decompressed): split it, or raise --max-file-size",
    )


def events_in(source: str, data: bytes) -> Iterator[Item]:
    """Yield the events of one JSON document: an event, a list of them, or a MISP response."""
    try:
        doc = json.loads(data)
    except UnicodeDecodeError:
        yield Item(source, error="not UTF-8 encoded JSON")
        return
    except json.JSONDecodeError as exc:
        yield Item(
            source, error=f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        )
        return
    if isinstance(doc, dict) and isinstance(doc.get("response"), list):
        doc = doc["response"]
    if isinstance(doc, list):
        for position, element in enumerate(doc):
            yield _one(f"{source}[{position}]", element)
        return
    yield _one(source, doc)


def _one(source: str, doc: Any) -> Item:
    if isinstance(doc, dict) and isinstance(doc.get("Event"), dict):
        return Item(source, event=doc)
    if isinstance(doc, dict) and isinstance(doc.get("uuid"), str) and "info" in doc:
        return Item(source, event={"Event": doc})
    return Item(source, error='not a MISP event: expected {"Event": {…}}')


def read_events(paths: Iterable[Path], *, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[Item]:
    """Yield the events (and the unreadable items, with reasons) of ``paths``, in order."""
    for path in paths:
        yield from _read_path(path, max_bytes)


def _read_path(path: Path, limit: int) -> Iterator[Item]:
    name = str(path)
    if path.is_dir():
        yield from _read_feed_dir(path, limit)
        return
    if not path.is_file():
        yield Item(name, error="no such file or directory")
        return
    lower = path.name.lower()
    try:
        if lower.endswith(".zip"):
            yield from _read_zip(path, limit)
        elif lower.endswith((".tar.gz", ".tgz")):
            yield from _read_tar(path, limit)
        elif lower.endswith(".gz"):
            with gzip.open(path, "rb") as stream:
                yield from events_in(name, _read_bounded(stream, limit))
        else:
            if path.stat().st_size > limit:
                yield _too_large(name, limit)
                return
            yield from events_in(name, path.read_bytes())
    except _TooLarge:
        yield _too_large(name, limit)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, tarfile.TarError) as exc:
        yield Item(name, error=f"cannot be read: {exc}")


def _manifest_uuids(source: str, data: bytes) -> tuple[list[str], str | None]:
    """Return the event uuids a feed's ``manifest.json`` lists, or why it cannot be read."""
    try:
        manifest = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [], f"{source}: malformed manifest.json: {exc}"
    if not isinstance(manifest, dict):
        return [], f"{source}: manifest.json is not an object of event uuids"
    return [str(k) for k in manifest], None


def _read_feed_dir(path: Path, limit: int) -> Iterator[Item]:
    manifest = path / "manifest.json"
    if not manifest.is_file():
        yield Item(str(path), error="not a MISP feed directory: it has no manifest.json")
        return
    if manifest.stat().st_size > limit:
        yield _too_large(str(manifest), limit)
        return
    uuids, problem = _manifest_uuids(str(manifest), manifest.read_bytes())
    if problem:
        yield Item(str(manifest), error=problem)
        return
    for uid in uuids:
        member = path / f"{PurePosixPath(uid).name}.json"
        if not member.is_file():
            yield Item(str(member), error="listed in manifest.json, but the file is missing")
            continue
        yield from _read_path(member, limit)


def _read_zip(path: Path, limit: int) -> Iterator[Item]:
    with zipfile.ZipFile(path) as archive:
        members = [i for i in archive.infolist() if not i.is_dir()]
        manifests = [i for i in members if PurePosixPath(i.filename).name == "manifest.json"]
        if manifests:
            wanted = []
            for info in manifests:
                source = f"{path}:{info.filename}"
                if info.file_size > limit:
                    yield _too_large(source, limit)
                    continue
                with archive.open(info) as stream:
                    uuids, problem = _manifest_uuids(source, _read_bounded(stream, limit))
                if problem:
                    yield Item(source, error=problem)
                    continue
                folder = PurePosixPath(info.filename).parent
                by_name = {i.filename: i for i in members}
                for uid in uuids:
                    member = str(folder / f"{uid}.json") if str(folder) != "." else f"{uid}.json"
                    if member not in by_name:
                        yield Item(
                            f"{path}:{member}",
                            error="listed in manifest.json, but the archive does not hold it",
                        )
                        continue
                    wanted.append(by_name[member])
        else:
            wanted = [i for i in members if i.filename.lower().endswith(".json")]
            if not wanted:
                yield Item(str(path), error="the archive holds no .json file")
        for info in wanted:
            source = f"{path}:{info.filename}"
            if info.file_size > limit:
                yield _too_large(source, limit)
                continue
            try:
                # One member at a time, and at most ``limit`` bytes of it: the sizes an archive
                # declares can lie.
                with archive.open(info) as stream:
                    data = _read_bounded(stream, limit)
            except _TooLarge:
                yield _too_large(source, limit)
                continue
            yield from events_in(source, data)


def _read_tar(path: Path, limit: int) -> Iterator[Item]:
    # Streaming mode ("r|gz"): members are read in the order they were written, never seeking.
    with tarfile.open(path, "r|gz") as archive:
        seen = False
        for info in archive:
            name = PurePosixPath(info.name).name
            if not info.isfile() or not name.lower().endswith(".json") or name == "manifest.json":
                continue
            seen = True
            source = f"{path}:{info.name}"
            if info.size > limit:
                yield _too_large(source, limit)
                continue
            stream = archive.extractfile(info)
            if stream is None:
                continue
            yield from events_in(source, _read_bounded(stream, limit))
        if not seen:
            yield Item(str(path), error="the archive holds no event .json file")


def unreadable(item: Item) -> writing.EventOutcome:
    """Return the outcome of an item that was not an event: refused, with its reason."""
    return writing.EventOutcome(
        "?",
        "",
        writing.Status.REFUSED,
        item.error or "not a MISP event",
        writing.Refusal.INVALID,
    )


def share_items(
    *,
    session: Session,
    principal: Principal,
    collection: Collection,
    items: Iterable[Item],
    on_outcome: Callable[[Item, writing.EventOutcome], None] = lambda _i, _o: None,
    workers: int = 1,
) -> list[writing.EventOutcome]:
    """Share each event of ``items`` into ``collection``; commit after each event.

    Each event is its own unit of work (:func:`varsel.misp.flows.writing.share_converted`): an
    event refused, or an item that is no event, leaves the others as they are. With
    ``workers`` > 1, events are converted (pure work, most of an import's time) that many at a
    time in worker processes, a few events ahead, while this process stores them in order.
    """
    convert_one = functools.partial(
        writing.convert_event,
        mapping=service.mapping_of(session),
        default=TLP(collection.default_tlp),
        producer=principal.org_name,
    )
    outcomes = []
    with _converter(workers) as pool:
        for item, prepared in _ahead(items, convert_one, pool, depth=2 * workers):
            if prepared is None:
                outcome = unreadable(item)
            else:
                try:
                    outcome = writing.share_converted(
                        session=session,
                        principal=principal,
                        collection=collection,
                        converted=prepared,
                    )
                except Forbidden:
                    session.rollback()
                    raise
                except VarselError as exc:
                    session.rollback()
                    outcome = writing.EventOutcome(
                        prepared.uuid,
                        prepared.info,
                        writing.Status.REFUSED,
                        exc.message,
                        writing.Refusal.DENIED,
                    )
                except DataError:
                    # A value the database cannot store (out of range, a NUL on PostgreSQL):
                    # this event is refused, the import goes on.
                    session.rollback()
                    outcome = writing.EventOutcome(
                        prepared.uuid,
                        prepared.info,
                        writing.Status.REFUSED,
                        "the database refused a value of this event (out of range or not storable)",
                        writing.Refusal.INVALID,
                    )
            session.commit()
            outcomes.append(outcome)
            on_outcome(item, outcome)
    return outcomes


@contextmanager
def _converter(workers: int) -> Iterator[Executor | None]:
    """Yield a pool of ``workers`` converting processes, or None to convert in this one."""
    if workers <= 1:
        yield None
        return
    # Spawned, not forked: a fork would copy this process's threads' locks (the progress bar's,
    # logging's) in whatever state they are.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        yield pool


def _ahead(
    items: Iterable[Item],
    convert_one: Callable[[Any], writing.Prepared],
    pool: Executor | None,
    depth: int,
) -> Iterator[tuple[Item, writing.Prepared | None]]:
    """Yield each item with its event converted, in order, at most ``depth`` events ahead."""
    if pool is None:
        for item in items:
            yield item, (_converted(convert_one, item) if item.event is not None else None)
        return
    pending: deque[tuple[Item, Future[writing.Prepared] | None]] = deque()
    for item in items:
        pending.append(
            (item, pool.submit(convert_one, item.event) if item.event is not None else None)
        )
        if len(pending) >= depth:
            yield _settled(*pending.popleft())
    while pending:
        yield _settled(*pending.popleft())


def _converted(convert_one: Callable[[Any], writing.Prepared], item: Item) -> writing.Prepared:
    try:
        return convert_one(item.event)
    except Exception as exc:  # noqa: BLE001 - a converter fault refuses this event, not the import
        uid, info = writing.describe(item.event)
        return writing.Prepared(uid, info, None, f"the converter failed: {exc!r}")


def _settled(
    item: Item, future: Future[writing.Prepared] | None
) -> tuple[Item, writing.Prepared | None]:
    if future is None:
        return item, None
    try:
        return item, future.result()
    except Exception as exc:  # noqa: BLE001 - a converter fault refuses this event, not the import
        uid, info = writing.describe(item.event)
        return item, writing.Prepared(uid, info, None, f"the converter failed: {exc!r}")


def post_event(
    client: httpx.Client, *, base_url: str, collection: str, item: Item
) -> writing.EventOutcome:
    """Post one event to a hub's ``/misp/events/add`` and return what the hub made of it."""
    assert item.event is not None
    uid, info = writing.describe(item.event)
    url = base_url.rstrip("/") + "/misp/events/add"
    try:
        response = client.post(url, params={"collection": collection}, json=item.event)
    except httpx.HTTPError as exc:
        return writing.EventOutcome(uid, info, writing.Status.REFUSED, f"not sent: {exc}")
    try:
        answer = response.json()
    except ValueError:
        answer = None
    report = answer.get("varsel_report") if isinstance(answer, dict) else None
    if isinstance(report, dict):
        return outcome_of(report, uid, info)
    if response.is_success:
        return writing.EventOutcome(uid, info, writing.Status.NEW)
    message = answer.get("message") if isinstance(answer, dict) else None
    if not isinstance(message, str):
        message = answer.get("detail") if isinstance(answer, dict) else None
    return writing.EventOutcome(
        uid,
        info,
        writing.Status.REFUSED,
        f"HTTP {response.status_code}: {message or response.text[:300]}",
    )


def outcome_of(report: dict[str, Any], uid: str, info: str) -> writing.EventOutcome:
    """Return the outcome a hub reported (``EventOutcome.as_json``) as an outcome again."""
    try:
        status = writing.Status(report.get("status"))
    except ValueError:
        status = writing.Status.REFUSED
    try:
        refusal = writing.Refusal(report["refusal"]) if report.get("refusal") else None
    except ValueError:
        refusal = writing.Refusal.DENIED
    notes = []
    for note in report.get("notes") or []:
        if not isinstance(note, dict):
            continue
        try:
            kind = writing.NoteKind(note.get("kind"))
        except ValueError:
            kind = writing.NoteKind.REFUSED
        notes.append(
            writing.Note(kind, note.get("item"), str(note.get("what", "")), str(note.get("reason")))
        )
    return writing.EventOutcome(
        str(report.get("uuid") or uid),
        str(report.get("info") or info),
        status,
        report.get("reason"),
        refusal,
        attributes=int(report.get("attributes") or 0),
        stored=int(report.get("stored") or 0),
        notes=notes,
    )
