"""Sequences after the fact (edit, back-date, re-categorise) for rules whose own tests walk only the first save."""
import datetime
import decimal

import pytest

import models
import policies
from factories import fresh
from factories import make
from factories import refused
from factories import run
from conftest import make_user

D = decimal.Decimal


@pytest.mark.rule("ARC-1", "sequence")
def test_arc1_raising_a_loans_days_afterwards_is_refused(app):
    request = make(models.BorrowRequest, days=3)
    request = fresh(request)
    request.days = 4
    refused("ARC-1", request.save)
    assert fresh(request).days == 3


@pytest.mark.rule("ARC-13", "sequence")
def test_arc13_moving_a_title_deed_out_of_the_safe_afterwards_is_refused(app):
    make(models.ArchiveFile, number="鸿借字第009号", title="项目档案", kind="project")
    deed = make(models.ArchiveFile, number="鸿借字第009号-权证", title="不动产权证", kind="title_deed", location="safe")
    deed = fresh(deed)
    deed.location = "cabinet"
    refused("ARC-13", deed.save)
    assert fresh(deed).location == "safe"


@pytest.mark.rule("CMP-2", "sequence")
def test_cmp2_correcting_the_receipt_time_moves_the_close_deadline(app):
    received = datetime.datetime(2026, 3, 2, 1, 0)
    item = make(models.Complaint, complainant="张先生", content="内容", category="service", received_at=received)
    run(fresh(item), "correct", make_user("jingli", roles=("manager",)), field="received_at",
        value=received - datetime.timedelta(days=2), reason="受理时间录入错误")
    assert fresh(item).due_at == received + datetime.timedelta(days=5)


@pytest.mark.rule("CRD-4", "sequence")
def test_crd4_unticking_prepaid_afterwards_without_a_credit_line_is_refused(app):
    shipment = make(models.Shipment, prepaid=True, amount=D("100"), shipped_on=datetime.date(2026, 6, 1))
    shipment = fresh(shipment)
    shipment.prepaid = False
    refused("CRD-4", shipment.save)
    assert fresh(shipment).prepaid


@pytest.mark.rule("RCP-1", "sequence")
def test_rcp1_raising_the_cost_afterwards_beyond_the_cap_is_refused(app):
    row = make(models.Reception, visitor_org="来访团", guest_class="D", guests=2, companions=1,
               cost_per_person=D("150"))
    row = fresh(row)
    row.cost_per_person = D("150.01")
    refused("RCP-1", row.save)
    row = fresh(row)
    row.guest_class = "A"  # re-classed: the A cap applies
    row.cost_per_person = D("500")
    row.save()
    row = fresh(row)
    row.guest_class = "D"  # back to D with the A cost: refused
    refused("RCP-1", row.save)


@pytest.mark.rule("SRV-2", "sequence")
def test_srv2_clearing_the_new_terminal_afterwards_is_refused(app):
    order = make(models.ServiceOrder, kind="repair", old_terminal_no="ZD1000000001", new_terminal_no="ZD1000000002")
    order = fresh(order)
    order.new_terminal_no = ""
    refused("SRV-2", order.save)


@pytest.mark.rule("ATT-1", "sequence")
def test_att1_correcting_minutes_late_recomputes_the_fine_and_the_resignation_flag(app):
    user = make(models.User)
    days = [make(models.Attendance, user=user, day=datetime.date(2026, 3, d), minutes_late=30) for d in (2, 3, 4, 5)]
    assert {row.id for row in policies.attendance.resignation_flag()} == {days[3].id}
    last = fresh(days[3])
    last.minutes_late = 5  # typed wrongly: five minutes, not thirty
    last.save()
    assert fresh(last).fine == D("5") and not fresh(last).absent
    assert list(policies.attendance.resignation_flag()) == []
