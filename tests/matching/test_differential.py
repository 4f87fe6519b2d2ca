"""The fast matcher returns exactly the reference matcher's matches, on generated logs.

Hypothesis draws indicators (STIX patterns over addresses, blocks, domains with and without
subdomains, URLs, e-mail addresses and digests, with directions) and Zeek logs whose values are
variants of them (case, trailing dots, default ports, escapes, IPv6 spellings) mixed with junk.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.matching.helpers import compiled
from varsel.matching._index import Matcher
from varsel.matching._readers import ReadStats
from varsel.matching._reference import ReferenceMatcher, reference_scan_zeek
from varsel.matching._scan import scan
from varsel.observables.normalize import Role

IPV4 = [
    f"{a}.{b}.{c}.{d}" for a in (10, 198) for b in (0, 51) for c in (1, 100) for d in (0, 7, 255)
]
IPV6 = ["2001:db8::1", "2001:db8::bad", "2001:db8:0:1::1", "fe80::1"]
DOMAINS = ["evil.com", "cdn.evil.com", "a.b.evil.com", "x-y.no", "evil.no", "good.example"]
PATHS = ["/", "/a", "/%7eb", "/a?x=1"]
HASHES = [
    "44d88612fea8a8f36de82e1278abb02f",
    "3395856ce81f2b7382dee72602f798b642f14140",
    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
]
JUNK = [
    "-",
    "(empty)",
    "1.2.3.04",
    "999.1.1.1",
    " 10.0.1.7",
    "ä.evil.com",
    "EVIL.COM..",
    "10.0.1",
    "::",
    "evil.com.evil",
    "http://",
    "mailto:a@b",
]


def _cases(text: str) -> st.SearchStrategy[str]:
    return st.sampled_from([text, text.upper(), text.title()])


ip_values = st.sampled_from(IPV4) | st.sampled_from(IPV6).flatmap(
    lambda v: st.sampled_from(
        [v, v.upper(), v.replace("::", ":0:0:", 1) if v.count(":") < 6 else v]
    )
)
domain_values = st.sampled_from(DOMAINS).flatmap(
    lambda d: st.tuples(
        st.sampled_from(["", "www.", "x.", "deep.er."]), _cases(d), st.sampled_from(["", "."])
    ).map("".join)
)
url_values = st.tuples(
    st.sampled_from(["http://", "HTTP://", "https://"]),
    st.sampled_from(DOMAINS),
    st.sampled_from(["", ":80", ":8080"]),
    st.sampled_from(PATHS),
).map("".join)
email_values = st.tuples(
    st.sampled_from(["bob", "Bob", "eve"]), st.just("@"), st.sampled_from(DOMAINS)
).map("".join)
hash_values = st.sampled_from(HASHES).flatmap(_cases)
any_value = (
    ip_values | domain_values | url_values | email_values | hash_values | st.sampled_from(JUNK)
)


@st.composite
def patterns(draw: st.DrawFn) -> str:
    """Draw one evaluable STIX pattern."""
    kind = draw(st.sampled_from(["ip", "cidr", "domain", "sub", "url", "email", "hash", "or"]))
    if kind == "ip":
        path = draw(
            st.sampled_from(
                [
                    "ipv4-addr:value",
                    "network-traffic:src_ref.value",
                    "network-traffic:dst_ref.value",
                ]
            )
        )
        return f"[{path} = '{draw(st.sampled_from(IPV4))}']"
    if kind == "cidr":
        if draw(st.booleans()):
            base, length = draw(st.sampled_from(IPV4)), draw(st.sampled_from([8, 16, 20, 24, 30]))
            return f"[ipv4-addr:value = '{base}/{length}']"
        return f"[ipv6-addr:value ISSUBSET '2001:db8::/{draw(st.sampled_from([32, 64, 126]))}']"
    if kind == "domain":
        return f"[domain-name:value = '{draw(st.sampled_from(DOMAINS))}']"
    if kind == "sub":
        return f"[domain-name:value LIKE '%.{draw(st.sampled_from(DOMAINS))}']"
    if kind == "url":
        return (
            f"[url:value = 'http://{draw(st.sampled_from(DOMAINS))}{draw(st.sampled_from(PATHS))}']"
        )
    if kind == "email":
        return f"[email-addr:value = '{draw(email_values)}']"
    if kind == "hash":
        value = draw(st.sampled_from(HASHES))
        name = {32: "MD5", 40: "'SHA-1'", 64: "'SHA-256'"}[len(value)]
        return f"[file:hashes.{name} = '{value}']"
    return (
        f"[ipv6-addr:value = '{draw(st.sampled_from(IPV6))}'] OR "
        f"[domain-name:value IN ('{draw(st.sampled_from(DOMAINS))}', 'evil.no')]"
    )


HEADER = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
LOGS = {
    "conn": (["ts", "id.orig_h", "id.resp_h"], ["time", "addr", "addr"]),
    "dns": (
        ["ts", "id.orig_h", "id.resp_h", "query", "answers"],
        ["time", "addr", "addr", "string", "vector[string]"],
    ),
    "http": (
        ["ts", "id.orig_h", "id.resp_h", "host", "uri", "referrer"],
        ["time", "addr", "addr", "string", "string", "string"],
    ),
    "files": (
        ["ts", "tx_hosts", "md5", "sha1", "sha256"],
        ["time", "set[addr]", "string", "string", "string"],
    ),
    "weird": (["ts", "peer", "note"], ["time", "addr", "string"]),
}


@st.composite
def zeek_logs(draw: st.DrawFn) -> str:
    """Draw a Zeek TSV log (possibly several concatenated)."""
    parts = []
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(sorted(LOGS)))
        fields, types = LOGS[path]
        lines = [
            HEADER
            + f"#path\t{path}\n#fields\t"
            + "\t".join(fields)
            + "\n#types\t"
            + "\t".join(types)
        ]
        for n in range(draw(st.integers(0, 12))):
            cells = [f"1772359200.{n:06d}"]
            for kind in types[1:]:
                if kind.startswith(("set", "vector")):
                    cells.append(",".join(draw(st.lists(any_value, min_size=1, max_size=3))))
                elif path == "http" and len(cells) == 4:
                    cells.append(draw(st.sampled_from(PATHS + ["http://evil.com/a", "-"])))
                else:
                    cells.append(draw(any_value))
            lines.append("\t".join(cells))
        parts.append("\n".join(lines) + "\n")
    return "".join(parts)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pats=st.lists(patterns(), min_size=1, max_size=12), log=zeek_logs(), subdomains=st.booleans()
)
def test_fast_scan_equals_reference_on_zeek_logs(
    pats: list[str], log: str, subdomains: bool
) -> None:
    indicators = compiled(
        {f"indicator--{i:04d}": p for i, p in enumerate(pats)}, include_subdomains=subdomains
    )
    assert not indicators.report.unsupported
    counts: dict[bool, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generated.log"
        path.write_text(log, encoding="utf-8")
        member = {ident: i for i, ident in enumerate(indicators.ids)}
        expected = reference_scan_zeek(path, indicators.entries or [])
        for prefilter in (True, False):
            stats = ReadStats()
            fast = {
                (m.line, m.field, m.value, member[m.indicator_id])
                for m in scan(path, indicators, "zeek", prefilter=prefilter, stats=stats)
            }
            assert fast == expected, f"prefilter={prefilter}"
            counts[prefilter] = (stats.lines, stats.skipped)
        assert counts[True] == counts[False]


@settings(max_examples=120, deadline=None)
@given(
    pats=st.lists(patterns(), min_size=1, max_size=10),
    values=st.lists(any_value | st.text(max_size=12) | st.none(), max_size=25),
    role=st.sampled_from(list(Role)),
    direction=st.sampled_from([0, 1, 2]),
)
def test_fast_matcher_equals_reference_on_any_values(
    pats: list[str], values: list[str | None], role: Role, direction: int
) -> None:
    entries = (
        compiled(
            {f"indicator--{i:04d}": p for i, p in enumerate(pats)}, include_subdomains=True
        ).entries
        or []
    )
    fast = Matcher(entries).match(pa.array(values, pa.string()), role, direction)
    assert fast == ReferenceMatcher(entries).match(values, role, direction)
