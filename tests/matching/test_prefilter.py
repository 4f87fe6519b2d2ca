"""The C line prefilter: built, never loses a matching line, and really leaves lines out.

Its results are also compared with the reference matcher in ``test_differential.py`` and
``test_bulk_paths.py`` (matches and line counts with and without it); here are its own parts.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.matching.helpers import compiled
from varsel.matching import _candidates
from varsel.matching._readers import ReadStats
from varsel.matching._scan import scan
from varsel.matching._zeek import read_zeek

LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFXYZ0123456789-_", min_size=0, max_size=20)
KEY = st.lists(LABEL, min_size=1, max_size=5).map(".".join)


def test_the_c_prefilter_is_built() -> None:
    # gcc and the Python headers are part of the supported machine; without them the scanner
    # still works but reads every line, which the benchmark figures would not reflect.
    assert _candidates.AVAILABLE


def _bloom(keys: list[str]) -> object:
    array = pa.array([k.lower() for k in keys], pa.string())
    return _candidates._bloom([array])


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(KEY, min_size=1, max_size=50))
def test_bloom_has_no_false_negatives_in_any_case(keys: list[str]) -> None:
    bloom = _bloom(keys)
    for key in keys:
        for variant in (key, key.upper(), key.lower()):
            assert bloom.maybe(variant.encode())  # type: ignore[attr-defined]


def _run(lines: list[str]) -> pa.Buffer:
    return pa.py_buffer(("\n".join(lines) + "\n").encode())


def _scan(prefilter: _candidates.Prefilter, lines: list[str]) -> tuple[int, int, np.ndarray]:
    found = prefilter.scan(
        _run(lines),
        log_path="dns",
        fields=["ts", "query", "answers"],
        separator="\t",
        set_separator=",",
        include=["query", "answers"],
        sets={"query": False, "answers": True},
    )
    assert found is not None
    return found


@settings(max_examples=100, deadline=None)
@given(
    key=KEY.filter(lambda k: k.strip(".") != "" and "." in k.strip(".")),
    prefix=st.lists(LABEL.filter(bool), max_size=3),
    shout=st.booleans(),
    trailing=st.sampled_from(["", ".", ".."]),
)
def test_a_subdomain_of_a_rule_is_always_a_candidate(
    key: str, prefix: list[str], shout: bool, trailing: str
) -> None:
    key = key.strip(".").lower()
    indicators = compiled(
        {"indicator--0001": f"[domain-name:value = '{key}']"}, include_subdomains=True
    )
    if indicators.report.unsupported or indicators.report.compiled == 0:
        return  # not a valid domain name: nothing to find
    prefilter = indicators.matcher.prefilter()
    assert prefilter is not None
    name = ".".join([*prefix, key]) + trailing
    name = name.upper() if shout else name
    lines, quiet, candidates = _scan(prefilter, ["1.0\tquiet.example\t-", f"2.0\tx\t-,{name}"])
    assert (lines, quiet) == (2, 1)
    assert candidates[:, 0].tolist() == [1]


def test_addresses_in_blocks_and_ipv6_are_candidates() -> None:
    indicators = compiled(
        {
            "indicator--0001": "[ipv4-addr:value = '198.51.100.0/24']",
            "indicator--0002": "[ipv6-addr:value = '2001:db8::1']",
        }
    )
    prefilter = indicators.matcher.prefilter()
    assert prefilter is not None
    values = ["198.51.100.0", "198.51.100.255", "198.51.101.0", "198.51.99.255", "2001:DB8::1"]
    _, quiet, candidates = _scan(prefilter, [f"1\t{v}\t-" for v in values])
    assert candidates[:, 0].tolist() == [0, 1, 4] and quiet == 2


def test_irregular_lines_always_go_to_the_careful_reader() -> None:
    indicators = compiled({"indicator--0001": "[domain-name:value = 'evil.example']"})
    prefilter = indicators.matcher.prefilter()
    assert prefilter is not None
    lines = ["1\tgood.example\t-", "", "1\tgood.example", "1\tgood.example\t-\r", "1\tgöod\t-"]
    total, quiet, candidates = _scan(prefilter, lines)
    assert (total, quiet) == (5, 1)
    assert candidates[:, 0].tolist() == [1, 2, 3, 4]
    # (line, start, end): end is the newline's offset
    text = ("\n".join(lines) + "\n").encode()
    for _, _start, end in candidates.tolist():
        assert text[end : end + 1] == b"\n"


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=400), keys=st.lists(KEY, max_size=5))
def test_any_bytes_are_split_into_lines_without_fault(data: bytes, keys: list[str]) -> None:
    pairs = {f"indicator--{i:04d}": f"[domain-name:value = '{k}']" for i, k in enumerate(keys)}
    indicators = compiled({"indicator--0000": "[ipv4-addr:value = '10.0.0.0/8']", **pairs})
    prefilter = indicators.matcher.prefilter()
    assert prefilter is not None
    found = prefilter.scan(
        pa.py_buffer(data),
        log_path="dns",
        fields=["a", "b", "c"],
        separator="\t",
        set_separator=",",
        include=["b", "c"],
        sets={"b": False, "c": True},
    )
    assert found is not None
    lines, quiet, candidates = found
    expected = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    assert lines == expected
    assert quiet + len(candidates) == lines
    assert candidates[:, 0].tolist() == sorted(set(candidates[:, 0].tolist()))


def test_the_prefilter_leaves_most_lines_unparsed(tmp_path: Path) -> None:
    rng = random.Random(3)
    header = (
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
        "#path\tdns\n#fields\tts\tid.orig_h\tquery\tanswers\n"
        "#types\ttime\taddr\tstring\tvector[string]\n"
    )
    rows = [
        f"{n}.0\t10.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}\t"
        f"host{rng.randint(0, 10**6)}.example\t192.0.2.{rng.randint(1, 254)}"
        for n in range(20_000)
    ]
    rows[777] = "777.0\t10.0.0.1\tx.c2.evil.example\t-"
    path = tmp_path / "dns.log"
    path.write_text(header + "\n".join(rows) + "\n")
    indicators = compiled(
        {"indicator--0001": "[domain-name:value = 'c2.evil.example']"}, include_subdomains=True
    )
    stats = ReadStats()
    parsed = sum(
        batch.size
        for batch in read_zeek(path, stats=stats, prefilter=indicators.matcher.prefilter())
    )
    assert stats.lines == 20_000
    assert 1 <= parsed < 200  # the match, and false positives well under 1 %
    [match] = list(scan(path, indicators, "zeek"))
    assert (match.line, match.value) == (7 + 777 + 1, "x.c2.evil.example")


def test_an_all_digit_subdomain_rule_still_sees_dotted_quads() -> None:
    indicators = compiled(
        {"indicator--0001": "[domain-name:value = '100.2']"}, include_subdomains=True
    )
    prefilter = indicators.matcher.prefilter()
    assert prefilter is not None and prefilter.sub_digits
    _, quiet, candidates = _scan(prefilter, ["1\t3.4.100.2\t-", "1\t3.4.100.3\t-"])
    assert candidates[:, 0].tolist() == [0] and quiet == 1
