"""Integrity (DOMAIN.md): workflows declared in the schema, owned fields, decided means locked, ledgers."""
import datetime
import decimal
import re

import pytest
from peewee import BooleanField
from peewee import DateField
from peewee import DateTimeField
from peewee import DecimalField
from peewee import ForeignKeyField
from peewee import IntegerField

import models
import policies
from conftest import csrf_token
from conftest import login
from conftest import make_user
from factories import endpoint
from factories import fresh
from factories import make
from factories import make_loan
from factories import refused
from factories import role_user
from factories import run
from policies import archives
from policies import workflow

WORKFLOW_MODELS = [m for m in models.MODELS if models.workflow_of(m) is not None]
LEDGER_MODELS = [m for m in models.MODELS if getattr(m._meta, "ledger", None)]
NOW = datetime.datetime(2026, 11, 2, 1, 0)


def other_value(record, name):
    """Return a value of field ``name`` different from ``record``'s (what a person might type instead)."""
    field = type(record)._meta.fields[name]
    value = getattr(record, name)
    if field.choices:
        return next(k for k, _ in field.choices if k != value)
    if isinstance(field, BooleanField):
        return not value
    if isinstance(field, ForeignKeyField):
        return make_user(f"other_{name}") if field.rel_model is models.User else make(field.rel_model)
    if isinstance(field, DateTimeField):
        return (value or NOW) + datetime.timedelta(days=1)
    if isinstance(field, DateField):
        return (value or NOW.date()) + datetime.timedelta(days=1)
    if isinstance(field, DecimalField):
        return decimal.Decimal(str(value or 0)) + 1
    if isinstance(field, IntegerField):
        return (value or 0) + 1
    return f"{value or ''}改"


def owned_cases():
    for model in WORKFLOW_MODELS:
        for name in models.workflow_of(model).owned(model):
            yield pytest.param(model, name, id=f"{model.__name__}.{name}")


# ---------------------------------------------------------------- the declarations
def test_workflows_are_declared_for_the_record_types_with_a_life_cycle():
    names = {m.__name__ for m in WORKFLOW_MODELS}
    assert {"Complaint", "BorrowRequest", "AccessRequest", "Loan", "ArchiveFile", "Solution",
            "Destruction"} <= names
    for model in WORKFLOW_MODELS:
        wf = models.workflow_of(model)
        for name in wf.owned(model):
            assert name in model._meta.fields, (model.__name__, name)
        for act in wf.actions.values():
            assert act.label and re.search(r"[\u4e00-\u9fff]", act.label)
            if wf.field in model._meta.fields:
                states = {k for k, _ in wf.states}
                assert set(act.source) - {"*"} <= states and (act.target is None or act.target in states)
            assert not act.rule or act.rule in policies.RULES, (model.__name__, act.rule)


# ---------------------------------------------------------------- owned fields: save() and the form
@pytest.mark.parametrize("model, name", list(owned_cases()))
def test_every_owned_field_is_refused_on_save(app, model, name):
    record = make(model)
    stored = models.comparable(fresh(record), name)
    setattr(record, name, other_value(record, name))
    with pytest.raises(policies.PolicyViolation) as exc:
        record.save()
    assert name in {v.field for v in exc.value.violations}
    assert any(re.search(r"[\u4e00-\u9fff]", v.message) for v in exc.value.violations)
    assert models.comparable(fresh(record), name) == stored


@pytest.mark.parametrize("model, name", list(owned_cases()))
def test_every_owned_field_is_read_only_on_the_generated_form(app, admin_client, model, name):
    record = make(model)
    base = endpoint(model)
    html = admin_client.get(f"{base}/edit/?id={record.id}").get_data(as_text=True)
    assert 'id="workflow-panel"' in html and "<!-- /workflow-panel -->" in html
    # The edit form itself (the workflow card's action inputs are the actions', not the form's).
    form = html.split('id="workflow-panel"')[0] + html.split("<!-- /workflow-panel -->")[-1]
    assert not re.search(rf'<(input|select|textarea)[^>]*\bname="{name}"', form), (model.__name__, name)
    # Posting the field anyway changes nothing.
    before = models.comparable(fresh(record), name)
    value = other_value(record, name)
    admin_client.post(f"{base}/edit/?id={record.id}", data={
        "csrf_token": csrf_token(admin_client, f"{base}/edit/?id={record.id}"), "version": str(fresh(record).version),
        name: str(getattr(value, "id", value))})
    assert models.comparable(fresh(record), name) == before


def test_the_details_page_shows_state_owned_fields_and_the_allowed_buttons(app, client, login_as):
    login_as("manager")
    item = make(models.Complaint, complainant="张先生", content="投诉内容", category="service")
    html = client.get(f"/admin/complaint/details/?id={item.id}").get_data(as_text=True)
    assert 'id="workflow-state">已受理<' in html
    assert 'id="action-investigate"' in html and 'id="action-reject"' in html
    assert 'id="action-close"' not in html
    assert 'onclick=' not in html and 'name="csrf_token"' in html


# ---------------------------------------------------------------- actions move only from their states
def action_cases():
    for model in WORKFLOW_MODELS:
        wf = models.workflow_of(model)
        if not wf.field:
            continue
        for name, act in wf.actions.items():
            yield pytest.param(model, name, id=f"{model.__name__}.{name}")


def put_in_state(record, wf, state):
    """Put ``record`` (in memory) into ``state``: the state field, or the stamps of the action reaching it."""
    model = type(record)
    if wf.field in model._meta.fields:
        setattr(record, wf.field, state)
        return
    # A computed state (Loan, Payment, Penalty, TenantRequest) follows the stamps of the action that reaches it.
    for act in wf.actions.values():
        for name in act.stamps:
            setattr(record, name, None)
    for act in wf.actions.values():
        if act.target == state:
            for name, kind in act.stamps.items():
                setattr(record, name, {"now": NOW, "today": NOW.date()}.get(kind) or role_user("admin"))
    assert wf.state_of(record) == state, (model.__name__, state)


def test_every_workflow_with_states_has_its_actions_tested():
    covered = {p.values[0].__name__ for p in action_cases()}
    with_actions = {m.__name__ for m in WORKFLOW_MODELS if models.workflow_of(m).field and models.workflow_of(m).actions}
    assert covered == with_actions
    assert {"Loan", "Payment", "Penalty", "TenantRequest"} <= covered  # computed states too


@pytest.mark.parametrize("model, name", list(action_cases()))
def test_each_action_moves_only_from_its_allowed_states(app, model, name):
    wf = models.workflow_of(model)
    act = wf.actions[name]
    record = make(model)
    user = role_user(act.roles[0] if act.roles else "admin")
    for state, _label in wf.states:
        put_in_state(record, wf, state)
        errors = workflow.refusal(record, act, user, check_inputs=False)
        state_refused = any("不能执行" in text for _rule, text, _field in errors)
        assert state_refused == (not act.starts_from(state)), (model.__name__, name, state, errors)


def test_roles_and_reasons_are_checked_before_anything_is_written(app):
    item = make(models.Complaint, complainant="张先生", content="投诉内容", category="service")
    exc = refused("CMP-10", lambda: workflow.run_action(item, "reject", role_user("service"),
                                                        rejection_reason="不成立"))
    assert "须由具有“部门经理、总经理”角色的人员执行" in exc.message
    assert fresh(item).status == "received"
    with pytest.raises(policies.PolicyViolation, match="没有“fly”这一流程操作"):
        workflow.run_action(item, "fly", role_user("admin"))


def test_allowed_actions_follow_state_and_roles(app):
    item = make(models.Complaint, complainant="张先生", content="投诉内容", category="service")
    # CMP-10: whether a complaint is accepted is the department manager's ruling, not the clerk's.
    assert [n for n, _ in workflow.allowed_actions(item, role_user("service"))] == []
    assert {n for n, _ in workflow.allowed_actions(item, role_user("manager"))} >= {"investigate", "reject", "correct"}
    run(item, "investigate")
    assert [n for n, _ in workflow.allowed_actions(fresh(item), role_user("service"))] == []
    make(models.Investigation, complaint=item)
    assert [n for n, _ in workflow.allowed_actions(fresh(item), role_user("service"))] == ["propose"]


# ---------------------------------------------------------------- Loan: lending and returning only
def test_a_loan_exists_only_by_lending_an_approved_request(app, admin_client):
    folder = make(models.ArchiveFile, title="绝密档案", confidentiality="top_secret")
    archivist = make_user("zhangli", roles=("archivist",))
    # Issue 8: an archivist opened a Loan of a top-secret file on 外借登记 → 创建 with no request.
    bare = models.Loan(file=folder, borrower=archivist, lent_at=NOW, due_at=NOW + datetime.timedelta(days=1))
    exc = refused("ARC-6", bare.save)
    assert "只能通过“借出”操作产生" in exc.message
    assert admin_client.get("/admin/loan/new/").status_code == 403
    assert models.Loan.select().count() == 0
    request = make(models.BorrowRequest, file=folder, borrower=make_user("liuyang", roles=("sales",)))
    with pytest.raises(policies.PolicyViolation, match="当前状态为「待审批」"):
        archives.lend(request, 1, archivist)
    assert fresh(folder).status == "in_store"


def test_lending_copies_and_twice_refused(app):
    archivist = role_user("archivist")
    request = make(models.BorrowRequest, borrower=role_user("gm"), copies=2)
    with pytest.raises(policies.PolicyViolation, match="借出份数须在 1 至申请的 2 份之间"):
        archives.lend(request, 3, archivist)
    with workflow.clock(NOW):
        loan = archives.lend(request, 2, archivist)
    assert (loan.copies, loan.lent_at, loan.due_at) == (2, NOW, NOW + datetime.timedelta(days=request.days))
    with pytest.raises(policies.PolicyViolation, match="不能重复借出"):
        archives.lend(fresh(request), 1, archivist)
    # A lent request's file and days are the ledger's: no longer changed.
    request = fresh(request)
    request.days = request.days + 1
    refused("ARC-1", request.save)


def test_returning_is_the_only_way_a_loan_closes_and_stamps_time_and_checker(app):
    loan = make_loan(lent_at=NOW)
    folder = loan.file
    # Issue 8: the file's status typed from 借出 to 在库 on its edit form while the loan was still open.
    folder.status = "in_store"
    refused("ARC-11", folder.save)
    loan.returned_at = NOW + datetime.timedelta(days=3)
    refused("ARC-6", loan.save)
    archivist = role_user("archivist")
    with workflow.clock(NOW + datetime.timedelta(hours=5)):
        archives.return_loan(fresh(loan), True, archivist, "完整无缺")
    closed = fresh(loan)
    assert closed.returned_at == NOW + datetime.timedelta(hours=5)
    assert (closed.checked_by_id, closed.returned_complete, closed.return_note) == (archivist.id, True, "完整无缺")
    assert fresh(folder).status == "in_store"
    with pytest.raises(policies.PolicyViolation, match="当前状态为「已归还注销」"):
        archives.return_loan(closed, True, archivist)


def test_a_file_is_destroyed_only_through_its_approved_destruction(app):
    folder = make(models.ArchiveFile, title="到期档案", retain_until=datetime.date(2020, 1, 1))
    folder.status = "destroyed"
    refused("ARC-11", folder.save)
    destruction = make(models.Destruction, file=folder, reason="保管期满")
    destruction.approved_by = role_user("gm")
    refused("ARC-11", destruction.save)
    run(fresh(destruction), "approve", role_user("gm"))
    assert fresh(folder).status == "destroyed"
    assert fresh(destruction).approved_by_id == role_user("gm").id


# ---------------------------------------------------------------- Complaint: stamped times, the correction
def test_closed_at_is_stamped_by_closing_and_corrected_only_by_a_supervisor(app):
    received = datetime.datetime(2026, 3, 1, 1, 0)
    item = make(models.Complaint, complainant="张先生", content="投诉内容", category="service", received_at=received)
    run(item, "investigate")
    make(models.Investigation, complaint=item)
    run(fresh(item), "propose")
    solution = make(models.Solution, complaint=item, proposal="换货")
    run(solution, "approve", role_user("gm"))
    run(fresh(item), "reply")
    run(fresh(item), "return_visit")
    closed_on = received + datetime.timedelta(days=25)
    with workflow.clock(closed_on):
        run(fresh(item), "close", satisfaction="satisfied")
    item = fresh(item)
    assert item.closed_at == closed_on
    # Issue 8: 结案时间 typed as two days after receipt, so the report counted it on time.
    item.closed_at = received + datetime.timedelta(days=2)
    refused("CMP-10", item.save)
    assert policies.complaints.monthly_report(2026, 3)["overdue"] == 1
    typed = received + datetime.timedelta(days=2)
    with pytest.raises(policies.PolicyViolation, match="须由具有“部门经理、系统管理员”角色"):
        run(fresh(item), "correct", role_user("service"), field="closed_at", value=typed, reason="录入错误")
    with pytest.raises(policies.PolicyViolation, match="须填写原因"):
        run(fresh(item), "correct", role_user("manager"), field="closed_at", value=typed)
    run(fresh(item), "correct", role_user("manager"), field="closed_at", value=typed, reason="纸质记录为3月3日结案")
    assert fresh(item).closed_at == typed
    trail = models.AuditLog.select().where(models.AuditLog.model == "Complaint",
                                           models.AuditLog.record_id == str(item.id)).order_by(models.AuditLog.id.desc())
    assert any("纸质记录为3月3日结案" in row.changes and "更正结案时间" in row.changes for row in trail)


def test_workflow_button_runs_the_action_with_csrf(app, client, login_as):
    login_as("manager")  # CMP-10: the manager rules that the complaint is accepted
    item = make(models.Complaint, complainant="张先生", content="投诉内容", category="service")
    url = f"/admin/complaint/details/?id={item.id}"
    assert client.post("/admin/complaint/workflow/", data={"id": item.id, "action": "investigate"}).status_code == 400
    assert fresh(item).status == "received"
    response = client.post("/admin/complaint/workflow/", data={
        "csrf_token": csrf_token(client, url), "id": item.id, "action": "investigate", "next": url},
        follow_redirects=True)
    assert "已完成“受理并开始调查”" in response.get_data(as_text=True)
    assert fresh(item).status == "investigating"


# ---------------------------------------------------------------- ledgers are never deleted
def ledger_record(model):
    if model is models.AuditLog:
        return policies.audit.log("login", user=role_user("admin"))
    if model is models.RuleEvent:
        return models.RuleEvent.create(rule="ARC-1", kind="block", note="测试")
    if model is models.Approval:
        destruction = make(models.Destruction, file=make(models.ArchiveFile, title="x",
                                                         retain_until=datetime.date(2020, 1, 1)), reason="到期")
        return models.Approval.get(models.Approval.target_id == destruction.id)
    return make(model)


@pytest.mark.parametrize("model", LEDGER_MODELS, ids=lambda m: m.__name__)
def test_ledger_lines_are_never_deleted_by_delete_instance(app, model):
    record = ledger_record(model)
    with pytest.raises(policies.PolicyViolation) as exc:
        record.delete_instance()
    assert "台账记录,不能删除" in exc.value.message
    assert model.get_or_none(model.id == record.id) is not None


@pytest.mark.parametrize("model", LEDGER_MODELS, ids=lambda m: m.__name__)
def test_ledger_lines_are_never_deleted_on_the_screen_or_by_the_mass_action(app, client, model):
    user = make_user("ledger_admin", roles=("admin",), clearance="top_secret")
    login(client, user.username)
    record = ledger_record(model)
    base = endpoint(model)
    token = csrf_token(client, f"{base}/")
    one = client.post(f"{base}/delete/", data={"csrf_token": token, "id": record.id}, follow_redirects=True)
    mass = client.post(f"{base}/action/", data={"csrf_token": token, "action": "delete", "rowid": record.id},
                       follow_redirects=True)
    assert model.get_or_none(model.id == record.id) is not None
    for response in (one, mass):
        html = response.get_data(as_text=True)
        assert response.status_code in (200, 403)
        if response.status_code == 200:
            assert "台账记录,不能删除" in html


def test_closing_a_tenant_request_stamps_the_time_once(app):
    # Received before it is closed (Meta.domain: the closing time is not before the request's time).
    request = make(models.TenantRequest, content="电梯故障", at=NOW - datetime.timedelta(hours=2))
    with workflow.clock(NOW):
        run(request, "close", role_user("service"))
    assert fresh(request).closed_at == NOW
    with pytest.raises(policies.PolicyViolation, match="当前状态为「已关闭」"):
        run(fresh(request), "close", role_user("service"))
    typed = fresh(request)
    typed.closed_at = NOW + datetime.timedelta(days=3)
    with pytest.raises(policies.PolicyViolation, match="更正时间"):
        typed.save()


def test_property_state_actions_move_only_from_their_states(app):
    loan = make_loan(lent_at=NOW)
    act = models.workflow_of(models.Loan).actions["return"]
    assert workflow.refusal(loan, act, role_user("archivist"), check_inputs=False) == []
    loan.returned_at = NOW
    assert any("不能执行" in text for _r, text, _f in workflow.refusal(loan, act, role_user("archivist")))


def test_a_lent_request_cannot_be_deleted_from_under_its_loan(app):
    loan = make_loan()
    with pytest.raises(policies.PolicyViolation, match="外借登记引用它"):
        loan.request.delete_instance()
    assert fresh(loan).request_id is not None


# ---------------------------------------------------------------- Penalty: a hand-entered fine is withdrawn, never deleted
def hand_entered_fine(**fields):
    fields.setdefault("user", make_user("fakuan_ren", roles=("sales",)))
    return make(models.Penalty, rule="ARC-9", amount=decimal.Decimal("50"), on=NOW.date(), note="档案迟交(手工登记)",
                **fields)


def test_a_hand_entered_fine_is_withdrawn_by_a_supervisor_with_a_reason(app):
    fine = hand_entered_fine()
    exc = refused("ARC-9", fine.delete_instance)
    assert "台账记录,不能删除" in exc.message and "撤销罚款" in exc.message
    # Only a supervisor (department manager or admin) withdraws a fine.
    with pytest.raises(policies.PolicyViolation, match="「撤销罚款」须由具有“部门经理、系统管理员”角色的人员执行"):
        run(fine, "revoke", role_user("archivist"), reason="录入错误")
    # The reason is required, at its field.
    with pytest.raises(policies.PolicyViolation) as exc:
        run(fine, "revoke", role_user("manager"), reason="  ")
    assert [(v.field, v.message) for v in exc.value.violations] == [("reason", "「撤销罚款」须填写原因(ARC-9,000 篇八 处罚 1–7)")]
    # Neither the stamp nor the reason is typed in: a bare save() is refused.
    typed = fresh(fine)
    typed.withdrawn_at = NOW
    typed.withdrawn_reason = "自己撤销"
    exc = refused("ARC-9", typed.save)
    assert {v.field for v in exc.violations} == {"withdrawn_at", "withdrawn_reason"}
    assert fresh(fine).withdrawn_at is None and models.Penalty.in_force().count() == 1
    with workflow.clock(NOW):
        run(fresh(fine), "revoke", role_user("manager"), reason="同一次迟交重复登记")
    withdrawn = fresh(fine)
    assert (withdrawn.withdrawn_at, withdrawn.withdrawn_reason) == (NOW, "同一次迟交重复登记")
    assert withdrawn.ledger_state == "withdrawn" and models.Penalty.in_force().count() == 0
    trail = models.AuditLog.select().where(models.AuditLog.model == "Penalty", models.AuditLog.record_id == str(fine.id))
    assert any("撤销罚款" in row.changes and "同一次迟交重复登记" in row.changes for row in trail)
    # Withdrawn once; still never deleted.
    with pytest.raises(policies.PolicyViolation, match="当前状态为「已撤销」"):
        run(withdrawn, "revoke", role_user("manager"), reason="再次")
    refused("ARC-9", withdrawn.delete_instance)


def test_a_computed_arc9_fine_is_withdrawn_by_correcting_its_facts_not_by_hand(app):
    fine = hand_entered_fine(source="Handover#1", violation="late")
    exc = refused("ARC-9", lambda: run(fine, "revoke", role_user("manager"), reason="不想罚"))
    assert "自动计算" in exc.message
    assert "revoke" not in [n for n, _ in workflow.allowed_actions(fine, role_user("manager"))]
    assert fresh(fine).withdrawn_at is None


def test_the_withdraw_fine_button_is_shown_to_a_supervisor_only_and_asks_for_the_reason(app, client, login_as):
    fine = hand_entered_fine()
    url = f"/admin/penalty/details/?id={fine.id}"
    login_as("archivist")
    assert client.get(url).status_code == 200
    assert 'id="action-revoke"' not in client.get(url).get_data(as_text=True)
    token = csrf_token(client, url)
    response = client.post("/admin/penalty/workflow/", data={
        "csrf_token": token, "id": fine.id, "action": "revoke", "reason": "录入错误", "next": url}, follow_redirects=True)
    assert "须由具有“部门经理、系统管理员”角色的人员执行" in response.get_data(as_text=True)
    assert fresh(fine).withdrawn_at is None
    client = app.test_client()
    login(client, make_user("bumen_jingli", roles=("manager",)).username)
    html = client.get(url).get_data(as_text=True)
    assert 'id="action-revoke"' in html and 'id="revoke-reason"' in html and "onclick=" not in html
    token = csrf_token(client, url)
    # Empty reason: nothing written, the Chinese message at the reason input.
    response = client.post("/admin/penalty/workflow/", data={
        "csrf_token": token, "id": fine.id, "action": "revoke", "reason": "", "next": url}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert re.search(r'id="revoke-reason" class="[^"]*is-invalid', html)
    assert 'id="revoke-reason-error">「撤销罚款」须填写原因' in html
    assert fresh(fine).withdrawn_at is None
    # Shown once: the next visit is clean.
    assert 'id="revoke-reason-error"' not in client.get(url).get_data(as_text=True)
    response = client.post("/admin/penalty/workflow/", data={
        "csrf_token": token, "id": fine.id, "action": "revoke", "reason": "重复登记", "next": url}, follow_redirects=True)
    assert "已完成“撤销罚款”" in response.get_data(as_text=True)
    assert fresh(fine).withdrawn_reason == "重复登记" and fresh(fine).withdrawn_at is not None
    # The form never offers the stamp or the reason.
    edit = client.get(f"/admin/penalty/edit/?id={fine.id}").get_data(as_text=True).split("<!-- /workflow-panel -->")[-1]
    assert 'name="withdrawn_reason"' not in edit and 'name="withdrawn_at"' not in edit


# ---------------------------------------------------------------- CUS-2: the confirming director is the approval's
def test_cus2_approved_by_is_set_only_by_the_confirmation(app, admin_client):
    dept = models.Department.create(name="销售二部")
    manager = make_user("xiaoshou_zongjian", roles=("manager",), department=dept)
    customer = make(models.Customer, name="待确认客户", approved_by=None, department=dept)
    assert policies.approvals.is_pending(customer)
    # Created already confirmed by a bare save(): refused, nothing written.
    bare = models.Customer(name="自称已确认", code="KH-BARE", approved_by=manager)
    exc = refused("CUS-2", bare.save)
    assert "approved_by" in {v.field for v in exc.violations}
    assert not models.Customer.select().where(models.Customer.name == "自称已确认").exists()
    run(customer, "approve", manager)
    confirmed = fresh(customer)
    assert confirmed.approved_by_id == manager.id
    # Changed afterwards by a bare save() or on the form: refused / ignored.
    confirmed.approved_by = make_user("other_director", roles=("manager",))
    refused("CUS-2", confirmed.save)
    confirmed.approved_by = None
    refused("CUS-2", confirmed.save)
    url = f"/admin/customer/edit/?id={customer.id}"
    html = admin_client.get(url).get_data(as_text=True).split("<!-- /workflow-panel -->")[-1]
    assert 'name="approved_by"' not in html
    admin_client.post(url, data={"csrf_token": csrf_token(admin_client, url), "version": str(fresh(customer).version),
                                 "name": "待确认客户", "approved_by": str(role_user("admin").id)})
    assert fresh(customer).approved_by_id == manager.id


# ---------------------------------------------------------------- ledger lines are undone by an action with a reason
def shipped_on_credit(dept):
    return make(models.Shipment, prepaid=True, customer=make(models.Customer, department=dept))


# (model, builder, undo action, a role that may run it, a role that may see the line but not undo it)
UNDO = [
    pytest.param(models.Payment, lambda dept: make(models.Payment, customer=make(models.Customer, department=dept)), "reverse", "manager", "gm", id="Payment 冲销"),
    pytest.param(models.Shipment, shipped_on_credit, "cancel", "manager", "gm", id="Shipment 取消(冲销)"),
    pytest.param(models.Penalty, lambda dept: hand_entered_fine(), "revoke", "manager", "archivist", id="Penalty 撤销罚款"),
]


def test_every_ledger_that_a_person_undoes_has_an_undo_action_with_a_reason():
    undone = {p.values[0] for p in UNDO}
    for model in LEDGER_MODELS:
        wf = models.workflow_of(model)
        with_reason = [act for act in (wf.actions.values() if wf else ()) if act.reason and act.roles]
        # The system's own ledgers (audit log, rule events, approvals: withdrawn by the requester) and loans
        # (closed by returning them, ARC-6) are not undone by a supervisor's reversal.
        if model in (models.AuditLog, models.RuleEvent, models.Approval, models.Loan):
            continue
        assert model in undone and with_reason, model.__name__


@pytest.mark.parametrize("model, build_line, name, allowed, other", UNDO)
def test_the_undo_button_is_offered_to_its_role_only_and_refused_for_others(app, model, build_line, name, allowed,
                                                                             other):
    dept = models.Department.create(name="销售三部")
    line = build_line(dept)
    base = endpoint(model)
    url = f"{base}/details/?id={line.id}"
    viewer = app.test_client()
    login(viewer, make_user(f"viewer_{name}", roles=(other,)).username)
    assert viewer.get(url).status_code == 200
    assert f'id="action-{name}"' not in viewer.get(url).get_data(as_text=True)
    response = viewer.post(f"{base}/workflow/", data={"csrf_token": csrf_token(viewer, url), "id": line.id,
                                                       "action": name, "reason": "录入错误", "next": url},
                           follow_redirects=True)
    assert response.status_code in (200, 403)
    state = models.workflow_of(model).state_of(fresh(line))
    assert state == models.workflow_of(model).state_of(line)
    supervisor = app.test_client()
    login(supervisor, make_user(f"supervisor_{name}", roles=(allowed,), department=dept).username)
    html = supervisor.get(url).get_data(as_text=True)
    assert f'id="action-{name}"' in html and f'id="{name}-reason"' in html
    response = supervisor.post(f"{base}/workflow/", data={"csrf_token": csrf_token(supervisor, url), "id": line.id,
                                                           "action": name, "reason": "录入错误,冲销", "next": url},
                               follow_redirects=True)
    assert "已完成" in response.get_data(as_text=True)
    assert models.workflow_of(model).state_of(fresh(line)) == models.workflow_of(model).actions[name].target


def test_an_approval_is_decided_only_by_the_engine_never_by_a_bare_save(app):
    destruction = make(models.Destruction, reason="到期")
    row = models.Approval.get(models.Approval.target_model == "Destruction", models.Approval.target_id == destruction.id)
    when = datetime.datetime(2026, 3, 2, 9, 0)
    for name, value in (("status", "approved"), ("decided_by", role_user("gm")), ("decided_at", when),
                        ("comment", "同意"), ("judged", "{}")):
        typed = models.Approval.get_by_id(row.id)
        setattr(typed, name, value)
        with pytest.raises(policies.PolicyViolation, match="只能由审批引擎写入") as exc:
            typed.save()
        assert exc.value.field == name
    stored = models.Approval.get_by_id(row.id)
    assert (stored.status, stored.decided_by_id, stored.decided_at, stored.comment) == ("pending", None, None, "")
    assert fresh(destruction).approved_by_id is None
    stored.save()  # saving it unchanged is not a decision
    run(fresh(destruction), "approve", role_user("gm"))
    decided = models.Approval.get_by_id(row.id)
    assert decided.status == "approved" and decided.decided_at is not None
    decided.decided_at = when  # nor can a bare save re-date a decision once made
    with pytest.raises(policies.PolicyViolation, match="只能由审批引擎写入"):
        decided.save()


def test_issue8_a_lent_files_status_typed_on_its_edit_form_changes_nothing(app, admin_client):
    loan = make_loan(lent_at=NOW)
    folder = fresh(loan.file)
    assert folder.status == "on_loan"
    url = f"/admin/archivefile/edit/?id={folder.id}"
    form = admin_client.get(url).get_data(as_text=True).split("<!-- /workflow-panel -->")[-1]
    assert not re.search(r'<(input|select)[^>]*\bname="status"', form)
    admin_client.post(url, data={"csrf_token": csrf_token(admin_client, url), "version": str(folder.version),
                                 "number": folder.number, "title": folder.title, "kind": folder.kind,
                                 "confidentiality": folder.confidentiality, "location": folder.location,
                                 "pages": str(folder.pages), "status": "in_store"})
    assert fresh(folder).status == "on_loan" and fresh(loan).returned_at is None
