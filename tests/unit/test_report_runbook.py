"""`drkit runbook`: the recovery runbook names contacts, commands, restore locations, measured times."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from report_builders import History, at, make_policy

from drkit.core.policy import load_policies
from drkit.views.recovery_plan import build_plan, render_markdown
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


def test_runbook_and_projection_show_the_database_phases_and_scale_the_load_with_the_dumps(tmp_path):
    """The last drill's db_start / db_load / queries per database are in the runbook; the projected
    full restore takes the load out of the drill's time and scales it by the newest backup's dumps."""
    history = History(tmp_path / "state")
    dumped = {"data_added": 0, "files_new": 0, "files_changed": 0, "paths": [], "manifest_files": 3,
              "manifest": "/var/lib/drkit/staging/db/drkit-manifest.json", "manifest_sha256": "0" * 64,
              "hashed_bytes": 0, "restic_duration_s": 1.0, "databases": [{"target": "postgres", "kind": "postgres", "database": "shop", "bytes": 300_000_000,
                             "duration_s": 9.0, "server_version": "15.4"}]}
    history.backup(NOW - timedelta(hours=3), NOW - timedelta(hours=2), size=1_000_000_000, measured=dumped)
    servers = [{"kind": "postgres", "target": "postgres", "server_version": "15.4", "databases": ["shop", "crm"],
                "run_as": "postgres"}]
    # 1,000 MB restored in 600 s (first byte at once), 100 MB of dumps loaded in 1,200 s + 100 s, 1,800 s in all
    history.drill(NOW - timedelta(hours=1, minutes=30), 0.5, phases={
        "restore": 500.0, "verify": 100.0, "db_start:postgres": 2.5, "db_load:shop": 1200.0, "db_load:crm": 100.0,
        "queries:shop": 0.75}, measured={"bytes_restored": 1_000_000_000, "restore_first_byte_s": 0.0,
                                         "databases": servers, "database_bytes": 100_000_000})
    history.list()
    policy = make_policy(targets=[{"postgres": {"dsn": "host=/run/postgresql user=backup", "databases": ["shop"]}}])
    status = policy_status(history.catalog, history.state, policy, NOW)
    projection = status.report.rto.projection
    # fixed 1,800 - 600 - 1,300 = -100 -> 0; files 1 GB at 600 s/GB; dumps 300 MB at 13 s/MB
    assert projection.dump_bytes == 300_000_000 and projection.database_load_s == pytest.approx(3900)
    assert status.report.rto.projected_full_rto_s == pytest.approx(600 + 3900)
    text = render(policy, Path("/etc/drkit/policies/db.yaml"), status, history.catalog.snapshots("db"),
                  Path("/var/lib/drkit/staging/db"), NOW)
    assert "| target | database | server start | load | queries |" in text, text
    assert "| postgres | shop | 2.5s | 20m | 0.8s |" in text, text
    assert "| postgres | crm | ″ | 1m 40s | no query check |" in text, text

    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "db.yaml").write_text("""\
version: 1
name: db
objectives: {rpo: 1d, rto: 4h}
targets: [{postgres: {dsn: host=/run/postgresql user=backup, databases: [shop, crm]}}]
repository: {url: "s3:http://127.0.0.1:9/b/db", password_file: /etc/pw}
""")
    plan = render_markdown(build_plan(load_policies([policies]), history.catalog, history.state, policies,
                                      Path("/srv/restore"), NOW))
    assert "| postgres | shop | 2.5s | 20m | 0.8s |" in plan and "| postgres | crm | ″ | 1m 40s |" in plan, plan


def test_runbook_of_a_policy_with_a_copy_says_how_to_restore_from_it(tmp_path):
    """The runbook is read when the first repository may be the thing that is gone: it names each
    copy, its repository and password source, and the --repository of drkit restore."""
    history = History(tmp_path / "state")
    policy = make_policy(repository=None, repositories=[
        {"name": "primary", "url": "s3:https://s3.example.com/bucket/db", "password_env": "SHOP_RESTIC_PW"},
        {"name": "offsite", "url": "s3:https://user:keyid@backup.example.net/copy/db",
         "password_file": "/etc/drkit/keys/db-copy.pass"}])
    status = policy_status(history.catalog, history.state, policy, NOW)
    text = render(policy, Path("/etc/drkit/policies/db.yaml"), status, [], Path("/var/lib/drkit/staging/db"), NOW)
    assert "# copy offsite\nexport RESTIC_REPOSITORY='s3:https://backup.example.net/copy/db'\n" in text
    assert ("export RESTIC_PASSWORD_FILE=/etc/drkit/keys/db-copy.pass   # lost with the host? "
            "drkit keys recover db --repository offsite --identity RECOVERY_KEY") in text
    assert "`drkit restore db --repository NAME …`" in text and "keyid" not in text
    one = render(make_policy(), Path("/etc/drkit/policies/db.yaml"), status, [], Path("/var/lib/drkit/staging/db"), NOW)
    assert "a copy holds the same snapshots" not in one
