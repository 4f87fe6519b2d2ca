"""The equivalence rules as data: classification schemes, common grades, agreements, the ceiling.

``data/classification.json`` maps each scheme's levels (Norway, Sweden, Denmark, Finland,
Iceland, NATO, the EU and the US) to four common grades; ``data/security_agreements.json`` says
which agreements bind which parties. A hub registers further agreements (a bilateral one with a
US partner, say) in the JSON file named by ``VARSEL_SECURITY_AGREEMENTS``; that file is read on
every call, so a registration takes effect at once, and checked strictly: a broken one raises
:class:`AgreementsFileError` with one line, which stops the hub's start
(:func:`check_configuration`). ``VARSEL_ACCREDITATION_CEILING`` is the
highest level this installation may hold (``NO:HEMMELIG`` or a grade ``3``); unset, the hub
holds nothing classified; one that cannot be read stops the start too. Both variables are read
once into ``varsel.config.Settings``; this module takes them from ``config.current()``.
"""

from __future__ import annotations

import difflib
import json
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from varsel import config
from varsel.errors import InvalidInput, Misconfigured

CEILING_ENV = "VARSEL_ACCREDITATION_CEILING"
AGREEMENTS_ENV = "VARSEL_SECURITY_AGREEMENTS"
GRADES = (1, 2, 3, 4)
GRADE_NAMES = {1: "RESTRICTED", 2: "CONFIDENTIAL", 3: "SECRET", 4: "TOP SECRET"}
SUPRANATIONAL = ("NATO", "EU")


class UnknownLevel(InvalidInput, ValueError):
    """A scheme or level that the classification table does not hold."""


@dataclass(frozen=True, slots=True)
class Level:
    """One level of one scheme and the common grade it maps to."""

    scheme: str
    name: str
    grade: int
    verified: bool
    source: str

    @property
    def label(self) -> str:
        """Return ``SCHEME:LEVEL``, e.g. ``NO:KONFIDENSIELT``."""
        return f"{self.scheme}:{self.name}"


@dataclass(frozen=True, slots=True)
class Scheme:
    """A classification scheme: a country's, NATO's or the EU's."""

    code: str
    stored_as: str
    name: str
    kind: str
    time_zone: str
    levels: tuple[Level, ...]

    def level_of_grade(self, grade: int) -> Level | None:
        """Return this scheme's level at ``grade``, or None when it has none."""
        return next((lvl for lvl in self.levels if lvl.grade == grade), None)


@dataclass(frozen=True, slots=True)
class Agreement:
    """A security agreement binding parties for national, NATO or EU material."""

    id: str
    name: str
    covers: str
    parties: frozenset[str]
    party_since: dict[str, date]
    in_force: date
    verified: bool
    source: str
    restricted_without_clearance: bool
    restricted_verified: bool

    def binds(self, a: str, b: str, on: date) -> bool:
        """Return whether the agreement binds both ``a`` and ``b`` on day ``on``."""
        if on < self.in_force or a not in self.parties or b not in self.parties:
            return False
        return all(self.party_since.get(p, self.in_force) <= on for p in (a, b))


def normalise(text: str) -> str:
    """Return a level as compared: NFC, upper case, single spaces."""
    return " ".join(unicodedata.normalize("NFC", text).upper().split())


# Letters that do not decompose into a base letter and a mark, spelled as keyboards without
# them write them (Icelandic ð and þ, Danish and Norwegian æ and ø).
_FOLD = str.maketrans({"Ð": "D", "Þ": "TH", "Æ": "AE", "Ø": "O", "ẞ": "SS"})


def fold(text: str) -> str:
    """Return a level spelled without diacritics: ``KÄYTTÖ`` → ``KAYTTO``, ``TRÚNAÐARMÁL`` →
    ``TRUNADARMAL``."""
    decomposed = unicodedata.normalize("NFKD", normalise(text).translate(_FOLD))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True)
class _Table:
    schemes: dict[str, Scheme]
    lookup: dict[tuple[str, str], Level]
    folded: dict[tuple[str, str], Level]
    spellings: dict[str, tuple[str, ...]]


def _read(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("varsel.data").joinpath(name).read_text(encoding="utf-8")
    )
    return data


@cache
def _table() -> _Table:
    raw = _read("classification.json")
    schemes: dict[str, Scheme] = {}
    lookup: dict[tuple[str, str], Level] = {}
    folded: dict[tuple[str, str], Level | None] = {}
    spellings: dict[str, list[str]] = {}
    for row in raw["schemes"]:
        levels = []
        for cell in row["levels"]:
            if cell["level"] is None:
                continue
            level = Level(
                scheme=row["code"],
                name=cell["level"],
                grade=int(cell["grade"]),
                verified=bool(cell["verified"]),
                source=cell["source"],
            )
            levels.append(level)
            for spelling in (cell["level"], *cell["aliases"]):
                lookup[(row["code"], normalise(spelling))] = level
                spellings.setdefault(row["code"], []).append(normalise(spelling))
                key = (row["code"], fold(spelling))
                # A folded spelling that two levels share names neither: fail closed.
                folded[key] = level if folded.get(key, level) == level else None
        schemes[row["code"]] = Scheme(
            code=row["code"],
            stored_as=row["stored_as"],
            name=row["name"],
            kind=row["kind"],
            time_zone=row["time_zone"],
            levels=tuple(levels),
        )
    return _Table(
        schemes=schemes,
        lookup=lookup,
        folded={k: v for k, v in folded.items() if v is not None},
        spellings={k: tuple(v) for k, v in spellings.items()},
    )


def schemes() -> list[Scheme]:
    """Return every scheme of the classification table."""
    return list(_table().schemes.values())


def scheme(code: str) -> Scheme:
    """Return the scheme ``code`` (``NO``, ``NATO``, …) or raise UnknownLevel."""
    found = _table().schemes.get(code.strip().upper())
    if found is None:
        known = ", ".join(_table().schemes)
        raise UnknownLevel(f"unknown classification scheme {code!r}; expected one of {known}")
    return found


def level(scheme_code: str, text: str) -> Level:
    """Return the level ``text`` of scheme ``scheme_code`` or raise UnknownLevel."""
    sch = scheme(scheme_code)
    table = _table()
    found = table.lookup.get((sch.code, normalise(text))) or table.folded.get(
        (sch.code, fold(text))
    )
    if found is None:
        names = ", ".join(lvl.name for lvl in sch.levels)
        near = difflib.get_close_matches(
            fold(text), [fold(x) for x in table.spellings.get(sch.code, ())], n=1, cutoff=0.75
        )
        guess = table.folded.get((sch.code, near[0])) if near else None
        hint = f"; did you mean {guess.name!r}?" if guess else ""
        raise UnknownLevel(
            f"{text!r} is not a {sch.name} classification level{hint} (expected one of {names})"
        )
    return found


def parse_label(text: str) -> Level:
    """Return the level named ``SCHEME:LEVEL`` (``NO:KONFIDENSIELT``, ``NATO:NATO SECRET``)."""
    code, sep, rest = text.partition(":")
    if not sep or not rest.strip():
        raise UnknownLevel(
            f"write a classification as SCHEME:LEVEL, e.g. NO:KONFIDENSIELT; got {text!r}"
        )
    return level(code, rest)


def time_zone(country: str) -> ZoneInfo:
    """Return the time zone in which ``country``'s clearances expire (UTC if unknown)."""
    found = _table().schemes.get(country)
    return ZoneInfo(found.time_zone if found else "UTC")


def issuing_countries() -> list[str]:
    """Return the countries whose clearances the register accepts (national schemes)."""
    return [s.code for s in _table().schemes.values() if s.kind == "national"]


# Agreements ------------------------------------------------------------------------------


def _agreement(row: dict[str, Any]) -> Agreement:
    restricted = row.get("restricted_without_clearance") or {}
    return Agreement(
        id=str(row["id"]),
        name=str(row["name"]),
        covers=str(row.get("covers", "national")),
        parties=frozenset(str(p).upper() for p in row["parties"]),
        party_since={
            k.upper(): date.fromisoformat(v) for k, v in (row.get("party_since") or {}).items()
        },
        in_force=date.fromisoformat(row["in_force"]),
        verified=bool(row.get("verified")),
        source=str(row.get("source", "")),
        restricted_without_clearance=bool(restricted.get("value", False)),
        restricted_verified=bool(restricted.get("verified", False)),
    )


@cache
def _packaged_agreements() -> tuple[Agreement, ...]:
    raw = _read("security_agreements.json")
    return tuple(_agreement(r) for r in [*raw["agreements"], *raw.get("bilateral", [])])


class AgreementsFileError(Misconfigured, ValueError):
    """The hub's registered-agreements file cannot be read; the message is one line."""


_COVERS = ("national", *SUPRANATIONAL)
_FILE_KEYS = {"version", "description", "agreements", "bilateral"}
_ROW_KEYS = {
    "id",
    "name",
    "kind",
    "covers",
    "parties",
    "party_since",
    "signed",
    "in_force",
    "verified",
    "source",
    "restricted_without_clearance",
    "clearance_recognition",
}


def _day(value: object, what: str) -> date:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a date written YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{what} must be a date written YYYY-MM-DD, got {value!r}") from None


def _checked_row(row: object, where: str) -> Agreement:
    """Return the agreement ``row`` describes, or raise ValueError saying what is wrong."""
    if not isinstance(row, dict):
        raise ValueError(f"{where} must be an object, got {type(row).__name__}")
    unknown = sorted(set(row) - _ROW_KEYS)
    if unknown:
        raise ValueError(f"{where} has unknown field(s) {', '.join(unknown)}")
    for key in ("id", "name", "source"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise ValueError(f"{where} needs {key!r}, a non-empty string")
    if not isinstance(row.get("verified"), bool):
        raise ValueError(f"{where} needs 'verified': true or false (with its 'source')")
    if row.get("covers", "national") not in _COVERS:
        raise ValueError(
            f"{where}: 'covers' must be one of {', '.join(_COVERS)}, got {row.get('covers')!r}"
        )
    parties = row.get("parties")
    if not isinstance(parties, list) or not parties:
        raise ValueError(f"{where} needs 'parties', a list of country codes")
    for party in parties:
        if not isinstance(party, str) or len(party) != 2 or not party.isalpha():
            raise ValueError(f"{where}: party {party!r} is not an ISO 3166-1 alpha-2 code")
    _day(row.get("in_force"), f"{where}: 'in_force'")
    since = row.get("party_since") or {}
    if not isinstance(since, dict):
        raise ValueError(f"{where}: 'party_since' must map parties to dates")
    for party, value in since.items():
        if str(party).upper() not in {p.upper() for p in parties}:
            raise ValueError(f"{where}: 'party_since' names {party!r}, which is not a party")
        _day(value, f"{where}: 'party_since' of {party}")
    clause = row.get("restricted_without_clearance")
    if clause is not None and (
        not isinstance(clause, dict)
        or not isinstance(clause.get("value"), bool)
        or not isinstance(clause.get("verified"), bool)
    ):
        raise ValueError(
            f"{where}: 'restricted_without_clearance' must be "
            f'{{"value": true|false, "verified": true|false, "source": "..."}}'
        )
    return _agreement(row)


def _load_registered(path: str) -> tuple[Agreement, ...]:
    """Return the agreements of the file at ``path``; raise AgreementsFileError in one line."""
    try:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"the file cannot be opened ({exc.strerror or exc})") from None
        except UnicodeDecodeError:
            raise ValueError("the file is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"the file is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
        if not isinstance(raw, dict):
            raise ValueError(
                'the file must be a JSON object like {"bilateral": [...]}, got '
                + type(raw).__name__
            )
        unknown = sorted(set(raw) - _FILE_KEYS)
        if unknown:
            raise ValueError(
                f"the file has unknown key(s) {', '.join(unknown)}; expected agreements, bilateral"
            )
        found: list[Agreement] = []
        seen = {ag.id for ag in _packaged_agreements()}
        for key in ("agreements", "bilateral"):
            rows = raw.get(key, [])
            if not isinstance(rows, list):
                raise ValueError(f"{key!r} must be a list of agreements")
            for n, row in enumerate(rows, start=1):
                agreement = _checked_row(row, f"{key}[{n}]")
                if agreement.id in seen:
                    raise ValueError(f"{key}[{n}]: agreement id {agreement.id!r} is used twice")
                seen.add(agreement.id)
                found.append(agreement)
        return tuple(found)
    except ValueError as exc:
        raise AgreementsFileError(f"{AGREEMENTS_ENV}={path}: {exc}") from None


def registered_agreements() -> tuple[Agreement, ...]:
    """Return the agreements this hub registered in ``VARSEL_SECURITY_AGREEMENTS``.

    Read on every call, without caching, so that a registration or removal takes effect at once.
    """
    path = config.current().security_agreements
    if path is None:
        return ()
    return _load_registered(str(path))


def check_configuration(settings: config.Settings | None = None) -> None:
    """Refuse, in one line, a ceiling or an agreements file that cannot be read (at start-up).

    Raises :class:`AgreementsFileError` for the file and ``config.ConfigError`` for the ceiling.
    """
    settings = settings or config.current()
    _, problem = _read_ceiling(settings.accreditation_ceiling.strip())
    if problem:
        raise config.ConfigError(problem)
    if settings.security_agreements is not None:
        _load_registered(str(settings.security_agreements))


def agreements() -> tuple[Agreement, ...]:
    """Return every agreement: the packaged ones and the hub's registered ones."""
    return (*_packaged_agreements(), *registered_agreements())


def agreement_between(a: str, b: str, on: date, covers: str = "national") -> Agreement | None:
    """Return an agreement covering ``covers`` material that binds ``a`` and ``b`` on ``on``."""
    return next((ag for ag in agreements() if ag.covers == covers and ag.binds(a, b, on)), None)


# The accreditation ceiling ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ceiling:
    """The highest common grade this hub may hold, and how it was configured."""

    grade: int
    text: str
    problem: str | None = None

    def describe(self) -> str:
        """Return the ceiling in words."""
        if self.problem:
            return self.problem
        if self.grade == 0:
            return f"this hub is not accredited for classified material ({CEILING_ENV} is unset)"
        return f"this hub is accredited up to grade {self.grade} ({GRADE_NAMES[self.grade]})"


def ceiling() -> Ceiling:
    """Return the hub's accreditation ceiling from ``VARSEL_ACCREDITATION_CEILING``.

    Unset means grade 0: nothing classified may be held. A value that cannot be read also means
    grade 0, with the problem stated, so that a typo never opens the hub to more than intended
    (start-up refuses such a value; this is the closed side for a hub started without the check).
    """
    return _ceiling_of(config.current().accreditation_ceiling)


def _ceiling_of(text: str) -> Ceiling:
    text = text.strip()
    grade, problem = _read_ceiling(text)
    if problem:
        return Ceiling(0, text, f"{problem}; classified material is refused until it is fixed")
    return Ceiling(grade, text)


def _read_ceiling(text: str) -> tuple[int, str | None]:
    """Return the grade ``text`` names, or 0 and why it cannot be read."""
    if not text:
        return 0, None
    if text.isdigit():
        if 0 <= int(text) <= 4:
            return int(text), None
        return 0, f"{CEILING_ENV}={text!r} is not a grade 0-4"
    try:
        return parse_label(text).grade, None
    except UnknownLevel as exc:
        return 0, f"{CEILING_ENV}={text!r} is not understood ({exc})"
