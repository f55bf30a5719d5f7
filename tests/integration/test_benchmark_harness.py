"""benchmarks/run cannot rot: its 20 MB smoke version runs every measurement and writes the table
and the JSON with every row. Timings are never asserted (docs/performance.md, "Benchmarks")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_smoke_benchmark_writes_every_row(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "harness.py"), "--smoke", "--out", str(tmp_path),
                           "--dir", str(tmp_path / "work")], capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    table = (tmp_path / "latest.md").read_text()
    for row in ("first backup", "unchanged re-backup", "10 % changed", "restore --verify` + sha256", "restverify",
                "report --format json", "HTML report", "peak memory", "daemon idle", "tenfold growth",
                "in a running scheduler (no start-up)", "10 % changed, in a running scheduler"):
        assert row in table, f"no '{row}' row in\n{table}"
    results = json.loads((tmp_path / "latest.json").read_text())
    assert results["schema"] == "drkit.benchmarks/1" and results["settings"]["smoke"] is True
    assert {"cores", "memory_bytes", "restic"} <= set(results["machine"])
    assert all(len(pairs) == 1 and all(s > 0 for s in pairs[0]) for pairs in results["backup"].values())
    assert results["drill"]["drill"] and results["drill"]["restore_verify"] and results["drill"]["sha256"]
    assert results["report"]["json_s"] > 0 and results["daemon"]["rss_mb"] > 0
