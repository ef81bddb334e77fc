"""借阅登记册 and 移交看板: the archivist's screens over loans, handovers, reminders and inspections."""
import datetime
import io
import re
from decimal import Decimal

import pytest
from openpyxl import load_workbook

import models
import policies
from conftest import login
from conftest import make_user
from factories import acting_as
from factories import fresh
from factories import make
from policies import archives
from policies.calendar import local_today

D = datetime.date
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)


@pytest.fixture
def desk(app, client):
    """An archivist (cleared for top secret) logged in, a sales department, two borrowers."""
    sales = make(models.Department, name="销售部")
    service = make(models.Department, name="客服部")
    people = {
        "archivist": make_user("zhangli", roles=("archivist",), display_name="张丽", clearance="top_secret"),
        "liu": make_user("liuyang", roles=("sales",), display_name="刘洋", department=sales),
        "wang": make_user("wangfang", roles=("service",), display_name="王芳", department=service),
        "gm": make_user("zongjingli", roles=("gm",), display_name="陈总"),
        "clerk": make_user("luru", roles=("clerk",), display_name="录入员"),
    }
    login(client, "zhangli")
    return people


def folder(number, title="客户档案", level="normal", **fields):
    return make(models.ArchiveFile, number=number, title=title, confidentiality=level, **fields)


def open_loan(file, borrower, lent_ago=DAY, due_in=DAY, copies=1):
    """Write an open ledger line directly (ARC-1/ARC-2 still check it): lent ``lent_ago``, due in ``due_in``."""
    now = models.utcnow().replace(microsecond=0)
    return make(models.Loan, file=file, borrower=borrower, copies=copies, lent_at=now - lent_ago,
                due_at=now + due_in)


def page(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def row_ids(html, prefix="loan"):
    return [int(n) for n in re.findall(rf'<tr id="{prefix}-(\d+)"', html)]


def row_html(html, row_id):
    match = re.search(rf'<tr id="{row_id}"[^>]*>.*?</tr>', html, re.S)
    assert match, f"no row {row_id}"
    return match.group(0)


# ---------------------------------------------------------------- 1. the ledger page
def test_ledger_lists_open_loans_overdue_first_in_red_with_days_left(desk, client):
    a = open_loan(folder("KH-001", "甲公司档案"), desk["liu"], due_in=2 * DAY)
    late = open_loan(folder("KH-002", "乙公司档案"), desk["wang"], lent_ago=3 * DAY, due_in=-(DAY + 2 * HOUR))
    b = open_loan(folder("KH-003", "丙公司档案"), desk["liu"], due_in=5 * HOUR)
    html = page(client, "/admin/ledger/")
    assert row_ids(html) == [late.id, b.id, a.id]
    assert 'class="table-danger ledger-overdue' in row_html(html, f"loan-{late.id}")
    assert "已逾期 1 天 2 小时" in row_html(html, f"loan-{late.id}")
    assert "table-danger" not in row_html(html, f"loan-{a.id}")
    assert "剩 1 天 23 小时" in row_html(html, f"loan-{a.id}") or "剩 2 天" in row_html(html, f"loan-{a.id}")
    assert "客服部" in row_html(html, f"loan-{late.id}")
    assert 'id="card-overdue"' in html and "1 笔" in html


def test_ledger_filters_and_search(desk, client):
    a = open_loan(folder("KH-101", "甲公司档案"), desk["liu"], due_in=2 * DAY)
    late = open_loan(folder("KH-102", "乙公司档案", level="secret"), desk["wang"], lent_ago=3 * DAY, due_in=-DAY)
    assert row_ids(page(client, "/admin/ledger/?overdue=1")) == [late.id]
    assert row_ids(page(client, f"/admin/ledger/?borrower={desk['liu'].id}")) == [a.id]
    assert row_ids(page(client, f"/admin/ledger/?department={desk['wang'].department_id}")) == [late.id]
    assert row_ids(page(client, "/admin/ledger/?level=secret")) == [late.id]
    assert row_ids(page(client, "/admin/ledger/?q=甲公司")) == [a.id]
    assert row_ids(page(client, "/admin/ledger/?q=KH-102")) == [late.id]
    assert row_ids(page(client, "/admin/ledger/?q=王芳")) == [late.id]
    today = local_today()
    start = (today - 2 * DAY).isoformat()
    assert row_ids(page(client, f"/admin/ledger/?start={start}")) == [a.id]
    assert row_ids(page(client, f"/admin/ledger/?end={(today - 3 * DAY).isoformat()}")) == [late.id]
    # Nonsense in the query string is ignored, never a crash.
    assert set(row_ids(page(client, "/admin/ledger/?start=x&borrower=y&level=z&page=-3&state=q"))) == {a.id, late.id}


def test_ledger_needs_the_right_to_view_loans(app, client):
    make_user("kefu", roles=("service",))
    login(client, "kefu")
    assert client.get("/admin/ledger/").status_code == 403
    assert client.get("/admin/handover-board/").status_code == 403
    client.post("/logout")
    assert client.get("/admin/ledger/").status_code in (302, 403)
