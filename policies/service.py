"""Rules of the service area: service orders, their approval and replacements (000 篇七)."""
from peewee import ForeignKeyField
from playhouse.signals import post_save
from playhouse.signals import pre_save

import models
from policies import approvals
from policies.engine import APPROVE
from policies.engine import BLOCK
from policies.engine import rule

SRV_1 = rule(
    "SRV-1", "维修服务单审批与登记", "000 篇七 2–3", APPROVE,
    quote="經(jīng)gps事業(yè)部經(jīng)理審批《安裝任務(wù)派工單》和《維修服務(wù)單》,安排合適的維修人員。",
    reading="由录入人所在部门经理审批;录入人是本部门唯一经理时由总经理审批。",
)

SRV_2 = rule(
    "SRV-2", "更换终端与SIM卡登记", "000 篇七 5–6", BLOCK,
    quote="如需返修,維護人員須將車牌號,故障現(xiàn)象寫在紙膠帶上粘貼在終端上,并將原終端號與更新的終端號填寫在《維修服務(wù)單》上。",
)

# 000 篇七 2: what the service desk writes down when a repair call comes in (applied to installs too).
REQUIRED_FIELDS = (
    ("customer", "请填写客户名称"),
    ("address", "请填写具体地址"),
    ("contact_phone", "请填写联系方式"),
    ("product_model", "请填写商品型号"),
    ("purchase_date", "请填写购买日期"),
    ("fault", "请填写故障现象"),
)
# Statuses an order reaches only after the manager approved it.
APPROVED = ("approved", "dispatched", "completed")

# SRV-2: a repair order counts as a replacement (返修换机 / 换卡) as soon as either number of a pair is
# entered; both numbers are then required. An install order records only the new terminal and SIM.
PAIRS = (
    ("old_terminal_no", "new_terminal_no", "更换终端须同时登记原终端号和新终端号"),
    ("old_sim", "new_sim", "更换SIM卡须同时登记原SIM卡号和新SIM卡号"),
)


def _missing(instance, name):
    field = instance._meta.fields[name]
    if isinstance(field, ForeignKeyField):
        return getattr(instance, field.object_id_name) is None
    value = getattr(instance, name)
    return value is None or (isinstance(value, str) and not value.strip())


@pre_save(sender=models.ServiceOrder, name="SRV-1/fields")
def order_records_the_call(sender, instance, created):
    """Refuse a service order missing customer, address, contact, model, purchase date or fault."""
    if not SRV_1.on():
        return
    for name, message in REQUIRED_FIELDS:
        if _missing(instance, name):
            SRV_1.refuse(instance, message, field=name)


@pre_save(sender=models.ServiceOrder, name="SRV-1/dispatch")
def dispatch_after_approval(sender, instance, created):
    """Refuse approving or dispatching an order by hand when the manager has not approved it."""
    if not SRV_1.on() or instance.status not in APPROVED:
        return
    if instance.id is None:
        SRV_1.refuse(instance, "新建服务单须经部门经理审批后方可派工", field="status")
        return
    stored = models.ServiceOrder.get_or_none(models.ServiceOrder.id == instance.id)
    if stored is not None and stored.status in APPROVED:
        return
    latest = latest_request(instance)
    if latest == "pending":
        SRV_1.refuse(instance, "服务单尚待部门经理审批，不能派工", field="status")
    elif latest != "approved":
        SRV_1.refuse(instance, "服务单未获部门经理批准，不能派工", field="status")


def latest_request(order):
    """Return the status of the latest SRV-1 request of ``order``, or None if never asked."""
    latest = (models.Approval.select(models.Approval.status)
              .where(models.Approval.target_model == "ServiceOrder", models.Approval.target_id == order.id,
                     models.Approval.rule == "SRV-1")
              .order_by(models.Approval.id.desc()).first())
    return latest.status if latest is not None else None


@post_save(sender=models.ServiceOrder, name="SRV-1")
def pending_order_needs_manager(sender, instance, created):
    """Ask the recorder's department manager to approve a pending order that no request covers.

    A new order asks at once. After a withdrawal the order is pending again and editable: saving it
    is the resubmission and asks again. A rejected order is cancelled; setting it back to pending
    (待审批) and saving resubmits it.
    """
    # The engine's own outcome writes never ask again.
    if not SRV_1.on() or approvals.DECIDING.get() or instance.status != "pending":
        return
    if latest_request(instance) in ("pending", "approved"):
        return
    # The manager of the department that recorded the order decides (current_actor is a User or an id).
    actor = models.current_actor.get()
    recorder_id = instance.created_by_id or getattr(actor, "id", actor)
    recorder = models.User.get_or_none(models.User.id == recorder_id) if recorder_id else None
    summary = f"{instance.choice_label('kind')}单 {instance.number} {instance.product_model}"[:255]
    if recorder is not None and not _other_manager_exists(recorder):
        # Nobody approves their own order: the department's only manager recorded it, so the GM decides.
        approvals.require(instance, "SRV-1", ["gm"], summary=summary)
        return
    approvals.require(instance, "SRV-1", ["manager"], department=recorder.department_id if recorder else None,
                      summary=summary)


def _other_manager_exists(recorder):
    """Return True when someone other than ``recorder`` may decide as the manager of its department."""
    if recorder.department_id is None:
        return True  # no department: any manager decides
    department = models.Department.get_or_none(models.Department.id == recorder.department_id)
    if department is not None and department.manager_id not in (None, recorder.id):
        return True
    others = (models.User.select(models.User.id)
              .join(models.UserRole, on=(models.UserRole.user == models.User.id))
              .join(models.Role, on=(models.UserRole.role == models.Role.id))
              .where(models.Role.code == "manager", models.User.department == recorder.department_id,
                     models.User.id != recorder.id, models.User.active == True))  # noqa: E712
    return others.exists()


@pre_save(sender=models.ServiceOrder, name="SRV-2")
def replacement_records_both_numbers(sender, instance, created):
    """Refuse a replacement that records only one of the old and new terminal or SIM numbers."""
    if not SRV_2.on() or instance.kind != "repair":
        return
    for old, new, message in PAIRS:
        old_missing = _missing(instance, old)
        new_missing = _missing(instance, new)
        if old_missing != new_missing:
            SRV_2.refuse(instance, message, field=old if old_missing else new)


def order_approved(order, user):
    """Mark the order approved so it may be dispatched (SRV-1)."""
    order.status = "approved"
    order.save()


def order_rejected(order, user):
    """Cancel the order the manager rejected (SRV-1)."""
    order.status = "cancelled"
    order.save()


def order_withdrawn(order, user):
    """Leave the withdrawn order pending and editable; saving it again resubmits it (SRV-1)."""
    order.status = "pending"
    order.save()


approvals.on_outcome(models.ServiceOrder, approved=order_approved, rejected=order_rejected,
                     withdrawn=order_withdrawn)
