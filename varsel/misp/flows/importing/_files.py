"""Events read from files, feed directories and archives, streamed and bounded."""

from __future__ import annotations

import gzip
import json
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

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
