"""Archive rules at their boundaries, through save() and through the generated form."""
import datetime
import os
from decimal import Decimal

import pytest

import models
import policies
from conftest import csrf_token
from conftest import login
from conftest import make_user
from conftest import submit
from factories import build
from factories import form_data
from factories import make
from factories import view_for
from factories import acting_as
from factories import fresh
from factories import make_loan
from factories import role_user
from factories import run
from policies import workflow
from policies import approvals as engine
from policies import archives

NOW = datetime.datetime(2026, 11, 2, 1, 0)
SOURCES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "shared", "policy-sources")
D = datetime.date


def loan(days, at=NOW, **extra):
    """Lend a file for ``days`` the only way a loan exists: a GM's borrow request, lent by the archivist at ``at``."""
    folder = extra.pop("file", None) or make(models.ArchiveFile, title="档案")
    return make_loan(file=folder, borrower=extra.pop("borrower", None), days=days, lent_at=at)


def destroy(folder):
    """Destroy ``folder`` the only way a file is destroyed: a destruction record the GM approves (ARC-11)."""
    if folder.retain_until is None or folder.retain_until >= archives.local_today():
        folder = fresh(folder)
        folder.retain_until = archives.local_today() - datetime.timedelta(days=1)  # 保管期满
        folder.save()
    destruction = make(models.Destruction, file=folder, reason="保管期满")
    run(destruction, "approve", role_user("gm"))
    return fresh(folder)


def give_back(open_loan, complete=True, checker=None, at=None):
    """Return ``open_loan`` through the return action (ARC-6), checked by an archivist by default."""
    with workflow.clock(at or NOW + datetime.timedelta(days=1)):
        return archives.return_loan(open_loan, complete, checker or role_user("archivist"), "")


def approvals(rule_id, record=None):
    query = models.Approval.select().where(models.Approval.rule == rule_id).order_by(models.Approval.step,
                                                                                      models.Approval.id)
    if record is not None:
        query = query.where(models.Approval.target_model == type(record).__name__,
                            models.Approval.target_id == record.id)
    return [(a.required_role, a.status) for a in query]


def refused_in_form(admin_client, model, obj, message):
    """POST ``obj`` through the generated create form; assert the refusal shows and nothing was written."""
    before = model.select().count()
    view = view_for(admin_client.application, model)
    response = submit(admin_client, f"/admin/{model.__name__.lower()}/new/", form_data(view, obj))
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert model.select().count() == before
    return response


def pending_rows(record, rule_id=None):
    query = models.Approval.select().where(
        models.Approval.target_model == type(record).__name__, models.Approval.target_id == record.id,
        models.Approval.status == "pending").order_by(models.Approval.step, models.Approval.id)
    if rule_id is not None:
        query = query.where(models.Approval.rule == rule_id)
    return list(query)


def approve_all(record, user, rule_id=None):
    """Approve, step by step, every pending approval of ``record`` as ``user``."""
    while pending_rows(record, rule_id):
        for row in pending_rows(record, rule_id):
            if engine.actionable(row):
                engine.decide(row.id, user, True)


@pytest.fixture
def people(app):
    """The requester (a sales clerk), the borrower, customer service's manager, the GM, a deputy GM and an archivist."""
    service = models.Department.create(name="客户服务部", customer_service=True)
    return {
        "clerk": make_user("luru", roles=("sales",)),
        "staff": make_user("liuyang", roles=("sales",)),
        "manager": make_user("jingli", roles=("manager",), department=service, clearance="top_secret"),
        "gm": make_user("zongjingli", roles=("gm",)),
        "deputy": make_user("fuzong", roles=("deputy",)),
        "archivist": make_user("zhangli", roles=("archivist",)),
    }


def borrow(people, level="normal", **fields):
    """File a borrow request as the clerk (the requester of its approvals)."""
    folder = fields.pop("file", None) or make(models.ArchiveFile, title="档案", confidentiality=level)
    fields.setdefault("borrower", people["staff"])
    with acting_as(people["clerk"]):
        return make(models.BorrowRequest, file=folder, days=fields.pop("days", 2), **fields)


@pytest.fixture
def today(monkeypatch):
    """Pin the office's 'today' (ARC-9 counts lateness up to it) and return a setter."""
    current = {"day": D(2026, 11, 2)}
    monkeypatch.setattr(archives, "local_today", lambda: current["day"])

    def set_today(day):
        current["day"] = day
        return day
    set_today(D(2026, 11, 2))
    return set_today


# ---------------------------------------------------------------- declarations
def test_every_archive_rule_quotes_its_source_verbatim(app):
    texts = {}
    for name in os.listdir(SOURCES):
        if name[:3].isdigit():
            with open(os.path.join(SOURCES, name), encoding="utf-8") as fh:
                texts[name[:3]] = fh.read()
    ids = [f"ARC-{n}" for n in range(1, 14)]
    for rule_id in ids:
        rule = policies.RULES[rule_id]
        assert rule.quote in texts[rule.source[:3]], rule_id
    actions = {rule_id: policies.RULES[rule_id].action for rule_id in ids}
    assert [i for i in ids if actions[i] == "approve"] == ["ARC-3", "ARC-5", "ARC-10", "ARC-11"]
    assert [i for i in ids if actions[i] == "flag"] == ["ARC-7", "ARC-12"]


# ---------------------------------------------------------------- ARC-1
@pytest.mark.rule("ARC-1", "boundary")
def test_arc1_three_days_allowed_four_refused_via_save(app):
    three = loan(3)
    assert three.due_at - three.lent_at == datetime.timedelta(days=3)
    with pytest.raises(policies.PolicyViolation) as exc:
        loan(4)
    assert exc.value.rule_id == "ARC-1"
    assert "借阅期限不得超过 3 天(ARC-1,000 篇二 第19条5)" in str(exc.value)
    assert models.Loan.select().count() == 1


def test_arc1_borrow_request_days(app):
    make(models.BorrowRequest, days=3)
    with pytest.raises(policies.PolicyViolation):
        make(models.BorrowRequest, days=4)


def test_arc1_refused_in_the_generated_form_at_the_field(app, admin_client):
    view = view_for(app, models.BorrowRequest)
    data = form_data(view, models.BorrowRequest(
        borrower=make(models.User, username="jieyue"), file=make(models.ArchiveFile, number="F-X", title="x"),
        days=4, copies=1, reason="核对合同", dept_head_signed=True, status="pending"))
    response = submit(admin_client, "/admin/borrowrequest/new/", data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "借阅期限不得超过 3 天(ARC-1,000 篇二 第19条5)" in html
    assert 'id="days"' in html and "is-invalid" in html
    assert models.BorrowRequest.select().count() == 0
    assert models.RuleEvent.select().where(models.RuleEvent.rule == "ARC-1",
                                           models.RuleEvent.kind == "block").count() == 1


def test_arc1_changed_setting_takes_effect_without_restart(app):
    policies.RULES["ARC-1"].configure(max_days=5)
    loan(5)
    with pytest.raises(policies.PolicyViolation):
        loan(6)
    policies.RULES["ARC-1"].configure(enabled=False)
    loan(30)


# ---------------------------------------------------------------- ARC-2
@pytest.mark.rule("ARC-2", "boundary")
def test_arc2_file_on_loan_is_not_lent_again_until_returned_and_status_follows(app):
    folder = make(models.ArchiveFile, number="F-2", title="客户档案")
    archivist = make_user("zhangli", roles=("archivist",))
    first = loan(2, file=folder)
    assert models.ArchiveFile.get_by_id(folder.id).status == "on_loan"
    staff = make(models.BorrowRequest, file=folder, borrower=make_user("liuyang", roles=("sales",)))
    run(staff, "approve", make_user("zongjingli", roles=("gm",)))
    with pytest.raises(policies.PolicyViolation) as exc:
        archives.lend(fresh(staff), 1, archivist)
    assert exc.value.rule_id == "ARC-2"
    assert "该档案已借出尚未归还，归还注销前不能再次借出(ARC-2,000 篇二 第19条1)" in str(exc.value)
    assert models.Loan.select().count() == 1
    give_back(first, checker=archivist)
    assert models.ArchiveFile.get_by_id(folder.id).status == "in_store"
    archives.lend(fresh(staff), 1, archivist)
    assert models.ArchiveFile.get_by_id(folder.id).status == "on_loan"
    assert models.Loan.select().count() == 2


@pytest.mark.rule("ARC-2", "boundary")
def test_arc2_destroyed_file_is_neither_lent_nor_requested(app):
    folder = make(models.ArchiveFile, number="F-D", title="已销毁档案")
    lendable = make(models.BorrowRequest, file=folder, borrower=role_user("gm"))
    destroy(folder)
    with pytest.raises(policies.PolicyViolation) as exc:
        archives.lend(lendable, 1, role_user("archivist"))
    assert "该档案已销毁，不能借出(ARC-2,000 篇二 第19条1)" in str(exc.value)
    lendable.delete_instance()
    with pytest.raises(policies.PolicyViolation) as exc:
        make(models.BorrowRequest, file=folder)
    assert exc.value.field == "file" and "不能申请借阅" in str(exc.value)
    assert models.Loan.select().count() == 0 and models.BorrowRequest.select().count() == 0
    assert models.ArchiveFile.get_by_id(folder.id).status == "destroyed"
    make(models.BorrowRequest, file=make(models.ArchiveFile, number="F-OK", title="在库档案"))


def test_arc2_refused_by_the_lend_button(app):
    folder = make(models.ArchiveFile, number="F-2F", title="客户档案")
    loan(2, file=folder)
    request = make(models.BorrowRequest, file=folder, borrower=make_user("liuyang", roles=("sales",)))
    run(request, "approve", make_user("zongjingli", roles=("gm",)))
    archivist = make_user("zhangli", roles=("archivist",))
    admin_client = app.test_client()
    login(admin_client, archivist.username)
    url = f"/admin/borrowrequest/details/?id={request.id}"
    response = admin_client.post("/admin/borrowrequest/workflow/", data={
        "csrf_token": csrf_token(admin_client, url), "id": request.id, "action": "lend", "copies": "1",
        "next": url}, follow_redirects=True)
    assert "该档案已借出尚未归还，归还注销前不能再次借出(ARC-2,000 篇二 第19条1)" in response.get_data(as_text=True)
    assert models.Loan.select().count() == 1


# ---------------------------------------------------------------- ARC-3
@pytest.mark.parametrize("level, roles", [
    ("normal", []),
    ("secret", [("manager", "pending")]),
    ("top_secret", [("manager", "pending"), ("gm", "pending")]),
])
@pytest.mark.rule("ARC-3", "boundary")
def test_arc3_classified_files_need_manager_and_gm(app, level, roles):
    folder = make(models.ArchiveFile, number=f"F-{level}", title="档案", confidentiality=level)
    request = make(models.BorrowRequest, file=folder)
    access = make(models.AccessRequest, file=folder, applicant=make(models.User, username=f"a-{level}"))
    assert approvals("ARC-3", request) == roles
    assert approvals("ARC-3", access) == roles
    # Below the threshold nothing is asked and the access request is not held (no lock).
    if not roles:
        access.reason = "改理由"
        access.save()
        assert approvals("ARC-3", access) == []


def test_arc3_top_secret_manager_first_then_gm_then_the_loan_opens(people):
    request = borrow(people, "top_secret")
    manager_step, gm_step = pending_rows(request, "ARC-3")
    assert (manager_step.step, manager_step.required_role) == (1, "manager")
    assert (gm_step.step, gm_step.required_role) == (2, "gm")
    with pytest.raises(engine.ApprovalError, match="前一审批步骤尚未完成"):
        engine.decide(gm_step.id, people["gm"], True)
    with pytest.raises(engine.ApprovalError, match="manager"):
        engine.decide(manager_step.id, people["gm"], True)
    engine.decide(manager_step.id, people["manager"], True)
    engine.decide(gm_step.id, people["gm"], True)
    # ARC-5 is still open: nothing is lent until every approval of the request is given.
    assert fresh(request).status == "pending" and models.Loan.select().count() == 0
    engine.decide(pending_rows(request, "ARC-5")[0].id, people["gm"], True)
    assert fresh(request).status == "approved" and models.Loan.select().count() == 0
    # Approved, the archivist lends it: the only way a loan comes to exist.
    archives.lend(fresh(request), 1, people["archivist"])
    loan_row = models.Loan.get(models.Loan.request == request.id)
    assert (loan_row.borrower_id, loan_row.file_id, loan_row.copies) == (people["staff"].id, request.file_id, 1)
    assert loan_row.due_at - loan_row.lent_at == datetime.timedelta(days=2)
    assert abs(loan_row.lent_at - models.utcnow()) < datetime.timedelta(minutes=1)
    assert models.ArchiveFile.get_by_id(request.file_id).status == "on_loan"


def test_arc3_manager_rejection_withdraws_the_rest_and_lends_nothing(people):
    request = borrow(people, "top_secret")
    with pytest.raises(engine.ApprovalError, match="驳回时必须填写审批意见"):
        engine.decide(pending_rows(request, "ARC-3")[0].id, people["manager"], False)
    engine.decide(pending_rows(request, "ARC-3")[0].id, people["manager"], False, "借阅理由不充分")
    assert pending_rows(request) == []
    assert fresh(request).status == "rejected"
    assert models.Loan.select().count() == 0
    assert models.ArchiveFile.get_by_id(request.file_id).status == "in_store"


@pytest.mark.rule("ARC-3", "boundary")
def test_arc3_only_customer_services_manager_with_the_files_clearance(people):
    sales_dept = models.Department.create(name="销售部")
    service = models.Department.get(models.Department.customer_service == True)  # noqa: E712
    other = make_user("xiaoshou_jingli", roles=("manager",), department=sales_dept, clearance="top_secret")
    uncleared = make_user("kefu_fujingli", roles=("manager",), department=service, clearance="secret")
    request = borrow(people, "top_secret")
    manager_step = pending_rows(request, "ARC-3")[0]
    assert manager_step.department_id == service.id
    with pytest.raises(engine.ApprovalError, match="客户服务部经理"):
        engine.decide(manager_step.id, other, True)
    with pytest.raises(engine.ApprovalError, match=r"保密级别\(绝密\)"):
        engine.decide(manager_step.id, uncleared, True)
    # The same manager may decide a secret file.
    secret = borrow(people, "secret")
    engine.decide(pending_rows(secret, "ARC-3")[0].id, uncleared, True)
    assert fresh(pending_rows(secret, "ARC-5")[0]).status == "pending"
    # Clearance withdrawn after the request was filed: the decision is refused at the time it is taken.
    people["manager"].clearance = "secret"
    people["manager"].save()
    with pytest.raises(engine.ApprovalError, match="保密级别"):
        engine.decide(manager_step.id, people["manager"], True)


def test_arc3_without_a_customer_service_department_nobody_approves_in_its_place(app):
    manager = make_user("arc3_manager", roles=("manager",), clearance="top_secret",
                        department=models.Department.create(name="销售部"))
    folder = make(models.ArchiveFile, number="F-NOCS", title="档案", confidentiality="secret")
    request = make(models.AccessRequest, file=folder, applicant=make(models.User, username="a-nocs"))
    row = pending_rows(request, "ARC-3")[0]
    with pytest.raises(engine.ApprovalError, match="未设置客户服务部"):
        engine.decide(row.id, manager, True)
    # A department named 客服部 is taken as customer service when none is marked (for the next request).
    models.Department.create(name="客服部")
    assert archives.customer_service_department().name == "客服部"


def test_arc3_access_request_approved_or_rejected(people):
    folder = make(models.ArchiveFile, number="F-AR", title="档案", confidentiality="secret")
    with acting_as(people["clerk"]):
        # Typed-in statuses are refused: a request starts pending.
        with pytest.raises(policies.PolicyViolation, match="「状态」"):
            make(models.AccessRequest, file=folder, applicant=people["staff"], status="approved")
        granted = make(models.AccessRequest, file=folder, applicant=people["staff"])
        refused_one = make(models.AccessRequest, file=folder, applicant=people["staff"])
    assert fresh(granted).status == "pending"
    engine.decide(pending_rows(granted)[0].id, people["manager"], True)
    assert fresh(granted).status == "approved"
    engine.decide(pending_rows(refused_one)[0].id, people["manager"], False, "与工作无关")
    refused_one = fresh(refused_one)
    assert refused_one.status == "rejected"
    refused_one.status = "approved"
    with pytest.raises(policies.PolicyViolation) as exc:
        refused_one.save()
    assert exc.value.field == "status" and "「状态」" in str(exc.value)
    # A normal file needs no approval: the archivist grants such requests with the grant action.
    plain = make(models.AccessRequest, file=make(models.ArchiveFile, number="F-AN", title="档案"),
                 applicant=people["staff"])
    assert pending_rows(plain) == []
    with pytest.raises(policies.PolicyViolation, match="须由具有“档案管理员”角色"):
        run(plain, "grant", people["staff"])
    run(plain, "grant", people["archivist"])
    assert fresh(plain).status == "approved"
    # A classified request is decided by its approvals only.
    with pytest.raises(policies.PolicyViolation, match="由审批决定"):
        run(make(models.AccessRequest, file=folder, applicant=people["staff"]), "grant", people["archivist"])


@pytest.mark.rule("ARC-3", "sequence")
def test_arc3_request_locked_while_pending_editable_after_withdrawal_then_resubmitted(people):
    request = borrow(people, "secret")
    request.reason = "改理由"
    with pytest.raises(policies.PolicyViolation) as exc:
        request.save()
    assert "该记录正在等待审批" in str(exc.value)
    with pytest.raises(policies.PolicyViolation):
        fresh(request).delete_instance()
    with pytest.raises(engine.ApprovalError, match="只有申请人可以撤回"):
        engine.withdraw(request, people["staff"])
    engine.withdraw(request, people["clerk"])
    request = fresh(request)
    assert request.status == "withdrawn" and pending_rows(request) == []
    assert engine.state(request) == "withdrawn"
    # A withdrawn request is not typed back to pending or approved.
    request.status = "approved"
    with pytest.raises(policies.PolicyViolation, match="申请状态由审批结果决定"):
        request.save()
    request = fresh(request)
    # Editing and saving it again submits it afresh.
    request.reason = "补充：核对原始合同"
    with acting_as(people["clerk"]):
        request.save()
    assert [r.rule for r in pending_rows(request)] == ["ARC-3", "ARC-5"]
    approve_all(request, people["manager"], "ARC-3")
    approve_all(request, people["gm"], "ARC-5")
    assert fresh(request).status == "approved" and request.loans.count() == 0


def test_arc3_lending_refused_while_the_file_is_still_out(people):
    folder = make(models.ArchiveFile, number="F-OUT", title="档案")
    request = borrow(people, file=folder)
    out = loan(1, file=folder)
    engine.decide(pending_rows(request, "ARC-5")[0].id, people["gm"], True)
    with pytest.raises(policies.PolicyViolation) as exc:
        archives.lend(fresh(request), 1, people["archivist"])
    assert exc.value.rule_id == "ARC-2"
    # Nothing was lent: it can be lent once the file is back.
    assert fresh(request).loans.count() == 0
    give_back(out, checker=people["archivist"])
    assert archives.lend(fresh(request), 1, people["archivist"]).file_id == folder.id


# ---------------------------------------------------------------- ARC-4
@pytest.mark.parametrize("field, value, message", [
    ("reason", "  ", "借阅申请须写明借阅理由"),
    ("copies", None, "借阅份数至少为 1 份"),
    ("dept_head_signed", False, "借阅申请须由所在部门负责人签字"),
])
@pytest.mark.rule("ARC-4", "boundary")
def test_arc4_borrow_request_paperwork_via_save(app, field, value, message):
    with pytest.raises(policies.PolicyViolation) as exc:
        make(models.BorrowRequest, **{field: value})
    assert exc.value.rule_id == "ARC-4" and exc.value.field == field
    assert f"{message}(ARC-4,000 篇二 第18–19条)" in str(exc.value)
    assert models.BorrowRequest.select().count() == 0
    make(models.BorrowRequest, copies=1)


def test_arc4_external_viewer_needs_an_introduction_letter(app):
    with pytest.raises(policies.PolicyViolation) as exc:
        make(models.AccessRequest, applicant=None, external_name="浙江汇诚律师事务所 林律师", intro_letter_no=" ")
    assert exc.value.field == "intro_letter_no"
    assert "外单位人员查阅档案须登记介绍信(或工作证)编号(ARC-4,000 篇二 第18–19条)" in str(exc.value)
    assert models.AccessRequest.select().count() == 0
    make(models.AccessRequest, applicant=None, external_name="浙江汇诚律师事务所 林律师", intro_letter_no="JS2026-017",
         dept_head_signed=False)
    make(models.AccessRequest, applicant=make(models.User, username="neibu"), external_name="")


@pytest.mark.parametrize("fields, field, message", [
    (dict(applicant=None), "applicant", "查阅申请须填写申请人(本公司人员)或外部查阅人"),
    (dict(purpose=" "), "purpose", "查阅申请须写明查阅目的"),
    (dict(reason=""), "reason", "查阅申请须写明查阅理由"),
    (dict(dept_head_signed=False), "dept_head_signed", "本公司人员查阅须由所在部门负责人签字"),
])
def test_arc4_access_request_paperwork(app, fields, field, message):
    with pytest.raises(policies.PolicyViolation) as exc:
        make(models.AccessRequest, **fields)
    assert [(v.rule_id, v.field) for v in exc.value.violations] == [("ARC-4", field)]
    assert f"{message}(ARC-4,000 篇二 第18–19条)" in str(exc.value)
    assert models.AccessRequest.select().count() == 0


def test_withdrawn_access_request_is_withdrawn_until_saved_again(people):
    folder = make(models.ArchiveFile, number="F-WD", title="档案", confidentiality="secret")
    with acting_as(people["clerk"]):
        request = make(models.AccessRequest, file=folder, applicant=people["staff"])
    engine.withdraw(fresh(request), people["clerk"])
    assert fresh(request).status == "withdrawn"
    request = fresh(request)
    request.reason = "补充理由"
    with acting_as(people["clerk"]):
        request.save()
    assert fresh(request).status == "pending" and len(pending_rows(request)) == 1


@pytest.mark.rule("ARC-4", "sequence")
def test_arc4_emptying_the_purpose_afterwards_is_refused(app):
    request = make(models.AccessRequest, file=make(models.ArchiveFile, number="F-PUR", title="档案"))
    request = fresh(request)
    request.purpose = ""
    with pytest.raises(policies.PolicyViolation, match="查阅目的"):
        request.save()


def test_arc4_refused_in_the_generated_form(app, admin_client):
    obj = build(models.BorrowRequest, reason="")
    response = refused_in_form(admin_client, models.BorrowRequest, obj, "借阅申请须写明借阅理由(ARC-4,000 篇二 第18–19条)")
    assert 'id="reason"' in response.get_data(as_text=True)
    access = build(models.AccessRequest, applicant=None, external_name="市场监督管理局 赵科长", intro_letter_no="")
    refused_in_form(admin_client, models.AccessRequest, access, "外单位人员查阅档案须登记介绍信(或工作证)编号")


# ---------------------------------------------------------------- ARC-5
@pytest.mark.rule("ARC-5", "boundary")
def test_arc5_staff_request_needs_gm_the_gm_borrows_directly(app):
    staff = make_user("liuyang", roles=("sales",))
    gm = make_user("wangjianguo", roles=("gm",))
    staff_request = make(models.BorrowRequest, borrower=staff)
    gm_request = make(models.BorrowRequest, borrower=gm)
    assert approvals("ARC-5", staff_request) == [("gm|deputy", "pending")]
    assert models.BorrowRequest.get_by_id(staff_request.id).status == "pending"
    assert not staff_request.loans.exists()
    # The GM borrows a normal file directly: approved on creation, lent by the archivist at once.
    assert approvals("ARC-5", gm_request) == [] and approvals("ARC-3", gm_request) == []
    assert models.BorrowRequest.get_by_id(gm_request.id).status == "approved"
    archives.lend(fresh(gm_request), 1, make_user("zhangli", roles=("archivist",)))
    assert gm_request.loans.count() == 1
    assert models.ArchiveFile.get_by_id(gm_request.file_id).status == "on_loan"


def test_arc5_deputy_borrows_directly_and_may_approve_staff_loans(people):
    direct = borrow(people, borrower=people["deputy"])
    assert fresh(direct).status == "approved" and not pending_rows(direct)
    request = borrow(people)
    with pytest.raises(engine.ApprovalError):
        engine.decide(pending_rows(request)[0].id, people["manager"], True)
    engine.decide(pending_rows(request)[0].id, people["deputy"], True)
    assert fresh(request).status == "approved"


def test_arc5_requester_cannot_approve_own_request(people):
    request = borrow(people, borrower=people["staff"])
    gm_clerk = make_user("mishu", roles=("gm",))
    with acting_as(gm_clerk):
        own = make(models.BorrowRequest, borrower=people["staff"],
                   file=make(models.ArchiveFile, number="F-OWN", title="档案"))
    with pytest.raises(engine.ApprovalError, match="不能审批自己发起的申请"):
        engine.decide(pending_rows(own)[0].id, gm_clerk, True)
    engine.decide(pending_rows(request)[0].id, gm_clerk, True)
    assert fresh(request).status == "approved"


def test_arc5_gm_direct_loan_refused_while_the_file_is_out(people):
    folder = make(models.ArchiveFile, number="F-GMO", title="档案")
    loan(1, file=folder)
    with pytest.raises(policies.PolicyViolation) as exc:
        borrow(people, file=folder, borrower=people["gm"])
    assert exc.value.rule_id == "ARC-2" and exc.value.field == "file"


def test_arc5_status_is_read_only_on_the_form(app):
    view = view_for(app, models.BorrowRequest)
    assert "status" in view.form_excluded_columns


# ---------------------------------------------------------------- ARC-6
@pytest.mark.rule("ARC-6", "boundary")
def test_arc6_return_needs_archivist_confirming_completeness(app):
    archivist = make_user("zhangli", roles=("archivist",))
    clerk = make_user("zhaomin", roles=("clerk",))
    open_loan = loan(2)
    # An incomplete return must say what is missing (ARC-6); a clerk cannot check a return at all.
    for complete, checker, field in ((False, archivist, "return_note"), (True, clerk, None)):
        with pytest.raises(policies.PolicyViolation) as exc:
            give_back(open_loan, complete, checker)
        assert exc.value.rule_id == "ARC-6" and exc.value.field == field
        assert "(ARC-6,001 第6篇 六(四), 000 篇二 第20条)" in str(exc.value)
        open_loan = models.Loan.get_by_id(open_loan.id)
        assert open_loan.returned_at is None
        assert models.ArchiveFile.get_by_id(open_loan.file_id).status == "on_loan"
    # Incomplete with a note: the line stays open, with the checker and the note (ARC-6).
    with workflow.clock(NOW + datetime.timedelta(days=1)):
        archives.return_loan(open_loan, False, archivist, "缺第 3 页")
    open_loan = fresh(open_loan)
    assert (open_loan.returned_at, open_loan.checked_by_id, open_loan.return_note) == (None, archivist.id, "缺第 3 页")
    assert models.ArchiveFile.get_by_id(open_loan.file_id).status == "on_loan"
    # A bare save closing the line is refused whatever it claims (only the return action closes it).
    open_loan.returned_at, open_loan.returned_complete, open_loan.checked_by = NOW, True, archivist
    with pytest.raises(policies.PolicyViolation, match="归还注销"):
        open_loan.save()
    open_loan = fresh(open_loan)
    back = NOW + datetime.timedelta(days=1)
    give_back(open_loan, checker=archivist, at=back)
    closed = fresh(open_loan)
    assert (closed.returned_at, closed.checked_by_id, closed.returned_complete) == (back, archivist.id, True)
    assert models.ArchiveFile.get_by_id(open_loan.file_id).status == "in_store"


# ---------------------------------------------------------------- ARC-7
@pytest.mark.rule("ARC-7", "boundary")
def test_arc7_overdue_loans_at_the_boundary(app):
    archivist = make_user("zhangli", roles=("archivist",))
    due_now = loan(2)
    due_before = loan(1, at=NOW + datetime.timedelta(hours=23))
    returned = loan(1)
    give_back(returned, checker=archivist, at=NOW)
    at = NOW + datetime.timedelta(days=2)
    assert [row.id for row in archives.overdue_loans(at)] == [due_before.id]
    assert {row.id for row in archives.overdue_loans(at + datetime.timedelta(seconds=1))} == {due_before.id, due_now.id}
    assert "ARC-7" in {rule.id for rule, _, _ in policies.FLAGS[models.Loan]}


# ---------------------------------------------------------------- ARC-8
@pytest.mark.parametrize("kind, event_on, due_on", [
    # National Day: 1–7 October are holidays, Saturday 10 October is a make-up working day.
    ("sales", D(2026, 9, 30), D(2026, 10, 10)),
    ("after_sales", D(2026, 9, 30), D(2026, 10, 8)),
    # Project: A to B by the 3rd working day (Saturday 10 October), B to the archive 2 working days later.
    ("project", D(2026, 9, 30), D(2026, 10, 13)),
    # An ordinary weekend.
    ("sales", D(2026, 11, 6), D(2026, 11, 11)),
    ("after_sales", D(2026, 11, 6), D(2026, 11, 9)),
    ("project", D(2026, 11, 6), D(2026, 11, 13)),
])
@pytest.mark.rule("ARC-8", "boundary")
def test_arc8_due_date_over_weekends_and_holidays(app, today, kind, event_on, due_on):
    handover = make(models.Handover, kind=kind, event_on=event_on)
    assert models.Handover.get_by_id(handover.id).due_on == due_on
    assert models.RuleEvent.select().where(models.RuleEvent.rule == "ARC-8",
                                           models.RuleEvent.kind == "compute").count() == 1


def test_arc8_setting_changes_the_due_date(app, today):
    policies.RULES["ARC-8"].configure(sales_working_days=4)
    assert make(models.Handover, kind="sales", event_on=D(2026, 11, 6)).due_on == D(2026, 11, 12)


@pytest.mark.rule("ARC-8", "boundary")
def test_arc8_late_handovers_at_the_boundary(app, today):
    due = D(2026, 11, 11)
    pending = make(models.Handover, kind="sales", event_on=D(2026, 11, 6))
    on_time = make(models.Handover, kind="sales", event_on=D(2026, 11, 6), handed_on=due)
    late = make(models.Handover, kind="sales", event_on=D(2026, 11, 6), handed_on=due + datetime.timedelta(days=1))
    # On the due day the handover dated the day after has not been made yet (flags count facts).
    assert {h.id for h in archives.late_handovers(due)} == set()
    assert {h.id for h in archives.late_handovers(due + datetime.timedelta(days=1))} == {late.id, pending.id}
    assert on_time.id not in {h.id for h in archives.late_handovers(D(2027, 1, 1))}


# ---------------------------------------------------------------- ARC-9
def penalties(user=None):
    query = models.Penalty.select().where(models.Penalty.rule == "ARC-9").order_by(models.Penalty.id)
    if user is not None:
        query = query.where(models.Penalty.user == user)
    return [(p.violation, p.amount, p.on) for p in query]


def handover(user, kind="project", event_on=D(2026, 10, 25), handed_on=None, file=None, number=None, **fields):
    """Enter a handover as if on the day of the event (the console knew of it from then)."""
    folder = file or make(models.ArchiveFile, number=number or f"H-{models.Handover.select().count()}", title="档案")
    fields.setdefault("created_at", datetime.datetime.combine(event_on, datetime.time(2)))
    return make(models.Handover, file=folder, handed_by=user, kind=kind, event_on=event_on, handed_on=handed_on,
                **fields)


@pytest.mark.rule("ARC-9", "boundary")
def test_arc9_late_handover_fined_from_the_day_after_due(app, today):
    manager = make_user("xiangmu", roles=("manager",))
    # Project ended Sunday 25 October: A to B by Wednesday 28, B to the archive by Friday 30 October.
    handover(manager, handed_on=D(2026, 10, 30), stage1_on=D(2026, 10, 28))
    assert penalties() == []
    handover(manager, handed_on=D(2026, 10, 31), stage1_on=D(2026, 10, 28))
    assert penalties() == [("late", Decimal("50.00"), D(2026, 10, 31))]
    assert models.Penalty.get().source.startswith("Handover#")


def test_arc9_missing_signatures_per_item(app, today):
    sales = make_user("xiaoshou", roles=("sales",))
    service = make_user("fuwu", roles=("service",))
    new_car = make(models.ArchiveFile, number="XC-1", title="新车档案", kind="new_vehicle")
    make(models.ArchiveItem, file=new_car, name="购车合同", customer_signed=False, staff_signed=True)
    make(models.ArchiveItem, file=new_car, name="交车确认单", customer_signed=False, staff_signed=True)
    make(models.ArchiveItem, file=new_car, name="发票", customer_signed=True, staff_signed=True)
    repair = make(models.ArchiveFile, number="SH-1", title="售后档案", kind="after_sales")
    make(models.ArchiveItem, file=repair, name="维修委托书", customer_signed=False, staff_signed=False)
    # Not handed over yet: signatures may still be collected.
    pending = handover(sales, kind="sales", event_on=D(2026, 11, 2), file=new_car)
    assert penalties() == []
    pending.handed_on = D(2026, 11, 3)
    pending.save()
    pending.save()
    assert penalties(sales) == [("customer_signature", Decimal("40.00"), D(2026, 11, 3))]
    handover(service, kind="after_sales", event_on=D(2026, 11, 2), handed_on=D(2026, 11, 3), file=repair)
    assert penalties(service) == [("customer_signature", Decimal("50.00"), D(2026, 11, 3)),
                                  ("staff_signature", Decimal("20.00"), D(2026, 11, 3))]
    assert models.RuleEvent.select().where(models.RuleEvent.rule == "ARC-9",
                                           models.RuleEvent.kind == "compute").count() == 2


def test_arc9_fine_doubles_from_the_salespersons_second_and_the_advisors_third_in_a_month(app, today):
    sales = make_user("xiaoshou", roles=("sales",))
    service = make_user("fuwu", roles=("service",))
    # Sales on Friday 23 October are due Wednesday 28 October; handed over on the 29th: one day late.
    # September's: sold Monday 21 September, due Thursday 24, handed over on the 25th (a holiday).
    handover(sales, kind="sales", event_on=D(2026, 9, 21), handed_on=D(2026, 9, 25))
    handover(sales, kind="sales", event_on=D(2026, 10, 23), handed_on=D(2026, 10, 29))
    handover(sales, kind="sales", event_on=D(2026, 10, 23), handed_on=D(2026, 10, 29))
    assert [p[1] for p in penalties(sales)] == [Decimal("50.00"), Decimal("50.00"), Decimal("100.00")]
    for _ in range(3):
        handover(service, kind="after_sales", event_on=D(2026, 10, 23), handed_on=D(2026, 10, 27))
    assert [p[1] for p in penalties(service)] == [Decimal("50.00"), Decimal("50.00"), Decimal("100.00")]
    assert "本月第 3 次违规，罚款翻倍" in models.Penalty.select().order_by(models.Penalty.id.desc()).get().note


def test_arc9_lost_or_damaged_file_fines_the_borrower_once(app, today):
    borrower = make_user("jieyueren", roles=("sales",))
    archivist = make_user("zhangli", roles=("archivist",))
    open_loan = loan(2, borrower=borrower)
    assert penalties() == []
    run(open_loan, "report_lost", archivist, lost_or_damaged=True, reason="归还时发现缺页")
    with pytest.raises(policies.PolicyViolation, match="须填写原因"):
        run(fresh(open_loan), "report_lost", archivist, lost_or_damaged=True)
    run(fresh(open_loan), "report_lost", archivist, lost_or_damaged=True, reason="再次登记")
    assert penalties(borrower) == [("lost", Decimal("20.00"), D(2026, 11, 2))]
    assert models.ArchiveFile.get_by_id(open_loan.file_id).status == "on_loan"


def test_arc9_uncorrected_handover_counts_again_each_working_day(app, today):
    manager = make_user("xiangmu", roles=("manager",))
    today(D(2026, 10, 30))
    open_handover = handover(manager, kind="sales", event_on=D(2026, 10, 27))  # due Friday 30 October
    assert open_handover.due_on == D(2026, 10, 30) and penalties() == []
    assert archives.recount_uncorrected(D(2026, 10, 30)) == []
    archives.recount_uncorrected(D(2026, 10, 31))
    assert penalties() == [("late", Decimal("50.00"), D(2026, 10, 31))]
    # Monday 2 November is the one working day to correct it.
    archives.recount_uncorrected(D(2026, 11, 2))
    assert len(penalties()) == 1
    assert len(archives.recount_uncorrected(D(2026, 11, 3))) == 1
    assert archives.recount_uncorrected(D(2026, 11, 3)) == []
    assert penalties()[-1] == ("late_repeat", Decimal("50.00"), D(2026, 11, 3))
    today(D(2026, 11, 4))
    open_handover = models.Handover.get_by_id(open_handover.id)
    open_handover.handed_on = D(2026, 11, 4)
    open_handover.save()
    assert [p[0] for p in penalties()] == ["late", "late_repeat", "late_repeat"]
    assert archives.recount_uncorrected(D(2026, 11, 20)) == []


def in_force(user=None):
    query = models.Penalty.in_force().where(models.Penalty.rule == "ARC-9").order_by(models.Penalty.id)
    if user is not None:
        query = query.where(models.Penalty.user == user)
    return [(p.violation, p.amount, p.on) for p in query]


def test_arc8_project_stages_are_late_each_on_its_own(app, today):
    a_role = make_user("xiangmu_a", roles=("manager",))
    b_role = make_user("xiangmu_b", roles=("manager",))
    # Project ended Sunday 25 October: A due Wednesday 28, B due two working days after A's due date.
    a_late = handover(a_role, receiver=b_role, stage1_on=D(2026, 10, 29), handed_on=D(2026, 11, 2))
    a_late = fresh(a_late)
    assert (a_late.stage1_due_on, a_late.due_on) == (D(2026, 10, 28), D(2026, 11, 2))
    assert in_force(a_role) == [("late", Decimal("50.00"), D(2026, 10, 29))]
    assert in_force(b_role) == []  # B took two working days from receipt: on time, whatever A did
    b_late = handover(a_role, receiver=b_role, stage1_on=D(2026, 10, 27), handed_on=D(2026, 10, 31))
    assert fresh(b_late).due_on == D(2026, 10, 30)
    assert in_force(b_role) == [("late", Decimal("50.00"), D(2026, 10, 31))]
    assert len(in_force(a_role)) == 1
    assert {h.id for h in archives.late_handovers(D(2026, 11, 2))} == {a_late.id, b_late.id}
    with pytest.raises(policies.PolicyViolation, match="移交档案室日期不能早于A角移交B角日期"):
        handover(a_role, stage1_on=D(2026, 10, 28), handed_on=D(2026, 10, 27))


def test_arc8_project_first_stage_flag_while_nothing_is_handed_over(app, today):
    row = handover(make_user("xiangmu_a", roles=("manager",)))
    assert row.id not in {h.id for h in archives.late_handovers(D(2026, 10, 28))}
    assert row.id in {h.id for h in archives.late_handovers(D(2026, 10, 29))}


def test_arc9_a_handover_entered_180_days_late_is_fined_once_not_for_every_day_before(app, today):
    sales = make_user("xiaoshou", roles=("sales",))
    entered = datetime.datetime(2026, 11, 2, 2)  # today, Beijing 10:00
    row = handover(sales, kind="sales", event_on=D(2026, 11, 2) - datetime.timedelta(days=180), created_at=entered)
    assert [p[0] for p in in_force()] == ["late"]
    assert archives.recount_uncorrected(D(2026, 11, 3)) == []  # the one working day to correct it
    assert len(archives.recount_uncorrected(D(2026, 11, 4))) == 1
    assert sum(p[1] for p in in_force()) == Decimal("100.00")
    assert fresh(row).id == row.id


@pytest.mark.rule("ARC-9", "sequence")
@pytest.mark.rule("ARC-8", "sequence")
def test_arc9_correcting_a_wrong_date_withdraws_the_fines_it_caused_and_keeps_them(app, today):
    sales = make_user("xiaoshou", roles=("sales",))
    # Sold Friday 23 October, due Wednesday 28; the handover date was typed as 29 instead of 28.
    row = handover(sales, kind="sales", event_on=D(2026, 10, 23), handed_on=D(2026, 10, 29))
    assert in_force(sales) == [("late", Decimal("50.00"), D(2026, 10, 29))]
    row = fresh(row)
    row.handed_on = D(2026, 10, 28)
    row.save()
    assert in_force(sales) == []
    kept = models.Penalty.get(models.Penalty.user == sales)
    assert kept.withdrawn_at is not None and "撤销" in kept.withdrawn_reason
    # A wrong event date corrected later moves the due date; the fine follows (new row, the old one withdrawn).
    row = fresh(row)
    row.event_on = D(2026, 10, 22)  # due Tuesday 27: handed over on the 28th is late again
    row.save()
    assert in_force(sales) == [("late", Decimal("50.00"), D(2026, 10, 28))]
    assert models.Penalty.select().where(models.Penalty.withdrawn_at.is_null(False)).count() == 1


def test_arc9_withdrawn_fines_do_not_count_towards_doubling(app, today):
    sales = make_user("xiaoshou", roles=("sales",))
    first = handover(sales, kind="sales", event_on=D(2026, 10, 23), handed_on=D(2026, 10, 29))
    first = fresh(first)
    first.handed_on = D(2026, 10, 28)
    first.save()
    handover(sales, kind="sales", event_on=D(2026, 10, 23), handed_on=D(2026, 10, 29))
    assert in_force(sales) == [("late", Decimal("50.00"), D(2026, 10, 29))]


def test_arc9_unconfirmed_contact_and_incomplete_after_sales_file(app, today):
    service = make_user("fuwu", roles=("service",))
    row = handover(service, kind="after_sales", event_on=D(2026, 11, 2), contact_confirmed=False, missing_items=3)
    assert in_force(service) == [("contact_unconfirmed", Decimal("50.00"), D(2026, 11, 2))]
    row = fresh(row)
    row.handed_on = D(2026, 11, 3)
    row.save()
    assert in_force(service) == [("contact_unconfirmed", Decimal("50.00"), D(2026, 11, 2)),
                                 ("incomplete", Decimal("60.00"), D(2026, 11, 3))]
    # Two of the three items turn out to have been there: the fine is recomputed for one item.
    row = fresh(row)
    row.missing_items = 1
    row.save()
    assert in_force(service)[-1][:2] == ("incomplete", Decimal("20.00"))
    # A sales file's missing items are not fined by 处罚5.
    sales = make_user("xiaoshou", roles=("sales",))
    handover(sales, kind="sales", event_on=D(2026, 11, 2), handed_on=D(2026, 11, 3), missing_items=2)
    assert in_force(sales) == []


@pytest.mark.rule("ARC-9", "sequence")
def test_arc9_a_signature_added_afterwards_withdraws_its_fine(app, today):
    sales = make_user("xiaoshou", roles=("sales",))
    new_car = make(models.ArchiveFile, number="XC-9", title="新车档案", kind="new_vehicle")
    contract = make(models.ArchiveItem, file=new_car, name="购车合同", customer_signed=False, staff_signed=True)
    make(models.ArchiveItem, file=new_car, name="交车确认单", customer_signed=False, staff_signed=True)
    handover(sales, kind="sales", event_on=D(2026, 11, 2), handed_on=D(2026, 11, 3), file=new_car)
    assert in_force(sales) == [("customer_signature", Decimal("40.00"), D(2026, 11, 3))]
    contract = fresh(contract)
    contract.customer_signed = True
    contract.save()
    assert [p[:2] for p in in_force(sales)] == [("customer_signature", Decimal("20.00"))]


def test_arc9_switched_off_fines_nothing(app, today):
    policies.RULES["ARC-9"].configure(enabled=False)
    handover(make_user("xiangmu", roles=("manager",)), handed_on=D(2026, 11, 2))
    assert penalties() == [] and archives.recount_uncorrected(D(2026, 12, 1)) == []


def refused_by(rule_id, action):
    """Return the refusal of ``rule_id`` among those ``action()`` raises."""
    with pytest.raises(policies.PolicyViolation) as exc:
        action()
    return next(v for v in exc.value.violations if v.rule_id == rule_id)


# ---------------------------------------------------------------- ARC-10
@pytest.mark.rule("ARC-10", "boundary")
def test_arc10_copying_needs_gm_once(app):
    gm = make_user("wangjianguo", roles=("gm",))
    # The GM's own request is approved at once; copying from it still needs the GM's sign-off (asked once).
    plain = make(models.BorrowRequest, borrower=gm)
    archives.lend(plain, 1, make_user("zhangli", roles=("archivist",)))
    assert approvals("ARC-10", plain) == [] and plain.loans.count() == 1
    plain = fresh(plain)
    plain.copy_requested = True
    plain.save()
    assert approvals("ARC-10", plain) == [("gm|info_supervisor", "pending")]
    copying = make(models.BorrowRequest, copy_requested=True)
    assert approvals("ARC-10", copying) == [("gm|info_supervisor", "pending")]


def test_arc10_the_info_supervisor_approves_copying_a_manager_may_not(people):
    supervisor = make_user("qianwenjing", roles=("info_supervisor",))
    manager = make_user("arc10_manager", roles=("manager",))
    request = borrow(people, borrower=people["gm"])
    request = fresh(request)
    request.copy_requested = True
    with acting_as(people["clerk"]):
        request.save()
    row = pending_rows(request, "ARC-10")[0]
    with pytest.raises(engine.ApprovalError, match="info_supervisor"):
        engine.decide(row.id, manager, True)
    engine.decide(row.id, supervisor, True)
    assert fresh(row).status == "approved" and fresh(request).copy_requested


@pytest.mark.rule("ARC-10", "sequence")
def test_arc10_copy_request_approved_with_the_loan_or_rejected(people):
    request = borrow(people, copy_requested=True)
    assert [r.rule for r in pending_rows(request)] == ["ARC-5", "ARC-10"]
    engine.decide(pending_rows(request, "ARC-10")[0].id, people["gm"], True)
    assert fresh(request).status == "pending" and not request.loans.exists()
    engine.decide(pending_rows(request, "ARC-5")[0].id, people["gm"], True)
    assert fresh(request).status == "approved" and not request.loans.exists()
    # A copy request made after the loan opened: rejecting it leaves the loan, clears the request.
    direct = borrow(people, borrower=people["gm"])
    archives.lend(fresh(direct), 1, people["archivist"])
    direct = fresh(direct)
    direct.copy_requested = True
    with acting_as(people["clerk"]):
        direct.save()
    engine.decide(pending_rows(direct, "ARC-10")[0].id, people["gm"], False, "不得复印")
    direct = fresh(direct)
    assert (direct.status, direct.copy_requested, direct.loans.count()) == ("approved", False, 1)


@pytest.mark.rule("ARC-10", "boundary")
def test_arc10_not_asked_without_a_copy_request(people):
    request = borrow(people, copy_requested=False)
    assert pending_rows(request, "ARC-10") == []


# ---------------------------------------------------------------- ARC-11
def expired(number, **fields):
    """Return a file whose retention period ended yesterday (ARC-11 may propose it)."""
    return make(models.ArchiveFile, number=number, title="到期档案", retain_until=D(2026, 11, 1), **fields)


def test_arc11_destruction_needs_gm_and_files_are_never_deleted(app, today):
    folder = expired("F-11")
    destruction = make(models.Destruction, file=folder)
    assert approvals("ARC-11", destruction) == [("gm", "pending")]
    spare = make(models.ArchiveFile, number="F-12", title="另一份档案")
    with pytest.raises(policies.PolicyViolation) as exc:
        spare.delete_instance()
    assert "档案不得删除，只能经审批销毁(ARC-11,000 篇二 第25条)" in str(exc.value)
    assert models.ArchiveFile.get_or_none(models.ArchiveFile.id == spare.id) is not None


def test_arc11_approval_destroys_the_file_rejection_keeps_it(people, today):
    kept = expired("F-KEEP")
    gone = expired("F-GONE")
    with acting_as(people["archivist"]):
        refused_one = make(models.Destruction, file=kept, reason="到期")
        approved_one = make(models.Destruction, file=gone, reason="到期")
    engine.decide(pending_rows(refused_one)[0].id, people["gm"], False, "仍需保存")
    assert fresh(refused_one).approved_by_id is None and fresh(refused_one).destroyed_on is None
    assert models.ArchiveFile.get_by_id(kept.id).status == "in_store"
    with pytest.raises(engine.ApprovalError):
        engine.decide(pending_rows(approved_one)[0].id, people["manager"], True)
    with workflow.clock(NOW):
        engine.decide(pending_rows(approved_one)[0].id, people["gm"], True)
    approved_one = fresh(approved_one)
    assert (approved_one.approved_by_id, approved_one.destroyed_on) == (people["gm"].id, D(2026, 11, 2))
    assert models.ArchiveFile.get_by_id(gone.id).status == "destroyed"
    with pytest.raises(policies.PolicyViolation):
        borrow(people, file=models.ArchiveFile.get_by_id(gone.id))


def test_arc11_locked_while_pending_and_resubmitted_after_withdrawal(people, today):
    with acting_as(people["archivist"]):
        destruction = make(models.Destruction, file=expired("F-W"), reason="到期")
    destruction.reason = "改原因"
    with pytest.raises(policies.PolicyViolation, match="该记录正在等待审批"):
        destruction.save()
    engine.withdraw(destruction, people["archivist"])
    destruction = fresh(destruction)
    destruction.reason = "保管期满，经鉴定无保存价值"
    with acting_as(people["archivist"]):
        destruction.save()
    assert approvals("ARC-11", destruction) == [("gm", "withdrawn"), ("gm", "pending")]


@pytest.mark.rule("ARC-11", "boundary")
def test_arc11_only_files_past_retention_and_not_on_loan_may_be_proposed(people, today):
    # Today is 2 November: a file kept until today is still within its period.
    running = make(models.ArchiveFile, number="F-RUN", title="档案", retain_until=D(2026, 11, 2))
    exc = refused_by("ARC-11", lambda: make(models.Destruction, file=running, reason="到期"))
    assert exc.field == "file" and "未满期不能销毁" in str(exc)
    unknown = make(models.ArchiveFile, number="F-UNK", title="档案")
    refused_by("ARC-11", lambda: make(models.Destruction, file=unknown, reason="到期"))
    lent = expired("F-LENT")
    loan(1, file=lent)
    exc = refused_by("ARC-11", lambda: make(models.Destruction, file=lent, reason="到期"))
    assert "已借出尚未归还" in str(exc)
    assert models.Destruction.select().count() == 0
    make(models.Destruction, file=expired("F-DUE"), reason="到期")


@pytest.mark.rule("ARC-11", "sequence")
def test_arc11_a_file_lent_after_the_proposal_cannot_be_approved_for_destruction(people, today):
    folder = expired("F-LATER")
    with acting_as(people["archivist"]):
        destruction = make(models.Destruction, file=folder, reason="到期")
    open_loan = loan(1, file=folder)
    with pytest.raises(policies.PolicyViolation, match="已借出尚未归还"):
        engine.decide(pending_rows(destruction)[0].id, people["gm"], True)
    assert fresh(destruction).approved_by_id is None and models.ArchiveFile.get_by_id(folder.id).status == "on_loan"
    give_back(fresh(open_loan))
    engine.decide(pending_rows(destruction)[0].id, people["gm"], True)
    assert models.ArchiveFile.get_by_id(folder.id).status == "destroyed"

def test_arc11_status_destroyed_only_through_the_approved_destruction(app, today):
    folder = expired("F-TYPED")
    folder.status = "destroyed"
    exc = refused_by("ARC-11", folder.save)
    assert exc.field == "status"
    assert models.ArchiveFile.get_by_id(folder.id).status == "in_store"


def test_arc11_approver_and_date_read_only_on_the_form(app):
    excluded = view_for(app, models.Destruction).form_excluded_columns
    assert "approved_by" in excluded and "destroyed_on" in excluded


def test_arc11_refused_by_the_screens_delete(app, admin_client):
    from flask import get_flashed_messages
    spare = make(models.ArchiveFile, number="F-13", title="档案")
    token = csrf_token(admin_client, "/admin/archivefile/")
    response = admin_client.post("/admin/archivefile/delete/", data={"id": spare.id, "csrf_token": token})
    assert response.status_code in (302, 403)
    # Whatever the role matrix allows, the screen's delete path itself refuses with the rule's message.
    with app.test_request_context():
        assert view_for(app, models.ArchiveFile).delete_model(spare) is False
        assert any("档案不得删除，只能经审批销毁(ARC-11" in m for m in get_flashed_messages())
    assert models.ArchiveFile.get_or_none(models.ArchiveFile.id == spare.id) is not None
    assert models.RuleEvent.select().where(models.RuleEvent.rule == "ARC-11",
                                           models.RuleEvent.kind == "block").count() >= 1


# ---------------------------------------------------------------- ARC-12
@pytest.mark.rule("ARC-12", "boundary")
def test_arc12_inspection_due_six_months_after_the_last(app):
    assert archives.inspection_due(D(2026, 11, 2)) == (True, None)
    make(models.Inspection, on=D(2026, 3, 1))
    make(models.Inspection, on=D(2026, 5, 31))
    assert archives.inspection_due(D(2026, 11, 29)) == (False, D(2026, 11, 30))
    assert archives.inspection_due(D(2026, 11, 30)) == (True, D(2026, 11, 30))
    policies.RULES["ARC-12"].configure(months=3)
    assert archives.inspection_due(D(2026, 8, 31)) == (True, D(2026, 8, 31))


@pytest.mark.rule("ARC-12", "sequence")
def test_arc12_shown_on_the_inspection_and_file_lists_future_inspections_count_for_nothing(app):
    folder = make(models.ArchiveFile, number="F-INS", title="档案")
    assert [r.id for r, _ in policies.flags_for(models.ArchiveFile, [folder.id])[folder.id]] == ["ARC-12"]
    first = make(models.Inspection, on=D(2026, 5, 1))
    assert {row.id for row in archives.inspection_overdue(D(2026, 10, 31))} == set()
    assert {row.id for row in archives.inspection_overdue(D(2026, 11, 1))} == {first.id}
    assert list(archives.files_never_inspected(D(2026, 11, 1))) == []
    # An inspection typed with a future date does not clear the reminder; corrected to today it does.
    ahead = make(models.Inspection, on=D(2026, 11, 20))
    assert {row.id for row in archives.inspection_overdue(D(2026, 11, 2))} == {first.id}
    ahead = fresh(ahead)
    ahead.on = D(2026, 11, 2)
    ahead.save()
    assert list(archives.inspection_overdue(D(2026, 11, 2))) == []
    # Deleting it brings the reminder back.
    ahead.delete_instance()
    assert {row.id for row in archives.inspection_overdue(D(2026, 11, 2))} == {first.id}


# ---------------------------------------------------------------- ARC-13
@pytest.mark.rule("ARC-13", "boundary")
def test_arc13_title_deed_in_the_safe_numbered_like_its_project(app):
    make(models.ArchiveFile, number="鸿借字第001号", title="项目档案", kind="project")
    make(models.ArchiveFile, number="鸿借字第001号-权证", title="不动产权证", kind="title_deed", location="safe")
    with pytest.raises(policies.PolicyViolation) as exc:
        make(models.ArchiveFile, number="鸿借字第001号-他项权证", title="他项权证", kind="title_deed",
             location="cabinet")
    assert exc.value.field == "location" and "权证须存入保险柜单独保存(ARC-13,001 第6篇 五)" in str(exc.value)
    for number in ("鸿借字第002号-权证", "鸿借字第001号1"):
        with pytest.raises(policies.PolicyViolation) as exc:
            make(models.ArchiveFile, number=number, title="权证", kind="title_deed", location="safe")
        assert exc.value.field == "number"
    assert models.ArchiveFile.select().count() == 2


def test_arc13_refused_in_the_generated_form_and_a_loan_still_updates_an_old_deed(app, admin_client):
    make(models.ArchiveFile, number="鸿借字第007号", title="项目档案", kind="project")
    deed = build(models.ArchiveFile, number="鸿借字第007号-权证", title="权证", kind="title_deed", location="cabinet")
    refused_in_form(admin_client, models.ArchiveFile, deed, "权证须存入保险柜单独保存(ARC-13,001 第6篇 五)")
    policies.RULES["ARC-13"].configure(enabled=False)
    old = make(models.ArchiveFile, number="旧权证", title="旧权证", kind="title_deed")
    policies.RULES["ARC-13"].configure(enabled=True)
    loan(1, file=old)
    assert models.ArchiveFile.get_by_id(old.id).status == "on_loan"
