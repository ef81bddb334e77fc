"""Rules of the complaints area: recording, deadlines, workflow, notices, report (000 篇四/十一, 003 第十六/十七条).

Stored datetimes are naive UTC; "days", "months" and "years" are calendar notions of
Beijing time, converted with the helpers below (policies never import flask).
"""
import calendar as month_calendar
import datetime
import decimal

from peewee import SQL
from peewee import fn
from playhouse.signals import post_save
from playhouse.signals import pre_delete
from playhouse.signals import pre_save

import backend
import models
from policies import approvals
from policies import calendar
from policies import workflow
from policies.calendar import local_today
from policies.calendar import to_local
from policies.calendar import to_utc
from policies.engine import APPROVE
from policies.engine import BLOCK
from policies.engine import COMPUTE
from policies.engine import FLAG
from policies.engine import NOTIFY
from policies.engine import PolicyViolation
from policies.engine import REPORT
from policies.engine import flag
from policies.engine import rule


# CMP-1: every complaint of the vehicle business records the complainant's plate number (000 篇十一 流程1 is a
# car dealer's rule book); only service complaints (服务质量: property and service staff) are outside it.
NON_VEHICLE_CATEGORIES = ("service",)
# CMP-10: who rules whether a complaint is accepted (呈报上级主管裁定): a manager of its department, or the GM.
RULING_ROLES = ("manager", "gm")

# The workflow of DOMAIN.md "Complaint": where each status may move next.
TRANSITIONS = {
    "received": ("investigating", "rejected"),
    "investigating": ("solution_pending",),
    "solution_pending": ("replied",),
    "replied": ("return_visit",),
    "return_visit": ("closed",),
    "closed": (),
    "rejected": (),
}
FINAL_STATUSES = ("closed", "rejected")
# A new complaint starts as received: it may be saved as received or make its first move at once.
START_STATUS = "received"

# CMP-7 counts the customer notices of a rolling window of this many days (fixed by the source).
PROGRESS_WINDOW_DAYS = 7

CMP_1 = rule(
    "CMP-1", "投诉登记要素", "000 篇十一 流程1", BLOCK,
    quote="客戶關(guān)系顧問或客戶關(guān)系經(jīng)理詳細記錄客戶投訴內(nèi)容,包括投訴時間、投訴內(nèi)容、投訴人、投訴人車牌號等信息,認真傾聽,保持冷靜;同情理解并安慰客戶。",
    reading="除服务质量投诉外,均须填写投诉人车牌号。",
)
CMP_2 = rule(
    "CMP-2", "投诉结案期限", "000 篇四 第二十六条", COMPUTE, settings={"days": 7},
    labels={"days": "受理后结案期限(天)"},
    quote="投訴處理期限:至接到投訴7天結(jié)案。",
)
CMP_3 = rule(
    "CMP-3", "现场处理时限", "003 第十六条(三)3", COMPUTE,
    settings={"in_province_hours": 24, "out_of_province_hours": 48},
    labels={"in_province_hours": "省内现场处理时限(小时)", "out_of_province_hours": "省外现场处理时限(小时)"},
    quote="各项服务投诉需进行现场处理,依据事件性质和紧急程度,从接到投诉受理单起,省内不超出二十四小时、省外不超出48小时。",
    reading="只有标记“现场处理”且已发生的进展才算现场处理。",
)
CMP_4 = rule(
    "CMP-4", "提出解决办法时限", "000 篇十一 流程3", FLAG, settings={"working_days": 1},
    labels={"working_days": "调查开始后提出方案时限(工作日)"},
    quote="投訴受理責(zé)任人調(diào)查原因。查明出現(xiàn)客戶投訴的具體原因和具體責(zé)任者,在一個工作日內(nèi)提出解決辦法。",
    reading="被总经理驳回或撤回的方案不算已提出;投诉看板的“提出方案”计时同样以第一份仍有效的方案为准,驳回后继续计时。",
)
CMP_5 = rule(
    "CMP-5", "重大投诉即时通报", "000 篇十一 重大流程2", NOTIFY,
    # 003 第十六条(四) escalates claims "金额较大" without a number: 50,000 元 by default, as CTR-2.
    settings={"claim_amount": 50000},
    labels={"claim_amount": "索赔金额达到即按重大投诉上报(元,003 第十六条(四);0 为不按金额上报)"},
    quote="客戶關(guān)系經(jīng)理將投訴內(nèi)容迅速傳遞給責(zé)任部門經(jīng)理、總經(jīng)理,并立即召緊急會議,商磋解決辦法。",
)
CMP_6 = rule(
    "CMP-6", "处理方案总经理批准", "000 篇十一 流程4", APPROVE,
    quote="投訴解決辦法經(jīng)總經(jīng)理同意后,客戶關(guān)系專員或客戶關(guān)系經(jīng)理迅速通知客戶,并盡快反饋客戶反應(yīng)。",
    reading="每份方案须经总经理批准后才能答复客户;批准后修改方案内容或补偿金额即撤回批准、重新送审;驳回的方案保持未批准,"
            "改提新方案再审;已批准的方案不能删除。",
)
CMP_7 = rule(
    "CMP-7", "处理进展反馈频次", "003 第十六条(三)2", FLAG, settings={"min_updates": 2},
    labels={"min_updates": "每7天最少告知客户次数"},
    quote="受理单位应将处理进程和结果根据投诉性质,每七天不少于2次反馈主管业务部门、用户。",
)
CMP_8 = rule(
    "CMP-8", "投诉客户全部回访", "003 第十七条(三)1", FLAG,
    quote="对当年投诉用户实现100%回访",
    reading="今年和去年的投诉客户,在投诉之后须有一次已发生的回访。",
)
CMP_9 = rule(
    "CMP-9", "投诉月度统计报表", "000 篇四 第二十七条", REPORT, settings={"report_day": 10},
    labels={"report_day": "上月报表截止日(每月几日)"},
    quote="行政人事部應(yīng)于每月初10日內(nèi)填報投訴統(tǒng)計表,呈報總經(jīng)理審核。",
    reading="上月投诉统计表于本月 10 日前生成(按北京时间的受理月份统计);生成后又补录了该月投诉或更正了受理时间的,提醒重新生成。",
)
CMP_10 = rule(
    "CMP-10", "投诉流转与不成立说明", "000 篇四 第七条", BLOCK,
    quote="各門店接到投訴后,應(yīng)確認其投訴理由是否成立,呈報上級主管裁定是否受理。如屬客戶原因,應(yīng)迅速答復(fù)客戶,婉轉(zhuǎn)講明理由,請客戶諒解。",
    reading="是否受理(转入调查或判定不成立)只能由责任部门经理或总经理裁定,并记录裁定人;不成立须填写已向客户说明的原因。",
)


# ---------------------------------------------------------------- Beijing time






def month_bounds(year, month):
    """Return the naive-UTC [start, end) of the Beijing calendar month."""
    start = datetime.datetime(year, month, 1)
    end = datetime.datetime(year + month // 12, month % 12 + 1, 1)
    return to_utc(start), to_utc(end)


def year_bounds(year):
    """Return the naive-UTC [start, end) of the Beijing calendar year."""
    return to_utc(datetime.datetime(year, 1, 1)), to_utc(datetime.datetime(year + 1, 1, 1))


def solution_due_at(started_at, working_days=None, overrides=None):
    """Return when a solution is due (CMP-4): the same Beijing clock time, N working days after the start.

    A caller timing many complaints passes the setting and the holiday ``overrides`` once (no query per call).
    """
    local = to_local(started_at)
    working_days = CMP_4.get("working_days") if working_days is None else working_days
    due_day = calendar.add_working_days(local.date(), working_days, overrides)
    return to_utc(datetime.datetime.combine(due_day, local.time()))


# ---------------------------------------------------------------- helpers
def _label(status):
    return dict(models.COMPLAINT_STATUS).get(status, status)


def _stored(instance, created):
    """Return the row as stored before this save (None for a new complaint)."""
    if created or instance._pk is None:
        return None
    return models.Complaint.get_or_none(models.Complaint.id == instance._pk)


def _mark(instance, key):
    instance.__dict__.setdefault("_complaint_rules", set()).add(key)


def _has_gm_approved_solution(complaint_id):
    return (models.Solution.select()
            .join(models.User, on=(models.Solution.approved_by == models.User.id))
            .join(models.UserRole, on=(models.UserRole.user == models.User.id))
            .join(models.Role, on=(models.UserRole.role == models.Role.id))
            .where(models.Solution.complaint == complaint_id, models.Role.code == "gm")
            .exists())


def transition_errors(complaint, target, before=None):
    """Return [(rule, message, field)] forbidding a move of ``complaint`` to ``target`` (the board asks the same).

    ``before`` is the status moved from: by default the stored one (``received`` for a new complaint).
    """
    if before is None:
        stored = _stored(complaint, complaint._pk is None)
        before = stored.status if stored is not None else START_STATUS
    if target == before:
        return []
    errors = []
    if CMP_10.on() and target not in TRANSITIONS.get(before, ()):
        if target == "rejected":
            text = f"只有「{_label('received')}」的投诉才能判定为不成立,当前为「{_label(before)}」"
        else:
            text = f"投诉状态不能从「{_label(before)}」改为「{_label(target)}」"
        return [(CMP_10, text, "status")]
    if target == "solution_pending" and CMP_4.on():
        has_investigation = complaint._pk is not None and models.Investigation.select().where(
            models.Investigation.complaint == complaint._pk).exists()
        if not has_investigation:
            errors.append((CMP_4, "转入方案待批前须先填写调查报告", "status"))
    if target == "replied" and CMP_6.on():
        if complaint._pk is None or not _has_gm_approved_solution(complaint._pk):
            errors.append((CMP_6, "答复客户前处理方案须经总经理批准", "status"))
    return errors


def _guard_for(target):
    """Return the guard of the action moving a complaint to ``target``: the rules' own transition check."""
    def check(complaint, user, values):
        return [(rule_obj.id, text, field) for rule_obj, text, field in transition_errors(complaint, target)]
    return check


for _name, _action in models.Complaint._meta.workflow.actions.items():
    workflow.guard(models.Complaint, _name)(_guard_for(_action.target))


# ---------------------------------------------------------------- CMP-1
@pre_save(sender=models.Complaint, name="CMP-1")
def complaint_records_the_essentials(sender, instance, created):
    """Refuse a complaint without receipt time, content, complainant, category or (repairs) plate number."""
    # The first complaint receiver: forget outcomes noted by an earlier, refused save of this instance.
    instance.__dict__.pop("_complaint_rules", None)
    if not CMP_1.on():
        return
    if instance.received_at is None:
        CMP_1.refuse(instance, "请填写受理时间", field="received_at")
    if not (instance.content or "").strip():
        CMP_1.refuse(instance, "请填写投诉内容", field="content")
    if not (instance.complainant or "").strip():
        CMP_1.refuse(instance, "请填写投诉人", field="complainant")
    if not instance.category:
        CMP_1.refuse(instance, "请选择投诉类别", field="category")
    elif instance.category not in NON_VEHICLE_CATEGORIES and not (instance.plate_no or "").strip():
        label = dict(models.COMPLAINT_CATEGORY).get(instance.category, instance.category)
        CMP_1.refuse(instance, f"{label}投诉须填写投诉人车牌号", field="plate_no")


# ---------------------------------------------------------------- CMP-2, CMP-3
@pre_save(sender=models.Complaint, name="CMP-2")
def compute_close_deadline(sender, instance, created):
    """Compute due_at: the receipt time plus the close period."""
    if not CMP_2.on() or instance.received_at is None:
        return
    due = instance.received_at + datetime.timedelta(days=CMP_2.get("days"))
    if created or due != instance.due_at:
        instance.due_at = due
        _mark(instance, "CMP-2")


@pre_save(sender=models.Complaint, name="CMP-2/closed_at")
def stamp_closed_at(sender, instance, created):
    """Compute closed_at when a complaint is closed or rejected (a fact the report needs, not switchable)."""
    if instance.status in FINAL_STATUSES and instance.closed_at is None:
        instance.closed_at = workflow.now()


@pre_save(sender=models.Complaint, name="CMP-3")
def compute_onsite_deadline(sender, instance, created):
    """Compute onsite_due_at: 24 h after receipt in the province, 48 h outside (no customer: in-province)."""
    if not CMP_3.on() or instance.received_at is None:
        return
    customer = instance.customer if instance.customer_id is not None else None
    out_of_province = customer is not None and customer.region == "out_of_province"
    hours = CMP_3.get("out_of_province_hours" if out_of_province else "in_province_hours")
    due = instance.received_at + datetime.timedelta(hours=hours)
    if created or due != instance.onsite_due_at:
        instance.onsite_due_at = due
        _mark(instance, "CMP-3")


# ---------------------------------------------------------------- workflow: CMP-10 with CMP-4/6/8 guards
@pre_save(sender=models.Complaint, name="CMP-10")
def complaint_follows_the_workflow(sender, instance, created):
    """Refuse a forbidden status move, a move missing its prerequisite, and a rejection without reason."""
    stored = _stored(instance, created)
    before = stored.status if stored is not None else START_STATUS
    for rule_obj, text, field in transition_errors(instance, instance.status, before):
        rule_obj.refuse(instance, text, field=field)
    if CMP_10.on() and instance.status == "rejected" and not (instance.rejection_reason or "").strip():
        CMP_10.refuse(instance, "投诉不成立须填写已向客户说明的原因", field="rejection_reason")
    if CMP_10.on() and before == START_STATUS and instance.status in TRANSITIONS[START_STATUS]:
        actor = models.current_actor.get()
        if actor is not None and not isinstance(actor, models.User):  # the web request stores the id
            actor = models.User.get_or_none(models.User.id == actor)
        if not may_rule(actor, instance):
            CMP_10.refuse(instance, "是否受理须由责任部门经理(或总经理)裁定", field="status")
        else:
            instance.ruled_by = actor
    elif stored is not None and instance.ruled_by_id != stored.ruled_by_id and not approvals.DECIDING.get():
        instance.ruled_by_id = stored.ruled_by_id  # stamped by the ruling, never typed in
    if CMP_8.on() and instance.status == "closed" and not instance.satisfaction:
        CMP_8.refuse(instance, "结案前须回访并记录客户满意度", field="satisfaction")


def may_rule(user, complaint):
    """Return True when ``user`` may rule whether ``complaint`` is accepted (CMP-10)."""
    if user is None:
        return False
    roles = user.role_codes()
    if "gm" in roles:
        return True
    if "manager" not in roles:
        return False
    if complaint.department_id is None:
        return True
    department = models.Department.get_or_none(models.Department.id == complaint.department_id)
    return user.department_id == complaint.department_id or (department is not None
                                                             and department.manager_id == user.id)


# ---------------------------------------------------------------- CMP-5
def escalated_by_claim(complaint):
    """Return True when the complaint's claim reaches the CMP-5 amount (003 第十六条(四): 索赔金额较大)."""
    threshold = decimal.Decimal(str(CMP_5.get("claim_amount") or 0))
    return threshold > 0 and complaint.claim_amount is not None and \
        decimal.Decimal(str(complaint.claim_amount)) >= threshold


@pre_save(sender=models.Complaint, name="CMP-5")
def notice_major_complaint(sender, instance, created):
    """Note that a complaint is newly major (created so, changed to major, or escalated by its claim amount)."""
    if not CMP_5.on():
        return
    if instance.severity != "major" and escalated_by_claim(instance):
        instance.severity = "major"
    if instance.severity != "major":
        return
    stored = _stored(instance, created)
    if stored is None or stored.severity != "major":
        _mark(instance, "CMP-5")


@post_save(sender=models.Complaint, name="CMP-5")
def complaint_outcomes(sender, instance, created):
    """Notify the department manager and the GM of a newly major complaint; count computed deadlines."""
    marks = instance.__dict__.pop("_complaint_rules", set())
    for rule_id, rule_obj in (("CMP-2", CMP_2), ("CMP-3", CMP_3)):
        if rule_id in marks:
            rule_obj.record(COMPUTE, instance)
    if "CMP-5" in marks:
        claim = f"(索赔 {instance.claim_amount} 元)" if escalated_by_claim(instance) else ""
        approvals.require(instance, "CMP-5", ["manager", "gm"], department=instance.department_id,
                          summary=f"重大投诉 {instance.number} {instance.complainant}{claim}"[:255])


# ---------------------------------------------------------------- CMP-6
# A solution is submitted when created (unless it arrives already approved by a GM, e.g. imported history)
# or when its requester saves it again after withdrawing it. A rejected solution stays unapproved on
# record; a revised one is proposed as a new solution.
def _approved_by_gm(solution):
    if solution.approved_by_id is None:
        return False
    approver = models.User.get_or_none(models.User.id == solution.approved_by_id)
    return approver is not None and "gm" in approver.role_codes()


@pre_save(sender=models.Solution, name="CMP-6/submit")
def note_solution_submission(sender, instance, created):
    """Note whether this save submits the solution to the GM."""
    if created:
        submitted = not _approved_by_gm(instance)
    else:
        submitted = (not approvals.DECIDING.get() and instance.approved_by_id is None
                     and approvals.state(instance) == "withdrawn")
    instance.__dict__["_cmp6_submitted"] = submitted


@post_save(sender=models.Solution, name="CMP-6")
def solution_needs_gm(sender, instance, created):
    """Ask the GM to approve a new solution before the customer is told."""
    if not instance.__dict__.pop("_cmp6_submitted", False) or not CMP_6.on():
        return
    approvals.require(instance, "CMP-6", ["gm"],
                      summary=f"{instance.complaint.number} 处理方案:{instance.proposal}"[:255])


def solution_approved(solution, user):
    """Record the deciding GM as the approver: from now on the complaint may move to replied."""
    solution.approved_by = user
    solution.approved_at = workflow.now()
    solution.save()


# A rejected or withdrawn solution stays unapproved (approved_by empty), so the reply stays refused.
approvals.on_outcome(models.Solution, approved=solution_approved)


@pre_delete(sender=models.Solution, name="CMP-6/keep")
def approved_solution_kept(sender, instance):
    """Refuse deleting a solution the GM approved: it is what the customer was (or will be) told."""
    if instance.approved_by_id is not None:
        raise PolicyViolation(CMP_6.id, CMP_6.message("总经理已批准的处理方案不能删除(如需变更请修改后重新送审)"))


# ---------------------------------------------------------------- CMP-9
def report_due(today=None):
    """Return the date by which last month's statistics report is due (the report_day of ``today``'s month)."""
    today = today or local_today()
    last_day = month_calendar.monthrange(today.year, today.month)[1]
    return datetime.date(today.year, today.month, min(CMP_9.get("report_day"), last_day))


def monthly_report(year, month, now=None, query=None):
    """Return the statistics of complaints received in the Beijing month: counts, average close hours, overdue.

    ``query`` (default: every complaint) narrows the complaints counted, e.g. to what a user may see.
    """
    now = now or models.utcnow()
    start, end = month_bounds(year, month)
    base = models.Complaint.select() if query is None else query
    rows = list(base.where(models.Complaint.received_at >= start, models.Complaint.received_at < end)
                .order_by(models.Complaint.received_at))
    departments = {d.id: d.name for d in models.Department.select()}
    by_category = {code: 0 for code, _ in models.COMPLAINT_CATEGORY}
    by_severity = {code: 0 for code, _ in models.SEVERITY}
    by_department = {}
    close_hours = []
    overdue = 0
    for row in rows:
        by_category[row.category] = by_category.get(row.category, 0) + 1
        by_severity[row.severity] = by_severity.get(row.severity, 0) + 1
        name = departments.get(row.department_id, "未指定")
        by_department[name] = by_department.get(name, 0) + 1
        if row.status == "closed" and row.closed_at is not None:
            close_hours.append((row.closed_at - row.received_at).total_seconds() / 3600)
        # Overdue: closed (or rejected) after the deadline, or still open past it.
        finished = row.closed_at if row.status in FINAL_STATUSES and row.closed_at is not None else now
        if row.due_at is not None and row.due_at < finished:
            overdue += 1
    next_month = datetime.date(year + month // 12, month % 12 + 1, 1)
    return {
        "year": year, "month": month, "total": len(rows),
        "by_category": by_category, "by_department": by_department, "by_severity": by_severity,
        "average_close_hours": round(sum(close_hours) / len(close_hours), 1) if close_hours else None,
        "overdue": overdue,
        "due_on": report_due(next_month),
    }


# ---------------------------------------------------------------- flags
def overdue(now=None):
    """Return open complaints past their close deadline (CMP-2)."""
    Complaint = models.Complaint
    return Complaint.still_open().where(Complaint.due_at < (now or models.utcnow()))


def onsite_overdue(now=None):
    """Return open complaints past their on-site deadline not yet handled on site (CMP-3).

    Only an update marked on site counts, and only one that happened (dated no later than now).
    """
    Complaint = models.Complaint
    ComplaintUpdate = models.ComplaintUpdate
    now = now or models.utcnow()
    visited = ComplaintUpdate.select(SQL("1")).where(
        ComplaintUpdate.complaint == Complaint.id, ComplaintUpdate.onsite == True,  # noqa: E712
        ComplaintUpdate.at <= now)
    return Complaint.still_open().where(Complaint.onsite_due_at < now, ~fn.EXISTS(visited))


def solution_late(now=None, ids=None):
    """Return open complaints whose investigation started too many working days ago with no solution (CMP-4).

    ``ids`` limits the question to those complaints (a list page's rows).
    """
    Complaint = models.Complaint
    Investigation = models.Investigation
    now = now or models.utcnow()
    started = (Investigation.select(Investigation.complaint, Investigation.started_at)
               .join(Complaint)
               .where(Investigation.started_at <= now, Complaint.status.not_in(Complaint.FINAL_STATUSES))
               .order_by(Investigation.started_at))
    if ids is not None:
        started = started.where(backend.among(Investigation.complaint, ids))
    first = {}
    for complaint_id, started_at in started.tuples():
        first.setdefault(complaint_id, started_at)
    late = [pk for pk, started_at in first.items() if solution_due_at(started_at) < now]
    proposed = _complaints_with_a_standing_solution(late, now)
    return Complaint.select().where(backend.among(Complaint.id, [pk for pk in late if pk not in proposed]))


def _complaints_with_a_standing_solution(complaint_ids, now):
    """Return the complaints of ``complaint_ids`` with a solution proposed by ``now`` and not turned down
    (rejected by the GM or withdrawn by its proposer): such a solution stops the CMP-4 reminder."""
    if not complaint_ids:
        return set()
    return set(first_standing_solution(complaint_ids, now))


def first_standing_solution(complaint_ids, now):
    """Return {complaint id: when its first solution still standing at ``now`` was proposed} (CMP-4).

    ``complaint_ids`` is a list or a query of complaint ids. A solution the GM rejected, or one withdrawn, does not
    stand: the solution clock runs on until one that stands is proposed. Two queries whatever the number.
    """
    Solution = models.Solution
    Approval = models.Approval
    solutions = Solution.select(Solution.id, Solution.complaint, Solution.created_at, Solution.approved_by).where(
        Solution.complaint.in_(complaint_ids), Solution.created_at <= now)
    rows = {}
    for row in (Approval.select(Approval.target_id, Approval.status)
                .where(Approval.target_model == "Solution", Approval.kind == "approve",
                       Approval.target_id.in_(solutions.select(Solution.id)))
                .order_by(Approval.id.desc()).tuples()):
        rows.setdefault(row[0], []).append(row[1])
    first = {}
    for solution_id, complaint_id, created_at, approved_by in solutions.tuples():
        statuses = rows.get(solution_id, [])
        # The state of the latest request, as approvals.state() reads it (newest first).
        state = None
        if statuses:
            state = "pending" if "pending" in statuses else next(
                (s for s in statuses if s in ("approved", "rejected")), "withdrawn")
        if approved_by is None and state in ("rejected", "withdrawn"):
            continue
        if complaint_id not in first or created_at < first[complaint_id]:
            first[complaint_id] = created_at
    return first


def progress_lacking(now=None):
    """Return open complaints older than 7 days told of progress too rarely in the last 7 days (CMP-7)."""
    Complaint = models.Complaint
    ComplaintUpdate = models.ComplaintUpdate
    now = now or models.utcnow()
    since = now - datetime.timedelta(days=PROGRESS_WINDOW_DAYS)
    informed = fn.COALESCE(ComplaintUpdate.select(fn.COUNT(ComplaintUpdate.id))
                           .where(ComplaintUpdate.complaint == Complaint.id,
                                  ComplaintUpdate.notified_customer == True,  # noqa: E712
                                  ComplaintUpdate.at > since, ComplaintUpdate.at <= now), 0)
    return Complaint.still_open().where(Complaint.received_at < since, informed < CMP_7.get("min_updates"))


def missing_return_visit(now=None, ids=None):
    """Return customers who complained without a return visit since (CMP-8).

    Complaints of this (Beijing) year count, and last year's too: a December complaint still owes its return
    visit in January. Only visits that happened (dated no later than today) count. ``ids`` limits the
    question to those customers (a list page's rows).
    """
    Complaint = models.Complaint
    Visit = models.Visit
    now = now or models.utcnow()
    today = to_local(now).date()
    start, _ = year_bounds(today.year - 1)
    complained = (Complaint.select(Complaint.customer, fn.MAX(Complaint.received_at))
                  .where(Complaint.customer.is_null(False), Complaint.received_at >= start,
                         Complaint.received_at <= now)
                  .group_by(Complaint.customer))
    visits = Visit.select(Visit.customer, fn.MAX(Visit.visited_on)).where(Visit.kind == "return",
                                                                         Visit.visited_on <= today)
    if ids is not None:
        complained = complained.where(backend.among(Complaint.customer, ids))
        visits = visits.where(backend.among(Visit.customer, ids))
    visited = dict(visits.group_by(Visit.customer).tuples())
    missing = []
    for customer_id, received_at in complained.tuples():
        last_visit = visited.get(customer_id)
        if last_visit is None or last_visit < to_local(received_at).date():
            missing.append(customer_id)
    return models.Customer.select().where(backend.among(models.Customer.id, missing))


def solution_late_candidates(now=None):
    """Return the open complaints with an investigation started: the only ones CMP-4 can flag."""
    Complaint = models.Complaint
    Investigation = models.Investigation
    inner = Complaint.alias()
    started = Investigation.select(SQL("1")).where(Investigation.complaint == inner.id,
                                                   Investigation.started_at <= (now or models.utcnow()))
    # The few open, investigated ones as a list of ids: the planner walks that list, newest first, and
    # probes the secrecy condition for those rows only (not every complaint in id order).
    ids = inner.select(inner.id).where(inner.status.in_(Complaint.OPEN_STATUSES), fn.EXISTS(started))
    return Complaint.select().where(Complaint.id.in_(ids))


def complained_recently(now=None):
    """Return the customers with a complaint this year or last (up to now): the only ones CMP-8 can flag."""
    Complaint = models.Complaint
    now = now or models.utcnow()
    start, _ = year_bounds(to_local(now).date().year - 1)
    complained = Complaint.select(SQL("1")).where(Complaint.customer == models.Customer.id,
                                                  Complaint.received_at >= start, Complaint.received_at <= now)
    return models.Customer.select().where(fn.EXISTS(complained))


flag(CMP_2, models.Complaint, overdue, badge="danger", name="overdue")
flag(CMP_3, models.Complaint, onsite_overdue, badge="danger", name="onsite_overdue")
flag(CMP_4, models.Complaint, solution_late, badge="warning", name="solution_late",
     candidates=solution_late_candidates)
flag(CMP_7, models.Complaint, progress_lacking, badge="warning", name="progress_lacking")
flag(CMP_8, models.Customer, missing_return_visit, badge="warning", name="missing_return_visit",
     candidates=complained_recently)
