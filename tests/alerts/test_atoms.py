"""What a watched value concerns, and how a typed value is read (no database)."""

from __future__ import annotations

import pytest

from varsel.alerts.flows import atoms_of, concerns
from varsel.alerts.service import FieldError, parse_watch


def _hits(watch: str, obj: dict[str, object]) -> bool:
    kind, value = parse_watch(watch)
    return any(concerns(kind, value, atom) for atom in atoms_of(obj))


def _ind(pattern: str) -> dict[str, object]:
    return {"type": "indicator", "pattern_type": "stix", "pattern": pattern}


@pytest.mark.parametrize(
    ("watch", "obj", "hit"),
    [
        ("198.51.100.0/24", _ind("[ipv4-addr:value = '198.51.100.7']"), True),
        ("198.51.100.0/24", _ind("[ipv4-addr:value = '198.51.101.7']"), False),
        ("198.51.100.0/24", _ind("[ipv4-addr:value ISSUBSET '198.51.0.0/16']"), True),
        ("198.51.100.7", _ind("[ipv4-addr:value ISSUBSET '198.51.100.0/28']"), True),
        ("198.51.100.0/24", _ind("[url:value = 'http://198.51.100.9:8080/x']"), True),
        ("2001:db8::/32", {"type": "ipv6-addr", "value": "2001:DB8::1"}, True),
        ("2001:db8::/32", _ind("[ipv4-addr:value = '198.51.100.7']"), False),
        ("example.org", {"type": "domain-name", "value": "c2.Example.org."}, True),
        ("example.org", {"type": "domain-name", "value": "badexample.org"}, False),
        ("a.example.org", _ind("[domain-name:value LIKE '%.example.org']"), True),
        ("example.org", _ind("[domain-name:value LIKE '%.example.org']"), True),
        ("example.org", _ind("[email-addr:value = 'ceo@mail.example.org']"), True),
        ("example.org", _ind("[url:value = 'https://www.example.org/login']"), True),
        (
            "https://www.example.org/login",
            _ind("[url:value = 'HTTPS://www.example.org:443/login']"),
            True,
        ),
        ("ceo@example.org", {"type": "email-addr", "value": "CEO@example.org"}, True),
        ("ceo@example.org", {"type": "email-addr", "value": "cfo@example.org"}, False),
        (
            "d41d8cd98f00b204e9800998ecf8427e",
            {"type": "file", "hashes": {"MD5": "D41D8CD98F00B204E9800998ECF8427E"}},
            True,
        ),
        (
            "198.51.100.0/24",
            _ind("[ipv4-addr:value = '198.51.100.7'] FOLLOWEDBY [ipv4-addr:value = '1.2.3.4']"),
            False,
        ),
    ],
)
def test_what_a_watch_concerns(watch: str, obj: dict[str, object], hit: bool) -> None:
    assert _hits(watch, obj) is hit


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("198.51.100.0/24", "cidr", "198.51.100.0/24"),
        ("198.51.100.7/32", "ip", "198.51.100.7"),
        ("2001:DB8::1", "ip", "2001:db8::1"),
        ("Example.ORG.", "domain", "example.org"),
        ("HTTPS://Example.org", "url", "https://example.org/"),
        ("Bob@Example.org", "email", "bob@example.org"),
        ("D41D8CD98F00B204E9800998ECF8427E", "hash", "d41d8cd98f00b204e9800998ecf8427e"),
    ],
)
def test_a_typed_value_is_read_canonically(text: str, kind: str, value: str) -> None:
    assert parse_watch(text) == (kind, value)


@pytest.mark.parametrize("text", ["", "localhost", "198.51.100.0/33", "not a value", "x" * 301])
def test_a_value_that_cannot_be_watched_is_refused(text: str) -> None:
    with pytest.raises(FieldError) as refused:
        parse_watch(text)
    assert refused.value.field == "value"
