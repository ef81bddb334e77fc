"""Rules of customer data protection: third-party sharing, breaches and access reviews (002 篇三).

Stored datetimes are naive UTC; "days" are 24-hour periods from the moment a breach was found.
"""
import datetime

from playhouse.signals import post_delete
from playhouse.signals import post_save
from playhouse.signals import pre_save

import backend
import models
from policies import approvals
from policies.calendar import local_today
from policies.calendar import months_before
from policies.engine import APPROVE
from policies.engine import BLOCK
from policies.engine import FLAG
from policies.engine import flag
from policies.engine import rule

CUS_6 = rule(
    "CUS-6", "客户数据共享第三方", "002 篇三 第二章3, 第四章2", APPROVE,
    quote="未经客户同意,不得将客户数据转让或共享给第三方。公司应建立客户数据使用审批制度,确保数据使用的合规性和安全性。"
          "客户数据共享必须符合法律法规的规定,并获得客户的明示同意。"
          "在与第三方共享客户数据之前,必须与第三方签订数据安全协议,明确双方的数据安全责任。",
    reading="须记录客户明示同意时间与数据安全协议编号,总经理审批;批准后改变共享内容重新审批;驳回为最终结果。",
)
CUS_7 = rule(
    "CUS-7", "客户数据泄露应急处理", "002 篇三 第五章", FLAG, settings={"days": 3},
    labels={"days": "控制泄露并通知客户的期限(天)"},
    quote="一旦发生客户数据泄露事件,应立即启动应急预案。立即停止泄露行为,采取措施防止数据进一步扩散。"
          "立即通知受影响的客户,告知客户数据泄露的情况和可能造成的风险。配合有关部门进行调查,并及时向有关部门报告。",
    reading="发现后 72 小时内未控制或有受影响客户未通知即提醒;结案须已控制、全部通知并记录向有关部门的报告。",
)
CUS_8 = rule(
    "CUS-8", "数据访问权限定期审查", "002 篇三 第三章2", FLAG, settings={"months": 6},
    labels={"months": "权限审查周期(月)"},
    quote="建立严格的数据访问控制机制,限制对客户数据的访问权限。只有经过授权的人员才能访问客户数据,"
          "且只能访问与其工作相关的客户数据。定期审查数据访问权限,防止权限滥用。"
          "对客户数据的访问进行记录和审计,方便追溯和责任追究。",
    reading="每 6 个月一次;审查时生成全部用户的角色、密级及期间内查看敏感信息的清单。",
)

# A share's judged terms: changing one after the GM's decision asks again (decided means locked).
SHARE_TERMS = ("customer_id", "recipient", "purpose", "fields_shared", "consent_at", "agreement_no")


def _stored(instance, created):
    """Return the row as it is in the database before this save (None for a new record)."""
    if created or instance._pk is None:
        return None
    model = type(instance)
    return model.get_or_none(model._meta.primary_key == instance._pk)


# ---------------------------------------------------------------- CUS-6
@pre_save(sender=models.DataShare, name="CUS-6")
def share_needs_consent_and_agreement(sender, instance, created):
    """Refuse a share without the customer's explicit consent or a signed data-security agreement; submit it."""
    instance.__dict__.pop("_cus6_request", None)
    if not CUS_6.on() or approvals.DECIDING.get():
        return
    if instance.status == "rejected":
        return
    if instance.consent_at is None:
        CUS_6.refuse(instance, "未记录客户对共享的明示同意时间,不得向第三方共享客户数据", field="consent_at")
    if not (instance.agreement_no or "").strip():
        CUS_6.refuse(instance, "未与接收方签订数据安全协议(须填写协议编号),不得共享", field="agreement_no")
    stored = _stored(instance, created)
    if stored is None:
        submit = True
    elif stored.status == "rejected":
        # A refused share is final: file a new registration.
        instance.status = "rejected"
        submit = False
    elif stored.status == "draft":
        submit = True  # withdrawn, edited and saved again
    elif stored.status == "approved":
        submit = any(getattr(stored, n) != getattr(instance, n) for n in SHARE_TERMS)
    else:
        submit = False
    if submit:
        instance.status = "pending"
        instance.__dict__["_cus6_request"] = True
    elif stored is not None and instance.status != stored.status:
        instance.status = stored.status  # the status follows the approval, never a person's edit


@post_save(sender=models.DataShare, name="CUS-6/approval")
def share_needs_gm(sender, instance, created):
    """Ask the GM to approve the use of customer data by a third party (数据使用审批)."""
    if instance.__dict__.pop("_cus6_request", False):
        approvals.require(instance, CUS_6.id, ["gm"],
                          summary=f"向 {instance.recipient} 共享 {instance.customer} 的数据:{instance.fields_shared}")


def _share_approved(share, user):
    share.status = "approved"
    share.shared_on = share.shared_on or local_today()
    share.save()


def _share_rejected(share, user):
    share.status = "rejected"
    share.save()


def _share_withdrawn(share, user):
    share.status = "draft"
    share.save()


approvals.on_outcome(models.DataShare, approved=_share_approved, rejected=_share_rejected,
                     withdrawn=_share_withdrawn)


# ---------------------------------------------------------------- CUS-7
def _notified_at(incident_id):
    """Return when the last affected customer of ``incident_id`` was notified, None while one is not."""
    times = [t for (t,) in models.AffectedCustomer.select(models.AffectedCustomer.notified_at)
             .where(models.AffectedCustomer.incident == incident_id).tuples()]
    if not times or any(t is None for t in times):
        return None
    return max(times)


def _refresh_notified(incident_id):
    incident = models.DataIncident.get_or_none(models.DataIncident.id == incident_id)
    if incident is None:
        return
    value = _notified_at(incident_id)
    if incident.customers_notified_at != value:
        incident.customers_notified_at = value
        incident.save()


@post_save(sender=models.AffectedCustomer, name="CUS-7/notified")
def compute_customers_notified(sender, instance, created):
    """Compute when every affected customer was notified."""
    _refresh_notified(instance.incident_id)


@post_delete(sender=models.AffectedCustomer, name="CUS-7/notified-delete")
def recompute_customers_notified(sender, instance):
    """Recompute the notification time when an affected customer is removed."""
    _refresh_notified(instance.incident_id)


@pre_save(sender=models.DataIncident, name="CUS-7")
def incident_closes_when_contained_notified_and_reported(sender, instance, created):
    """Refuse closing a breach before it is contained, every affected customer notified and the report recorded."""
    if not CUS_7.on():
        return
    if instance._pk is not None:
        instance.customers_notified_at = _notified_at(instance._pk)
    if instance.status != "closed":
        return
    missing = []
    if instance.contained_at is None:
        missing.append("控制时间")
    if instance._pk is None or instance.customers_notified_at is None:
        missing.append("全部受影响客户的通知时间")
    if instance.reported_at is None or not (instance.reported_to or "").strip():
        missing.append("向有关部门报告的部门和时间")
    if missing:
        CUS_7.refuse(instance, f"泄露事件结案前须记录{'、'.join(missing)}", field="status")


def incidents_late(now=None):
    """Return breaches not contained, or with a customer not notified, within [3] days of being found (CUS-7)."""
    now = now or models.utcnow()
    limit = datetime.timedelta(days=CUS_7.get("days"))
    late = set()
    notified = {}
    for incident_id, at in (models.AffectedCustomer.select(models.AffectedCustomer.incident,
                                                           models.AffectedCustomer.notified_at).tuples()):
        notified.setdefault(incident_id, []).append(at)
    rows = models.DataIncident.select(models.DataIncident.id, models.DataIncident.found_at,
                                      models.DataIncident.contained_at).where(models.DataIncident.found_at <= now)
    for incident_id, found_at, contained_at in rows.tuples():
        deadline = found_at + limit
        moments = [contained_at] + notified.get(incident_id, [])
        for moment in moments:
            if (moment is None and now > deadline) or (moment is not None and moment > deadline):
                late.add(incident_id)
                break
    return models.DataIncident.select().where(backend.among(models.DataIncident.id, sorted(late)))


# ---------------------------------------------------------------- CUS-8
def _period_start(review):
    """Return the first day the review covers: the day after the previous review, else [6] months back."""
    earlier = models.AccessReview.select(models.AccessReview.reviewed_on).where(
        models.AccessReview.reviewed_on < review.reviewed_on)
    if review._pk is not None:
        earlier = earlier.where(models.AccessReview.id != review._pk)
    last = earlier.order_by(models.AccessReview.reviewed_on.desc()).limit(1).scalar()
    if last is not None:
        return last + datetime.timedelta(days=1)
    return months_before(review.reviewed_on, CUS_8.get("months"))


def access_report(start, end):
    """Return one line per user: roles, clearance, and the sensitive data they revealed from ``start`` to ``end``."""
    from policies.calendar import local_midnight
    roles = {}
    for user_id, name in (models.UserRole.select(models.UserRole.user, models.Role.name)
                          .join(models.Role).tuples()):
        roles.setdefault(user_id, []).append(name)
    reveals = {}
    query = (models.AuditLog.select(models.AuditLog.user, models.AuditLog.model, models.AuditLog.record_id,
                                    models.AuditLog.changes)
             .where(models.AuditLog.action == "view_sensitive",
                    models.AuditLog.at >= local_midnight(start),
                    models.AuditLog.at < local_midnight(end + datetime.timedelta(days=1))))
    for user_id, model, record_id, changes in query.tuples():
        reveals.setdefault(user_id, []).append(f"{model}#{record_id}")
    clearance = dict(models.CLEARANCE)
    lines = []
    for user in models.User.select().order_by(models.User.username):
        seen = reveals.get(user.id, [])
        revealed = f"查看敏感信息 {len(seen)} 次({'、'.join(sorted(set(seen)))})" if seen else "未查看敏感信息"
        state = "" if user.active else "(已停用)"
        lines.append(f"{user.username} {user.display_name}{state}:角色 {'、'.join(sorted(roles.get(user.id, []))) or '无'};"
                     f"密级 {clearance.get(user.clearance, user.clearance)};{revealed}")
    return "\n".join(lines)


@pre_save(sender=models.AccessReview, name="CUS-8")
def compute_access_report(sender, instance, created):
    """Compute the review's period and the list of who holds which rights and who revealed which data."""
    if not CUS_8.on() or instance.reviewed_on is None:
        return
    if instance.period_start is None:
        instance.period_start = _period_start(instance)
    instance.report = access_report(instance.period_start, instance.reviewed_on)


def review_due(today=None):
    """Return the users not covered by an access review in the last [6] months (CUS-8): everyone, when none was."""
    today = today or local_today()
    cutoff = months_before(today, CUS_8.get("months"))
    reviewed = models.AccessReview.select().where(models.AccessReview.reviewed_on > cutoff,
                                                  models.AccessReview.reviewed_on <= today)
    if reviewed.exists():
        return models.User.select().where(models.User.id.in_([]))
    from policies.calendar import local_midnight
    return models.User.select().where(models.User.active == True,  # noqa: E712
                                      models.User.created_at < local_midnight(cutoff))


flag(CUS_7, models.DataIncident, incidents_late, badge="danger")
flag(CUS_8, models.User, review_due, badge="warning")
