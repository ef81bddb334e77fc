"""Several server processes behave as one: sessions, CSRF and logout cross processes; writers under
load lose nothing and never see 'database is locked'; kill -9 under load leaves a sound database."""
import threading
import time

import pytest

import backend
import models
from conftest import PASSWORD
from conftest import make_user
from servers import Browser
from servers import Server
from servers import database_url

# Kept short for the suite; bench/run.py --load runs the long version (4 workers × 20 clients × 60 s).
WORKERS = 4
CLIENTS = 6
SECONDS = 4


@pytest.fixture
def served(app, tmp_path):
    """Users for the servers, then the test's database handed over to them."""
    make_user("boss", roles=("admin",), clearance="top_secret")
    for i in range(CLIENTS):
        make_user(f"writer{i}", roles=("admin",))
    url = database_url()
    models.db.close()
    started = []

    def start(workers=1):
        server = Server(url, str(tmp_path), workers=workers)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    models.db.connect(reuse_if_open=True)


def test_two_processes_share_sessions_csrf_and_logout(served):
    one, two = served(), served()
    browser = Browser()
    browser.login(one.base, "boss", PASSWORD)
    status, page = browser.request(two.base + "/admin/")
    assert status == 200 and "工作台" in page
    # A form served by one process is accepted by the other.
    token = browser.token(one.base + "/admin/department/new/")
    status, _ = browser.request(two.base + "/admin/department/new/", {"name": "跨进程部门", "csrf_token": token})
    assert status == 302
    status, page = browser.request(one.base + "/admin/department/")
    assert "跨进程部门" in page
    # Logging out on one process ends the session on the other.
    token = browser.token(two.base + "/admin/")
    browser.request(two.base + "/logout", {"csrf_token": token})
    status, _ = browser.request(one.base + "/admin/")
    assert status == 302
    assert "Traceback" not in one.log() + two.log()


def write_under_load(server, seconds, acknowledged, failures):
    """CLIENTS logged-in clients each create departments for ``seconds``; record what was acknowledged."""
    def client(i):
        browser = Browser()
        try:
            browser.login(server.base, f"writer{i}", PASSWORD)
            token = browser.token(server.base + "/admin/department/new/")
        except Exception as exc:  # noqa: BLE001 - a refused login is a failure to report
            failures.append(f"login {i}: {exc!r}")
            return
        stop_at = time.time() + seconds
        n = 0
        while time.time() < stop_at:
            name = f"负载部门-{i}-{n}"
            try:
                status, body = browser.request(server.base + "/admin/department/new/",
                                               {"name": name, "csrf_token": token}, timeout=30)
            except OSError as exc:
                failures.append(f"{name}: {exc!r}")
                return
            if status == 302:
                acknowledged.append(name)
            else:
                failures.append(f"{name}: HTTP {status} {body[:200]}")
            n += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    return threads


def saved_names():
    models.db.connect(reuse_if_open=True)
    names = {d.name for d in models.Department.select(models.Department.name)}
    models.db.close()
    return names


def test_many_writers_on_several_workers_lose_nothing(served):
    server = served(workers=WORKERS)
    acknowledged, failures = [], []
    for thread in write_under_load(server, SECONDS, acknowledged, failures):
        thread.join()
    assert not failures, failures[:5]
    assert len(acknowledged) >= CLIENTS
    assert set(acknowledged) <= saved_names()
    log = server.log()
    assert "database is locked" not in log and "Traceback" not in log, log[-2000:]


def test_kill_9_under_load_leaves_a_sound_database(served):
    server = served(workers=WORKERS)
    acknowledged, failures = [], []
    threads = write_under_load(server, SECONDS * 4, acknowledged, failures)
    deadline = time.time() + 90
    while len(acknowledged) < CLIENTS * 3 and time.time() < deadline:
        time.sleep(0.1)
    server.kill()
    for thread in threads:
        thread.join()
    assert acknowledged, failures[:5]
    models.db.connect(reuse_if_open=True)
    if not backend.is_postgres():
        assert models.db.execute_sql("PRAGMA integrity_check").fetchone()[0] == "ok"
    models.db.close()
    # Every write the server acknowledged before it died is there after a restart.
    restarted = served(workers=1)
    browser = Browser()
    browser.login(restarted.base, "boss", PASSWORD)
    assert set(acknowledged) <= saved_names()
