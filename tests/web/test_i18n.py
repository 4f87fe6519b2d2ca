"""Languages: every message translated, placeholders and plural forms right, pages in each language.

The first test is the one the catalogues answer to: it runs Babel's extraction over the tree with
the settings of ``babel.cfg`` (what ``pybabel extract -F babel.cfg -k N_ .`` finds) and fails,
naming them, on messages a catalogue lacks or leaves untranslated.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from tests import factories as f
from tests.conftest import Hub
from tests.web.conftest import World, csrf_of, shot, sign_in
from varsel.web import i18n
from varsel.web.i18n import Translator, format_number
from varsel.web.render import environment

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "varsel" / "web" / "locale"
# Every language the hub offers but English, the source: a new language is held to the same tests.
TRANSLATED = tuple(lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT)
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]")


def _catalogue(lang: str) -> Catalog:
    with (LOCALE / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=lang)


def _extracted() -> dict[str, tuple[str, ...]]:
    """Return every message id in the source as ``pybabel extract -F babel.cfg -k N_ .`` finds it.

    Keys are the message ids (the singular of a plural); values the full id (one or two forms)
    and where it was found.
    """
    with (ROOT / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    found: dict[str, tuple[str, ...]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        forms = message if isinstance(message, tuple) else (message,)
        forms = tuple(form for form in forms if form)
        if forms:
            found.setdefault(forms[0], (*forms, f"{filename}:{lineno}"))
    return found


def _forms(message: Message) -> tuple[str, ...]:
    value = message.string
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _ids(message: Message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, (tuple, list)) else (message.id,)


def test_every_message_in_the_source_is_translated_in_every_catalogue() -> None:
    extracted = _extracted()
    assert len(extracted) > 500, "the extraction found too little: is babel.cfg read?"
    problems: list[str] = []
    for lang in TRANSLATED:
        catalogue = _catalogue(lang)
        for msgid, found in sorted(extracted.items()):
            *forms, where = found
            message = catalogue.get(msgid)
            if message is None:
                problems.append(f"{lang}: missing {msgid!r} ({where})")
            elif _ids(message) != tuple(forms):
                problems.append(f"{lang}: {msgid!r} is {_ids(message)} in the catalogue ({where})")
            elif message.fuzzy or not all(_forms(message)):
                problems.append(f"{lang}: untranslated {msgid!r} ({where})")
    assert not problems, (
        f"{len(problems)} messages lack a translation; run the extract/update commands of "
        "docs/web.md (Languages) and translate them:\n" + "\n".join(problems)
    )


class _Any(dict[str, object]):
    def __missing__(self, key: str) -> object:
        return 1


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_keep_the_placeholders_of_their_message(lang: str) -> None:
    problems: list[str] = []
    for message in _catalogue(lang):
        if not message.id or not all(_forms(message)):
            continue
        ids = _ids(message)
        for index, text in enumerate(_forms(message)):
            english = ids[min(index, len(ids) - 1)]
            if set(PLACEHOLDER.findall(text)) != set(PLACEHOLDER.findall(english)):
                problems.append(f"{ids[0]!r} → {text!r}: placeholders differ")
            if text.count("%%") != english.count("%%"):
                problems.append(f"{ids[0]!r} → {text!r}: a literal %% differs")
            try:
                text % _Any()
            except (ValueError, TypeError) as exc:
                problems.append(f"{ids[0]!r} → {text!r}: {exc}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_plural_forms_header_is_right_and_used(lang: str) -> None:
    catalogue = _catalogue(lang)
    # The header must state the language's CLDR rule (Babel's table); for Bokmål, Swedish,
    # Danish and Finnish that is one form for 1, another for everything else.
    expected = get_plural(lang)
    assert catalogue.num_plurals == expected.num_plurals
    assert catalogue.plural_expr == expected.plural_expr
    if lang in {"nb", "sv", "da", "fi"}:
        assert catalogue.plural_forms == "nplurals=2; plural=(n != 1);"
    assert catalogue.locale is not None and str(catalogue.locale) == lang
    plurals = [m for m in catalogue if m.id and isinstance(m.id, (tuple, list))]
    assert plurals, "the catalogue has no plural messages"
    assert all(len(_forms(m)) == 2 for m in plurals)


SINGULAR_PLURAL = {
    "en": ("1 day left", "3 days left"),
    "nb": ("1 dag igjen", "3 dager igjen"),
    "sv": ("1 dag kvar", "3 dagar kvar"),
    "da": ("1 dag tilbage", "3 dage tilbage"),
    "fi": ("1 päivä jäljellä", "3 päivää jäljellä"),
}


@pytest.mark.parametrize("lang", sorted(SINGULAR_PLURAL))
def test_counts_take_the_plural_form_of_the_language(lang: str) -> None:
    t = Translator(lang)
    one = t.ngettext("%(num)s day left", "%(num)s days left", 1)
    three = t.ngettext("%(num)s day left", "%(num)s days left", 3)
    assert (one, three) == SINGULAR_PLURAL[lang]
    page = environment().from_string('{{ ngettext("%(num)s day left", "%(num)s days left", n) }}')
    assert page.render(lang=lang, n=1) == SINGULAR_PLURAL[lang][0]
    assert page.render(lang=lang, n=3) == SINGULAR_PLURAL[lang][1]


NBSP = ("\u00a0", "\u202f")  # CLDR groups digits with a no-break space in nb, sv and fi
FORMATS = {
    # lang: (1234567 grouped, a UTC time with |utc, with seconds |when(seconds=true), a day)
    "en": ("1,234,567", "2026-03-27 16:05 UTC", "2026-03-27 16:05:09", "2026-03-27"),
    "nb": ("1 234 567", "27.03.2026, 16:05 UTC", "27.03.2026, 16:05:09", "27.03.2026"),
    "sv": ("1 234 567", "2026-03-27 16:05 UTC", "2026-03-27 16:05:09", "2026-03-27"),
    "da": ("1.234.567", "27.03.2026 16.05 UTC", "27.03.2026 16.05.09", "27.03.2026"),
    "fi": ("1 234 567", "27.3.2026 16.05 UTC", "27.3.2026 16.05.09", "27.3.2026"),
}


def _spaces(text: str) -> str:
    for space in NBSP:
        text = text.replace(space, " ")
    return text


@pytest.mark.parametrize("lang", sorted(FORMATS))
def test_dates_and_numbers_follow_the_page_language(lang: str) -> None:
    # A time stored without a zone (SQLite) is UTC, as is one in another zone.
    naive = datetime(2026, 3, 27, 16, 5, 9)
    helsinki = datetime.fromisoformat("2026-03-27T18:05:09+02:00")
    us = int(datetime(2026, 3, 27, 16, 5, 9, tzinfo=UTC).timestamp() * 1_000_000)
    page = environment().from_string(
        "{{ n|number }}|{{ t|utc }}|{{ h|when(seconds=true) }}|{{ t|day }}|{{ us|timestamp }}"
    )
    rendered = _spaces(page.render(lang=lang, n=1234567, t=naive, h=helsinki, us=us))
    number, utc, seconds, day = FORMATS[lang]
    assert rendered == f"{number}|{utc}|{seconds}|{day}|{utc}"
    assert _spaces(format_number(1234567, lang)) == number


LOGIN = {
    "en": ("Sign in to the hub", "Username"),
    "nb": ("Logg inn på huben", "Brukernavn"),
    "sv": ("Logga in på hubben", "Användarnamn"),
    "da": ("Log ind på hubben", "Brugernavn"),
    "fi": ("Kirjaudu hubiin", "Käyttäjänimi"),
}


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("nb-NO,nb;q=0.9,en;q=0.5", "nb"),
        ("no", "nb"),
        ("sv-SE", "sv"),
        ("da", "da"),
        ("fi-FI,en;q=0.1", "fi"),
        ("de-DE,en-GB;q=0.8", "en"),
        ("", "en"),
    ],
)
def test_the_sign_in_page_is_in_the_browsers_language(
    hub: Hub, world: World, header: str, lang: str
) -> None:
    with TestClient(hub.app) as client:
        page = client.get("/login", headers={"Accept-Language": header}).text
    assert f'<html lang="{lang}">' in page
    heading, field = LOGIN[lang]
    assert f"<h1>{heading}</h1>" in page and f">{field}</label>" in page
    if lang != "en":
        assert "Sign in to the hub" not in page and "Username" not in page


AUDIT_TIME = {
    "en": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
    "nb": r"\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}:\d{2}",
    "sv": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
    "da": r"\d{2}\.\d{2}\.\d{4} \d{2}\.\d{2}\.\d{2}",
    "fi": r"\d{1,2}\.\d{1,2}\.\d{4} \d{1,2}\.\d{2}\.\d{2}",
}
AUDIT_INTACT = {
    "en": r"The audit chain is intact: (\d+) events verified\.",
    "nb": r"Revisjonskjeden er intakt: (\d+) hendelser verifisert\.",
    "sv": r"Granskningskedjan är intakt: (\d+) händelser verifierade\.",
    "da": r"Revisionskæden er intakt: (\d+) hændelser verificeret\.",
    "fi": r"Tarkastusketju on eheä: (\d+) tapahtumaa varmennettu\.",
}


@pytest.mark.parametrize("lang", sorted(AUDIT_TIME))
def test_a_signed_in_page_shows_times_and_counts_in_the_language(
    hub: Hub, world: World, lang: str
) -> None:
    with TestClient(hub.app) as other:
        sign_in(other, "bob")  # an earlier sign-in: the audit log holds several events
    with TestClient(hub.app, headers={"Accept-Language": lang}) as client:
        sign_in(client, "root")
        page = client.get("/admin/audit").text
    assert f'<html lang="{lang}">' in page
    intact = re.search(AUDIT_INTACT[lang], page)
    assert intact and int(intact.group(1)) >= 2, page
    cells = re.findall(r'<td class="nowrap">([^<]*)</td>', page)
    assert cells and all(re.fullmatch(AUDIT_TIME[lang], cell) for cell in cells), cells


def test_the_chosen_language_wins_over_accept_language(hub: Hub, world: World) -> None:
    with TestClient(hub.app, headers={"Accept-Language": "nb"}) as client:
        login = client.get("/login")
        assert '<html lang="nb">' in login.text
        # The picker lists every language by its own name.
        for name in ("English", "Norsk bokmål", "Svenska", "Dansk", "Suomi"):
            assert f">{name}</option>" in login.text
        chosen = client.post(
            "/language",
            data={"lang": "fi", "next": "/login?next=%2Fobjects", "csrf": csrf_of(login.text)},
            follow_redirects=False,
        )
        assert chosen.status_code == 303
        assert chosen.headers["location"] == "/login?next=%2Fobjects"
        assert "httponly" in chosen.headers["set-cookie"].lower()
        assert client.cookies.get(i18n.COOKIE) == "fi"
        page = client.get("/login").text
        assert '<html lang="fi">' in page and "<h1>Kirjaudu hubiin</h1>" in page
        assert '<option value="fi" lang="fi" selected>Suomi</option>' in page

        # Signed in, the choice holds on every page, and "as the browser asks" forgets it.
        sign_in(client, "alice")
        home = client.get("/").text
        assert '<html lang="fi">' in home and ">Kirjaudu ulos</button>" in home
        forgot = client.post(
            "/language",
            data={"lang": "auto", "next": "/", "csrf": csrf_of(home)},
            follow_redirects=False,
        )
        assert forgot.status_code == 303 and forgot.headers["location"] == "/"
        assert client.cookies.get(i18n.COOKIE) is None
        assert '<html lang="nb">' in client.get("/").text


def test_an_unknown_language_or_a_foreign_target_is_ignored(hub: Hub, world: World) -> None:
    with TestClient(hub.app, headers={"Accept-Language": "sv"}) as client:
        token = csrf_of(client.get("/login").text)
        refused = client.post(
            "/language",
            data={"lang": "xx", "next": "//evil.example/", "csrf": token},
            follow_redirects=False,
        )
        assert refused.status_code == 303 and refused.headers["location"] == "/"
        assert client.cookies.get(i18n.COOKIE) is None
        # A cookie the hub did not set, naming no catalogue, changes nothing.
        client.cookies.set(i18n.COOKIE, "../../etc/passwd")
        assert '<html lang="sv">' in client.get("/login").text
        # Without the CSRF token nothing is kept.
        forged = client.post("/language", data={"lang": "da"}, follow_redirects=False)
        assert forged.status_code == 403
        client.cookies.delete(i18n.COOKIE)
        assert '<html lang="sv">' in client.get("/login").text


def test_choose_prefers_an_available_cookie_then_the_header() -> None:
    assert i18n.choose("da", "fi") == "da"
    assert i18n.choose("en", "fi") == "en"
    assert i18n.choose("xx", "fi") == "fi"
    assert i18n.choose(None, "nn-NO") == "nb"
    assert i18n.choose("", None) == "en"


def test_plural_messages_of_the_source_are_plurals_in_the_catalogues() -> None:
    # ngettext in the source must stay a plural entry: a plain gettext entry would lose a form.
    extracted = {k: v for k, v in _extracted().items() if len(v) == 3}
    assert extracted, "no ngettext message found in the source"
    counts: defaultdict[str, int] = defaultdict(int)
    for lang in TRANSLATED:
        catalogue = _catalogue(lang)
        for msgid in extracted:
            message = catalogue.get(msgid)
            assert message is not None and isinstance(message.id, (tuple, list)), (lang, msgid)
            counts[lang] += 1
    assert len(set(counts.values())) == 1


@pytest.mark.browser
def test_a_reader_switches_language_in_a_real_browser(
    hub: Hub, live: str, world: World, chromium: Any
) -> None:
    # Chromium asks for Bokmål (its Accept-Language follows the locale); the reader picks Finnish.
    context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="nb-NO")
    page = context.new_page()
    try:
        page.goto(f"{live}/login")
        assert page.locator("html").get_attribute("lang") == "nb"
        assert page.get_by_role("heading", level=1).inner_text() == "Logg inn på huben"
        page.get_by_label("Språk").select_option("fi")
        page.get_by_role("button", name="Bytt språk").click()
        page.wait_for_url(f"{live}/login")
        assert page.locator("html").get_attribute("lang") == "fi"
        page.get_by_label("Käyttäjänimi").fill("alice")
        page.get_by_label("Salasana").fill(f.PASSWORD)
        page.get_by_role("button", name="Kirjaudu sisään").click()
        page.wait_for_url(f"{live}/")
        assert page.locator("html").get_attribute("lang") == "fi"
        # At 390 px the account's buttons are in the folded menu ("Valikko"): open it first.
        page.get_by_role("button", name="Valikko").click()
        assert page.get_by_role("button", name="Kirjaudu ulos").is_visible()
        # The picker fits the narrowest screen (the layout of the rest is another part's work).
        box = page.locator("form.language-form").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        shot(page, "home-fi-390", hub.backend)
    finally:
        context.close()
