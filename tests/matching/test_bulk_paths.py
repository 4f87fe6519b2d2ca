"""The fast paths agree with the careful ones: the block Zeek reader, bulk compiling, RE2 lists.

* Zeek: the memory-mapped reader, the gzip (streamed) reader and the reference scan give the
  same matches on generated logs, whatever the block size (so block edges fall everywhere),
  with damaged lines, empty lines, ``#close`` trailers, empty and header-only files, with and
  without the C line prefilter.
* Compile: the column path (pyarrow JSON, RE2 patterns) and the per-indicator Python path give
  the same ids, names, atoms and report on generated indicator rows.
* Warning lists: the bulk RE2 search flags exactly what Python's ``re`` flags.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import defaultdict
from pathlib import Path

import pytest

from tests.matching.helpers import compiled, indicator_raw
from varsel.matching import _compile
from varsel.matching._compile import IndicatorRow, _compile_python, compile_rows
from varsel.matching._readers import LogFormatError, ReadStats
from varsel.matching._reference import reference_scan_zeek
from varsel.matching._scan import match_batch
from varsel.matching._zeek import read_zeek

INDICATORS = {
    "indicator--0001": "[domain-name:value LIKE '%.evil.example']",
    "indicator--0002": "[ipv4-addr:value = '198.51.100.0/24']",
    "indicator--0003": "[network-traffic:src_ref.value = '10.0.0.7']",
    "indicator--0004": "[domain-name:value = 'c2.example.net']",
    "indicator--0005": "[file:hashes.MD5 = '44d88612fea8a8f36de82e1278abb02f']",
}
HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n"
    "#open\t2026-03-01-00-00-00\n#fields\tts\tid.orig_h\tid.resp_h\tquery\tanswers\n"
    "#types\ttime\taddr\taddr\tstring\tvector[string]\n"
)
NAMES = ["a.evil.example", "c2.example.net", "C2.EXAMPLE.NET.", "good.example", "evil.example"]
ADDRESSES = ["10.0.0.7", "10.0.0.8", "198.51.100.9", "198.51.99.1", "2001:db8::1"]


def _log(rng: random.Random, lines: int, *, damaged: bool) -> str:
    out = [HEADER]
    for n in range(lines):
        if damaged and n % 37 == 5:
            out.append(rng.choice(["broken line\n", "\n", "a\tb\n"]))
            continue
        if n == lines // 2:
            out.append("#close\t2026-03-01-01-00-00\n" + HEADER)  # a second log appended
        answers = ",".join(rng.sample(NAMES + ADDRESSES, 2))
        out.append(
            f"1772359200.{n:06d}\t{rng.choice(ADDRESSES)}\t{rng.choice(ADDRESSES)}\t"
            f"{rng.choice(NAMES)}\t{answers}\n"
        )
    out.append("#close\t2026-03-01-02-00-00\n")
    return "".join(out)


def _matches(
    path: Path, block_size: int, stats: ReadStats, prefilter: bool = False
) -> set[tuple[int, str, str, int]]:
    indicators = compiled(INDICATORS)
    found = set()
    candidates = indicators.matcher.prefilter() if prefilter else None
    assert candidates is not None or not prefilter
    for batch in read_zeek(path, block_size=block_size, stats=stats, prefilter=candidates):
        for row, field, value, member in match_batch(batch, indicators.matcher):
            found.add((batch.line(row), field, value, member))
            record = batch.record(row)
            assert record["_path"] == "dns" and batch.time(row) is not None
    return found


@pytest.mark.parametrize("prefilter", [False, True], ids=["every-line", "prefilter"])
@pytest.mark.parametrize("damaged", [False, True])
def test_block_reader_equals_reference_plain_and_gzip(
    tmp_path: Path, damaged: bool, prefilter: bool
) -> None:
    text = _log(random.Random(6), 300, damaged=damaged)
    plain = tmp_path / "dns.log"
    plain.write_text(text)
    packed = tmp_path / "dns.log.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    expected = reference_scan_zeek(plain, compiled(INDICATORS).entries or [])
    assert expected  # the generated log does hold matches
    damaged_lines = text.count("broken line\n") + text.count("\na\tb\n")
    for path in (plain, packed):
        for block_size in (64, 1000, 1 << 20):
            stats = ReadStats()
            found = _matches(path, block_size, stats, prefilter)
            assert found == expected, (path.name, block_size)
            assert stats.lines == 300 - (8 if damaged else 0)
            assert stats.skipped == damaged_lines  # empty lines are not worth reporting


def test_block_reader_keeps_records_and_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "dns.log"
    path.write_text(HEADER + "1772359200.5\t10.0.0.9\t10.0.0.1\tx.evil.example\t-\n#close\tsoon\n")
    [batch] = list(read_zeek(path))
    hits = match_batch(batch, compiled(INDICATORS).matcher)
    assert {(batch.line(r), v) for r, _, v, _ in hits} == {(9, "x.evil.example")}
    assert batch.record(0)["query"] == "x.evil.example"
    assert batch.time(0) == "2026-03-01T10:00:00.500000Z"


def test_empty_header_only_and_headerless_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    assert list(read_zeek(empty)) == []
    header_only = tmp_path / "header.log"
    header_only.write_text(HEADER + "#close\t2026-03-01-02-00-00\n")
    assert list(read_zeek(header_only)) == []
    packed = tmp_path / "header.log.gz"
    packed.write_bytes(gzip.compress(header_only.read_bytes()))
    assert list(read_zeek(packed)) == []
    headless = tmp_path / "headless.log"
    headless.write_text("1\t2\t3\n")
    with pytest.raises(LogFormatError, match="#fields"):
        list(read_zeek(headless))


def test_invalid_utf8_is_read_with_replacement(tmp_path: Path) -> None:
    path = tmp_path / "dns.log"
    path.write_bytes(HEADER.encode() + b"1.0\t10.0.0.7\t10.0.0.1\tbad\xff.example\t-\n#close\tx\n")
    [batch] = list(read_zeek(path))
    hits = match_batch(batch, compiled(INDICATORS).matcher)
    assert {(batch.line(r), v) for r, _, v, _ in hits} == {(9, "10.0.0.7")}
    assert batch.record(0)["query"] == "bad\ufffd.example"


def _generated_rows(rng: random.Random, count: int) -> list[IndicatorRow]:
    values = [
        "[ipv4-addr:value = '198.51.100.7']",
        "[ipv4-addr:value = '198.51.100.7/24']",
        "[ipv4-addr:value = '198.51.100.7/32']",
        "[ipv4-addr:value = '198.51.100.07']",
        "[ipv4-addr:value = '300.1.1.1']",
        "[ipv6-addr:value = '2001:DB8::1']",
        "[network-traffic:dst_ref.value = '10.0.0.0/8']",
        "[domain-name:value = 'Evil.Example.']",
        "[domain-name:value = 'bad domain']",
        "[domain-name:value = 'xn--bcher-kva.example']",
        "[domain-name:value = 'bücher.example']",
        "[domain-name:value LIKE '%.Evil.Example']",
        "[domain-name:value LIKE '%.x_y.example']",
        "[domain-name:value LIKE 'plain.example']",
        "[file:hashes.MD5 = '44D88612FEA8A8F36DE82E1278ABB02F']",
        "[file:hashes.'SHA-256' = '44d88612fea8a8f36de82e1278abb02f']",
        "[file:hashes.sha1 = '3395856ce81f2b7382dee72602f798b642f14140']",
        "[url:value = 'HTTP://Example.com:80/a']",
        "[email-addr:value = 'Bob@Example.com']",
        "[domain-name:value = 'a.example'] OR [ipv4-addr:value = '192.0.2.1']",
        "[x-custom:value = 'a']",
        "[domain-name:value = 'it\\'s.example']",
    ]
    rows = []
    for i in range(count):
        ident = f"indicator--{i:06d}"
        extra: dict[str, object] = {}
        roll = rng.random()
        if roll < 0.05:
            extra["revoked"] = True
        elif roll < 0.1:
            extra["valid_until"] = "2021-01-01T00:00:00.5Z"
        elif roll < 0.15:
            extra["valid_from"] = "2030-01-01T00:00:00Z"
        elif roll < 0.2:
            extra["valid_until"] = "2031-06-01T00:00:00.123Z"
        elif roll < 0.22:
            extra["pattern_type"] = "sigma"
        elif roll < 0.24:
            extra["name"] = None
        raw = indicator_raw(ident, rng.choice(values), **extra)
        if roll > 0.98:
            raw = json.dumps(json.loads(raw), indent=1)  # newlines between tokens
        rows.append(IndicatorRow(ident, raw, revoked=rng.random() < 0.02))
    return rows


@pytest.mark.parametrize("subdomains", [False, True])
def test_bulk_compile_equals_python_compile(
    subdomains: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _generated_rows(random.Random(11), 1500)
    bulk = compile_rows(rows, warn=False, keep_entries=True, include_subdomains=subdomains)
    monkeypatch.setattr(_compile, "_compile_bulk", lambda *args: None)
    python = compile_rows(rows, warn=False, keep_entries=True, include_subdomains=subdomains)
    assert bulk.ids == python.ids and bulk.names == python.names
    assert sorted(bulk.entries or [], key=repr) == sorted(python.entries or [], key=repr)
    assert bulk.report.as_dict() == python.report.as_dict()
    assert bulk.report.next_change == python.report.next_change == "2030-01-01T00:00:00.000000000"
    assert bulk.report.unsupported and bulk.report.revoked and bulk.report.expired


def test_unreadable_json_falls_back_to_the_careful_path() -> None:
    rows = [
        IndicatorRow(
            "indicator--1", indicator_raw("indicator--1", "[ipv4-addr:value = '1.2.3.4']")
        ),
        IndicatorRow("indicator--2", "{not json"),
        IndicatorRow("indicator--3", json.dumps({"pattern": 5, "pattern_type": "stix"})),
    ]
    done = compile_rows(rows, warn=False)
    assert done.ids == ["indicator--1"]
    assert done.report.as_dict()["unsupported"] == [
        {"id": "indicator--2", "reason": "stored JSON does not parse"},
        {"id": "indicator--3", "reason": "the indicator has no pattern"},
    ]
    outcome, *_ = _compile_python(rows, "2026", done.report, False)
    assert outcome == ["", "unsupported", "unsupported"]


def test_bulk_warning_list_search_equals_python_re() -> None:
    import ipaddress

    from varsel.observables.normalize import Kind
    from varsel.sharing.ingest import _lookups, warninglists

    values = [
        "8.8.8.8",
        "1.1.1.1",
        "192.0.2.10",
        "10.0.0.0/8",
        "8.8.8.0/24",
        "2001:4860:4860::8888",
        "2001:db8::/32",
    ]
    domains = ["google.com", "www.google.com", "evil.example", "localhost", "xn--bcher-kva.example"]
    lists = warninglists._lists()
    for kind, batch in ((Kind.IP, values[:3] + values[5:6]), (Kind.CIDR, values[3:5] + values[6:])):
        index = lists.index(Kind.IP)
        found: list[set[int]] = [set() for _ in batch]
        _lookups.check_networks(index.networks, batch, found)
        one_by_one = [
            {
                i
                for i, intervals in index.networks
                if intervals.covers(ipaddress.ip_network(v, strict=False))
            }
            for v in batch
        ]
        assert found == one_by_one, kind
    index = lists.index(Kind.DOMAIN)
    assert index.substrings
    domains += ["x.0815.ru", "mail.10minutemail.com.example"]
    flagged: set[int] = set()
    for literals in index.substrings:
        entries = list(literals.automaton.keys())
        expected = {at for at, d in enumerate(domains) if any(e in d for e in entries)}
        small: dict[int, set[int]] = defaultdict(set)
        bulk: dict[int, set[int]] = defaultdict(set)
        literals.check_small(domains, small)
        chunks = [(literals.list_id, re.compile(c)) for c in literals.chunks]
        _lookups.check_patterns(chunks, domains, bulk)
        assert set(small) == set(bulk) == expected
        flagged |= expected
    assert domains.index("x.0815.ru") in flagged  # on the disposable e-mail domains list
    assert warninglists.check_values(Kind.IP, ["8.8.8.8"])[0]  # a public resolver is flagged
