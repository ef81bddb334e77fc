"""Rules of the customers area: contact frequency, archive confirmation, personal data, churn, visits,
surveys and partners (003 第十四/十五条, 000 篇三/十/十三, 002 篇二/篇三).

Stored datetimes are naive UTC; "days" and "months" are calendar days of Beijing time.
"""
import datetime
import re

from peewee import SQL
from peewee import Case
from peewee import PostgresqlDatabase
from peewee import fn
from playhouse.signals import post_delete
from playhouse.signals import post_save
from playhouse.signals import pre_save

import backend
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
# 特定身份, 金融账户) and a contact person's mobile, e-mail and birthday (they identify the person). The
# contact's consent is their own (Contact.consent_at) or, failing it, the customer's. A landline with area
# code is the office's number and is not covered.
CONTACT_PERSONAL = ("mobile", "email", "birthday")
# Encrypting, masking and auditing unmasked views are the second half of CUS-3, in a later issue.
CUS_3 = rule(
    "CUS-3", "个人信息告知同意", "002 篇三 第二/三章", BLOCK,
    quote="告知同意原则:在收集客户数据之前,必须向客户明确告知数据收集的目的、方式、范围,并获得客户的明示同意。",
    reading="身份证号、银行账号须客户告知同意;联系人的手机、邮箱、生日须本人或客户的告知同意;办公座机不受限。",
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
    reading="计划月份统一为 YYYY-MM;本月没有已提交计划的业务员提醒,草稿计划逾期提醒。",
)
VIS_2 = rule(
    "VIS-2", "拜访报告期限", "000 篇十三 3.4(1)", FLAG, settings={"days": 2},
    labels={"days": "拜访后提交报告期限(天)"},
    quote="(1)拜訪應(yīng)于兩天內(nèi)提出客戶拜訪報告,呈主管審核。",
    reading="报告须有内容且已提交,拜访后超过 2 天未交或晚交提醒。",
)
VIS_3 = rule(
    "VIS-3", "客户满意度调查", "003 第十五条(五)", FLAG, settings={"months": 6},
    labels={"months": "满意度调查间隔(月)"},
    quote="(五)用户满意度调查:每六个月进行不少于一次用户满意率调查,包含质量、价格、基础服务等产品使用情况意见和提议,"
          "各分企业、业务单在每十二个月7月10日和第二年元月10日前完成调研形成“用户满意率调查汇报”,汇总后报送销售部;",
    reading="最近 6 个月内做过、期间属于这 6 个月的调查才算;半年汇报 7 月 10 日、1 月 10 日在工作台提醒。",
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
def last_contacts(until=None):
    """Return a subquery of each customer's latest communication time up to ``until`` (default now).

    Only facts count: a communication dated after ``until`` has not happened yet (Integrity: flags count facts).
    """
    Communication = models.Communication
    return (Communication.select(fn.MAX(Communication.at))
            .where(Communication.customer == models.Customer.id, Communication.at <= (until or models.utcnow())))


def recompute_last_contact(customer_id, instance=None):
    """Store the customer's latest communication so far as its last contact (shown on every customer list)."""
    customer = models.Customer.get_or_none(models.Customer.id == customer_id)
    if customer is None:
        return
    Communication = models.Communication
    latest = (Communication.select(fn.MAX(Communication.at))
              .where(Communication.customer == customer_id, Communication.at <= models.utcnow()).scalar())
    if customer.last_contact_at == latest:
        return
    customer.last_contact_at = latest
    with approvals.unlocked():  # a computed column, not a person's edit of a customer awaiting CUS-2
        customer.save()
    CUS_1.record(COMPUTE, instance, note=f"最近联系时间 {customer}")


@pre_save(sender=models.Communication, name="CUS-1/moved")
def note_previous_customer(sender, instance, created):
    """Remember the customer a communication is moved away from, whose last contact changes too."""
    stored = _stored(instance, created)
    if stored is not None and stored.customer_id != instance.customer_id:
        instance.__dict__["_cus1_previous_customer"] = stored.customer_id


@post_save(sender=models.Communication, name="CUS-1")
def compute_last_contact(sender, instance, created):
    """Recompute the customer's last contact time from its communications after one is saved."""
    # Kept up to date even while the CUS-1 flag is switched off: the column is shown on every customer list.
    previous = instance.__dict__.pop("_cus1_previous_customer", None)
    if previous is not None:
        recompute_last_contact(previous, instance)
    if instance.customer_id is not None:
        recompute_last_contact(instance.customer_id, instance)


@post_delete(sender=models.Communication, name="CUS-1/delete")
def last_contact_after_delete(sender, instance):
    """Recompute the customer's last contact time when a communication is deleted."""
    if instance.customer_id is not None:
        recompute_last_contact(instance.customer_id)


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
        Contact = models.Contact
        relying = Contact.select().where(
            Contact.customer == instance._pk, Contact.consent_at.is_null(),
            (Contact.birthday.is_null(False)) | (Contact.mobile != "") | (Contact.email != ""))
        if relying.exists():
            labels.append("联系人手机、邮箱或生日")
    if labels:
        CUS_3.refuse(instance, f"未记录客户告知同意时间,不得保存{'、'.join(labels)}", field="consent_at")


@pre_save(sender=models.Contact, name="CUS-3/contact")
def contact_personal_data_needs_consent(sender, instance, created):
    """Refuse a contact's mobile, e-mail or birthday saved without their (or the customer's) recorded consent."""
    if not CUS_3.on() or instance.customer_id is None:
        return
    consent = instance.consent_at or (models.Customer.select(models.Customer.consent_at)
                                      .where(models.Customer.id == instance.customer_id).scalar())
    labels = _personal_data_without_consent(instance, created, consent, CONTACT_PERSONAL)
    if labels:
        first = next(n for n in CONTACT_PERSONAL if getattr(models.Contact, n).verbose_name == labels[0])
        CUS_3.refuse(instance, f"联系人本人及客户均未记录告知同意时间,不得保存联系人{'、'.join(labels)}", field=first)


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
def _facts_until(today):
    """Return the moment up to which facts count: now, or the end of ``today`` when a day is asked about."""
    if today is None:
        return models.utcnow()
    return local_midnight(today + datetime.timedelta(days=1))


def contact_overdue(today=None):
    """Return strategic/key customers not contacted for [7] days and general ones for [30] (CUS-1)."""
    Customer = models.Customer
    until = _facts_until(today)
    today = today or local_today()
    last = fn.COALESCE(last_contacts(until), Customer.created_at)
    key_cutoff = local_midnight(today - datetime.timedelta(days=CUS_1.get("key_days")))
    general_cutoff = local_midnight(today - datetime.timedelta(days=CUS_1.get("general_days")))
    # Nearly every customer is of one of these tiers: they filter what the user's condition found (no index).
    tier = backend.unindexed(Customer.tier)
    return Customer.select().where((tier.in_(KEY_TIERS) & (last < key_cutoff))
                                   | ((tier == "general") & (last < general_cutoff)))


def unconfirmed():
    """Return customers whose archive no sales director has confirmed yet (CUS-2)."""
    return models.Customer.select().where(models.Customer.approved_by.is_null())


def churn_risk(today=None):
    """Return customers with no communication and no shipment for [90] days (CUS-5)."""
    Customer = models.Customer
    until = _facts_until(today)
    today = today or local_today()
    cutoff_on = today - datetime.timedelta(days=CUS_5.get("days"))
    cutoff_at = local_midnight(cutoff_on)
    # Correlated NOT EXISTS: one index probe per customer, never the whole communication table.
    # Only facts that happened count (nothing dated after now or today).
    talked = models.Communication.select(SQL("1")).where(models.Communication.customer == Customer.id,
                                                         models.Communication.at >= cutoff_at,
                                                         models.Communication.at <= until)
    bought = models.Shipment.select(SQL("1")).where(models.Shipment.customer == Customer.id,
                                                    models.Shipment.shipped_on >= cutoff_on,
                                                    models.Shipment.shipped_on <= today,
                                                    models.Shipment.status != "cancelled")
    return Customer.select().where(Customer.created_at < cutoff_at, ~fn.EXISTS(talked), ~fn.EXISTS(bought))


def plans_late(today=None):
    """Return plans still not submitted after the end of the month before theirs (VIS-1)."""
    VisitPlan = models.VisitPlan
    return VisitPlan.select().where(VisitPlan.status == "draft", VisitPlan.month <= f"{today or local_today():%Y-%m}")


def salespeople_without_plan(today=None):
    """Return active salespeople with no plan submitted for this month, which was due by the end of the last
    (VIS-1); someone who joined this month owes none yet."""
    today = today or local_today()
    User = models.User
    VisitPlan = models.VisitPlan
    month_start = today.replace(day=1)
    submitted = VisitPlan.select(VisitPlan.owner).where(VisitPlan.month == f"{today:%Y-%m}",
                                                        VisitPlan.status.in_(("submitted", "approved")))
    sales = (models.UserRole.select(models.UserRole.user).join(models.Role)
             .where(models.Role.code == "sales"))
    return User.select().where(User.active == True, User.id.in_(sales), User.id.not_in(submitted),  # noqa: E712
                               User.created_at < local_midnight(month_start))


MONTH_RE = re.compile(r"^\s*(\d{4})\s*(?:-|/|\.|年)\s*(\d{1,2})\s*月?\s*$")


def normalise_month(text):
    """Return ``text`` (2026-9, 2026/09, 2026年9月) as YYYY-MM, or None when it is not a month."""
    match = MONTH_RE.match(text or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        return None
    return f"{int(match.group(1)):04d}-{int(match.group(2)):02d}"


@pre_save(sender=models.VisitPlan, name="VIS-1/month")
def plan_month_is_a_month(sender, instance, created):
    """Store the plan's month as YYYY-MM (so 2026-9 is September, not after 2026-12); refuse anything else."""
    month = normalise_month(instance.month)
    if month is None:
        VIS_1.refuse(instance, "计划月份格式应为“2026-09”", field="month")
    else:
        instance.month = month


def reports_late(today=None):
    """Return visits whose report is missing [2] days after the visit or came in later than that (VIS-2).

    A report counts only with its text: a submission date over an empty report is no report.
    """
    Visit = models.Visit
    today = today or local_today()
    days = VIS_2.get("days")
    no_report = Visit.report_submitted_on.is_null() | (fn.TRIM(Visit.report) == "") | (
        Visit.report_submitted_on > today)
    missing = no_report & (Visit.visited_on < today - datetime.timedelta(days=days))
    if isinstance(models.db.obj, PostgresqlDatabase):
        gap = Visit.report_submitted_on - Visit.visited_on
    else:
        gap = fn.julianday(Visit.report_submitted_on) - fn.julianday(Visit.visited_on)
    return Visit.select().where(missing | (Visit.report_submitted_on.is_null(False) & (gap > days)
                                           & (Visit.visited_on <= today)))


def half_year(day):
    """Return the survey period label of ``day`` (2026H1, 2026H2)."""
    return f"{day.year}H{1 if day.month <= 6 else 2}"


def survey_due(today=None):
    """Return established customers without a satisfaction survey in the last [6] months (VIS-3).

    A survey counts when it was made in the window and covers a half-year of the window (its period): one
    labelled 2024H1 entered today does not clear the reminder, nor does one dated after today.
    """
    Customer = models.Customer
    Survey = models.SatisfactionSurvey
    today = today or local_today()
    start = months_before(today, VIS_3.get("months"))
    periods = sorted({half_year(start), half_year(today)})
    cutoff_at = local_midnight(start)
    surveyed = Survey.select(SQL("1")).where(
        Survey.customer == Customer.id, Survey.period.in_(periods), Survey.created_at >= cutoff_at,
        Survey.created_at < local_midnight(today + datetime.timedelta(days=1)))
    return Customer.select().where(Customer.stage != "prospect", Customer.created_at < cutoff_at,
                                   ~fn.EXISTS(surveyed))


PERIOD_RE = re.compile(r"^(\d{4})H([12])$")


@pre_save(sender=models.SatisfactionSurvey, name="VIS-3/period")
def survey_period_is_a_past_or_current_half_year(sender, instance, created):
    """Refuse a survey period that is not a half-year label (2026H1) or lies after the current half-year."""
    period = (instance.period or "").strip().upper()
    match = PERIOD_RE.match(period)
    if not match:
        VIS_3.refuse(instance, "调查期间格式应为“2026H1”或“2026H2”", field="period")
        return
    instance.period = period
    if period > half_year(local_today()):
        VIS_3.refuse(instance, f"调查期间 {period} 尚未开始", field="period")


def partner_visit_overdue(today=None):
    """Return admitted out-of-town partners not visited (or inspected) for [6] months (VIS-4)."""
    Partner = models.Partner
    today = today or local_today()
    cutoff = months_before(today, VIS_4.get("months"))
    # A visit or inspection dated after today has not happened yet.
    last = fn.COALESCE(Case(None, ((Partner.last_visit_on <= today, Partner.last_visit_on),)),
                       Case(None, ((Partner.inspected_on <= today, Partner.inspected_on),)))
    return Partner.select().where(Partner.region == "out_of_town", Partner.admission_status == "admitted",
                                  last.is_null() | (last < cutoff))


flag(CUS_1, models.Customer, contact_overdue, badge="warning", name="contact_overdue")
flag(CUS_2, models.Customer, unconfirmed, badge="secondary", name="unconfirmed")
flag(CUS_5, models.Customer, churn_risk, badge="danger", name="churn_risk")
flag(VIS_1, models.VisitPlan, plans_late, badge="warning", name="late")
flag(VIS_1, models.User, salespeople_without_plan, badge="warning")
flag(VIS_2, models.Visit, reports_late, badge="warning", name="report_late")
flag(VIS_3, models.Customer, survey_due, badge="warning", name="survey_due")
flag(VIS_4, models.Partner, partner_visit_overdue, badge="warning", name="visit_overdue")
