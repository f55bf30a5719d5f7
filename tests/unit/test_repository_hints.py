"""Hints name the key to edit as the policy file spells it: `repository.url` in a one-repository
policy, `repositories[1].url` for the copy of a list (docs/repositories.md)."""

from __future__ import annotations

from drkit.core.policy import Policy
from drkit.views.doctor import password_check

BASE = {"version": 1, "name": "shop", "objectives": {"rpo": "24h", "rto": "4h"}, "targets": [{"path": "/srv/shop"}]}


def listed() -> Policy:
    return Policy.model_validate({**BASE, "repositories": [
        {"url": "s3:https://s3.amazonaws.com/a/shop", "password_file": "/etc/drkit/a.pass"},
        {"name": "offsite", "url": "s3:https://s3.eu-north-1.amazonaws.com/b/shop", "password_command": ["false"]}]})


def test_a_single_repository_is_spelled_repository():
    single = Policy.model_validate({**BASE, "repository": {"url": "s3:https://s3.amazonaws.com/a/shop",
                                                           "password_file": "/etc/drkit/a.pass"}})
    assert single.repository_field("url") == "repository.url"
    assert single.repository_field("lock_days", "primary") == "repository.lock_days"


def test_a_listed_repository_is_spelled_with_its_index():
    policy = listed()
    assert policy.repository_field("url", "primary") == "repositories[0].url"
    assert policy.repository_field("lock_days", "offsite") == "repositories[1].lock_days"
    assert policy.repository_field("url") == "repositories[0].url"  # None: the first


def test_doctor_names_the_copy_s_password_command_key():
    policy = listed()
    finding = password_check(policy, policy.repositories[1], "offsite")
    assert finding.status == "FAIL" and finding.fix == "fix repositories[1].password_command"
