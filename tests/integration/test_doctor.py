"""drkit doctor against a real SeaweedFS: each broken configuration is named by its real cause, in
one line, and a good one passes."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lines_of(proc) -> dict[str, str]:
    """check name -> its line (status and message)"""
    found = {}
    for line in proc.stdout.splitlines()[1:]:
        parts = line.split(maxsplit=2)
        if len(parts) == 3 and parts[0] in ("OK", "WARN", "FAIL", "SKIP"):
            found.setdefault(parts[1], line.strip())
    return found


def test_a_good_policy_passes_every_check(env, source):
    env.write_policy("good", [source], schedule={"backup": "every 6 hours"})
    uninitialized = env.drkit("doctor", "good", check=1)
    assert lines_of(uninitialized)["repository"].startswith(
        f"FAIL  repository     no restic repository at s3:{env.endpoint}/{env.bucket}/good — run: drkit repo init good")
    env.drkit("repo", "init", "good", check=0)
    proc = env.drkit("doctor", "good", check=0)
    found = lines_of(proc)
    assert [name for name in found] == ["restic", "state", "url", "dns", "tcp", "http", "credentials", "bucket",
                                        "clock", "object", "key", "password", "repository", "sandbox",
                                        "schedule"]
    assert all(not line.startswith(("FAIL", "SKIP")) for line in found.values()), proc.stdout
    assert found["bucket"] == f"OK    bucket         bucket '{env.bucket}' answers (path-style addressing)"
    assert found["password"] == f"OK    password       password file {env.password_file} (0600)"
    assert "secret" not in proc.stdout.lower() and env.s3_env["AWS_SECRET_ACCESS_KEY"] not in proc.stdout
    doc = json.loads(env.drkit("doctor", "good", "--json", check=0).stdout)
    assert doc["schema"] == "drkit.doctor/1" and doc["ok"] is True and doc["problems"] == []
    [policy] = doc["policies"]
    assert policy["policy"] == "good" and {f["status"] for f in policy["findings"]} <= {"OK", "WARN"}


def test_each_broken_configuration_is_named_by_its_real_cause(env, source):
    host, port = urlsplit(env.endpoint).hostname, urlsplit(env.endpoint).port
    closed = free_port()
    url = lambda base, bucket=env.bucket: {"url": f"s3:{base}/{bucket}/x", "password_file": str(env.password_file)}  # noqa: E731
    env.write_policy("wrongport", [source], repository=url(f"http://{host}:{closed}"))
    env.write_policy("tlsplain", [source], repository=url(f"https://{host}:{port}"))
    env.write_policy("nobucket", [source], repository=url(env.endpoint, "no-such-bucket"))
    env.write_policy("creds", [source])
    loose = env.root / "loose-password"
    loose.write_text("correct horse battery staple\n")
    loose.chmod(0o644)
    env.write_policy("loose", [source], repository={"url": f"s3:{env.endpoint}/{env.bucket}/loose",
                                                    "password_file": str(loose)})
    env.drkit("repo", "init", "loose", check=0)

    cases = {
        "wrongport": ("tcp", f"FAIL  tcp            nothing listens on {host}:{closed} (connection refused) — check "
                             "the port in repository.url and that the S3 server runs"),
        "tlsplain": ("tls", f"FAIL  tls            {host}:{port} does not speak TLS (a plain-HTTP port?) — use "
                            f"s3:http://{host}:{port}/… if the server has no TLS, or its TLS port"),
        "nobucket": ("bucket", f"FAIL  bucket         bucket 'no-such-bucket' does not exist on {env.endpoint} — run: "
                               "drkit repo init nobucket (or fix the bucket in repository.url)"),
    }
    for name, (check, line) in cases.items():
        proc = env.drkit("doctor", name, check=1)
        found = lines_of(proc)
        assert found[check] == line, proc.stdout
        assert [ln for ln in found.values() if ln.startswith("FAIL")] == [line], proc.stdout  # one cause, once
        assert found["repository"].startswith("SKIP  repository     needs"), proc.stdout

    wrong_secret = env.drkit("doctor", "creds", check=1, env=env.env(AWS_SECRET_ACCESS_KEY="not-the-secret"))
    key = env.s3_env["AWS_ACCESS_KEY_ID"]
    assert lines_of(wrong_secret)["credentials"] == (
        f"FAIL  credentials    the secret key does not belong to access key {key[:4]}…{key[-2:]} — check "
        "AWS_SECRET_ACCESS_KEY or repository.aws_profile")
    wrong_key = env.drkit("doctor", "creds", check=1, env=env.env(AWS_ACCESS_KEY_ID="AKIANOSUCHKEY"))
    assert lines_of(wrong_key)["credentials"].startswith("FAIL  credentials    the S3 server does not know access key "
                                                         "AKIA…EY")

    loose_proc = env.drkit("doctor", "loose", check=0)  # a warning, not a failure
    assert lines_of(loose_proc)["password"] == (f"WARN  password       password file {loose} is 0644: other users can "
                                                f"read the repository password — chmod 600 {loose}")


def test_a_policy_error_is_exit_2_with_file_and_line(env, source):
    path = env.write_policy("typo", [source], repository={"url": f"s3:htp://{env.endpoint[7:]}/{env.bucket}/t",
                                                          "password_file": str(env.password_file)})
    proc = env.drkit("doctor", check=2)
    [line] = [ln for ln in proc.stdout.splitlines() if ln.startswith("FAIL")]
    assert line.startswith(f"FAIL  policy         {path}:") and "repository.url" in line and "unknown scheme 'htp'" in line
    validate = env.drkit("policy", "validate", check=2)
    assert "unknown scheme 'htp'" in validate.stderr
