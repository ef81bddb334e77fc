"""Rules of the customers area: contact frequency, archive confirmation, personal data, churn, visits,
surveys and partners (003 第十四/十五条, 000 篇三/十/十三, 002 篇二/篇三).

Stored datetimes are naive UTC; "days" and "months" are calendar days of Beijing time.
"""
import datetime

from peewee import PostgresqlDatabase
from peewee import fn
from playhouse.signals import post_save
from playhouse.signals import pre_save

import models
from policies import approvals
from policies.calendar import local_midnight
from policies.calendar import local_today
from policies.calendar import months_before
from policies.engine import ACTION
from policies.engine import APPROVE
from policies.engine import BLOCK
from policies.engine import COMPUTE
from policies.engine import FLAG
from policies.engine import flag
from policies.engine import rule


# CUS-1 asks for contact at these tiers; reserve customers (储备用户) have no frequency in the source.
KEY_TIERS = ("strategic", "key")

CUS_1 = rule(
    "CUS-1", "客户沟通频率", "003 第十四条(三)", FLAG, settings={"key_days": 7, "general_days": 30},
    labels={"key_days": "战略合作/关键客户沟通间隔(天)", "general_days": "一般客户沟通间隔(天)"},
    # The source breaks this sentence with a page number ("13、") after "通常见"; it is left out here.
    quote="2、业务单位责任人和战略合作(伙伴)用户、关键用户每七天最少一次电话沟通,和通常见户每个月最少一次电话沟通,"
          "了解情况并处理问题;",
)
CUS_2 = rule(
    "CUS-2", "客户档案审批确认", "000 篇三 4.1.2c", APPROVE,
    quote="c)客戶檔案由銷售總監(jiān)進行審批確認。",
)
# Personal data here: the customer's ID number and bank account (sensitive personal information:
# 特定身份, 金融账户) and a contact person's birthday (private, not needed to do business). A contact's
# mobile and phone are the work channel the business relationship runs on and are not covered.
# Encrypting, masking and auditing unmasked views are the second half of CUS-3, in a later issue.
CUS_3 = rule(
    "CUS-3", "个人信息告知同意", "002 篇三 第二/三章", BLOCK,
    quote="告知同意原则:在收集客户数据之前,必须向客户明确告知数据收集的目的、方式、范围,并获得客户的明示同意。",
)
# The export and the anonymising deletion are actions of a later issue; the rule is declared here.
CUS_4 = rule(
    "CUS-4", "客户数据查阅与删除", "002 篇三 第三章3", ACTION,
    quote="客户有权要求查阅、更正、删除其个人数据,公司应及时响应并处理。",
)
CUS_5 = rule(
    "CUS-5", "客户流失预警", "002 篇二 第二章5", FLAG, settings={"days": 90},
    labels={"days": "无沟通且无发货天数"},
    quote="定义:指停止购买公司产品/服务的客户。",
)
VIS_1 = rule(
    "VIS-1", "拜访计划提交与审核", "000 篇十三 3.1", APPROVE,
    quote="銷售人員每月底提出次月拜訪計劃書,呈部門主管審核。",
)
VIS_2 = rule(
    "VIS-2", "拜访报告期限", "000 篇十三 3.4(1)", FLAG, settings={"days": 2},
    labels={"days": "拜访后提交报告期限(天)"},
    quote="(1)拜訪應(yīng)于兩天內(nèi)提出客戶拜訪報告,呈主管審核。",
)
VIS_3 = rule(
    "VIS-3", "客户满意度调查", "003 第十五条(五)", FLAG, settings={"months": 6},
    labels={"months": "满意度调查间隔(月)"},
    quote="(五)用户满意度调查:每六个月进行不少于一次用户满意率调查,包含质量、价格、基础服务等产品使用情况意见和提议,"
          "各分企业、业务单在每十二个月7月10日和第二年元月10日前完成调研形成“用户满意率调查汇报”,汇总后报送销售部;",
)
VIS_4 = rule(
    "VIS-4", "外地合作方走访", "000 篇十 4.2.3", FLAG, settings={"months": 6},
    labels={"months": "外地合作方走访间隔(月)"},
    quote="4.2.3、對于外埠的合作伙伴,可適當放寬走訪頻次,每半年應(yīng)至少走訪1次。",
)


# ---------------------------------------------------------------- time helpers






def survey_report_due(today=None):
    """Return (period, due date) of the next half-year satisfaction report (VIS-3): H1 by 10 July, H2 by 10 January."""
    today = today or local_today()
    if today <= datetime.date(today.year, 1, 10):
        return f"{today.year - 1}H2", datetime.date(today.year, 1, 10)
    if today <= datetime.date(today.year, 7, 10):
        return f"{today.year}H1", datetime.date(today.year, 7, 10)
    return f"{today.year}H2", datetime.date(today.year + 1, 1, 10)


def _stored(instance, created):
    """Return the row as it is in the database before this save (None for a new record)."""
    if created or instance._pk is None:
        return None
    model = type(instance)
    return model.get_or_none(model._meta.primary_key == instance._pk)


# ---------------------------------------------------------------- CUS-1: last contact
@post_save(sender=models.Communication, name="CUS-1")
def compute_last_contact(sender, instance, created):
    """Compute the customer's last contact time from a saved communication."""
    # Kept up to date even while the CUS-1 flag is switched off: the column is shown on every customer list.
    if instance.customer_id is None or instance.at is None:
        return
    customer = models.Customer.get_or_none(models.Customer.id == instance.customer_id)
    if customer is None or (customer.last_contact_at is not None and customer.last_contact_at >= instance.at):
        return
    customer.last_contact_at = instance.at
    with approvals.unlocked():  # a computed column, not a person's edit of a customer awaiting CUS-2
        customer.save()
    CUS_1.record(COMPUTE, instance, note=f"最近联系时间 {customer}")


# ---------------------------------------------------------------- CUS-2
def _last_confirmation(customer):
    """Return the latest CUS-2 approval row of ``customer``, or None."""
    return (models.Approval.select()
            .where(models.Approval.target_model == "Customer", models.Approval.target_id == customer._pk,
                   models.Approval.rule == "CUS-2")
            .order_by(models.Approval.id.desc()).first())


@post_save(sender=models.Customer, name="CUS-2")
def new_customer_needs_confirmation(sender, instance, created):
    """Ask the sales director to confirm a new archive, or one corrected after a rejection or withdrawal."""
    if not CUS_2.on() or instance.approved_by_id is not None or approvals.DECIDING.get():
        return
    if not created:
        last = _last_confirmation(instance)
        if last is None or last.status not in ("rejected", "withdrawn"):
            return
    approvals.require(instance, "CUS-2", ["manager"], department=instance.department_id,
                      summary=f"{'新建' if created else '重新提交'}客户档案 {instance.code} {instance.name}")


def _customer_confirmed(customer, user):
    """Record the deciding manager as the one who confirmed the archive (CUS-2)."""
    customer.approved_by = user
    customer.save()


# A refused or withdrawn archive stays unconfirmed (approved_by empty) and editable; saving it asks again.
approvals.on_outcome(models.Customer, approved=_customer_confirmed)


# ---------------------------------------------------------------- CUS-3
def _personal_data_without_consent(instance, created, consent, fields):
    """Return the labels of ``fields`` filled without ``consent`` where this save writes them or drops consent."""
    filled = [name for name in fields if getattr(instance, name)]
    if consent or not filled:
        return []
    stored = _stored(instance, created)
    if stored is not None:
        changed = [name for name in filled if getattr(stored, name) != getattr(instance, name)]
        consent_dropped = getattr(stored, "consent_at", None) is not None
        if not changed and not consent_dropped:
            return []
    return [getattr(type(instance), name).verbose_name for name in filled]


@pre_save(sender=models.Customer, name="CUS-3")
def customer_personal_data_needs_consent(sender, instance, created):
    """Refuse an ID number, bank account (or contacts' birthdays) kept without the customer's recorded consent."""
    if not CUS_3.on():
        return
    labels = _personal_data_without_consent(instance, created, instance.consent_at, ("id_number", "bank_account"))
    stored = _stored(instance, created)
    if instance.consent_at is None and stored is not None and stored.consent_at is not None:
        birthdays = models.Contact.select().where(models.Contact.customer == instance._pk,
                                                  models.Contact.birthday.is_null(False))
        if birthdays.exists():
            labels.append("联系人生日")
    if labels:
        CUS_3.refuse(instance, f"未记录客户告知同意时间,不得保存{'、'.join(labels)}", field="consent_at")


@pre_save(sender=models.Contact, name="CUS-3/contact")
def contact_personal_data_needs_consent(sender, instance, created):
    """Refuse a contact's birthday saved while the customer's consent is not recorded."""
    if not CUS_3.on() or instance.customer_id is None:
        return
    consent = (models.Customer.select(models.Customer.consent_at)
               .where(models.Customer.id == instance.customer_id).scalar())
    labels = _personal_data_without_consent(instance, created, consent, ("birthday",))
    if labels:
        CUS_3.refuse(instance, f"客户未记录告知同意时间,不得保存联系人{'、'.join(labels)}", field="birthday")


# ---------------------------------------------------------------- VIS-1
@pre_save(sender=models.VisitPlan, name="VIS-1")
def detect_submitted_plan(sender, instance, created):
    """Mark a plan being submitted (or marked approved by hand: it is submitted instead) for the manager."""
    instance.__dict__.pop("_vis1_request", None)
    if not VIS_1.on() or instance.status not in ("submitted", "approved") or approvals.DECIDING.get():
        return
    stored = _stored(instance, created)
    if stored is None or stored.status != instance.status:
        instance.status = "submitted"
        instance.__dict__["_vis1_request"] = True


@post_save(sender=models.VisitPlan, name="VIS-1/approval")
def submitted_plan_needs_manager(sender, instance, created):
    """Ask the department manager to review a submitted visit plan."""
    if instance.__dict__.pop("_vis1_request", False):
        approvals.require(instance, "VIS-1", ["manager"], department=instance.owner.department_id,
                          summary=f"{instance.owner} {instance.month} 拜访计划")


def _plan_approved(plan, user):
    """Mark the plan the manager approved as approved (VIS-1)."""
    plan.status = "approved"
    plan.save()


def _plan_back_to_draft(plan, user):
    """Return a refused or withdrawn plan to draft; submitting it again asks again."""
    plan.status = "draft"
    plan.save()


approvals.on_outcome(models.VisitPlan, approved=_plan_approved, rejected=_plan_back_to_draft,
                     withdrawn=_plan_back_to_draft)


# ---------------------------------------------------------------- flags
def contact_overdue(today=None):
    """Return strategic/key customers not contacted for [7] days and general ones for [30] (CUS-1)."""
    Customer = models.Customer
    today = today or local_today()
    last = fn.COALESCE(Customer.last_contact_at, Customer.created_at)
    key_cutoff = local_midnight(today - datetime.timedelta(days=CUS_1.get("key_days")))
    general_cutoff = local_midnight(today - datetime.timedelta(days=CUS_1.get("general_days")))
    return Customer.select().where((Customer.tier.in_(KEY_TIERS) & (last < key_cutoff))
                                   | ((Customer.tier == "general") & (last < general_cutoff)))


def unconfirmed():
    """Return customers whose archive no sales director has confirmed yet (CUS-2)."""
    return models.Customer.select().where(models.Customer.approved_by.is_null())


def churn_risk(today=None):
    """Return customers with no communication and no shipment for [90] days (CUS-5)."""
    Customer = models.Customer
    cutoff_on = (today or local_today()) - datetime.timedelta(days=CUS_5.get("days"))
    cutoff_at = local_midnight(cutoff_on)
    talked = models.Communication.select(models.Communication.customer).where(models.Communication.at >= cutoff_at)
    bought = models.Shipment.select(models.Shipment.customer).where(models.Shipment.shipped_on >= cutoff_on,
                                                                    models.Shipment.status != "cancelled")
    return Customer.select().where(Customer.created_at < cutoff_at, Customer.id.not_in(talked),
                                   Customer.id.not_in(bought))


def plans_late(today=None):
    """Return plans still not submitted after the end of the month before theirs (VIS-1)."""
    VisitPlan = models.VisitPlan
    return VisitPlan.select().where(VisitPlan.status == "draft", VisitPlan.month <= f"{today or local_today():%Y-%m}")


def reports_late(today=None):
    """Return visits whose report is missing [2] days after the visit or came in later than that (VIS-2)."""
    Visit = models.Visit
    days = VIS_2.get("days")
    missing = Visit.report_submitted_on.is_null() & (
        Visit.visited_on < (today or local_today()) - datetime.timedelta(days=days))
    if isinstance(models.db.obj, PostgresqlDatabase):
        gap = Visit.report_submitted_on - Visit.visited_on
    else:
        gap = fn.julianday(Visit.report_submitted_on) - fn.julianday(Visit.visited_on)
    return Visit.select().where(missing | (Visit.report_submitted_on.is_null(False) & (gap > days)))


def survey_due(today=None):
    """Return established customers without a satisfaction survey in the last [6] months (VIS-3)."""
    Customer = models.Customer
    cutoff_at = local_midnight(months_before(today or local_today(), VIS_3.get("months")))
    surveyed = models.SatisfactionSurvey.select(models.SatisfactionSurvey.customer).where(
        models.SatisfactionSurvey.created_at >= cutoff_at)
    return Customer.select().where(Customer.stage != "prospect", Customer.created_at < cutoff_at,
                                   Customer.id.not_in(surveyed))


def partner_visit_overdue(today=None):
    """Return admitted out-of-town partners not visited (or inspected) for [6] months (VIS-4)."""
    Partner = models.Partner
    cutoff = months_before(today or local_today(), VIS_4.get("months"))
    last = fn.COALESCE(Partner.last_visit_on, Partner.inspected_on)
    return Partner.select().where(Partner.region == "out_of_town", Partner.admission_status == "admitted",
                                  last.is_null() | (last < cutoff))


flag(CUS_1, models.Customer, contact_overdue, badge="warning", name="contact_overdue")
flag(CUS_2, models.Customer, unconfirmed, badge="secondary", name="unconfirmed")
flag(CUS_5, models.Customer, churn_risk, badge="danger", name="churn_risk")
flag(VIS_1, models.VisitPlan, plans_late, badge="warning", name="late")
flag(VIS_2, models.Visit, reports_late, badge="warning", name="report_late")
flag(VIS_3, models.Customer, survey_due, badge="warning", name="survey_due")
flag(VIS_4, models.Partner, partner_visit_overdue, badge="warning", name="visit_overdue")
