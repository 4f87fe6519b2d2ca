"""The share form's indicator builder: one valid STIX pattern per kind, values checked."""

from __future__ import annotations

import pytest

from varsel.errors import InvalidInput
from varsel.sharing.patterns import validate_pattern
from varsel.sharing.tlp import TLP
from varsel.web import indicator


@pytest.mark.parametrize(
    ("kind", "value", "pattern"),
    [
        ("ipv4", "198.51.100.7", "[ipv4-addr:value = '198.51.100.7']"),
        ("ipv4", "198.51.100.0/24", "[ipv4-addr:value = '198.51.100.0/24']"),
        ("ipv6", "2001:DB8::1", "[ipv6-addr:value = '2001:db8::1']"),
        ("ipv6", "2001:db8::/32", "[ipv6-addr:value = '2001:db8::/32']"),
        ("domain", "Bad.Example", "[domain-name:value = 'bad.example']"),
        ("url", "https://bad.example/a'b\\c", "[url:value = 'https://bad.example/a\\'b\\\\c']"),
        ("email", "o'neil@bad.example", "[email-addr:value = 'o\\'neil@bad.example']"),
        (
            "md5",
            "D41D8CD98F00B204E9800998ECF8427E",
            "[file:hashes.'MD5' = 'd41d8cd98f00b204e9800998ecf8427e']",
        ),
        (
            "sha1",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']",
        ),
        (
            "sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "[file:hashes.'SHA-256' = "
            "'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']",
        ),
        ("sha512", "a" * 128, f"[file:hashes.'SHA-512' = '{'a' * 128}']"),
    ],
)
def test_each_kind_makes_a_valid_pattern(kind: str, value: str, pattern: str) -> None:
    assert indicator.pattern_for(kind, value) == pattern
    assert validate_pattern(pattern) is None


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("ipv4", "198.51.100.300", "not an IPv4 address"),
        ("ipv4", "2001:db8::1", "not an IPv4 address"),
        ("ipv4", "198.51.100.7/24", "did you mean 198.51.100.0/24"),
        ("ipv6", "198.51.100.7", "not an IPv6 address"),
        ("domain", "bad_domain", "not a domain name"),
        ("domain", "-bad.example", "not a domain name"),
        ("url", "bad.example/path", "not a full URL"),
        ("url", "https://bad.example/a b", "cannot contain spaces"),
        ("email", "nobody", "not an e-mail address"),
        ("md5", "abc", "has 32 hexadecimal digits; this one has 3"),
        ("sha256", "z" * 64, "hexadecimal"),
        ("ipv4", "   ", "enter the value"),
        ("nonsense", "x", "unknown kind"),
    ],
)
def test_bad_values_are_refused_with_a_reason(kind: str, value: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        indicator.pattern_for(kind, value)


def test_red_needs_recipients_and_carries_them() -> None:
    with pytest.raises(InvalidInput, match="named recipients"):
        indicator.build(
            kind="domain", value="bad.example", name="", description="", tlp=TLP.RED, recipients=[]
        )
    obj = indicator.build(
        kind="domain",
        value="bad.example",
        name="x",
        description="d",
        tlp=TLP.RED,
        recipients=["Svea", "user:bob"],
    )
    assert obj["x_varsel_recipients"] == ["Svea", "user:bob"]
    assert obj["object_marking_refs"] == [TLP.RED.stix_id]
    assert obj["id"].startswith("indicator--") and obj["pattern_type"] == "stix"
    assert obj["created"] == obj["modified"] == obj["valid_from"]
    assert obj["created"].endswith("Z") and len(obj["created"]) == 24
