"""drkit against the raw tools, measured side by side in one run (docs/performance.md, "Benchmarks").

    benchmarks/run [--size 1GB] [--files 20000] [--reps 3] [--smoke] [--out DIR] [--readme]

Builds a deterministic data set (seeded: mixed sizes, half compressible text, half random bytes),
starts its own SeaweedFS (tests/servers.py), and measures, alternating which side goes first,
the median of `--reps` repetitions of:

- `drkit backup` vs raw `restic backup` of the same tree: first backup, unchanged, 10 % changed;
  the last two also inside one long-lived drkit process, as the scheduler runs them
  (benchmarks/warm_backup.py)
- `drkit restore-drill` (verify: full) vs raw `restic restore --verify` + sha256 of every file
- the drill vs `restverify run` (PyPI) on the same snapshot, when restverify is installed
- `drkit report` JSON and HTML over 100 policies x 3,650 snapshots + 1,000 drills
  (benchmarks/report_scale.py)
- the daemon idle with 20 policies: CPU % and RSS (benchmarks/idle_daemon.py)
- projected full RTO vs a measured drill after tenfold growth (benchmarks/projection.py)

Writes benchmarks/results/latest.md and latest.json (or into --out): a markdown table and every
raw figure with the machine's facts. `--readme` also puts the table into README.md between its
benchmark markers. `--smoke` is the 20 MB version CI runs so the harness cannot rot; its figures
mean nothing. Every ratio comes from this run; nothing is typed in.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from factories import Env, make_env  # noqa: E402
from servers import SeaweedFS  # noqa: E402

README_BEGIN = "<!-- benchmarks:begin (written by benchmarks/run --readme) -->"
README_END = "<!-- benchmarks:end -->"


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMG]?)B?", text.strip().upper())
    if not match:
        raise argparse.ArgumentTypeError(f"size: expected e.g. 300MB or 1GB, got '{text}'")
    return int(float(match[1]) * {"": 1, "K": 10**3, "M": 10**6, "G": 10**9}[match[2]])


# --- the data set ------------------------------------------------------------------------------

def build_data(root: Path, total: int, files: int, seed: int = 13) -> None:
    """Mixed sizes (log-uniform around the mean), every other file compressible text, the rest
    random bytes: the same tree for the same arguments on every machine."""
    rng = random.Random(seed)
    weights = [rng.lognormvariate(0, 1.2) for _ in range(files)]
    scale = total / sum(weights)
    words = [rng.randbytes(6).hex() for _ in range(500)]
    for i, weight in enumerate(weights):
        path = root / f"d{i % 64:02d}" / f"f{i:06d}.{'txt' if i % 2 else 'bin'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        size = max(1, int(weight * scale))
        if i % 2:
            line = (" ".join(rng.choice(words) for _ in range(12)) + "\n").encode()
            path.write_bytes((line * (size // len(line) + 1))[:size])
        else:
            path.write_bytes(rng.randbytes(size))


def change_tenth(root: Path, round_: int) -> None:
    """Rewrite every tenth file (same size, new bytes): a 10 % change."""
    rng = random.Random(1000 + round_)
    for i, path in enumerate(sorted(p for p in root.rglob("*") if p.is_file())):
        if i % 10 == round_ % 10:
            path.write_bytes(rng.randbytes(path.stat().st_size))


# --- measuring ---------------------------------------------------------------------------------

def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=3600)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"benchmark step failed (exit {done.returncode}): {' '.join(argv)}\n{done.stderr[-2000:]}")
    return took


def alternate(rep: int, first: Callable[[], float], second: Callable[[], float]) -> tuple[float, float]:
    """Run both, the order swapped on every other repetition so neither always runs warm."""
    if rep % 2:
        b = second()
        return first(), b
    a = first()
    return a, second()


def sha256_tree(root: Path) -> float:
    started = time.perf_counter()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return time.perf_counter() - started


class Bench:
    def __init__(self, work: Path, server: SeaweedFS, data: Path, reps: int):
        self.work, self.server, self.data, self.reps = work, server, data, reps
        bucket = f"bench-{int(time.time())}"
        server.client().create_bucket(Bucket=bucket)
        self.env: Env = make_env(work / "drkit", server, bucket)
        self.cwd = work  # a neutral directory: `python -m drkit` must import this checkout, not a cwd's
        self.child_env = {**self.env.env(), "PYTHONPATH": str(ROOT)}

    def drkit(self, *args: str) -> float:
        return timed([sys.executable, "-m", "drkit", *args], self.child_env, self.cwd)

    def restic_env(self, repo: str) -> dict[str, str]:
        return {**self.child_env, "RESTIC_REPOSITORY": f"s3:{self.env.endpoint}/{self.env.bucket}/{repo}",
                "RESTIC_PASSWORD_FILE": str(self.env.password_file),
                "RESTIC_CACHE_DIR": str(self.work / "restic-cache")}

    def restic(self, repo: str, *args: str) -> float:
        return timed(["restic", *args], self.restic_env(repo), self.cwd)

    def backups(self) -> dict[str, list[tuple[float, float]]]:
        """(drkit, raw) seconds per repetition for the first, unchanged and 10 %-changed backup, by
        the CLI (`drkit backup`, as cron or a systemd unit runs it) and, for the later two, inside a
        process that stays up (`warm_*`: as `drkit scheduler run` runs it, imports paid once)."""
        figures: dict[str, list[tuple[float, float]]] = {
            "first": [], "unchanged": [], "changed": [], "warm_unchanged": [], "warm_changed": []}
        warm = WarmDrkit(self.env, self.child_env, self.cwd)
        try:
            for rep in range(self.reps):
                name = f"bench{rep}"
                self.env.write_policy(name, [self.data], retention={"keep_last": 100})
                self.drkit("repo", "init", name)
                self.restic(f"raw{rep}", "init")
                raw = ["backup", "--host", "bench", str(self.data)]
                for stage in ("first", "unchanged", "changed", "warm_unchanged", "warm_changed"):
                    if stage.endswith("changed") and not stage.endswith("unchanged"):
                        change_tenth(self.data, rep + (10 if stage.startswith("warm") else 0))
                    run = (lambda: warm.backup(name)) if stage.startswith("warm") else (lambda: self.drkit("backup", name))
                    figures[stage].append(alternate(rep, run, lambda: self.restic(f"raw{rep}", *raw)))
        finally:
            warm.close()
        return figures

    def drills(self) -> dict[str, list[float]]:
        """The drill (whole process) vs raw restore --verify + sha256, and vs restverify, on the
        last repetition's repositories (same data, same server)."""
        name, raw_repo = f"bench{self.reps - 1}", f"raw{self.reps - 1}"
        figures: dict[str, list[float]] = {"drill": [], "restore_verify": [], "sha256": [], "restverify": []}
        restverify = shutil.which("restverify") or (str(Path(sys.executable).parent / "restverify")
                                                    if (Path(sys.executable).parent / "restverify").exists() else None)
        for rep in range(self.reps):
            target = self.work / f"restored-{rep}"

            def raw() -> float:
                took = self.restic(raw_repo, "restore", "latest", "--target", str(target), "--verify")
                figures["sha256"].append(sha256_tree(target))
                shutil.rmtree(target)
                return took + figures["sha256"][-1]

            drill, restored = alternate(rep, lambda: self.drkit("restore-drill", name), raw)
            figures["drill"].append(drill)
            figures["restore_verify"].append(restored - figures["sha256"][-1])
            if restverify:
                figures["restverify"].append(timed([restverify, "run", "-r", self.restic_env(raw_repo)["RESTIC_REPOSITORY"],
                                                    "-s", str(self.data), "--json"],
                                                   {**self.restic_env(raw_repo), "HOME": str(self.work)}, self.cwd))
        return figures


class WarmDrkit:
    """benchmarks/warm_backup.py: one drkit process for every in-process backup of the run."""

    def __init__(self, env: Env, child_env: dict[str, str], cwd: Path):
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "warm_backup.py"), str(env.state),
                                      str(env.policies)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=child_env, cwd=cwd)
        json.loads(self.proc.stdout.readline() or "{}")["ready"]

    def backup(self, name: str) -> float:
        self.proc.stdin.write(name + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline() or "{}")
        if answer.get("status") != "ok":
            raise SystemExit(f"in-process backup of {name} failed: {answer}")
        return answer["seconds"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def script(name: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args], capture_output=True, text=True,
                          cwd=tempfile.gettempdir(), env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=7200)
    if done.returncode not in (0, 1):  # 1: the script's own target missed, still a measurement
        raise SystemExit(f"benchmarks/{name} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


def report_figures(smoke: bool, reps: int, work: Path) -> dict[str, float]:
    shape = ["--policies", "3", "--days", "60", "--drills", "6"] if smoke else []
    out = script("report_scale.py", "--runs", str(reps), "--dir", str(work / "report-catalog"), *shape)
    found = dict(re.findall(r"--format (json|html): median ([0-9.]+) s", out))
    rss = re.findall(r"peak RSS ([0-9.]+) MB", out)
    return {"json_s": float(found["json"]), "html_s": float(found["html"]),
            "peak_rss_mb": max(map(float, rss)), "policies": 3 if smoke else 100}


def daemon_figures(smoke: bool) -> dict:
    return json.loads(script("idle_daemon.py", "--json", "--policies", "20", "--seconds", "5" if smoke else "60"))


def projection_figures(smoke: bool, work: Path) -> dict[str, float]:
    args = ["--mb", "4", "--files", "8"] if smoke else ["--mb", "40", "--files", "40"]
    out = script("projection.py", *args, "--dir", str(work / "projection"))
    rows = re.findall(r"([0-9,.]+) MB: projected ([0-9.]+) s .*?measured RTA ([0-9.]+) s", out)
    worst = re.search(r"worst error ([0-9.]+)%", out)
    projected, measured = (float(rows[-1][1]), float(rows[-1][2])) if rows else (float("nan"), float("nan"))
    return {"projected_s": projected, "measured_s": measured,
            "worst_error_pct": float(worst[1]) if worst else float("nan"), "output": out.strip().splitlines()[-3:]}


# --- results -----------------------------------------------------------------------------------

def machine() -> dict:
    restic = subprocess.run(["restic", "version"], capture_output=True, text=True).stdout.strip()
    memory = next((int(line.split()[1]) * 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:")), None)
    return {"cores": os.cpu_count(), "memory_bytes": memory, "restic": restic, "python": platform.python_version(),
            "kernel": platform.release(), "load_average": os.getloadavg()}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(results: dict) -> str:
    b, d = results["backup"], results["drill"]
    rows = []
    stages = (("first", "`drkit backup` ÷ raw `restic backup`, first backup", "≤ 1.05"),
              ("unchanged", "`drkit backup` ÷ raw `restic backup`, unchanged re-backup", "≤ 1.10"),
              ("changed", "`drkit backup` ÷ raw `restic backup`, 10 % changed", "≤ 1.10"),
              ("warm_unchanged", "same, unchanged, in a running scheduler (no start-up)", "—"),
              ("warm_changed", "same, 10 % changed, in a running scheduler", "—"))
    for stage, what, target in stages:
        if not b.get(stage):
            continue
        drkit, raw = median([x for x, _ in b[stage]]), median([y for _, y in b[stage]])
        rows.append((what, f"{drkit:.2f} s / {raw:.2f} s", f"{drkit / raw:.2f}", target))
    drill, verify, sha = median(d["drill"]), median(d["restore_verify"]), median(d["sha256"])
    rows.append(("drill ÷ raw `restore --verify` + sha256 of every file", f"{drill:.2f} s / {verify + sha:.2f} s",
                 f"{drill / (verify + sha):.2f}", "≤ 0.85"))
    if d["restverify"]:
        rv = median(d["restverify"])
        rows.append(("drill ÷ `restverify run` (restore + compare with the source)", f"{drill:.2f} s / {rv:.2f} s",
                     f"{drill / rv:.2f}", "—"))
    else:
        rows.append(("drill ÷ `restverify run`", "restverify not installed", "—", "—"))
    r = results["report"]
    rows.append((f"`drkit report --format json`, {r['policies']} policies", f"{r['json_s']:.2f} s", "—", "< 0.5 s"))
    rows.append((f"HTML report, {r['policies']} policies", f"{r['html_s']:.2f} s", "—", "< 3 s"))
    rows.append(("report peak memory", f"{r['peak_rss_mb']:.0f} MB", "—", "< 150 MB"))
    idle = results["daemon"]
    rows.append((f"daemon idle, {idle.get('policies', 20)} policies", f"CPU {idle['cpu_pct']:.3f} %, RSS "
                 f"{idle['rss_mb']:.0f} MB", "—", "—"))
    p = results["projection"]
    rows.append(("projected full RTO vs measured drill after tenfold growth",
                 f"{p['projected_s']:.2f} s / {p['measured_s']:.2f} s",
                 f"{p['projected_s'] / p['measured_s']:.2f}" if p["measured_s"] == p["measured_s"] else "—", "±20 %"))
    m, s = results["machine"], results["settings"]
    head = (f"{s['size'] / 1e6:,.0f} MB in {s['files']:,} files, median of {s['reps']} repetitions, "
            f"{m['cores']} cores, {m['memory_bytes'] / 2**30:.0f} GiB, {m['restic']}, load {m['load_average'][0]:.1f} "
            f"at the start; {results['finished_at']}{' (SMOKE: figures mean nothing)' if s['smoke'] else ''}")
    lines = [head, "", "| measure | drkit / raw | ratio | target |", "|---|---|---|---|"]
    lines += [f"| {a} | {b_} | {c} | {t} |" for a, b_, c, t in rows]
    return "\n".join(lines) + "\n"


def write_readme(text: str) -> None:
    readme = ROOT / "README.md"
    body = readme.read_text()
    if README_BEGIN not in body or README_END not in body:
        raise SystemExit(f"README.md has no benchmark markers ({README_BEGIN} … {README_END})")
    start, end = body.index(README_BEGIN) + len(README_BEGIN), body.index(README_END)
    readme.write_text(body[:start] + "\n" + text + body[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=parse_size, default=parse_size("300MB"), help="data set size (default 300MB)")
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="20 MB, 1 repetition, small report catalog (CI)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--readme", action="store_true", help="also write the table into README.md")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one)")
    args = parser.parse_args()
    if args.smoke:
        args.size, args.files, args.reps = 20_000_000, 200, 1
    work = args.dir or Path(tempfile.mkdtemp(prefix="drkit-benchmarks-"))
    results: dict = {"schema": "drkit.benchmarks/1", "machine": machine(),
                     "settings": {"size": args.size, "files": args.files, "reps": args.reps, "smoke": args.smoke}}
    server = SeaweedFS(work / "seaweedfs")
    server.start()
    try:
        data = work / "data"
        build_data(data, args.size, args.files)
        bench = Bench(work, server, data, args.reps)
        print("backups …", file=sys.stderr)
        results["backup"] = bench.backups()
        print("drills …", file=sys.stderr)
        results["drill"] = bench.drills()
    finally:
        server.close()
    print("reports, daemon, projection …", file=sys.stderr)
    results["report"] = report_figures(args.smoke, 1 if args.smoke else args.reps, work)
    results["daemon"] = daemon_figures(args.smoke)
    results["projection"] = projection_figures(args.smoke, work)
    results["finished_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = table(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.out / "latest.md").write_text(text)
    if args.readme:
        write_readme(text)
    print(text)
    if not args.dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
