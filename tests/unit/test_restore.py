"""drkit restore's pure parts: which paths an --include restores, where targets land, the way
cleared before restoring over existing data, and `before:` times. End to end: tests/integration/test_restore.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from drkit.core import errors
from drkit.core.policy import Policy
from drkit.engines.restic import Node, literal_pattern
from drkit.jobs.drill.selection import parse_before
from drkit.jobs.restore import clear_the_way, coverage, landings, normalized_includes, selector

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def policy(**extra) -> Policy:
    return Policy.model_validate({
        "version": 1, "name": "shop", "objectives": {"rpo": "1d", "rto": "4h"},
        "targets": [{"path": "/srv/shop"}, {"sqlite": "/var/lib/shop/app.db"}],
        "repository": {"url": "s3:http://127.0.0.1:9/b/shop", "password_file": "/etc/pw"}, **extra})


def test_an_include_restores_its_path_and_everything_below_it_only():
    chosen = selector(["/srv/shop/uploads", "/etc/shop.conf"])
    assert chosen("/srv/shop/uploads") and chosen("/srv/shop/uploads/a/b.png") and chosen("/etc/shop.conf")
    assert not chosen("/srv/shop/uploads2") and not chosen("/srv/shop") and not chosen("/etc/shop.conf.bak")
    assert selector([])("/anything") and selector(["/"])("/anything")


def test_includes_must_be_absolute_and_are_normalized():
    assert normalized_includes(("/srv/shop/", "/srv//shop", "/"), "shop") == ["/srv/shop", "/"]
    with pytest.raises(errors.UsageError, match="--include srv/shop: give the absolute path") as refused:
        normalized_includes(("srv/shop",), "shop")
    assert refused.value.hint == "see them with: drkit ls shop"  # the policy's name, not a placeholder


def test_coverage_of_a_target_by_the_includes():
    assert coverage("/srv/shop", []) == "whole"
    assert coverage("/srv/shop", ["/srv"]) == "whole"
    assert coverage("/srv/shop", ["/srv/shop/uploads"]) == "part"
    assert coverage("/srv/shop", ["/srv/shopping"]) == "no"


def test_targets_land_below_the_target_at_their_absolute_paths():
    staging = "/var/lib/drkit/staging/shop"
    listed = {"/srv/shop", f"{staging}/sqlite/app.db"}
    path, db = landings(policy(), staging, Path("/r"), [], listed, in_place=False)
    assert (path.label, path.path, path.restored) == ("path /srv/shop", Path("/r/srv/shop"), "whole")
    assert path.put_back.startswith('compare, then copy back: `rsync -a "/r/srv/shop/" "/srv/shop/"`')
    assert db.path == Path(f"/r{staging}/sqlite/app.db") and f'cp "/r{staging}/sqlite/app.db"' in db.put_back
    # in place: the path target is back already; the staged copy still has to be loaded
    path, db = landings(policy(), staging, Path("/"), [], listed, in_place=True)
    assert path.path == Path("/srv/shop") and path.put_back == ""
    assert f'cp "{staging}/sqlite/app.db" "/var/lib/shop/app.db"' in db.put_back
    # a target the snapshot does not hold (plain restic) did not land anywhere
    assert [x.restored for x in landings(policy(), staging, Path("/r"), [], {"/srv/shop"}, in_place=False)] == \
        ["whole", "no"]


def test_the_way_is_cleared_of_symlinks_and_odd_files_but_never_of_directories(tmp_path):
    live = tmp_path / "live"
    (live / "dir").mkdir(parents=True)
    (live / "file").write_text("old")
    (live / "link").symlink_to("/etc/passwd")   # restic would write through it
    (live / "was-file").write_text("x")          # the snapshot has a symlink here
    (live / "keep").write_text("not in the snapshot")
    nodes = [Node(f"/live/{name}", kind, 0, "") for name, kind in
             [("dir", "dir"), ("file", "file"), ("link", "file"), ("was-file", "symlink"), ("new", "file")]]
    clear_the_way(nodes, tmp_path)  # tmp_path plays the target: /live/x is restored to tmp_path/live/x
    assert sorted(p.name for p in live.iterdir()) == ["dir", "file", "keep"]
    assert (live / "file").read_text() == "old"  # restic overwrites regular files itself
    with pytest.raises(errors.UsageError, match=r"live/dir is a directory, the snapshot has a file there"):
        clear_the_way([Node("/live/dir", "file", 0, "")], tmp_path)


def test_before_takes_iso_times_and_durations_ago():
    assert parse_before("2026-11-22", NOW) == datetime(2026, 11, 22, tzinfo=timezone.utc)
    assert parse_before("2026-11-22T18:00:00+01:00", NOW) == datetime(2026, 11, 22, 17, tzinfo=timezone.utc)
    assert parse_before("6h", NOW) == NOW - timedelta(hours=6)
    with pytest.raises(errors.UsageError, match="before:yesterday: expected an ISO date"):
        parse_before("yesterday", NOW)


def test_include_paths_reach_restic_as_literal_patterns():
    assert literal_pattern("/srv/a[1]*?.txt") == r"/srv/a\[1]\*\?.txt"
    assert literal_pattern("/srv/plain") == "/srv/plain"


def test_restore_help_says_what_force_does_to_a_database():
    """The refusal of a non-empty database says "pass --force": the option's help must say so too."""
    from click.testing import CliRunner

    from drkit.cli import cli

    text = " ".join(CliRunner().invoke(cli, ["restore", "--help"]).output.split())
    assert "with --to-database, load into a non-empty database" in text
