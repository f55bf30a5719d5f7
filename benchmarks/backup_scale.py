"""What `drkit backup` costs over raw `restic backup`, and whether that cost grows with the
number of snapshots in the repository (docs/performance.md).

Builds incompressible data (default 300 MB in 63 files), starts its own SeaweedFS
(tests/servers.py), and measures, alternating drkit and raw restic (each into its own
repository) so both see the same machine state:
  1. the first backup;
  2. unchanged re-backups (median of --runs) with 1 snapshot in the repository;
  3. the same after adding 1,000 and 5,000 more snapshots (--scale), written directly into both
     repositories: restic snapshot files encrypted with the repository's key (restic's design
     document: scrypt -> master key, AES-256-CTR + Poly1305-AES), ~1 ms each instead of one
     restic process (~0.7 s of key derivation) each. drkit's catalog learns them at the first
     backup after they appear (one full listing, not timed); the timed backups are the steady state.

    python benchmarks/backup_scale.py [--mb 300] [--files 63] [--runs 5] [--scale 1000,5000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from cryptography.hazmat.primitives.poly1305 import Poly1305  # noqa: E402
from drill_vs_restic import build_data  # noqa: E402 - benchmarks/ is the script's own directory
from factories import benchmark_env  # noqa: E402


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]} exited {proc.returncode}: {proc.stdout[-400:]} {proc.stderr[-400:]}")
    return time.perf_counter() - start


class RepositoryKey:
    """A restic repository's master key, to write snapshot files the way restic does."""

    def __init__(self, s3, bucket: str, prefix: str, password: bytes):
        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        [key_name] = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/keys/")["Contents"]]
        key = json.loads(s3.get_object(Bucket=bucket, Key=key_name)["Body"].read())
        user = hashlib.scrypt(password, salt=base64.b64decode(key["salt"]), n=key["N"], r=key["r"], p=key["p"],
                              maxmem=1 << 30, dklen=64)
        master = json.loads(_decrypt(user[:32], base64.b64decode(key["data"])))
        self.encrypt_key = base64.b64decode(master["encrypt"])
        self.mac_k, self.mac_r = base64.b64decode(master["mac"]["k"]), base64.b64decode(master["mac"]["r"])

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(16)
        encryptor = Cipher(algorithms.AES(self.encrypt_key), modes.CTR(nonce)).encryptor()
        ciphertext = encryptor.update(plaintext) + encryptor.finalize()
        aes_k = Cipher(algorithms.AES(self.mac_k), modes.ECB()).encryptor()
        mac_key = self.mac_r + aes_k.update(nonce) + aes_k.finalize()  # Poly1305 clamps r itself, as restic does
        return nonce + ciphertext + Poly1305.generate_tag(mac_key, ciphertext)

    def add_snapshots(self, count: int, tree: str, start: datetime) -> None:
        for i in range(count):
            body = json.dumps({"time": (start + timedelta(minutes=i)).isoformat(), "tree": tree,
                               "paths": ["/synthetic"], "hostname": "synthetic", "username": "bench",
                               "tags": ["synthetic"]}).encode()
            blob = self.encrypt(body)  # plain JSON: restic reads uncompressed snapshot files in any version
            self.s3.put_object(Bucket=self.bucket, Key=f"{self.prefix}/snapshots/{hashlib.sha256(blob).hexdigest()}",
                               Body=blob)


def _decrypt(key: bytes, data: bytes) -> bytes:
    nonce, ciphertext = data[:16], data[16:-16]
    decryptor = Cipher(algorithms.AES(key), modes.CTR(nonce)).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--files", type=int, default=63)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", default="1000,5000", help="snapshot counts to add up to, comma-separated")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one)")
    args = parser.parse_args()
    with benchmark_env(args.dir, "drkit-backup-bench-") as (work, env):
        data = work / "data"
        build_data(data, args.mb, args.files)
        env.write_policy("bench", [data])
        env.drkit("repo", "init", "bench", check=0)
        raw_env = env.env(RESTIC_PASSWORD_FILE=str(env.password_file), RESTIC_REPOSITORY=f"s3:{env.endpoint}/{env.bucket}/raw",
                          RESTIC_CACHE_DIR=str(env.state / "restic-cache"))
        subprocess.run(["restic", "init"], env=raw_env, check=True, capture_output=True)
        drkit = [sys.executable, "-m", "drkit", "backup", "bench"]
        raw = ["restic", "backup", "--json", "--tag", "raw", str(data)]
        rows = []
        first_raw, first_drkit = timed(raw, raw_env), timed(drkit, env.env())
        rows.append(("first backup", 1, first_raw, first_drkit))
        s3 = env_client(env)
        password = env.password_file.read_bytes().strip()
        keys = {name: RepositoryKey(s3, env.bucket, name, password) for name in ("bench", "raw")}
        trees = {name: json.loads(subprocess.run(["restic", "snapshots", "--json", "--latest", "1"],
                                                 env={**raw_env, "RESTIC_REPOSITORY": f"s3:{env.endpoint}/{env.bucket}/{name}"},
                                                 capture_output=True, text=True, check=True).stdout)[0]["tree"]
                 for name in keys}
        count = 1
        for target in [1, *(int(n) for n in args.scale.split(",") if n)]:
            if target > count:
                start = datetime(2020, 1, 1, tzinfo=timezone.utc) + timedelta(days=count)
                for name, key in keys.items():
                    key.add_snapshots(target - count, trees[name], start)
                timed(drkit, env.env())  # the catalog learns the new snapshots (one full listing)
                subprocess.run(raw, env=raw_env, check=True, capture_output=True)
                count = target
            raw_s, drkit_s = [], []
            for _ in range(args.runs):
                raw_s.append(timed(raw, raw_env))
                drkit_s.append(timed(drkit, env.env()))
            rows.append(("unchanged re-backup", count, statistics.median(raw_s), statistics.median(drkit_s)))
            count += 2 * args.runs + (1 if target > 1 else 0)
        print(f"data: {args.mb} MB in {args.files} files; medians of {args.runs} runs")
        print("| measure | snapshots | raw restic | drkit backup | drkit - restic | ratio |")
        print("|---|---|---|---|---|---|")
        for what, snapshots, raw_t, drkit_t in rows:
            print(f"| {what} | {snapshots:,} | {raw_t:.2f} s | {drkit_t:.2f} s | {drkit_t - raw_t:+.2f} s | "
                  f"{drkit_t / raw_t:.2f} |")
        return 0


def env_client(env):
    import boto3

    return boto3.client("s3", endpoint_url=env.endpoint, aws_access_key_id=env.s3_env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env.s3_env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")


if __name__ == "__main__":
    raise SystemExit(main())
