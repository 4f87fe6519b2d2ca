"""Languages of the web interface: gettext catalogues read through Babel.

Every string a page shows is an English message id in the source: ``{{ _("Sign in") }}`` or
``{% trans %}`` in a template, ``tr.gettext("…")`` in Python, ``N_("…")`` for the names of values
(``varsel/web/labels.py``). ``pybabel extract`` collects them into ``locale/messages.pot``; each
language has ``locale/<lang>/LC_MESSAGES/messages.po``, the standard layout PO editors and Weblate
open. The hub reads the ``.po`` files themselves at start (no compiled ``.mo`` to keep in step);
a message a catalogue lacks shows in English (tests/web/test_i18n.py fails on it first).

The page's language is the reader's choice (the ``varsel_lang`` cookie, set by ``POST /language``)
or else the best match of ``Accept-Language``: :func:`request_lang`. Dates, times and numbers are
written per language through Babel's CLDR data (``format_when``, ``format_day``,
``format_number``, and the template filters ``|utc``, ``|when``, ``|day``, ``|number``), always
in UTC. See docs/web.md ("Languages").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from io import BytesIO
from typing import Any

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from varsel.clock import us_to_datetime

DEFAULT = "en"
# The interface's languages: English (the source) and the four of the initiative's countries.
LANGUAGES = ("en", "nb", "sv", "da", "fi")
DOMAIN = "messages"
# The cookie a reader's own choice of language is kept in (``POST /language``); it wins over
# the browser's Accept-Language.
COOKIE = "varsel_lang"
# Each language's name in itself, for the language picker (never translated).
NAMES = {"en": "English", "nb": "Norsk bokmål", "sv": "Svenska", "da": "Dansk", "fi": "Suomi"}


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


def choose(cookie: str | None, accept_language: str | None) -> str:
    """Return the reader's language: the chosen one (cookie) if available, else negotiated."""
    if cookie is not None and cookie in available():
        return cookie
    return negotiate(accept_language)


def request_lang(request: Any) -> str:
    """Return the language of the page for a Starlette ``request`` (cookie, Accept-Language)."""
    return choose(request.cookies.get(COOKIE), request.headers.get("accept-language"))


@cache
def locale(lang: str) -> Locale:
    """Return the Babel locale of ``lang`` (for dates, numbers and plural rules)."""
    return Locale.parse(lang)


def format_number(value: int | float, lang: str) -> str:
    """Return ``value`` with the digit grouping of ``lang`` (1,234 · 1 234 · 1.234)."""
    return format_decimal(value, locale=locale(lang))


def _utc(value: datetime | date | int) -> datetime:
    if isinstance(value, int):
        return us_to_datetime(value)
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    # Stored times without a zone are UTC (SQLite keeps no offset).
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_day(value: datetime | date | int, lang: str) -> str:
    """Return the calendar date of ``value`` as ``lang`` writes it short (English: ISO 8601)."""
    day = value if isinstance(value, date) and not isinstance(value, datetime) else _utc(value)
    if lang == DEFAULT:
        return day.strftime("%Y-%m-%d")
    return format_date(day, "short", locale=locale(lang))


def format_when(value: datetime | date | int, lang: str, *, seconds: bool = False) -> str:
    """Return ``value`` (a time, or µs since the epoch) as a UTC date and time in ``lang``.

    English keeps ISO 8601 order (``2026-03-27 16:00``), unambiguous wherever it is read; the
    other languages use their locale's short date and 24-hour time (``27.03.2026, 16:00``).
    The zone is not written: the caller adds "UTC" where the message says so.
    """
    moment = _utc(value)
    if lang == DEFAULT:
        return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    where = locale(lang)
    day = format_date(moment, "short", locale=where)
    time = format_time(moment, "medium" if seconds else "short", tzinfo=UTC, locale=where)
    return str(where.datetime_formats["short"]).replace("{1}", day).replace("{0}", time)


def format_day_month(value: datetime, lang: str) -> str:
    """Return the day and short month of ``value`` (``05 Dec``) in ``lang``."""
    if lang == DEFAULT:
        return value.strftime("%d %b")
    return format_skeleton("MMMd", value, locale=locale(lang))


def format_weekday(value: datetime, lang: str) -> str:
    """Return a short weekday, day and month of ``value`` (``Sat 05 Dec``) in ``lang``."""
    if lang == DEFAULT:
        return value.strftime("%a %d %b")
    return format_skeleton("MMMEd", value, locale=locale(lang))


class Translator:
    """Messages of one language for Python code: ``tr.gettext("In %(days)s days", days=7)``."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._translations = translations(lang)

    def gettext(self, message: str, **params: Any) -> str:
        """Return ``message`` in this language with ``params`` filled in (``%(name)s``)."""
        return self._translations.gettext(message) % params

    def ngettext(self, singular: str, plural: str, num: int, **params: Any) -> str:
        """Return the form of ``singular``/``plural`` for ``num`` (``%(num)s`` is filled in).

        ``num`` is written with the language's digit grouping unless ``params`` give ``num``.
        """
        filled = {"num": format_number(num, self.lang), **params}
        return self._translations.ngettext(singular, plural, num) % filled

    def number(self, value: int | float) -> str:
        """Return ``value`` with this language's digit grouping."""
        return format_number(value, self.lang)

    def when(self, value: datetime | date | int, *, seconds: bool = False) -> str:
        """Return ``value`` as a UTC date and time in this language (without the zone)."""
        return format_when(value, self.lang, seconds=seconds)


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
def number_filter(context: Context, value: int | float) -> str:
    """Return ``value`` with the digit grouping of the page's language (``{{ n|number }}``)."""
    return format_number(value, _lang(context))


@pass_context
def when_filter(
    context: Context, value: datetime | date | int | None, seconds: bool = False
) -> str:
    """Return a UTC date and time in the page's language, without the zone (``|when``)."""
    return "" if value is None else format_when(value, _lang(context), seconds=seconds)


@pass_context
def utc_filter(context: Context, value: datetime | date | int | None, seconds: bool = False) -> str:
    """Return a date and time in the page's language followed by "UTC" (``|utc``)."""
    return "" if value is None else format_when(value, _lang(context), seconds=seconds) + " UTC"


@pass_context
def day_filter(context: Context, value: datetime | date | int | None) -> str:
    """Return a calendar date in the page's language (``|day``)."""
    return "" if value is None else format_day(value, _lang(context))


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
