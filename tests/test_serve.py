"""The server started the way `make run` starts it, on a fresh instance folder."""
import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from conftest import ROOT


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_first_start_creates_data_prints_login_and_serves(tmp_path):
    port = free_port()
    env = dict(os.environ, CONSOLE_INSTANCE_PATH=str(tmp_path / "instance"), PYTHONUNBUFFERED="1")
    env.pop("DATABASE_URL", None)
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "app.py", str(port)], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 240  # the first start loads the demo data; CI runs two suites at once
        page = None
        while time.time() < deadline:
            try:
                page = urllib.request.urlopen(base + "/login", timeout=2).read().decode()
                break
            except OSError:
                assert proc.poll() is None, log_path.read_text()
                time.sleep(0.3)
        assert page and "用户名" in page, log_path.read_text()
        output = log_path.read_text()
        match = re.search(r"用户名 admin\s+密码 (\S+)", output)
        assert match, output
        assert re.search(r"演示账号:gm\s+密码 \S+", output)
        assert (tmp_path / "instance" / "console.db").exists()
        assert oct((tmp_path / "instance" / "secret_key").stat().st_mode & 0o777) == "0o600"

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login_page = opener.open(base + "/login").read().decode()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page).group(1)
        body = urllib.parse.urlencode({"username": "admin", "password": match.group(1), "csrf_token": token})
        home = opener.open(base + "/login", data=body.encode()).read().decode()
        assert "工作台" in home and "客户" in home
        customers = opener.open(base + "/admin/customer/").read().decode()
        assert customers.count("KH20") >= 20
    finally:
        proc.terminate()
        proc.wait(timeout=10)
