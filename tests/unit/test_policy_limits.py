"""Malformed policy files: each case was an "internal error" (exit 1) or silently accepted before;
now each is one `FILE:LINE: …` problem (exit 2). docs/reliability.md, "Malformed policies"."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from drkit.core.errors import PolicyError
from drkit.core.policy import load_policy_file

BASE = textwrap.dedent("""\
    version: 1
    name: shop-db
    objectives: {rpo: 24h, rto: 4h}
    targets:
      - path: /srv/shop
    retention: {keep_last: 3}
    repository:
      url: s3:https://s3.amazonaws.com/acme-dr/shop
      password_file: /etc/drkit/shop.pass
    notify:
      - email: {to: [ops@example.com], smtp_port: 25}
    """)


def problems_of(tmp_path: Path, raw: bytes | str) -> list[str]:
    file = tmp_path / "p.yaml"
    file.write_bytes(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    with pytest.raises(PolicyError) as exc:
        load_policy_file(file)
    lines = [str(p) for p in exc.value.problems]
    assert all(p.startswith(f"{file}:") and p.split(":")[1].isdigit() for p in lines), lines
    assert all("\n" not in p for p in lines)
    return lines


def test_base_policy_is_valid(tmp_path):
    (tmp_path / "p.yaml").write_text(BASE)
    assert load_policy_file(tmp_path / "p.yaml").name == "shop-db"


@pytest.mark.parametrize("raw,expected", [
    (BASE.encode("utf-16"), ":1: (file): UTF-16"),
    (BASE.encode("utf-16-be"), ":1: (file): control character U+0000 is not allowed (UTF-16 text?)"),
    (BASE.replace("shop-db", "sh\xf6p").encode("latin-1"), ":2: (file): byte 0xf6 is not UTF-8"),
    (BASE.encode() + b"\x00", ":12: (file): control character U+0000"),
    (b"x" * (2 << 20), ":1: (file): larger than 1024 KiB"),
])
def test_undecodable_files(tmp_path, raw, expected):
    [problem] = problems_of(tmp_path, raw)
    assert expected in problem


@pytest.mark.parametrize("old,new,expected", [
    ("rpo: 24h", "rpo: 9999999999999999999999d", ":3: objectives.rpo: '9999999999999999999999d': a duration must be at most 100 years"),
    ("rpo: 24h", "rpo: .inf", ":3: objectives.rpo: inf: a duration must be at most 100 years"),
    ("rpo: 24h", "rpo: " + "9" * 400, ":3: objectives.rpo: 9999"),
    ("rpo: 24h", "rpo: .nan", ":3: objectives.rpo: nan is not a duration"),
    ("keep_last: 3", "keep_last: " + "9" * 5000, ":6: (yaml): "),
    ("keep_last: 3", "keep_last: true", ":6: retention.keep_last: true: expected a whole number"),
    ("keep_last: 3", "keep_last: 1.0e+30", ":6: retention.keep_last: 1e+30: expected a whole number"),
    ("keep_last: 3", "keep_last: 1.0", ":6: retention.keep_last: 1.0: expected a whole number"),
    ("keep_last: 3", "keep_last: 1000001", ":6: retention.keep_last: Input should be less than or equal to 1000000"),
    ("version: 1", "version: true", ":1: version: true: expected a whole number"),
    ("version: 1", "version: 1.0", ":1: version: 1.0: expected a whole number"),
    ("password_file: /etc/drkit/shop.pass", "password_file: /etc/drkit/shop.pass\n  lock_days: 99999999999999999",
     ":10: repository.lock_days: Input should be less than or equal to 36500"),
    ("smtp_port: 25", "smtp_port: 70000", ":11: notify[0].email.smtp_port: Input should be less than or equal to 65535"),
    ("- path: /srv/shop", '- path: "/srv/\\0x"', ":5: targets[0].path: '/srv/\\x00x' contains a NUL character"),
    ("- path: /srv/shop", '- path: "/srv/\\ud800"', ":5: targets[0].path: '/srv/\\ud800' contains a lone UTF-16 surrogate"),
    ("url: s3:https://s3.amazonaws.com/acme-dr/shop", "url: /dev/null", ":8: repository.url: '/dev/null': dev is a virtual"),
    ("url: s3:https://s3.amazonaws.com/acme-dr/shop", "url: s3:htp://host/b", ":8: repository.url: 's3:htp://host/b': unknown scheme 'htp'"),
    ("rpo: 24h", "rpo: !!int abc", ":3: (yaml): abc is not a valid int"),
    ("rpo: 24h", "rpo: !!bool x", ":3: (yaml): x is not a valid bool"),
    ("rpo: 24h", "rpo: !!timestamp x", ":3: (yaml): x is not a valid timestamp"),
    ("rpo: 24h", "rpo: 2024-13-45", ":3: (yaml): 2024-13-45 is not a valid timestamp (month must be in 1..12)"),
    ("rpo: 24h", "rpo: !!float x", ":3: (yaml): x is not a valid float"),
])
def test_values_out_of_range_or_unusable(tmp_path, old, new, expected):
    assert old in BASE
    found = problems_of(tmp_path, BASE.replace(old, new))
    assert any(expected in p for p in found), found


@pytest.mark.parametrize("tail,expected", [
    ("description: " + "[" * 3000 + "]" * 3000, ":12: (yaml): nested deeper than 32 levels"),
    ("description: &d [*d]", ":12: (yaml): alias *d refers to a value that contains it"),
    ("description: &x [&y [*y]]", ":12: (yaml): alias *y refers to a value that contains it"),
    ("a: &a " + "[" * 20 + "1" + "]" * 20 + "\nb: &b " + "[" * 20 + "*a" + "]" * 20,
     ":13: (yaml): alias *a nests deeper than 32 levels"),
    ("~: 1", ":12: '~': a key must be a name such as 'retention', not the null '~'"),
    ("1: 1", ":12: 1: a key must be a name such as 'retention', not the int 1"),
    ('"a\\nb": 1', ":12: 'a\\nb': a key must be a name such as 'retention', not the text 'a\\nb'"),
])
def test_shapes_that_exhausted_the_parser(tmp_path, tail, expected):
    found = problems_of(tmp_path, BASE + tail + "\n")
    assert any(expected in p for p in found), found


def test_alias_expansion_is_bounded(tmp_path):
    """A "billion laughs" file: ten aliases of ten aliases of … would be 10**9 values."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    [problem] = problems_of(tmp_path, BASE + "\n".join(lines) + "\n")
    assert "(yaml): more than 100,000 values once aliases are expanded" in problem


def test_anchors_and_merge_keys_still_work(tmp_path):
    text = BASE.replace("objectives: {rpo: 24h, rto: 4h}", "objectives: &obj {rpo: 24h, rto: 4h}")
    text += "drill:\n  <<: {sandbox: /var/tmp/d}\n  verify: full\n"
    (tmp_path / "p.yaml").write_text(text)
    assert load_policy_file(tmp_path / "p.yaml").drill.sandbox == Path("/var/tmp/d")


def test_a_utf8_bom_is_fine(tmp_path):
    (tmp_path / "p.yaml").write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert load_policy_file(tmp_path / "p.yaml").name == "shop-db"
