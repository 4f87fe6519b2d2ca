"""Find the observables in free text: addresses, blocks, domains, URLs, e-mails and digests.

``extract(text)`` is what a pasted report, log excerpt or e-mail goes through before the hub
looks its values up (the observable look-up) or offers them for sharing (free-text import),
much as MISP's free-text import does. It returns each value once, in order of first
appearance, as a :class:`Found`:

``kind``
    one of :data:`KINDS`, the keys of the share form (:mod:`varsel.web.indicator`): ``ipv4``,
    ``ipv6`` (an address *or* a CIDR block of that family), ``domain``, ``url``, ``email``,
    ``md5``, ``sha1``, ``sha256``, ``sha512``;
``value``
    the canonical text of :mod:`varsel.observables.normalize` (the form the matcher and the
    search index compare): ``indicator_ip`` (a block with host bits set becomes its network,
    a /32 or /128 an address), ``indicator_domain`` (IDNA, lower case), ``indicator_url``,
    ``indicator_email``, lower-case hex for digests;
``raw``
    the text as it stood in the input (defanged forms included).

Defanged writing is read too: ``hxxp://``/``hxxps://``/``fxp://``, ``[.]`` ``(.)`` ``{.}``
``[dot]`` ``(dot)``, ``[:]``, ``[://]``, ``[@]`` ``[at]`` ``(at)``.

What is not extracted, on purpose: a domain whose last label is not a plausible top-level
domain (letters, or ``xn--``, two or more; so ``file.c``, ``v1.2.3`` and ``e.g.`` are not
domains), hexadecimal runs of other lengths, a bare host inside a URL (the URL is the value),
and URLs whose host is a bracketed IPv6 literal. A URL without a scheme (``example.org/x``)
yields its domain.

Hand-written rather than a library of the field, because of speed: on 1,000 pasted values
(one per line: addresses, defanged domains and URLs, MD5 digests, e-mail addresses; the text
of ``tests/observables/test_extract.py``) on this project's 2-core machine, iocextract 1.16.1
took 5.5 s (its regular expressions backtrack) and ioc-finder 9.4.1 (a pyparsing grammar)
1.5 s, finding 400 of the 1,000; iocsearcher 3.1.0 brings PDF and HTML parsers a look-up does
not need. The look-up of 1,000 values must answer in 200 ms. This module is one tokenising
regular expression plus the validation of ``normalize`` and takes a few milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from varsel.observables.normalize import (
    BadValue,
    indicator_domain,
    indicator_email,
    indicator_ip,
    indicator_url,
)

KINDS: Final = ("ipv4", "ipv6", "domain", "url", "email", "md5", "sha1", "sha256", "sha512")
HASH_KINDS: Final = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
MAX_TEXT: Final = 2_000_000  # characters; callers refuse larger input before calling

# A defanged separator counts as part of a token; everything else that cannot be in a value
# ends one. Brackets and parentheses are separators, except inside these forms.
_DEFANG: Final = r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\[:\]|\[://\]|\[@\]|\[at\]|\(at\)"
_TOKEN: Final = re.compile(rf"(?:{_DEFANG}|[^\s<>\"'`,;|(){{}}\[\]\\])+", re.IGNORECASE)
_REFANG: Final = (
    (re.compile(r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)", re.IGNORECASE), "."),
    (re.compile(r"\[://\]", re.IGNORECASE), "://"),
    (re.compile(r"\[:\]", re.IGNORECASE), ":"),
    (re.compile(r"\[@\]|\[at\]|\(at\)", re.IGNORECASE), "@"),
    (re.compile(r"^(?:hxxp|hXXp|h\*\*p|meow)(s?)://", re.IGNORECASE), r"http\1://"),
    (re.compile(r"^fxp://", re.IGNORECASE), "ftp://"),
)
_SCHEMES: Final = frozenset({"http", "https", "ftp", "ftps", "sftp", "ws", "wss"})
_HEX: Final = re.compile(r"[0-9a-fA-F]+")
_TLD: Final = re.compile(r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})")
_IPV4ISH: Final = re.compile(r"[0-9.]+(?:/[0-9]{1,3})?")
_EDGE: Final = ".,:;!?*=~-_'\""
_DEFANGED: Final = re.compile(rf"{_DEFANG}|^h(?:xx|XX|\*\*)ps?:|^fxp:", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Found:
    """One observable found in text: its kind, canonical value and the text as written."""

    kind: str
    value: str
    raw: str


def refang(text: str) -> str:
    """Return ``text`` with defanged separators and schemes written plainly."""
    for pattern, plain in _REFANG:
        text = pattern.sub(plain, text)
    return text


def _strip_edges(token: str) -> str:
    # Sentence punctuation around a value ("see evil.example." / "(1.2.3.4)") is not part of
    # it; a trailing "/" of a URL is, and defanged forms at the edges are kept whole.
    start, end = 0, len(token)
    while start < end and token[start] in _EDGE and token[start : start + 2] != "::":
        start += 1
    while end > start and token[end - 1] in _EDGE and token[end - 2 : end] != "::":
        end -= 1
    return token[start:end]


def _domain(host: str) -> str | None:
    if "." not in host:
        return None
    tld = host.rstrip(".").rsplit(".", 1)[-1].lower()
    if not _TLD.fullmatch(tld) and not (not tld.isascii() and tld.isalpha()):
        return None
    try:
        return indicator_domain(host)
    except BadValue:
        return None


def _ip(text: str) -> tuple[str, str] | None:
    try:
        kind, value = indicator_ip(text)
    except BadValue:
        return None
    del kind
    return ("ipv6" if ":" in value else "ipv4"), value


def classify(raw: str) -> Found | None:
    """Return what one whitespace-free token is, or None if it is no observable."""
    text = refang(raw) if _DEFANGED.search(raw) else raw
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme not in _SCHEMES:
            return None
        url = indicator_url(text)
        return Found("url", url, raw) if url is not None else None
    if "@" in text:
        local, _, domain = text.rpartition("@")
        if not local or _domain(domain) is None:
            return None
        try:
            return Found("email", indicator_email(text), raw)
        except BadValue:
            return None
    kind = HASH_KINDS.get(len(text))
    if kind is not None and _HEX.fullmatch(text):
        return Found(kind, text.lower(), raw)
    if text.count(":") >= 2:  # IPv6, perhaps with an IPv4 tail (::ffff:192.0.2.1)
        found = _ip(text)
        return Found(*found, raw) if found is not None else None
    host = text.split("/", 1)[0].split(":", 1)[0]  # a path or a port follows a host
    if _IPV4ISH.fullmatch(text) or _IPV4ISH.fullmatch(host):
        found = _ip(text if _IPV4ISH.fullmatch(text) else host)
        return Found(*found, raw) if found is not None else None
    value = _domain(host)
    return Found("domain", value, raw) if value is not None else None


def extract(text: str) -> list[Found]:
    """Return the observables in ``text``, each canonical value once, in order of appearance.

    Two raw forms of one value (``Evil.Example`` and ``evil[.]example``) give one
    :class:`Found`, with the first raw form.
    """
    seen: set[tuple[str, str]] = set()
    out: list[Found] = []
    for match in _TOKEN.finditer(text):
        token = _strip_edges(match.group())
        if len(token) < 3:
            continue
        found = classify(token)
        if found is None:
            continue
        key = (found.kind, found.value)
        if key not in seen:
            seen.add(key)
            out.append(found)
    return out
