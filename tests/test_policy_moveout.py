"""Move-out rules: the checklist before completion, the three departments' sign-off."""
import datetime

import pytest

import models
import policies
from conftest import submit
from factories import build
from factories import form_data
from factories import make
from factories import view_for

CHECKLIST = ("keys_returned", "arrears_cleared", "unit_restored", "engineering_signed", "finance_signed",
             "security_signed")


def move_out(**fields):
    fields.setdefault("unit", "A座1203室")
    fields.setdefault("requested_on", datetime.date(2026, 11, 2))
    return build(models.MoveOut, **fields)


def all_done(**fields):
    values = {name: True for name in CHECKLIST}
    values.update(fields)
    return move_out(**values)


def mov1_approvals():
    return models.Approval.select().where(models.Approval.rule == "MOV-1")


def test_mov1_completed_with_everything_done(app):
    all_done(status="completed").save()
    assert models.MoveOut.select().count() == 1


@pytest.mark.parametrize("missing", CHECKLIST)
def test_mov1_each_missing_item_refused_at_its_field(app, missing):
    with pytest.raises(policies.PolicyViolation) as exc:
        all_done(status="completed", **{missing: False}).save()
    assert [(v.rule_id, v.field) for v in exc.value.violations] == [("MOV-1", missing)]
    assert "不能办结迁出(MOV-1,001 第3篇 三/四)" in str(exc.value)
    assert models.MoveOut.select().count() == 0


def test_mov1_one_message_per_missing_item(app):
    with pytest.raises(policies.PolicyViolation) as exc:
        move_out(status="completed", keys_returned=True).save()
    assert [v.field for v in exc.value.violations] == list(CHECKLIST[1:])


def test_mov1_other_states_need_no_checklist(app):
    move_out(status="requested").save()
    move_out(status="cancelled").save()
    assert models.MoveOut.select().count() == 2


def test_mov1_refused_in_the_generated_form(app, admin_client):
    data = form_data(view_for(app, models.MoveOut), all_done(status="completed", security_signed=False))
    response = submit(admin_client, "/admin/moveout/new/", data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "保安部尚未检查签字，不能办结迁出(MOV-1,001 第3篇 三/四)" in html
    assert 'id="security_signed"' in html and "is-invalid" in html
    assert models.MoveOut.select().count() == 0


def test_mov1_signing_asks_the_three_departments_once(app):
    row = make(models.MoveOut, status="requested")
    assert mov1_approvals().count() == 0
    row.status = "signing"
    row.save()
    assert sorted((a.required_role, a.status, a.target_id) for a in mov1_approvals()) == [
        ("engineering", "pending", row.id), ("finance", "pending", row.id), ("security", "pending", row.id)]
    row.keys_returned = True
    row.save()
    assert mov1_approvals().count() == 3


def test_mov1_created_in_signing_asks_too(app):
    row = make(models.MoveOut, status="signing")
    assert {a.required_role for a in mov1_approvals().where(models.Approval.target_id == row.id)} == {
        "engineering", "finance", "security"}
