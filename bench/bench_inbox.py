"""Benchmark 审批中心 with 10,000 pending approvals in a temporary SQLite file.

Run: ``python bench/bench_inbox.py`` (from the project root). Prints the median time of the inbox
page for a department manager and the GM (first page and a deep page), of the badge count, and the
query plans of the two inbox queries.
"""
import datetime
import os
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import models  # noqa: E402
from app import create_app  # noqa: E402
from policies import approvals  # noqa: E402
from views import approvals as inbox  # noqa: E402

TOTAL = 10_000
DEPARTMENTS = 10
REPEAT = 15
PASSWORD = "Bench-密码-2026"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# (rule, record type, roles, department-bound): the shapes the area modules ask for.
SHAPES = (
    ("CTR-1", "Contract", ["manager"], True), ("CRD-3", "Shipment", ["manager"], True),
    ("CRD-5", "Shipment", ["manager"], True), ("CUS-2", "Customer", ["manager"], True),
    ("VIS-1", "VisitPlan", ["manager"], True), ("SRV-1", "ServiceOrder", ["manager"], True),
    ("CMP-6", "Solution", ["gm"], False), ("ARC-10", "Destruction", ["gm"], False),
    ("ARC-11", "Handover", ["gm"], False), ("RCP-3", "Reception", ["gm"], False),
    ("ARC-5", "BorrowRequest", ["gm"], False), ("ARC-3", "AccessRequest", ["manager", "gm"], True),
    ("MOV-1", "MoveOut", ["engineering", "finance", "security"], False),
    ("CMP-5", "Complaint", ["manager", "gm"], True),
)


def make_user(username, role, department=None):
    user = models.User(username=username, display_name=username, department=department)
    user.set_password(PASSWORD)
    user.save()
    user.roles.add(models.Role.get(models.Role.code == role))
    return user


def approval_rows(requesters, departments, now):
    """Return TOTAL pending approval rows (as dicts for one bulk insert), chains kept together."""
    rng = random.Random(5)
    rows = []
    target_id = 0
    while len(rows) < TOTAL:
        rule, model, roles, bound = rng.choice(SHAPES)
        mode = approvals.CHAINS.get(rule, approvals.SEQUENTIAL)
        alternates = approvals.ALTERNATES.get(rule, {})
        dept = rng.choice(departments) if bound else None
        asked = now - datetime.timedelta(minutes=rng.randrange(60 * 24 * 60))
        target_id += 1
        for index, role in enumerate(roles, start=1):
            rows.append(dict(
                target_model=model, target_id=target_id, rule=rule,
                step=index if mode == approvals.SEQUENTIAL else 1,
                kind="notify" if mode == approvals.NOTIFY_ONLY else "approve",
                required_role="|".join(alternates.get(role, (role,))), department=dept,
                summary=f"{rule} 基准测试申请 #{target_id}", requested_by=rng.choice(requesters),
                requested_at=asked, status="pending", created_at=now, updated_at=now, version=1,
            ))
    return rows[:TOTAL]


def login(client, username):
    html = client.get("/login").get_data(as_text=True)
    token = CSRF_RE.search(html).group(1)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, "login failed"


def median_ms(fn, repeat=REPEAT):
    fn()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def page_timer(client, url):
    def fetch():
        response = client.get(url)
        assert response.status_code == 200, response.status_code
    return fetch


def main():
    workdir = tempfile.mkdtemp(prefix="bench_inbox_")
    try:
        run(workdir)
    finally:
        if not models.db.is_closed():
            models.db.close()
        shutil.rmtree(workdir, ignore_errors=True)


def run(workdir):
    """Fill ``workdir``'s database with TOTAL pending approvals and print the timings."""
    app = create_app({
        "TESTING": True, "SECRET_KEY": "bench", "INSTANCE_PATH": workdir,
        "DATABASE_URL": "sqlite:///" + os.path.join(workdir, "bench.db"),
        "ARGON2_PARAMS": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
    })
    with app.test_request_context(), models.db.connection_context():
        departments = [models.Department.create(name=f"部门{i + 1}") for i in range(DEPARTMENTS)]
        requesters = [make_user(f"sales{i + 1}", "sales", d) for i, d in enumerate(departments)]
        manager = make_user("manager1", "manager", departments[0])
        gm = make_user("gm", "gm")
        now = models.utcnow()
        rows = approval_rows([r.id for r in requesters], [d.id for d in departments], now)
        start = time.perf_counter()
        with models.db.atomic():
            # A benchmark fixture, not a business write: one multi-row insert per batch.
            for offset in range(0, len(rows), 500):
                models.Approval.insert_many(rows[offset:offset + 500]).execute()
        insert_s = time.perf_counter() - start
        pending = models.Approval.select().where(models.Approval.status == "pending").count()
        counts = {u.username: inbox.pending_count(u) for u in (manager, gm)}
        badge = {u.username: median_ms(lambda u=u: inbox.pending_count(u)) for u in (manager, gm)}
        sql_ms = {u.username: (median_ms(lambda u=u: inbox.inbox_page(u)), median_ms(lambda u=u: inbox.facets(u)))
                  for u in (manager, gm)}
        plans = {}
        for label, query in (("list", inbox.page_query(gm)),
                             ("count", models.Approval.select().where(inbox.decidable(manager)))):
            sql, params = query.sql()
            plans[label] = [r[-1] for r in models.db.execute_sql("EXPLAIN QUERY PLAN " + sql, params)]

    results = {}
    for user in (manager, gm):
        client = app.test_client()
        login(client, user.username)
        last_page = (counts[user.username] - 1) // inbox.PAGE_SIZE
        results[user.username] = (
            median_ms(page_timer(client, "/admin/approvals/")),
            median_ms(page_timer(client, f"/admin/approvals/?page={last_page}")),
            median_ms(page_timer(client, "/admin/approvals/?rule=CMP-6")),
        )

    print(f"SQLite {sqlite3.sqlite_version} · {pending} pending approvals (bulk insert {insert_s:.2f} s)"
          f" · median of {REPEAT} requests")
    print(f"{'user':<10}{'can decide':>11}{'page 1':>9}{'last page':>11}{'filtered':>10}"
          f"{'badge':>8}{'list SQL':>10}{'facets SQL':>12}   (ms)")
    for name, (first, deep, filtered) in results.items():
        print(f"{name:<10}{counts[name]:>11}{first:>9.1f}{deep:>11.1f}{filtered:>10.1f}{badge[name]:>8.1f}"
              f"{sql_ms[name][0]:>10.1f}{sql_ms[name][1]:>12.1f}")
    for label, plan in plans.items():
        print(f"plan ({label}): " + " | ".join(plan))


if __name__ == "__main__":
    main()
