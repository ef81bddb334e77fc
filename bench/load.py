"""Concurrency and crash safety under load, the long version of tests/test_processes.py.

    python bench/load.py --backend sqlite --workers 4 --clients 20 --seconds 60
    python bench/load.py --backend both

On a fresh database (a SQLite file in bench/data/, or a private durable PostgreSQL server):
1. **load**: gunicorn with ``--workers`` processes, ``--clients`` logged-in clients each creating
   departments for ``--seconds``; passes when no request failed (no 500, no refused or broken
   request), the server log has no "database is locked" and no traceback, and every acknowledged
   write is in the database;
2. **kill -9**: the same load, the whole server killed with SIGKILL after ``--kill-after`` seconds,
   ``PRAGMA integrity_check`` (SQLite), a restart, a login, and every write acknowledged before the
   kill present.
The client code is shared with the tests (tests/servers.py).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import backend  # noqa: E402
import models  # noqa: E402
import pgserver  # noqa: E402
from app import create_app  # noqa: E402
from servers import Browser  # noqa: E402
from servers import Server  # noqa: E402
from servers import integrity_ok  # noqa: E402
from servers import saved_department_names  # noqa: E402
from servers import write_under_load  # noqa: E402

PASSWORD = "Load-密码-2026"


def fresh_database(kind, folder):
    """Return (URL, pg server or None) of an empty database with the schema, a boss and the writers."""
    pg = None
    if kind == "sqlite":
        path = os.path.join(folder, "load.db")
        url = f"sqlite:///{path}"
    else:
        pg = pgserver.Server(fast=False).start()
        pg.execute("CREATE DATABASE load")
        url = pg.url("load")
    return url, pg


def seed_users(url, instance, clients):
    create_app({"DATABASE_URL": url, "INSTANCE_PATH": instance, "SECRET_KEY": "multi-process-secret"})
    with models.db.connection_context():
        role = models.Role.get(models.Role.code == "admin")
        for username in ["boss"] + writers(clients):
            user = models.User(username=username, display_name=username, clearance="top_secret")
            user.set_password(PASSWORD)
            user.save()
            user.roles.add(role)


def writers(clients):
    return [f"writer{i:02d}" for i in range(clients)]


def server_log_problems(server):
    log = server.log()
    return [word for word in ("database is locked", "Traceback", "Internal Server Error") if word in log]


def load_phase(url, instance, args, echo):
    server = Server(url, instance, workers=args.workers)
    acknowledged, failures = [], []
    started = time.time()
    try:
        for thread in write_under_load(server.base, writers(args.clients), PASSWORD, args.seconds,
                                       acknowledged, failures):
            thread.join()
        elapsed = time.time() - started
        problems = server_log_problems(server)
    finally:
        server.stop()
    saved = saved_department_names()
    lost = [name for name in acknowledged if name not in saved]
    result = dict(acknowledged=len(acknowledged), per_second=len(acknowledged) / elapsed, failures=len(failures),
                  lost=len(lost), log=problems)
    echo(f"  load: {result}")
    for line in failures[:5]:
        echo(f"    failure: {line}")
    result["ok"] = not failures and not lost and not problems and bool(acknowledged)
    return result


def database_check():
    """SQLite: ``PRAGMA integrity_check``; PostgreSQL: amcheck's ``bt_index_check`` on every B-tree index.

    Returns "ok" or what failed."""
    if not backend.is_postgres():
        return "ok" if integrity_ok() else "integrity_check failed"
    models.db.connect(reuse_if_open=True)
    try:
        models.db.execute_sql("CREATE EXTENSION IF NOT EXISTS amcheck")
        indexes = models.db.execute_sql(
            "SELECT c.oid, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'btree' "
            "AND c.relnamespace = 'public'::regnamespace").fetchall()
        for oid, name in indexes:
            try:
                models.db.execute_sql("SELECT bt_index_check(%s, true)", (oid,))
            except Exception as exc:  # noqa: BLE001 - a corrupt index is the finding to report
                return f"{name}: {exc}"
        return f"ok (amcheck, {len(indexes)} indexes)"
    finally:
        models.db.close()


def kill_phase(url, instance, args, echo):
    server = Server(url, instance, workers=args.workers)
    acknowledged, failures = [], []
    threads = write_under_load(server.base, writers(args.clients), PASSWORD, args.kill_after + 30,
                               acknowledged, failures, tag="杀进程前部门")
    time.sleep(args.kill_after)
    before = len(acknowledged)
    server.kill()
    for thread in threads:
        thread.join()
    integrity = database_check()
    restarted = Server(url, instance, workers=1)
    try:
        browser = Browser()
        browser.login(restarted.base, "boss", PASSWORD)
        status, _ = browser.request(restarted.base + "/admin/department/")
    finally:
        restarted.stop()
    saved = saved_department_names()
    lost = [name for name in acknowledged if name not in saved]
    result = dict(acknowledged=len(acknowledged), acknowledged_at_kill=before, integrity=integrity,
                  restart_status=status, lost=len(lost),
                  broken_requests=sum(1 for f in failures if "HTTP" not in f),
                  error_pages=sum(1 for f in failures if "HTTP" in f))
    echo(f"  kill -9: {result}")
    result["ok"] = (integrity.startswith("ok") and status == 200 and not lost and bool(acknowledged)
                    and not result["error_pages"])
    return result


def run(kind, args, echo):
    folder = tempfile.mkdtemp(prefix=f"load-{kind}-", dir=os.path.join(ROOT, "bench", "data"))
    instance = os.path.join(folder, "instance")
    os.makedirs(instance)
    url, pg = fresh_database(kind, folder)
    try:
        seed_users(url, instance, args.clients)
        models.db.close()
        echo(f"{kind}: {args.workers} workers × {args.clients} clients × {args.seconds} s")
        load = load_phase(url, instance, args, echo)
        killed = kill_phase(url, instance, args, echo)
        return load, killed
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(folder, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--kill-after", type=float, default=15, help="seconds of load before kill -9")
    args = parser.parse_args(argv)
    os.makedirs(os.path.join(ROOT, "bench", "data"), exist_ok=True)
    kinds = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    lines = ["| backend | writes acknowledged (per s) | failed requests | 'database is locked' / tracebacks | "
             "lost | kill -9: acknowledged | database check | restart | lost after kill |",
             "| --- | ---: | ---: | --- | ---: | ---: | --- | --- | ---: |"]
    ok = True
    for kind in kinds:
        load, killed = run(kind, args, lambda m: print(m, flush=True))
        ok = ok and load["ok"] and killed["ok"]
        name = "SQLite" if kind == "sqlite" else "PostgreSQL"
        lines.append(f"| {name} | {load['acknowledged']:,} ({load['per_second']:.0f}/s) | {load['failures']} | "
                     f"{', '.join(load['log']) or 'none'} | {load['lost']} | {killed['acknowledged']:,} | "
                     f"{killed['integrity']} | "
                     f"HTTP {killed['restart_status']} | {killed['lost']} |")
    print("\n".join(lines))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
