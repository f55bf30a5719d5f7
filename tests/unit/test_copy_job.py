"""Which repositories `drkit copy` fills (docs/repositories.md, "Copies"); the run itself is
tested end to end against two real S3 servers in tests/integration/test_copies.py."""

import pytest

from drkit.core.errors import UsageError
from drkit.core.policy import Policy
from drkit.jobs.copy import CopyDetail, destinations
from drkit.jobs.lifecycle import CATCH_UP_ORDER, JOB_KINDS


def policy(*names: str) -> Policy:
    return Policy.model_validate({
        "version": 1, "name": "shop", "objectives": {"rpo": "24h", "rto": "4h"}, "targets": [{"path": "/srv/shop"}],
        "repositories": [{"name": n, "url": f"local:/srv/{n}", "password_env": "PW"} for n in names]})


def test_every_repository_after_the_first_or_the_one_named():
    three = policy("primary", "offsite", "cold")
    assert [r.name for r in destinations(three)] == ["offsite", "cold"]
    assert [r.name for r in destinations(three, "cold")] == ["cold"]


def test_refusals_name_what_to_do():
    with pytest.raises(UsageError, match="has one repository, nothing to copy to") as one:
        destinations(policy("primary"))
    assert "repositories:" in one.value.hint
    with pytest.raises(UsageError, match=r"--to primary is the repository backups go to; copies go to the others \(offsite\)"):
        destinations(policy("primary", "offsite"), "primary")
    with pytest.raises(UsageError, match=r"no repository named 'nope' \(known: primary, offsite\)"):
        destinations(policy("primary", "offsite"), "nope")


def test_copy_is_a_scheduled_job_kind_run_after_the_backup():
    assert JOB_KINDS["copy"].run is not None
    assert CATCH_UP_ORDER.index("copy") == CATCH_UP_ORDER.index("backup") + 1
    detail = CopyDetail("primary", "offsite", ["ab" * 32], 2)
    assert detail.to_json() == {"source": "primary", "destination": "offsite", "copied": ["ab" * 32],
                                "already_present": 2}
