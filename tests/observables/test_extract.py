"""Free-text extraction of observables: kinds, canonical values, defanging, order, speed."""

from __future__ import annotations

import time

import pytest

from varsel.observables.extract import KINDS, Found, classify, extract, refang

REPORT = """
Phishing from billing@Evil-Invoices.example (see hxxps://evil-invoices[.]example/pay?id=7#x).
C2 at 198.51.100.23:443 and 2001:DB8::7; the actor's range is 203.0.113.77/24.
Payload MD5 D41D8CD98F00B204E9800998ECF8427E, SHA-1 da39a3ee5e6b4b0d3255bfef95601890afd80709,
SHA-256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.
Domain: update(.)bad-cdn[.]example, again update.bad-cdn.example.
Not values: v1.2.3, file.c, e.g. 12:30:45, 999.1.1.1, deadbeef, mailto, user@localhost.
"""


def test_report_gives_each_value_once_in_order() -> None:
    found = extract(REPORT)
    assert [(f.kind, f.value) for f in found] == [
        ("email", "billing@evil-invoices.example"),
        ("url", "https://evil-invoices.example/pay?id=7"),
        ("ipv4", "198.51.100.23"),
        ("ipv6", "2001:db8::7"),
        ("ipv4", "203.0.113.0/24"),
        ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
        ("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("domain", "update.bad-cdn.example"),
    ]
    assert {f.kind for f in found} <= set(KINDS)
    # The raw form is what was written, defanged or not.
    assert found[1].raw == "hxxps://evil-invoices[.]example/pay?id=7#x"
    assert found[8].raw == "update(.)bad-cdn[.]example"


@pytest.mark.parametrize(
    ("token", "kind", "value"),
    [
        ("hxxp://bad[.]example", "url", "http://bad.example/"),
        ("HXXPS[://]bad[.]example/a%7e", "url", "https://bad.example/a~"),
        ("user[@]bad[.]example", "email", "user@bad.example"),
        ("user(at)bad(dot)example", "email", "user@bad.example"),
        ("192.0.2.1/32", "ipv4", "192.0.2.1"),
        ("192.0.2.9/24", "ipv4", "192.0.2.0/24"),
        ("2001:db8::/32", "ipv6", "2001:db8::/32"),
        ("::ffff:192.0.2.1", "ipv6", "::ffff:c000:201"),
        ("bücher.example", "domain", "xn--bcher-kva.example"),
        ("example.org/path", "domain", "example.org"),
        ("A" * 128, "sha512", "a" * 128),
        ("gopher://x.example", None, None),
        ("3.14", None, None),
    ],
)
def test_classify(token: str, kind: str | None, value: str | None) -> None:
    found = extract(token)
    if kind is None:
        assert found == []
        assert classify(token) is None
    else:
        assert found == [Found(kind, value or "", token)]


def test_refang() -> None:
    assert refang("hxxps://a[.]b(.)c{.}d[dot]e") == "https://a.b.c.d.e"


def test_sentence_punctuation_is_not_part_of_a_value() -> None:
    found = extract("Blocked (198.51.100.1), evil.example. And 'bad.example'!")
    assert [f.value for f in found] == ["198.51.100.1", "evil.example", "bad.example"]


def test_empty_and_prose_give_nothing() -> None:
    assert extract("") == []
    assert extract("The quick brown fox, i.e. nothing here: 1.5 and 2.0.") == []


def test_thousand_values_extract_fast() -> None:
    lines = []
    for i in range(1000):
        lines.append(
            (
                f"198.{i // 250}.{i % 250}.7",
                f"host{i}.bad[.]example",
                f"hxxp://h{i}.example/p",
                f"{i:032x}",
                f"u{i}@mail.example",
            )[i % 5]
        )
    text = "\n".join(lines)
    extract(text)
    started = time.perf_counter()
    found = extract(text)
    elapsed = time.perf_counter() - started
    assert len(found) == 1000
    assert elapsed < 0.1, elapsed
