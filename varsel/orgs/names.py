"""Names that cannot impersonate: the keys that make usernames and organisation names unique.

Two names that a reader could take for one another must not both exist, or a TLP:RED share
addressed to one reaches the other. A name's *key* is what uniqueness is decided on:

* usernames (ASCII letters, digits and ``. _ @ -`` only) are keyed case-insensitively, so
  ``user:Analyst.no`` and ``user:analyst.no`` name the same account;
* organisation and community names are free text: NFKC-normalised (full-width and compatibility
  forms fold to their plain letters), case-folded, with white space collapsed, and every
  character that Unicode lists as confusable with a Latin letter or digit mapped to it
  (the UTS #39 idea of a *skeleton*, from the confusables data of ``confusable_homoglyphs``).

A name that mixes scripts with look-alike characters ("Svea Moln АB" with a Cyrillic А) is
refused outright: no honest organisation needs one, and refusing it gives a clear reason
instead of a puzzling clash.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from types import ModuleType

from varsel.errors import InvalidInput


@lru_cache(maxsize=1)
def _confusables() -> ModuleType:
    # Loaded on first use: its Unicode tables cost ~45 ms to import, which every command
    # and server start would otherwise pay whether or not it names anything.
    import importlib

    return importlib.import_module("confusable_homoglyphs.confusables")


def username_key(username: str) -> str:
    """Return the uniqueness key of a username: its case-folded form."""
    return username.casefold()


@lru_cache(maxsize=4096)
def _prototype(char: str) -> str:
    """Return the Latin letter or digit ``char`` is confusable with, else ``char`` itself."""
    if char.isascii():
        return char
    found = _confusables().is_confusable(char, greedy=True, preferred_aliases=["latin", "common"])
    if not found:
        return char
    for glyph in found[0]["homoglyphs"]:
        candidate = unicodedata.normalize("NFKC", glyph["c"])
        if len(candidate) == 1 and candidate.isascii() and candidate.isalnum():
            return candidate
    return char


def name_key(name: str) -> str:
    """Return the uniqueness key of an organisation or community name (its skeleton)."""
    # Map look-alikes before case-folding: Cyrillic "В" looks like Latin "B", but its
    # lower case "в" looks like no Latin letter at all.
    normal = " ".join(unicodedata.normalize("NFKC", name).split())
    return "".join(_prototype(c) for c in normal).casefold()


def check_display_name(name: str, *, what: str) -> str:
    """Return ``name`` NFKC-normalised and trimmed, or refuse it with a reason."""
    cleaned = " ".join(unicodedata.normalize("NFKC", name).split())
    if not cleaned:
        raise InvalidInput(f"{what} needs a name")
    if any(unicodedata.category(c) in {"Cc", "Cf", "Co", "Cs", "Cn"} for c in cleaned):
        raise InvalidInput(f"{what} name may not contain control or invisible characters")
    if _confusables().is_dangerous(cleaned):
        raise InvalidInput(
            f"{what} name {cleaned!r} mixes scripts with look-alike characters; "
            "write it in one script"
        )
    return cleaned
