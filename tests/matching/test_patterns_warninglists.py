"""Pattern subset parsing and the warning lists (loaded offline from pymispwarninglists)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from varsel.config import Settings
from varsel.observables.normalize import Kind
from varsel.observables.patterns import DST, Atom, Unsupported, parse
from varsel.sharing.ingest._lookups import Substrings, check_patterns
from varsel.sharing.ingest.warninglists import Mode, _lists, check_indicator, warninglist_mode


def test_supported_patterns() -> None:
    assert parse("[domain-name:value = 'Evil.COM.'] OR [url:value = 'HTTP://e.com:80/%7e']") == [
        Atom(Kind.DOMAIN, "evil.com"),
        Atom(Kind.URL, "http://e.com/~"),
    ]
    assert parse(
        "[network-traffic:dst_ref.type = 'ipv4-addr' AND "
        "network-traffic:dst_ref.value = '10.0.0.0/8']"
    ) == [Atom(Kind.CIDR, "10.0.0.0/8", DST)]
    assert parse("[ipv6-addr:value IN ('2001:DB8::1', '2001:db8::/32')]") == [
        Atom(Kind.IP, "2001:db8::1"),
        Atom(Kind.CIDR, "2001:db8::/32"),
    ]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("[ipv4-addr:value = '1.2.3.4'] AND [domain-name:value = 'x.com']", "only OR between"),
        ("[ipv4-addr:value = '1.2.3.4'] WITHIN 5 SECONDS", "only OR between"),
        ("[domain-name:value MATCHES '^a']", "operator MATCHES"),
        ("[domain-name:value LIKE 'a%.com']", "only '%.domain'"),
        ("[file:hashes.MD5 = 'abc']", "is not a MD5 digest"),
        ("[ipv4-addr:value = '999.1.1.1']", "not an IP address"),
        (
            "[network-traffic:dst_port = 443 AND network-traffic:dst_ref.value = '1.2.3.4']",
            "needs a string literal",
        ),
        ("([ipv4-addr:value = '1.2.3.4'])", "expected '['"),
    ],
)
def test_unsupported_patterns_say_why(pattern: str, reason: str) -> None:
    with pytest.raises(Unsupported, match=re.escape(reason)):
        parse(pattern)


def test_warning_lists_flag_benign_values(configure: Callable[..., Settings]) -> None:
    def indicator(pattern: str) -> dict[str, str]:
        return {"type": "indicator", "pattern_type": "stix", "pattern": pattern}

    resolver = check_indicator(indicator("[ipv4-addr:value = '8.8.8.8']"))
    assert len(resolver) == 1 and "public DNS resolvers" in resolver[0]
    assert check_indicator(indicator("[domain-name:value = 'www.google.com']"))
    assert check_indicator(
        indicator("[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']")
    )  # the empty file
    assert check_indicator(indicator("[domain-name:value = 'q7x-unlisted-zz.invalid']")) == []
    assert check_indicator({"type": "malware", "name": "x"}) == []
    assert warninglist_mode() is Mode.WARN
    configure(warninglist_mode="refuse")
    assert warninglist_mode() is Mode.REFUSE


def _disposable_mail_list() -> Substrings:
    index = _lists().index(Kind.DOMAIN)
    [literals] = [s for s in index.substrings if "disposable" in _lists().names[s.list_id].lower()]
    return literals


@settings(max_examples=60, deadline=None)
@given(
    picks=st.lists(st.integers(0, 10_000), min_size=1, max_size=30),
    noise=st.lists(st.text(alphabet="abcdefghij.-0123456789äß", max_size=12), max_size=30),
    cut=st.integers(0, 3),
)
def test_substring_lists_give_the_same_flags_by_automaton_and_by_re2(
    picks: list[int], noise: list[str], cut: int
) -> None:
    literals = _disposable_mail_list()
    entries = [c.replace("\\", "") for chunk in literals.chunks for c in chunk.split("|")]
    values = [f"x{entries[p % len(entries)][cut:]}.y" for p in picks] + noise
    small: dict[int, set[int]] = defaultdict(set)
    bulk: dict[int, set[int]] = defaultdict(set)
    literals.check_small(values, small)
    check_patterns([(literals.list_id, re.compile(c)) for c in literals.chunks], values, bulk)
    assert small == bulk
    assert any(small.values()) or cut  # whole entries inside a value are always found
