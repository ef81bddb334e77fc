"""QC-1: a QC group meets at least monthly and never pauses for more than six months."""
import datetime

import pytest

import models
import policies
from factories import make
from policies import calendar

TODAY = datetime.date(2026, 11, 15)


def group(topic, registered_on=datetime.date(2025, 1, 10), *activity_days):
    row = make(models.QCGroup, topic=topic, registered_on=registered_on)
    for day in activity_days:
        make(models.QCActivity, group=row, on=day)
    return row


def topics(query):
    return sorted(g.topic for g in query)


def test_qc1_months_before_clamps_to_month_end():
    assert calendar.months_before(TODAY, 1) == datetime.date(2026, 10, 15)
    assert calendar.months_before(TODAY, 6) == datetime.date(2026, 5, 15)
    assert calendar.months_before(datetime.date(2026, 3, 31), 1) == datetime.date(2026, 2, 28)
    assert calendar.months_before(datetime.date(2026, 1, 31), 2) == datetime.date(2025, 11, 30)


@pytest.mark.rule("QC-1", "boundary")
def test_qc1_inactive_after_a_month_without_activity(app):
    group("一个月整", datetime.date(2025, 1, 10), datetime.date(2026, 10, 15))
    group("超过一个月", datetime.date(2025, 1, 10), datetime.date(2026, 10, 14))
    group("从未活动")
    group("新注册", datetime.date(2026, 10, 15))
    group("老注册", datetime.date(2026, 10, 14))
    assert topics(policies.qc.inactive(TODAY)) == ["从未活动", "老注册", "超过一个月"]


@pytest.mark.rule("QC-1", "boundary")
def test_qc1_paused_more_than_six_months(app):
    group("六个月整", datetime.date(2025, 1, 10), datetime.date(2026, 5, 15))
    group("超过六个月", datetime.date(2025, 1, 10), datetime.date(2026, 3, 1), datetime.date(2026, 5, 14))
    group("注册六个月未活动", datetime.date(2026, 5, 15))
    group("注册超过六个月未活动", datetime.date(2026, 5, 14))
    assert topics(policies.qc.paused_too_long(TODAY)) == ["注册超过六个月未活动", "超过六个月"]


def test_qc1_settings_and_flags(app, admin_client):
    paused = group("停滞小组", datetime.date(2025, 1, 10), datetime.date(2026, 2, 1))
    policies.RULES["QC-1"].configure(max_pause_months=10)
    assert topics(policies.qc.paused_too_long(TODAY)) == []
    policies.RULES["QC-1"].configure(max_pause_months=6)
    badges = [badge for _, badge in policies.flags_for(models.QCGroup, [paused.id])[paused.id]]
    assert badges == ["warning", "danger"]
    assert "QC-1" in admin_client.get("/admin/qcgroup/").get_data(as_text=True)
