"""Property: whatever bytes a policy file holds, `drkit policy validate FILE` exits 0 or 2 with
one-line problems; never a traceback, never "internal error" (docs/reliability.md).

The CLI runs in-process (`drkit.cli.main`, the console script's entry point) so that
well over 1,000 generated files stay within a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from factories import drkit_in_process
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

VALID = {
    "version": 1,
    "name": "shop-db",
    "description": "Orders",
    "business": {"function": "Orders", "owner": "Jane", "tier": 1,
                 "contacts": [{"role": "ic", "name": "Ops", "email": "ops@example.com"}]},
    "objectives": {"rpo": "24h", "rto": "PT4H"},
    "targets": [{"path": "/srv/shop", "exclude": ["*.tmp"]},
                {"command": {"run": ["mysqldump", "shop"], "filename": "shop.sql", "timeout": "1h"}}],
    "schedule": {"backup": "every day at 01:30", "drill": "every sunday at 04:00"},
    "retention": {"keep_last": 3, "keep_daily": 7},
    "repository": {"url": "s3:https://s3.eu-north-1.amazonaws.com/acme-dr/shop-db",
                   "password_file": "/etc/drkit/shop.pass", "lock_days": 30},
    "drill": {"sandbox": "/var/tmp/drills", "verify": "sample:5%",
              "checks": [{"file_exists": "srv/shop/logo.png"},
                         {"sqlite": {"path": "a.db", "query": "select 1", "expect_min": 1}}]},
    "notify": [{"webhook": "https://hooks.example.com/x", "on": ["failure"]},
               {"email": {"to": ["ops@example.com"], "smtp_port": 25}}],
}
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
VALID_TEXT = yaml.safe_dump(VALID, sort_keys=False)

# Values that broke the parser or the validators before (each was an "internal error", exit 1).
NASTY_YAML = [
    "9999999999999999999999d", "inf", ".inf", "-.inf", ".nan", "9" * 400, "9" * 5000, "1e30", "1.0", "true",
    "~", "null", "''", "[]", "{}", "&d [*d]", "[" * 300 + "]" * 300, "!!int abc", "!!bool x", "!!timestamp x",
    "2024-13-45", "!!float x", "!!binary '@@'", "!!set {a: 1}", "'\\0'", '"\\ud800"', '"/srv/\\0x"',
    '"\\udfff/x"', "s3:htp://host/b", "/dev/null", "-1", "0", "99999999999999999", "P99999999999D",
    "!!python/object:os.system x", "*undefined", "&a 1", "<<: {a: 1}", "? [a]\n  : 1", "'a\nb'", "{~: 1}",
    "{1: 2}", "[*x]", "&x [&y [*y]]", "\t", "|\n  text", ">-\n  folded", "!!str [a]", "%TAG ! x", "---\n---",
]


def assert_clean_verdict(tmp: Path, raw: bytes) -> None:
    file = tmp / "p.yaml"
    file.write_bytes(raw)
    result = drkit_in_process("--state-dir", str(tmp / "state"), "policy", "validate", str(file))
    code, output = result.code, result.stdout + result.stderr
    assert code in (0, 2), output
    assert "Traceback" not in output and "internal error" not in output, output
    if code == 2:
        problems = [line for line in output.splitlines() if line and not line.startswith(("warning:", "  "))]
        assert problems and all(line.startswith(f"{file}:") for line in problems), output
        assert all(line.split(":")[1].isdigit() for line in problems), output


def _set_at(data: object, path: list, value: object) -> object:
    """A copy of `data` with the value at `path` (keys / indexes, made up where missing) replaced."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, dict):
        key = head if isinstance(head, str) else (list(data)[head % len(data)] if data else "x")
        return {**data, key: _set_at(data.get(key), rest, value)}
    if isinstance(data, list) and data:
        i = head % len(data) if isinstance(head, int) else 0
        return [*data[:i], _set_at(data[i], rest, value), *data[i + 1:]]
    return value


plain_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30), st.integers(),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=()), max_size=10),
    st.sampled_from(["24h", "0s", "-1h", "PT4H", "P1D", "every day at 01:30", "every dya", "full", "sample:0%",
                     "sample:150%", "/abs", "rel/path", "s3:http://h/b", "s3:h/b", "s3:https:///x", "s3:",
                     "local:rel", "shop-db", "Shop_DB", "failure", "webhook", 10**400 // 10**380]),
)
values = st.recursive(plain_values, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(
        ["path", "sqlite", "command", "run", "dsn", "on", "webhook", "email", "to", "url"])), inner, max_size=3)),
    max_leaves=8)
paths = st.lists(st.one_of(st.sampled_from(sorted(VALID)), st.sampled_from(
    ["rpo", "rto", "keep_last", "url", "tier", "lock_days", "checks", "targets", "path", "run", "timeout"]),
    st.integers(min_value=0, max_value=4)), min_size=1, max_size=4)


@st.composite
def mutated_policies(draw) -> bytes:
    """A valid policy with one to three values replaced, dumped as YAML (every kind of value)."""
    data: object = VALID
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        data = _set_at(data, draw(paths), draw(values))
    return yaml.dump(data, Dumper=DUMPER, sort_keys=False, allow_unicode=draw(st.booleans())).encode("utf-8", "surrogatepass")


@st.composite
def spliced_policies(draw) -> bytes:
    """The valid policy's text with one value replaced by raw YAML source that broke drkit before."""
    lines = VALID_TEXT.splitlines()
    candidates = [i for i, line in enumerate(lines) if ": " in line]
    i = draw(st.sampled_from(candidates))
    key = lines[i].split(": ", 1)[0]
    lines[i] = f"{key}: {draw(st.sampled_from(NASTY_YAML))}"
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


@st.composite
def byte_mutations(draw) -> bytes:
    """The valid policy's bytes with a few bytes replaced, inserted or deleted."""
    raw = bytearray(VALID_TEXT.encode())
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=len(raw) - 1))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        if action == "delete":
            del raw[at]
        else:
            byte = draw(st.sampled_from([0, 0xFF, 0xFE, 0x80, ord("&"), ord("*"), ord("!"), ord("["), ord("{"),
                                         ord(":"), ord("-"), ord("\t"), ord("'"), ord('"'), ord("\\"), ord("9")]))
            raw[at:at + (action == "replace")] = bytes([byte])
    return bytes(raw)


garbage = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"\xff\xfe" + VALID_TEXT.encode("utf-16-le"), VALID_TEXT.encode("utf-16"),
                     VALID_TEXT.encode("utf-32"), b"\xef\xbb\xbf" + VALID_TEXT.encode(),
                     VALID_TEXT.encode("latin-1").replace(b"Orders", b"Best\xe4llningar"), b"", b"\x00" * 64]),
    byte_mutations(),
)


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(mutated_policies(), spliced_policies()))
def test_mutated_policies_exit_0_or_2_with_file_line(tmp_path_factory, raw):
    assert_clean_verdict(tmp_path_factory.mktemp("fuzz"), raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=garbage)
def test_byte_garbage_exits_0_or_2_with_file_line(tmp_path_factory, raw):
    assert_clean_verdict(tmp_path_factory.mktemp("fuzz"), raw)


PLACES = ["version", "  rpo", "- path", "  keep_last", "  url", "  tier", "  lock_days", "      path", "    timeout"]


@pytest.mark.parametrize("nasty", NASTY_YAML)
def test_each_value_that_broke_drkit_before(tmp_path, nasty):
    """Every value of the original fuzz report, in each kind of field it can reach."""
    lines = VALID_TEXT.splitlines()
    for place in PLACES:
        i = next(i for i, line in enumerate(lines) if line.startswith(place + ":"))
        text = "\n".join([*lines[:i], f"{place}: {nasty}", *lines[i + 1:]]) + "\n"
        assert_clean_verdict(tmp_path, text.encode("utf-8", "surrogatepass"))
