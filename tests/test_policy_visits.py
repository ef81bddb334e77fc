"""Return-visit rules at their boundaries: on-site frequency by tier (VIS-5), the quarterly report (VIS-6)."""
import datetime

import pytest

import models
import policies
from conftest import make_user
from factories import fresh
from factories import make
from policies import visits

TODAY = datetime.date(2026, 6, 30)
OLD = datetime.datetime(2024, 1, 1)


@pytest.fixture
def people(app):
    return dict(
        gm=make_user("v_gm", roles=("gm",)),
        deputy=make_user("v_deputy", roles=("deputy",)),
        manager=make_user("v_manager", roles=("manager",)),
        sales=make_user("v_sales", roles=("sales",)),
    )


def customer(tier, created_at=OLD):
    row = make(models.Customer, tier=tier)
    row.created_at = created_at
    row.save()
    return row


def visit(row, by, on, kind="return", **fields):
    return make(models.Visit, customer=row, visited_by=by, visited_on=on, kind=kind, **fields)


def overdue(today=TODAY):
    return {row.id for row in visits.return_visit_overdue(today)}


@pytest.mark.rule("VIS-5", "boundary")
def test_vis5_key_customer_needs_a_managers_visit_within_12_months(app, people):
    key = customer("key")
    assert key.id in overdue()
    visit(key, people["sales"], datetime.date(2026, 1, 5))
    assert key.id in overdue()  # the salesperson's visit does not count for a key customer
    on_the_day = visit(key, people["manager"], datetime.date(2025, 6, 30))
    assert key.id not in overdue()
    assert key.id in overdue(datetime.date(2026, 7, 1))
    # Back-dating the visit after the fact brings the flag back.
    on_the_day = fresh(on_the_day)
    on_the_day.visited_on = datetime.date(2025, 6, 29)
    on_the_day.save()
    assert key.id in overdue()


def test_vis5_strategic_needs_a_manager_and_the_gm(app, people):
    strategic = customer("strategic")
    visit(strategic, people["deputy"], datetime.date(2026, 3, 1))
    assert strategic.id in overdue()  # the GM has not been
    gm_visit = visit(strategic, people["gm"], datetime.date(2026, 4, 1))
    assert strategic.id not in overdue()
    gm_visit.delete_instance()
    assert strategic.id in overdue()
    # The GM's visit also counts as a visit by a manager or above.
    only_gm = customer("strategic")
    visit(only_gm, people["gm"], datetime.date(2026, 4, 1))
    assert only_gm.id not in overdue()


@pytest.mark.rule("VIS-5", "boundary")
def test_vis5_general_customer_the_salesperson_every_24_months_failing_a_manager(app, people):
    general = customer("general")
    assert general.id in overdue()
    visit(general, people["sales"], datetime.date(2024, 6, 30))
    assert general.id not in overdue()  # 24 months to the day
    assert general.id in overdue(datetime.date(2026, 7, 1))
    visit(general, people["manager"], datetime.date(2025, 7, 1))
    assert general.id not in overdue(datetime.date(2026, 7, 1))


def test_vis5_only_return_visits_that_happened_count_and_new_customers_owe_nothing(app, people):
    key = customer("key")
    visit(key, people["manager"], datetime.date(2026, 6, 1), kind="visit")
    visit(key, people["manager"], datetime.date(2026, 7, 15))  # planned, not done yet
    assert key.id in overdue()
    fresh_key = customer("key", created_at=datetime.datetime(2025, 7, 2))
    assert fresh_key.id not in overdue()
    reserve = customer("reserve")
    assert reserve.id not in overdue()


def test_vis5_visitor_defaults_to_the_plans_owner_and_is_a_flag(app, people):
    key = customer("key")
    plan = make(models.VisitPlan, owner=people["manager"], month="2026-05")
    visit(key, None, datetime.date(2026, 5, 20), plan=plan)
    assert key.id not in overdue()
    policies.RULES["VIS-5"].configure(key_months=1)
    assert key.id in overdue()
    marks = policies.flags_for(models.Customer, [key.id])
    assert "VIS-5" in [r.id for r, _ in marks.get(key.id, [])]


@pytest.mark.rule("VIS-6", "boundary")
def test_vis6_quarterly_report_counts_planned_done_results_and_open(app, people):
    key = customer("key")
    plan = make(models.VisitPlan, owner=people["sales"], month="2026-06")
    visit(key, people["sales"], datetime.date(2026, 6, 10), plan=plan, report="客户对交付周期满意,提出包装改进。")
    visit(key, people["sales"], datetime.date(2026, 6, 20), plan=plan)
    visit(key, people["sales"], datetime.date(2026, 6, 29), plan=plan)
    visit(key, people["manager"], datetime.date(2026, 4, 2))  # unplanned, done in the quarter
    visit(key, people["manager"], datetime.date(2026, 3, 31))  # the quarter before
    report = visits.return_visit_report(2026, 2, today=datetime.date(2026, 6, 25))
    assert (report["start"], report["end"]) == (datetime.date(2026, 4, 1), datetime.date(2026, 6, 30))
    assert (report["planned"], report["done"], report["done_of_planned"]) == (3, 3, 2)
    assert [r[2] for r in report["results"]] == ["客户对交付周期满意,提出包装改进。"]
    assert report["open"] == [(datetime.date(2026, 6, 29), str(key))]
    assert len(report["without_report"]) == 2
    assert visits.quarter_bounds(2026, 4) == (datetime.date(2026, 10, 1), datetime.date(2026, 12, 31))
