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
from factories import lent
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


def open_loan(file, borrower, lent_ago=DAY, days=2, copies=1):
    """Lend ``file`` to ``borrower`` the only way (request, approvals, lend) ``lent_ago`` ago for ``days`` days."""
    return make(models.Loan, file=file, borrower=borrower, copies=copies, days=days,
                lent_at=models.utcnow().replace(microsecond=0) - lent_ago)


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
    a = open_loan(folder("KH-001", "甲公司档案"), desk["liu"], days=3)
    late = open_loan(folder("KH-002", "乙公司档案"), desk["wang"], lent_ago=3 * DAY + 2 * HOUR)
    b = open_loan(folder("KH-003", "丙公司档案"), desk["liu"], lent_ago=2 * DAY - 5 * HOUR)
    html = page(client, "/admin/ledger/")
    assert row_ids(html) == [late.id, b.id, a.id]
    assert 'class="table-danger ledger-overdue' in row_html(html, f"loan-{late.id}")
    assert "已逾期 1 天 2 小时" in row_html(html, f"loan-{late.id}")
    assert "table-danger" not in row_html(html, f"loan-{a.id}")
    assert "剩 1 天 23 小时" in row_html(html, f"loan-{a.id}") or "剩 2 天" in row_html(html, f"loan-{a.id}")
    assert "客服部" in row_html(html, f"loan-{late.id}")
    assert 'id="card-overdue"' in html and "1 笔" in html


def test_ledger_filters_and_search(desk, client):
    a = open_loan(folder("KH-101", "甲公司档案"), desk["liu"], days=3)
    late = open_loan(folder("KH-102", "乙公司档案", level="secret"), desk["wang"], lent_ago=3 * DAY)
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
    anonymous = client.application.test_client()
    assert anonymous.get("/admin/ledger/").status_code == 302


# ---------------------------------------------------------------- 4. history
def close(loan, archivist):
    """Close a ledger line the only way (ARC-6: returned complete, checked by an archivist)."""
    archives.return_loan(fresh(loan), True, archivist, "")
    return fresh(loan)


def test_history_per_file_and_per_borrower(desk, client):
    file = folder("KH-201", "甲公司档案")
    other = folder("KH-202", "乙公司档案")
    first = close(open_loan(file, desk["liu"], lent_ago=10 * DAY), desk["archivist"])
    second = open_loan(file, desk["wang"], lent_ago=HOUR)
    elsewhere = open_loan(other, desk["liu"])
    make(models.AccessRequest, file=file, applicant=desk["gm"], purpose="核对合同")
    make(models.AccessRequest, file=file, applicant=None, external_name="李律师", intro_letter_no="JS-2026-8",
         purpose="诉讼取证", dept_head_signed=True)
    html = page(client, f"/admin/ledger/file/?id={file.id}")
    assert row_ids(html, "history-loan") == [second.id, first.id]
    closed_line = row_html(html, f"history-loan-{first.id}")
    assert "已注销" in closed_line and "张丽" in closed_line and "10 天" in closed_line
    assert "在借" in row_html(html, f"history-loan-{second.id}")
    assert "陈总" in html and "李律师" in html and "JS-2026-8" in html
    html = page(client, f"/admin/ledger/borrower/?id={desk['liu'].id}")
    assert row_ids(html, "history-loan") == [elsewhere.id, first.id]
    assert client.get("/admin/ledger/file/?id=999999").status_code == 404
    assert client.get("/admin/ledger/borrower/?id=999999").status_code == 404
    # The closed line moved to the ledger's 已注销 tab.
    assert row_ids(page(client, "/admin/ledger/?state=closed")) == [first.id]
    assert first.id not in row_ids(page(client, "/admin/ledger/"))


# ---------------------------------------------------------------- secrecy
def test_no_secret_file_for_a_user_without_clearance(desk, client):
    plain = folder("KH-301", "普通档案")
    secret = folder("JM-302", "机密档案甲", level="secret")
    top = folder("JM-303", "绝密档案乙", level="top_secret")
    loans = [open_loan(plain, desk["liu"]), open_loan(secret, desk["liu"], lent_ago=3 * DAY),
             open_loan(top, desk["liu"], lent_ago=3 * DAY)]
    closed = close(open_loan(folder("JM-304", "机密档案丙", level="secret"), desk["wang"], lent_ago=3 * DAY),
                   desk["archivist"])
    make(models.AccessRequest, file=secret, applicant=desk["liu"], purpose="核对")
    # The archivist with top-secret clearance sees everything.
    assert set(row_ids(page(client, "/admin/ledger/"))) == {loan.id for loan in loans}
    make_user("ziliao", roles=("archivist",), display_name="资料员", clearance="normal")
    client = client.application.test_client()
    login(client, "ziliao")
    html = page(client, "/admin/ledger/")
    assert row_ids(html) == [loans[0].id]
    assert "机密档案" not in html and "绝密档案" not in html and "JM-30" not in html
    assert 'id="card-overdue"' in html and "0 笔" in html  # the secret overdue loans are not counted either
    html = page(client, "/admin/ledger/?state=all")
    assert row_ids(html) == [loans[0].id]
    assert client.get(f"/admin/ledger/file/?id={secret.id}").status_code == 404
    html = page(client, f"/admin/ledger/borrower/?id={desk['liu'].id}")
    assert row_ids(html, "history-loan") == [loans[0].id] and "机密" not in html.replace("密级", "")
    html = page(client, f"/admin/ledger/borrower/?id={desk['wang'].id}")
    assert row_ids(html, "history-loan") == [] and "JM-304" not in html
    span = f"start={local_today() - 10 * DAY}&end={local_today()}"
    html = page(client, f"/admin/ledger/print/?{span}")
    assert "KH-301" in html and "JM-30" not in html
    response = client.get(f"/admin/ledger/export.xlsx?{span}")
    assert response.status_code == 200
    texts = " ".join(str(c.value) for r in load_workbook(io.BytesIO(response.data)).active.iter_rows() for c in r)
    assert "KH-301" in texts and "JM-30" not in texts and "机密档案" not in texts
    assert closed.id  # the secret closed line is neither in the history nor in the book


# ---------------------------------------------------------------- 5. print view and export
def test_print_view_is_an_a4_book_with_company_and_page_numbers(desk, client, app):
    app.config["COMPANY_NAME"] = "鸿达汽车销售服务有限公司"
    try:
        lent(make(models.BorrowRequest, file=folder("KH-401"), borrower=desk["gm"], reason="=HYPERLINK(\"x\")",
                  days=2))
        html = page(client, "/admin/ledger/print/")
    finally:
        app.config.pop("COMPANY_NAME")
    assert "鸿达汽车销售服务有限公司" in html and "客户资料外借登记册" in html
    for column in ("序号", "借出日期", "档案编号", "资料名称", "份数", "借阅理由", "借阅人", "应还日期", "归还日期",
                   "核验人", "借阅人签字"):
        assert f"<th>{column}</th>" in html
    assert len(re.findall(r"<tr><td>1</td>", html)) == 1
    assert "onclick" not in html and "style=" not in html
    css = client.get("/static/ledger/print.css").get_data(as_text=True)
    assert "size: A4" in css and "counter(page)" in css and "counter(pages)" in css


def test_export_xlsx_is_formula_safe_and_audited(desk, client):
    lent(make(models.BorrowRequest, file=folder("KH-501", "=cmd|' /C calc'!A0"), borrower=desk["gm"],
              reason="+SUM(1,2)", days=2))
    response = client.get("/admin/ledger/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert [c.value for c in sheet[2]][:4] == ["序号", "借出日期", "档案编号", "资料名称"]
    line = [c.value for c in sheet[3]]
    assert line[2] == "KH-501" and line[3] == "'=cmd|' /C calc'!A0" and line[6] == "'+SUM(1,2)"
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
    log = models.AuditLog.select().where(models.AuditLog.action == "export").get()
    assert log.model == "Loan" and log.user_id == desk["archivist"].id


def test_export_needs_the_export_right(app, client):
    make_user("luru", roles=("clerk",))
    login(client, "luru")
    assert client.get("/admin/ledger/").status_code == 200
    assert client.get("/admin/ledger/export.xlsx").status_code == 403


class QueryCounter:
    """Count the SQL statements the database runs (a trace on peewee's execute_sql)."""

    def __init__(self, monkeypatch):
        self.statements = []
        original = models.db.obj.execute_sql

        def traced(sql, params=None, *args, **kwargs):
            self.statements.append(sql)
            return original(sql, params, *args, **kwargs)
        monkeypatch.setattr(models.db.obj, "execute_sql", traced)

    def reset(self):
        self.statements = []


def test_print_view_of_a_month_of_500_lines_takes_a_bounded_number_of_queries(desk, client, monkeypatch):
    month_start = D(2026, 11, 1)
    people = [desk["liu"], desk["wang"], desk["gm"]]
    # Set-up data only: 500 files, requests and ledger lines inserted in bulk (the rules are not under test here).
    now = models.utcnow()
    models.ArchiveFile.insert_many([dict(number=f"PR-{n:04d}", title=f"打印测试档案{n}", created_at=now,
                                         updated_at=now) for n in range(500)]).execute()
    files = list(models.ArchiveFile.select().where(models.ArchiveFile.number.startswith("PR-"))
                 .order_by(models.ArchiveFile.number))
    models.BorrowRequest.insert_many([
        dict(file=f.id, borrower=people[n % 3].id, reason=f"理由{n}", days=2, dept_head_signed=True,
             status="approved", created_at=now, updated_at=now) for n, f in enumerate(files)]).execute()
    request_ids = [r.id for r in models.BorrowRequest.select(models.BorrowRequest.id).order_by(models.BorrowRequest.id)]
    rows = []
    for n, (f, request_id) in enumerate(zip(files, request_ids)):
        lent = datetime.datetime(2026, 10, 31, 17) + datetime.timedelta(minutes=80 * n)
        rows.append(dict(file=f.id, borrower=people[n % 3].id, request=request_id, copies=1, lent_at=lent,
                         due_at=lent + 2 * DAY, returned_at=lent + DAY if n % 2 else None,
                         returned_complete=bool(n % 2), checked_by=desk["archivist"].id if n % 2 else None,
                         created_at=now, updated_at=now))
    for chunk in range(0, 500, 100):
        models.Loan.insert_many(rows[chunk:chunk + 100]).execute()
    counter = QueryCounter(monkeypatch)
    html = page(client, f"/admin/ledger/print/?start={month_start}&end=2026-11-30")
    lines = len(re.findall(r"<tr><td>\d+</td>", html))
    assert lines == 500
    assert "理由499" in html and "张丽" in html and "销售部" in html
    big = len(counter.statements)
    counter.reset()
    page(client, "/admin/ledger/print/?start=2026-11-01&end=2026-11-01")
    small = len(counter.statements)
    assert big == small and big <= 12, counter.statements
    counter.reset()
    page(client, "/admin/ledger/?state=all")
    assert len(counter.statements) <= 20, counter.statements


# ---------------------------------------------------------------- 6. handovers board
@pytest.fixture
def today(monkeypatch):
    """Pin the office's 'today' for the rules and the board; return a setter."""
    import views.ledger
    current = {"day": D(2026, 11, 2)}
    monkeypatch.setattr(archives, "local_today", lambda: current["day"])
    monkeypatch.setattr(views.ledger, "local_today", lambda now=None: current["day"])

    def set_today(day):
        current["day"] = day
        return day
    return set_today


def handover(user, kind, event_on, handed_on=None, number=None):
    file = folder(number or f"YJ-{models.Handover.select().count() + 1:03d}", "移交档案")
    return make(models.Handover, file=file, handed_by=user, kind=kind, event_on=event_on, handed_on=handed_on)


def test_handover_board_due_dates_over_a_holiday_and_fines_doubling_in_the_month(desk, client, today):
    sales = make_user("xiaoshou", roles=("sales",), display_name="销售小李")
    service = make_user("fuwu", roles=("service",), display_name="服务小赵")
    today(D(2026, 10, 12))
    # National Day: 1–7 October are holidays and Saturday 10 October a make-up working day (ARC-8).
    before = make_user("xiaoshou2", roles=("sales",), display_name="销售小周")
    national = handover(before, "sales", D(2026, 9, 30), number="YJ-GQ")
    after_sales = handover(service, "after_sales", D(2026, 9, 30), number="YJ-SH")
    html = page(client, "/admin/handover-board/")
    assert row_ids(html, "handover") == [after_sales.id, national.id]
    assert ">2026-10-10<" in row_html(html, f"handover-{national.id}")
    assert ">2026-10-08<" in row_html(html, f"handover-{after_sales.id}")
    assert "table-danger" in row_html(html, f"handover-{national.id}")
    assert "已逾期 2 天" in row_html(html, f"handover-{national.id}")
    # October: the salesperson's second violation in the month is doubled (ARC-9, 处罚 6).
    today(D(2026, 11, 2))
    handover(sales, "sales", D(2026, 9, 21), D(2026, 9, 25))  # September: one violation, 50
    first = handover(sales, "sales", D(2026, 10, 23), D(2026, 10, 29))
    second = handover(sales, "sales", D(2026, 10, 23), D(2026, 10, 29))
    html = page(client, "/admin/handover-board/?show=received")
    assert "50.00 元" in row_html(html, f"handover-{first.id}")
    assert "100.00 元" in row_html(html, f"handover-{second.id}")
    html = page(client, "/admin/handover-board/?month=2026-10")
    assert "2026 年 10 月" in html
    line = row_html(html, f"fines-user-{sales.id}")
    assert ">2<" in line and ">150.00<" in line
    html = page(client, "/admin/handover-board/?month=2026-09")
    assert ">50.00<" in row_html(html, f"fines-user-{sales.id}")


def test_handover_received_with_the_checklist_in_one_click(desk, client, today):
    from conftest import csrf_token
    sales = make_user("xiaoshou", roles=("sales",), display_name="销售小李")
    today(D(2026, 11, 4))
    pending = handover(sales, "sales", D(2026, 11, 2))
    contract = make(models.ArchiveItem, file=pending.file, name="购车合同", present=False)
    invoice = make(models.ArchiveItem, file=pending.file, name="发票", present=False)
    html = page(client, "/admin/handover-board/")
    assert 'name="tick" value="%d:customer"' % contract.id in html
    ticks = [f"{contract.id}:present", f"{contract.id}:customer", f"{contract.id}:staff", f"{invoice.id}:present",
             f"{invoice.id}:staff"]
    response = client.post("/admin/handover-board/receive/", data={
        "csrf_token": csrf_token(client, "/admin/handover-board/"), "handover": pending.id, "tick": ticks,
        "handed_on": "2026-11-04"}, follow_redirects=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "已接收" in body
    received = fresh(pending)
    assert received.handed_on == D(2026, 11, 4) and received.missing_items == 0
    assert fresh(contract).customer_signed and not fresh(invoice).customer_signed
    # ARC-9 computed the missing customer signature of the invoice on receipt.
    fines = [(p.violation, p.amount) for p in models.Penalty.select().where(models.Penalty.user == sales)]
    assert fines == [("customer_signature", Decimal("20.00"))]
    assert models.AuditLog.select().where(models.AuditLog.model == "Handover",
                                          models.AuditLog.record_id == str(pending.id)).count() == 2
    # A second receipt is refused, nothing changes.
    client.post("/admin/handover-board/receive/", data={
        "csrf_token": csrf_token(client, "/admin/handover-board/"), "handover": pending.id})
    assert fresh(pending).version == received.version


# ---------------------------------------------------------------- 7. reminders
def test_reminder_queries_due_tomorrow_and_overdue(app):
    from policies.calendar import local_midnight
    borrower = make_user("liuyang", roles=("sales",))
    now = datetime.datetime(2026, 11, 2, 2, 0)  # 10:00 local, 2 November
    tomorrow = local_midnight(D(2026, 11, 3))

    def line(number, due_at):
        return make(models.Loan, file=folder(number), borrower=borrower, lent_at=due_at - 2 * DAY, days=2)
    first_minute = line("R-1", tomorrow)
    last_minute = line("R-2", tomorrow + DAY - datetime.timedelta(minutes=1))
    day_after = line("R-3", tomorrow + DAY)
    tonight = line("R-4", tomorrow - datetime.timedelta(minutes=1))
    late = line("R-5", now - datetime.timedelta(minutes=1))
    assert {loan.id for loan in models.Loan.due_tomorrow(now)} == {first_minute.id, last_minute.id}
    assert {loan.id for loan in models.Loan.overdue(now)} == {late.id}
    assert {loan.id for loan in models.Loan.open()} == {first_minute.id, last_minute.id, day_after.id, tonight.id,
                                                        late.id}


def test_chasing_an_overdue_loan_records_who_and_when(desk, client):
    from conftest import csrf_token
    late = open_loan(folder("KH-701"), desk["liu"], lent_ago=4 * DAY, days=3)
    on_time = open_loan(folder("KH-702"), desk["wang"])
    html = page(client, "/admin/ledger/")
    assert "记录催还" in row_html(html, f"loan-{late.id}") and "记录催还" not in row_html(html, f"loan-{on_time.id}")
    before = models.utcnow().replace(microsecond=0)
    response = client.post("/admin/ledger/remind/", data={
        "csrf_token": csrf_token(client, "/admin/ledger/"), "loan": late.id, "channel": "phone",
        "note": "已电话通知,明天归还"}, follow_redirects=True)
    assert response.status_code == 200 and "已记录催还" in response.get_data(as_text=True)
    chase = models.LoanReminder.get()
    assert (chase.loan_id, chase.reminded_by_id, chase.channel, chase.note) == (
        late.id, desk["archivist"].id, "phone", "已电话通知,明天归还")
    assert chase.at >= before
    assert models.AuditLog.select().where(models.AuditLog.model == "LoanReminder").count() == 1
    assert "1 次" in row_html(page(client, "/admin/ledger/"), f"loan-{late.id}")
    # The GM may view the ledger but not chase (no right to edit loans); an unknown loan id is a 404.
    assert client.post("/admin/ledger/remind/", data={
        "csrf_token": csrf_token(client, "/admin/ledger/"), "loan": 999999}).status_code == 404
    gm = client.application.test_client()
    login(gm, "zongjingli")
    assert "记录催还" not in page(gm, "/admin/ledger/")
    assert gm.post("/admin/ledger/remind/", data={
        "csrf_token": csrf_token(gm, "/admin/ledger/"), "loan": late.id}).status_code == 403
    assert models.LoanReminder.select().count() == 1


# ---------------------------------------------------------------- 8. inspections
def test_ledger_shows_the_next_inspection_and_links_the_record_form(desk, client):
    html = page(client, "/admin/ledger/")
    assert "尚无检查记录" in html
    make(models.Inspection, on=local_today() - datetime.timedelta(days=30), inspector=desk["archivist"])
    html = page(client, "/admin/ledger/")
    from policies.calendar import add_months
    assert f"下次检查:{add_months(local_today() - datetime.timedelta(days=30), 6)}" in html
    assert 'id="inspection-create" href="/admin/inspection/new/' in html
    form = client.get(re.search(r'id="inspection-create" href="([^"]+)"', html).group(1).replace("&amp;", "&"))
    assert form.status_code == 200 and "检查日期" in form.get_data(as_text=True)
    make(models.Inspection, on=local_today() - datetime.timedelta(days=200))
    models.Inspection.delete().where(models.Inspection.on > local_today() - datetime.timedelta(days=100)).execute()
    assert "(已到期)" in page(client, "/admin/ledger/")


# ---------------------------------------------------------------- 2. lend and 3. return (注销)
def audit_rows(model, record_id):
    return [(row.action, row.user_id) for row in models.AuditLog.select().where(
        models.AuditLog.model == model, models.AuditLog.record_id == str(record_id)).order_by(models.AuditLog.id)]


def post(client, url, data, follow=True):
    from conftest import csrf_token
    return client.post(url, data=dict(data, csrf_token=csrf_token(client, "/admin/ledger/")),
                       follow_redirects=follow)


def approved_request(desk, file, borrower="liu", days=2, copies=2):
    """File a borrow request for ``borrower`` and have the GM approve it (ARC-5); return it approved."""
    from policies import approvals
    with acting_as(desk["clerk"]):
        request = make(models.BorrowRequest, file=file, borrower=desk[borrower], days=days, copies=copies,
                       reason="核对购车发票")
    for row in models.Approval.select().where(models.Approval.target_model == "BorrowRequest",
                                              models.Approval.target_id == request.id,
                                              models.Approval.status == "pending"):
        approvals.decide(row.id, desk["gm"], True)
    request = fresh(request)
    assert request.status == "approved"
    return request


def test_lend_overdue_return_incomplete_then_complete(desk, client, monkeypatch):
    file = folder("KH-801", "甲公司档案", pages=12)
    contract = make(models.ArchiveItem, file=file, name="购车合同")
    invoice = make(models.ArchiveItem, file=file, name="购车发票")
    request = approved_request(desk, file)
    assert models.Loan.select().count() == 0
    html = page(client, "/admin/ledger/")
    assert "可借出" in row_html(html, f"request-{request.id}")
    # Lend: one click with the number of copies checked.
    body = post(client, "/admin/ledger/lend/", {"request": request.id, "copies": 2}).get_data(as_text=True)
    assert "已借出" in body
    loan = models.Loan.get()
    assert (loan.request_id, loan.borrower_id, loan.copies) == (request.id, desk["liu"].id, 2)
    assert loan.due_at - loan.lent_at == 2 * DAY  # the request's days, within ARC-1
    assert fresh(file).status == "on_loan"
    assert ("create", desk["archivist"].id) in audit_rows("Loan", loan.id)
    assert ("update", desk["archivist"].id) in audit_rows("ArchiveFile", file.id)
    html = page(client, "/admin/ledger/")
    assert row_ids(html) == [loan.id] and f'id="request-{request.id}"' not in html
    assert "table-danger" not in row_html(html, f"loan-{loan.id}")
    # Two days and an hour later the line is overdue: first, in red.
    later = models.utcnow() + 2 * DAY + HOUR
    monkeypatch.setattr(models, "utcnow", lambda: later)
    html = page(client, "/admin/ledger/")
    assert "table-danger" in row_html(html, f"loan-{loan.id}") and "已逾期 1 小时" in row_html(html, f"loan-{loan.id}")
    assert [row.id for row in models.Loan.overdue(later)] == [loan.id]
    # Returned without the invoice: the line stays open with the note (ARC-6), the file stays out.
    form = page(client, f"/admin/ledger/return/?id={loan.id}")
    assert "购车合同 在册" in form and "页数核对无误(共 12 页" in form
    before = len(audit_rows("Loan", loan.id))
    body = post(client, "/admin/ledger/return/", {"id": loan.id, "tick": ["pages"]}).get_data(as_text=True)
    assert "核对未完整时须写明缺失或损坏的情况" in body and "ARC-6" in body and 'class="form-control is-invalid"' in body
    assert len(audit_rows("Loan", loan.id)) == before and fresh(loan).return_note == ""
    body = post(client, "/admin/ledger/return/", {"id": loan.id, "tick": ["pages", f"item-{contract.id}"],
                                                  "note": "缺购车发票,借阅人称明日补还"}).get_data(as_text=True)
    assert "核对未完整" in body
    loan = fresh(loan)
    assert loan.returned_at is None and not loan.returned_complete and loan.return_note.startswith("缺购车发票")
    assert fresh(file).status == "on_loan"
    new_rows = models.AuditLog.select().where(models.AuditLog.model == "Loan", models.AuditLog.record_id == str(loan.id)
                                              ).order_by(models.AuditLog.id)[before:]
    assert {row.user_id for row in new_rows} == {desk["archivist"].id}
    changes = {}
    for row in new_rows:
        changes.update(row.changes_dict())
    assert changes["操作"] == ["", "核对未完整"] and "return_note" in changes and "returned_at" not in changes
    html = page(client, "/admin/ledger/")
    assert row_ids(html) == [loan.id] and "缺购车发票" in row_html(html, f"loan-{loan.id}")
    # Returned complete: the line closes, the file is back in store, the line moves to history.
    body = post(client, "/admin/ledger/return/", {"id": loan.id, "tick": ["pages", f"item-{contract.id}",
                                                                          f"item-{invoice.id}"]}).get_data(as_text=True)
    assert "已归还注销" in body
    loan = fresh(loan)
    assert loan.returned_at is not None and loan.returned_complete and loan.checked_by_id == desk["archivist"].id
    assert fresh(file).status == "in_store"
    assert audit_rows("Loan", loan.id)[-1] == ("update", desk["archivist"].id)
    assert audit_rows("ArchiveFile", file.id)[-1] == ("update", desk["archivist"].id)
    assert row_ids(page(client, "/admin/ledger/")) == []
    assert row_ids(page(client, "/admin/ledger/?state=closed")) == [loan.id]
    html = page(client, f"/admin/ledger/file/?id={file.id}")
    assert "已注销" in row_html(html, f"history-loan-{loan.id}") and "张丽" in row_html(html, f"history-loan-{loan.id}")
    # A closed line cannot be returned again.
    assert client.get(f"/admin/ledger/return/?id={loan.id}").status_code == 302


def test_second_loan_of_an_out_file_waits_and_is_refused_with_arc2(desk, client):
    file = folder("KH-802", "乙公司档案")
    first = approved_request(desk, file, "liu")
    second = approved_request(desk, file, "wang")
    post(client, "/admin/ledger/lend/", {"request": first.id, "copies": 1})
    loan = models.Loan.get()
    html = page(client, "/admin/ledger/")
    waiting = row_html(html, f"request-{second.id}")
    assert "排队" in waiting and "该档案已借出尚未归还" in waiting and "刘洋" in waiting and "lend-form" not in waiting
    # Lending it anyway (a stale page) is refused by the policy, and the message shows on the screen.
    body = post(client, "/admin/ledger/lend/", {"request": second.id, "copies": 1}).get_data(as_text=True)
    assert "ARC-2" in body and "该档案已借出尚未归还" in body
    assert [row.id for row in models.Loan.select()] == [loan.id]
    # Too many copies: refused, nothing written.
    third_file = folder("KH-803")
    third = approved_request(desk, third_file, "wang", copies=1)
    body = post(client, "/admin/ledger/lend/", {"request": third.id, "copies": 3}).get_data(as_text=True)
    assert "份" in body and models.Loan.select().count() == 1
    body = post(client, "/admin/ledger/lend/", {"request": third.id, "copies": "两"}).get_data(as_text=True)
    assert "请填写借出份数" in body and models.Loan.select().count() == 1
