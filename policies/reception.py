"""Rules of the reception area: cost caps, companions, important gifts (000 篇六 三)."""
import decimal

from playhouse.signals import post_save
from playhouse.signals import pre_save

import models
from policies import approvals
from policies import workflow
from policies.engine import APPROVE
from policies.engine import BLOCK
from policies.engine import COMPUTE
from policies.engine import rule

RCP_1 = rule(
    "RCP-1", "接待费用标准", "000 篇六 三1", BLOCK,
    settings={"cap_a": 500, "cap_b": 300, "cap_c": 200, "cap_d": 150},
    labels={"cap_a": "A类人均费用上限(元)", "cap_b": "B类人均费用上限(元)",
            "cap_c": "C类人均费用上限(元)", "cap_d": "D类人均费用上限(元)"},
    quote="a類客戶由公司高層接待,費用應(yīng)該控制在500元/人;b類客戶由部門總監(jiān)接待,費用應(yīng)控制在300元左右/人;"
          "c類客戶由部門經(jīng)理接待,應(yīng)控制在200元左右/人;d類客戶由部門主管或業(yè)務(wù)負責(zé)人接待,費用應(yīng)控制在150元/人。",
)

RCP_2 = rule(
    "RCP-2", "陪同人数", "000 篇六 三2", COMPUTE,
    settings={"medium_from": 5, "large_above": 10, "small": 1, "medium": 2, "large": 3},
    labels={"medium_from": "中型来访起始人数", "large_above": "大型来访人数(超过)", "small": "小型来访最多陪同人数",
            "medium": "中型来访最多陪同人数", "large": "大型来访默认陪同人数(可更多)"},
    quote="在諸如飯局、娛樂等客戶服務(wù)項目中,原則上客戶在5人以下的,公司派1人陪同;5至10人的,公司派2人陪同;"
          "10人以上的,公司可派3人以上陪同。",
    reading="陪同人数上限:少于 5 位客人最多 1 人,5–10 位最多 2 人,10 位以上不限(默认 3 人)。",
)

# The source sends important gifts to the executive committee chair; the console asks the gm.
# It names no amount: 1,000 yuan is DOMAIN.md's default for an "important" gift.
RCP_3 = rule(
    "RCP-3", "重要礼品审批", "000 篇六 三3", APPROVE, settings={"gift_limit": 1000},
    labels={"gift_limit": "需总经理审批的礼品价值(超过,元)"},
    quote="公司的客戶送禮由各部門主管負責(zé)安排,原則上禮品應(yīng)符合客戶品味、價格合理、能代表公司形象等,重要禮品需報執(zhí)行委員會主席。",
)

CAP_SETTING = {"A": "cap_a", "B": "cap_b", "C": "cap_c", "D": "cap_d"}
# Statuses of a reception that went ahead: its gift was approved (or needed no approval).
GIFT_CLEARED = ("approved", "done")


def max_companions(guests):
    """Return the most companions the company may send with ``guests`` visitors (None: no cap, RCP-2)."""
    settings = RCP_2.settings()
    if (guests or 0) > settings["large_above"]:
        return None
    return required_companions(guests)


def required_companions(guests):
    """Return the companions RCP-2 assigns by default to ``guests`` visitors (a cap up to 10 guests)."""
    settings = RCP_2.settings()
    guests = guests or 0
    if guests < settings["medium_from"]:
        return settings["small"]
    if guests <= settings["large_above"]:
        return settings["medium"]
    return settings["large"]


def _amount(value):
    return decimal.Decimal(str(value if value is not None else 0))


@pre_save(sender=models.Reception, name="RCP-1")
def cost_per_person_within_cap(sender, instance, created):
    """Refuse a reception whose cost per person exceeds its class's cap."""
    if not RCP_1.on():
        return
    setting = CAP_SETTING.get(instance.guest_class)
    if setting is None:
        return
    cap = _amount(RCP_1.get(setting))
    if _amount(instance.cost_per_person) > cap:
        RCP_1.refuse(instance, f"{instance.guest_class}类接待人均费用不得超过 {cap.normalize():f} 元", field="cost_per_person")


# "客戶在5人以下的,公司派1人陪同;5至10人的,公司派2人陪同;10人以上的,公司可派3人以上陪同" is cost control: the
# company sends at most 1 (fewer than 5 guests) or 2 (5 to 10); with more than 10 guests 3 or more may go.
@pre_save(sender=models.Reception, name="RCP-2")
def companions_per_guests(sender, instance, created):
    """Compute the companions when left empty; refuse more than the guests allow."""
    if not RCP_2.on():
        return
    instance.__dict__.pop("_rcp2_computed", None)
    if not instance.companions:
        instance.companions = required_companions(instance.guests)
        instance.__dict__["_rcp2_computed"] = True
        return
    cap = max_companions(instance.guests)
    if cap is not None and instance.companions > cap:
        RCP_2.refuse(instance, f"来宾 {instance.guests} 人，公司陪同人员最多 {cap} 人", field="companions")


@pre_save(sender=models.Reception, name="RCP-3/pending")
def important_gift_waits(sender, instance, created):
    """Make a reception pending when its gift over the limit lacks the gm's approval; refuse marking it done."""
    instance.__dict__.pop("_rcp3_asks", None)
    # The engine's own outcome writes (approved, rejected, withdrawn) never ask again.
    if not RCP_3.on() or approvals.DECIDING.get():
        return
    limit = _amount(RCP_3.get("gift_limit"))
    if not _gift_needs_gm(instance, limit):
        return
    if instance.status == "done":
        RCP_3.refuse(instance, f"礼品价值超过 {limit.normalize():f} 元且未经总经理批准，不能标记为已完成", field="status")
        return
    instance.status = "pending"
    instance.__dict__["_rcp3_asks"] = True


def _gift_needs_gm(instance, limit):
    """Return True when this save leaves a gift over ``limit`` that the gm has not approved (RCP-3).

    A gift stands once the gm approved it, as long as it is not raised above the approved value; raising it
    above asks again. After a rejection or a withdrawal the reception is planned again and saving it with the
    gift still over the limit is the resubmission: it asks the gm again. Lowering the gift asks nobody.
    """
    if _amount(instance.gift_value) <= limit:
        return False
    stored = None if instance.id is None else models.Reception.get_or_none(models.Reception.id == instance.id)
    if stored is None:
        return True
    approved = workflow.approved_value(instance, "gift_value")
    ceiling = max(_amount(stored.gift_value), approved) if approved is not None else _amount(stored.gift_value)
    if _amount(instance.gift_value) > ceiling:
        return True
    # Receptions that went ahead before RCP-3 was switched on keep their gift.
    return latest_gift_approval(instance) != "approved" and stored.status not in GIFT_CLEARED


def latest_gift_approval(reception):
    """Return the status of the latest RCP-3 request of ``reception``, or None if never asked."""
    latest = (models.Approval.select(models.Approval.status)
              .where(models.Approval.target_model == "Reception", models.Approval.target_id == reception.id,
                     models.Approval.rule == "RCP-3")
              .order_by(models.Approval.id.desc()).first())
    return latest.status if latest is not None else None


@post_save(sender=models.Reception, name="RCP-2/record")
def record_companions(sender, instance, created):
    """Count the companions RCP-2 filled in."""
    if instance.__dict__.pop("_rcp2_computed", False):
        RCP_2.record(COMPUTE, instance, note=f"来宾 {instance.guests} 人，陪同 {instance.companions} 人")


@post_save(sender=models.Reception, name="RCP-3")
def important_gift_needs_gm(sender, instance, created):
    """Ask the gm to approve a gift worth more than the limit."""
    if instance.__dict__.pop("_rcp3_asks", False):
        approvals.require(instance, "RCP-3", ["gm"],
                          summary=f"{instance.visitor_org} 接待礼品「{instance.gifts}」价值 {instance.gift_value} 元"[:255])


def gift_approved(reception, user):
    """Confirm the reception once the gm approved its gift (RCP-3)."""
    reception.status = "approved"
    reception.save()


def gift_not_approved(reception, user):
    """Return the reception to planned with its gift unapproved after a rejection or withdrawal (RCP-3)."""
    reception.status = "planned"
    reception.save()


# A planned reception with an unapproved gift cannot be marked done: lower the gift, or save it
# again to resubmit it to the gm.
approvals.on_outcome(models.Reception, approved=gift_approved, rejected=gift_not_approved,
                     withdrawn=gift_not_approved)
