"""Reception rules at their boundaries: cost caps, companions, important gifts."""
import decimal

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


def reception(**fields):
    fields.setdefault("visitor_org", "杭州市商务局考察团")
    return build(models.Reception, **fields)


def gm_approvals():
    return models.Approval.select().where(models.Approval.rule == "RCP-3")


@pytest.fixture
def people(app):
    """The clerk who plans receptions and the gm who approves important gifts."""
    return make_user("zhaomin", roles=("clerk",)), make_user("wangjianguo", roles=("gm",))


def gift_reception(clerk, value="1800"):
    with acting_as(clerk):
        return make(models.Reception, visitor_org="宁波港务集团", gifts="定制茶具礼盒",
                    gift_value=decimal.Decimal(value))


def status_of(row):
    return models.Reception.get_by_id(row.id).status


@pytest.mark.parametrize("guest_class, cap", [("A", "500"), ("B", "300"), ("C", "200"), ("D", "150")])
@pytest.mark.rule("RCP-1", "boundary")
def test_rcp1_cap_allowed_one_cent_more_refused(app, guest_class, cap):
    reception(guest_class=guest_class, cost_per_person=decimal.Decimal(cap)).save()
    with pytest.raises(policies.PolicyViolation) as exc:
        reception(guest_class=guest_class, cost_per_person=decimal.Decimal(cap) + decimal.Decimal("0.01")).save()
    assert exc.value.rule_id == "RCP-1" and exc.value.field == "cost_per_person"
    assert f"{guest_class}类接待人均费用不得超过 {cap} 元(RCP-1,000 篇六 三1)" in str(exc.value)
    assert models.Reception.select().count() == 1


def test_rcp1_refused_in_the_generated_form(app, admin_client):
    data = form_data(view_for(app, models.Reception),
                     reception(guest_class="B", guests=2, companions=1, cost_per_person=decimal.Decimal("300.01")))
    response = submit(admin_client, "/admin/reception/new/", data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "B类接待人均费用不得超过 300 元(RCP-1,000 篇六 三1)" in html
    assert 'id="cost_per_person"' in html and "is-invalid" in html
    assert models.Reception.select().count() == 0


def test_rcp1_setting_and_switch_take_effect_at_once(app):
    policies.RULES["RCP-1"].configure(cap_d=180)
    reception(guest_class="D", cost_per_person=decimal.Decimal("180")).save()
    with pytest.raises(policies.PolicyViolation):
        reception(guest_class="D", cost_per_person=decimal.Decimal("181")).save()
    policies.RULES["RCP-1"].configure(enabled=False)
    reception(guest_class="D", cost_per_person=decimal.Decimal("999")).save()


@pytest.mark.parametrize("guests, needed", [(4, 1), (5, 2), (10, 2), (11, 3)])
def test_rcp2_companions_computed_when_left_at_zero(app, guests, needed):
    row = reception(guests=guests, companions=0)
    row.save()
    assert models.Reception.get_by_id(row.id).companions == needed
    assert models.RuleEvent.select().where(models.RuleEvent.rule == "RCP-2",
                                           models.RuleEvent.kind == "compute").count() == 1


@pytest.mark.parametrize("guests, cap", [(1, 1), (4, 1), (5, 2), (10, 2)])
@pytest.mark.rule("RCP-2", "boundary")
def test_rcp2_more_companions_than_the_cap_refused(app, guests, cap):
    reception(guests=guests, companions=cap).save()
    with pytest.raises(policies.PolicyViolation) as exc:
        reception(guests=guests, companions=cap + 1).save()
    assert exc.value.rule_id == "RCP-2" and exc.value.field == "companions"
    assert f"来宾 {guests} 人，公司陪同人员最多 {cap} 人(RCP-2,000 篇六 三2)" in str(exc.value)
    assert models.Reception.select().count() == 1


@pytest.mark.rule("RCP-2", "boundary")
def test_rcp2_two_guests_with_eight_companions_refused_fewer_is_fine(app):
    with pytest.raises(policies.PolicyViolation):
        reception(guests=2, companions=8).save()
    reception(guests=8, companions=1).save()  # fewer than the cap: cost control allows it
    assert models.Reception.select().count() == 1


def test_rcp2_large_groups_have_no_cap(app):
    reception(guests=11, companions=5).save()
    reception(guests=11, companions=1).save()
    assert models.Reception.select().count() == 2


@pytest.mark.rule("RCP-2", "sequence")
def test_rcp2_fewer_guests_afterwards_refuses_the_companions_now_too_many(app):
    row = reception(guests=10, companions=2)
    row.save()
    row = models.Reception.get_by_id(row.id)
    row.guests = 4
    with pytest.raises(policies.PolicyViolation):
        row.save()
    assert models.Reception.get_by_id(row.id).guests == 10


def test_rcp2_refused_in_the_generated_form(app, admin_client):
    data = form_data(view_for(app, models.Reception), reception(guests=5, companions=3))
    response = submit(admin_client, "/admin/reception/new/", data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "来宾 5 人，公司陪同人员最多 2 人(RCP-2,000 篇六 三2)" in html
    assert 'id="companions"' in html and "is-invalid" in html
    assert models.Reception.select().count() == 0


def test_rcp2_empty_companions_in_the_form_are_computed(app, admin_client):
    data = form_data(view_for(app, models.Reception), reception(guests=11))
    data["companions"] = ""
    response = submit(admin_client, "/admin/reception/new/", data)
    assert response.status_code == 302
    assert models.Reception.get().companions == 3


@pytest.mark.rule("RCP-3", "boundary")
def test_rcp3_gift_over_limit_asks_the_gm(app):
    at_limit = make(models.Reception, visitor_org="甲", gifts="茶叶", gift_value=decimal.Decimal("1000"))
    assert gm_approvals().count() == 0 and at_limit.status == "planned"
    over = make(models.Reception, visitor_org="乙", gifts="茶具", gift_value=decimal.Decimal("1000.01"))
    approval = gm_approvals().get()
    assert (approval.target_model, approval.target_id, approval.required_role, approval.status) == \
        ("Reception", over.id, "gm", "pending")
    assert models.Reception.get_by_id(over.id).status == "pending"


def test_rcp3_approval_confirms_the_reception(people):
    clerk, gm = people
    row = gift_reception(clerk)
    approval = gm_approvals().get()
    assert approval.requested_by_id == clerk.id and status_of(row) == "pending"
    with pytest.raises(policies.approvals.ApprovalError):
        policies.approvals.decide(approval.id, make_user("liming", roles=("manager",)), True)
    policies.approvals.decide(approval.id, gm, True, "同意，注意控制数量。")
    assert status_of(row) == "approved"
    assert models.AuditLog.select().where(models.AuditLog.model == "Reception", models.AuditLog.action == "approve",
                                          models.AuditLog.record_id == str(row.id)).exists()


def test_rcp3_rejection_leaves_the_gift_unapproved(people):
    clerk, gm = people
    row = gift_reception(clerk)
    with pytest.raises(policies.approvals.ApprovalError):
        policies.approvals.decide(gm_approvals().get().id, gm, False)
    policies.approvals.decide(gm_approvals().get().id, gm, False, "礼品价值过高，请改选公司纪念品。")
    assert status_of(row) == "planned" and gm_approvals().get().status == "rejected"
    row = models.Reception.get_by_id(row.id)
    row.status = "done"
    with pytest.raises(policies.PolicyViolation) as exc:
        row.save()
    assert exc.value.rule_id == "RCP-3" and exc.value.field == "status"
    assert "礼品价值超过 1000 元且未经总经理批准，不能标记为已完成(RCP-3,000 篇六 三3)" in str(exc.value)
    row = models.Reception.get_by_id(row.id)
    row.gifts, row.gift_value = "公司纪念品", decimal.Decimal("1000")
    row.save()
    assert status_of(row) == "planned" and gm_approvals().count() == 1


@pytest.mark.rule("RCP-3", "sequence")
def test_rcp3_saving_the_rejected_gift_again_resubmits_it(people):
    clerk, gm = people
    row = gift_reception(clerk)
    policies.approvals.decide(gm_approvals().get().id, gm, False, "请说明送礼理由。")
    row = models.Reception.get_by_id(row.id)
    with acting_as(clerk):
        row.save()
    assert status_of(row) == "pending"
    assert [a.status for a in gm_approvals().order_by(models.Approval.id)] == ["rejected", "pending"]


def test_rcp3_locked_while_pending_and_editable_after_withdrawal(people):
    clerk, gm = people
    row = gift_reception(clerk)
    row = models.Reception.get_by_id(row.id)
    row.guests = 3
    with pytest.raises(policies.PolicyViolation) as exc:
        row.save()
    assert "该记录正在等待审批" in str(exc.value)
    with pytest.raises(policies.PolicyViolation):
        models.Reception.get_by_id(row.id).delete_instance()
    with pytest.raises(policies.approvals.ApprovalError):
        policies.approvals.withdraw(row, gm)
    policies.approvals.withdraw(row, clerk)
    assert status_of(row) == "planned" and gm_approvals().get().status == "withdrawn"
    row = models.Reception.get_by_id(row.id)
    row.gift_value = decimal.Decimal("600")
    row.save()
    assert status_of(row) == "planned" and gm_approvals().count() == 1


@pytest.mark.rule("RCP-3", "sequence")
def test_rcp3_asks_again_only_when_the_gift_is_raised(people):
    clerk, gm = people
    row = make(models.Reception, visitor_org="丙", gift_value=decimal.Decimal("800"))
    assert gm_approvals().count() == 0
    row.gift_value = decimal.Decimal("1200")
    row.save()
    assert gm_approvals().count() == 1 and status_of(row) == "pending"
    policies.approvals.decide(gm_approvals().get().id, gm, True)
    row = models.Reception.get_by_id(row.id)
    row.guests = 2
    row.save()
    run(row, "finish", clerk)
    assert gm_approvals().count() == 1 and status_of(row) == "done"
    row = models.Reception.get_by_id(row.id)
    row.gift_value = decimal.Decimal("1500")
    row.save()
    assert gm_approvals().where(models.Approval.status == "pending").count() == 1 and status_of(row) == "pending"


def test_rcp3_earlier_done_receptions_keep_their_gift(app):
    policies.RULES["RCP-3"].configure(enabled=False)
    row = make(models.Reception, visitor_org="丁", gift_value=decimal.Decimal("3000"))
    run(row, "finish")
    policies.RULES["RCP-3"].configure(enabled=True)
    row = models.Reception.get_by_id(row.id)
    row.guests = 2
    row.save()
    assert status_of(row) == "done" and gm_approvals().count() == 0
