"""Rules of QC groups: meet at least monthly, never pause more than half a year (001 第9篇 第五条)."""
import models
from policies.calendar import local_today
from policies.calendar import months_before
from policies.engine import FLAG
from policies.engine import flag
from policies.engine import rule

# The source says "每月應不少于一次" without a setting of its own: one month is the meeting interval.
QC_1 = rule(
    "QC-1", "QC小组活动频次", "001 第9篇 第五条", FLAG,
    settings={"meeting_months": 1, "max_pause_months": 6},
    labels={"meeting_months": "活动间隔上限(月)", "max_pause_months": "停止活动上限(月)"},
    quote="各質量管理(qc)小組停止活動不得超過半年,如遇特殊情需及時向公司綜合部進行原因說明。",
)


def inactive(today=None):
    """Return the groups with no activity in the last month (QC-1: meet at least monthly)."""
    today = today or local_today()
    return models.QCGroup.quiet_since(months_before(today, QC_1.get("meeting_months")))


def paused_too_long(today=None):
    """Return the groups with no activity for more than 6 months (QC-1)."""
    today = today or local_today()
    return models.QCGroup.quiet_since(months_before(today, QC_1.get("max_pause_months")))


flag(QC_1, models.QCGroup, inactive, badge="warning", name="inactive")
flag(QC_1, models.QCGroup, paused_too_long, badge="danger", name="paused_too_long")
