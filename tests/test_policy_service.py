"""Service-order rules: what an order records, manager approval before dispatch, replacements."""
import datetime

import pytest

import models
import policies
from conftest import make_user
from conftest import submit
from factories import build
from factories import form_data
from factories import make
from factories import view_for
from factories import acting_as
from factories import run


def srv1_approvals(order=None):
    query = models.Approval.select().where(models.Approval.rule == "SRV-1")
    if order is not None:
        query = query.where(models.Approval.target_id == order.id)
    return query


@pytest.fixture
def desk(app):
    """The customer-service desk: a recorder, their department's manager and another department's manager."""
    service = make(models.Department, name="客服部")
    sales = make(models.Department, name="销售部")
    recorder = make_user("chenjing", roles=("service",), department=service)
    manager = make_user("hewei", roles=("manager",), department=service)
    other = make_user("liming", roles=("manager",), department=sales)
    return recorder, manager, other


def record_order(recorder, **fields):
    with acting_as(recorder):
        return make(models.ServiceOrder, **fields)


def decide(order, manager, approve=True, comment=""):
    approval = srv1_approvals(order).where(models.Approval.status == "pending").get()
    return policies.approvals.decide(approval.id, manager, approve, comment)


def status_of(order):
    return models.ServiceOrder.get_by_id(order.id).status


@pytest.mark.parametrize("name, value, message", [
    ("address", "", "请填写具体地址"),
    ("contact_phone", " ", "请填写联系方式"),
    ("product_model", "", "请填写商品型号"),
    ("purchase_date", None, "请填写购买日期"),
    ("fault", "", "请填写故障现象"),
])
@pytest.mark.rule("SRV-1", "boundary")
def test_srv1_each_missing_field_refused_via_save(app, name, value, message):
    make(models.ServiceOrder)
    with pytest.raises(policies.PolicyViolation) as exc:
        build(models.ServiceOrder, **{name: value}).save()
    assert exc.value.rule_id == "SRV-1" and exc.value.field == name
    assert f"{message}(SRV-1,000 篇七 2–3)" in str(exc.value)
    assert models.ServiceOrder.select().count() == 1


def test_srv1_every_missing_field_reported_at_once(app):
    order = build(models.ServiceOrder, address="", contact_phone="", product_model="", purchase_date=None, fault="")
    with pytest.raises(policies.PolicyViolation) as exc:
        order.save()
    assert [v.field for v in exc.value.violations] == [
        "address", "contact_phone", "product_model", "purchase_date", "fault"]


def test_srv1_missing_fields_refused_in_the_generated_form(app, admin_client):
    data = form_data(view_for(app, models.ServiceOrder), build(models.ServiceOrder, address="", fault=""))
    response = submit(admin_client, "/admin/serviceorder/new/", data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "请填写具体地址(SRV-1,000 篇七 2–3)" in html
    assert "请填写故障现象(SRV-1,000 篇七 2–3)" in html
    assert 'id="address"' in html and "is-invalid" in html
    assert models.ServiceOrder.select().count() == 0
    assert srv1_approvals().count() == 0


def test_srv1_new_order_asks_the_recorders_department_manager(desk):
    recorder, manager, other = desk
    order = record_order(recorder)
    approval = srv1_approvals().get()
    assert (approval.target_model, approval.target_id, approval.required_role, approval.status, approval.step) == \
        ("ServiceOrder", order.id, "manager", "pending", 1)
    assert approval.department_id == recorder.department_id and approval.requested_by_id == recorder.id
    with pytest.raises(policies.approvals.ApprovalError) as exc:
        decide(order, other)
    assert "所属部门的部门经理" in str(exc.value)
    assert status_of(order) == "pending"


def test_srv1_the_departments_only_manager_recording_an_order_escalates_to_the_gm(desk):
    recorder, manager, other = desk
    gm = make_user("zongjingli", roles=("gm",))
    order = record_order(manager)
    approval = srv1_approvals(order).get()
    assert (approval.required_role, approval.department_id) == ("gm", None)
    with pytest.raises(policies.approvals.ApprovalError):
        decide(order, manager)
    decide(order, gm)
    assert status_of(order) == "approved"
    # With a second manager in the department, that one decides the first manager's order.
    deputy = make_user("fengli", roles=("manager",), department=manager.department_id)
    second = record_order(manager)
    approval = srv1_approvals(second).get()
    assert (approval.required_role, approval.department_id) == ("manager", manager.department_id)
    decide(second, deputy)
    assert status_of(second) == "approved"


def test_srv1_an_order_cannot_be_created_cancelled_and_asks_nobody(app):
    with pytest.raises(policies.PolicyViolation, match="「状态」"):
        make(models.ServiceOrder, status="cancelled")
    assert srv1_approvals().count() == 0


def test_srv1_approval_lets_the_order_be_dispatched(desk):
    recorder, manager, other = desk
    order = record_order(recorder)
    order.status = "dispatched"
    with pytest.raises(policies.PolicyViolation) as exc:
        order.save()
    assert "该记录正在等待审批" in str(exc.value)
    assert ("SRV-1", "status") in [(v.rule_id, v.field) for v in exc.value.violations]
    assert "服务单尚待部门经理审批，不能派工(SRV-1,000 篇七 2–3)" in str(exc.value)
    assert status_of(order) == "pending"
    decide(order, manager, True, "同意，安排郑强上门。")
    assert status_of(order) == "approved"
    run(models.ServiceOrder.get_by_id(order.id), "dispatch", recorder)
    assert status_of(order) == "dispatched" and srv1_approvals().count() == 1


def test_srv1_rejection_cancels_the_order(desk):
    recorder, manager, other = desk
    order = record_order(recorder)
    decide(order, manager, False, "客户已自行送修，无需上门。")
    assert status_of(order) == "cancelled"
    order = models.ServiceOrder.get_by_id(order.id)
    order.status = "completed"
    with pytest.raises(policies.PolicyViolation) as exc:
        order.save()
    assert "服务单未获部门经理批准，不能派工" in str(exc.value)


@pytest.mark.rule("SRV-1", "sequence")
def test_srv1_reopening_a_rejected_order_asks_again(desk):
    recorder, manager, other = desk
    order = record_order(recorder)
    decide(order, manager, False, "故障描述不清，请补充。")
    order = models.ServiceOrder.get_by_id(order.id)
    order.fault = "定位数据每隔十分钟中断一次。"
    with acting_as(recorder):
        order.save()
        run(models.ServiceOrder.get_by_id(order.id), "resubmit", recorder)
    assert [a.status for a in srv1_approvals(order).order_by(models.Approval.id)] == ["rejected", "pending"]


@pytest.mark.rule("SRV-1", "sequence")
def test_srv1_withdrawn_order_is_editable_and_saving_resubmits_it(desk):
    recorder, manager, other = desk
    order = record_order(recorder)
    with pytest.raises(policies.PolicyViolation):
        models.ServiceOrder.get_by_id(order.id).delete_instance()
    policies.approvals.withdraw(order, recorder)
    assert status_of(order) == "pending" and not policies.approvals.is_pending(order)
    order = models.ServiceOrder.get_by_id(order.id)
    order.status = "approved"
    with pytest.raises(policies.PolicyViolation) as exc:
        order.save()
    assert "服务单未获部门经理批准" in str(exc.value)
    order = models.ServiceOrder.get_by_id(order.id)
    order.address = "浙江省杭州市西湖区文三路 90 号"
    with acting_as(recorder):
        order.save()
    assert [a.status for a in srv1_approvals(order).order_by(models.Approval.id)] == ["withdrawn", "pending"]
    decide(order, manager)
    assert status_of(order) == "approved"


def test_srv1_new_order_cannot_start_dispatched(app):
    with pytest.raises(policies.PolicyViolation) as exc:
        build(models.ServiceOrder, status="dispatched").save()
    assert "新建服务单须经部门经理审批后方可派工" in str(exc.value)
    assert models.ServiceOrder.select().count() == 0 and srv1_approvals().count() == 0


def test_srv1_dispatch_refused_in_the_generated_edit_form(app, admin_client):
    order = make(models.ServiceOrder)
    data = form_data(view_for(app, models.ServiceOrder), order)
    data["status"] = "dispatched"
    submit(admin_client, f"/admin/serviceorder/edit/?id={order.id}", data)
    assert models.ServiceOrder.get_by_id(order.id).status == "pending"
    # The dispatch button is offered only once the manager approved it (SRV-1).
    html = admin_client.get(f"/admin/serviceorder/details/?id={order.id}").get_data(as_text=True)
    assert 'id="action-dispatch"' not in html


@pytest.mark.parametrize("fields, missing", [
    (dict(old_terminal_no="ZD1000000001"), "new_terminal_no"),
    (dict(new_terminal_no="ZD1000000002"), "old_terminal_no"),
    (dict(old_sim="89860000000000000001"), "new_sim"),
    (dict(new_sim="89860000000000000002"), "old_sim"),
])
@pytest.mark.rule("SRV-2", "boundary")
def test_srv2_replacement_needs_both_numbers(app, fields, missing):
    with pytest.raises(policies.PolicyViolation) as exc:
        build(models.ServiceOrder, kind="repair", **fields).save()
    assert exc.value.rule_id == "SRV-2" and exc.value.field == missing
    assert "(SRV-2,000 篇七 5–6)" in str(exc.value)
    assert models.ServiceOrder.select().count() == 0


@pytest.mark.rule("SRV-2", "boundary")
def test_srv2_both_or_neither_allowed_and_installs_record_only_new(app):
    make(models.ServiceOrder, kind="repair")
    make(models.ServiceOrder, kind="repair", old_terminal_no="ZD1", new_terminal_no="ZD2",
         old_sim="8986001", new_sim="8986002")
    make(models.ServiceOrder, kind="install", new_terminal_no="ZD3", new_sim="8986003",
         purchase_date=datetime.date(2026, 3, 1))
    assert models.ServiceOrder.select().count() == 3


def test_srv2_refused_in_the_generated_form(app, admin_client):
    data = form_data(view_for(app, models.ServiceOrder),
                     build(models.ServiceOrder, kind="repair", old_terminal_no="ZD1000000001"))
    response = submit(admin_client, "/admin/serviceorder/new/", data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "更换终端须同时登记原终端号和新终端号(SRV-2,000 篇七 5–6)" in html
    assert 'id="new_terminal_no"' in html and "is-invalid" in html
    assert models.ServiceOrder.select().count() == 0
