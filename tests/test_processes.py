"""Several server processes behave as one: sessions, CSRF and logout cross processes; writers under
load lose nothing and never see 'database is locked'; kill -9 under load leaves a sound database."""
import os
import time

import pytest

import backend
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


def worker_pids(server):
    """The gunicorn workers' process ids (children of the master)."""
    with open(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children") as fh:
        return [int(pid) for pid in fh.read().split()]


def open_database_files(pid, path):
    """How many of process ``pid``'s file descriptors are open on the SQLite file ``path``."""
    fds = f"/proc/{pid}/fd"
    count = 0
    for fd in os.listdir(fds):
        try:
            count += os.readlink(os.path.join(fds, fd)) == path
        except OSError:
            pass
    return count


def server_connections():
    """PostgreSQL: the process ids of the other sessions on the test database (the server's)."""
    models.db.connect(reuse_if_open=True)
    try:
        return sorted(row[0] for row in models.db.execute_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'").fetchall())
    finally:
        models.db.close()


def test_a_worker_keeps_one_connection_across_requests_and_replaces_a_dropped_one(served):
    server = served(workers=1)
    browser = Browser()
    browser.login(server.base, "boss", PASSWORD)
    for _ in range(10):
        status, page = browser.request(server.base + "/admin/department/")
        assert status == 200 and "部门" in page
    if backend.is_postgres():
        # Between requests the worker holds its idle connections: the pool, not one per request. Two: the
        # requests' and the one a list's count runs on meanwhile (backend.count_later).
        before = server_connections()
        assert len(before) == 2, before
        # The server drops them (restart, idle timeout): the next request gets new ones, not an error.
        models.db.connect(reuse_if_open=True)
        for pid in before:
            models.db.execute_sql("SELECT pg_terminate_backend(%s)", (pid,))
        models.db.close()
        status, page = browser.request(server.base + "/admin/department/")
        assert status == 200 and "部门" in page
        after = server_connections()
        assert len(after) == 2 and not set(after) & set(before), (before, after)
    else:
        path = database_url().split(":///", 1)[1]
        (worker,) = worker_pids(server)
        assert open_database_files(worker, os.path.realpath(path)) == 1
    assert "Traceback" not in server.log()


def test_a_connection_given_back_inside_a_transaction_is_rolled_back(app):
    models.db.connect(reuse_if_open=True)
    models.db.execute_sql("BEGIN")
    models.Department.insert(name="未提交的部门").execute()
    models.db.close()  # back to the pool with the transaction open
    models.db.connect()
    try:
        assert not models.Department.select().where(models.Department.name == "未提交的部门").exists()
        models.Department.insert(name="提交的部门").execute()
    finally:
        models.db.close()
    models.db.connect()
    assert models.Department.select().where(models.Department.name == "提交的部门").exists()
