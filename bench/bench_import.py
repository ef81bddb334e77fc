"""Benchmark 数据导入: 10,000 customers from one XLSX file, over HTTP, through the normal save path.

Run: ``python bench/bench_import.py`` (from the project root; ``BENCH_IMPORT_ROWS`` changes the size).
Starts the console under gunicorn (2 workers, as ``make run``) on a fresh SQLite file and plays a
person in a browser: log in, upload the file, open the preview (every row checked), start the import
and poll the progress endpoint until it says done, open the result page. Every row is saved with
its policies and audit rows, and a CUS-2 confirmation is requested for each new customer. Then the
same file again: nothing is added (re-import matches on the natural key).

Prints wall time per step, rows per second, the CPU seconds the server used (less sensitive to a
busy machine than wall time) and the load average.
"""
import http.cookiejar
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import openpyxl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import models  # noqa: E402
from app import create_app  # noqa: E402

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "10000"))
WORKERS = int(os.environ.get("WEB_CONCURRENCY", "2"))
TARGET_SECONDS = 60
PASSWORD = "Bench-密码-2026"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
TIERS = ("战略合作", "关键", "一般", "储备")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def workbook():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["客户名称", "客户层级", "行业", "地址", "电话", "负责人"])
    for i in range(ROWS):
        sheet.append([f"导入基准客户{i:05d}", TIERS[i % 4], "制造业", f"杭州市西湖区文三路{i}号",
                      f"0571-8{i:07d}", "bench_sales"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_tree_cpu(root):
    """Return the CPU seconds (user + system) used so far by ``root`` and its child processes."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(name) == root or int(fields[1]) == root:  # fields[1] is the parent pid
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


class Browser:
    """A cookie-keeping HTTP client that reads CSRF tokens like a person's browser submits them."""

    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                  NoRedirect())

    def get(self, path):
        with self.opener.open(self.base + path, timeout=600) as response:
            return response.read().decode("utf-8")

    def post(self, path, body, content_type="application/x-www-form-urlencoded"):
        request = urllib.request.Request(self.base + path, data=body, headers={"Content-Type": content_type})
        try:
            with self.opener.open(request, timeout=600) as response:
                return response.status, response.headers.get("Location", "")
        except urllib.error.HTTPError as exc:  # the 302 after a form
            if exc.code in (302, 303):
                return exc.code, exc.headers.get("Location", "")
            raise

    def form(self, path, fields):
        return self.post(path, urllib.parse.urlencode(fields).encode())

    def token(self, path):
        return CSRF_RE.search(self.get(path)).group(1)

    def upload(self, path, fields, filename, payload):
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                     f'Content-Type: application/octet-stream\r\n\r\n'.encode() + payload + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        return self.post(path, b"".join(parts), f"multipart/form-data; boundary={boundary}")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def start_server(folder, url):
    port = free_port()
    env = dict(os.environ, DATABASE_URL=url, CONSOLE_INSTANCE_PATH=folder, SECRET_KEY="bench-import",
               PYTHONUNBUFFERED="1")
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    log = open(os.path.join(folder, "server.log"), "w")
    proc = subprocess.Popen([gunicorn, "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}",
                             "app:create_app()"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(base + "/login", timeout=5).read()
            return proc, base
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start: see " + log.name)


def timed_run(browser, server_pid, payload):
    """Upload, preview, import and poll until done; return the timings and the final progress."""
    cpu_start = process_tree_cpu(server_pid)
    started = time.perf_counter()
    status, location = browser.upload("/admin/import/upload/", {
        "csrf_token": browser.token("/admin/import/?model=Customer"), "model": "Customer"}, "bench.xlsx", payload)
    job_id = int(re.search(r"id=(\d+)", location).group(1))
    preview = browser.get(f"/admin/import/job/?id={job_id}")  # the preview checks every row
    uploaded = time.perf_counter()
    status, _ = browser.form("/admin/import/run/", {"csrf_token": CSRF_RE.search(preview).group(1), "id": job_id})
    seen = []
    while True:
        progress = json.loads(browser.get(f"/admin/import/progress/?id={job_id}"))
        seen.append(progress["done"])
        if progress["status"] in ("done", "failed"):
            break
        time.sleep(0.25)
    finished = time.perf_counter()
    result_page = browser.get(f"/admin/import/job/?id={job_id}")
    assert progress["status"] == "done", progress
    assert seen == sorted(seen), "progress went backwards"
    assert "id=\"import-results\"" in result_page
    return dict(upload=uploaded - started, run=finished - uploaded, total=finished - started,
                cpu=process_tree_cpu(server_pid) - cpu_start, progress=progress, polls=len(set(seen)))


def main():
    folder = tempfile.mkdtemp(prefix="bench-import-")
    url = f"sqlite:///{folder}/bench.db"
    create_app({"INSTANCE_PATH": folder, "SECRET_KEY": "bench-import", "DATABASE_URL": url})
    with models.db.connection_context():
        for username, role in (("bench_clerk", "clerk"), ("bench_sales", "sales")):
            user = models.User(username=username, display_name=username)
            user.set_password(PASSWORD)
            user.save()
            user.roles.add(models.Role.get(models.Role.code == role))
    models.db.close()
    payload = workbook()
    proc, base = start_server(folder, url)
    try:
        browser = Browser(base)
        browser.form("/login", {"username": "bench_clerk", "password": PASSWORD, "csrf_token": browser.token("/login")})
        load_before = os.getloadavg()
        first = timed_run(browser, proc.pid, payload)
        second = timed_run(browser, proc.pid, payload)
        load_after = os.getloadavg()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    print(f"{ROWS:,} 行客户 XLSX({len(payload) / 1024:,.0f} KiB),gunicorn {WORKERS} 个进程,SQLite;"
          f"负载 {load_before[0]:.1f} → {load_after[0]:.1f}(1 分钟平均),{os.cpu_count()} 核")
    print(f"{'':<10} {'上传+预览 s':>12} {'导入 s':>8} {'合计 s':>8} {'行/秒':>8} {'服务器CPU s':>12}  结果")
    for name, run in (("首次导入", first), ("重复导入", second)):
        p = run["progress"]
        print(f"{name:<10} {run['upload']:>12.1f} {run['run']:>8.1f} {run['total']:>8.1f} "
              f"{ROWS / run['total']:>8.0f} {run['cpu']:>12.1f}  "
              f"新增 {p['imported']} 更新 {p['updated']} 跳过 {p['skipped']} 失败 {p['failed']}"
              f"(进度更新 {run['polls']} 次)")
    verdict = "达标" if first["total"] < TARGET_SECONDS else "未达标"
    print(f"目标:{ROWS:,} 行在 {TARGET_SECONDS} 秒内导入完毕(上传到完成):{verdict}")


if __name__ == "__main__":
    main()
