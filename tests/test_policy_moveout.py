"""Move-out rules: the checklist before completion, the three departments' sign-off."""
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

CHECKLIST = ("keys_returned", "customer_card_returned", "parking_lock_key_returned", "parking_card_returned",
             "parking_released", "arrears_cleared", "damage_settled", "unit_restored", "engineering_signed",
             "finance_signed", "security_signed")
SIGNATURES = ("engineering_signed", "finance_signed", "security_signed")
ITEMS = tuple(name for name in CHECKLIST if name not in SIGNATURES)
# A tenant with parking and an assessed damage: every item of MOV-1 applies.
ITEMS_DONE = dict({name: True for name in ITEMS}, has_parking=True, damage_amount=500)


def move_out(**fields):
    fields.setdefault("unit", "A座1203室")
    fields.setdefault("requested_on", datetime.date(2026, 11, 2))
    return build(models.MoveOut, **fields)


def all_done(**fields):
    """Return a move-out (tenant with parking, damage assessed) with every item done and every department signed."""
    values = {name: True for name in CHECKLIST}
    values.update(has_parking=True, damage_amount=500)
    values.update(fields)
    return move_out(**values)


def save_signed(row):
    """Save ``row`` with its signatures as if the departments' approvals had ticked them (MOV-1)."""
    with policies.approvals.unlocked():
        row.save()


def mov1_approvals():
    return models.Approval.select().where(models.Approval.rule == "MOV-1")


@pytest.fixture
def signers(app):
    """Customer service and one signer of each department (MOV-1)."""
    return {code: make_user(f"u_{code}", roles=(code,)) for code in ("service", "engineering", "finance", "security")}


def sent_for_signing(signers, **fields):
    """Return a move-out that customer service sent to the three departments."""
    fields.setdefault("keys_returned", True)
    with acting_as(signers["service"]):
        row = make(models.MoveOut, **fields)
        run(row, "sign_off", signers["service"])
    return models.MoveOut.get_by_id(row.id)


def signed_by(signers, roles=("engineering", "finance", "security"), **fields):
    """Return a move-out sent for signing and signed by the departments ``roles``."""
    row = sent_for_signing(signers, **fields)
    for role in roles:
        sign(row, signers, role)
    return models.MoveOut.get_by_id(row.id)


def sign(row, signers, role, approve=True, comment=""):
    approval = mov1_approvals().where(models.Approval.target_id == row.id, models.Approval.required_role == role,
                                      models.Approval.status == "pending").get()
    return policies.approvals.decide(approval.id, signers[role], approve, comment)


def flags(row):
    row = models.MoveOut.get_by_id(row.id)
    return row.status, row.engineering_signed, row.finance_signed, row.security_signed


def test_mov1_completed_with_everything_done(signers):
    row = signed_by(signers, **ITEMS_DONE)
    run(row, "complete", signers["service"])
    assert models.MoveOut.get_by_id(row.id).status == "completed"


@pytest.mark.parametrize("missing", CHECKLIST)
@pytest.mark.rule("MOV-1", "boundary")
def test_mov1_each_missing_item_refused_at_its_field(signers, missing):
    fields = dict(ITEMS_DONE)
    if missing in fields:
        fields[missing] = False
    roles = [name.split("_")[0] for name in SIGNATURES if name != missing]
    row = signed_by(signers, roles, **fields)
    with pytest.raises(policies.PolicyViolation) as exc:
        run(row, "complete", signers["service"])
    assert [(v.rule_id, v.field) for v in exc.value.violations if v.field] == [("MOV-1", missing)]
    assert "不能办结迁出(MOV-1,001 第3篇 三/四)" in str(exc.value)
    assert models.MoveOut.get_by_id(row.id).status == "signing"


def test_mov1_one_message_per_missing_item(signers):
    row = sent_for_signing(signers)
    with pytest.raises(policies.PolicyViolation) as exc:
        run(row, "complete", signers["service"])
    assert [v.field for v in exc.value.violations if v.field] == ["customer_card_returned", "arrears_cleared",
                                                                  "unit_restored"] + list(SIGNATURES)


def test_mov1_parking_only_for_a_tenant_with_parking_compensation_only_when_assessed(signers):
    row = signed_by(signers, **dict(ITEMS_DONE, has_parking=False, damage_amount=0, parking_lock_key_returned=False,
                                    parking_card_returned=False, parking_released=False, damage_settled=False))
    run(row, "complete", signers["service"])
    # The decoration kept by agreement stands for the restored unit.
    row = signed_by(signers, **dict(ITEMS_DONE, unit_restored=False, decoration_kept=True))
    run(row, "complete", signers["service"])
    assert models.MoveOut.select().where(models.MoveOut.status == "completed").count() == 2


def test_mov1_completion_only_by_the_action(app):
    row = make(models.MoveOut, **ITEMS_DONE)
    row.status = "completed"
    with pytest.raises(policies.PolicyViolation, match="「状态」"):
        row.save()
    with pytest.raises(policies.PolicyViolation, match="工程部已签"):
        make(models.MoveOut, engineering_signed=True)
    with pytest.raises(policies.PolicyViolation, match="当前状态为「已申请」"):
        run(models.MoveOut.get_by_id(row.id), "complete")


def test_mov1_cancel_needs_a_reason(app):
    row = make(models.MoveOut)
    with pytest.raises(policies.PolicyViolation, match="须填写原因"):
        run(row, "cancel")
    run(row, "cancel", reason="租户续租")
    assert models.MoveOut.get_by_id(row.id).status == "cancelled"


def test_mov1_refused_by_the_complete_button(app, client, login_as, signers):
    login_as("admin", clearance="top_secret")
    row = signed_by(signers, ("engineering", "finance"), arrears_cleared=True, unit_restored=True)
    url = f"/admin/moveout/details/?id={row.id}"
    from conftest import csrf_token
    response = client.post("/admin/moveout/workflow/", data={
        "csrf_token": csrf_token(client, url), "id": row.id, "action": "complete", "next": url},
        follow_redirects=True)
    assert "保安部尚未检查签字，不能办结迁出(MOV-1,001 第3篇 三/四)" in response.get_data(as_text=True)
    # The signatures come only from the departments' approvals: no box to tick on the form.
    html = client.get(f"/admin/moveout/edit/?id={row.id}").get_data(as_text=True).split("<!-- /workflow-panel -->")[-1]
    assert 'id="security_signed"' not in html and 'id="keys_returned"' in html
    assert models.MoveOut.get_by_id(row.id).status == "signing"


def test_mov1_signatures_cannot_be_ticked_in_the_form(app, admin_client):
    data = form_data(view_for(app, models.MoveOut), move_out())
    data.update(engineering_signed="y", finance_signed="y", security_signed="y")
    assert submit(admin_client, "/admin/moveout/new/", data).status_code == 302
    row = models.MoveOut.get()
    assert not (row.engineering_signed or row.finance_signed or row.security_signed)


def test_mov1_signing_asks_the_three_departments_in_parallel(signers):
    row = make(models.MoveOut)
    assert mov1_approvals().count() == 0
    row = sent_for_signing(signers)
    assert sorted((a.required_role, a.step, a.kind, a.status, a.target_id) for a in mov1_approvals()) == [
        ("engineering", 1, "approve", "pending", row.id), ("finance", 1, "approve", "pending", row.id),
        ("security", 1, "approve", "pending", row.id)]
    row = models.MoveOut.get_by_id(row.id)
    row.arrears_cleared = True
    with pytest.raises(policies.PolicyViolation) as exc:
        row.save()
    assert "该记录正在等待审批" in str(exc.value)
    assert mov1_approvals().count() == 3


def test_mov1_created_in_signing_is_refused(app):
    with pytest.raises(policies.PolicyViolation, match="「状态」"):
        make(models.MoveOut, status="signing")
    assert mov1_approvals().count() == 0


def test_mov1_each_department_ticks_its_flag_in_any_order_then_service_completes(signers):
    row = sent_for_signing(signers)
    with pytest.raises(policies.approvals.ApprovalError):
        sign(row, {"finance": signers["engineering"]}, "finance")
    sign(row, signers, "security", comment="出入证已收回。")
    assert flags(row) == ("signing", False, False, True)
    sign(row, signers, "finance")
    assert flags(row) == ("signing", False, True, True)
    sign(row, signers, "engineering")
    assert flags(row) == ("signing", True, True, True)
    assert policies.approvals.state(row) == "approved"
    row = models.MoveOut.get_by_id(row.id)
    with pytest.raises(policies.PolicyViolation) as exc:
        run(row, "complete", signers["service"])
    assert [v.field for v in exc.value.violations] == ["customer_card_returned", "arrears_cleared", "unit_restored"]
    row = models.MoveOut.get_by_id(row.id)
    row.arrears_cleared = row.unit_restored = row.customer_card_returned = True
    with acting_as(signers["service"]):
        row.save()
    run(models.MoveOut.get_by_id(row.id), "complete", signers["service"])
    assert flags(row) == ("completed", True, True, True)
    # A signature is not cleared by hand afterwards either.
    row = models.MoveOut.get_by_id(row.id)
    row.finance_signed = False
    with pytest.raises(policies.PolicyViolation, match="只能由该部门在审批中签署"):
        row.save()


@pytest.mark.rule("MOV-1", "sequence")
def test_mov1_one_rejection_returns_it_to_requested(signers):
    row = sent_for_signing(signers)
    sign(row, signers, "engineering")
    assert flags(row) == ("signing", True, False, False)
    with pytest.raises(policies.approvals.ApprovalError):
        sign(row, signers, "finance", approve=False)
    sign(row, signers, "finance", approve=False, comment="尚欠十月物业费 3,200 元。")
    assert flags(row) == ("requested", False, False, False)
    assert sorted((a.required_role, a.status) for a in mov1_approvals()) == [
        ("engineering", "approved"), ("finance", "rejected"), ("security", "withdrawn")]
    row = models.MoveOut.get_by_id(row.id)
    row.arrears_cleared = True
    row.save()
    run(models.MoveOut.get_by_id(row.id), "sign_off", signers["service"])
    assert mov1_approvals().where(models.Approval.status == "pending").count() == 3


@pytest.mark.rule("MOV-1", "sequence")
def test_mov1_withdrawn_move_out_is_requested_and_editable(signers):
    row = sent_for_signing(signers)
    sign(row, signers, "security")
    policies.approvals.withdraw(models.MoveOut.get_by_id(row.id), signers["service"])
    assert flags(row) == ("requested", False, False, False)
    assert not policies.approvals.is_pending(row)
    row = models.MoveOut.get_by_id(row.id)
    row.damage_note = "墙面有钉孔。"
    row.save()
    assert models.MoveOut.get_by_id(row.id).damage_note == "墙面有钉孔。"
