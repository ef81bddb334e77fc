"""Complaint rules at their boundaries: recording, deadlines, workflow guards, notices, flags, monthly report."""
import datetime
import os

import pytest

import models
import policies
from conftest import csrf_token
from conftest import make_user
from conftest import submit
from factories import form_data
from factories import make
from factories import view_for
from factories import acting_as
from factories import fresh
from factories import refused
from factories import run
from policies import workflow
from policies import approvals as engine
from policies import complaints

SOURCES = "/work/shared/policy-sources"


def bj(*args):
    """Return the stored (naive UTC) form of a Beijing wall-clock time."""
    return complaints.to_utc(datetime.datetime(*args))


def complaint(**fields):
    fields.setdefault("complainant", "张先生")
    fields.setdefault("content", "投诉内容")
    fields.setdefault("category", "service")
    return make(models.Complaint, **fields)


def gm_user():
    return models.User.get_or_none(models.User.username == "zongjingli") or make_user("zongjingli", roles=("gm",))


ACTION_TO = {"investigating": "investigate", "solution_pending": "propose", "replied": "reply",
             "return_visit": "return_visit", "closed": "close", "rejected": "reject"}


def approved_solution(item, gm=None, **fields):
    """Propose a solution for ``item`` and have the GM approve it (CMP-6), the only way it becomes approved."""
    fields.setdefault("proposal", "免费返修")
    solution = make(models.Solution, complaint=item, **fields)
    run(solution, "approve", gm or gm_user())
    return fresh(solution)


def department_manager(item):
    """Return a manager of ``item``'s department (CMP-10 ruling); a complaint without one: any manager."""
    username = f"bumenjingli{item.department_id or ''}"
    return models.User.get_or_none(models.User.username == username) or make_user(
        username, roles=("manager",), department=item.department_id)


def move(item, *statuses, gm=None, satisfaction="satisfied"):
    """Move ``item`` along ``statuses`` with the workflow actions, creating what each step needs."""
    for status in statuses:
        if status == "solution_pending" and not item.investigations.exists():
            make(models.Investigation, complaint=item)
        if status == "replied" and not models.Solution.select().where(
                models.Solution.complaint == item.id, models.Solution.approved_by.is_null(False)).exists():
            approved_solution(item, gm)
        values = {"satisfaction": satisfaction} if status == "closed" else {}
        if status == "rejected":
            values = {"rejection_reason": "已向客户说明"}
        # CMP-10: a manager of the complaint's department rules whether it is accepted.
        user = department_manager(item) if status in ("investigating", "rejected") else None
        run(fresh(item), ACTION_TO[status], user, **values)
        item.__data__.update(fresh(item).__data__)
    return item


def form_post(app, admin_client, model, obj):
    data = form_data(view_for(app, model), obj)
    return submit(admin_client, f"/admin/{model.__name__.lower()}/new/", data)


# ---------------------------------------------------------------- catalogue
def test_every_complaint_rule_is_declared_once_with_its_source():
    ids = {rid for rid in policies.RULES if rid.startswith("CMP-")}
    assert ids == {f"CMP-{n}" for n in range(1, 11)}
    assert policies.RULES["CMP-2"].defaults == {"days": 7}
    assert policies.RULES["CMP-3"].defaults == {"in_province_hours": 24, "out_of_province_hours": 48}
    assert policies.RULES["CMP-9"].source == "000 篇四 第二十七条"


@pytest.mark.skipif(not os.path.isdir(SOURCES), reason="policy sources not available")
def test_quotes_are_verbatim_from_the_sources():
    text = "".join(open(os.path.join(SOURCES, name), encoding="utf-8").read()
                   for name in os.listdir(SOURCES) if name.endswith(".txt"))
    for rid in (f"CMP-{n}" for n in range(1, 11)):
        assert policies.RULES[rid].quote in text, rid


def test_flags_show_on_the_lists_and_follow_the_switch(app):
    customer = make(models.Customer, name="逾期客户")
    item = complaint(customer=customer, received_at=models.utcnow() - datetime.timedelta(days=10))
    shown = {rule.id for rule, _ in policies.flags_for(models.Complaint, [item.id]).get(item.id, [])}
    assert shown == {"CMP-2", "CMP-3", "CMP-7"}
    assert [r.id for r, _ in policies.flags_for(models.Customer, [customer.id])[customer.id]] == ["CMP-8"]
    policies.RULES["CMP-2"].configure(enabled=False)
    shown = {rule.id for rule, _ in policies.flags_for(models.Complaint, [item.id]).get(item.id, [])}
    assert shown == {"CMP-3", "CMP-7"}


# ---------------------------------------------------------------- CMP-1
def test_cmp1_missing_fields_each_refused_via_save(app):
    item = models.Complaint(received_at=None, complainant=" ", content="", category="service")
    exc = refused("CMP-1", item.save)
    fields = {v.field for v in exc.violations if v.rule_id == "CMP-1"}
    assert fields == {"received_at", "complainant", "content"}
    assert "请填写投诉内容(CMP-1,000 篇十一 流程1)" in str(exc)
    assert models.Complaint.select().count() == 0


@pytest.mark.parametrize("category", ["product", "contract", "repair", "suggestion"])
def test_cmp1_plate_required_for_every_vehicle_business_complaint(app, category):
    exc = refused("CMP-1", lambda: complaint(category=category, plate_no="  "))
    assert exc.violations[0].field == "plate_no"
    complaint(category=category, plate_no="粤B12345")
    assert models.Complaint.select().count() == 1


def test_cmp1_service_complaints_need_no_plate_until_recategorised(app):
    item = complaint(category="service", plate_no="")
    item = fresh(item)
    item.category = "product"  # corrected afterwards: now it is a vehicle-business complaint
    refused("CMP-1", item.save)
    assert fresh(item).category == "service"


def test_cmp1_refused_in_the_generated_form_at_the_field(app, admin_client):
    obj = models.Complaint(received_at=bj(2026, 3, 2, 9, 0), complainant="李女士", content="维修后故障再现",
                           category="repair", plate_no="", status="received")
    response = form_post(app, admin_client, models.Complaint, obj)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "维修质量投诉须填写投诉人车牌号(CMP-1,000 篇十一 流程1)" in html
    assert 'id="plate_no"' in html and "is-invalid" in html
    assert models.Complaint.select().count() == 0


# ---------------------------------------------------------------- CMP-2
def test_cmp2_due_seven_days_after_receipt_and_overdue_after_it(app):
    received = bj(2026, 3, 31, 23, 30)
    item = complaint(received_at=received)
    assert item.due_at == received + datetime.timedelta(days=7)
    assert complaints.to_local(item.due_at) == datetime.datetime(2026, 4, 7, 23, 30)
    assert list(complaints.overdue(now=item.due_at - datetime.timedelta(minutes=1))) == []
    assert list(complaints.overdue(now=item.due_at + datetime.timedelta(minutes=1))) == [item]
    move(item, "investigating", "solution_pending", "replied", "return_visit", "closed")
    assert item.closed_at is not None
    assert list(complaints.overdue(now=item.due_at + datetime.timedelta(days=1))) == []
    # Computed once on creation; later saves leave the same deadline and count nothing.
    assert models.RuleEvent.select().where(models.RuleEvent.rule == "CMP-2",
                                           models.RuleEvent.kind == "compute").count() == 1


def test_cmp2_setting_changes_the_next_computation(app):
    policies.RULES["CMP-2"].configure(days=10)
    received = bj(2026, 5, 6, 10, 0)
    assert complaint(received_at=received).due_at == received + datetime.timedelta(days=10)


def test_cmp2_rejected_complaint_is_not_overdue(app):
    item = complaint(received_at=bj(2026, 3, 1, 9, 0))
    run(item, "reject", rejection_reason="系客户自行改装所致,已向客户说明")
    assert list(complaints.overdue(now=bj(2026, 4, 1, 9, 0))) == []


# ---------------------------------------------------------------- CMP-3
def test_cmp3_onsite_deadline_by_region(app):
    received = bj(2026, 3, 2, 9, 0)
    inside = make(models.Customer, name="省内客户", region="in_province")
    outside = make(models.Customer, name="省外客户", region="out_of_province")
    assert complaint(received_at=received, customer=inside).onsite_due_at == received + datetime.timedelta(hours=24)
    assert complaint(received_at=received, customer=outside).onsite_due_at == received + datetime.timedelta(hours=48)
    assert complaint(received_at=received).onsite_due_at == received + datetime.timedelta(hours=24)


def test_cmp3_onsite_overdue_until_the_first_update(app):
    received = bj(2026, 3, 2, 9, 0)
    item = complaint(received_at=received)
    due = received + datetime.timedelta(hours=24)
    assert list(complaints.onsite_overdue(now=due - datetime.timedelta(minutes=1))) == []
    assert list(complaints.onsite_overdue(now=due + datetime.timedelta(minutes=1))) == [item]
    # A phone note is progress, not on-site handling.
    make(models.ComplaintUpdate, complaint=item, at=due - datetime.timedelta(hours=1), note="电话安抚客户")
    assert list(complaints.onsite_overdue(now=due + datetime.timedelta(minutes=1))) == [item]
    visit = make(models.ComplaintUpdate, complaint=item, at=due + datetime.timedelta(hours=1), note="已到现场",
                 onsite=True)
    assert list(complaints.onsite_overdue(now=due + datetime.timedelta(minutes=30))) == [item]  # not yet happened
    assert list(complaints.onsite_overdue(now=due + datetime.timedelta(hours=2))) == []
    # The on-site note deleted after the fact: the reminder is back.
    visit.delete_instance()
    assert list(complaints.onsite_overdue(now=due + datetime.timedelta(hours=2))) == [item]


# ---------------------------------------------------------------- CMP-4
def test_cmp4_solution_due_one_working_day_after_start_across_weekend_and_holiday(app):
    # Friday 3 April 2026 10:00; 4-6 April is 清明 (Saturday, Sunday, Monday): due Tuesday 7 April 10:00.
    item = complaint(received_at=bj(2026, 4, 2, 9, 0))
    move(item, "investigating")
    make(models.Investigation, complaint=item, started_at=bj(2026, 4, 3, 10, 0))
    assert list(complaints.solution_late(now=bj(2026, 4, 7, 9, 59))) == []
    assert list(complaints.solution_late(now=bj(2026, 4, 7, 10, 1))) == [item]
    solution = make(models.Solution, complaint=item, proposal="更换新品", created_at=bj(2026, 4, 7, 11, 0))
    assert list(complaints.solution_late(now=bj(2026, 4, 8, 10, 0))) == []
    # The GM turns the solution down: none stands, the reminder is back until a new one is proposed.
    engine.decide(engine.pending_for(solution).get().id, gm_user(), False, "赔偿过高")
    assert list(complaints.solution_late(now=bj(2026, 4, 8, 10, 0))) == [item]
    make(models.Solution, complaint=item, proposal="免费维修", created_at=bj(2026, 4, 8, 9, 0))
    assert list(complaints.solution_late(now=bj(2026, 4, 8, 10, 0))) == []


def test_cmp4_make_up_saturday_counts_as_a_working_day(app):
    # Friday 9 October 2026; Saturday 10 October is a 国庆 make-up working day.
    item = complaint(received_at=bj(2026, 10, 9, 8, 0))
    make(models.Investigation, complaint=item, started_at=bj(2026, 10, 9, 10, 0))
    assert list(complaints.solution_late(now=bj(2026, 10, 10, 9, 59))) == []
    assert list(complaints.solution_late(now=bj(2026, 10, 10, 10, 1))) == [item]


def test_cmp4_solution_pending_needs_an_investigation(app):
    item = move(complaint(), "investigating")
    exc = refused("CMP-4", lambda: run(item, "propose"))
    assert "转入方案待批前须先填写调查报告(CMP-4,000 篇十一 流程3)" in str(exc)
    item = fresh(item)
    assert item.status == "investigating"
    make(models.Investigation, complaint=item)
    run(item, "propose")
    assert models.Complaint.get_by_id(item.id).status == "solution_pending"


# ---------------------------------------------------------------- CMP-5
def pending(rule_id, target):
    return [(a.step, a.required_role) for a in models.Approval.select().where(
        models.Approval.rule == rule_id, models.Approval.target_model == type(target).__name__,
        models.Approval.target_id == target.id,
        models.Approval.status == "pending").order_by(models.Approval.step, models.Approval.id)]


def rows(rule_id, target):
    return list(models.Approval.select().where(
        models.Approval.rule == rule_id, models.Approval.target_model == type(target).__name__,
        models.Approval.target_id == target.id).order_by(models.Approval.id))


def test_cmp5_major_complaint_notifies_manager_and_gm(app):
    general = complaint(severity="general")
    assert pending("CMP-5", general) == []
    major = complaint(severity="major")
    # Both at once (not one after the other), as acknowledge items.
    assert pending("CMP-5", major) == [(1, "manager"), (1, "gm")]
    assert {a.kind for a in rows("CMP-5", major)} == {"notify"}
    major.content = "补充说明"
    major.save()
    assert len(pending("CMP-5", major)) == 2


def test_cmp5_when_severity_becomes_major(app):
    item = complaint(severity="general")
    item.severity = "major"
    item.save()
    assert pending("CMP-5", item) == [(1, "manager"), (1, "gm")]


def test_cmp5_notifications_do_not_lock_and_are_acknowledged_by_the_right_people(app):
    after_sales = make(models.Department, name="售后服务部")
    sales = make(models.Department, name="销售部")
    own_manager = make_user("shouhou", roles=("manager",), department=after_sales)
    other_manager = make_user("xiaoshou", roles=("manager",), department=sales)
    item = complaint(severity="major", department=after_sales)
    assert not engine.is_pending(item)
    # The complaint goes on through its workflow while the notices are unread.
    move(item, "investigating")
    assert models.Complaint.get_by_id(item.id).status == "investigating"
    manager_row, gm_row = rows("CMP-5", item)
    with pytest.raises(engine.ApprovalError, match="所属部门的部门经理"):
        engine.decide(manager_row.id, other_manager, True)
    with pytest.raises(engine.ApprovalError, match="不能驳回"):
        engine.decide(gm_row.id, gm_user(), False, "不同意")
    engine.decide(manager_row.id, own_manager, True)
    engine.decide(gm_row.id, gm_user(), True)
    assert [(a.status, a.decided_by_id) for a in rows("CMP-5", item)] == [
        ("approved", own_manager.id), ("approved", gm_user().id)]
    assert pending("CMP-5", item) == []
    assert models.Complaint.get_by_id(item.id).status == "investigating"


# ---------------------------------------------------------------- CMP-6
def test_cmp6_a_new_solution_asks_the_gm_and_is_locked_until_decided(app):
    item = move(complaint(), "investigating")
    make(models.Investigation, complaint=item)
    solution = make(models.Solution, complaint=item, proposal="赔偿误工损失")
    assert pending("CMP-6", solution) == [(1, "gm")]
    solution.customer_reply = "同意"
    exc = refused("CMP-6", solution.save)
    assert "该记录正在等待审批" in str(exc)
    assert len(pending("CMP-6", solution)) == 1


def test_cmp6_gm_approval_lets_the_complaint_be_replied(app):
    item = move(complaint(), "investigating", "solution_pending")
    service = make_user("kefu", roles=("service",))
    manager = make_user("jingli", roles=("manager",))
    with acting_as(service):
        solution = make(models.Solution, complaint=item, proposal="退货")
    exc = refused("CMP-6", lambda: run(item, "reply"))
    assert "答复客户前处理方案须经总经理批准(CMP-6,000 篇十一 流程4)" in str(exc)
    row = models.Approval.get(models.Approval.rule == "CMP-6", models.Approval.target_id == solution.id)
    with pytest.raises(engine.ApprovalError):
        engine.decide(row.id, manager, True)
    engine.decide(row.id, gm_user(), True, "同意")
    solution = models.Solution.get_by_id(solution.id)
    assert solution.approved_by_id == gm_user().id
    assert abs(solution.approved_at - models.utcnow()) < datetime.timedelta(minutes=1)
    run(fresh(item), "reply")
    assert models.Complaint.get_by_id(item.id).status == "replied"


def test_cmp6_rejected_solution_stays_unapproved_and_the_reply_refused(app):
    item = move(complaint(), "investigating", "solution_pending")
    solution = make(models.Solution, complaint=item, proposal="全额退款")
    engine.decide(rows("CMP-6", solution)[0].id, gm_user(), False, "金额过高，改为换货")
    assert models.Solution.get_by_id(solution.id).approved_by_id is None
    refused("CMP-6", lambda: run(fresh(item), "reply"))
    # A revised proposal is a new solution, asked again.
    revised = make(models.Solution, complaint=item, proposal="更换同型号新品")
    assert pending("CMP-6", revised) == [(1, "gm")]


def test_cmp6_withdrawn_solution_is_editable_and_resubmitted_on_save(app):
    service = make_user("kefu", roles=("service",))
    item = move(complaint(), "investigating", "solution_pending")
    with acting_as(service):
        solution = make(models.Solution, complaint=item, proposal="赔偿 500 元")
    engine.withdraw(solution, service)
    solution = models.Solution.get_by_id(solution.id)
    solution.proposal = "赔偿 300 元并书面致歉"
    with acting_as(service):
        solution.save()
    assert [a.status for a in rows("CMP-6", solution)] == ["withdrawn", "pending"]


def test_cmp6_an_approver_cannot_be_typed_in(app):
    item = move(complaint(), "investigating", "solution_pending")
    refused("CMP-6", lambda: make(models.Solution, complaint=item, proposal="免费返修", approved_by=gm_user()))
    solution = make(models.Solution, complaint=item, proposal="退货")
    solution.approved_by = gm_user()
    refused("CMP-6", solution.save)
    assert pending("CMP-6", solution) == [(1, "gm")]


def test_cmp6_approver_is_read_only_on_the_form(app):
    excluded = view_for(app, models.Solution).form_excluded_columns
    assert "approved_by" in excluded and "approved_at" in excluded


# ---------------------------------------------------------------- CMP-7
def test_cmp7_two_customer_notices_in_the_last_seven_days(app):
    now = bj(2026, 6, 20, 12, 0)
    item = complaint(received_at=now - datetime.timedelta(days=8))
    young = complaint(received_at=now - datetime.timedelta(days=6))
    make(models.ComplaintUpdate, complaint=item, at=now - datetime.timedelta(days=1), note="告知进展",
         notified_customer=True)
    make(models.ComplaintUpdate, complaint=item, at=now - datetime.timedelta(days=2), note="内部记录",
         notified_customer=False)
    late = make(models.ComplaintUpdate, complaint=item, at=now - datetime.timedelta(days=7, minutes=1),
                note="告知进展", notified_customer=True)
    assert list(complaints.progress_lacking(now=now)) == [item]
    late.at = now - datetime.timedelta(days=6, hours=23)
    late.save()
    assert list(complaints.progress_lacking(now=now)) == []
    assert young not in list(complaints.progress_lacking(now=now))


def test_cmp7_finished_complaints_are_not_flagged(app):
    now = bj(2026, 6, 20, 12, 0)
    item = complaint(received_at=now - datetime.timedelta(days=10))
    move(item, "investigating", "solution_pending", "replied", "return_visit", "closed")
    assert list(complaints.progress_lacking(now=now)) == []


# ---------------------------------------------------------------- CMP-8
def test_cmp8_complainant_needs_a_return_visit_after_the_complaint(app):
    now = bj(2026, 8, 1, 12, 0)
    customer = make(models.Customer, name="回访客户")
    quiet = make(models.Customer, name="无投诉客户")
    complaint(customer=customer, received_at=bj(2026, 7, 10, 23, 30))
    make(models.Visit, customer=customer, kind="return", visited_on=datetime.date(2026, 7, 9))
    make(models.Visit, customer=customer, kind="visit", visited_on=datetime.date(2026, 7, 20))
    assert list(complaints.missing_return_visit(now=now)) == [customer]
    make(models.Visit, customer=customer, kind="return", visited_on=datetime.date(2026, 7, 10))
    assert list(complaints.missing_return_visit(now=now)) == []
    assert quiet not in list(complaints.missing_return_visit(now=now))


def test_cmp8_a_december_complaint_still_owes_its_return_visit_in_january(app):
    now = bj(2026, 3, 1, 12, 0)
    last_year = make(models.Customer, name="去年投诉")
    new_year = make(models.Customer, name="元旦投诉")
    older = make(models.Customer, name="前年投诉")
    complaint(customer=older, received_at=bj(2024, 12, 31, 23, 30))
    complaint(customer=last_year, received_at=bj(2025, 12, 31, 23, 30))
    complaint(customer=new_year, received_at=bj(2026, 1, 1, 0, 30))  # 2025-12-31 16:30 UTC
    assert set(complaints.missing_return_visit(now=now)) == {last_year, new_year}
    make(models.Visit, customer=last_year, kind="return", visited_on=datetime.date(2026, 1, 5))
    assert list(complaints.missing_return_visit(now=now)) == [new_year]
    # A return visit typed with a date after today clears nothing.
    make(models.Visit, customer=new_year, kind="return", visited_on=datetime.date(2026, 3, 10))
    assert list(complaints.missing_return_visit(now=now)) == [new_year]


def test_cmp8_closing_needs_the_satisfaction_answer(app):
    item = move(complaint(), "investigating", "solution_pending", "replied", "return_visit")
    exc = refused("CMP-8", lambda: run(item, "close"))
    assert exc.violations[0].field == "satisfaction"
    run(fresh(item), "close", satisfaction="basically")
    assert models.Complaint.get_by_id(item.id).closed_at is not None


# ---------------------------------------------------------------- CMP-9
def test_cmp9_monthly_report_counts_by_beijing_month(app):
    sales = make(models.Department, name="销售部")
    last_evening = complaint(received_at=bj(2026, 3, 31, 23, 30), category="repair", plate_no="粤A00001",
                             severity="major", department=sales)
    complaint(received_at=bj(2026, 3, 1, 0, 30), category="service")   # 2026-02-28 16:30 UTC
    complaint(received_at=bj(2026, 4, 1, 0, 30), category="service")   # 2026-03-31 16:30 UTC
    complaint(received_at=bj(2026, 2, 28, 23, 59), category="product")
    move(last_evening, "investigating", "solution_pending", "replied", "return_visit")
    with workflow.clock(last_evening.received_at + datetime.timedelta(hours=36)):
        move(last_evening, "closed")
    report = complaints.monthly_report(2026, 3, now=bj(2026, 4, 20, 0, 0))
    assert report["total"] == 2
    assert report["by_category"]["repair"] == 1 and report["by_category"]["service"] == 1
    assert report["by_category"]["product"] == 0
    assert report["by_department"] == {"销售部": 1, "未指定": 1}
    assert report["by_severity"] == {"general": 1, "major": 1}
    assert report["average_close_hours"] == 36.0
    assert report["overdue"] == 1   # the open one received on 1 March
    assert report["due_on"] == datetime.date(2026, 4, 10)
    assert complaints.monthly_report(2026, 4, now=bj(2026, 4, 20, 0, 0))["total"] == 1
    assert complaints.monthly_report(2026, 2, now=bj(2026, 4, 20, 0, 0))["total"] == 1


def test_cmp9_month_end_complaint_typed_in_the_form_stays_in_its_month(app, admin_client):
    obj = models.Complaint(received_at=bj(2026, 1, 31, 23, 30), complainant="王先生", content="服务态度差",
                           category="service", status="received")
    response = form_post(app, admin_client, models.Complaint, obj)
    assert response.status_code == 302, response.get_data(as_text=True)
    stored = models.Complaint.get()
    assert stored.received_at == datetime.datetime(2026, 1, 31, 15, 30)
    assert complaints.monthly_report(2026, 1)["total"] == 1
    assert complaints.monthly_report(2026, 2)["total"] == 0


def test_cmp9_report_due_on_the_tenth_of_the_next_month(app):
    assert complaints.report_due(datetime.date(2026, 4, 1)) == datetime.date(2026, 4, 10)
    assert complaints.report_due(datetime.date(2026, 4, 30)) == datetime.date(2026, 4, 10)
    policies.RULES["CMP-9"].configure(report_day=31)
    assert complaints.report_due(datetime.date(2026, 2, 3)) == datetime.date(2026, 2, 28)


# ---------------------------------------------------------------- CMP-10 and the workflow
def test_cmp10_rejection_needs_the_reason_via_save(app):
    item = complaint()
    exc = refused("CMP-10", lambda: run(item, "reject"))
    assert "投诉不成立须填写已向客户说明的原因(CMP-10,000 篇四 第七条)" in str(exc)
    assert exc.violations[0].field == "rejection_reason"
    item = fresh(item)
    assert item.status == "received"
    # A bare save is no ruling: only the supervisor's reject action rejects.
    item.status, item.rejection_reason = "rejected", "已超出质保期,已向客户说明"
    refused("CMP-10", item.save)
    refused("CMP-10", lambda: run(fresh(item), "reject", make_user("kefu", roles=("service",)),
                                  rejection_reason="已超出质保期,已向客户说明"))
    manager = make_user("bumenjingli", roles=("manager",))
    run(fresh(item), "reject", manager, rejection_reason="已超出质保期,已向客户说明")
    stored = models.Complaint.get_by_id(item.id)
    assert stored.status == "rejected" and stored.closed_at is not None and stored.ruled_by_id == manager.id


def test_cmp10_only_the_departments_manager_or_the_gm_rules_on_acceptance(app):
    department = models.Department.create(name="售后服务部")
    item = complaint(department=department)
    service = make_user("kefu", roles=("service",), department=department)
    other_manager = make_user("qita_jingli", roles=("manager",), department=models.Department.create(name="销售部"))
    own_manager = make_user("shouhou_jingli", roles=("manager",), department=department)
    for person in (service, other_manager):
        with pytest.raises(policies.PolicyViolation) as exc:
            run(fresh(item), "investigate", person)
        assert exc.value.rule_id == "CMP-10"
        with pytest.raises(policies.PolicyViolation):
            run(fresh(item), "reject", person, rejection_reason="已向客户说明")
    assert fresh(item).status == "received" and fresh(item).ruled_by_id is None
    run(fresh(item), "investigate", own_manager)
    assert fresh(item).status == "investigating" and fresh(item).ruled_by_id == own_manager.id
    # The stamp is not typed in afterwards: the workflow engine refuses it.
    item = fresh(item)
    item.ruled_by = service
    with pytest.raises(policies.PolicyViolation, match="受理裁定人"):
        item.save()
    assert fresh(item).ruled_by_id == own_manager.id
    gm_item = complaint(department=department)
    run(gm_item, "investigate", gm_user())
    assert fresh(gm_item).status == "investigating"

def test_cmp10_rejection_only_from_received(app):
    item = move(complaint(), "investigating")
    exc = refused("CMP-10", lambda: run(item, "reject", rejection_reason="投诉不实,已说明"))
    assert "不能执行「判定不成立」" in str(exc)


def test_cmp10_rejection_without_reason_refused_by_the_button(app, client, login_as):
    login_as("manager")
    item = complaint(received_at=bj(2026, 3, 2, 9, 0), complainant="赵女士", content="要求退货")
    url = f"/admin/complaint/details/?id={item.id}"
    html = client.get(url).get_data(as_text=True)
    assert 'id="action-reject"' in html and 'name="rejection_reason"' in html
    response = client.post("/admin/complaint/workflow/", data={
        "csrf_token": csrf_token(client, url), "id": item.id, "action": "reject", "rejection_reason": "",
        "next": url}, follow_redirects=True)
    assert "投诉不成立须填写已向客户说明的原因(CMP-10,000 篇四 第七条)" in response.get_data(as_text=True)
    assert fresh(item).status == "received"


def test_cmp10_workflow_moves_only_one_step_forward(app):
    item = complaint()
    item.status = "replied"
    refused("CMP-10", item.save)
    new = models.Complaint(complainant="孙先生", content="x", category="service", status="closed",
                           satisfaction="satisfied")
    refused("CMP-10", new.save)
    item = fresh(item)
    for name in ("propose", "reply", "return_visit", "close"):
        refused("CMP-10", lambda: run(fresh(item), name, **({"satisfaction": "satisfied"} if name == "close" else {})))
    move(item, "investigating", "solution_pending", "replied", "return_visit", "closed")
    item.status = "investigating"
    refused("CMP-10", item.save)
    assert complaints.transition_errors(item, "received", before="investigating")
    assert complaints.transition_errors(item, "investigating", before="received") == []
