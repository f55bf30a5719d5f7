"""Notifications reach real HTTP and SMTP servers on loopback, per target and event; a target that
cannot be reached is a warning, never a failed run."""

from __future__ import annotations

import json
import socket
import time
from datetime import datetime, timedelta, timezone

import pytest
from receivers import HttpReceiver, SmtpReceiver, closed_port

from drkit import notify
from drkit.core import errors
from drkit.core.outcome import RunStatus
from drkit.core.policy import Policy
from drkit.engines.workspace import Workspace
from drkit.evidence.records import Record
from drkit.jobs.lifecycle import RunOutcome, run_locked
from drkit.notify import event_for, notify_outcome, notify_start

T0 = datetime(2026, 3, 4, 1, 30, tzinfo=timezone.utc)
SNAPSHOT = "ab" * 32


def policy_with(*targets: dict) -> Policy:
    return Policy.model_validate({
        "version": 1, "name": "shop-db", "objectives": {"rpo": "1d", "rto": "4h"},
        "targets": [{"path": "/srv/data"}], "repository": {"url": "/srv/repo", "password_env": "PW"},
        "notify": list(targets),
    })


def backup_outcome(status: str = "ok") -> RunOutcome:
    record = Record(kind="backup", policy="shop-db", started_at=T0, finished_at=T0 + timedelta(seconds=42),
                    result="pass" if status == "ok" else "error", snapshot_id=SNAPSHOT if status == "ok" else None,
                    files=12)
    error = None if status == "ok" else errors.ResticError("backup: restic exited 1: connection refused")
    return RunOutcome("shop-db", "backup", RunStatus(status), error, record, T0, T0 + timedelta(seconds=42))


@pytest.mark.parametrize("status, event", [
    ("ok", "success"), ("breach", "breach"), ("failed", "failure"), ("partial", "failure"),
    ("interrupted", "failure"), ("locked", "failure"), ("missed", "failure"), ("error", "failure"),
])
def test_every_status_but_ok_and_breach_is_a_failure(status: str, event: str) -> None:
    assert event_for(status) == event


def test_webhook_gets_the_run_as_json_on_its_default_events() -> None:
    with HttpReceiver() as hook:
        policy = policy_with({"webhook": hook.url + "/hooks/drkit"})  # default on: failure, breach
        assert notify_start(policy, "backup") == []
        assert notify_outcome(policy, "backup", backup_outcome("ok")) == []
        assert hook.requests == []
        assert notify_outcome(policy, "backup", backup_outcome("failed")) == []
        [request] = hook.requests
    assert request.path == "/hooks/drkit"
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert body["policy"] == "shop-db" and body["job"] == "backup"
    assert body["status"] == "failed" and body["event"] == "failure" and body["exit_code"] == 1
    assert body["message"] == "backup: restic exited 1: connection refused"
    assert body["evidence_digest"] == backup_outcome("failed").record.digest()


def test_healthcheck_pings_start_success_and_fail_paths() -> None:
    with HttpReceiver() as hc:
        policy = policy_with({"healthcheck": hc.url + "/ping/5f7e"})
        notify_start(policy, "backup")
        notify_outcome(policy, "backup", backup_outcome("ok"))
        notify_outcome(policy, "backup", backup_outcome("failed"))
        breach = RunOutcome("shop-db", "drill", RunStatus.BREACH, errors.BreachError("drill slower than RTO"), None, T0, T0)
        notify_outcome(policy, "drill", breach)
        assert hc.paths() == ["/ping/5f7e/start", "/ping/5f7e", "/ping/5f7e/fail", "/ping/5f7e/fail"]
        assert b"snapshot: " + SNAPSHOT.encode() in hc.requests[1].body


def test_each_target_gets_only_the_events_it_asked_for() -> None:
    with HttpReceiver() as a, HttpReceiver() as b:
        policy = policy_with({"webhook": a.url + "/a", "on": ["success"]},
                             {"webhook": b.url + "/b", "on": ["start", "breach"]})
        notify_start(policy, "check")
        notify_outcome(policy, "check", backup_outcome("ok"))
        notify_outcome(policy, "check", backup_outcome("failed"))
        assert [json.loads(r.body)["event"] for r in a.requests] == ["success"]
        assert [json.loads(r.body)["event"] for r in b.requests] == ["start"]


def test_an_unreachable_target_is_a_warning_and_the_others_still_get_the_message(
        caplog: pytest.LogCaptureFixture) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/secret-token-123"
    with HttpReceiver(status=500) as broken, HttpReceiver() as good:
        policy = policy_with({"webhook": dead}, {"webhook": broken.url + "/x"}, {"webhook": good.url + "/ok"})
        warnings = notify_outcome(policy, "backup", backup_outcome("failed"))
        assert len(good.requests) == 1
    assert len(warnings) == 2
    assert "refused" in warnings[0].lower()
    assert "HTTP 500" in warnings[1]
    assert all("secret-token-123" not in w for w in warnings + [caplog.text])  # URL paths are secrets
    assert "notification to webhook http://127.0.0.1:" in caplog.text


def test_a_silent_server_costs_at_most_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notify.registry, "TIMEOUT_S", 0.5)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)  # accepts connections, never answers
        policy = policy_with({"webhook": f"http://127.0.0.1:{silent.getsockname()[1]}/"})
        started = time.monotonic()
        warnings = notify_outcome(policy, "backup", backup_outcome("failed"))
        assert time.monotonic() - started < 3
    assert warnings and "within" in warnings[0]


def test_email_goes_to_the_smtp_server_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpReceiver() as smtp:
        monkeypatch.setenv("DRKIT_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("DRKIT_SMTP_PORT", str(smtp.port))
        policy = policy_with({"email": {"to": ["ops@example.com", "dba@example.com"], "from": "drkit@example.com"}})
        assert notify_outcome(policy, "backup", backup_outcome("failed")) == []
        [mail] = smtp.mails
    assert mail.sender == "drkit@example.com"
    assert mail.recipients == ["ops@example.com", "dba@example.com"]
    assert "Subject: [drkit] drkit shop-db backup FAILED" in mail.data
    assert "connection refused" in mail.data


def test_email_host_and_port_in_the_policy_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRKIT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DRKIT_SMTP_PORT", str(closed_port()))
    with SmtpReceiver() as smtp:
        policy = policy_with({"email": {"to": ["ops@example.com"], "smtp_host": "127.0.0.1", "smtp_port": smtp.port},
                              "on": ["success"]})
        assert notify_outcome(policy, "backup", backup_outcome("ok")) == []
        assert len(smtp.mails) == 1
        assert "SUCCESS" not in smtp.mails[0].data and "drkit shop-db backup OK" in smtp.mails[0].data


def test_a_locked_run_notifies_start_and_failure_and_a_good_one_success(tmp_path) -> None:
    with HttpReceiver() as hc:
        policy = policy_with({"healthcheck": hc.url + "/p"})
        ws = Workspace(tmp_path / "state")
        holder = ws.lock(policy.name, "backup").acquire()
        try:
            locked = run_locked(ws, policy, "backup", lambda ctx: None)
        finally:
            holder.release()
        assert (locked.status, locked.exit_code, locked.record) == ("locked", 5, None)
        assert hc.paths() == ["/p/start", "/p/fail"]
        assert b"already running" in hc.requests[1].body
        assert run_locked(ws, policy, "backup", lambda ctx: None).status == "ok"
        assert hc.paths()[2:] == ["/p/start", "/p"]
