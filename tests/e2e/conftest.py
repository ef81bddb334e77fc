"""Chromium end-to-end fixtures: the console served as `make run` serves it, a headless Debian Chromium."""
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
DESK = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - requirements.txt pins playwright
    sync_playwright = None


def missing_browser():
    """Return why the browser tests cannot run here, or '' when they can."""
    if sync_playwright is None:
        return "the playwright package is not installed"
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)"
    return ""


def pytest_collection_modifyitems(config, items):
    reason = missing_browser()
    if not reason:
        return
    e2e = [item for item in items if "/e2e/" in str(item.fspath).replace(os.sep, "/")]
    if e2e:
        sys.stderr.write(f"\n!!! BROWSER TESTS SKIPPED ({len(e2e)}): {reason} !!!\n")
        for item in e2e:
            item.add_marker(pytest.mark.skip(reason=f"BROWSER TESTS SKIPPED: {reason}"))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A running console: its address, the passwords it printed at first start, its database file."""

    def __init__(self, url, passwords, instance, process, output):
        self.url = url
        self.passwords = passwords
        self.instance = instance
        self.process = process
        self.output = output

    @property
    def database(self):
        return os.path.join(self.instance, "console.db")


LOGIN_LINE = re.compile(r"(?:用户名|演示账号:)\s*(\S+)\s+密码\s+(\S+)")


def start_server(instance):
    """Start ``python app.py PORT`` on a fresh instance folder; wait until it answers."""
    port = free_port()
    env = dict(os.environ, CONSOLE_INSTANCE_PATH=instance, PYTHONUNBUFFERED="1", PORT=str(port), HOST="127.0.0.1")
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen([sys.executable, "app.py", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    passwords = {}
    deadline = time.time() + 120
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                raise RuntimeError("the console did not start:\n" + "".join(output))
            continue
        output.append(line)
        for username, password in LOGIN_LINE.findall(line):
            passwords[username] = password
        if "客户管理控制台" in line and "http://" in line:
            break
    url = f"http://127.0.0.1:{port}"
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    # Keep draining the server's output so it never blocks on a full pipe.
    import threading

    def drain():
        for line in process.stdout:
            output.append(line)

    threading.Thread(target=drain, daemon=True).start()
    return Server(url, passwords, instance, process, output)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The console started the way `make run` serves it, on a free port with a temporary instance."""
    if missing_browser():
        pytest.skip(missing_browser())
    instance = str(tmp_path_factory.mktemp("e2e-instance"))
    srv = start_server(instance)
    yield srv
    srv.process.terminate()
    try:
        srv.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        srv.process.kill()
    shutil.rmtree(instance, ignore_errors=True)


@pytest.fixture(scope="session")
def playwright_instance():
    if missing_browser():
        pytest.skip(missing_browser())
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_instance):
    """Debian's Chromium, headless (Playwright's own browser download is not used)."""
    chromium = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def desk(browser, server):
    """A desk-sized browser context that records every problem of its pages."""
    from e2e_support import Session

    session = Session(browser, server, DESK)
    yield session
    session.close()


@pytest.fixture
def phone(browser, server):
    """A phone-sized (390×844) browser context that records every problem of its pages."""
    from e2e_support import Session

    session = Session(browser, server, PHONE, is_mobile=True)
    yield session
    session.close()


@pytest.fixture
def db(server):
    """Read the server's database directly (a second connection, read-only use)."""
    import sqlite3

    connection = sqlite3.connect(server.database, timeout=10)
    connection.row_factory = sqlite3.Row
    yield connection
    connection.close()
