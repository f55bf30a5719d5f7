"""Shared test builders: a policy file pointing at a real S3 server, and the real CLI as a process."""

from __future__ import annotations

import contextlib
import filecmp
import io
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

PASSWORD = "correct horse battery staple"


def installed(program: str, package: str) -> str | None:
    """The program's path, or None where it is missing on a developer's machine. In CI (env
    CI=true) scripts/test installs the Debian package, so a missing program fails the test
    instead of letting its checks pass silently."""
    import pytest

    path = shutil.which(program)
    if path is None and os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{program} is missing: scripts/test installs Debian package {package} (ensure_apt)",
                    pytrace=False)
    return path


@dataclass
class Env:
    """One isolated drkit installation: policies dir, state dir, source data, password file."""

    root: Path
    endpoint: str
    bucket: str
    s3_env: dict[str, str]

    @property
    def policies(self) -> Path:
        return self.root / "policies"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def password_file(self) -> Path:
        return self.root / "password"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RESTIC_", "DRKIT_"))}
        env.update(self.s3_env)
        env.update({"DRKIT_POLICIES": str(self.policies), "DRKIT_STATE_DIR": str(self.state)})
        env.update(extra)
        return env

    def write_policy(self, name: str, sources: list[Path] | None = None, **sections) -> Path:
        """A valid policy; `sections` replace top-level keys (dicts are used as given; None drops the key)."""
        data = {
            "version": 1,
            "name": name,
            "description": f"test policy {name}",
            "business": {"function": "Testing", "owner": "QA <qa@example.com>", "tier": 2},
            "objectives": {"rpo": "24h", "rto": "4h"},
            "targets": [{"path": str(p)} for p in (sources or [])],
            "repository": {"url": f"s3:{self.endpoint}/{self.bucket}/{name}",
                           "password_file": str(self.password_file)},
            "drill": {"sandbox": str(self.root / "drills")},
        }
        data.update(sections)
        data = {key: value for key, value in data.items() if value is not None}
        self.policies.mkdir(parents=True, exist_ok=True)
        path = self.policies / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    @staticmethod
    def drkit_argv(*args: str) -> list[str]:
        """The real CLI as a child process (to wrap in setpriv, timeout, ...)."""
        return [sys.executable, "-m", "drkit", *args]

    def drkit(self, *args: str, check: int | None = None, timeout: float = 300, env: dict | None = None,
              input: str | None = None) -> subprocess.CompletedProcess:
        """Run the real CLI in a child process; `check` asserts the exit code."""
        proc = subprocess.run(self.drkit_argv(*args), capture_output=True, text=True,
                              env=env or self.env(), timeout=timeout, input=input)
        assert "Traceback" not in proc.stderr, proc.stderr
        if check is not None:
            assert proc.returncode == check, f"exit {proc.returncode}, wanted {check}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def drkit_bytes(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """The real CLI with binary stdout (`drkit dump`)."""
        return subprocess.run(self.drkit_argv(*args), capture_output=True, env=self.env(), timeout=timeout)

    def restic(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Plain restic against a policy's repository, as an operator would run it."""
        env = self.env(RESTIC_PASSWORD_FILE=str(self.password_file),
                       RESTIC_REPOSITORY=f"s3:{self.endpoint}/{self.bucket}/{name}")
        return subprocess.run(["restic", *args], capture_output=True, text=True, env=env, check=check, timeout=300)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def drkit_in_process(*args: str) -> CliResult:
    """`drkit ARGS` through `drkit.cli.main` in this process (the console script's entry point):
    milliseconds instead of a child's ~0.5 s, for tests that run the CLI hundreds of times."""
    from drkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return CliResult(code, out.getvalue(), err.getvalue())


def make_env(root: Path, server, bucket: str) -> Env:
    env = Env(root=root, endpoint=server.endpoint, bucket=bucket, s3_env=server.env())
    root.mkdir(parents=True, exist_ok=True)
    env.password_file.write_text(PASSWORD + "\n")
    env.password_file.chmod(0o600)
    return env


@contextmanager
def benchmark_env(work: Path | None, prefix: str) -> Iterator[tuple[Path, Env]]:
    """A drkit installation on a SeaweedFS of its own under `work` (benchmarks/): a temporary
    directory named `prefix`..., removed afterwards, when `work` is None."""
    from servers import SeaweedFS

    root = work or Path(tempfile.mkdtemp(prefix=prefix))
    root.mkdir(parents=True, exist_ok=True)
    server = SeaweedFS(root / "seaweedfs")
    server.start()
    try:
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        server.client().create_bucket(Bucket=bucket)
        yield root, make_env(root / "drkit", server, bucket)
    finally:
        server.close()
        if work is None:
            shutil.rmtree(root, ignore_errors=True)


def make_tree(root: Path, files: int = 20, size: int = 4096) -> Path:
    """Deterministic sample data: nested dirs, a symlink, an empty file."""
    (root / "nested" / "deeper").mkdir(parents=True, exist_ok=True)
    for i in range(files):
        sub = root / ("nested/deeper" if i % 3 == 0 else "nested" if i % 3 == 1 else ".")
        (sub / f"file{i:03d}.dat").write_bytes(bytes((i * 7 + j) % 251 for j in range(size + i)))
    (root / "empty.txt").write_bytes(b"")
    (root / "link").symlink_to("nested")
    (root / "README").write_text(textwrap.dedent("sample data for drkit tests\n"))
    return root


def same_tree(a: Path, b: Path) -> bool:
    """Byte-for-byte equal trees (names, file contents, recursively)."""
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    return not mismatch and not errors and all(same_tree(a / d, b / d) for d in cmp.common_dirs)
