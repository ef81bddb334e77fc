"""Benchmark 数据导入: 10,000 customers from one XLSX file, through the normal save path.

Run: ``python bench/bench_import.py`` (from the project root). Builds the file, uploads it over the
app's HTTP interface (Flask test client, a real temporary SQLite file), runs the import and prints
the time of parsing + preview, of the import itself (every row saved with its policies and audit
row, CUS-2 confirmation requested for each new customer) and of a second, idempotent run.
"""
import io
import os
import re
import sys
import tempfile
import time

import openpyxl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import models  # noqa: E402
from app import create_app  # noqa: E402

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "10000"))
PASSWORD = "Bench-密码-2026"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
TIERS = ("战略合作", "关键", "一般", "储备")


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


def token(client, url):
    return CSRF_RE.search(client.get(url).get_data(as_text=True)).group(1)


def timed_run(client, payload):
    started = time.perf_counter()
    response = client.post("/admin/import/upload/", data={
        "csrf_token": token(client, "/admin/import/?model=Customer"), "model": "Customer",
        "file": (io.BytesIO(payload), "bench.xlsx")}, content_type="multipart/form-data")
    job_id = int(re.search(r"id=(\d+)", response.headers["Location"]).group(1))
    client.get(response.headers["Location"])  # the preview page checks every row
    uploaded = time.perf_counter()
    client.post("/admin/import/run/", data={"csrf_token": token(client, f"/admin/import/job/?id={job_id}"),
                                            "id": job_id})
    finished = time.perf_counter()
    return uploaded - started, finished - uploaded, models.ImportJob.get_by_id(job_id)


def main():
    folder = tempfile.mkdtemp(prefix="bench-import-")
    app = create_app({"INSTANCE_PATH": folder, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": True,
                      "IMPORT_IN_REQUEST": True, "DATABASE_URL": f"sqlite:///{folder}/bench.db"})
    with models.db.connection_context():
        for username, role in (("bench_clerk", "clerk"), ("bench_sales", "sales")):
            user = models.User(username=username, display_name=username)
            user.set_password(PASSWORD)
            user.save()
            user.roles.add(models.Role.get(models.Role.code == role))
    payload = workbook()
    client = app.test_client()
    client.post("/login", data={"username": "bench_clerk", "password": PASSWORD,
                                "csrf_token": token(client, "/login")})
    first = timed_run(client, payload)
    second = timed_run(client, payload)
    print(f"{ROWS:,} 行客户 XLSX({len(payload) / 1024:,.0f} KiB)")
    print(f"{'':<10} {'上传+预览 s':>12} {'导入 s':>8} {'行/秒':>8}  结果")
    for name, (upload_s, run_s, job) in (("首次导入", first), ("重复导入", second)):
        print(f"{name:<10} {upload_s:>12.1f} {run_s:>8.1f} {ROWS / run_s:>8.0f}  "
              f"新增 {job.imported} 更新 {job.updated} 跳过 {job.skipped} 失败 {job.failed}")


if __name__ == "__main__":
    main()
