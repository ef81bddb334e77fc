"""Fixtures: a fresh app on a temporary SQLite file per test, clients logged in by role.

With ``TEST_DATABASE_URL=postgresql://…`` (``make test`` sets it for its second run, on a private
server started by ``pgserver.py``) every test gets the PostgreSQL test database emptied and the
set-up rows (roles, permission matrix, holidays) put back from a copy taken once: a DELETE of
every table is ~20 ms where CREATE DATABASE … TEMPLATE is ~1 s.
"""
import os
import re
import shutil
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import backend  # noqa: E402
import models  # noqa: E402
import policies  # noqa: E402
from views import access  # noqa: E402
from app import create_app  # noqa: E402
from app import open_database  # noqa: E402

PASSWORD = "测试密码-Secret-2026"
DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
ON_POSTGRES = DATABASE_URL.startswith("postgres")
PG_TEST = "console_test"
_pg_reset = {}
CSRF_RE = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')


TEST_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret",
    # Real argon2id, cheap parameters: a test suite logs in hundreds of times.
    "ARGON2_PARAMS": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
}


@pytest.fixture(scope="session")
def shared_app(tmp_path_factory):
    """One application for the session; each test binds it to a fresh database file."""
    return create_app(dict(TEST_CONFIG, INSTANCE_PATH=str(tmp_path_factory.mktemp("instance"))))


def pg_url(name):
    """Return the URL of database ``name`` on the test PostgreSQL server."""
    return DATABASE_URL.rsplit("/", 1)[0] + "/" + name


def pg_admin(*statements):
    """Run statements on the test PostgreSQL server outside a transaction (CREATE/DROP DATABASE)."""
    import psycopg2

    conn = psycopg2.connect(pg_url("postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
    finally:
        conn.close()


def pytest_collection_modifyitems(config, items):
    if not ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="about SQLite itself (file, PRAGMAs, WAL)")
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)


def pg_reset_script():
    """Copy the set-up rows into schema ``seed``; return the SQL that empties every table and restores them."""
    tables = [r[0] for r in models.db.execute_sql(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename").fetchall()]
    seeded = [t for t in tables if models.db.execute_sql(f'SELECT EXISTS (SELECT 1 FROM "{t}")').fetchone()[0]]
    models.db.execute_sql("DROP SCHEMA IF EXISTS seed CASCADE; CREATE SCHEMA seed")
    for table in seeded:
        models.db.execute_sql(f'CREATE TABLE seed."{table}" AS SELECT * FROM public."{table}"')
    sequences = models.db.execute_sql(
        "SELECT c.relname AS tbl, pg_get_serial_sequence('\"' || c.relname || '\"', a.attname) "
        "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 "
        "AND pg_get_serial_sequence('\"' || c.relname || '\"', a.attname) IS NOT NULL").fetchall()
    parts = ["SET session_replication_role = replica"]
    parts += [f'DELETE FROM public."{t}"' for t in tables]
    parts += [f'INSERT INTO public."{t}" SELECT * FROM seed."{t}"' for t in seeded]
    parts.append("SET session_replication_role = origin")
    for table, sequence in sequences:
        parts.append(f"SELECT setval('{sequence}', COALESCE((SELECT MAX(id) FROM public.\"{table}\"), 0) + 1, false)")
    return ";\n".join(parts)


@pytest.fixture(scope="session")
def template_db(shared_app, tmp_path_factory):
    """A database file with every table of MODELS, the holidays and the permission matrix, built once."""
    if not models.db.is_closed():
        models.db.close()
    backend.release_idle_connections()
    if ON_POSTGRES:
        pg_admin(f"DROP DATABASE IF EXISTS {PG_TEST} WITH (FORCE)", f"CREATE DATABASE {PG_TEST}")
        models.db.initialize(open_database(pg_url(PG_TEST)))
        models.create_tables()
        policies.calendar.seed_holidays()
        access.seed_permissions(models.MODELS)
        _pg_reset["sql"] = pg_reset_script()
        models.db.close()
        return PG_TEST
    path = tmp_path_factory.mktemp("template") / "template.db"
    models.db.initialize(open_database(f"sqlite:///{path}"))
    models.create_tables()
    policies.calendar.seed_holidays()
    access.seed_permissions(models.MODELS)
    models.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    models.db.execute_sql("PRAGMA journal_mode=DELETE")
    models.db.close()
    return path


@pytest.fixture
def app(shared_app, template_db, tmp_path):
    """The app bound to a new temporary SQLite file (a copy of the template) for this test."""
    if not models.db.is_closed():
        models.db.close()
    backend.release_idle_connections()
    if ON_POSTGRES:
        models.db.initialize(open_database(pg_url(PG_TEST)))
        models.db.execute_sql(_pg_reset["sql"])
        models.db.close()
    else:
        shutil.copyfile(template_db, tmp_path / "test.db")
        models.db.initialize(open_database(f"sqlite:///{tmp_path / 'test.db'}"))
    yield shared_app
    if not models.db.is_closed():
        models.db.close()
    backend.release_idle_connections()


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_token(client, url="/login"):
    """Return the CSRF token the page at ``url`` hands out to this client's session."""
    html = client.get(url).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no csrf token on {url}"
    return match.group(1)


def submit(client, url, data, follow_redirects=False):
    """GET the form at ``url`` for its CSRF token, then POST ``data`` to it."""
    data = dict(data)
    data["csrf_token"] = csrf_token(client, url)
    return client.post(url, data=data, follow_redirects=follow_redirects)


def make_user(username, roles=("admin",), **fields):
    """Create an active user with ``roles`` and the test password."""
    user = models.User(username=username, display_name=fields.pop("display_name", username), **fields)
    user.set_password(PASSWORD)
    user.save()
    for code in roles:
        role, _ = models.Role.get_or_create(code=code, defaults={"name": code})
        user.roles.add(role)
    return user


def login(client, username, password=PASSWORD):
    """Log ``client`` in through the login form."""
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


@pytest.fixture
def login_as(client):
    """Return a function that creates a user with ``role`` and logs the test client in as them."""
    def _login_as(role="admin", **fields):
        user = make_user(fields.pop("username", f"u_{role}"), roles=(role,), **fields)
        login(client, user.username)
        return user
    return _login_as


@pytest.fixture
def admin_client(client, login_as):
    login_as("admin", clearance="top_secret")
    return client


@pytest.fixture
def bare_engine(monkeypatch):
    """Run the approvals engine on neutral records: no area module's outcome or step hook."""
    monkeypatch.setattr(policies.approvals, "_OUTCOMES", {})
    monkeypatch.setattr(policies.approvals, "_STEP_HOOKS", {})
