"""Log formats: Zeek (dns, conn, http, ssl, files), EVE, CSV, JSON lines, text, gzip."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from tests.matching.helpers import FIXTURES, compiled
from varsel.matching._readers import LogFormatError, ReadStats, detect_format
from varsel.matching._scan import scan

INDICATORS = {
    "indicator--0001": "[domain-name:value LIKE '%.evil-cdn.net']",
    "indicator--0002": "[ipv4-addr:value = '198.51.100.0/24']",
    "indicator--0003": "[network-traffic:src_ref.value = '192.0.2.44']",
    "indicator--0004": "[url:value = 'HTTP://download.example.com:80/payload/~stage2.bin?id=1']",
    "indicator--0005": "[domain-name:value = 'c2.badactor.example']",
    "indicator--0006": "[file:hashes.MD5 = '44d88612fea8a8f36de82e1278abb02f']",
    "indicator--0007": "[file:hashes.'SHA-256' = "
    "'275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f']",
    "indicator--0008": "[ipv6-addr:value = '2001:db8::bad']",
    "indicator--0009": "[email-addr:value = 'phisher@evil-mail.example']",
    "indicator--0010": "[url:value = 'http://phish.example.net/login']",
    "indicator--0011": "[network-traffic:dst_ref.value = '192.0.2.44']",
}


def found(path: Path, fmt: str | None = None, **kwargs: object) -> set[tuple[str, str, str, int]]:
    """Return (indicator, field, value, line) of every match in ``path``."""
    return {
        (m.indicator_id, m.field, m.value, m.line)
        for m in scan(path, compiled(INDICATORS), fmt, **kwargs)
    }  # type: ignore[arg-type]


def test_zeek_dns_matches_subdomains_sets_and_cidrs() -> None:
    matches = list(scan(FIXTURES / "dns.log", compiled(INDICATORS)))
    assert {(m.indicator_id, m.field, m.value, m.line) for m in matches} == {
        ("indicator--0001", "query", "update.evil-cdn.net", 10),
        ("indicator--0001", "answers", "cdn.evil-cdn.net", 10),
        ("indicator--0002", "answers", "198.51.100.77", 10),
    }
    record = matches[0].record
    assert record["uid"] == "Ck2h1Y3aAZ7xG0hZ3" and record["_path"] == "dns"
    assert matches[0].time == "2026-03-01T10:00:01.500000Z"


def test_zeek_conn_honours_direction_and_ipv6() -> None:
    assert found(FIXTURES / "conn.log") == {
        ("indicator--0003", "id.orig_h", "192.0.2.44", 10),
        ("indicator--0008", "id.resp_h", "2001:db8::bad", 11),
    }


def test_zeek_http_composes_urls() -> None:
    assert found(FIXTURES / "http.log") == {
        ("indicator--0002", "id.resp_h", "198.51.100.20", 8),
        ("indicator--0002", "id.resp_h", "198.51.100.21", 9),
        ("indicator--0004", "url", "http://download.example.com/payload/~stage2.bin?id=1", 8),
        ("indicator--0010", "referrer", "http://phish.example.net/login", 9),
    }


def test_zeek_ssl_and_files() -> None:
    assert found(FIXTURES / "ssl.log") == {
        ("indicator--0005", "server_name", "c2.badactor.example", 8)
    }
    assert found(FIXTURES / "files.log") == {
        ("indicator--0002", "tx_hosts", "198.51.100.20", 8),
        ("indicator--0002", "tx_hosts", "198.51.100.23", 8),
        ("indicator--0006", "md5", "44d88612fea8a8f36de82e1278abb02f", 8),
        (
            "indicator--0007",
            "sha256",
            "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
            8,
        ),
    }


def test_eve_json_counts_bad_lines() -> None:
    stats = ReadStats()
    assert found(FIXTURES / "eve.json", stats=stats) == {
        ("indicator--0001", "dns.rrname", "update.evil-cdn.net", 1),
        ("indicator--0002", "dest_ip", "198.51.100.20", 2),
        ("indicator--0004", "http.url", "http://download.example.com/payload/~stage2.bin?id=1", 2),
        ("indicator--0005", "tls.sni", "c2.badactor.example", 3),
        ("indicator--0002", "src_ip", "198.51.100.20", 4),
        ("indicator--0006", "fileinfo.md5", "44d88612fea8a8f36de82e1278abb02f", 4),
        ("indicator--0008", "src_ip", "2001:db8::bad", 5),
    }
    assert stats.skipped == 1 and stats.examples == ["not json at all"]


def test_csv_by_guessed_names_and_by_mapping() -> None:
    from varsel.matching._fields import parse_mapping

    assert found(FIXTURES / "proxy.csv") == {
        ("indicator--0004", "url", "http://download.example.com/payload/~stage2.bin?id=1", 2)
    }
    mapped = found(
        FIXTURES / "proxy.csv", "csv", mapping=parse_mapping(["destination=domain", "url=url"])
    )
    assert (
        "indicator--0004",
        "url",
        "http://download.example.com/payload/~stage2.bin?id=1",
        2,
    ) in mapped
    with pytest.raises(ValueError, match="COLUMN=ROLE"):
        parse_mapping(["destination=hostname"])
    with pytest.raises(LogFormatError, match="no column 'nope'"):
        found(FIXTURES / "proxy.csv", "csv", mapping=parse_mapping(["nope=ip"]))


def test_jsonl_and_text_extraction() -> None:
    assert found(FIXTURES / "app.jsonl") == {
        ("indicator--0009", "mail.from", "phisher@evil-mail.example", 1)
    }
    assert found(FIXTURES / "syslog.txt") == {
        ("indicator--0010", "text", "http://phish.example.net/login", 2),
        (
            "indicator--0007",
            "text",
            "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
            3,
        ),
    }


def test_gzip_and_format_detection(tmp_path: Path) -> None:
    packed = tmp_path / "dns.log.gz"
    with open(FIXTURES / "dns.log", "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert found(packed) == found(FIXTURES / "dns.log")
    assert [
        detect_format(FIXTURES / n)
        for n in ("dns.log", "eve.json", "proxy.csv", "app.jsonl", "syslog.txt")
    ] == ["zeek", "eve", "csv", "jsonl", "text"]
    assert detect_format(packed) == "zeek"


def test_concatenated_zeek_logs_and_damaged_lines(tmp_path: Path) -> None:
    both = tmp_path / "both.log"
    dns = (FIXTURES / "dns.log").read_text()
    conn = (FIXTURES / "conn.log").read_text()
    both.write_text(dns + "this line is damaged\n" + conn)
    stats = ReadStats()
    got = found(both, stats=stats)
    before_conn = dns.count("\n") + 1  # the dns log and the damaged line
    assert ("indicator--0003", "id.orig_h", "192.0.2.44", before_conn + 10) in got
    assert ("indicator--0001", "query", "update.evil-cdn.net", 10) in got
    assert stats.skipped == 1


def test_unknown_format_is_refused() -> None:
    with pytest.raises(LogFormatError, match="unknown log format"):
        list(scan(FIXTURES / "dns.log", compiled(INDICATORS), "pcap"))
