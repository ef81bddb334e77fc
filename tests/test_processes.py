"""Several server processes behave as one: sessions, CSRF and logout cross processes; writers under
load lose nothing and never see 'database is locked'; kill -9 under load leaves a sound database."""
import time

import pytest

import models
from conftest import PASSWORD
from conftest import make_user
from servers import Browser
from servers import Server
from servers import database_url
from servers import integrity_ok
from servers import saved_department_names
from servers import write_under_load

# Kept short for the suite; bench/load.py runs the long version (4 workers × 20 clients × 60 s).
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


def writers():
    return [f"writer{i}" for i in range(CLIENTS)]


def test_many_writers_on_several_workers_lose_nothing(served):
    server = served(workers=WORKERS)
    acknowledged, failures = [], []
    for thread in write_under_load(server.base, writers(), PASSWORD, SECONDS, acknowledged, failures):
        thread.join()
    assert not failures, failures[:5]
    assert len(acknowledged) >= CLIENTS
    assert set(acknowledged) <= saved_department_names()
    log = server.log()
    assert "database is locked" not in log and "Traceback" not in log, log[-2000:]


def test_kill_9_under_load_leaves_a_sound_database(served):
    server = served(workers=WORKERS)
    acknowledged, failures = [], []
    threads = write_under_load(server.base, writers(), PASSWORD, SECONDS * 4, acknowledged, failures)
    deadline = time.time() + 90
    while len(acknowledged) < CLIENTS * 3 and time.time() < deadline:
        time.sleep(0.1)
    server.kill()
    for thread in threads:
        thread.join()
    assert acknowledged, failures[:5]
    assert integrity_ok()
    # Every write the server acknowledged before it died is there after a restart.
    restarted = served(workers=1)
    browser = Browser()
    browser.login(restarted.base, "boss", PASSWORD)
    assert set(acknowledged) <= saved_department_names()
