"""What the browser tests share: a watched browser context, login, and the checks every page must pass."""
import os
import re
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlparse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import models  # noqa: E402

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - requirements.txt pins playwright
    sync_playwright = None

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
# No name resolves but the console's own address: a page that reaches for the network (a CDN) fails to, and
# Session reports the request. (Not Playwright's routing: routing turns the browser's cache off
# (microsoft/playwright#7220), and then every page fetches its twenty style sheets and scripts again, which is
# neither what people get nor quick.)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
DESK = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def missing_browser():
    """Return why the browser tests cannot run here, or '' when they can."""
    if sync_playwright is None:
        return "the playwright package is not installed"
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)"
    return ""


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
    def drain():
        for line in process.stdout:
            output.append(line)

    threading.Thread(target=drain, daemon=True).start()
    return Server(url, passwords, instance, process, output)



# Report every CSP violation the page sees (init scripts run outside the page's CSP).
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sourceFile || '') + ':' + e.lineNumber);
});
"""

# Words of Flask-Admin's English interface that must never reach a Chinese screen.
ENGLISH_UI = re.compile(
    r"(?<![A-Za-z])(List|Create|Edit|Details|Delete\??|Save|Cancel|Apply|Filter|Add Filter|Export|With selected|"
    r"Search|Select|Page Size|Records?|New|Remove|Clear|Change|Sort by|Are you sure|Please select|"
    r"Previous|Next|Submit|Yes|No|Home|Actions?|Add|Su|Mo|Tu|We|Th|Fr|Sa|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|"
    r"Nov|Dec|From|To|Custom Range)(?![A-Za-z])")
RAW_SQL = re.compile(r'SELECT\s+"|\bFROM\s+"[a-z_]+"|<peewee\.|ModelSelect|<Model')
PY_LITERALS = re.compile(r"(?<![A-Za-z_])(True|False|None)(?![A-Za-z_])")
MICROSECONDS = re.compile(r"\d{2}:\d{2}:\d{2}\.\d{3,6}")
OBJECT_REF = re.compile(r"(?<![A-Za-z])[A-Z][A-Za-z]+#\d+")
CLASS_NAMES = sorted({m.__name__ for m in models.MODELS if len(m.__name__) > 3}, key=len, reverse=True)
CLASS_RE = re.compile(r"(?<![A-Za-z_.])(" + "|".join(CLASS_NAMES) + r")(?![A-Za-z_])")


def _shown_as_data():
    """Role codes and login names: shown on purpose (beside the role's or person's name)."""
    import demo

    return {code for code, _name in demo.ROLES} | {row[0] for row in demo.USERS}


SHOWN_AS_DATA = _shown_as_data()


def _choice_codes():
    """Stored codes of every choice field that a person should only ever see as labels."""
    codes = set()
    shown_as_data = SHOWN_AS_DATA
    for model in models.MODELS:
        for field in model._meta.fields.values():
            for key, label in field.choices or ():
                if isinstance(key, str) and re.fullmatch(r"[a-z][a-z_]{3,}", key) and key != label:
                    codes.add(key)
    codes -= shown_as_data
    return sorted(codes, key=len, reverse=True)


# A snake_case word on screen is an identifier that leaked (a role code, a field or choice name).
IDENTIFIER = re.compile(r"(?<![A-Za-z0-9_@./:=?&-])[a-z]+(?:_[a-z]+)+(?![A-Za-z0-9_@/-])")
CODE_RE = re.compile(r"(?<![A-Za-z0-9_@./-])(" + "|".join(_choice_codes()) + r")(?![A-Za-z0-9_@/-])")


class Session:
    """One browser context (desk or phone) whose pages report every problem they meet."""

    def __init__(self, browser, server, viewport, is_mobile=False):
        self.server = server
        self.context = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai",
                                           is_mobile=is_mobile, has_touch=is_mobile,
                                           device_scale_factor=2 if is_mobile else 1)
        self.context.add_init_script(CSP_LISTENER)
        self.problems = []
        self.page = self.new_page()

    def new_page(self):
        page = self.context.new_page()
        page.set_default_timeout(15000)
        page.on("request", lambda req: None if self._local(req.url) else self.problems.append(
            f"request leaving 127.0.0.1: {req.url} @ {page.url}"))
        page.on("console", lambda msg: self.problems.append(f"console {msg.type}: {msg.text} @ {page.url}")
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc} @ {page.url}"))
        page.on("requestfailed", lambda req: self.problems.append(
            f"failed request: {req.url} ({req.failure}) @ {page.url}") if not self._aborted_by_us(req) else None)
        page.on("response", lambda res: self.problems.append(f"HTTP {res.status}: {res.url}")
                if res.status >= 500 or (res.status >= 400 and res.status != 403) else None)
        page.on("dialog", self._dialog)
        self.dialogs = []
        self.accept_dialogs = True
        return page

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        if self.accept_dialogs:
            dialog.accept()
        else:
            dialog.dismiss()

    @staticmethod
    def _aborted_by_us(request):
        # Leaving a page cancels its pending loads (ERR_ABORTED); a missing file shows as an HTTP status instead.
        # A request leaving 127.0.0.1 was reported when it was made (and then failed to resolve).
        return (urlparse(request.url).hostname not in ("127.0.0.1", None)
                or "ERR_ABORTED" in (request.failure or ""))

    @staticmethod
    def _local(url):
        return url.startswith(("data:", "blob:")) or urlparse(url).hostname == "127.0.0.1"

    def close(self):
        self.context.close()

    # ------------------------------------------------------------ navigation
    def url(self, path):
        return self.server.url + path

    def goto(self, path):
        response = self.page.goto(self.url(path))
        return response

    def login(self, username, password=None):
        """Log in through the login form; return the page after it."""
        page = self.page
        page.goto(self.url("/login"))
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password or self.server.passwords[username])
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert "/login" not in page.url, f"login of {username} failed: {page.inner_text('body')[:300]}"
        return page

    # ------------------------------------------------------------ checks
    def csp_violations(self, page=None):
        page = page or self.page
        try:
            return page.evaluate("window.__cspViolations || []")
        except Exception:  # noqa: BLE001 - a page being replaced has no answer
            return []

    def take_problems(self, page=None):
        """Return (and forget) what went wrong so far: console errors, CSP violations, bad requests."""
        found = list(self.problems) + [f"CSP violation: {v}" for v in self.csp_violations(page)]
        self.problems.clear()
        return found


def screen_text(page):
    """The text a person reads on the page, plus placeholders and titles."""
    return page.evaluate("""() => {
      const parts = [document.title, document.body.innerText];
      document.querySelectorAll('[placeholder],[title],input[type=submit],input[type=button]').forEach(el => {
        if (el.offsetParent !== null || el.getAttribute('type') === 'submit') {
          parts.push(el.getAttribute('placeholder') || '', el.getAttribute('title') || '',
                     el.type === 'submit' || el.type === 'button' ? el.value : '');
        }
      });
      return parts.join('\\n');
    }""")


def text_problems(text):
    """Return what a Chinese office screen must not show: English UI words, SQL, Python literals, codes."""
    found = []
    for name, pattern in (("English UI word", ENGLISH_UI), ("raw SQL", RAW_SQL), ("Python literal", PY_LITERALS),
                          ("seconds with microseconds", MICROSECONDS), ("object reference", OBJECT_REF),
                          ("class name", CLASS_RE), ("stored code", CODE_RE), ("identifier", IDENTIFIER)):
        for match in pattern.finditer(text):
            if pattern is IDENTIFIER and match.group(0) in SHOWN_AS_DATA:
                continue
            start = max(0, match.start() - 30)
            found.append(f"{name} {match.group(0)!r} in …{text[start:match.end() + 30]!r}…")
    return found
