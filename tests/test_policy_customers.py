"""Customer, visit, survey and partner rules at their boundaries, through save(), the generated form and approvals."""
import datetime

import pytest

import models
import policies
from conftest import make_user
from conftest import submit
from factories import form_data
from factories import make
from factories import view_for
from factories import decide_refused
from factories import locked
from factories import fresh
from factories import run
from factories import acting_as as acting
from policies import approvals
from policies.calendar import local_midnight
from policies.calendar import local_today
from policies.calendar import months_before
from policies.customers import survey_report_due

TODAY = datetime.date(2026, 11, 20)
LONG_AGO = datetime.datetime(2025, 1, 1)


def beijing(day, hour, minute=0):
    """Return the stored (naive UTC) form of a Beijing wall-clock time."""
    return datetime.datetime.combine(day, datetime.time(hour, minute)) - datetime.timedelta(hours=8)


def ids(query):
    return {row.id for row in query}


def approvals_for(record, rule_id):
    return list(models.Approval.select().where(
        models.Approval.target_model == type(record).__name__, models.Approval.target_id == record.id,
        models.Approval.rule == rule_id))


def days_ago(n):
    return TODAY - datetime.timedelta(days=n)


def contacted(at, **fields):
    """Return a customer whose last communication took place ``at`` (CUS-1 counts the facts)."""
    customer = make(models.Customer, **fields)
    make(models.Communication, customer=customer, at=at, summary="电话沟通")
    return customer


@pytest.fixture
def people(app):
    """A salesperson of 销售一部, its manager and the manager of 销售二部."""
    first = models.Department.create(name="销售一部")
    second = models.Department.create(name="销售二部")
    return dict(
        dept=first,
        sales=make_user("k_sales", roles=("sales",), department=first),
        manager=make_user("k_manager", roles=("manager",), department=first),
        other_manager=make_user("k_other", roles=("manager",), department=second),
    )


# ---------------------------------------------------------------- time helpers
def test_local_today_turns_at_midnight_beijing():
    assert local_today(datetime.datetime(2026, 11, 30, 15, 59)) == datetime.date(2026, 11, 30)
    assert local_today(datetime.datetime(2026, 11, 30, 16, 0)) == datetime.date(2026, 12, 1)
    assert local_midnight(datetime.date(2026, 12, 1)) == datetime.datetime(2026, 11, 30, 16, 0)
    assert months_before(datetime.date(2026, 8, 31), 6) == datetime.date(2026, 2, 28)
    assert months_before(datetime.date(2026, 3, 15), 6) == datetime.date(2025, 9, 15)


# ---------------------------------------------------------------- CUS-1
@pytest.mark.rule("CUS-1", "boundary")
def test_cus1_key_customers_every_7_days_at_the_beijing_day_boundary(app):
    # 23:30 Beijing on day -8 is still day -8 (stored as 15:30 UTC); 00:30 on day -7 is stored on day -8 UTC.
    late = contacted(beijing(days_ago(8), 23, 30), tier="key", created_at=LONG_AGO)
    ok = contacted(beijing(days_ago(7), 0, 30), tier="strategic", created_at=LONG_AGO)
    assert fresh(late).last_contact_at.date() == fresh(ok).last_contact_at.date()
    assert ids(policies.customers.contact_overdue(today=TODAY)) == {late.id}


@pytest.mark.rule("CUS-1", "boundary")
def test_cus1_general_customers_every_30_days_reserve_never(app):
    ok = contacted(beijing(days_ago(30), 10), tier="general", created_at=LONG_AGO)
    late = contacted(beijing(days_ago(31), 10), tier="general", created_at=LONG_AGO)
    contacted(beijing(days_ago(300), 10), tier="reserve", created_at=LONG_AGO)
    never = make(models.Customer, tier="general", created_at=beijing(days_ago(31), 9))
    fresh = make(models.Customer, tier="key", created_at=beijing(days_ago(7), 9))
    flagged = ids(policies.customers.contact_overdue(today=TODAY))
    assert flagged == {late.id, never.id}
    assert ok.id not in flagged and fresh.id not in flagged


def test_cus1_setting_takes_effect_and_the_flag_is_registered(app):
    customer = contacted(beijing(days_ago(8), 10), tier="key", created_at=LONG_AGO)
    assert customer.id in ids(policies.customers.contact_overdue(today=TODAY))
    policies.RULES["CUS-1"].configure(key_days=10)
    assert customer.id not in ids(policies.customers.contact_overdue(today=TODAY))
    assert any(r.id == "CUS-1" for r, _query, _badge in policies.FLAGS[models.Customer])


def test_flags_are_registered_and_shown_through_flags_for(app):
    registered = {(model, r.id) for model, entries in policies.FLAGS.items() for r, _q, _b in entries}
    for model, rule_id in ((models.Customer, "CUS-1"), (models.Customer, "CUS-5"), (models.Customer, "VIS-3"),
                           (models.Customer, "CRD-5"), (models.VisitPlan, "VIS-1"), (models.Visit, "VIS-2"),
                           (models.Partner, "VIS-4")):
        assert (model, rule_id) in registered
    now = models.utcnow()
    late = contacted(now - datetime.timedelta(days=9), tier="key", created_at=LONG_AGO)
    fine = contacted(now - datetime.timedelta(days=1), tier="key", created_at=LONG_AGO)
    flags = policies.flags_for(models.Customer, [late.id, fine.id])
    assert "CUS-1" in [r.id for r, _badge in flags.get(late.id, [])]
    assert "CUS-1" not in [r.id for r, _badge in flags.get(fine.id, [])]
    policies.RULES["CUS-1"].configure(enabled=False)
    assert "CUS-1" not in [r.id for r, _badge in policies.flags_for(models.Customer, [late.id]).get(late.id, [])]


def test_cus1_a_saved_communication_computes_last_contact(app):
    customer = make(models.Customer, created_at=LONG_AGO)
    make(models.Communication, customer=customer, at=beijing(days_ago(3), 10), summary="电话回访")
    assert models.Customer.get_by_id(customer.id).last_contact_at == beijing(days_ago(3), 10)
    make(models.Communication, customer=customer, at=beijing(days_ago(20), 10), summary="补录旧记录")
    assert models.Customer.get_by_id(customer.id).last_contact_at == beijing(days_ago(3), 10)
    assert models.RuleEvent.select().where(models.RuleEvent.rule == "CUS-1",
                                           models.RuleEvent.kind == "compute").count() == 1


# ---------------------------------------------------------------- CUS-2
def new_customer(people):
    with acting(people["sales"]):
        return make(models.Customer, name="新建客户", approved_by=None, department=people["dept"])


@pytest.mark.rule("CUS-2", "boundary")
def test_cus2_a_new_customer_waits_for_the_sales_director_who_confirms_it(app, people):
    customer = new_customer(people)
    [approval] = approvals_for(customer, "CUS-2")
    assert (approval.required_role, approval.department_id, approval.requested_by_id, approval.status) == (
        "manager", people["dept"].id, people["sales"].id, "pending")
    assert customer.id in ids(policies.customers.unconfirmed())
    customer.name = "改名"
    locked(customer)
    # CUS-1 still computes the last contact of a customer waiting for confirmation.
    make(models.Communication, customer=customer, at=beijing(days_ago(1), 10), summary="首次电话")
    assert fresh(customer).last_contact_at == beijing(days_ago(1), 10)
    assert decide_refused(approval, people["other_manager"]) == "该申请须由所属部门的部门经理审批。"
    approvals.decide(approval.id, people["manager"], True, "档案齐全")
    confirmed = fresh(customer)
    assert confirmed.approved_by_id == people["manager"].id and confirmed.name == "新建客户"
    assert customer.id not in ids(policies.customers.unconfirmed())
    confirmed.name = "确认后改名"
    confirmed.save()
    assert len(approvals_for(customer, "CUS-2")) == 1


@pytest.mark.rule("CUS-2", "sequence")
def test_cus2_rejection_leaves_it_unconfirmed_a_corrected_save_asks_again(app, people):
    customer = new_customer(people)
    [approval] = approvals_for(customer, "CUS-2")
    approvals.decide(approval.id, people["manager"], False, "缺营业执照号")
    rejected = fresh(customer)
    assert rejected.approved_by_id is None and not approvals.is_pending(rejected)
    assert customer.id in ids(policies.customers.unconfirmed())
    rejected.licence_no = "91330100MA00000098"
    with acting(people["sales"]):
        rejected.save()
    again = [a for a in approvals_for(customer, "CUS-2") if a.status == "pending"]
    assert len(again) == 1 and again[0].requested_by_id == people["sales"].id
    approvals.decide(again[0].id, people["manager"], True)
    assert fresh(customer).approved_by_id == people["manager"].id


def test_cus2_withdrawal_leaves_it_unconfirmed_and_editable(app, people):
    customer = new_customer(people)
    with pytest.raises(approvals.ApprovalError, match="只有申请人可以撤回申请"):
        approvals.withdraw(customer, people["manager"])
    approvals.withdraw(customer, people["sales"])
    withdrawn = fresh(customer)
    assert withdrawn.approved_by_id is None and not approvals.is_pending(withdrawn)
    withdrawn.phone = "0571-88880000"
    withdrawn.save()
    assert fresh(customer).phone == "0571-88880000"


def test_cus2_the_confirming_director_cannot_be_typed_into_the_form(app, admin_client, people):
    view = view_for(app, models.Customer)
    data = form_data(view, models.Customer(name="表单新客户", code="", department=people["dept"],
                                           approved_by=people["manager"]))
    response = submit(admin_client, "/admin/customer/new/", data)
    assert response.status_code == 302
    customer = models.Customer.get(models.Customer.name == "表单新客户")
    assert customer.approved_by_id is None and approvals.is_pending(customer)


@pytest.mark.rule("CUS-2", "boundary")
def test_cus2_a_confirmed_customer_asks_nothing(app):
    director = make(models.User, username="director")
    customer = make(models.Customer, approved_by=director)
    assert approvals_for(customer, "CUS-2") == []


# ---------------------------------------------------------------- CUS-3
@pytest.mark.rule("CUS-3", "boundary")
def test_cus3_id_number_and_bank_account_only_with_consent(app):
    with pytest.raises(policies.PolicyViolation) as exc:
        make(models.Customer, name="无同意", id_number="330106198001010013", bank_account="6222020200000000000")
    assert exc.value.rule_id == "CUS-3" and exc.value.field == "consent_at"
    assert "未记录客户告知同意时间,不得保存身份证号、银行账号(CUS-3,002 篇三 第二/三章)" in str(exc.value)
    assert models.Customer.select().count() == 0
    make(models.Customer, name="有同意", id_number="330106198001010013", consent_at=models.utcnow())
    make(models.Customer, name="无个人信息")
    assert models.Customer.select().count() == 2


def test_cus3_dropping_consent_while_data_is_kept_is_refused(app):
    customer = make(models.Customer, id_number="330106198001010013", consent_at=models.utcnow())
    customer.consent_at = None
    with pytest.raises(policies.PolicyViolation):
        customer.save()
    fresh = models.Customer.get_by_id(customer.id)
    fresh.consent_at = None
    fresh.id_number = ""
    fresh.save()


@pytest.mark.parametrize("field, value", [("mobile", "13805710001"), ("email", "zhang@example.cn"),
                                          ("birthday", datetime.date(1980, 5, 1))])
def test_cus3_contact_personal_data_needs_consent(app, field, value):
    customer = make(models.Customer)
    with pytest.raises(policies.PolicyViolation) as exc:
        make(models.Contact, customer=customer, name="张经理", **{field: value})
    assert exc.value.rule_id == "CUS-3" and exc.value.field == field
    assert models.Contact.select().count() == 0
    # The office landline needs nothing; the person's own consent or the customer's allows the rest.
    make(models.Contact, customer=customer, name="前台", phone="0571-88886666")
    make(models.Contact, customer=customer, name="张经理", consent_at=models.utcnow(), **{field: value})
    customer.consent_at = models.utcnow()
    customer.save()
    make(models.Contact, customer=customer, name="李会计", **{field: value})
    assert models.Contact.select().count() == 3


@pytest.mark.rule("CUS-3", "sequence")
def test_cus3_dropping_consent_afterwards_is_refused_while_personal_data_relies_on_it(app):
    customer = make(models.Customer, consent_at=models.utcnow())
    contact = make(models.Contact, customer=customer, name="张经理", mobile="13805710001")
    customer = fresh(customer)
    customer.consent_at = None
    with pytest.raises(policies.PolicyViolation, match="联系人手机、邮箱或生日"):
        customer.save()
    other = make(models.Customer)  # no consent of its own: the contact's consent carries the e-mail
    own = make(models.Contact, customer=other, name="王主任", email="wang@example.cn", consent_at=models.utcnow())
    own = fresh(own)
    own.consent_at = None
    with pytest.raises(policies.PolicyViolation):
        own.save()
    assert fresh(contact).mobile == "13805710001"


def test_cus3_refused_in_the_generated_form(app, admin_client):
    view = view_for(app, models.Customer)
    data = form_data(view, models.Customer(name="表单客户", code="", id_number="330106198001010013"))
    response = submit(admin_client, "/admin/customer/new/", data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "不得保存身份证号(CUS-3,002 篇三 第二/三章)" in html
    assert models.Customer.select().count() == 0


def test_cus4_is_declared_as_an_action():
    rule = policies.RULES["CUS-4"]
    assert rule.action == "action" and rule.source == "002 篇三 第三章3"


# ---------------------------------------------------------------- CUS-5
@pytest.mark.rule("CUS-5", "boundary")
def test_cus5_no_contact_and_no_purchase_for_90_days(app):
    talked = make(models.Customer, created_at=LONG_AGO)
    make(models.Communication, customer=talked, at=beijing(days_ago(90), 9), summary="电话")
    silent = make(models.Customer, created_at=LONG_AGO)
    make(models.Communication, customer=silent, at=beijing(days_ago(91), 23, 30), summary="电话")
    bought = make(models.Customer, created_at=LONG_AGO)
    make(models.Shipment, customer=bought, invoice_no="P-1", shipped_on=days_ago(90), prepaid=True)
    lapsed = make(models.Customer, created_at=LONG_AGO)
    make(models.Shipment, customer=lapsed, invoice_no="P-2", shipped_on=days_ago(91), prepaid=True)
    make(models.Customer, created_at=beijing(days_ago(90), 9))  # new: not at risk yet
    assert ids(policies.customers.churn_risk(today=TODAY)) == {silent.id, lapsed.id}


# ---------------------------------------------------------------- VIS-1
def test_vis1_a_submitted_plan_waits_for_the_manager_once(app, people):
    with acting(people["sales"]):
        plan = make(models.VisitPlan, owner=people["sales"], month="2026-12", status="draft")
        assert approvals_for(plan, "VIS-1") == []
        run(plan, "submit", people["sales"])
    [approval] = approvals_for(plan, "VIS-1")
    assert (approval.required_role, approval.department_id, approval.requested_by_id, approval.status) == (
        "manager", people["dept"].id, people["sales"].id, "pending")
    locked(plan)
    assert len(approvals_for(plan, "VIS-1")) == 1
    # A plan cannot be created submitted: it is submitted by its action.
    with pytest.raises(policies.PolicyViolation, match="「状态」"):
        make(models.VisitPlan, owner=people["sales"], month="2026-12", status="submitted")


def submitted_plan(owner, month):
    """Return a visit plan of ``owner`` submitted for review by its action (VIS-1)."""
    plan = make(models.VisitPlan, owner=owner, month=month)
    run(plan, "submit", owner)
    return fresh(plan)


def test_vis1_approval_approves_the_plan_another_departments_manager_may_not(app, people):
    plan = submitted_plan(people["sales"], "2026-12")
    [approval] = approvals_for(plan, "VIS-1")
    assert decide_refused(approval, people["other_manager"]) == "该申请须由所属部门的部门经理审批。"
    approvals.decide(approval.id, people["manager"], True, "同意")
    assert fresh(plan).status == "approved"


@pytest.mark.rule("VIS-1", "sequence")
def test_vis1_rejection_and_withdrawal_return_the_plan_to_draft(app, people):
    with acting(people["sales"]):
        rejected = submitted_plan(people["sales"], "2026-12")
        withdrawn = submitted_plan(people["sales"], "2027-01")
    approvals.decide(approvals_for(rejected, "VIS-1")[0].id, people["manager"], False, "重点客户覆盖不足")
    assert fresh(rejected).status == "draft"
    approvals.withdraw(withdrawn, people["sales"])
    plan = fresh(withdrawn)
    assert plan.status == "draft" and not approvals.is_pending(plan)
    plan.month = "2027-02"  # editable again
    plan.save()
    run(fresh(plan), "submit", people["sales"])  # and submitted again
    assert fresh(withdrawn).status == "submitted" and len(approvals_for(withdrawn, "VIS-1")) == 2


def test_vis1_a_plan_marked_approved_by_hand_is_refused(app, people):
    plan = make(models.VisitPlan, owner=people["sales"], month="2026-12", status="draft")
    plan.status = "approved"
    with pytest.raises(policies.PolicyViolation, match="「状态」"):
        plan.save()
    assert fresh(plan).status == "draft" and approvals_for(plan, "VIS-1") == []
    with pytest.raises(policies.PolicyViolation, match="「状态」"):
        make(models.VisitPlan, owner=people["sales"], month="2027-01", status="approved")


@pytest.mark.rule("VIS-1", "boundary")
def test_vis1_next_months_plan_late_from_the_first_of_that_month(app):
    draft = make(models.VisitPlan, month="2026-12", status="draft")
    submitted = make(models.VisitPlan, month="2026-12")
    run(submitted, "submit")
    make(models.VisitPlan, month="2027-01", status="draft")
    assert ids(policies.customers.plans_late(today=datetime.date(2026, 11, 30))) == set()
    assert ids(policies.customers.plans_late(today=datetime.date(2026, 12, 1))) == {draft.id}


def test_vis1_a_month_typed_2026_9_is_september_and_nonsense_is_refused(app):
    plan = make(models.VisitPlan, month="2026-9", status="draft")
    assert fresh(plan).month == "2026-09"
    assert fresh(make(models.VisitPlan, month="2026年10月")).month == "2026-10"
    assert ids(policies.customers.plans_late(today=datetime.date(2026, 9, 1))) == {plan.id}
    for bad in ("2026-13", "九月", "26-9"):
        with pytest.raises(policies.PolicyViolation) as exc:
            make(models.VisitPlan, month=bad)
        assert exc.value.rule_id == "VIS-1" and exc.value.field == "month"


def test_vis1_a_salesperson_with_no_plan_at_all_is_flagged(app, people):
    for user in (people["sales"],):
        user.created_at = datetime.datetime(2026, 1, 1)
        user.save()
    newcomer = make_user("k_new", roles=("sales",), department=people["dept"])
    newcomer.created_at = datetime.datetime(2026, 12, 2)
    newcomer.save()
    december = datetime.date(2026, 12, 3)
    assert ids(policies.customers.salespeople_without_plan(december)) == {people["sales"].id}
    plan = make(models.VisitPlan, owner=people["sales"], month="2026-12", status="draft")
    assert people["sales"].id in ids(policies.customers.salespeople_without_plan(december))  # a draft is no plan
    run(plan, "submit", people["sales"])
    assert ids(policies.customers.salespeople_without_plan(december)) == set()
    # November is another month: the December plan does not count for it.
    people["sales"].created_at = datetime.datetime(2026, 1, 1)
    assert people["sales"].id in ids(policies.customers.salespeople_without_plan(datetime.date(2026, 11, 20)))


# ---------------------------------------------------------------- VIS-2
def test_vis2_an_empty_report_with_a_date_is_no_report(app):
    visited = datetime.date(2026, 11, 2)
    empty = make(models.Visit, visited_on=visited, report="  ", report_submitted_on=visited)
    assert ids(policies.customers.reports_late(today=datetime.date(2026, 11, 4))) == set()
    assert ids(policies.customers.reports_late(today=datetime.date(2026, 11, 5))) == {empty.id}
    # Writing the report afterwards (on the 5th) is a late report.
    empty = fresh(empty)
    empty.report, empty.report_submitted_on = "客户有扩产计划", datetime.date(2026, 11, 5)
    empty.save()
    assert ids(policies.customers.reports_late(today=datetime.date(2026, 11, 20))) == {empty.id}


@pytest.mark.rule("VIS-2", "boundary")
def test_vis2_report_due_two_days_after_the_visit(app):
    visited = datetime.date(2026, 11, 2)
    missing = make(models.Visit, visited_on=visited)
    on_time = make(models.Visit, visited_on=visited, report="报告", report_submitted_on=datetime.date(2026, 11, 4))
    late = make(models.Visit, visited_on=visited, report="报告", report_submitted_on=datetime.date(2026, 11, 5))
    assert ids(policies.customers.reports_late(today=datetime.date(2026, 11, 4))) == {late.id}
    assert ids(policies.customers.reports_late(today=datetime.date(2026, 11, 5))) == {missing.id, late.id}
    assert on_time.id not in ids(policies.customers.reports_late(today=datetime.date(2027, 1, 1)))


# ---------------------------------------------------------------- VIS-3
@pytest.mark.rule("VIS-3", "boundary")
def test_vis3_survey_within_six_months(app):
    recent = make(models.Customer, stage="retention", created_at=LONG_AGO)
    make(models.SatisfactionSurvey, customer=recent, period="2026H1",
         created_at=beijing(datetime.date(2026, 5, 20), 0, 10))
    stale = make(models.Customer, stage="retention", created_at=LONG_AGO)
    make(models.SatisfactionSurvey, customer=stale, period="2026H1",
         created_at=beijing(datetime.date(2026, 5, 19), 23, 50))
    never = make(models.Customer, stage="growth", created_at=LONG_AGO)
    make(models.Customer, stage="prospect", created_at=LONG_AGO)
    make(models.Customer, stage="first_purchase", created_at=beijing(datetime.date(2026, 5, 20), 9))
    assert ids(policies.customers.survey_due(today=TODAY)) == {stale.id, never.id}


@pytest.mark.rule("VIS-3", "sequence")
def test_vis3_an_old_period_entered_today_does_not_clear_the_reminder(app):
    customer = make(models.Customer, stage="retention", created_at=LONG_AGO)
    make(models.SatisfactionSurvey, customer=customer, period="2024H1",
         created_at=beijing(datetime.date(2026, 11, 19), 10))
    assert customer.id in ids(policies.customers.survey_due(today=TODAY))
    make(models.SatisfactionSurvey, customer=customer, period="2026h2",
         created_at=beijing(datetime.date(2026, 11, 19), 10))
    assert customer.id not in ids(policies.customers.survey_due(today=TODAY))
    assert models.SatisfactionSurvey.select().where(models.SatisfactionSurvey.period == "2026H2").count() == 1


def test_vis3_period_must_be_a_half_year_not_yet_to_come(app):
    customer = make(models.Customer)
    for bad in ("2026", "2026H3", "2099H1"):
        with pytest.raises(policies.PolicyViolation) as exc:
            make(models.SatisfactionSurvey, customer=customer, period=bad)
        assert exc.value.rule_id == "VIS-3" and exc.value.field == "period"


def test_vis3_half_year_reports_due_10_july_and_10_january():
    assert survey_report_due(datetime.date(2026, 7, 10)) == ("2026H1", datetime.date(2026, 7, 10))
    assert survey_report_due(datetime.date(2026, 7, 11)) == ("2026H2", datetime.date(2027, 1, 10))
    assert survey_report_due(datetime.date(2027, 1, 10)) == ("2026H2", datetime.date(2027, 1, 10))
    assert survey_report_due(datetime.date(2027, 1, 11)) == ("2027H1", datetime.date(2027, 7, 10))


# ---------------------------------------------------------------- VIS-4
@pytest.mark.rule("VIS-4", "boundary")
def test_vis4_out_of_town_partners_visited_every_six_months(app):
    def partner(name, **fields):
        return make(models.Partner, name=name, region="out_of_town", admission_status="admitted", **fields)

    partner("上海汇通", last_visit_on=datetime.date(2026, 5, 20))
    late = partner("苏州嘉禾", last_visit_on=datetime.date(2026, 5, 19))
    never = partner("合肥广源")
    partner("武汉众成", inspected_on=datetime.date(2026, 6, 1))
    make(models.Partner, name="杭州瑞丰", region="local", admission_status="admitted",
         last_visit_on=datetime.date(2025, 1, 1))
    make(models.Partner, name="福州安泰", region="out_of_town", admission_status="refused")
    assert ids(policies.customers.partner_visit_overdue(today=TODAY)) == {late.id, never.id}
