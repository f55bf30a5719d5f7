"""The package installs like a tool: `python -m build` makes a wheel and an sdist, the wheel
installs into a fresh venv and gives a working `drkit` (docs/operations.md, "Install")."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from drkit import __version__

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Without PYTHONPATH, which points the test run at this checkout: the venv must use its own install."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600, cwd=cwd, env=env)
    assert proc.returncode == 0, f"{argv}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.slow
def test_the_built_wheel_installs_into_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, ROOT)
    wheel, sdist = dist / f"drkit-{__version__}-py3-none-any.whl", dist / f"drkit-{__version__}.tar.gz"
    assert wheel.exists() and sdist.exists(), sorted(dist.iterdir())
    assert {"drkit/views/report/templates/report.html.j2", "drkit/views/report/templates/runbook.md.j2"} \
        <= set(zipfile.ZipFile(wheel).namelist())           # the report templates ship in the wheel

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    # The dependencies come from this test run's environment (a .pth file), so the test needs no
    # index; `pip check` then proves the wheel's declared requirements are met by them.
    site = Path(run(venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
                .stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(venv / "bin" / "python", "-m", "pip", "install", "--no-deps", "--no-index", wheel)
    run(venv / "bin" / "python", "-m", "pip", "check")

    drkit = venv / "bin" / "drkit"
    assert run(drkit, "--version", cwd=tmp_path).stdout.strip() == f"drkit, version {__version__}"
    validated = run(drkit, "policy", "validate", ROOT / "policies", cwd=tmp_path)   # not this checkout's code
    assert "ok (shop-db)" in validated.stdout
    where = run(venv / "bin" / "python", "-c", "import drkit; print(drkit.__file__)", cwd=tmp_path).stdout
    assert where.startswith(str(venv)), where
