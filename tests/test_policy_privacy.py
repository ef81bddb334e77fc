"""Data-protection rules at their boundaries: third-party sharing (CUS-6), breaches (CUS-7), access reviews (CUS-8)."""
import datetime

import pytest

import models
import policies
from conftest import make_user
from conftest import submit
from factories import acting_as
from factories import decide_refused
from factories import form_data
from factories import fresh
from factories import locked
from factories import make
from factories import refused
from factories import view_for
from policies import approvals
from policies import privacy

NOW = datetime.datetime(2026, 6, 10, 2, 0)
DAY = datetime.timedelta(days=1)


def approvals_for(record, rule_id):
    return list(models.Approval.select().where(
        models.Approval.target_model == type(record).__name__, models.Approval.target_id == record.id,
        models.Approval.rule == rule_id))


def share(**fields):
    fields.setdefault("customer", make(models.Customer))
    fields.setdefault("consent_at", NOW)
    fields.setdefault("agreement_no", "SJAQ-2026-001")
    return make(models.DataShare, recipient=fields.pop("recipient", "浙江某物流信息公司"), purpose="联合配送",
                fields_shared="客户名称、地址、联系电话", **fields)


@pytest.fixture
def people(app):
    return dict(
        gm=make_user("p_gm", roles=("gm",)),
        manager=make_user("p_manager", roles=("manager",)),
        sales=make_user("p_sales", roles=("sales",)),
        supervisor=make_user("p_supervisor", roles=("info_supervisor",)),
    )


# ---------------------------------------------------------------- CUS-6
def test_cus6_needs_consent_and_agreement(app):
    exc = refused("CUS-6", lambda: share(consent_at=None, agreement_no="  "))
    messages = [v.message for v in exc.violations]
    assert any("明示同意" in m and m.endswith("(CUS-6,002 篇三 第二章3, 第四章2)") for m in messages)
    assert any("数据安全协议" in m for m in messages)
    assert models.DataShare.select().count() == 0
    row = share()
    assert fresh(row).status == "pending"
    assert [(a.required_role, a.status) for a in approvals_for(row, "CUS-6")] == [("gm", "pending")]


def test_cus6_only_the_gm_approves_and_the_share_is_registered(app, people):
    with acting_as(people["sales"]):
        row = share()
    request = approvals_for(row, "CUS-6")[0]
    assert "gm" in decide_refused(request, people["manager"])
    locked(fresh(row))
    approvals.decide(request.id, people["gm"], True)
    row = fresh(row)
    assert row.status == "approved" and row.shared_on is not None


def test_cus6_changing_the_recipient_after_approval_asks_again(app, people):
    with acting_as(people["sales"]):
        row = share()
    approvals.decide(approvals_for(row, "CUS-6")[0].id, people["gm"], True)
    row = fresh(row)
    row.recipient = "另一家第三方公司"
    with acting_as(people["sales"]):
        row.save()
    assert fresh(row).status == "pending" and len(approvals_for(row, "CUS-6")) == 2
    # Dropping the consent after the fact is refused, approved or not.
    approvals.withdraw(fresh(row), people["sales"])
    row = fresh(row)
    assert row.status == "draft"
    row.consent_at = None
    refused("CUS-6", row.save)


def test_cus6_rejected_is_final_and_status_is_never_typed(app, people):
    with acting_as(people["sales"]):
        row = share()
    approvals.decide(approvals_for(row, "CUS-6")[0].id, people["gm"], False, "超出必要范围")
    row = fresh(row)
    assert row.status == "rejected"
    row.status = "approved"
    refused("CUS-6", row.save)  # the workflow engine: the status is the GM's decision
    assert fresh(row).status == "rejected" and len(approvals_for(row, "CUS-6")) == 1


def test_cus6_refused_in_the_generated_form(app, admin_client):
    customer = make(models.Customer)
    view = view_for(app, models.DataShare)
    data = form_data(view, models.DataShare(customer=customer, recipient="第三方", purpose="营销",
                                            fields_shared="手机号", agreement_no=""))
    response = submit(admin_client, "/admin/datashare/new/", data)
    assert response.status_code == 200
    assert "数据安全协议" in response.get_data(as_text=True)
    assert models.DataShare.select().count() == 0


# ---------------------------------------------------------------- CUS-7
def incident(found_at=NOW, **fields):
    return make(models.DataIncident, found_at=found_at, description="客户名单被误发至外部邮箱", **fields)


def affected(row, notified_at=None):
    return make(models.AffectedCustomer, incident=row, customer=make(models.Customer), notified_at=notified_at)


def late_ids(now):
    return {row.id for row in privacy.incidents_late(now=now)}


def test_cus7_contained_and_notified_within_3_days_at_the_boundary(app):
    row = incident()
    first = affected(row)
    assert late_ids(NOW + 3 * DAY) == set()
    assert late_ids(NOW + 3 * DAY + datetime.timedelta(seconds=1)) == {row.id}
    row = fresh(row)
    row.contained_at = NOW + 3 * DAY
    row.save()
    first = fresh(first)
    first.notified_at = NOW + 3 * DAY
    first.save()
    assert late_ids(NOW + 10 * DAY) == set()
    assert fresh(row).customers_notified_at == NOW + 3 * DAY
    # A second customer found affected and told a minute late flags it again.
    affected(row, notified_at=NOW + 3 * DAY + datetime.timedelta(minutes=1))
    assert late_ids(NOW + 10 * DAY) == {row.id}


def test_cus7_an_unnotified_customer_empties_the_notified_time_and_deleting_it_recomputes(app):
    row = incident(contained_at=NOW + DAY)
    affected(row, notified_at=NOW + DAY)
    assert fresh(row).customers_notified_at == NOW + DAY
    straggler = affected(row)
    assert fresh(row).customers_notified_at is None
    assert late_ids(NOW + 4 * DAY) == {row.id}
    straggler.delete_instance()
    assert fresh(row).customers_notified_at == NOW + DAY
    assert late_ids(NOW + 4 * DAY) == set()


def test_cus7_closing_needs_containment_notification_and_the_report(app):
    row = incident()
    affected(row)
    row = fresh(row)
    row.status = "closed"
    exc = refused("CUS-7", row.save)
    assert "控制时间" in str(exc) and "通知时间" in str(exc) and "报告" in str(exc)
    row = fresh(row)
    row.contained_at = NOW + DAY
    row.reported_to = "市网信办"
    row.reported_at = NOW + DAY
    row.save()
    for person in fresh(row).affected:
        person.notified_at = NOW + DAY
        person.save()
    row = fresh(row)
    row.status = "closed"
    row.save()
    assert fresh(row).status == "closed"


def test_cus7_is_a_flag_on_the_incident_list(app):
    row = incident(found_at=models.utcnow() - 4 * DAY)
    marks = policies.flags_for(models.DataIncident, [row.id])
    assert [r.id for r, _badge in marks[row.id]] == ["CUS-7"]


# ---------------------------------------------------------------- CUS-8
def test_cus8_report_lists_roles_clearance_and_revealed_data(app, people):
    customer = make(models.Customer)
    models.AuditLog.create(at=datetime.datetime(2026, 5, 1, 2), user=people["manager"], action="view_sensitive",
                           model="Customer", record_id=str(customer.id), changes="{}")
    models.AuditLog.create(at=datetime.datetime(2025, 5, 1, 2), user=people["sales"], action="view_sensitive",
                           model="Customer", record_id=str(customer.id), changes="{}")
    review = make(models.AccessReview, reviewed_on=datetime.date(2026, 6, 30), reviewer=people["supervisor"])
    review = fresh(review)
    assert review.period_start == datetime.date(2025, 12, 30)
    lines = {line.split(" ")[0]: line for line in review.report.splitlines()}
    assert "部门经理" in lines["p_manager"] or "manager" in lines["p_manager"]
    assert f"查看敏感信息 1 次(Customer#{customer.id})" in lines["p_manager"]
    assert "未查看敏感信息" in lines["p_sales"]  # a year ago: before the period
    # The next review covers from the day after this one.
    # (Dated in the past: a review dated after today is refused by the value domain, Meta.domain.)
    later = make(models.AccessReview, reviewed_on=datetime.date(2026, 11, 30), reviewer=people["supervisor"])
    assert fresh(later).period_start == datetime.date(2026, 7, 1)


def test_cus8_flags_every_user_until_a_review_within_6_months(app, people):
    today = datetime.date(2026, 6, 30)
    for user in models.User.select():
        user.created_at = datetime.datetime(2025, 1, 1)
        user.save()
    assert {u.username for u in privacy.review_due(today)} >= {"p_gm", "p_sales"}
    make(models.AccessReview, reviewed_on=datetime.date(2025, 12, 31), reviewer=people["supervisor"])
    assert privacy.review_due(today).count() == 0  # 6 months ago to the day: still within
    assert privacy.review_due(datetime.date(2026, 7, 1)).count() > 0
    # A review dated in the future counts for nothing.
    make(models.AccessReview, reviewed_on=datetime.date(2026, 12, 1), reviewer=people["supervisor"])
    assert privacy.review_due(datetime.date(2026, 7, 1)).count() > 0
