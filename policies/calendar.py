"""Local time and working days: the office's zone, weekends and the holiday calendar
(法定节假日 and 调休上班 days). Stored datetimes are naive UTC; days and months are local."""
import datetime

import clock
import models


# The time helpers live below the schema and the rules (clock.py); re-exported here for older imports.
from clock import add_months  # noqa: F401
from clock import local_midnight  # noqa: F401
from clock import local_today  # noqa: F401
from clock import months_before  # noqa: F401
from clock import set_zone  # noqa: F401
from clock import to_local  # noqa: F401
from clock import to_utc  # noqa: F401


def __getattr__(name):
    """Read the office's zone where it lives now (``set_zone`` replaces it in clock)."""
    if name == "LOCAL_ZONE":
        return clock.LOCAL_ZONE
    raise AttributeError(name)


def overrides_between(start, end):
    """Return {day: 'holiday' | 'workday'} of the holiday calendar between two dates (one query)."""
    return _overrides(start, end)


def _overrides(start, end):
    rows = models.Holiday.select(models.Holiday.day, models.Holiday.kind).where(
        models.Holiday.day.between(start, end))
    return {day: kind for day, kind in rows.tuples()}


def is_working_day(day, overrides=None):
    """Return True when ``day`` is a working day (make-up workdays count, public holidays do not)."""
    if overrides is None:
        overrides = _overrides(day, day)
    kind = overrides.get(day)
    if kind == "workday":
        return True
    if kind == "holiday":
        return False
    return day.weekday() < 5


def add_working_days(day, count, overrides=None):
    """Return the date ``count`` working days after ``day`` (``day`` itself not counted).

    ``overrides`` ({day: kind} of the holiday calendar over the span) spares the query when many dates are counted.
    """
    if isinstance(day, datetime.datetime):
        day = day.date()
    if overrides is None:
        overrides = _overrides(day, day + datetime.timedelta(days=count * 3 + 30))
    current = day
    remaining = count
    while remaining > 0:
        current += datetime.timedelta(days=1)
        if is_working_day(current, overrides):
            remaining -= 1
    return current


# The State Council's 2026 schedule (国办发明电〔2025〕号通知); an admin corrects it on the 节假日安排 screen.
HOLIDAYS_2026 = (
    ("元旦", ("2026-01-01", "2026-01-03"), ("2026-01-04",)),
    ("春节", ("2026-02-15", "2026-02-23"), ("2026-02-14", "2026-02-28")),
    ("清明节", ("2026-04-04", "2026-04-06"), ()),
    ("劳动节", ("2026-05-01", "2026-05-05"), ("2026-05-09",)),
    ("端午节", ("2026-06-19", "2026-06-21"), ()),
    ("中秋节", ("2026-09-25", "2026-09-27"), ()),
    ("国庆节", ("2026-10-01", "2026-10-07"), ("2026-09-20", "2026-10-10")),
)


def seed_holidays(schedule=HOLIDAYS_2026):
    """Fill the holiday calendar once (only when it is empty)."""
    if models.Holiday.select().exists():
        return 0
    count = 0
    with models.db.atomic():
        for name, (first, last), workdays in schedule:
            day = datetime.date.fromisoformat(first)
            end = datetime.date.fromisoformat(last)
            while day <= end:
                models.Holiday.create(day=day, kind="holiday", name=name)
                day += datetime.timedelta(days=1)
                count += 1
            for workday in workdays:
                models.Holiday.create(day=datetime.date.fromisoformat(workday), kind="workday", name=f"{name}调休上班")
                count += 1
    return count
