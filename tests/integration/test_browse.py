"""drkit ls, drkit dump and drkit snapshots against a real repository (restic + SeaweedFS)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_ls_dump_and_snapshots_show_what_a_snapshot_holds(env, source):
    deep = source / "a-rather-long-directory-name-so-that-nothing-fits-in-eighty-columns" / "and-deeper-still"
    deep.mkdir(parents=True)
    (deep / "leaf.bin").write_bytes(bytes(range(256)) * 40)
    env.write_policy("shop", [source])
    env.drkit("repo", "init", "shop", check=0)
    snapshot = json.loads(env.drkit("backup", "shop", "--json", check=0).stdout)["runs"][0]["record"]["snapshot_id"]

    # ls: a tree of the snapshot, below a path; --json as drkit.snapshot-files/1
    text = env.drkit("ls", "shop", str(source / "nested"), check=0).stdout.splitlines()
    assert text[0].startswith(f"shop snapshot {snapshot[:8]} (") and text[0].endswith(f"in {source / 'nested'}")
    assert text[1].endswith(f"  {source / 'nested'}/")
    assert any(line.endswith("    deeper/") for line in text) and any(line.endswith("      file000.dat") for line in text)
    size = (source / "nested" / "file001.dat").stat().st_size
    [line] = [ln for ln in text if ln.endswith("file001.dat")]
    assert line.lstrip().startswith(f"{size / 1000:.1f} kB")
    doc = json.loads(env.drkit("ls", "shop", snapshot[:8], str(deep), "--json", check=0).stdout)
    assert doc["schema"] == "drkit.snapshot-files/1" and doc["snapshot"]["id"] == snapshot
    assert [(e["path"], e["type"], e["size"]) for e in doc["entries"]] == \
        [(str(deep), "dir", None), (str(deep / "leaf.bin"), "file", 10240)]
    assert doc["files"] == 1 and doc["bytes"] == 10240 and doc["entries"][1]["mtime"].endswith("Z")
    whole = env.drkit("ls", "shop", check=0).stdout
    assert f"  {source}/\n" in whole and "drkit-manifest.json" in whole

    # dump: one file, byte for byte, to stdout
    proc = env.drkit_bytes("dump", "shop", "latest", str(deep / "leaf.bin"))
    assert proc.returncode == 0 and proc.stdout == (deep / "leaf.bin").read_bytes()
    for args, message in [(("latest", str(source / "nested")), f"drkit: error: {source / 'nested'} is a dir in snapshot"),
                          (("latest", str(source / "nope")), f"drkit: error: {source / 'nope'}: no such path in snapshot"),
                          (("deadbeef", str(source / "README")), "drkit: error: no snapshot 'deadbeef'"),
                          # the SNAPSHOT argument is named as such: `dump` has no --snapshot option
                          (("zzzz", str(source / "README")), "drkit: error: SNAPSHOT: expected latest or a snapshot id"),
                          (("before:someday", str(source / "README")), "drkit: error: SNAPSHOT before:someday: expected")]:
        refused = env.drkit("dump", "shop", *args, check=2)
        assert refused.stdout == "" and refused.stderr.startswith(message), refused.stderr

    # snapshots: piped, the full paths are printed, never cut
    listing = env.drkit("snapshots", "shop", check=0).stdout
    assert str(source) in listing and "…" not in listing
