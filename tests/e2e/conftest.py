"""Chromium end-to-end fixtures: the console served as `make run` serves it, a headless Debian Chromium."""
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from e2e_support import DESK  # noqa: E402
from e2e_support import PHONE  # noqa: E402
from e2e_support import Session  # noqa: E402
from e2e_support import missing_browser  # noqa: E402
from e2e_support import start_server  # noqa: E402
from e2e_support import CHROMIUM as E2E_CHROMIUM  # noqa: E402
from e2e_support import CHROMIUM_ARGS as E2E_CHROMIUM_ARGS  # noqa: E402

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - requirements.txt pins playwright
    sync_playwright = None


def pytest_collection_modifyitems(config, items):
    reason = missing_browser()
    if not reason:
        return
    e2e = [item for item in items if "/e2e/" in str(item.fspath).replace(os.sep, "/")]
    if e2e:
        sys.stderr.write(f"\n!!! BROWSER TESTS SKIPPED ({len(e2e)}): {reason} !!!\n")
        for item in e2e:
            item.add_marker(pytest.mark.skip(reason=f"BROWSER TESTS SKIPPED: {reason}"))


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
    chromium = playwright_instance.chromium.launch(executable_path=E2E_CHROMIUM, headless=True, args=E2E_CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def desk(browser, server):
    """A desk-sized browser context that records every problem of its pages."""
    session = Session(browser, server, DESK)
    yield session
    session.close()


@pytest.fixture
def phone(browser, server):
    """A phone-sized (390×844) browser context that records every problem of its pages."""
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
