"""Drill logic without restic or S3: sandbox safety, verification planning and comparison,
verdicts and the phase clock."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import pytest

from drkit.core import errors
from drkit.core.outcome import VERDICT, RunStatus, evidence_result, exit_code
from drkit.core.policy import Policy
from drkit.engines.catalog import SnapshotRow
from drkit.engines.manifest import Entry, Manifest
from drkit.engines.restic import Node
from drkit.engines.workspace import Workspace
from drkit.jobs.drill.clock import Stopwatch
from drkit.jobs.drill.sandbox import (
    FirstByteWatch,
    Protected,
    Sandbox,
    default_path,
    overlap_reason,
    protected_paths,
    space_reason,
)
from drkit.jobs.drill.selection import SnapshotChooser
from drkit.jobs.drill.verdict import DrillFailed, damage_or, restore_failure, select_verdict
from drkit.jobs.drill.verification import (
    MAX_LISTED,
    HashJob,
    check_tree,
    collect_hashes,
    count_nodes,
    find_manifest,
    hash_problem,
    in_sandbox,
    manifest_problem,
    mtime_ns,
    node_problem,
    plan_hashes,
    submit_hashes,
)

NOW = datetime(2026, 3, 1, 4, 0, 0, tzinfo=timezone.utc)


def policy(sources: list[str], **extra) -> Policy:
    data = {"version": 1, "name": "shop", "objectives": {"rpo": "1d", "rto": "4h"},
            "targets": [{"path": s} for s in sources],
            "repository": {"url": "s3:http://127.0.0.1:1/b/shop", "password_file": "/etc/pw"}}
    data.update(extra)
    return Policy.model_validate(data)


# --- sandbox -------------------------------------------------------------------------------------

SRC = Protected("backup source /srv/data", Path("/srv/data"))
STATE = Protected("drkit state dir /var/lib/drkit", Path("/var/lib/drkit"))


@pytest.mark.parametrize("sandbox, words", [
    ("/srv/data", "is the backup source"),
    ("/srv/data/restore", "lies inside the backup source"),
    ("/srv", "contains the backup source"),
    ("/", "contains the backup source"),
    ("/var/lib/drkit/drills", "lies inside the drkit state dir"),
    ("/var/lib", "contains the drkit state dir"),
])
def test_overlapping_sandboxes_are_refused(sandbox, words):
    assert words in overlap_reason(Path(sandbox), [SRC, STATE])


@pytest.mark.parametrize("sandbox", ["/srv/data2", "/srv/dat", "/var/tmp/drkit-drills/shop-1", "/var/lib/drkit-other"])
def test_neighbours_sharing_a_name_prefix_are_not_overlaps(sandbox):
    assert overlap_reason(Path(sandbox), [SRC, STATE]) is None


def test_protected_paths_cover_sources_sqlite_files_and_state_dir(tmp_path):
    pol = policy([str(tmp_path / "a")], targets=[{"path": str(tmp_path / "a")}, {"sqlite": str(tmp_path / "db.sqlite")}])
    labels = [p.label for p in protected_paths(pol, tmp_path / "state")]
    assert labels == [f"backup source {tmp_path / 'a'}", f"sqlite database {tmp_path / 'db.sqlite'}",
                      f"drkit state dir {tmp_path / 'state'}"]


def test_a_symlink_into_a_source_is_seen_through(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (tmp_path / "alias").symlink_to(source)
    with pytest.raises(errors.UsageError, match="lies inside the backup source"):
        Sandbox.choose(tmp_path / "alias" / "drill", parent=tmp_path, policy="shop",
                       protected=protected_paths(policy([str(source)]), tmp_path / "state"), now=NOW)


def test_choose_refuses_non_empty_and_non_directories_and_writes_nothing(tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    afile = tmp_path / "afile"
    afile.write_text("x")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(errors.UsageError, match="not empty") as exc:
        Sandbox.choose(full, parent=tmp_path, policy="shop", protected=[], now=NOW)
    assert exc.value.exit_code == 2
    with pytest.raises(errors.UsageError, match="not a directory"):
        Sandbox.choose(afile, parent=tmp_path, policy="shop", protected=[], now=NOW)
    chosen = Sandbox.choose(None, parent=tmp_path / "drills", policy="shop", protected=[], now=NOW)
    assert chosen.path == tmp_path / "drills" / "shop-20260301T040000Z"
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing created yet


def test_default_path_gets_a_counter_when_the_second_is_taken(tmp_path):
    (tmp_path / "shop-20260301T040000Z").mkdir()
    assert default_path(tmp_path, "shop", NOW).name == "shop-20260301T040000Z-2"


def test_space_needs_snapshot_size_plus_ten_percent():
    assert space_reason(Path("/x"), free=1_100_001, snapshot_bytes=1_000_000) is None
    reason = space_reason(Path("/x"), free=1_050_000, snapshot_bytes=1_000_000)
    assert reason and "needs" in reason and "1.1 MB" in reason


def test_open_creates_0700_with_parents_and_discard_removes_read_only_trees(tmp_path):
    box = Sandbox.choose(None, parent=tmp_path / "drills", policy="shop", protected=[], now=NOW)
    old = os.umask(0o022)
    try:
        box.open()
    finally:
        os.umask(old)
    assert stat.S_IMODE(box.path.stat().st_mode) == 0o700
    locked = box.path / "srv" / "ro"
    locked.mkdir(parents=True)
    (locked / "f").write_text("x")
    locked.chmod(0o555)
    box.discard()
    assert not box.path.exists() and (tmp_path / "drills").is_dir()


def test_discard_of_a_given_empty_directory_keeps_the_directory(tmp_path):
    given = tmp_path / "mine"
    given.mkdir(mode=0o755)
    box = Sandbox.choose(given, parent=tmp_path, policy="shop", protected=[], now=NOW)
    box.open()
    assert stat.S_IMODE(given.stat().st_mode) == 0o700
    (given / "restored").mkdir()
    box.discard()
    assert given.is_dir() and not any(given.iterdir())


# --- verification ---------------------------------------------------------------------------------

def test_mtime_ns_is_exact_for_nanoseconds_and_offsets(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    os.utime(f, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    assert mtime_ns("2023-11-14T22:13:20.123456789Z") == f.stat().st_mtime_ns
    assert mtime_ns("2023-11-14T23:13:20.123456789+01:00") == 1_700_000_000_123_456_789
    assert mtime_ns("2023-11-14T22:13:20Z") == 1_700_000_000_000_000_000
    assert mtime_ns("garbage") is None


def node(path: str, type_: str = "file", size: int = 0, mtime: str = "2023-11-14T22:13:20Z") -> Node:
    return Node(path=path, type=type_, size=size, mtime=mtime)


def test_node_problem_names_missing_wrong_type_and_wrong_size(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"abc")
    assert node_problem(node("/f", size=3), f.lstat()) is None
    assert "missing" in node_problem(node("/f", size=3), None)
    assert "size 3 bytes, snapshot has 4" in node_problem(node("/f", size=4), f.lstat())
    assert "is not a dir" in node_problem(node("/f", "dir"), f.lstat())
    assert "is not a symlink" in node_problem(node("/f", "symlink"), f.lstat())
    assert node_problem(node("/s", "socket"), None) is None  # restic does not restore sockets


def test_check_tree_finds_every_difference_in_a_real_directory(tmp_path):
    root = tmp_path / "sandbox"
    (root / "data" / "d").mkdir(parents=True)
    (root / "data" / "ok").write_bytes(b"12345")
    (root / "data" / "short").write_bytes(b"12")
    (root / "data" / "link").symlink_to("/etc/passwd")  # dangling or not, lstat sees the link
    nodes = [node("/data", "dir"), node("/data/d", "dir"), node("/data/ok", size=5), node("/data/short", size=9),
             node("/data/link", "symlink"), node("/data/gone", size=1), node("/data/d", "file", 0)]
    tree = check_tree(nodes, root)
    assert (tree.files, tree.dirs, tree.symlinks, tree.bytes) == (4, 2, 1, 15)
    assert tree.problem_count == 3
    assert any("/data/short: size 2" in p for p in tree.problems)
    assert any("/data/gone: missing" in p for p in tree.problems)
    assert any("/data/d: is not a file" in p for p in tree.problems)


def manifest(**files: tuple[int, int, str]) -> Manifest:
    return Manifest("shop", "now", {f"/{k}": Entry(*v) for k, v in files.items()})


T = "2023-11-14T22:13:20Z"
T_NS = 1_700_000_000_000_000_000


def test_plan_separates_comparable_changed_unknown_and_manifest_only():
    m = manifest(same=(3, T_NS, "aa"), grown=(3, T_NS, "bb"), touched=(3, T_NS, "cc"), deleted=(1, T_NS, "dd"))
    files = [node("/same", size=3, mtime=T), node("/grown", size=4, mtime=T),
             node("/touched", size=3, mtime="2023-11-14T22:13:21Z"), node("/new", size=1, mtime=T),
             node("/skipme", size=1, mtime=T), node("/adir", "dir")]
    plan = plan_hashes(files, m, percent=100, seed=None, skip=frozenset({"/skipme"}))
    assert plan.jobs == [HashJob("/same", 3, "aa")]
    assert sorted(plan.changed_during_backup) == ["/grown", "/touched"]
    assert plan.not_in_manifest == ["/new"]
    assert plan.manifest_only == 1 and plan.candidates == 1 and plan.seed is None


def test_sample_size_rounds_up_and_the_seed_reproduces_the_choice():
    m = Manifest("shop", "now", {f"/f{i}": Entry(1, T_NS, f"{i:02x}") for i in range(50)})
    files = [node(f"/f{i}", size=1, mtime=T) for i in range(50)]
    first = plan_hashes(files, m, percent=5, seed=42)
    again = plan_hashes(list(reversed(files)), m, percent=5, seed=42)
    assert len(first.jobs) == 3 and first.candidates == 50 and first.seed == 42  # ceil(2.5)
    assert first.jobs == again.jobs
    assert len(plan_hashes(files[:1], m, percent=1, seed=1).jobs) == 1  # never zero of a non-empty set


def test_hash_problem_reports_mismatch_and_unreadable_only():
    job = HashJob("/f", 3, "a" * 64)
    assert hash_problem(job, "a" * 64) is None
    assert "content differs" in hash_problem(job, "b" * 64)
    assert "cannot read" in hash_problem(job, None, "Permission denied")


def test_restored_files_are_hashed_and_every_content_mismatch_is_a_problem(tmp_path):
    """plan -> hash -> collect over real files: the one altered file (same size, same mtime in the
    listing, so only its hash can tell) and the one unreadable file are named; the good one is not."""
    sandbox = tmp_path / "sandbox"
    (sandbox / "data").mkdir(parents=True)
    for name in ("good", "altered", "gone"):
        (sandbox / "data" / name).write_bytes(b"backed up")
    m = Manifest("shop", "now", {f"/data/{name}": Entry(9, T_NS, hashlib.sha256(b"backed up").hexdigest())
                                 for name in ("good", "altered", "gone")})
    (sandbox / "data" / "altered").write_bytes(b"backed_up")  # the same size: only the content differs
    (sandbox / "data" / "gone").unlink()
    plan = plan_hashes([node(f"/data/{n}", size=9, mtime=T) for n in ("good", "altered", "gone")], m,
                       percent=100, seed=None)
    with ThreadPoolExecutor(2) as pool:
        hashes = collect_hashes(submit_hashes(pool, sandbox, plan))
    assert (hashes.files_hashed, hashes.bytes_hashed) == (3, 27)
    assert hashes.problem_count == 2
    assert sorted(p.split(":")[0] for p in hashes.problems) == ["/data/altered", "/data/gone"]
    assert any("/data/altered: content differs from the backup manifest" in p for p in hashes.problems)


def test_a_manifest_unlike_the_signed_one_is_a_problem_and_an_unsigned_one_is_not_checked():
    digest = "ab" * 32
    assert manifest_problem(digest, digest) is None
    assert manifest_problem(digest, None) is None  # no backup record of this host: nothing to compare
    problem = manifest_problem(digest, "cd" * 32)
    assert problem == ("the manifest in the snapshot does not match the signed backup evidence "
                       "(sha256 abababababab…, evidence cdcdcdcdcdcd…)")


def test_find_manifest_prefers_the_evidence_path_then_the_policy_staging_dir():
    files = [node("/st/staging/shop/drkit-manifest.json"), node("/x/staging/other/drkit-manifest.json")]
    assert find_manifest(files, "shop", None) == "/st/staging/shop/drkit-manifest.json"
    assert find_manifest(files, "shop", "/x/staging/other/drkit-manifest.json") == "/x/staging/other/drkit-manifest.json"
    assert find_manifest(files, "nope", None) is None
    assert find_manifest([node("/st/staging/shop/drkit-manifest.json", "dir")], "shop", None) is None


# --- verdict and clock ------------------------------------------------------------------------------

@pytest.mark.parametrize("failed, errored, rta, verdict", [
    (False, False, 10, "PASS"),
    (False, False, 100, "PASS"),  # equal to the RTO still meets it
    (False, False, 100.5, "BREACH"),
    (True, False, 1, "FAIL"),
    (True, True, 1000, "FAIL"),  # wrong data outranks everything
    (False, True, 1, "ERROR"),  # could not finish: never PASS, even when fast
    (False, True, 1000, "ERROR"),
])
def test_verdicts(failed, errored, rta, verdict):
    assert select_verdict(failed=failed, errored=errored, rta_s=rta, rto_s=100) == verdict


def not_found(lines: list[str]) -> errors.DrkitError:
    return errors.UsageError(f"snapshot not found: {lines[-1]}")


def failure(exc: BaseException, *stderr: str) -> errors.DrkitError:
    return restore_failure(exc, list(stderr), policy="shop", sandbox="/drills/x", not_found=not_found)


def test_a_restore_failure_showing_damage_is_a_fail_with_the_repair_command():
    err = failure(errors.ResticError("restore: restic exited 1"), "reading files", "Load(<data/1f2e>): hash mismatch",
                  "ignoring error for /srv/x: unexpected EOF")
    assert isinstance(err, DrillFailed) and err.exit_code == 4
    assert str(err) == ("restic restore --verify failed: Load(<data/1f2e>): hash mismatch; the repository may be "
                        "damaged (run: drkit repo check shop --read-data-subset 100%)")
    assert err.problems == ["restic restore --verify failed: Load(<data/1f2e>): hash mismatch",
                            "restic restore --verify failed: ignoring error for /srv/x: unexpected EOF"]
    damaged = damage_or(errors.RepositoryDamaged("pack 1f2e is damaged"), [], what="restic ls", policy="shop")
    assert isinstance(damaged, DrillFailed) and damaged.problems == ["restic ls failed: pack 1f2e is damaged"]


def test_a_plain_restic_failure_without_damage_lines_is_the_error_itself():
    exc = errors.ResticError("restore: restic exited 1")
    assert failure(exc, "Fatal: unable to open config file") is exc


@pytest.mark.parametrize("exc", [errors.WrongPassword("wrong password"), errors.Unreachable("S3 down"),
                                 errors.ResticTimeout("restore: timed out")])
def test_a_known_cause_stays_an_error_even_beside_damage_like_lines(exc):
    assert failure(exc, "Load(<data/1f2e>): hash mismatch") is exc


def test_a_full_sandbox_and_an_unknown_snapshot_are_usage_errors_and_a_bug_is_an_error():
    full = failure(errors.ResticError("restore"), "write /drills/x/f: no space left on device")
    assert isinstance(full, errors.UsageError) and full.exit_code == 2
    assert str(full) == ("sandbox /drills/x: its filesystem ran out of space during the restore "
                         "(free space or pass --sandbox elsewhere)")
    unknown = failure(errors.ResticError("restore"), "Fatal: invalid id \"abc\": no matching ID found")
    assert str(unknown) == 'snapshot not found: Fatal: invalid id "abc": no matching ID found'
    bug = failure(KeyError("node"), "")
    assert type(bug) is errors.DrkitError and str(bug) == "restore: KeyError: 'node'" and bug.exit_code == 1


def test_verdicts_map_to_results_and_exit_codes():
    ends = {"PASS": (RunStatus.OK, None), "BREACH": (RunStatus.BREACH, errors.BreachError("slow")),
            "FAIL": (RunStatus.FAILED, errors.VerificationError("wrong")),
            "ERROR": (RunStatus.FAILED, errors.Unreachable("S3 down"))}
    assert {v: evidence_result(*end) for v, end in ends.items()} == {
        "PASS": "pass", "BREACH": "breach", "FAIL": "fail", "ERROR": "error"}
    assert {v: exit_code(*end) for v, end in ends.items()} == {"PASS": 0, "BREACH": 3, "FAIL": 4, "ERROR": 1}
    assert all(VERDICT[evidence_result(*end)] == v for v, end in ends.items())


def test_phases_add_up_to_the_total_with_other_for_the_gaps():
    clock = Stopwatch()
    time.sleep(0.02)  # before any phase: other
    clock.begin("preflight")
    time.sleep(0.01)
    clock.begin("restore")
    time.sleep(0.01)
    clock.end()
    time.sleep(0.01)  # between phases: other
    phases, total = clock.finish()
    assert set(phases) == {"preflight", "restore", "other"}
    assert phases["other"] >= 0.03
    assert sum(phases.values()) == pytest.approx(total, abs=1e-9)


def test_retire_moves_the_tree_out_of_its_name_at_once_then_discard_removes_it(tmp_path):
    box = Sandbox.choose(None, parent=tmp_path, policy="shop", protected=[], now=NOW)
    box.open()
    (box.path / "srv").mkdir()
    box.retire()
    assert not box.path.exists() and box.retired == tmp_path / f".{box.path.name}.removing"
    assert (box.retired / "srv").is_dir()
    box.discard()
    assert list(tmp_path.iterdir()) == []


def test_first_byte_is_the_first_file_with_content_not_a_directory_or_empty_file(tmp_path):
    created = time.monotonic()
    watch = FirstByteWatch(tmp_path, interval=0.001)
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "empty.txt").write_bytes(b"")  # restic creates empty files before any data
    (tmp_path / "a" / "link").symlink_to("/etc/passwd")
    time.sleep(0.05)
    assert watch.seconds is None
    before = time.monotonic()
    (tmp_path / "a" / "b" / "data.bin").write_bytes(b"x")
    deadline = time.monotonic() + 5
    while watch.seconds is None and time.monotonic() < deadline:
        time.sleep(0.001)
    watch.stop()
    assert watch.seconds is not None
    assert before - created - 0.01 <= watch.seconds <= time.monotonic() - created  # seen only once written


def test_first_byte_watch_stops_without_data(tmp_path):
    watch = FirstByteWatch(tmp_path)
    watch.stop()
    assert watch.seconds is None and not watch._thread.is_alive()


def test_an_id_the_catalog_listed_but_the_repository_lost_is_named_as_forgotten(tmp_path):
    ws = Workspace(tmp_path / "state")
    try:
        ws.catalog.replace_snapshots("shop", [SnapshotRow("shop", "ab" * 32, NOW, "host", [])])
        forgotten = SnapshotChooser(policy(["/srv"]), "ABABABAB", ws.catalog, None, NOW).not_found([])
        unknown = SnapshotChooser(policy(["/srv"]), "cdcdcdcd", ws.catalog, None, NOW).not_found([])
    finally:
        ws.close()
    assert isinstance(forgotten, errors.UsageError) and isinstance(unknown, errors.UsageError)
    assert str(forgotten) == ("snapshot 'ABABABAB' is no longer in the repository of shop (forgotten or pruned "
                              "since it was listed) (list them: drkit snapshots shop)")
    assert str(unknown) == "no snapshot 'cdcdcdcd' in the repository of shop (list them: drkit snapshots shop)"


# --- what mutation testing found unguarded (docs/mutation.md) ----------------------------------------

def test_counts_cover_every_node_type():
    nodes = [node("/l1", "symlink"), node("/l2", "symlink"), node("/p1", "fifo"), node("/p2", "chardev"),
             node("/f", size=5), node("/d", "dir")]
    tree = count_nodes(nodes)
    assert (tree.files, tree.dirs, tree.symlinks, tree.other, tree.bytes) == (1, 1, 2, 2, 5)


def test_evidence_names_at_most_twenty_problems_and_counts_them_all():
    tree = check_tree([node(f"/gone{i:02d}", size=1) for i in range(25)], Path("/nonexistent-sandbox"))
    assert tree.problem_count == 25 and len(tree.problems) == MAX_LISTED == 20


def test_a_node_that_cannot_be_stat_ed_is_named_and_the_rest_still_checked(tmp_path):
    nodes = [node("/" + "x" * 300, size=1), node("/gone", size=1)]  # a name longer than NAME_MAX
    tree = check_tree(nodes, tmp_path)
    assert tree.problems == ["/" + "x" * 300 + ": cannot stat (File name too long)", "/gone: missing (file)"]


def test_a_path_starting_with_the_letter_x_is_mapped_into_the_sandbox():
    assert in_sandbox(Path("/sb"), "/Xdata/f") == Path("/sb/Xdata/f")


def test_plan_skips_directories_anywhere_in_the_listing_and_full_verification_records_no_seed():
    m = manifest(a=(3, T_NS, "aa"), b=(3, T_NS, "bb"))
    plan = plan_hashes([node("/adir", "dir"), node("/a", size=3, mtime=T), node("/skip", size=1, mtime=T),
                        node("/b", size=3, mtime=T)], m, percent=100, seed=7, skip=frozenset({"/skip"}))
    assert [j.path for j in plan.jobs] == ["/a", "/b"] and plan.seed is None


def test_a_sample_is_ceil_of_the_percentage():
    m = Manifest("shop", "now", {f"/f{i}": Entry(1, T_NS, "aa") for i in range(101)})
    plan = plan_hashes([node(f"/f{i}", size=1, mtime=T) for i in range(101)], m, percent=1, seed=3)
    assert len(plan.jobs) == 2  # ceil(1.01)


def test_problem_lines_name_both_hashes_and_why_a_file_could_not_be_read(tmp_path):
    job = HashJob("/f", 3, "a" * 64)
    assert hash_problem(job, "b" * 64) == ("/f: content differs from the backup manifest "
                                           "(sha256 bbbbbbbbbbbb…, expected aaaaaaaaaaaa…)")
    with ThreadPoolExecutor(1) as pool:
        hashes = collect_hashes(submit_hashes(pool, tmp_path, plan_hashes(
            [node("/f", size=3, mtime=T)], Manifest("shop", "now", {"/f": Entry(3, T_NS, "a" * 64)}),
            percent=100, seed=None)))
    assert hashes.problems == ["/f: cannot read restored file (No such file or directory)"]


def test_a_manifest_path_named_by_evidence_but_absent_falls_back_to_the_staging_dir():
    files = [node("/st/staging/shop/drkit-manifest.json")]
    assert find_manifest(files, "shop", "/gone/drkit-manifest.json") == "/st/staging/shop/drkit-manifest.json"


def test_restore_drill_help_names_every_snapshot_form_it_takes():
    """The chooser takes before:TIME for drills as for restores (its error says so): --help too."""
    from click.testing import CliRunner

    from drkit.cli import cli

    text = " ".join(CliRunner().invoke(cli, ["restore-drill", "--help"]).output.split())
    assert "latest|random|ID|before:TIME" in text and "before:2h" in text
