"""Time, below the schema and the rules: the stored form (naive UTC), the office's zone and calendar months.

Both ``models`` and ``policies`` lean on this module; it imports neither.
"""
import calendar as month_calendar
import datetime
from zoneinfo import ZoneInfo

# The office's time zone; create_app sets it from the TIMEZONE setting.
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")


def utcnow():
    """Return the current UTC time as a naive datetime (the stored form)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def set_zone(name):
    """Use ``name`` (e.g. Asia/Shanghai) as the office's time zone."""
    global LOCAL_ZONE
    LOCAL_ZONE = ZoneInfo(name)


def to_local(value):
    """Convert a stored naive-UTC datetime into naive local time."""
    if value is None:
        return None
    return value.replace(tzinfo=datetime.timezone.utc).astimezone(LOCAL_ZONE).replace(tzinfo=None)


def to_utc(value):
    """Convert a naive local datetime into the stored naive-UTC form."""
    if value is None:
        return None
    return value.replace(tzinfo=LOCAL_ZONE).astimezone(datetime.timezone.utc).replace(tzinfo=None)


def local_today(now=None):
    """Return today's local date (``now`` is naive UTC, default the current time)."""
    return to_local(now or utcnow()).date()


def local_midnight(day):
    """Return the stored (naive UTC) form of 00:00 local time on ``day``."""
    return to_utc(datetime.datetime.combine(day, datetime.time()))


def add_months(day, months):
    """Return the same day ``months`` calendar months later (negative: earlier), clamped to the month's end."""
    index = day.year * 12 + day.month - 1 + int(months)
    year, month = divmod(index, 12)
    month += 1
    return datetime.date(year, month, min(day.day, month_calendar.monthrange(year, month)[1]))


def months_before(day, months):
    """Return the same day ``months`` calendar months before ``day``."""
    return add_months(day, -int(months))
