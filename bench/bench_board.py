"""Benchmark 投诉看板 with a month of 2,000 complaints (and a year of 24,000) in a temporary SQLite file.

Run: ``python bench/bench_board.py`` (from the project root). Prints, for each size, the median time and
the number of SQL queries of the board (first pages, a deep page, "breached only"), a complaint's page,
the monthly statistics page and its XLSX download.
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
from policies import complaints as rules  # noqa: E402

SIZES = (2_000, 24_000)
REPEAT = 9
PASSWORD = "Bench-密码-2026"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
STATUSES = ("received", "investigating", "solution_pending", "replied", "return_visit", "closed", "rejected")
# Most complaints of a busy month are finished; the open ones spread over the workflow.
WEIGHTS = (6, 5, 3, 3, 3, 70, 10)


def bulk_insert(model, rows, size=400):
    """Insert benchmark fixtures (not business writes) in batches."""
    with models.db.atomic():
        for offset in range(0, len(rows), size):
            model.insert_many(rows[offset:offset + size]).execute()


def fill(total, now, departments, users):
    """Insert ``total`` complaints received over the last ``total / 2000`` months, with their facts."""
    rng = random.Random(total)
    months = max(total // 2000, 1)
    span = datetime.timedelta(days=30 * months)
    rows = []
    for i in range(total):
        received = now - datetime.timedelta(seconds=rng.randrange(int(span.total_seconds())))
        status = rng.choices(STATUSES, WEIGHTS)[0]
        if received > now - datetime.timedelta(days=10) and status in ("closed", "rejected"):
            status = "received"
        closed = received + datetime.timedelta(hours=rng.randrange(4, 240)) if status in ("closed", "rejected") else None
        rows.append(dict(
            number=f"TS-B{total}-{i:06d}", received_at=received, channel=rng.choice(("phone", "visit", "wechat")),
            complainant=f"投诉人{i}", category=rng.choice(("product", "service", "contract", "suggestion")),
            severity="major" if rng.random() < 0.02 else "general", content="基准测试投诉",
            department=rng.choice(departments), assignee=rng.choice(users), status=status,
            due_at=received + datetime.timedelta(days=7), onsite_due_at=received + datetime.timedelta(hours=24),
            closed_at=closed, satisfaction="satisfied" if status == "closed" else None,
            created_at=now, updated_at=now, version=1))
    bulk_insert(models.Complaint, rows)
    ids = [(pk, received, status) for pk, received, status in
           models.Complaint.select(models.Complaint.id, models.Complaint.received_at, models.Complaint.status).tuples()]
    updates = []
    investigations = []
    for pk, received, status in ids:
        for n in range(rng.randrange(0, 4)):
            at = received + datetime.timedelta(hours=rng.randrange(1, 200))
            if at < now:
                updates.append(dict(complaint=pk, at=at, note="进展", notified_customer=rng.random() < 0.7,
                                    created_at=now, updated_at=now, version=1))
        if status != "received" and status != "rejected":
            investigations.append(dict(complaint=pk, started_at=received + datetime.timedelta(hours=3),
                                       created_at=now, updated_at=now, version=1))
    bulk_insert(models.ComplaintUpdate, updates)
    bulk_insert(models.Investigation, investigations)


def login(client, username):
    html = client.get("/login").get_data(as_text=True)
    token = CSRF_RE.search(html).group(1)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, "login failed"


class Counter:
    """Count the SQL statements run while the block runs."""

    def __enter__(self):
        self.count = 0
        self.original = models.db.obj.execute_sql

        def counting(sql, params=None, *args, **kwargs):
            self.count += 1
            return self.original(sql, params, *args, **kwargs)

        models.db.obj.execute_sql = counting
        return self

    def __exit__(self, *exc):
        models.db.obj.execute_sql = self.original


def measure(client, url):
    """Return (median ms, SQL statements) of GET ``url``."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - start) * 1000)
    with Counter() as counter:
        client.get(url)
    return statistics.median(times), counter.count


def run(workdir, total):
    app = create_app({
        "TESTING": True, "SECRET_KEY": "bench", "INSTANCE_PATH": workdir,
        "DATABASE_URL": "sqlite:///" + os.path.join(workdir, f"bench{total}.db"),
        "ARGON2_PARAMS": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
    })
    with app.test_request_context(), models.db.connection_context():
        departments = [models.Department.create(name=f"部门{i + 1}").id for i in range(8)]
        users = []
        for i in range(12):
            user = models.User(username=f"service{i + 1}", display_name=f"客服{i + 1}")
            user.set_password(PASSWORD)
            user.save()
            user.roles.add(models.Role.get(models.Role.code == "service"))
            users.append(user.id)
        boss = models.User(username="boss", display_name="总经理")
        boss.set_password(PASSWORD)
        boss.save()
        boss.roles.add(models.Role.get(models.Role.code == "gm"))
        now = models.utcnow()
        start = time.perf_counter()
        fill(total, now, departments, users)
        fill_s = time.perf_counter() - start
        some = models.Complaint.select(models.Complaint.id).order_by(models.Complaint.id).limit(1).scalar()
        last = rules.to_local(now).replace(day=1) - datetime.timedelta(days=1)
        month = f"{last.year}-{last.month:02d}"
    client = app.test_client()
    login(client, "boss")
    pages = (
        ("board", "/admin/complaint-board/"),
        ("board, closed page 40", "/admin/complaint-board/?page_closed=40"),
        ("board, breached only", "/admin/complaint-board/?breached=1"),
        ("board, one department", f"/admin/complaint-board/?department={departments[0]}"),
        ("complaint page", f"/admin/complaint-board/complaint/?id={some}"),
        (f"statistics {month}", f"/admin/complaint-stats/?month={month}"),
        (f"XLSX {month}", f"/admin/complaint-stats/xlsx/?month={month}"),
    )
    print(f"\n{total:,} complaints (fixtures {fill_s:.1f} s), median of {REPEAT} requests as the GM")
    print(f"{'page':<28}{'ms':>8}{'SQL':>6}")
    for label, url in pages:
        ms, queries = measure(client, url)
        print(f"{label:<28}{ms:>8.1f}{queries:>6}")


def main():
    print(f"SQLite {sqlite3.sqlite_version}")
    for total in SIZES:
        workdir = tempfile.mkdtemp(prefix="bench_board_")
        try:
            run(workdir, total)
        finally:
            if not models.db.is_closed():
                models.db.close()
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
