"""Message catalogues: every string the pages show comes from ``locale/<lang>.json``.

English (``en.json``) is complete and is the fallback for any key another catalogue lacks. To
add a language, copy ``en.json`` to ``nb.json`` (or ``sv``, ``da``, ``fi``), translate the values,
keep the ``{placeholders}``, and restart the hub: the catalogue is picked from the browser's
``Accept-Language`` header. See docs/web.md.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

DEFAULT = "en"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """Return the messages of ``lang`` (empty if there is no such catalogue)."""
    path = resources.files("varsel.web").joinpath("locale", f"{lang}.json")
    if not path.is_file():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_") and isinstance(v, str)}


@cache
def available() -> tuple[str, ...]:
    """Return the languages that have a catalogue, English first."""
    root = resources.files("varsel.web").joinpath("locale")
    names = sorted(p.name.removesuffix(".json") for p in root.iterdir() if p.name.endswith(".json"))
    return (DEFAULT, *(n for n in names if n != DEFAULT))


def negotiate(accept_language: str | None) -> str:
    """Return the best available language for an ``Accept-Language`` header."""
    if not accept_language:
        return DEFAULT
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        choices.append((-quality, index, tag.strip().lower()))
    langs = available()
    for _, _, tag in sorted(choices):
        primary = tag.split("-")[0]
        # Norwegian: "no" and "nn" readers get Bokmål when that is the catalogue there is.
        for candidate in (tag, primary, "nb" if primary in {"no", "nn"} else ""):
            if candidate in langs:
                return candidate
    return DEFAULT


class Translator:
    """``t("key", name=...)``: the message in one language, English when it is missing."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._messages = catalogue(lang)
        self._fallback = catalogue(DEFAULT)

    def __call__(self, key: str, **params: Any) -> str:
        """Return the message for ``key`` with ``params`` filled in (the key if unknown)."""
        text = self._messages.get(key) or self._fallback.get(key) or key
        return text.format(**params) if params else text
