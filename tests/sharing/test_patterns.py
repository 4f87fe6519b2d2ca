"""The fast STIX pattern validator agrees with the stix2patterns reference on every input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from varsel.sharing import patterns
from varsel.sharing.patterns import reference_validate, validate_pattern

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# Common forms the fast path must recognise on its own (otherwise it buys no speed).
FAST_VALID = [
    "[ipv4-addr:value = '198.51.100.1']",
    "[ipv6-addr:value = '2001:db8::1']",
    "[domain-name:value = 'evil.example']",
    "[url:value = 'http://x/y']",
    "[email-addr:value = 'a@b.c']",
    f"[file:hashes.'SHA-256' = '{SHA256}']",
    f"[file:hashes.MD5 = '{MD5}']",
    f"[file:hashes.'SHA-1' = '{SHA1}' OR file:hashes.MD5 = '{MD5}']",
    "[ipv4-addr:value ISSUBSET '10.0.0.0/8']",
    "[ipv4-addr:value ISSUPERSET '10.0.0.1']",
    "[ipv4-addr:value != '10.0.0.1']",
    "[domain-name:value IN ('a.example', 'b.example')]",
    "[url:value LIKE 'http://%.example/%']",
    "[file:name MATCHES '^evil\\\\.exe$']",
    "[network-traffic:dst_port = 443]",
    "[network-traffic:dst_port >= 1024 AND network-traffic:dst_port < 2048]",
    "  [ domain-name:value='x.example' ]\n",
    "[email-message:from_ref.value = 'a@b.c']",
    "[x509-certificate:subject = 'CN=O\\'Brien']",
    "[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\Software']",
    "[file:name = 'ünïcødé ✓']",
    "[x-custom-type:x_prop.'quoted-key' = 'v']",
]

# Valid patterns the fast path leaves to the reference.
SLOW_VALID = [
    "[a:b = 'x']//comment",
    "[ipv4-addr:value = '1.2.3.4'] AND [domain-name:value = 'x']",
    "[ipv4-addr:value = '1.2.3.4'] WITHIN 5 SECONDS",
    "([ipv4-addr:value = '1.2.3.4'])",
    "[file:size > 1.5]",
    "[ipv4-addr:value NOT = '1.2.3.4']",
    "[file:created = t'2020-01-01T00:00:00Z']",
    "[network-traffic:protocols[*] = 'tcp']",
    "[ipv4-addr:value == '1.2.3.4']",
    "[a:b = 'x'\u00a0]",
]

INVALID = [
    "",
    "   ",
    "ipv4-addr:value = '198.51.100.1'",
    "[ipv4-addr:value = '198.51.100.1'",
    "[ipv4-addr:value = 198.51.100.1]",
    '[ipv4-addr:value = "198.51.100.1"]',
    "[ipv4-addr:value = '198.51.100.1' and ipv4-addr:value = '1.1.1.1']",
    "[ipv4-addr:value === '1.1.1.1']",
    "[ipv4-addr:value ~ '1.1.1.1']",
    "[ipv4-addr:value in ('1.1.1.1')]",
    "[9ipv4:value = '1.1.1.1']",
    "[true:value = '1.1.1.1']",
    "[ipv4-addr:IN = '1.1.1.1']",
    "[ipv4-addr:val-ue = '1.1.1.1']",
    "[ipv4-addr:value = 'it's']",
    "[ipv4-addr:value = 'bad \\n escape']",
    "[ipv4-addr:value = 05]",
    "[file:hashes.MD5 = 'abc']",
    f"[file:hashes.'SHA-256' = '{MD5}']",
    f"[file:hashes.MD5 IN ('{MD5}')]",
    "[file:hashes[0] = 'abc']",
    "[a:b = 'x'\x1c]",
    "[ipv4-addr:value = '1.1.1.1'] FOLLOWEDBY",
]


@pytest.mark.parametrize("pattern", FAST_VALID)
def test_fast_path_recognises_common_form(pattern: str) -> None:
    assert patterns._fast_accepts(pattern)
    assert reference_validate(pattern) is None
    assert validate_pattern(pattern) is None


@pytest.mark.parametrize("pattern", SLOW_VALID)
def test_uncommon_valid_forms_fall_back_to_reference(pattern: str) -> None:
    assert not patterns._fast_accepts(pattern)
    assert validate_pattern(pattern) is None


@pytest.mark.parametrize("pattern", INVALID)
def test_invalid_patterns_report_reference_message(pattern: str) -> None:
    assert not patterns._fast_accepts(pattern)
    message = validate_pattern(pattern)
    assert message is not None
    assert "\n" not in message
    assert message == reference_validate(pattern)


def test_hash_error_message_comes_from_reference() -> None:
    assert validate_pattern("[file:hashes.MD5 = 'abc']") == "FAIL: 'abc' is not a valid MD5 hash"


def test_missing_bracket_message_comes_from_reference() -> None:
    message = validate_pattern("ipv4-addr:value = '1.1.1.1'")
    assert message is not None
    assert "missing square brackets" in message


def test_reference_crash_becomes_message() -> None:
    message = reference_validate("[file:hashes[0] = 'abc']")
    assert message is not None
    assert message.startswith("pattern could not be parsed")


def test_results_are_cached() -> None:
    pattern = "[domain-name:value = 'cached.example']"
    validate_pattern(pattern)
    hits = patterns._validate_cached.cache_info().hits
    assert validate_pattern(pattern) is None
    assert patterns._validate_cached.cache_info().hits == hits + 1
    assert patterns._validate_cached.cache_info().maxsize is not None


def test_long_patterns_are_validated_but_not_cached() -> None:
    value = "x" * 5_000
    pattern = f"[domain-name:value = '{value}']"
    before = patterns._validate_cached.cache_info().currsize
    assert validate_pattern(pattern) is None
    assert validate_pattern(pattern[:-1]) is not None
    assert patterns._validate_cached.cache_info().currsize == before


# --- differential testing -------------------------------------------------------------------


# Each vocabulary pairs well-formed pieces with subtly broken ones.
_WS = (["", " ", "  ", "\t", "\n", "\r\n"], ["\u00a0", "\x1c", "\u2028", "\x0b"])
_TYPES = (
    ["ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "file", "network-traffic"]
    + ["x-custom", "x--y", "x-", "_x", "IPV4", "AND-x", "truex", "h", "t", "b"],
    ["9ab", "true", "false", "AND", "IN", "a.b", "ipv4 addr", "", "-x", "x:y", "é"],
)
_IDENTS = (
    ["value", "name", "hashes", "dst_port", "src_ref", "Value", "_x", "x9", "INx", "MD5", "h"],
    ["IN", "OR", "true", "false", "x-y", "9x", "", "LIKE", "é", "x y"],
)
_HASH_KEYS = (
    ["MD5", "'MD5'", "md5", "'SHA-256'", "'SHA-1'", "SHA1", "'sha-512'", "'SHA3-256'", "SSDEEP"]
    + ["'SSDEEP'", "MD6", "WHIRLPOOL", "'SHA_256'", "'hash\\'s'", "'SHA\\\\256'", "hashes"],
    ["'SHA-256", '"SHA-256"', "SHA-256", "'SHA-256'x"],
)
_STRING_CHARS = (
    list("abcAZ09 .:/@%_-*?()[]") + ["\\'", "\\\\", "\n", "é", "✓", "\U0001f600", "\x00"],
    ["'", "\\", "\\n", "\\x"],
)
_HEXES = ["", MD5, SHA1, SHA256, MD5.upper(), MD5[:-1], MD5 + "0", MD5[:-1] + "g"]
_INTS = (["0", "5", "443", "-1", "-0"], ["05", "+3", "1.5", "true", "1e5", "5x", "x", "- 1"])
_OTHER_LITERALS: tuple[list[str], list[str]] = (
    ["t'2020-01-01T00:00:00Z'", "h'ff'", "b'AAAA'", "''"],
    [],
)
_OPERATORS = (
    ["=", "!=", "<", "<=", ">", ">=", "IN", "LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"],
    ["==", "<>", "NOT =", "=>", "~", "", "in", "like", "EXISTS", "= =", "!"],
)
_JOINERS = (
    [" AND ", " OR ", "\nAND\t", "  OR  "],
    [" and ", "AND", " OR", "AND ", " FOLLOWEDBY ", "] AND [", " , "],
)
_MUTATION_CHARS = list("[]()'\\:.=! -_aZ9,\"\n") + ["é"]


class _Builder:
    """Build one pattern, choosing a broken piece with a per-example probability."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        # Most examples are clean or nearly so; a few are thoroughly broken.
        self.bad_percent = draw(st.sampled_from([0, 0, 0, 2, 5, 10, 30]))

    def pick(self, vocabulary: tuple[list[str], list[str]]) -> str:
        good, bad = vocabulary
        broken = bool(bad) and self.draw(st.integers(0, 99)) < self.bad_percent
        return self.draw(st.sampled_from(bad if broken else good))

    def string_literal(self) -> str:
        if self.draw(st.booleans()):
            body = self.draw(st.sampled_from(_HEXES))
            if body:
                body += self.pick(([""], ["\n", " "]))
        else:
            length = self.draw(st.integers(0, 6))
            body = "".join(self.pick(_STRING_CHARS) for _ in range(length))
        quote = self.pick((["'"], ['"', ""]))
        return f"{quote}{body}{quote}"

    def value(self) -> str:
        kind = self.draw(st.sampled_from(["string", "string", "int", "other"]))
        if kind == "string":
            return self.string_literal()
        return self.pick(_INTS if kind == "int" else _OTHER_LITERALS)

    def path(self) -> str:
        path = self.pick(_TYPES) + self.pick(([":"], ["", " :", "::", "."])) + self.pick(_IDENTS)
        for _ in range(self.draw(st.integers(0, 2))):
            kind = self.draw(st.sampled_from(["ident", "hash", "hash", "quoted", "index"]))
            if kind == "ident":
                path += "." + self.pick(_IDENTS)
            elif kind == "hash":
                path += self.pick((["."], ["", " .", ". "])) + self.pick(_HASH_KEYS)
            elif kind == "index":
                path += self.draw(st.sampled_from(["[0]", "[*]", "[-1]", "[x]"]))
            else:
                path += "." + self.string_literal()
        return path

    def comparison(self) -> str:
        path = self.path()
        op = self.pick(_OPERATORS)
        if op in {"IN", "in"}:
            values = [self.value() for _ in range(self.draw(st.integers(0, 3)))]
            sep = self.pick(([",", ", ", " ,"], [" ", ",,"]))
            rhs = self.pick((["(", "( "], [""])) + sep.join(values) + self.pick(([")"], ["", "]"]))
        else:
            rhs = self.value()
        gap = self.pick(([" "], [""])) if op.isalpha() else ""
        return f"{path}{gap}{self.pick(_WS)}{op}{gap}{self.pick(_WS)}{rhs}"

    def pattern(self) -> str:
        body = self.comparison()
        for _ in range(self.draw(st.integers(0, 2))):
            body += self.pick(_JOINERS) + self.comparison()
        return "".join(
            [
                self.pick(_WS),
                self.pick((["["], ["", "(", "([", "[["])),
                self.pick(_WS),
                body,
                self.pick(_WS),
                self.pick((["]"], ["", "])", "]]", ")"])),
                self.pick(_WS),
                self.pick(([""], ["//c", "/* c */", " WITHIN 5 SECONDS", " x", "]"])),
            ]
        )


@st.composite
def _patterns(draw: st.DrawFn) -> str:
    text = _Builder(draw).pattern()
    # A point mutation turns a well-formed pattern into a subtly broken one.
    if draw(st.integers(0, 4)) == 0:
        index = draw(st.integers(0, len(text) - 1))
        char = draw(st.sampled_from(_MUTATION_CHARS))
        action = draw(st.sampled_from(["delete", "insert", "replace"]))
        if action == "delete":
            text = text[:index] + text[index + 1 :]
        elif action == "insert":
            text = text[:index] + char + text[index:]
        else:
            text = text[:index] + char + text[index + 1 :]
    return text


@settings(
    max_examples=600,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(_patterns())
@example("[ipv4-addr:value = '198.51.100.1']")
@example("[ipv4-addr:value = 'it\\'s']")
@example(f"[file:hashes.MD5 = '{MD5}\n']")
def test_fast_path_agrees_with_reference(pattern: str) -> None:
    reference_ok = reference_validate(pattern) is None
    if patterns._fast_accepts(pattern):
        assert reference_ok, pattern
    assert (validate_pattern(pattern) is None) == reference_ok


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.text(max_size=40))
def test_arbitrary_text_agrees_with_reference(text: str) -> None:
    pattern = f"[file:name = '{text}']" if len(text) % 2 else text
    assert (validate_pattern(pattern) is None) == (reference_validate(pattern) is None)
