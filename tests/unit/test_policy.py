"""Policy parsing: every error kind reported as FILE:LINE: field: message, all at once."""

import json
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from drkit.core.errors import PolicyError, Problem, UsageError
from drkit.core.policy import (
    CommandTarget,
    PathTarget,
    Policy,
    Retention,
    SqliteTarget,
    _LineLoader,
    json_schema,
    load_policies,
    load_policy_file,
)

GOOD = """\
version: 1
name: shop-db
description: Orders database
business:
  function: Order fulfilment
  owner: Jane Doe <jane@example.com>
  tier: 1
  contacts: [{role: incident-commander, name: Ops on call, phone: "+46 1", email: ops@example.com}]
objectives: {rpo: 24h, rto: PT4H}
targets:
  - path: /srv/shop/uploads
    exclude: ["*.tmp", "cache/"]
  - postgres: {dsn: "postgresql://backup@db/shop"}
  - sqlite: /var/lib/app/app.db
  - command: {run: [mysqldump, --single-transaction, shop], filename: shop.sql}
schedule:
  backup: every day at 01:30
  drill: every sunday at 04:00
  check: every saturday at 05:00
retention: {keep_last: 3, keep_daily: 7, keep_weekly: 4, keep_monthly: 12}
repository:
  url: s3:https://s3.eu-north-1.amazonaws.com/acme-dr/shop-db
  password_file: /etc/drkit/keys/shop-db.pass
  aws_profile: dr-offsite
drill:
  sandbox: /var/tmp/drkit-drills
  verify: sample:5%
  checks:
    - file_exists: srv/shop/uploads/logo.png
    - postgres_query: {sql: "select count(*) from orders", expect_min: 1}
    - command: [./scripts/smoke.sh, "{sandbox}"]
notify:
  - webhook: https://hc.example.com/ping/uuid
    on: [failure, breach]
"""


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(PolicyError) as exc:
        load_policy_file(write(tmp_path, text))
    return [str(p) for p in exc.value.problems]


def test_full_example_parses_into_typed_models(tmp_path):
    policy = load_policy_file(write(tmp_path, GOOD))
    assert policy.objectives.rpo.total_seconds() == 86400
    assert policy.objectives.rto.total_seconds() == 14400
    assert [type(t) for t in policy.targets][:1] == [PathTarget]
    assert isinstance(policy.targets[2], SqliteTarget) and isinstance(policy.targets[3], CommandTarget)
    assert policy.schedule.backup.nominal_interval.total_seconds() == 86400
    assert policy.drill.sample_percent == 5.0
    assert policy.business.contacts[0].role == "incident-commander"


def test_example_policies_in_repo_are_valid():
    loaded = load_policies([Path(__file__).parents[2] / "policies"])
    assert len(loaded) >= 2


def test_misspelt_key_names_file_line_and_key(tmp_path):
    text = GOOD.replace("retention:", "retension:")
    [problem] = problems(tmp_path, text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith("retension"))
    assert problem.startswith(f"{tmp_path / 'p.yaml'}:{line}: retension: unknown key 'retension'")


def test_nested_unknown_key_points_at_its_line(tmp_path):
    text = GOOD.replace("expect_min: 1}", "expct_min: 1}")
    [problem] = problems(tmp_path, text)
    assert ":30: drill.checks[1].postgres_query.expct_min: unknown key" in problem


@pytest.mark.parametrize("old,new,expected", [
    ("rpo: 24h", "rpo: 24hours", "objectives.rpo: '24hours' is not a duration"),
    ("rto: PT4H", "rto: PTXH", "objectives.rto: 'PTXH' is not a valid ISO 8601 duration"),
    ("every day at 01:30", "every dya at 01:30", "schedule.backup: 'every dya at 01:30'"),
    ("every sunday at 04:00", "every sunday at 25:00", "schedule.drill:"),
    ("every day at 01:30", "5", "schedule.backup: expected a schedule phrase such as 'every day at 01:30'"),
    ("tier: 1", "tier: first", "business.tier:"),
    ("name: shop-db", "name: Shop_DB", "name: 'Shop_DB': use lowercase"),
    ("  - path: /srv/shop/uploads", "  - path: srv/shop/uploads", "targets[0].path: 'srv/shop/uploads' must be an absolute path"),
    ("  - sqlite: /var/lib/app/app.db", "  - sqlit: /var/lib/app/app.db", "targets[2]: unknown kind ['sqlit']"),
    ("verify: sample:5%", "verify: some", "drill.verify: 'some': use 'full' or 'sample:N%'"),
    ("  password_file: /etc/drkit/keys/shop-db.pass\n", "", "repository: no password source"),
    ("version: 1", "version: 2", "version:"),
    ("keep_last: 3", "keep_last: 0", "retention.keep_last:"),
])
def test_each_error_kind(tmp_path, old, new, expected):
    assert old in GOOD
    found = problems(tmp_path, GOOD.replace(old, new))
    assert any(expected in p for p in found), found
    assert all(p.startswith(f"{tmp_path / 'p.yaml'}:") for p in found)


def test_two_password_sources_rejected(tmp_path):
    found = problems(tmp_path, GOOD.replace("  aws_profile:", "  password_env: PW\n  aws_profile:"))
    assert any("more than one password source" in p for p in found)


def test_missing_required_sections(tmp_path):
    found = problems(tmp_path, "version: 1\nname: x\n")
    joined = "\n".join(found)
    for field in ("objectives", "targets", "repository"):
        assert f"{field}: required field is missing" in joined


def test_every_error_of_every_file_in_one_run(tmp_path):
    write(tmp_path, GOOD.replace("rpo: 24h", "rpo: soon").replace("retention:", "retension:"), "a.yaml")
    write(tmp_path, GOOD.replace("name: shop-db", "name: other").replace("tier: 1", "tier: 9"), "b.yaml")
    with pytest.raises(PolicyError) as exc:
        load_policies([tmp_path])
    files = {str(p).split(":")[0] for p in exc.value.problems}
    assert files == {str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")}
    assert len(exc.value.problems) == 3


def test_duplicate_policy_names_in_a_directory(tmp_path):
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(PolicyError) as exc:
        load_policies([tmp_path])
    [problem] = exc.value.problems
    assert str(problem).startswith(f"{tmp_path / 'b.yaml'}:2: name: policy name 'shop-db' is also used by")


def test_duplicate_yaml_key_is_an_error(tmp_path):
    found = problems(tmp_path, GOOD.replace("description: Orders database", "description: a\ndescription: b"))
    assert any(":4: description: duplicate key" in p for p in found)


def test_yaml_syntax_error_has_a_line(tmp_path):
    [problem] = problems(tmp_path, "version: 1\nname: [unclosed\n")
    assert problem.startswith(f"{tmp_path / 'p.yaml'}:")


def test_not_a_mapping(tmp_path):
    [problem] = problems(tmp_path, "- just a list\n")
    assert ":1: (top level): expected a mapping" in problem


def test_schema_is_json_and_forbids_unknown_keys():
    schema = json_schema()
    json.dumps(schema)
    assert schema["additionalProperties"] is False
    assert {"version", "name", "objectives", "targets"} <= set(schema["required"])
    assert schema["oneOf"] == [{"required": ["repository"]}, {"required": ["repositories"]}]


@pytest.mark.parametrize("example", sorted((Path(__file__).parents[2] / "policies").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_example_policies_are_valid_under_the_json_schema_editors_use(example):
    """`drkit policy schema` is what editors validate with: a policy drkit accepts must pass it
    (schedule phrases once failed it: a $ref to an object beside "type": "string")."""
    load_policy_file(example)
    data = yaml.load(example.read_text(), Loader=_LineLoader)  # YAML 1.2 booleans, as drkit and editors read
    jsonschema.validate(data, json_schema())
    assert data.get("schedule"), "an example without schedules would not test them"


@settings(max_examples=60, deadline=None)
@given(key=st.from_regex(r"[a-z_]{3,12}", fullmatch=True))
def test_any_unknown_top_level_key_is_reported_with_its_line(tmp_path_factory, key):
    if key in {field.alias or name for name, field in Policy.model_fields.items()}:
        return
    tmp = tmp_path_factory.mktemp("h")
    text = GOOD + f"{key}: 1\n"
    found = problems(tmp, text)
    assert found == [f"{tmp / 'p.yaml'}:{len(text.splitlines())}: {key}: unknown key '{key}' "
                     f"(check the spelling; see `drkit policy schema`)"]


def test_problem_lines_round_trip():
    lines = ["/p/a.yaml:3: retension: unknown key 'retension'", "/p/a.yaml:1: (top level): expected a mapping",
             "/p/a.yaml:1: cannot read file: Permission denied", "/p/a.yaml:7: targets[0].path: 'x': must be absolute",
             "C:/odd:name.yaml:2: name: clash", "no location at all"]
    assert [str(p) for p in PolicyError(lines).problems] == lines
    assert Problem.parse(lines[3]) == Problem("/p/a.yaml", 7, "targets[0].path", "'x': must be absolute")
    assert Problem.parse(lines[2]).path is None and Problem.parse(lines[5]).file is None


def test_policy_error_text_is_every_line():
    problem = Problem("/p/a.yaml", 2, "name", "clash")
    assert str(PolicyError([problem, "/p/b.yaml:1: (file): gone"])) == "/p/a.yaml:2: name: clash\n/p/b.yaml:1: (file): gone"



@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ab/.:[]0129 ()-_x\n"), max_size=40))
def test_any_problem_line_given_as_text_prints_unchanged(text):
    assert str(Problem.parse(text)) == text


# --- repositories (docs/repositories.md) ----------------------------------------------------------

SINGLE = """\
repository:
  url: s3:https://s3.eu-north-1.amazonaws.com/acme-dr/shop-db
  password_file: /etc/drkit/keys/shop-db.pass
  aws_profile: dr-offsite
"""
LISTED = """\
repositories:
  - name: primary
    url: s3:https://s3.eu-north-1.amazonaws.com/acme-dr/shop-db
    password_file: /etc/drkit/keys/shop-db.pass
"""
OFFSITE = """\
  - name: offsite-2
    url: s3:https://s3.example.com/dr-copy/shop-db
    password_env: OFFSITE_PW
"""


def with_repositories(section: str) -> str:
    assert SINGLE in GOOD
    return GOOD.replace(SINGLE, section)


def line_of(text: str, fragment: str, nth: int = 1) -> int:
    return [i for i, ln in enumerate(text.splitlines(), 1) if fragment in ln][nth - 1]


def test_single_repository_is_a_list_of_one_named_primary(tmp_path):
    policy = load_policy_file(write(tmp_path, GOOD))
    assert [r.name for r in policy.repositories] == ["primary"]
    assert policy.repository is policy.repositories[0]
    assert policy.repository.aws_profile == "dr-offsite"


def test_repositories_list_of_one_validates_like_the_single_key(tmp_path):
    policy = load_policy_file(write(tmp_path, with_repositories(LISTED)))
    assert [r.name for r in policy.repositories] == ["primary"]
    assert policy.repository.url == "s3:https://s3.eu-north-1.amazonaws.com/acme-dr/shop-db"
    assert load_policies([tmp_path])[0].policy == policy


def test_first_of_several_repositories_is_the_policy_repository(tmp_path):
    policy = load_policy_file(write(tmp_path, with_repositories(LISTED + OFFSITE)))
    assert [r.name for r in policy.repositories] == ["primary", "offsite-2"]
    assert policy.repository.name == "primary"
    assert policy.repository_named("offsite-2").password_env == "OFFSITE_PW"
    assert policy.repository_named(None) is policy.repository


def test_unknown_repository_name_is_a_usage_error_naming_the_known_ones(tmp_path):
    policy = load_policy_file(write(tmp_path, with_repositories(LISTED + OFFSITE)))
    with pytest.raises(UsageError, match=r"no repository named 'offsite-3' \(known: primary, offsite-2\)"):
        policy.repository_named("offsite-3")


@pytest.mark.parametrize("section", [SINGLE, LISTED + OFFSITE])
def test_a_dumped_policy_keeps_its_form_and_validates_again(tmp_path, section):
    policy = load_policy_file(write(tmp_path, with_repositories(section)))
    dumped = policy.model_dump(mode="json")
    assert ("repositories" in dumped) == section.startswith("repositories")
    assert ("repository" in dumped) == section.startswith("repository:")
    assert Policy.model_validate(dumped) == policy


def test_both_repository_keys_is_an_error_at_its_line(tmp_path):
    text = with_repositories(SINGLE + LISTED)
    [problem] = problems(tmp_path, text)
    assert problem == (f"{tmp_path / 'p.yaml'}:{line_of(text, 'repository:')}: repository: "
                       "give either `repository` (one) or `repositories` (a list), not both")


def test_neither_repository_key_is_an_error(tmp_path):
    [problem] = problems(tmp_path, with_repositories(""))
    assert problem == (f"{tmp_path / 'p.yaml'}:1: repository: required field is missing "
                       "(or list several under `repositories`)")


def test_duplicate_repository_names_point_at_the_second(tmp_path):
    text = with_repositories(LISTED + OFFSITE.replace("offsite-2", "primary"))
    [problem] = problems(tmp_path, text)
    assert problem == (f"{tmp_path / 'p.yaml'}:{line_of(text, 'name: primary', 2)}: repositories[1].name: "
                       "'primary' is also the name of repositories[0]; give each repository its own name")


def test_two_unnamed_repositories_are_both_primary(tmp_path):
    text = with_repositories(LISTED.replace("- name: primary\n    url", "- url") + OFFSITE.replace("- name: offsite-2\n    url", "- url"))
    [problem] = problems(tmp_path, text)
    assert f":{line_of(text, 'url: s3:https://s3.example.com')}: repositories[1].name: 'primary' is also the name" in problem


@pytest.mark.parametrize("name", ["Offsite", "off site", "-offsite", "off_site"])
def test_bad_repository_name(tmp_path, name):
    text = with_repositories(LISTED + OFFSITE.replace("offsite-2", f'"{name}"'))
    [problem] = problems(tmp_path, text)
    assert problem.startswith(f"{tmp_path / 'p.yaml'}:{line_of(text, name)}: repositories[1].name: '{name}': use lowercase")


def test_empty_repositories_list_is_an_error(tmp_path):
    found = problems(tmp_path, with_repositories("repositories: []\n"))
    assert any("repositories: List should have at least 1 item" in p for p in found), found


@pytest.mark.parametrize("written,expected", [
    ("2026-03-01", datetime(2026, 3, 1, tzinfo=timezone.utc)),  # YAML date: its midnight UTC
    ("2026-03-01T12:30:00+02:00", datetime(2026, 3, 1, 10, 30, tzinfo=timezone.utc)),
    ("2026-03-01 12:30:00", datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc)),  # no offset: UTC
    ('"2026-03-01T12:30:00Z"', datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc)),  # quoted text
])
def test_in_force_from_is_a_utc_moment(tmp_path, written, expected):
    text = GOOD.replace("objectives: {rpo: 24h, rto: PT4H}",
                        f"objectives: {{rpo: 24h, rto: PT4H, in_force_from: {written}}}")
    moment = load_policy_file(write(tmp_path, text)).objectives.in_force_from
    assert moment == expected and moment.tzinfo == timezone.utc
    assert load_policy_file(write(tmp_path, GOOD)).objectives.in_force_from is None


def test_bad_in_force_from_names_file_line_and_field(tmp_path):
    text = GOOD.replace("objectives: {rpo: 24h, rto: PT4H}", "objectives:\n  rpo: 24h\n  rto: 4h\n  in_force_from: soon")
    assert problems(tmp_path, text) == [
        f"{tmp_path / 'p.yaml'}:12: objectives.in_force_from: 'soon' is not an ISO date or datetime "
        "(e.g. 2026-03-01 or 2026-03-01T12:00:00Z)"]


# --- what mutation testing found unguarded (docs/mutation.md) ----------------------------------------

@pytest.mark.parametrize("verify, ok", [("sample:0.5%", True), ("sample:100%", True), ("sample:0%", False),
                                        ("sample:100.5%", False), ("full", True)])
def test_a_sample_is_more_than_0_and_at_most_100_percent(tmp_path, verify, ok):
    text = GOOD.replace("verify: sample:5%", f"verify: {verify}")
    if ok:
        assert load_policy_file(write(tmp_path, text)).drill.verify == verify
    else:
        [problem] = problems(tmp_path, text)
        assert problem.endswith(f"drill.verify: '{verify}': use 'full' or 'sample:N%' (0 < N <= 100)")


def test_the_schema_offers_repository_or_repositories_never_null():
    properties = json_schema()["properties"]
    for key in ("repository", "repositories"):
        assert "default" not in properties[key] and "anyOf" not in properties[key]
    assert properties["repository"]["$ref"].endswith("/Repository")


def test_retention_is_empty_only_without_any_rule():
    assert Retention().is_empty() and not Retention(keep_last=1).is_empty()
