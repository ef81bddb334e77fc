"""Scale benchmark: the console at 1,000,000 customers over real HTTP, beside the floor, a default
Flask-Admin and Django's admin.

    python bench/run.py                      # SQLite and PostgreSQL, full size (generates the data once)
    python bench/run.py --backend sqlite --scale 0.1 --rounds 10
    python bench/run.py --backend postgres --generate-only

For each backend: the data set (bench/datagen.py; the SQLite file and the PostgreSQL cluster are kept in
bench/data/ and reused), the console under gunicorn with 2 workers, a default Flask-Admin
(bench/plain_admin.py) and Django 5.2's admin (bench/django_admin/, bench/requirements.txt), each under
gunicorn with 2 workers over the same tables, and the floor: the SQL statements the page sends, captured
once and executed directly; Django's admin beside its own floor, taken the same way
(bench/django_admin/capture.py). Pages are timed round by round, interleaved (console, floor, default
Flask-Admin, Django admin, Django's floor), for the user with the highest clearance, the one with the lowest
and a department manager (Django's superuser sees every row either way). Prints p50 / p95 in ms, the
ratios, and the time each page spends beyond its own SQL.
"""
import argparse
import html.parser
import logging
import os
import pickle
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import backend  # noqa: E402
import models  # noqa: E402
import pgserver  # noqa: E402
from app import create_app  # noqa: E402
from app import open_database  # noqa: E402
from bench import datagen  # noqa: E402
from servers import Browser  # noqa: E402
from servers import Server  # noqa: E402
from views import access  # noqa: E402

DATA = os.path.join(ROOT, "bench", "data")
SEARCH_TERM = "杭州华"
QUOTED_TERM = urllib.parse.quote(SEARCH_TERM)


class FormReader(html.parser.HTMLParser):
    """Collect the values a browser would post from the first form with a csrf_token."""

    def __init__(self):
        super().__init__()
        self.values = {}
        self._select = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "checkbox", "file"):
            self.values[name] = a.get("value", "")
        elif tag == "input" and name and a.get("type") == "checkbox" and "checked" in a:
            self.values[name] = a.get("value", "y")
        elif tag == "select" and name:
            self._select = name
            self.values.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data


def form_values(page):
    reader = FormReader()
    reader.feed(page)
    return reader.values


def percentile(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[index]


class Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.statements = []

    def emit(self, record):
        if isinstance(record.msg, tuple) and len(record.msg) == 2:
            self.statements.append(record.msg)


def capture_statements(app, username, url):
    """Return the SQL statements the console sends for ``url`` (in-process, same database)."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": username, "password": datagen.PASSWORD, "csrf_token": token})
    logger = logging.getLogger("peewee")
    handler = Capture()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        client.get(url)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.WARNING)
    return handler.statements


def prepare(kind, scale, echo):
    """Return (database URL, pg server or None) with the data set loaded."""
    counts = dict(customers=int(1_000_000 * scale), communications=int(3_000_000 * scale),
                  complaints=int(200_000 * scale))
    server = None
    if kind == "sqlite":
        os.makedirs(DATA, exist_ok=True)
        path = os.path.join(DATA, f"scale-{scale:g}.db")
        url = f"sqlite:///{path}"
        if os.path.exists(path + ".done"):
            echo(f"reusing {path}")
            return url, None, counts
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    else:
        # A kept cluster in bench/data/pg-scale-<scale>/ (durable settings), reused once generated.
        root = os.path.join(DATA, f"pg-scale-{scale:g}")
        done = root + ".done"
        if not os.path.exists(done) and os.path.exists(root):
            shutil.rmtree(root)
        server = pgserver.Server(fast=False, root=root).start()
        url = server.url("bench")
        if os.path.exists(done):
            echo(f"reusing {root}")
            return url, server, counts
        server.execute("CREATE DATABASE bench")
    echo(f"generating {counts} on {kind} …")
    models.db.initialize(open_database(url))
    with models.db.connection_context():
        models.create_tables()
        datagen.generate(**counts, echo=echo)
    open(path + ".done" if kind == "sqlite" else done, "w").write("ok")
    return url, server, counts


def pages_for(app, counts):
    """Return [(label, method, url-or-callable)] of the timed pages, and the customer ids to open."""
    view = next(v for v in app.extensions["admin"][0]._views if getattr(v, "model", None) is models.Customer)
    dept_filter = next(i for i, f in enumerate(view._filters)
                       if getattr(f.column, "name", None) == "department" and type(f).__name__ == "FilterForeignKeyEqual")
    with models.db.connection_context():
        dept = models.Department.select().order_by(models.Department.id).first().id
        ids = [c.id for c in models.Customer.select(models.Customer.id)
               .where(models.Customer.confidentiality == "normal", models.Customer.id <= 5000).limit(200)]
        hits = models.Customer.select().where(
            backend.search_condition(backend.searchable(models.Customer), SEARCH_TERM)).count()
    deep = max(1, counts["customers"] // 2 // 50)
    dj = "/admin/django_admin"
    # (label, console URL, default Flask-Admin URL, Django admin URL); Django pages are 1-based.
    pages = [
        ("客户列表 第1页", "/admin/customer/", "/admin/customer/", f"{dj}/customer/"),
        (f"深翻页(偏移 {deep * 50:,})", f"/admin/customer/?page={deep}", f"/admin/customer/?page={deep}",
         f"{dj}/customer/?p={deep + 1}"),
        (f"搜索中文名“{SEARCH_TERM}”({hits:,} 条)", f"/admin/customer/?search={QUOTED_TERM}",
         f"/admin/customer/?search={QUOTED_TERM}", f"{dj}/customer/?q={QUOTED_TERM}"),
        ("按部门筛选", f"/admin/customer/?flt0_{dept_filter}={dept}", None,
         f"{dj}/customer/?department__id__exact={dept}"),
        ("客户详情", "/admin/customer/details/?id={id}", None, dj + "/customer/{id}/change/"),
        ("编辑保存", "EDIT", None, None),
        ("新建沟通记录", "CREATE", None, None),
        ("沟通记录列表", "/admin/communication/", "/admin/communication/", f"{dj}/communication/"),
        ("投诉列表", "/admin/complaint/", None, f"{dj}/complaint/"),
        ("外借登记列表", "/admin/loan/", None, None),
        ("审批中心", "/admin/approvals/", None, None),
        ("操作日志", "/admin/auditlog/", None, None),
        ("工作台", "/admin/", None, None),
    ]
    return pages, ids


def run_backend(kind, scale, rounds, echo, only=""):
    url, pg, counts = prepare(kind, scale, echo)
    instance = os.path.join(DATA, f"instance-{kind}")
    os.makedirs(instance, exist_ok=True)
    servers = []
    try:
        # In-process first: it brings an older data file's schema up to date before two workers race to.
        app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": instance, "SECRET_KEY": "multi-process-secret"})
        with models.db.connection_context(), models.db.atomic():
            datagen.ensure_users()  # a data set made before a bench user was added
        console = Server(url, instance, workers=2)
        servers.append(console)
        plain = PlainServer(url, instance)
        servers.append(plain)
        django = DjangoServer(url, instance, kind)
        servers.append(django)
        pages, ids = pages_for(app, counts)
        words = [w for w in only.split(",") if w]
        if words:
            pages = [p for p in pages if any(w in p[0] for w in words)]
        rows = []
        load = [os.getloadavg()[0]]
        for username in datagen.USERS:
            with models.db.connection_context():
                user_pages, user_ids = for_user(pages, ids, counts, username)
            rows += time_user(app, console, plain, django, url, user_pages, user_ids, username, rounds, echo)
            load.append(os.getloadavg()[0])
        counts = dict(counts, load=load)
        return rows, counts
    finally:
        for server in servers:
            server.stop()
        if pg is not None:
            pg.stop()


class PlainServer(Server):
    """The default Flask-Admin under gunicorn (2 workers)."""

    def __init__(self, url, instance):
        self.port = pgserver.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(instance, f"plain-{self.port}.log")
        env = dict(os.environ, DATABASE_URL=url, PYTHONUNBUFFERED="1")
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen([gunicorn, "--workers", "2", "--bind", f"127.0.0.1:{self.port}",
                                          "--timeout", "300", "bench.plain_admin:create_app()"],
                                         cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.base + "/admin/", timeout=5).read()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("default Flask-Admin did not start:\n" + self.log())
                time.sleep(0.3)


class DjangoServer(Server):
    """Django 5.2's admin (bench/django_admin/) under gunicorn (2 workers) over the same tables; its own
    users and sessions in a separate small SQLite file."""

    def __init__(self, url, instance, kind):
        from bench.django_admin import setup

        self.port = pgserver.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(instance, f"django-{self.port}.log")
        env = dict(os.environ, DATABASE_URL=url, DJANGO_AUTH_DB=os.path.join(instance, f"django-auth-{kind}.db"),
                   DJANGO_SETTINGS_MODULE="bench.django_admin.settings", PYTHONUNBUFFERED="1")
        self.env, self.auth_db = env, env["DJANGO_AUTH_DB"]
        subprocess.run([sys.executable, "-m", "bench.django_admin.setup"], cwd=ROOT, env=env, check=True)
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen([gunicorn, "--workers", "2", "--bind", f"127.0.0.1:{self.port}",
                                          "--timeout", "300", "bench.django_admin.wsgi:application"],
                                         cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.wait_up(path="/admin/login/")
        self.username, self.password = setup.USERNAME, setup.PASSWORD

    def login(self):
        browser = Browser()
        status, page = browser.request(self.base + "/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        status, _ = browser.request(self.base + "/admin/login/?next=/admin/", {
            "csrfmiddlewaretoken": token, "username": self.username, "password": self.password, "next": "/admin/"})
        assert status == 302, status
        return browser

    def statements(self, urls):
        """Return {url: [(database alias, sql, params), …]}: what Django's admin sends for each page."""
        found = subprocess.run([sys.executable, "-m", "bench.django_admin.capture", *urls], cwd=ROOT, env=self.env,
                               check=True, stdout=subprocess.PIPE).stdout
        captured = pickle.loads(found)
        for url, (status, _) in captured.items():
            assert status == 200, (url, status)
        return {url: statements for url, (_, statements) in captured.items()}


def for_user(pages, ids, counts, username):
    """Return the pages and customer ids of ``username``: a deep page half-way through the customers the user
    sees (a department manager sees a tenth of them), details and edits of customers the user may open."""
    user = models.User.get(models.User.username == username)
    visible = access.visible_customers(user)
    seen = visible.count()
    if seen == counts["customers"]:
        return pages, ids
    ids = [c.id for c in visible.where(models.Customer.id <= 50_000).order_by(models.Customer.id).limit(200)]
    deep = max(1, seen // 2 // 50)
    dj = "/admin/django_admin"
    pages = [(f"深翻页(偏移 {deep * 50:,})", f"/admin/customer/?page={deep}", f"/admin/customer/?page={deep}",
              f"{dj}/customer/?p={deep + 1}") if label.startswith("深翻页") else (label, target, plain_url, django_url)
             for label, target, plain_url, django_url in pages]
    return pages, ids


def time_user(app, console, plain, django, url, pages, ids, username, rounds, echo):
    browser = Browser()
    browser.login(console.base, username, datagen.PASSWORD)
    plain_browser = Browser()
    django_browser = django.login()
    raw = open_database(url)
    raw.connect()
    rng = random.Random(7)
    floors = {}
    for label, target, _, _ in pages:
        if target.startswith("/") and "{id}" not in target:
            floors[label] = capture_statements(app, username, target)
    # Django's admin measured the same way: its own statements (console tables and its session/user tables).
    django_urls = {label: django_url for label, target, _, django_url in pages
                   if django_url and label in floors and "{id}" not in django_url}
    django_sent = django.statements(sorted(set(django_urls.values()))) if django_urls else {}
    django_floors = {label: django_sent[u] for label, u in django_urls.items()}
    raw_auth = sqlite3.connect(django.auth_db)
    databases = {"default": lambda sql, params: raw.execute_sql(sql, params),
                 "auth": lambda sql, params: raw_auth.execute(sql, params)}
    timings = {label: {"console": [], "floor": [], "plain": [], "django": [], "django_floor": []}
               for label, _, _, _ in pages}
    status_seen = {}
    for r in range(rounds):
        for label, target, plain_url, django_url in pages:
            if target == "EDIT":
                pk = rng.choice(ids)
                status, page = browser.request(f"{console.base}/admin/customer/edit/?id={pk}")
                data = form_values(page)
                data["phone"] = f"13{rng.randint(0, 999999999):09d}"
                t0 = time.perf_counter()
                status, _ = browser.request(f"{console.base}/admin/customer/edit/?id={pk}", data)
                timings[label]["console"].append(time.perf_counter() - t0)
            elif target == "CREATE":
                token = browser.token(f"{console.base}/admin/communication/new/")
                data = {"csrf_token": token, "customer": str(rng.choice(ids)), "channel": "phone",
                        "at": time.strftime("%Y-%m-%d %H:%M:%S"), "summary": f"基准测试沟通 {r}", "follow_up": ""}
                t0 = time.perf_counter()
                status, _ = browser.request(f"{console.base}/admin/communication/new/", data)
                timings[label]["console"].append(time.perf_counter() - t0)
            else:
                pk = rng.choice(ids)
                url_ = target.format(id=pk)
                t0 = time.perf_counter()
                status, _ = browser.request(console.base + url_)
                timings[label]["console"].append(time.perf_counter() - t0)
                if label in floors:
                    t0 = time.perf_counter()
                    for sql, params in floors[label]:
                        raw.execute_sql(sql, params).fetchall()
                    timings[label]["floor"].append(time.perf_counter() - t0)
                if plain_url:
                    t0 = time.perf_counter()
                    plain_status, _ = plain_browser.request(plain.base + plain_url, timeout=300)
                    timings[label]["plain"].append(time.perf_counter() - t0)
                    status_seen.setdefault(label + " (default)", set()).add(plain_status)
                if django_url:
                    t0 = time.perf_counter()
                    django_status, _ = django_browser.request(django.base + django_url.format(id=pk), timeout=300)
                    timings[label]["django"].append(time.perf_counter() - t0)
                    status_seen.setdefault(label + " (Django)", set()).add(django_status)
                if label in django_floors:
                    t0 = time.perf_counter()
                    for alias, sql, params in django_floors[label]:
                        databases[alias](sql, params).fetchall()
                    timings[label]["django_floor"].append(time.perf_counter() - t0)
            status_seen.setdefault(label, set()).add(status)
        echo(f"  {username}: round {r + 1}/{rounds} done")
    raw.close()
    raw_auth.close()
    rows = []
    for label, _, _, _ in pages:
        t = timings[label]
        statuses = sorted(status_seen.get(label, ()))
        if t["plain"]:
            statuses = statuses + ["默认:" + ",".join(map(str, sorted(status_seen[label + " (default)"])))]
        if t["django"]:
            statuses = statuses + ["Django:" + ",".join(map(str, sorted(status_seen[label + " (Django)"])))]
        rows.append((username, label, t["console"], t["floor"], t["plain"], t["django"], t["django_floor"], statuses))
    return rows


def ms(values):
    if not values:
        return "–"
    return f"{percentile(values, 50) * 1000:,.0f} / {percentile(values, 95) * 1000:,.0f}"


def ratio(a, b):
    if not a or not b:
        return "–"
    return f"{percentile(a, 50) / max(percentile(b, 50), 1e-6):.1f}"


def excess(a, b):
    """The p50 time a page spends beyond its own SQL (HTTP, Python, templates), in ms."""
    if not a or not b:
        return "–"
    return f"{(percentile(a, 50) - percentile(b, 50)) * 1000:,.0f}"


def table(kind, rows, counts):
    lines = [f"### {kind}: {counts['customers']:,} customers, {counts['communications']:,} communications, "
             f"{counts['complaints']:,} complaints (p50 / p95 ms); 1-minute load average at the start and after "
             f"each user: {' / '.join(f'{x:.1f}' for x in counts.get('load', ()))}", "",
             "| user | page | HTTP | console | floor (own SQL) | console/floor | console − floor "
             "| default Flask-Admin | console/default | Django admin | Django's floor | Django/its floor "
             "| Django − its floor | console/Django |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    who = {"bench_top": "绝密·全部门", "bench_low": "普通·录入员", "bench_mgr": "普通·部门经理"}
    for username, label, console, floor, plain, django, django_floor, statuses in rows:
        lines.append(f"| {who.get(username, username)} | {label} | {','.join(map(str, statuses))} | {ms(console)} | "
                     f"{ms(floor)} | {ratio(console, floor)} | {excess(console, floor)} | {ms(plain)} | "
                     f"{ratio(console, plain)} | {ms(django)} | {ms(django_floor)} | {ratio(django, django_floor)} | "
                     f"{excess(django, django_floor)} | {ratio(console, django)} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1M customers, 3M communications, 200k complaints")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--generate-only", action="store_true", help="make the data set and stop")
    parser.add_argument("--pages", default="", help="time only the pages whose label contains one of these "
                                                    "comma-separated words (e.g. 工作台)")
    args = parser.parse_args(argv)
    if args.generate_only:
        for kind in ("sqlite", "postgres") if args.backend == "both" else (args.backend,):
            _, pg, _ = prepare(kind, args.scale, lambda m: print(m, flush=True))
            if pg is not None:
                pg.stop()
        return
    kinds = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    out = []
    for kind in kinds:
        rows, counts = run_backend(kind, args.scale, args.rounds, lambda m: print(m, flush=True), args.pages)
        out.append(table("SQLite" if kind == "sqlite" else "PostgreSQL", rows, counts))
        print(out[-1], flush=True)
    print("\n\n".join(out))


if __name__ == "__main__":
    main()
