"""`drkit restore NAME --to-database` with real servers (tests/databases.py), real restic and S3:
a dump from the snapshot loaded into a running server, verified first, counted, recorded; a
non-empty database refused unless --force; no password in any argv."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from factories import Env
from test_databases import ArgvWatch, pg_policy


def restored_record(env: Env, *args: str, check: int, extra_env: dict | None = None) -> dict:
    proc = env.drkit("restore", "shop", *args, "--json", check=check, env=env.env(**(extra_env or {})))
    return json.loads(proc.stdout)


def loader_pgpass(env: Env, role: str, password: str) -> Path:
    """A pgpass file for the role that loads (the person restoring brings their own)."""
    path = env.root / "loader.pgpass"
    path.write_text(f"*:*:*:{role}:{password}\n")
    path.chmod(0o600)
    return path


def test_postgres_dump_loads_into_an_empty_database_and_refuses_a_full_one(env, postgres_server):
    db = postgres_server.create_database(rows=120)
    pg_policy(env, postgres_server, db, [])
    env.drkit("backup", "shop", check=0)
    role, password = f"loader_{secrets.token_hex(4)}", "ld-" + secrets.token_hex(12)
    target = f"{db}_back"
    postgres_server.sql(f"create role {role} login password '{password}'")
    postgres_server.sql(f"create database {target} owner {role}")
    dsn = f"host={postgres_server.root} port={postgres_server.port} user={role} dbname={target}"
    pgpass = {"PGPASSFILE": str(loader_pgpass(env, role, password))}

    with ArgvWatch([password, postgres_server.password]) as watch:
        run = restored_record(env, "--to-database", dsn, check=0, extra_env=pgpass)
    assert watch.leaks == [] and "pg_restore" in watch.seen
    loaded = run["record"]["measured"]["database"]
    assert loaded["loaded"] and loaded["database"] == db and loaded["loaded_into"] == target
    assert (loaded["tables"], loaded["rows"]) == (2, 170)  # 120 orders + 50 products, counted by the server
    assert run["record"]["kind"] == "restore" and run["record"]["result"] == "pass"
    assert run["record"]["measured"]["verified"] is True and "load" in run["record"]["phases"]
    assert postgres_server.sql("select count(*) from orders", target) == "120"
    assert password not in json.dumps(run)

    text = env.drkit("restore", "shop", "--to-database", dsn, check=2, env=env.env(**pgpass))
    assert text.stderr.startswith(f"drkit: error: database {target} on {dsn} is not empty (3 tables, views, "
                                  "sequences or routines) (load into an empty or new database, or pass --force"), text.stderr
    postgres_server.sql("insert into orders (item, qty) values ('after', 1)", target)
    forced = env.drkit("restore", "shop", "--to-database", dsn, "--force", check=0, env=env.env(**pgpass)).stdout
    assert forced.startswith(f"OK shop: loaded database {db} into {target} from snapshot "), forced
    assert "2 tables, 170 rows" in forced and f"`vacuumdb --analyze-only --dbname '{dsn}'`" in forced, forced
    assert postgres_server.sql("select count(*) from orders", target) == "120"  # the dump replaced the table

    bad = env.drkit("restore", "shop", "--to-database", dsn.replace(f"user={role}", f"user={role} password=x"),
                    check=2)
    assert "the DSN carries a password" in bad.stderr and "Traceback" not in bad.stderr
    garbled = env.drkit("restore", "shop", "--to-database", "host=/tmp dbname", check=2).stderr
    assert "'host=/tmp dbname' is not a PostgreSQL connection string (missing \"=\" after \"dbname\"" in garbled

    denied = f"{db}_denied"  # owned by postgres: since PostgreSQL 15 the role may not create in its schema public
    postgres_server.sql(f"create database {denied}")
    failed = env.drkit("restore", "shop", "--to-database", dsn.replace(target, denied), check=1, env=env.env(**pgpass))
    assert "permission denied for schema public" in failed.stderr, failed.stderr
    assert failed.stdout.startswith(f"FAILED shop: loading database {db} from snapshot "), failed.stdout
    assert "nothing was loaded (one transaction)" in failed.stdout
    assert postgres_server.sql("select count(*) from pg_tables where schemaname = 'public'", denied) == "0"

    # a database that is not there: no directory restore is implied (none was asked for), nothing loaded
    absent = dsn.replace(target, f"{db}_absent")
    missing = env.drkit("restore", "shop", "--to-database", absent, check=1, env=env.env(**pgpass))
    assert f"database {db}_absent does not exist on that server" in missing.stderr, missing.stderr
    assert missing.stdout.startswith("FAILED shop: loading a database dump from snapshot "), missing.stdout
    assert f"into {absent} did not complete after " in missing.stdout
    assert missing.stdout.rstrip().endswith("; nothing was loaded"), missing.stdout
    assert "incomplete" not in missing.stdout and "what was written" not in missing.stdout


def test_mariadb_dump_loads_into_a_new_database_and_refuses_it_then(env, mariadb_server):
    db = mariadb_server.create_database(rows=80)
    env.write_policy("shop", targets=[{"mysql": {"defaults_file": str(mariadb_server.defaults_file),
                                                 "databases": [db]}}])
    env.drkit("repo", "init", "shop", check=0)
    env.drkit("backup", "shop", check=0)
    mariadb_server.sql(f"drop database {db}")  # the disaster
    password = "ld-" + secrets.token_hex(12)
    user = f"loader_{secrets.token_hex(3)}"
    mariadb_server.sql(f"create user {user}@localhost identified by '{password}'; "
                       f"grant all on *.* to {user}@localhost")
    option_file = env.root / "restore.cnf"
    option_file.write_text(f"[client]\nuser={user}\npassword={password}\nsocket={mariadb_server.socket}\n")
    option_file.chmod(0o600)

    with ArgvWatch([password, mariadb_server.password]) as watch:
        run = restored_record(env, "--to-database", str(option_file), "--database", db, check=0)
    assert watch.leaks == [] and "mariadb" in watch.seen
    loaded = run["record"]["measured"]["database"]
    assert (loaded["tables"], loaded["rows"], loaded["loaded_into"]) == (2, 130, db)
    assert mariadb_server.sql("select count(*) from orders", db) == "80"
    assert mariadb_server.sql(f"select count(*) from information_schema.routines where routine_schema = '{db}'") == "1"

    refused = env.drkit("restore", "shop", "--to-database", str(option_file), check=2)
    assert refused.stderr.startswith(f"drkit: error: database {db} on {option_file} is not empty "), refused.stderr
    env.drkit("restore", "shop", "--to-database", str(option_file), "--force", check=0)
    assert mariadb_server.sql("select count(*) from orders", db) == "80"

    unknown = env.drkit("restore", "shop", "--to-database", str(option_file), "--database", "nope", check=2)
    assert unknown.stderr.startswith("drkit: error: --database nope: not among the dumps of snapshot "), unknown.stderr
    assert password not in refused.stderr + unknown.stderr
    both = env.drkit("restore", "shop", "--to-database", str(option_file), "--target", str(env.root / "x"), check=2)
    assert both.stderr.startswith("drkit: error: --to-database loads a dump into a server; leave out --target"), \
        both.stderr
    alone = env.drkit("restore", "shop", "--database", db, "--target", str(env.root / "x"), check=2)
    assert alone.stderr.startswith("drkit: error: --database goes with --to-database"), alone.stderr
    missing = env.drkit("restore", "shop", "--to-database", str(env.root / "no.cnf"), check=2)
    assert "for a mysql target, name an option file" in missing.stderr, missing.stderr
