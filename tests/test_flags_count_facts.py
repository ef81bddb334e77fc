"""Flags count facts: a fact dated in the future clears no flag, and a flag is right after a fact is
edited or deleted (Integrity, issue 8 item 6).

Saving a future-dated fact is refused by its value domain; rows written around save() (an import, rows
older than the domain) are inserted directly here to show that the flag queries ignore them anyway.
"""
import datetime
import decimal

import pytest

import clock
import models
import policies
from factories import make
from policies import archives
from policies import complaints
from policies import customers

DAY = datetime.timedelta(days=1)
LONG_AGO = datetime.datetime(2025, 1, 1)


def now():
    return clock.utcnow().replace(microsecond=0)


def ids(query):
    return {row.id for row in query}


def cus1_flagged(customer):
    return customer.id in ids(customers.contact_overdue())


def insert_communication(customer, at):
    """Write a communication row around save() (as an import would): no domain check, no receiver."""
    return models.Communication.insert(customer=customer.id, at=at, channel="phone", summary="导入的沟通记录",
                                       follow_up="", created_at=now(), updated_at=now(), version=1).execute()


# ---------------------------------------------------------------- CUS-1
def test_a_communication_dated_next_year_does_not_clear_cus1(app):
    customer = make(models.Customer, tier="key", created_at=LONG_AGO)
    assert cus1_flagged(customer)
    next_year = now() + datetime.timedelta(days=365)
    with pytest.raises(policies.PolicyViolation, match="沟通时间不能晚于当前时间"):
        make(models.Communication, customer=customer, at=next_year, summary="明年的电话")
    insert_communication(customer, next_year)
    assert cus1_flagged(customer)
    assert "CUS-1" in [r.id for r, _ in policies.flags_for(models.Customer, [customer.id])[customer.id]]


@pytest.mark.rule("CUS-1", "sequence")
def test_deleting_the_communication_brings_cus1_back(app):
    customer = make(models.Customer, tier="key", created_at=LONG_AGO)
    talk = make(models.Communication, customer=customer, at=now() - DAY, summary="电话")
    assert not cus1_flagged(customer)
    assert models.Customer.get_by_id(customer.id).last_contact_at == talk.at
    talk.delete_instance()
    assert cus1_flagged(customer)
    assert models.Customer.get_by_id(customer.id).last_contact_at is None


@pytest.mark.rule("CUS-1", "sequence")
def test_editing_the_communication_back_in_time_brings_cus1_back(app):
    customer = make(models.Customer, tier="key", created_at=LONG_AGO)
    talk = make(models.Communication, customer=customer, at=now() - DAY, summary="电话")
    assert not cus1_flagged(customer)
    talk.at = now() - datetime.timedelta(days=20)
    talk.save()
    assert cus1_flagged(customer)
    assert models.Customer.get_by_id(customer.id).last_contact_at == talk.at


def test_moving_a_communication_to_another_customer_recomputes_both(app):
    first = make(models.Customer, tier="key", created_at=LONG_AGO)
    second = make(models.Customer, tier="key", created_at=LONG_AGO)
    talk = make(models.Communication, customer=first, at=now() - DAY, summary="电话")
    talk.customer = second
    talk.save()
    assert cus1_flagged(first) and not cus1_flagged(second)
    assert models.Customer.get_by_id(first.id).last_contact_at is None
    assert models.Customer.get_by_id(second.id).last_contact_at == talk.at


def test_the_last_contact_is_read_only_on_the_customer_form(app, admin_client):
    html = admin_client.get("/admin/customer/new/").get_data(as_text=True)
    assert 'id="last_contact_at"' not in html


def test_cus5_ignores_future_communications_and_shipments(app):
    customer = make(models.Customer, created_at=LONG_AGO)
    insert_communication(customer, now() + 30 * DAY)
    models.Shipment.insert(customer=customer.id, invoice_no="F-1", amount=decimal.Decimal("10"),
                           shipped_on=clock.local_today() + 30 * DAY, prepaid=True, status="shipped",
                           created_at=now(), updated_at=now(), version=1).execute()
    assert customer.id in ids(customers.churn_risk())


# ---------------------------------------------------------------- CMP-8
def complaint(customer):
    return make(models.Complaint, customer=customer, complainant="张先生", content="投诉内容", category="service",
                received_at=now() - 2 * DAY)


def test_a_return_visit_dated_next_month_does_not_clear_cmp8(app):
    customer = make(models.Customer)
    complaint(customer)
    assert customer.id in ids(complaints.missing_return_visit())
    plan = make(models.VisitPlan)
    # A return visit planned for next month is allowed in a visit plan, and it is no fact yet.
    planned = make(models.Visit, plan=plan, customer=customer, kind="return",
                   visited_on=clock.local_today() + 31 * DAY)
    assert customer.id in ids(complaints.missing_return_visit())
    assert "CMP-8" in [r.id for r, _ in policies.flags_for(models.Customer, [customer.id])[customer.id]]
    # Done today: the flag clears; moved back to next month: it returns; deleted: it stays.
    planned.visited_on = clock.local_today()
    planned.save()
    assert customer.id not in ids(complaints.missing_return_visit())
    planned.visited_on = clock.local_today() + 31 * DAY
    planned.save()
    assert customer.id in ids(complaints.missing_return_visit())


@pytest.mark.rule("CMP-8", "sequence")
def test_deleting_the_return_visit_brings_cmp8_back(app):
    customer = make(models.Customer)
    complaint(customer)
    visit = make(models.Visit, customer=customer, kind="return", visited_on=clock.local_today())
    assert customer.id not in ids(complaints.missing_return_visit())
    visit.delete_instance()
    assert customer.id in ids(complaints.missing_return_visit())


@pytest.mark.rule("CMP-3", "sequence")
def test_cmp3_ignores_progress_dated_in_the_future(app):
    item = make(models.Complaint, complainant="李女士", content="投诉内容", category="service",
                received_at=now() - 2 * DAY)
    due = models.Complaint.get_by_id(item.id).onsite_due_at
    if due is None or due >= now():
        pytest.skip("no on-site deadline passed for this complaint category")
    models.ComplaintUpdate.insert(complaint=item.id, at=now() + 30 * DAY, note="将来的进展", notified_customer=True,
                                  created_at=now(), updated_at=now(), version=1).execute()
    assert item.id in ids(complaints.onsite_overdue())


# ---------------------------------------------------------------- archives
@pytest.mark.rule("ARC-7", "sequence")
def test_arc7_a_return_dated_in_the_future_leaves_the_loan_overdue(app):
    lent = now() - 10 * DAY
    loan = make(models.Loan, lent_at=lent, due_at=lent + 3 * DAY)
    assert loan.id in ids(archives.overdue_loans())
    models.Loan.update(returned_at=now() + 30 * DAY).where(models.Loan.id == loan.id).execute()
    assert loan.id in ids(archives.overdue_loans())


@pytest.mark.rule("ARC-8", "sequence")
def test_arc8_a_handover_dated_in_the_future_is_not_made(app):
    event = clock.local_today() - 30 * DAY
    handover = make(models.Handover, kind="project", event_on=event)
    assert handover.id in ids(archives.late_handovers())
    models.Handover.update(handed_on=clock.local_today() + 30 * DAY).where(models.Handover.id == handover.id).execute()
    assert handover.id in ids(archives.late_handovers())


@pytest.mark.rule("ARC-12", "sequence")
def test_arc12_an_inspection_dated_in_the_future_does_not_count(app):
    models.Inspection.insert(on=clock.local_today() + 30 * DAY, findings="", repairs="",
                             created_at=now(), updated_at=now(), version=1).execute()
    assert archives.inspection_due() == (True, None)


# ---------------------------------------------------------------- visits, partners, QC, attendance
def test_vis2_a_report_dated_in_the_future_is_still_missing(app):
    visit = make(models.Visit, visited_on=clock.local_today() - 10 * DAY)
    models.Visit.update(report_submitted_on=clock.local_today() + 3 * DAY).where(models.Visit.id == visit.id).execute()
    assert visit.id in ids(customers.reports_late())


@pytest.mark.rule("VIS-4", "sequence")
def test_vis4_a_partner_visit_dated_in_the_future_does_not_count(app):
    partner = make(models.Partner, region="out_of_town", admission_status="admitted",
                   last_visit_on=clock.local_today() - 400 * DAY)
    assert partner.id in ids(customers.partner_visit_overdue())
    models.Partner.update(last_visit_on=clock.local_today() + 30 * DAY).where(
        models.Partner.id == partner.id).execute()
    assert partner.id in ids(customers.partner_visit_overdue())


@pytest.mark.rule("QC-1", "sequence")
def test_qc1_an_activity_dated_in_the_future_does_not_count(app):
    group = make(models.QCGroup, registered_on=clock.local_today() - 400 * DAY)
    assert group.id in ids(policies.qc.inactive())
    models.QCActivity.insert(group=group.id, on=clock.local_today() + 10 * DAY, minutes="",
                             created_at=now(), updated_at=now(), version=1).execute()
    assert group.id in ids(policies.qc.inactive())
