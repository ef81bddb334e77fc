"""Rules of the move-out area: the checklist and the three departments' sign-off (001 第3篇)."""
from playhouse.signals import post_save
from playhouse.signals import pre_save

import models
from policies import approvals
from policies.engine import BLOCK
from policies.engine import rule

MOV_1 = rule(
    "MOV-1", "客户迁出会签", "001 第3篇 三/四", BLOCK,
    quote="客戶服務部收到申請表后,通知工程部、保安部驗房,共同填寫客戶遷出申請表,并交到財務部(單元內若有損壞,應注明地點及應賠金額)。",
    reading="交回单元钥匙、客户出入证,租有车位时交回车位锁钥匙、停车卡并退车位;结清欠费和损坏赔偿;房屋复原或经协议保留装修;工程、财务、保安三部门只能通过审批签字。",
)

# What must hold before customer service closes a move-out (三 管理标准 2–6, 四 工作流程 2–4): (field, message,
# applies(instance)). Parking items only when the tenant rents parking (6、如客戶租有車位); the compensation
# only when damage was assessed; the unit restored unless its decoration is kept by agreement.
CHECKLIST = (
    ("keys_returned", "单元钥匙尚未交回", None),
    ("customer_card_returned", "客户出入证(客户卡)尚未交回", None),
    ("parking_lock_key_returned", "车位锁钥匙尚未交回", lambda m: m.has_parking),
    ("parking_card_returned", "停车卡尚未交回", lambda m: m.has_parking),
    ("parking_released", "车位退租手续尚未办理", lambda m: m.has_parking),
    ("arrears_cleared", "客户尚有拖欠费用未结清", None),
    ("damage_settled", "单元损坏赔偿尚未结清", lambda m: (m.damage_amount or 0) > 0),
    ("unit_restored", "房态尚未按物业要求恢复(或经协议保留装修)", lambda m: not m.decoration_kept),
    ("engineering_signed", "工程部尚未验房签字", None),
    ("finance_signed", "财务部尚未结算签字", None),
    ("security_signed", "保安部尚未检查签字", None),
)
# Role codes of the three departments that sign a move-out in parallel (四 工作流程 3–4), and the
# checklist flag each one's approval ticks. The departments are roles so that a sign-off clerk, not
# only the department's manager, may sign; the three Approval rows are all step 1 (CHAINS, parallel).
SIGN_OFF_ROLES = ["engineering", "finance", "security"]
SIGN_OFF_FLAGS = {"engineering": "engineering_signed", "finance": "finance_signed", "security": "security_signed"}


@pre_save(sender=models.MoveOut, name="MOV-1")
def complete_after_checklist(sender, instance, created):
    """Refuse completing a move-out before every checklist item and sign-off is done."""
    if not MOV_1.on() or instance.status != "completed":
        return
    for name, message, applies in CHECKLIST:
        if (applies is None or applies(instance)) and not getattr(instance, name):
            MOV_1.refuse(instance, f"{message}，不能办结迁出", field=name)


@pre_save(sender=models.MoveOut, name="MOV-1/signatures")
def signatures_only_through_approvals(sender, instance, created):
    """Refuse ticking or clearing a department's signature outside that department's approval."""
    if not MOV_1.on() or approvals.DECIDING.get():
        return
    stored = None if created or instance.id is None else models.MoveOut.get_or_none(models.MoveOut.id == instance.id)
    for role, name in SIGN_OFF_FLAGS.items():
        before = bool(getattr(stored, name)) if stored is not None else False
        if bool(getattr(instance, name)) != before:
            label = getattr(models.MoveOut, name).verbose_name
            MOV_1.refuse(instance, f"“{label}”只能由该部门在审批中签署", field=name)


@pre_save(sender=models.MoveOut, name="MOV-1/signing")
def note_signing_starts(sender, instance, created):
    """Note whether this save moves the move-out into signing."""
    instance.__dict__.pop("_mov1_signing", None)
    if not MOV_1.on() or instance.status != "signing":
        return
    stored = None if instance.id is None else models.MoveOut.get_or_none(models.MoveOut.id == instance.id)
    if stored is None or stored.status != "signing":
        instance.__dict__["_mov1_signing"] = True


@post_save(sender=models.MoveOut, name="MOV-1/approve")
def signing_asks_three_departments(sender, instance, created):
    """Ask engineering, finance and security to sign the move-out."""
    if instance.__dict__.pop("_mov1_signing", False):
        approvals.require(instance, "MOV-1", SIGN_OFF_ROLES,
                          summary=f"{instance.tenant.name} {instance.unit} 迁出会签"[:255])


def department_signed(move_out, approval):
    """Tick the flag of the department whose sign-off was just approved (MOV-1)."""
    setattr(move_out, SIGN_OFF_FLAGS[approval.required_role], True)
    move_out.save()


def sign_off_undone(move_out, user):
    """Return the move-out to requested and clear the sign-offs; signing again asks all three anew (MOV-1)."""
    move_out.status = "requested"
    for name in SIGN_OFF_FLAGS.values():
        setattr(move_out, name, False)
    move_out.save()


# Once all three signed, the move-out stays 会签中 until customer service completes it (the
# checklist above still applies). A rejection by any department, or a withdrawal, ends the round.
approvals.on_step("MOV-1", department_signed)
approvals.on_outcome(models.MoveOut, rejected=sign_off_undone, withdrawn=sign_off_undone)
