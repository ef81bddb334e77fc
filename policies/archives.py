"""Rules of the archive area: loans, handovers, fines, inspections, title deeds (000 篇二/篇八, 001 第6篇)."""
import datetime

from playhouse.signals import pre_save

import models
from policies.engine import BLOCK
from policies.engine import rule

ARC_1 = rule(
    "ARC-1", "借阅期限", "000 篇二 第19条5", BLOCK, settings={"max_days": 3},
    labels={"max_days": "最长借阅天数"},
    quote="借閱者把借閱的資料的名稱、份數(shù)、借閱時間、理由等在客戶資料外借登記冊上填寫清楚,并簽字確認,客戶資料借閱時間不得超過三天。",
)


@pre_save(sender=models.BorrowRequest, name="ARC-1/request")
def borrow_days_within_limit(sender, instance, created):
    """Refuse a borrow request for more days than the limit."""
    if not ARC_1.on():
        return
    limit = ARC_1.get("max_days")
    if instance.days is not None and instance.days > limit:
        ARC_1.refuse(instance, f"借阅期限不得超过 {limit} 天", field="days")


@pre_save(sender=models.Loan, name="ARC-1")
def loan_period_within_limit(sender, instance, created):
    """Refuse a loan whose due time is more than the limit after lending."""
    if not ARC_1.on() or instance.lent_at is None or instance.due_at is None:
        return
    limit = ARC_1.get("max_days")
    if instance.due_at - instance.lent_at > datetime.timedelta(days=limit):
        ARC_1.refuse(instance, f"借阅期限不得超过 {limit} 天", field="due_at")
