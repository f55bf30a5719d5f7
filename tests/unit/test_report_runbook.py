"""`drkit runbook`: the recovery runbook names contacts, commands, restore locations, measured times."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from report_builders import History, at, make_policy

from drkit.views.runbook import render
from drkit.views.status import policy_status

NOW = at(60)


def test_runbook_has_contacts_commands_target_locations_and_measured_figures(tmp_path):
    history = History(tmp_path / "state")
    history.backup(NOW - timedelta(hours=3), NOW - timedelta(hours=2), size=5_000_000)
    history.drill(NOW - timedelta(hours=1, minutes=30), 0.5)
    history.list()
    policy = make_policy(
        description="Orders database of the web shop",
        business={"tier": 1, "owner": "Jane <jane@example.com>", "function": "Order fulfilment",
                  "contacts": [{"role": "incident-commander", "name": "Ops on call", "phone": "+46 123"}]},
        targets=[{"path": "/srv/uploads"}, {"postgres": {"dsn": "postgresql://backup@db/shop",
                                                         "password_file": "/etc/drkit/shop-pg.pass"}},
                 {"sqlite": "/var/lib/app/app.db"}, {"command": {"run": ["mysqldump", "shop"], "filename": "shop.sql"}}],
        repository={"url": "s3:https://user:keyid@s3.example.com/bucket/db", "password_env": "SHOP_RESTIC_PW"},
        drill={"checks": [{"file_exists": "srv/uploads/logo.png"}]})
    status = policy_status(history.catalog, history.state, policy, NOW)
    text = render(policy, Path("/etc/drkit/policies/db.yaml"), status, history.catalog.snapshots("db"),
                  Path("/var/lib/drkit/staging/db"), NOW)
    assert text.startswith("# Recovery runbook: db\n\nOrders database of the web shop")
    assert "| incident-commander | Ops on call | +46 123 |" in text
    assert "export RESTIC_REPOSITORY='s3:https://s3.example.com/bucket/db'" in text
    assert 'export RESTIC_PASSWORD="$SHOP_RESTIC_PW"' in text
    assert "keyid" not in text  # no secret from a URL (a DSN cannot carry one: tests/unit/test_targets.py)
    assert "`$RESTORE/srv/uploads`" in text
    assert "`$RESTORE/var/lib/drkit/staging/db/postgres`" in text and "pg_restore" in text
    assert "roles.sql" in text and "<database>.dump" in text
    assert "`$RESTORE/var/lib/drkit/staging/db/sqlite/app.db`" in text
    assert "`$RESTORE/var/lib/drkit/staging/db/command/shop.sql`" in text
    assert "last completed drill: 2026-03-01 23:00:00 UTC, result **pass**, recovery time 30m" in text
    assert "Data you would lose restoring the newest snapshot now: **3h**" in text
    assert "Latest backup size: 5,000,000 bytes" in text
    assert "file_exists" in text
    assert f"`{history.snapshots[0].id[:8]}`" in text
