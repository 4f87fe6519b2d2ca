"""The backup file: a tar archive whose first member is a JSON manifest saying what it holds.

A tar, not a home-made header, so that an operator can look inside with ``tar -tvf`` and take the
payload out by hand (an SQLite database file, or a ``pg_dump`` custom-format archive for
``pg_restore``). The manifest names the engine, the schema revisions, every table's row count and
the audit chain's head, all read in the same snapshot as the payload, plus the payload's SHA-256.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from varsel.backup._errors import BackupError, Progress

FORMAT = "varsel-backup"
VERSION = 1
MANIFEST = "varsel-backup.json"
# The manifest is a few kilobytes; anything much larger is not ours.
_MAX_MANIFEST = 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Manifest:
    """What a backup holds, read in the same snapshot as its payload."""

    engine: str
    created: str
    varsel: str
    schema: list[str]
    tables: dict[str, int]
    audit_events: int
    audit_head: str | None
    payload: str = ""
    payload_bytes: int = 0
    sha256: str = ""
    format: str = FORMAT
    version: int = VERSION
    extra: dict[str, Any] = field(default_factory=dict)


def private_temp(directory: Path, stem: str) -> Path:
    """Create an empty 0600 file in ``directory`` with a unique name and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    for attempt in range(100):
        path = directory / f".{stem}.{os.getpid()}.{time.monotonic_ns()}.{attempt}.tmp"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        os.fchmod(fd, 0o600)  # whatever the umask: the payload holds password hashes and RED
        os.close(fd)
        return path
    raise BackupError(f"cannot create a temporary file in {directory}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write(*, path: Path, manifest: Manifest, payload: Path, progress: Progress) -> Manifest:
    """Write the backup to ``path`` atomically (an old file there is replaced only on success)."""
    size = payload.stat().st_size
    progress("checksumming", 0, size)
    final = replace(manifest, payload_bytes=size, sha256=_sha256(payload))
    body = json.dumps(asdict(final), indent=2, sort_keys=True).encode("utf-8")
    temp = private_temp(path.parent, path.name)
    try:
        with (
            temp.open("wb") as raw,
            tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(body), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(body))
            info = tarfile.TarInfo(final.payload)
            info.size, info.mode, info.mtime = size, 0o600, int(time.time())
            with payload.open("rb") as source:
                tar.addfile(info, _Counting(source, lambda done: progress("writing", done, size)))
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return final


def read_manifest(path: Path) -> Manifest:
    """Return the manifest of the backup at ``path``; refuse anything that is not one."""
    with _open(path) as tar:
        return _manifest(tar, path)


def extract_payload(*, path: Path, into: Path, progress: Progress) -> Manifest:
    """Copy the payload of the backup at ``path`` into ``into`` and check its checksum."""
    with _open(path) as tar:
        manifest = _manifest(tar, path)
        try:
            member = tar.getmember(manifest.payload)
        except KeyError:
            raise BackupError(f"{path} is incomplete: it has no {manifest.payload}") from None
        source = tar.extractfile(member)
        if source is None or member.size != manifest.payload_bytes:
            raise BackupError(f"{path} is damaged: its payload is not the size it records")
        digest = hashlib.sha256()
        done = 0
        with into.open("wb") as target:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                target.write(chunk)
                done += len(chunk)
                progress("reading backup", done, member.size)
    if digest.hexdigest() != manifest.sha256:
        raise BackupError(f"{path} is damaged: its payload does not match its checksum")
    return manifest


def _open(path: Path) -> tarfile.TarFile:
    if not path.is_file():
        raise BackupError(f"no backup file at {path}")
    try:
        return tarfile.open(path, mode="r:")
    except tarfile.TarError:
        raise BackupError(f"{path} is not a Varsel backup (made by `varsel backup`)") from None


def _manifest(tar: tarfile.TarFile, path: Path) -> Manifest:
    not_ours = BackupError(f"{path} is not a Varsel backup (made by `varsel backup`)")
    try:
        first = tar.next()
    except tarfile.TarError:
        raise not_ours from None
    if first is None or first.name != MANIFEST or not first.isfile() or first.size > _MAX_MANIFEST:
        raise not_ours
    handle = tar.extractfile(first)
    try:
        data = json.loads(handle.read()) if handle is not None else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise not_ours from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise not_ours
    if data.get("version") != VERSION:
        raise BackupError(
            f"{path} is a Varsel backup of format version {data.get('version')!r}; "
            f"this Varsel reads version {VERSION}"
        )
    try:
        return Manifest(**data)
    except TypeError:
        raise BackupError(f"{path} has a malformed manifest") from None


class _Counting:
    """Wrap a binary file and report how many bytes were read."""

    def __init__(self, source: IO[bytes], report: Any) -> None:
        self._source, self._report, self._done = source, report, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._source.read(size)
        self._done += len(chunk)
        self._report(self._done)
        return chunk
