"""Real server processes for the multi-process tests: gunicorn over the test's database, and a browser-like client."""
import http.client
import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import backend
import models
from conftest import ROOT

TOKEN_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url():
    """Return the URL of the database the ``app`` fixture bound (a SQLite file or the PostgreSQL test db)."""
    database = models.db.obj
    if backend.is_postgres():
        params = database.connect_params
        return (f"postgresql://{params.get('user')}@{params.get('host')}:{params.get('port')}/"
                f"{database.database}")
    return f"sqlite:///{database.database}"


class Server:
    """``gunicorn -w N app:create_app()`` on a free port, over ``url``; ``kill()`` is kill -9 of all of it."""

    def __init__(self, url, instance, workers=1, log_path=None, root=ROOT):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or os.path.join(instance, f"server-{self.port}.log")
        env = dict(os.environ, DATABASE_URL=url, CONSOLE_INSTANCE_PATH=instance, SECRET_KEY="multi-process-secret",
                   PYTHONUNBUFFERED="1")
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [gunicorn, "--workers", str(workers), "--bind", f"127.0.0.1:{self.port}", "--timeout", "60",
                 "app:create_app()"], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.wait_up()

    def wait_up(self, seconds=90, path="/login"):
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.base + path, timeout=5).read()
                return
            except OSError:
                assert self.proc.poll() is None, self.log()
                time.sleep(0.2)
        raise AssertionError("server did not start:\n" + self.log())

    def log(self):
        with open(self.log_path) as fh:
            return fh.read()

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self):
        """kill -9 the master and every worker (the whole process group)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=20)


class Browser:
    """A client with a cookie jar: log in, read pages, post forms with their CSRF token."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect())

    def request(self, url, data=None, timeout=60):
        """Return (status, body) without following redirects."""
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        try:
            with self.opener.open(url, data=body, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, exc.read().decode(errors="replace")
            except http.client.IncompleteRead as cut:
                # The status arrived, the body did not (a server killed mid-answer): the status stands.
                return exc.code, cut.partial.decode(errors="replace")

    def token(self, url):
        status, page = self.request(url)
        match = TOKEN_RE.search(page)
        assert match, (url, status, page[:500])
        return match.group(1)

    def login(self, base, username, password):
        token = self.token(base + "/login")
        status, _ = self.request(base + "/login", {"username": username, "password": password, "csrf_token": token})
        assert status == 302, status


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def write_under_load(base, usernames, password, seconds, acknowledged, failures, tag="负载部门"):
    """One logged-in client per name in ``usernames`` creates departments on ``base`` for ``seconds``.

    Appends every name the server acknowledged (302) to ``acknowledged`` and every refusal, error page
    or broken connection to ``failures``; returns the started threads. Shared by tests/test_processes.py
    and bench/load.py (the 60-second version)."""
    def client(i, username):
        browser = Browser()
        try:
            browser.login(base, username, password)
            token = browser.token(base + "/admin/department/new/")
        except Exception as exc:  # noqa: BLE001 - a refused login is a failure to report
            failures.append(f"login {username}: {exc!r}")
            return
        stop_at = time.time() + seconds
        n = 0
        while time.time() < stop_at:
            name = f"{tag}-{i}-{n}"
            try:
                status, body = browser.request(base + "/admin/department/new/",
                                               {"name": name, "csrf_token": token}, timeout=30)
            except OSError as exc:
                failures.append(f"{name}: {exc!r}")
                return
            if status == 302:
                acknowledged.append(name)
            else:
                failures.append(f"{name}: HTTP {status} {body[:200]}")
            n += 1

    threads = [threading.Thread(target=client, args=(i, name)) for i, name in enumerate(usernames)]
    for thread in threads:
        thread.start()
    return threads


def saved_department_names():
    """Names of the departments in the bound database (opens and closes its own connection)."""
    models.db.connect(reuse_if_open=True)
    names = {d.name for d in models.Department.select(models.Department.name)}
    models.db.close()
    return names


def integrity_ok():
    """``PRAGMA integrity_check`` on SQLite (True on PostgreSQL, which has no such check)."""
    models.db.connect(reuse_if_open=True)
    try:
        if backend.is_postgres():
            return True
        return models.db.execute_sql("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        models.db.close()
