"""Rules of attendance: late fines, absence and automatic resignation (001 第2篇 一)."""
import decimal

from playhouse.signals import post_save
from playhouse.signals import pre_save

import backend
import models
from policies.calendar import local_today
from policies.engine import COMPUTE
from policies.engine import expose
from policies.engine import flag
from policies.engine import rule

ATT_1 = rule(
    "ATT-1", "迟到与旷工处罚", "001 第2篇 一", COMPUTE,
    settings={"per_minute": 1, "absence_minutes": 30, "absence_fine": 100, "max_absence_days": 3},
    labels={"per_minute": "迟到每分钟罚款(元)", "absence_minutes": "迟到按旷工处理的分钟数",
            "absence_fine": "旷工每天罚款(元)", "max_absence_days": "每月旷工天数上限(超过视为自动离职)"},
    quote="上班時不得遲到、早退,每遲到1分鐘罰款1元,遲到30分鐘報綜合辦,按曠工處罰;2、曠工一天罰款100元,1個月內曠工3天,第4天起視為自動離職;",
)


def _money(value):
    return decimal.Decimal(str(value)).quantize(decimal.Decimal("0.01"))


@pre_save(sender=models.Attendance, name="ATT-1")
def compute_fine(sender, instance, created):
    """Compute absence and the fine from the minutes late."""
    instance.__dict__.pop("_att1_computed", None)
    if not ATT_1.on():
        return
    settings = ATT_1.settings()
    minutes = instance.minutes_late or 0
    marked = bool(instance.absent)
    stored = None if created or instance._pk is None else models.Attendance.get_or_none(
        models.Attendance.id == instance._pk)
    if (marked and stored is not None and stored.absent and (stored.minutes_late or 0) >= settings["absence_minutes"]
            and minutes != stored.minutes_late):
        # The stored absence came from the minutes late; corrected minutes decide it again.
        marked = False
    absent = marked or minutes >= settings["absence_minutes"]
    per_minute = decimal.Decimal(str(settings["per_minute"]))
    fine = _money(settings["absence_fine"]) if absent else _money(minutes * per_minute)
    before = (bool(instance.absent), None if instance.fine is None else _money(instance.fine))
    instance.absent = absent
    instance.fine = fine
    if before != (absent, fine) or (created and fine > 0):
        instance.__dict__["_att1_computed"] = True


@post_save(sender=models.Attendance, name="ATT-1/record")
def record_fine(sender, instance, created):
    """Count the fines ATT-1 computed."""
    if instance.__dict__.pop("_att1_computed", False):
        note = "旷工" if instance.absent else f"迟到 {instance.minutes_late} 分钟"
        ATT_1.record(COMPUTE, instance, note=f"{note}，罚款 {instance.fine} 元")


def resignation_flag(today=None):
    """Return the absence days from the 4th of one user in one calendar month on (ATT-1)."""
    Attendance = models.Attendance
    limit = ATT_1.get("max_absence_days")
    counts = {}
    ids = []
    # Only days that have come count as absences.
    rows = (Attendance.select(Attendance.id, Attendance.user, Attendance.day)
            .where(Attendance.absent == True, Attendance.day <= (today or local_today()))  # noqa: E712
            .order_by(Attendance.user, Attendance.day).tuples())
    for pk, user_id, day in rows:
        key = (user_id, day.year, day.month)
        counts[key] = counts.get(key, 0) + 1
        if counts[key] > limit:
            ids.append(pk)
    return Attendance.select().where(backend.among(Attendance.id, ids))


def resigning_users(today=None):
    """Return the users with a 4th absence day in one calendar month (ATT-1: automatic resignation)."""
    return models.User.select().where(models.User.id.in_(resignation_flag(today).select(models.Attendance.user)))


flag(ATT_1, models.Attendance, resignation_flag, badge="danger", name="resignation_flag")
expose(models.Attendance, "resigning_users", resigning_users)
