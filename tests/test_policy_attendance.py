"""Attendance rules: late fines, lateness counted as absence, the 4th absence day in a month."""
import datetime
import decimal

import pytest

import models
import policies
from conftest import submit
from factories import form_data
from factories import make
from factories import view_for

NOV = datetime.date(2026, 11, 2)


def attend(user, day, **fields):
    return make(models.Attendance, user=user, day=day, **fields)


def stored(row):
    return models.Attendance.get_by_id(row.id)


@pytest.mark.rule("ATT-1", "boundary")
def test_att1_29_minutes_is_29_yuan_30_is_an_absence(app):
    user = make(models.User, username="chidao")
    late = stored(attend(user, NOV, minutes_late=29))
    assert (late.absent, late.fine) == (False, decimal.Decimal("29.00"))
    absent = stored(attend(user, NOV + datetime.timedelta(days=1), minutes_late=30))
    assert (absent.absent, absent.fine) == (True, decimal.Decimal("100.00"))
    on_time = stored(attend(user, NOV + datetime.timedelta(days=2)))
    assert (on_time.absent, on_time.fine) == (False, decimal.Decimal("0.00"))
    whole_day = stored(attend(user, NOV + datetime.timedelta(days=3), absent=True))
    assert whole_day.fine == decimal.Decimal("100.00")
    events = models.RuleEvent.select().where(models.RuleEvent.rule == "ATT-1", models.RuleEvent.kind == "compute")
    assert events.count() == 3


def test_att1_fine_follows_a_correction(app):
    row = attend(make(models.User, username="gaizheng"), NOV, minutes_late=12)
    row.minutes_late = 5
    row.save()
    assert stored(row).fine == decimal.Decimal("5.00")


def test_att1_form_computes_the_fine(app, admin_client):
    user = make(models.User, username="biaodan")
    data = form_data(view_for(app, models.Attendance),
                     models.Attendance(user=user, day=NOV, minutes_late=29, absent=False))
    response = submit(admin_client, "/admin/attendance/new/", data)
    assert response.status_code == 302
    assert models.Attendance.get().fine == decimal.Decimal("29.00")


def test_att1_settings_take_effect_at_once(app):
    user = make(models.User, username="canshu")
    policies.RULES["ATT-1"].configure(per_minute=2, absence_minutes=45)
    row = stored(attend(user, NOV, minutes_late=44))
    assert (row.absent, row.fine) == (False, decimal.Decimal("88.00"))


@pytest.mark.rule("ATT-1", "boundary")
def test_att1_fourth_absence_day_in_a_month_flags_resignation(app):
    three = make(models.User, username="sanci")
    four = make(models.User, username="sici")
    for n in range(3):
        attend(three, NOV + datetime.timedelta(days=n), absent=True)
        attend(four, NOV + datetime.timedelta(days=n), absent=True)
    # Late days and another month's absences do not count towards November.
    attend(three, NOV + datetime.timedelta(days=3), minutes_late=29)
    attend(three, datetime.date(2026, 10, 30), absent=True)
    attend(three, datetime.date(2026, 12, 1), absent=True)
    fourth = attend(four, NOV + datetime.timedelta(days=7), minutes_late=30)
    fifth = attend(four, NOV + datetime.timedelta(days=8), absent=True)
    assert [r.id for r in policies.attendance.resignation_flag().order_by(models.Attendance.id)] == [fourth.id, fifth.id]
    assert [u.username for u in policies.attendance.resigning_users()] == ["sici"]
    assert policies.flags_for(models.Attendance, [fourth.id])[fourth.id][0][0].id == "ATT-1"


def test_att1_flag_badge_on_the_attendance_list(app, admin_client):
    user = make(models.User, username="liebiao", display_name="旷工四天")
    for n in range(4):
        attend(user, NOV + datetime.timedelta(days=n), absent=True)
    html = admin_client.get("/admin/attendance/").get_data(as_text=True)
    assert "ATT-1" in html
