"""Languages of the web interface: gettext catalogues read through Babel.

Every string a page shows is an English message id in the source: ``{{ _("Sign in") }}`` or
``{% trans %}`` in a template, ``tr.gettext("…")`` in Python, ``N_("…")`` for the names of values
(``varsel/web/labels.py``). ``pybabel extract`` collects them into ``locale/messages.pot``; each
language has ``locale/<lang>/LC_MESSAGES/messages.po``, the standard layout PO editors and Weblate
open. The hub reads the ``.po`` files themselves at start (no compiled ``.mo`` to keep in step);
a message a catalogue lacks shows in English. See docs/web.md ("Languages").
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources
from io import BytesIO
from typing import Any

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

DEFAULT = "en"
# The interface's languages: English (the source) and the four of the initiative's countries.
LANGUAGES = ("en", "nb", "sv", "da", "fi")
DOMAIN = "messages"


def catalogue_path(lang: str) -> Any:
    """Return the resource path of the ``.po`` catalogue of ``lang``."""
    return resources.files("varsel.web").joinpath("locale", lang, "LC_MESSAGES", f"{DOMAIN}.po")


@cache
def translations(lang: str) -> NullTranslations:
    """Return the translations of ``lang`` (none for English or a language without a catalogue)."""
    path = catalogue_path(lang)
    if lang == DEFAULT or not path.is_file():
        return NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=lang, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)


@cache
def available() -> tuple[str, ...]:
    """Return the languages that have a catalogue, English first."""
    return tuple(lang for lang in LANGUAGES if lang == DEFAULT or catalogue_path(lang).is_file())


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


@cache
def locale(lang: str) -> Locale:
    """Return the Babel locale of ``lang`` (for dates, numbers and plural rules)."""
    return Locale.parse(lang)


class Translator:
    """Messages of one language for Python code: ``tr.gettext("In %(days)s days", days=7)``."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._translations = translations(lang)

    def gettext(self, message: str, **params: Any) -> str:
        """Return ``message`` in this language with ``params`` filled in (``%(name)s``)."""
        return self._translations.gettext(message) % params

    def ngettext(self, singular: str, plural: str, num: int, **params: Any) -> str:
        """Return the form of ``singular``/``plural`` for ``num`` (``%(num)s`` is filled in)."""
        return self._translations.ngettext(singular, plural, num) % {"num": num, **params}


def _lang(context: Context) -> str:
    value = context.get("lang")
    return value if isinstance(value, str) else DEFAULT


@pass_context
def _gettext(context: Context, message: str) -> str:
    return translations(_lang(context)).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, num: int) -> str:
    return translations(_lang(context)).ngettext(singular, plural, num)


@pass_context
def _pgettext(context: Context, ctxt: str, message: str) -> str:
    return str(translations(_lang(context)).pgettext(ctxt, message))


@pass_context
def _npgettext(context: Context, ctxt: str, singular: str, plural: str, num: int) -> str:
    return str(translations(_lang(context)).npgettext(ctxt, singular, plural, num))


def page_callables() -> dict[str, Callable[..., str]]:
    """Return the gettext callables of Jinja2's i18n extension (the page's ``lang`` picks)."""
    return {
        "gettext": _gettext,
        "ngettext": _ngettext,
        "pgettext": _pgettext,
        "npgettext": _npgettext,
    }


@pass_context
def label(context: Context, group: str, value: object, default: str | None = None) -> str:
    """Return the translated name of ``value`` in ``group`` (see ``labels.py``).

    A value without a name shows as itself (escaped by the template), or as ``default``.
    """
    from varsel.web.labels import LABELS

    message = LABELS.get(group, {}).get(str(value))
    if message is None:
        return default if default is not None else str(value)
    text = translations(_lang(context)).gettext(message) % {}
    return Markup.escape(text) if context.eval_ctx.autoescape else text
