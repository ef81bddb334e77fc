"""投诉看板: board contents per role and filter, clocks at their boundaries, the complaint page, the monthly
report (exact figures of a hand-built month, XLSX), moves through the save path, major complaints, query bound."""
import datetime
import decimal
import io
import re

import pytest
from peewee import fn

import models
import policies
from conftest import csrf_token
from conftest import login
from conftest import make_user
from factories import make
from factories import run
from policies import complaints as rules
from policies import workflow
from views import complaints as board_view

BOARD = "/admin/complaint-board/"
STATS = "/admin/complaint-stats/"
H = datetime.timedelta(hours=1)
D = datetime.timedelta(days=1)


def bj(*args):
    """Return the stored (naive UTC) form of a Beijing wall-clock time."""
    return rules.to_utc(datetime.datetime(*args))


def complaint(**fields):
    fields.setdefault("complainant", "张先生")
    fields.setdefault("content", "投诉内容")
    fields.setdefault("category", "service")
    return make(models.Complaint, **fields)


def gm_user():
    return models.User.get_or_none(models.User.username == "board_gm") or make_user("board_gm", roles=("gm",))


ACTION_TO = {"investigating": "investigate", "solution_pending": "propose", "replied": "reply",
             "return_visit": "return_visit", "closed": "close", "rejected": "reject"}


def approved_solution(item, **fields):
    """Propose a solution and have the GM approve it (CMP-6), the only way it becomes approved."""
    fields.setdefault("proposal", "免费返修")
    solution = make(models.Solution, complaint=item, **fields)
    run(solution, "approve", gm_user())
    return solution


def advance(item, *statuses, at=None):
    """Move ``item`` along ``statuses`` with the workflow actions (as if at ``at``), creating what each step needs."""
    for status in statuses:
        if status == "solution_pending" and not item.investigations.exists():
            make(models.Investigation, complaint=item, started_at=item.received_at + H)
        if status == "replied" and not models.Solution.select().where(
                models.Solution.complaint == item.id, models.Solution.approved_by.is_null(False)).exists():
            approved_solution(item)
        values = {"satisfaction": "satisfied"} if status == "closed" else {}
        if status == "rejected":
            values = {"rejection_reason": "已向客户说明"}
        with workflow.clock(at or models.utcnow()):
            run(models.Complaint.get_by_id(item.id), ACTION_TO[status], **values)
        item.__data__.update(models.Complaint.get_by_id(item.id).__data__)
    return item


def card_ids(html, status):
    """Return the complaint ids shown in the board column of ``status``."""
    match = re.search(r'id="column-%s".*?(?=id="column-|\Z)' % status, html, re.S)
    return [int(x) for x in re.findall(r'id="complaint-(\d+)"', match.group(0))] if match else []


def all_card_ids(html):
    return {int(x) for x in re.findall(r'id="complaint-(\d+)"', html)}


# ---------------------------------------------------------------- clocks at their boundaries
def test_clock_state_ok_amber_red_at_the_boundaries():
    start = datetime.datetime(2026, 3, 2, 9, 0)
    due = start + 7 * D  # 168 h: amber when under 42 h are left
    state = board_view.clock_state
    assert state(start, due, due - 42 * H) == "ok"
    assert state(start, due, due - 42 * H + datetime.timedelta(seconds=1)) == "amber"
    assert state(start, due, due) == "amber"
    assert state(start, due, due + datetime.timedelta(seconds=1)) == "red"
    assert state(start, due, due, breached_at_due=True) == "red"


def clocks_at(item, now):
    facts = board_view.Facts(models.Complaint.select(models.Complaint.id).where(models.Complaint.id == item.id), now)
    return {c.key: c for c in facts.clocks(fresh_row(item))}


def fresh_row(item):
    return models.Complaint.get_by_id(item.id)


def test_close_and_onsite_clocks_with_a_frozen_clock(app):
    received = bj(2026, 3, 2, 9, 0)
    item = complaint(received_at=received)
    due = received + 7 * D
    assert clocks_at(item, due - 42 * H)["close"].state == "ok"
    assert clocks_at(item, due - 41 * H)["close"].state == "amber"
    assert clocks_at(item, due + datetime.timedelta(minutes=1))["close"].state == "red"
    assert clocks_at(item, due + datetime.timedelta(minutes=1))["close"].text == "已超时 1 分钟"
    onsite = received + 24 * H  # 24 h: amber under 6 h left
    assert clocks_at(item, onsite - 6 * H)["onsite"].state == "ok"
    assert clocks_at(item, onsite - 5 * H)["onsite"].state == "amber"
    assert clocks_at(item, onsite + datetime.timedelta(minutes=1))["onsite"].state == "red"
    # A late first update stops the clock, and the miss stays red.
    make(models.ComplaintUpdate, complaint=item, at=onsite + 2 * H, note="已到现场")
    late = clocks_at(item, onsite + 3 * D)["onsite"]
    assert (late.running, late.state, late.text) == (False, "red", "超时 2 小时后完成")


def test_board_red_clocks_agree_with_the_flag_queries(app):
    """The board and the lists ask the same question: a running red clock is exactly a flagged row."""
    now = bj(2026, 3, 20, 12, 0)
    items = [complaint(received_at=now - n * 13 * H) for n in range(1, 20)]
    for n, item in enumerate(items):
        if n % 3 == 0:
            make(models.ComplaintUpdate, complaint=item, at=item.received_at + (n + 1) * 5 * H, note="进展",
                 notified_customer=True)
        if n % 4 == 0:
            make(models.ComplaintUpdate, complaint=item, at=item.received_at + (n + 2) * 7 * H, note="进展",
                 notified_customer=True)
        if n % 5 == 1:
            advance(item, "investigating")
            make(models.Investigation, complaint=item, started_at=item.received_at + 2 * H)
    facts = board_view.Facts(models.Complaint.select(models.Complaint.id), now)
    flagged = {
        "close": {c.id for c in rules.overdue(now=now)},
        "onsite": {c.id for c in rules.onsite_overdue(now=now)},
        "solution": {c.id for c in rules.solution_late(now=now)},
        "progress": {c.id for c in rules.progress_lacking(now=now)},
    }
    red = {key: set() for key in flagged}
    for row in models.Complaint.select():
        for clock in facts.clocks(row):
            if clock.running and clock.state == "red":
                red[clock.key].add(row.id)
    assert red == flagged
    assert all(red.values()) or red["close"]


def test_solution_clock_counts_working_days(app):
    # Friday 3 April 2026 10:00; 4-6 April is 清明: due Tuesday 7 April 10:00 (span 96 h, amber under 24 h).
    item = advance(complaint(received_at=bj(2026, 4, 2, 9, 0)), "investigating")
    make(models.Investigation, complaint=item, started_at=bj(2026, 4, 3, 10, 0))
    assert clocks_at(item, bj(2026, 4, 6, 10, 0))["solution"].state == "ok"
    assert clocks_at(item, bj(2026, 4, 6, 10, 1))["solution"].state == "amber"
    assert clocks_at(item, bj(2026, 4, 7, 10, 0))["solution"].state == "amber"
    assert clocks_at(item, bj(2026, 4, 7, 10, 1))["solution"].state == "red"


def test_progress_clock_two_notices_per_seven_days(app):
    received = bj(2026, 3, 2, 9, 0)
    item = complaint(received_at=received)
    first_week = received + 7 * D
    assert clocks_at(item, first_week)["progress"].state == "amber"
    assert clocks_at(item, first_week + datetime.timedelta(minutes=1))["progress"].state == "red"
    make(models.ComplaintUpdate, complaint=item, at=received + 3 * D, note="告知一", notified_customer=True)
    make(models.ComplaintUpdate, complaint=item, at=received + 5 * D, note="告知二", notified_customer=True)
    # Two notices: the clock now breaks when the older one leaves the 7-day window (received + 10 days).
    assert clocks_at(item, first_week + H)["progress"].state == "ok"
    assert clocks_at(item, received + 10 * D - datetime.timedelta(minutes=1))["progress"].state == "amber"
    assert clocks_at(item, received + 10 * D)["progress"].state == "red"
    lacking = {c.id for c in rules.progress_lacking(now=received + 10 * D)}
    assert item.id in lacking
    assert item.id not in {c.id for c in rules.progress_lacking(now=received + 10 * D - H)}
    # A notice dated in the future is not a fact yet.
    make(models.ComplaintUpdate, complaint=item, at=received + 30 * D, note="未来", notified_customer=True)
    assert clocks_at(item, received + 10 * D)["progress"].state == "red"


def test_progress_breached_over_a_finished_life():
    received = datetime.datetime(2026, 3, 1)
    notices = [received + 2 * D, received + 6 * D, received + 8 * D, received + 12 * D, received + 13 * D]
    assert not board_view.progress_breached(received, notices, received + 13 * D)
    # From day 19 the count falls to one when day 12 leaves the window; with day 8 missing, it fell before day 12.
    assert board_view.progress_breached(received, notices, received + 19 * D)
    assert not board_view.progress_breached(received, notices, received + 19 * D - H)
    assert board_view.progress_breached(received, notices[:2] + notices[3:], received + 13 * D)
    assert board_view.progress_breached(received, [received + 9 * D], received + 9 * D)
    assert not board_view.progress_breached(received, [], received + 7 * D)


# ---------------------------------------------------------------- the board: roles and filters
@pytest.fixture
def office(app):
    """Two departments, their customers (one secret), complaints in several states."""
    north = make(models.Department, name="北区服务部")
    south = make(models.Department, name="南区服务部")
    cn = make(models.Customer, name="北方客户", department=north)
    cs = make(models.Customer, name="南方客户", department=south)
    secret = make(models.Customer, name="机密客户", department=north, confidentiality="secret")
    alice = make_user("alice", roles=("service",), department=north, display_name="客服小艾")
    bob = make_user("bob", roles=("service",), department=south, display_name="客服小博")
    now = models.utcnow()
    rows = {
        "n_new": complaint(customer=cn, department=north, assignee=alice, received_at=now - H),
        "n_old": complaint(customer=cn, department=north, assignee=alice, received_at=now - 9 * D, category="product"),
        "s_new": complaint(customer=cs, department=south, assignee=bob, received_at=now - 2 * H, severity="major"),
        "secret": complaint(customer=secret, department=north, assignee=alice, received_at=now - 3 * H),
        "walk_in": complaint(received_at=now - 4 * H, department=south),
    }
    advance(rows["n_new"], "investigating")
    return dict(rows, north=north, south=south, alice=alice, bob=bob)


def test_board_shows_each_role_what_it_may_see(office, client):
    login(client, "alice")
    html = client.get(BOARD).get_data(as_text=True)
    # Service staff see their department's customers and complaints without a customer, never secret ones.
    assert all_card_ids(html) == {office["n_new"].id, office["n_old"].id, office["walk_in"].id}
    assert card_ids(html, "investigating") == [office["n_new"].id]
    assert "机密客户" not in html
    other = client.application.test_client()
    make_user("boss", roles=("gm",), clearance="secret")
    login(other, "boss")
    html = other.get(BOARD).get_data(as_text=True)
    assert all_card_ids(html) == {office[k].id for k in ("n_new", "n_old", "s_new", "secret", "walk_in")}


def test_board_is_refused_to_roles_without_complaints(office, client):
    make_user("keeper", roles=("archivist",))
    login(client, "keeper")
    assert client.get(BOARD).status_code == 403
    assert client.get(f"{BOARD}complaint/?id={office['n_new'].id}").status_code == 403
    assert client.get(STATS).status_code == 403


def test_board_filters(office, client):
    make_user("boss", roles=("gm",), clearance="secret")
    login(client, "boss")
    clients = [client]

    def shown(**args):
        return all_card_ids(clients[-1].get(BOARD, query_string=args).get_data(as_text=True))

    assert shown(department=office["south"].id) == {office["s_new"].id, office["walk_in"].id}
    assert shown(assignee=office["alice"].id) == {office["n_new"].id, office["n_old"].id, office["secret"].id}
    assert shown(category="product") == {office["n_old"].id}
    assert shown(severity="major") == {office["s_new"].id}
    # n_old is 9 days old: close (7 d), on-site (24 h) and progress clocks are red.
    assert shown(breached="1") == {office["n_old"].id}
    # Finished: closed late stays red; closed in time (even with the on-site visit missed) does not.
    late = complaint(received_at=models.utcnow() - 9 * D, department=office["north"])
    advance(late, "investigating", "solution_pending", "replied", "return_visit", "closed")
    in_time = complaint(received_at=models.utcnow() - 3 * D, department=office["north"])
    advance(in_time, "investigating", "solution_pending", "replied", "return_visit", "closed")
    assert shown(breached="1") == {office["n_old"].id, late.id}
    html = clients[-1].get(BOARD).get_data(as_text=True)

    def card(pk):
        return re.search(r'id="complaint-%d".*?(?=<div class="complaint-card|</section>)' % pk, html, re.S).group(0)

    assert "结案" in card(late.id) and "超时 2 天后完成" in card(late.id)
    assert "complaint-clock" not in card(in_time.id)
    assert shown(breached="1", department=office["south"].id) == set()
    assert shown(mine="1") == set()
    clients.append(client.application.test_client())
    login(clients[-1], "alice")
    assert shown(mine="1") == {office["n_new"].id, office["n_old"].id}


def test_board_card_shows_number_customer_category_severity_assignee_and_clocks(office, client):
    make_user("boss", roles=("gm",), clearance="secret")
    login(client, "boss")
    html = client.get(BOARD).get_data(as_text=True)
    card = re.search(r'id="complaint-%d".*?</div>\s*</div>' % office["n_old"].id, html, re.S).group(0)
    for text in (office["n_old"].number, "北方客户", "产品质量", "客服小艾", 'data-clock="close"', "clock-red"):
        assert text in card, text
    major = re.search(r'<div class="complaint-card[^"]*" id="complaint-%d".*?</div>' % office["s_new"].id, html, re.S).group(0)
    assert "重大" in major and "is-major" in major
    assert 'id="major-banner"' in html and office["s_new"].number in html


def test_columns_paginate(app, admin_client):
    now = models.utcnow()
    made = [complaint(received_at=now - n * H) for n in range(1, 46)]
    html = admin_client.get(BOARD).get_data(as_text=True)
    # Most urgent first: the oldest complaints (earliest deadlines) lead the column.
    assert card_ids(html, "received") == [c.id for c in reversed(made)][:20]
    assert "第 1/3 页" in html
    html = admin_client.get(BOARD, query_string={"page_received": 2}).get_data(as_text=True)
    assert card_ids(html, "received") == [c.id for c in reversed(made)][40:]
    assert re.search(r'data-status="received">\s*<header[^>]*>\s*<span>已受理</span>\s*'
                     r'<span class="badge badge-secondary" data-total>45</span>', html)


def test_rejected_column_is_folded(app, admin_client):
    item = advance(complaint(), "rejected")
    html = admin_client.get(BOARD).get_data(as_text=True)
    assert re.search(r'<details class="board-folded[^"]*" id="column-rejected"', html)
    assert card_ids(html, "rejected") == [item.id]


# ---------------------------------------------------------------- the complaint's page
def test_complaint_page_tells_the_whole_story(app, admin_client):
    customer = make(models.Customer, name="回访客户")
    item = advance(complaint(customer=customer, received_at=bj(2026, 3, 2, 9, 0)), "investigating")
    make(models.ComplaintUpdate, complaint=item, at=bj(2026, 3, 2, 15, 0), note="已电话安抚客户",
         notified_customer=True)
    make(models.Investigation, complaint=item, started_at=bj(2026, 3, 3, 9, 0), cause="配件批次不良",
         process="查验出库记录", responsible_person="王工", conclusion="质量问题成立", countermeasures="更换供应商")
    make(models.Solution, complaint=item, proposal="更换新品并赔偿", compensation_amount=decimal.Decimal("800"))
    make(models.Visit, customer=customer, kind="return", visited_on=datetime.date(2026, 3, 20), report="客户满意")
    html = admin_client.get(f"{BOARD}complaint/?id={item.id}").get_data(as_text=True)
    for text in (item.number, "已电话安抚客户", "已告知客户", "配件批次不良", "查验出库记录", "王工", "质量问题成立",
                 "更换供应商", "更换新品并赔偿", "待总经理批准", "2026-03-20", "操作记录"):
        assert text in html, text
    history = re.search(r'id="story-history".*', html, re.S).group(0)
    assert "状态:已受理 → 调查中" in history and "修改投诉" in history and "新增调查报告" in history
    assert "时间:2026-03-02 15:00" in history  # local time, not the stored UTC
    assert "id:" not in history


def test_add_update_and_mark_customer_notified(app, client):
    make_user("agent", roles=("service",))
    login(client, "agent")
    item = complaint()
    token = csrf_token(client, f"{BOARD}complaint/?id={item.id}")
    response = client.post(f"{BOARD}updates/", data={"csrf_token": token, "complaint": item.id, "note": "已联系客户"})
    assert response.status_code == 302
    update = models.ComplaintUpdate.get(models.ComplaintUpdate.complaint == item.id)
    assert (update.note, update.notified_customer, update.by.username) == ("已联系客户", False, "agent")
    client.post(f"{BOARD}notified/", data={"csrf_token": token, "complaint": item.id, "update": update.id})
    assert models.ComplaintUpdate.get_by_id(update.id).notified_customer is True
    # An empty note is refused at the form, nothing written.
    html = client.post(f"{BOARD}updates/", data={"csrf_token": token, "complaint": item.id, "note": " "},
                       follow_redirects=True).get_data(as_text=True)
    assert "请填写处理进展" in html
    assert models.ComplaintUpdate.select().count() == 1


def test_complaint_page_of_a_hidden_customer_is_not_found(office, client):
    login(client, "alice")
    assert client.get(f"{BOARD}complaint/?id={office['secret'].id}").status_code == 404
    assert client.get(f"{BOARD}complaint/?id={office['s_new'].id}").status_code == 404
    token = csrf_token(client, BOARD)
    client.post(f"{BOARD}updates/", data={"csrf_token": token, "complaint": office['s_new'].id, "note": "越权"})
    assert models.ComplaintUpdate.select().count() == 0


# ---------------------------------------------------------------- monthly statistics (CMP-9)
@pytest.fixture
def march(app):
    """A hand-built March 2026 (Beijing): 6 complaints with known close times, one in February, one in April."""
    sales = make(models.Department, name="销售部")
    service = make(models.Department, name="客服部")
    c1 = make(models.Customer, name="客户甲")
    c2 = make(models.Customer, name="客户乙")
    c3 = make(models.Customer, name="客户丙")
    items = []
    # (received, category, department, severity, channel, customer, hours to close or None, final status)
    plan = [
        (bj(2026, 3, 1, 0, 30), "product", sales, "general", "phone", c1, 24, "closed"),
        (bj(2026, 3, 5, 9, 0), "product", sales, "major", "visit", c1, 48, "closed"),
        (bj(2026, 3, 10, 9, 0), "service", service, "general", "phone", c2, 100, "closed"),
        (bj(2026, 3, 12, 9, 0), "repair", service, "general", "wechat", c2, 200, "closed"),
        (bj(2026, 3, 20, 9, 0), "contract", None, "general", "phone", c3, None, "investigating"),
        (bj(2026, 3, 31, 23, 59), "service", sales, "general", "email", None, 5, "rejected"),
    ]
    for received, category, dept, severity, channel, customer, hours, status in plan:
        item = complaint(received_at=received, category=category, department=dept, severity=severity,
                         channel=channel, customer=customer, plate_no="浙A12345" if category == "repair" else "")
        items.append((item, hours, status))
    complaint(received_at=bj(2026, 2, 28, 23, 59))
    complaint(received_at=bj(2026, 4, 1, 0, 0))
    for item, hours, status in items:
        if status == "closed":
            advance(item, "investigating", "solution_pending", "replied", "return_visit", at=item.received_at + H)
            advance(item, "closed", at=item.received_at + datetime.timedelta(hours=hours))
        elif status == "rejected":
            advance(item, "rejected", at=item.received_at + datetime.timedelta(hours=hours))
        else:
            advance(item, status, at=item.received_at + H)
    # c1 visited back after its last complaint; c2 only before its last one; c3 never.
    make(models.Visit, customer=c1, kind="return", visited_on=datetime.date(2026, 3, 9))
    make(models.Visit, customer=c2, kind="return", visited_on=datetime.date(2026, 3, 11))
    return items


def test_monthly_statistics_of_a_hand_built_month(march):
    stats = board_view.month_statistics(2026, 3, now=bj(2026, 4, 5, 12, 0))
    assert (stats["received"], stats["closed"], stats["rejected"], stats["open"]) == (6, 4, 1, 1)
    assert stats["by_category"] == {"product": 2, "contract": 1, "repair": 1, "service": 2, "suggestion": 0}
    assert stats["by_department"] == {"销售部": 3, "客服部": 2, "未指定": 1}
    assert stats["by_severity"] == {"general": 5, "major": 1}
    assert stats["by_channel"] == {"phone": 3, "visit": 1, "letter": 0, "email": 1, "web": 0, "wechat": 1}
    # Closed: 24, 48, 100, 200 h: mean 93 h; nearest-rank P90 of four values is the 4th.
    assert stats["average_close_hours"] == 93.0
    assert stats["p90_close_hours"] == 200.0
    assert stats["closed_within"] == 3  # 200 h > 7 days
    # Close deadline missed: the 200 h one and the open one (received 20 March, now 5 April).
    assert stats["overdue"] == 2
    assert stats["breaches"]["close"] == 2
    # No update ever: on-site missed by those still going after 24 h (closing at exactly 24 h is in time).
    assert stats["breaches"]["onsite"] == 4
    # Open beyond 7 days without two notices: the 200 h one and the open one.
    assert stats["breaches"]["progress"] == 2
    assert (stats["customers"], stats["visited"], stats["coverage"]) == (3, 1, 33.3)
    assert stats["due_on"] == datetime.date(2026, 4, 10)


def test_percentile_nearest_rank():
    assert board_view.percentile([], 0.9) is None
    assert board_view.percentile([5], 0.9) == 5
    assert board_view.percentile(list(range(1, 11)), 0.9) == 9
    assert board_view.percentile(list(range(1, 12)), 0.9) == 10


def test_statistics_page_and_xlsx_report(march, admin_client):
    html = admin_client.get(STATS, query_string={"month": "2026-03"}).get_data(as_text=True)
    assert "本月受理" in html and 'id="chart-category"' in html and "chart.umd.min.js" in html
    assert "cdn" not in html.lower()
    assert "本月报表尚未生成" in html
    response = admin_client.get(f"{STATS}xlsx/", query_string={"month": "2026-03"})
    assert response.status_code == 200
    from openpyxl import load_workbook
    sheet = load_workbook(io.BytesIO(response.data))["投诉统计表"]
    assert sheet["A1"].value == "2026年3月 投诉统计表"
    cells = {sheet.cell(row=r, column=1).value: sheet.cell(row=r, column=2).value for r in range(1, sheet.max_row + 1)}
    assert cells["本月受理"] == 6
    assert cells["已结案"] == 4
    assert cells["90% 结案时长(P90)"] == "200.0 小时"
    assert cells["产品质量"] == 2
    assert cells["销售部"] == 3
    assert cells["重大"] == 1
    assert cells["微信"] == 1
    assert cells["结案超期(CMP-2)"] == 2
    assert "本月报表已生成" in admin_client.get(STATS, query_string={"month": "2026-03"}).get_data(as_text=True)
    assert board_view.report_generated(2026, 3) and not board_view.report_generated(2026, 2)


def test_xlsx_needs_the_export_right(march, client):
    make_user("viewer", roles=("sales",))
    login(client, "viewer")
    assert client.get(STATS, query_string={"month": "2026-03"}).status_code == 200
    assert client.get(f"{STATS}xlsx/", query_string={"month": "2026-03"}).status_code == 403


# ---------------------------------------------------------------- scale: a bounded number of queries
class QueryCounter:
    def __init__(self):
        self.count = 0

    def __enter__(self):
        self.original = models.db.obj.execute_sql
        counter = self

        def counting(sql, params=None, *args, **kwargs):
            counter.count += 1
            return counter.original(sql, params, *args, **kwargs)

        models.db.obj.execute_sql = counting
        return self

    def __exit__(self, *exc):
        models.db.obj.execute_sql = self.original


def bulk_complaints(n, now):
    """Insert ``n`` complaints across the statuses, with updates and investigations (set-up data, no signals)."""
    dept = make(models.Department, name="批量部")
    statuses = [s for s, _ in models.COMPLAINT_STATUS]
    rows = []
    for i in range(n):
        received = now - datetime.timedelta(minutes=17 * i)
        status = statuses[i % len(statuses)]
        rows.append({"number": f"TSB-{i:06d}", "received_at": received, "complainant": f"客户{i}", "content": "批量",
                     "category": "service", "severity": "major" if i % 50 == 0 else "general",
                     "department": dept.id, "status": status, "due_at": received + 7 * D,
                     "onsite_due_at": received + 24 * H,
                     "closed_at": received + 3 * D if status in ("closed", "rejected") else None,
                     "created_at": now, "updated_at": now, "version": 1})
    with models.db.atomic():
        for start in range(0, n, 200):
            models.Complaint.insert_many(rows[start:start + 200]).execute()
    ids = [pk for (pk,) in models.Complaint.select(models.Complaint.id).tuples()]
    with models.db.atomic():
        models.ComplaintUpdate.insert_many(
            [{"complaint": pk, "at": now - H, "note": "进展", "notified_customer": True, "created_at": now,
              "updated_at": now, "version": 1} for pk in ids[::2]]).execute()
        models.Investigation.insert_many(
            [{"complaint": pk, "started_at": now - 5 * H, "created_at": now, "updated_at": now, "version": 1}
             for pk in ids[1::3]]).execute()


def board_queries(client, query_string=None):
    with QueryCounter() as counter:
        response = client.get(BOARD, query_string=query_string or {})
    assert response.status_code == 200
    return counter.count, response.get_data(as_text=True)


def test_board_of_2000_complaints_takes_a_bounded_number_of_queries(app, admin_client):
    now = models.utcnow()
    bulk_complaints(200, now)
    small, _ = board_queries(admin_client)
    small_breached, _ = board_queries(admin_client, {"breached": "1"})
    bulk_complaints_more = 1800
    models.Complaint.update(number=fn.REPLACE(models.Complaint.number, "TSB-", "TSA-")).execute()
    bulk_complaints(bulk_complaints_more, now)
    large, html = board_queries(admin_client)
    large_breached, _ = board_queries(admin_client, {"breached": "1"})
    assert models.Complaint.select().count() == 2000
    assert large == small and large_breached == small_breached
    assert large <= 40 and large_breached <= 45
    assert len(all_card_ids(html)) == 7 * 20


# ---------------------------------------------------------------- major complaints (CMP-5, 003 第十六条(四))
def notices(item):
    return sorted(a.required_role for a in models.Approval.select().where(
        models.Approval.rule == "CMP-5", models.Approval.target_id == str(item.id)))


def test_claim_at_the_amount_escalates_to_major_and_notifies(app):
    dept = make(models.Department, name="售后部")
    below = complaint(department=dept, claim_amount=decimal.Decimal("49999.99"))
    assert (below.severity, notices(below)) == ("general", [])
    at = complaint(department=dept, claim_amount=decimal.Decimal("50000"))
    assert models.Complaint.get_by_id(at.id).severity == "major"
    assert notices(at) == ["gm", "manager"]
    assert "索赔 50000" in models.Approval.get(models.Approval.target_id == str(at.id)).summary
    # Raised on a later save too, once.
    below.claim_amount = decimal.Decimal("60000")
    below.save()
    assert models.Complaint.get_by_id(below.id).severity == "major" and notices(below) == ["gm", "manager"]
    below.content = "补充说明"
    below.save()
    assert notices(below) == ["gm", "manager"]


def test_claim_amount_is_a_rule_setting(app):
    policies.RULES["CMP-5"].configure(claim_amount=100000)
    item = complaint(claim_amount=decimal.Decimal("50000"))
    assert (item.severity, notices(item)) == ("general", [])
    policies.RULES["CMP-5"].configure(claim_amount=0)
    assert complaint(claim_amount=decimal.Decimal("900000")).severity == "general"


def test_major_banner_on_the_board(app, admin_client):
    quiet = admin_client.get(BOARD).get_data(as_text=True)
    assert 'id="major-banner"' not in quiet
    item = complaint(claim_amount=decimal.Decimal("80000"))
    html = admin_client.get(BOARD).get_data(as_text=True)
    banner = re.search(r'id="major-banner".*?</div>', html, re.S).group(0)
    assert "重大投诉 1 件尚未办结" in banner and item.number in banner and "通报待确认" in banner
    assert "50000" in banner


# ---------------------------------------------------------------- moving a card through the save path
def written(item):
    """Return what a refused move must leave untouched: the row as stored, its audit and update rows."""
    row = models.Complaint.get_by_id(item.id)
    return (row.status, row.version, row.satisfaction, row.rejection_reason, row.closed_at,
            models.AuditLog.select().where(models.AuditLog.model == "Complaint").count(),
            models.Approval.select().count())


def post_move(client, item, action, **values):
    token = csrf_token(client, BOARD)
    data = {"csrf_token": token, "complaint": item.id, "action": action, "next": BOARD,
            "version": models.Complaint.get_by_id(item.id).version}
    data.update(values)
    return client.post(f"{BOARD}move/", data=data, follow_redirects=True)


@pytest.fixture
def agent(app, client):
    make_user("agent", roles=("service",))
    login(client, "agent")
    return client


def test_solution_pending_without_investigation_is_refused_with_the_guard_message(agent):
    item = advance(complaint(), "investigating")
    before = written(item)
    html = post_move(agent, item, "propose").get_data(as_text=True)
    assert "转入方案待批前须先填写调查报告(CMP-4,000 篇十一 流程3)" in html
    assert written(item) == before
    make(models.Investigation, complaint=item, cause="配件不良")
    html = post_move(agent, item, "propose").get_data(as_text=True)
    assert "已提交方案待批,现为「方案待批」" in html
    assert models.Complaint.get_by_id(item.id).status == "solution_pending"


def test_reply_needs_the_gm_approved_solution(agent):
    item = advance(complaint(), "investigating", "solution_pending")
    make(models.Solution, complaint=item, proposal="退货退款")  # submitted, not yet approved
    before = written(item)
    html = post_move(agent, item, "reply").get_data(as_text=True)
    assert "答复客户前处理方案须经总经理批准(CMP-6,000 篇十一 流程4)" in html
    assert written(item) == before
    approved_solution(item, proposal="换货并致歉")
    post_move(agent, item, "reply")
    assert models.Complaint.get_by_id(item.id).status == "replied"


def test_close_needs_the_satisfaction_answer(agent):
    item = advance(complaint(), "investigating", "solution_pending", "replied", "return_visit")
    before = written(item)
    html = post_move(agent, item, "close", satisfaction="").get_data(as_text=True)
    assert "结案前须回访并记录客户满意度(CMP-8,003 第十七条(三)1)" in html
    assert written(item) == before
    post_move(agent, item, "close", satisfaction="basically")
    row = models.Complaint.get_by_id(item.id)
    assert (row.status, row.satisfaction) == ("closed", "basically") and row.closed_at is not None


def test_rejection_needs_the_explanation(app, client):
    # CMP-10: the supervisor (the department's manager) rules a complaint invalid.
    make_user("ruler", roles=("manager",))
    login(client, "ruler")
    agent = client
    item = complaint()
    before = written(item)
    html = post_move(agent, item, "reject", rejection_reason="  ").get_data(as_text=True)
    assert "投诉不成立须填写已向客户说明的原因(CMP-10,000 篇四 第七条)" in html
    assert written(item) == before
    post_move(agent, item, "reject", rejection_reason="系客户自行改装所致,已当面说明")
    row = models.Complaint.get_by_id(item.id)
    assert (row.status, row.rejection_reason) == ("rejected", "系客户自行改装所致,已当面说明")


def test_a_move_not_offered_from_the_status_is_refused(agent):
    item = complaint()
    before = written(item)
    html = post_move(agent, item, "close", satisfaction="satisfied").get_data(as_text=True)
    assert "不能执行这一流转" in html
    assert written(item) == before


def test_a_move_on_a_stale_card_loses_nothing(agent):
    item = complaint()
    token = csrf_token(agent, BOARD)
    seen = models.Complaint.get_by_id(item.id).version
    other = models.Complaint.get_by_id(item.id)
    other.content = "客户补充了情况"
    other.save()
    html = agent.post(f"{BOARD}move/", data={"csrf_token": token, "complaint": item.id, "action": "investigate",
                                             "version": seen, "next": BOARD}, follow_redirects=True)
    assert "已被" in html.get_data(as_text=True)
    assert models.Complaint.get_by_id(item.id).status == "received"


def test_moves_need_the_edit_right_and_a_visible_complaint(office, client):
    make_user("boss", roles=("gm",), clearance="secret")
    login(client, "boss")
    token = csrf_token(client, BOARD)
    html = client.get(BOARD).get_data(as_text=True)
    assert 'class="card-moves"' not in html
    response = client.post(f"{BOARD}move/", data={"csrf_token": token, "complaint": office["n_old"].id,
                                                  "action": "investigate"})
    assert response.status_code == 403
    other = client.application.test_client()
    login(other, "alice")
    token = csrf_token(other, BOARD)
    response = other.post(f"{BOARD}move/", data={"csrf_token": token, "complaint": office["s_new"].id,
                                                 "action": "investigate"})
    assert response.status_code == 404
    assert models.Complaint.get_by_id(office["n_old"].id).status == "received"
    assert models.Complaint.get_by_id(office["s_new"].id).status == "received"
    html = other.get(BOARD).get_data(as_text=True)
    card = re.search(r'id="complaint-%d".*?</details>' % office["n_old"].id, html, re.S).group(0)
    assert "开始调查 → 调查中" in card


def test_last_months_report_is_flagged_until_generated(march, admin_client):
    with admin_client.application.test_request_context():
        due = board_view.report_reminder(datetime.date(2026, 4, 10))
        assert (due["year"], due["month"], due["due_on"], due["overdue"]) == (2026, 3, datetime.date(2026, 4, 10), False)
        assert due["url"].endswith("?month=2026-03")
        assert board_view.report_reminder(datetime.date(2026, 4, 11))["overdue"] is True
    admin_client.get(f"{STATS}xlsx/", query_string={"month": "2026-03"})
    with admin_client.application.test_request_context():
        assert board_view.report_reminder(datetime.date(2026, 4, 11)) is None
        assert board_view.report_reminder(datetime.date(2026, 5, 2))["month"] == 4


def test_complaint_page_says_why_a_move_would_be_refused(agent):
    item = advance(complaint(), "investigating")
    html = agent.get(f"{BOARD}complaint/?id={item.id}").get_data(as_text=True)
    moves = re.search(r'id="story-moves".*?</div>\s*</div>', html, re.S).group(0)
    assert "提交方案待批 → 方案待批" in moves
    assert "转入方案待批前须先填写调查报告(CMP-4,000 篇十一 流程3)" in moves
    make(models.Investigation, complaint=item)
    html = agent.get(f"{BOARD}complaint/?id={item.id}").get_data(as_text=True)
    assert "须先填写调查报告" not in re.search(r'id="story-moves".*?</div>\s*</div>', html, re.S).group(0)
