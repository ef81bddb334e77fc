"""投诉看板: complaints by status with their running clocks, each complaint's whole story, the monthly report.

Deadlines are stored on the complaint when it is saved (CMP-2 ``due_at``, CMP-3 ``onsite_due_at``) or follow
from stored facts (CMP-4 from the investigation's start, CMP-7 from the customer notices); whether a clock is
ok, amber or red is computed here at read time from those stored values and ``now``, so it is never stale.
A page of the board is a fixed number of queries whatever the number of complaints.
"""
import datetime
import decimal
import io
import json
import math

from flask import abort
from flask import flash
from flask import redirect
from flask import request
from flask import send_file
from flask import url_for
from flask_admin import expose
from flask_login import current_user
from peewee import JOIN
from peewee import BooleanField
from peewee import Case
from peewee import DateTimeField
from peewee import ForeignKeyField
from peewee import fn

import models
import policies
from policies import approvals
from policies import audit
from policies import calendar
from policies import complaints as rules
from policies import workflow
from policies.calendar import to_local
from views import access
from views.auth import safe_next
from views.base import SecureView

CATEGORY = "投诉"
STATUS_LABELS = dict(models.COMPLAINT_STATUS)
CATEGORY_LABELS = dict(models.COMPLAINT_CATEGORY)
SEVERITY_LABELS = dict(models.SEVERITY)
CHANNEL_LABELS = dict(models.COMPLAINT_CHANNEL)
SATISFACTION_LABELS = dict(models.SATISFACTION)
# The board's columns in workflow order; 不成立 is shown folded after them.
OPEN_COLUMNS = ("received", "investigating", "solution_pending", "replied", "return_visit")
COLUMNS = OPEN_COLUMNS + ("closed",)
FOLDED = ("rejected",)
COLUMN_SIZE = 20
# A running clock turns amber when less than this share of its span is left.
AMBER_SHARE = 0.25
OK = "ok"
AMBER = "amber"
RED = "red"
MET = "met"
PROGRESS_WINDOW = datetime.timedelta(days=rules.PROGRESS_WINDOW_DAYS)
APPROVAL_STATE_LABELS = {
    None: "未送审", "pending": "待总经理批准", "approved": "总经理已批准", "rejected": "已驳回", "withdrawn": "已撤回",
}


# ---------------------------------------------------------------- clocks
def clock_state(start, due, now, breached_at_due=False):
    """Return 'ok', 'amber' (under 25 % of the span left) or 'red' (past ``due``) of a running clock."""
    if now > due or (breached_at_due and now >= due):
        return RED
    span = (due - start).total_seconds()
    left = (due - now).total_seconds()
    if span > 0 and left < span * AMBER_SHARE:
        return AMBER
    return OK


def format_span(delta):
    """Return a duration as "2 天 3 小时", "5 小时 10 分钟", "5 小时" or "12 分钟"."""
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} 天 {hours} 小时" if hours else f"{days} 天"
    if hours:
        return f"{hours} 小时 {minutes} 分钟" if minutes else f"{hours} 小时"
    return f"{minutes} 分钟"


class Clock:
    """One deadline of a complaint: running (ok/amber/red) or stopped (met, or red for good when missed)."""

    def __init__(self, key, label, rule_id, start, due, now, stopped_at=None, breached_at_due=False):
        self.key = key
        self.label = label
        self.rule_id = rule_id
        self.start = start
        self.due = due
        self.stopped_at = stopped_at
        self.breached_at_due = breached_at_due
        if stopped_at is not None:
            late = stopped_at > due or (breached_at_due and stopped_at >= due)
            self.state = RED if late else MET
        else:
            self.state = clock_state(start, due, now, breached_at_due)
        self.running = stopped_at is None
        self.text = self._text(now)

    def _text(self, now):
        if not self.running:
            return f"超时 {format_span(self.stopped_at - self.due)}后完成" if self.state == RED else "按时完成"
        if self.state == RED:
            return f"已超时 {format_span(now - self.due)}"
        return f"剩余 {format_span(self.due - now)}"

    @property
    def breached(self):
        return self.state == RED

    def iso(self, value):
        return value.replace(tzinfo=datetime.timezone.utc).isoformat() if value else ""


def progress_breached(received_at, notices, end, need=None):
    """Return True when, at some moment between 7 days after receipt and ``end``, fewer than ``need``
    ([2]) customer notices fell within the last 7 days (CMP-7; ``notices`` sorted, all ≤ ``end``)."""
    need = policies.RULES["CMP-7"].get("min_updates") if need is None else need
    earliest = received_at + PROGRESS_WINDOW
    if end <= earliest:
        return False
    # Between two notices the count only falls, so the worst moments are just before each notice and ``end``.
    for i, at in enumerate(notices):
        if at > earliest:
            before = notices[:i]
            if len(before) < need or before[-need] < at - PROGRESS_WINDOW:
                return True
    return len(notices) < need or notices[-need] <= end - PROGRESS_WINDOW


class Facts:
    """The stored facts the clocks of many complaints need, fetched in one query each."""

    def __init__(self, ids_query, now):
        self.now = now
        update = models.ComplaintUpdate
        # CMP-3: only an update on site stops the on-site clock (a phone note does not).
        self.first_update = dict(
            update.select(update.complaint, fn.MIN(update.at))
            .where(update.complaint.in_(ids_query), update.at <= now, update.onsite == True)  # noqa: E712
            .group_by(update.complaint).tuples())
        self.notices = {}
        for complaint_id, at in (update.select(update.complaint, update.at)
                                 .where(update.complaint.in_(ids_query), update.notified_customer == True,  # noqa: E712
                                        update.at <= now)
                                 .order_by(update.complaint, update.at).tuples()):
            self.notices.setdefault(complaint_id, []).append(at)
        investigation = models.Investigation
        self.investigation_started = dict(
            investigation.select(investigation.complaint, fn.MIN(investigation.started_at))
            .where(investigation.complaint.in_(ids_query), investigation.started_at <= now)
            .group_by(investigation.complaint).tuples())
        # CMP-4: the first solution still standing stops the clock (one the GM rejected, or withdrawn, does not).
        self.first_solution = rules.first_standing_solution(ids_query, now)
        rule_on = {rid: policies.RULES[rid].on() for rid in ("CMP-2", "CMP-3", "CMP-4", "CMP-7")}
        self.on = rule_on
        self.min_updates = policies.RULES["CMP-7"].get("min_updates")
        self.working_days = policies.RULES["CMP-4"].get("working_days")
        starts = list(self.investigation_started.values())
        self.overrides = {}
        if starts:
            first = to_local(min(starts)).date()
            last = to_local(max(starts)).date() + datetime.timedelta(days=self.working_days * 3 + 30)
            self.overrides = calendar.overrides_between(first, last)

    def solution_due(self, started_at):
        return rules.solution_due_at(started_at, self.working_days, self.overrides)

    def clocks(self, complaint):
        """Return the clocks of ``complaint`` (fields id, status, received_at, due_at, onsite_due_at, closed_at)."""
        now = self.now
        final = complaint.status in rules.FINAL_STATUSES
        ended = complaint.closed_at if final else None
        if final and ended is None:
            ended = now
        result = []
        if self.on["CMP-2"] and complaint.due_at is not None:
            result.append(Clock("close", "结案", "CMP-2", complaint.received_at, complaint.due_at, now, ended))
        if self.on["CMP-3"] and complaint.onsite_due_at is not None:
            first = self.first_update.get(complaint.id)
            stop = min(t for t in (first, ended) if t is not None) if (first or ended) else None
            result.append(Clock("onsite", "现场处理", "CMP-3", complaint.received_at, complaint.onsite_due_at, now,
                                stop))
        started = self.investigation_started.get(complaint.id)
        if self.on["CMP-4"] and started is not None:
            solved = self.first_solution.get(complaint.id)
            stop = min(t for t in (solved, ended) if t is not None) if (solved or ended) else None
            result.append(Clock("solution", "提出方案", "CMP-4", started, self.solution_due(started), now, stop))
        if self.on["CMP-7"] and not final:
            notices = self.notices.get(complaint.id, [])
            earliest = complaint.received_at + PROGRESS_WINDOW
            second = notices[-self.min_updates] if len(notices) >= self.min_updates else None
            due = earliest
            # Once the notices carry past the first week, the clock breaks the moment the older one leaves the window.
            counted_from_notice = second is not None and second + PROGRESS_WINDOW > earliest
            if counted_from_notice:
                due = second + PROGRESS_WINDOW
            result.append(Clock("progress", "进展告知", "CMP-7", due - PROGRESS_WINDOW, due, now,
                                breached_at_due=counted_from_notice))
        return result

    def ever_breached(self, complaint):
        """Return {clock key: True} of the clocks this complaint missed (running late, or finished late)."""
        found = {c.key: c.breached for c in self.clocks(complaint) if c.key != "progress"}
        if self.on["CMP-7"]:
            final = complaint.status in rules.FINAL_STATUSES
            end = (complaint.closed_at or self.now) if final else self.now
            found["progress"] = progress_breached(complaint.received_at, self.notices.get(complaint.id, []),
                                                  min(end, self.now), self.min_updates)
        return found


# ---------------------------------------------------------------- the board
def _int(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


class Filters:
    """The board's filters as asked by the query string."""

    def __init__(self, args, user):
        self.department = _int(args.get("department"))
        self.assignee = _int(args.get("assignee"))
        self.category = args.get("category", "") if args.get("category") in CATEGORY_LABELS else ""
        self.severity = args.get("severity", "") if args.get("severity") in SEVERITY_LABELS else ""
        self.mine = args.get("mine") == "1"
        self.breached = args.get("breached") == "1"
        self.user = user

    def apply(self, query):
        complaint = models.Complaint
        if self.department is not None:
            query = query.where(complaint.department == self.department)
        if self.assignee is not None:
            query = query.where(complaint.assignee == self.assignee)
        if self.category:
            query = query.where(complaint.category == self.category)
        if self.severity:
            query = query.where(complaint.severity == self.severity)
        if self.mine:
            query = query.where(complaint.assignee == self.user.id)
        return query

    def args(self, **extra):
        values = {"department": self.department, "assignee": self.assignee, "category": self.category or None,
                  "severity": self.severity or None, "mine": "1" if self.mine else None,
                  "breached": "1" if self.breached else None}
        values.update(extra)
        return {k: v for k, v in values.items() if v not in (None, "")}

    @property
    def active(self):
        return bool(self.args())


LIGHT_FIELDS = ("id", "status", "received_at", "due_at", "onsite_due_at", "closed_at")


def visible(user, filters=None):
    """Return the complaints ``user`` may see (ARC-3 through ``access.scope``), narrowed by ``filters``."""
    complaint = models.Complaint
    query = access.scope(complaint, complaint.select(complaint.id), user)
    return filters.apply(query) if filters is not None else query


def breached_condition(user, filters, now):
    """Return the condition on Complaint of the filtered ones with a red clock: open ones whose clocks (computed
    here) show a breach, finished ones closed after their deadline."""
    complaint = models.Complaint
    still_open = visible(user, filters).where(complaint.status.not_in(rules.FINAL_STATUSES))
    open_rows = list(still_open.select(*[getattr(complaint, f) for f in LIGHT_FIELDS]).namedtuples())
    facts = Facts(still_open, now)
    red = [row.id for row in open_rows if any(c.breached for c in facts.clocks(row))]
    late = complaint.status.in_(rules.FINAL_STATUSES) & (complaint.closed_at > complaint.due_at)
    return complaint.id.in_(red) | late if red else late


class Card:
    """One complaint as the board shows it."""

    def __init__(self, row, clocks, moves=()):
        self.complaint = row
        self.moves = list(moves)
        self.id = row.id
        self.number = row.number
        self.complainant = row.complainant
        self.customer = row.customer.name if row.customer_id and row.customer else ""
        self.category = CATEGORY_LABELS.get(row.category, row.category)
        self.severity = SEVERITY_LABELS.get(row.severity, row.severity)
        self.major = row.severity == "major"
        self.assignee = (row.assignee.display_name or row.assignee.username) if row.assignee_id and row.assignee else ""
        self.department = row.department.name if row.department_id and row.department else ""
        self.status = row.status
        if row.status in rules.FINAL_STATUSES:
            # A finished complaint keeps only a missed close deadline on the board (the page and the report tell
            # every clock); "breached only" asks the same.
            clocks = [c for c in clocks if c.key == "close" and c.state == RED]
        else:
            # An open complaint shows every clock still running and every one already missed.
            clocks = [c for c in clocks if c.running or c.state == RED]
        self.clocks = clocks
        self.breached = any(c.breached for c in clocks)


def card_query(ids_condition):
    """Return the complaints with customer, assignee and department joined (one query for many cards)."""
    complaint = models.Complaint
    customer = models.Customer
    assignee = models.User.alias("assignee")
    department = models.Department
    return (complaint.select(complaint, customer.id, customer.name, assignee.id, assignee.username,
                             assignee.display_name, department.id, department.name)
            .join_from(complaint, customer, JOIN.LEFT_OUTER, on=(complaint.customer == customer.id), attr="customer")
            .join_from(complaint, assignee, JOIN.LEFT_OUTER, on=(complaint.assignee == assignee.id), attr="assignee")
            .join_from(complaint, department, JOIN.LEFT_OUTER, on=(complaint.department == department.id),
                       attr="department")
            .where(ids_condition))


def board(user, filters, pages=None, now=None, size=COLUMN_SIZE):
    """Return the columns of the board: [{status, label, total, page, pages, cards}] (a fixed number of queries)."""
    now = now or models.utcnow()
    pages = pages or {}
    complaint = models.Complaint
    base = visible(user, filters)
    if filters.breached:
        base = base.where(breached_condition(user, filters, now))
    totals = dict(base.select(complaint.status, fn.COUNT(complaint.id)).group_by(complaint.status).tuples())
    columns = []
    for status in COLUMNS + FOLDED:
        total = totals.get(status, 0)
        count = max(1, math.ceil(total / size))
        page = min(max(pages.get(status, 0), 0), count - 1)
        columns.append({"status": status, "label": STATUS_LABELS[status], "total": total, "page": page,
                        "pages": count, "cards": [], "folded": status in FOLDED})
    # One query for the ids of every column's page: each complaint ranked within its status.
    rank = fn.ROW_NUMBER().over(partition_by=[complaint.status], order_by=[
        Case(None, [(complaint.status.in_(rules.FINAL_STATUSES), complaint.closed_at)], None).desc(nulls="LAST"),
        complaint.due_at.asc(nulls="LAST"), complaint.id.asc()])
    ranked = base.select(complaint.id, complaint.status, rank.alias("rank")).alias("ranked")
    wanted = None
    for column in columns:
        first = column["page"] * size
        cond = (ranked.c.status == column["status"]) & (ranked.c.rank > first) & (ranked.c.rank <= first + size)
        wanted = cond if wanted is None else wanted | cond
    page_ids = [pk for (pk,) in complaint.select(ranked.c.id).from_(ranked).where(wanted).tuples()]
    rows = list(card_query(complaint.id.in_(page_ids))) if page_ids else []
    facts = Facts(page_ids, now)
    by_status = {c["status"]: c for c in columns}
    for row in rows:
        by_status[row.status]["cards"].append(Card(row, facts.clocks(row), moves_for(row, user)))
    for column in columns:
        column["cards"].sort(key=_card_key(column["status"]))
    return columns


def _card_key(status):
    """Sort a column's page as the ranking did: finished ones latest first, open ones most urgent first."""
    far = datetime.datetime.max
    if status in rules.FINAL_STATUSES:
        return lambda card: (card.complaint.closed_at is None,
                             -(card.complaint.closed_at or far).timestamp() if card.complaint.closed_at else 0,
                             card.complaint.due_at or far, card.id)
    return lambda card: (card.complaint.due_at or far, card.id)


def major_open(user, limit=5):
    """Return (count, [(complaint, acknowledged)]) of the open major complaints ``user`` may see (CMP-5 banner)."""
    complaint = models.Complaint
    query = access.scope(complaint, complaint.still_open().where(complaint.severity == "major"), user)
    count = query.count()
    rows = list(query.order_by(complaint.received_at.desc()).limit(limit))
    waiting = set()
    if rows:
        approval = models.Approval
        waiting = {int(pk) for (pk,) in approval.select(approval.target_id).where(
            approval.target_model == "Complaint", approval.rule == "CMP-5", approval.status == "pending",
            approval.target_id.in_([str(r.id) for r in rows])).tuples()}
    return count, [(row, row.id not in waiting) for row in rows]


def filter_options(user):
    """Return (departments, assignees) offered by the filters: those of the complaints ``user`` may see."""
    complaint = models.Complaint
    base = visible(user)
    departments = list(models.Department.select(models.Department.id, models.Department.name)
                       .where(models.Department.id.in_(
                           complaint.select(complaint.department).where(complaint.id.in_(base))))
                       .order_by(models.Department.name))
    assignees = list(models.User.select(models.User.id, models.User.username, models.User.display_name)
                     .where(models.User.id.in_(complaint.select(complaint.assignee).where(complaint.id.in_(base))))
                     .order_by(models.User.display_name))
    return departments, assignees


# ---------------------------------------------------------------- moving a card
# Moves are the actions ``Complaint``'s ``Meta.workflow`` declares, run by ``policies.workflow``.
INPUT_LABELS = {"satisfaction": "客户满意度", "rejection_reason": "不成立原因(已向客户说明)", "reason": "原因"}


class Move:
    """One way a card may move: the action's name, its button and the inputs the person supplies."""

    def __init__(self, name, act):
        self.name = name
        self.label = act.label
        self.target = act.target
        self.target_label = STATUS_LABELS.get(act.target, act.target)
        self.inputs = tuple(act.sets) + tuple(act.params) + (("reason",) if act.reason else ())
        self.style = act.style or "primary"
        self.refusals = []

    def input_label(self, name):
        return INPUT_LABELS.get(name, name)


def moves_for(complaint, user):
    """Return the moves ``user`` is offered on ``complaint``: the declared actions from its status for the
    user's roles (no query per card). Whether a move may happen is the engine's and the rules' answer when made."""
    if not access.can(user, "Complaint", "edit"):
        return []
    roles = set(access.role_codes(user))
    return [Move(name, act) for name, act in workflow.spec(models.Complaint).actions.items()
            if act.target is not None and act.starts_from(complaint.status)
            and (not act.roles or roles & set(act.roles))]


def with_refusals(complaint, user, moves):
    """Note on each move why the engine would refuse it now (the complaint page shows it beside the button)."""
    for item in moves:
        act = workflow.action_of(models.Complaint, item.name)
        item.refusals = [policies.RULES[rid].message(text) if rid in policies.RULES else text
                         for rid, text, _ in workflow.refusal(complaint, act, user, check_inputs=False)]
    return moves


def move(complaint, name, user, values):
    """Move ``complaint`` by the action ``name`` (``policies.workflow.run_action``: same save path as the form).

    Raises PolicyViolation (Chinese message with the rule id) when refused; nothing is then written.
    """
    return workflow.run_action(complaint, name, user, **values)


def move_values(form, chosen):
    """Return the inputs of the move ``chosen`` from the posted ``form`` (only those it declares)."""
    values = {}
    for name in chosen.inputs:
        value = (form.get(name) or "").strip()
        if name == "satisfaction":
            value = value if value in SATISFACTION_LABELS else None
        values[name] = value
    return values


# ---------------------------------------------------------------- the complaint's page
def story(complaint, user, now=None):
    """Return everything known about ``complaint`` for its page (what ``user`` may see of it)."""
    now = now or models.utcnow()
    facts = Facts(models.Complaint.select(models.Complaint.id).where(models.Complaint.id == complaint.id), now)
    updates = list(complaint.updates.order_by(models.ComplaintUpdate.at, models.ComplaintUpdate.id))
    investigations = list(complaint.investigations.order_by(models.Investigation.started_at))
    solutions = []
    for solution in complaint.solutions.order_by(models.Solution.created_at, models.Solution.id):
        state = approvals.state(solution)
        if solution.approved_by_id is not None and state is None:
            state = "approved"
        solutions.append((solution, APPROVAL_STATE_LABELS.get(state, state)))
    visits = []
    if complaint.customer_id is not None:
        visit = models.Visit
        since = to_local(complaint.received_at).date()
        visits = list(access.scope(visit, visit.select().where(
            visit.customer == complaint.customer_id, visit.kind == "return", visit.visited_on >= since), user)
            .order_by(visit.visited_on))
    children = {"ComplaintUpdate": [u.id for u in updates], "Investigation": [i.id for i in investigations],
                "Solution": [s.id for s, _ in solutions]}
    log = models.AuditLog
    cond = (log.model == "Complaint") & (log.record_id == str(complaint.id))
    for name, ids in children.items():
        if ids:
            cond |= (log.model == name) & log.record_id.in_([str(i) for i in ids])
    history = list(access.scope(log, log.select().where(cond), user).order_by(log.at.desc(), log.id.desc())
                   .limit(200))
    return {
        "complaint": complaint, "clocks": facts.clocks(complaint), "updates": updates,
        "investigations": investigations, "solutions": solutions, "visits": visits, "history": history,
        "notices": len(facts.notices.get(complaint.id, [])),
    }


STORY_MODELS = {m.__name__: m for m in (models.Complaint, models.ComplaintUpdate, models.Investigation,
                                         models.Solution)}
TYPE_LABELS = {name: model.label() for name, model in STORY_MODELS.items()}


# Audit entries of the story leave out what the page already says (the row's id, its complaint).
HIDDEN_HISTORY_FIELDS = {"id", "complaint"}


def _shown_value(field, value, names):
    if value in (None, ""):
        return value
    if field is None:
        return value
    if field.choices:
        return dict(field.choices).get(value, value)
    if isinstance(field, ForeignKeyField):
        return names.get((field.rel_model, str(value)), value)
    if isinstance(field, BooleanField):
        return "是" if value in (True, "True", "true", 1, "1") else "否"
    if isinstance(field, DateTimeField):
        try:
            return to_local(datetime.datetime.fromisoformat(str(value))).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return value
    return value


def _same(old, new):
    try:
        return decimal.Decimal(str(old)) == decimal.Decimal(str(new))
    except (decimal.InvalidOperation, ValueError):
        return False


def history_lines(rows):
    """Return [(row, [(field label, old, new)])] of the story's audit rows: labels, choices, names, local times."""
    wanted = {}
    parsed = []
    for row in rows:
        model = STORY_MODELS.get(row.model)
        changes = []
        for name, pair in row.changes_dict().items():
            field = model._meta.fields.get(name) if model is not None else None
            if name in HIDDEN_HISTORY_FIELDS or name in models.BaseModel.AUDIT_FIELDS:
                continue
            old, new = (list(pair) + [None, None])[:2] if isinstance(pair, (list, tuple)) else (None, pair)
            if old not in (None, "") and _same(old, new):
                continue
            if isinstance(field, ForeignKeyField):
                for value in (old, new):
                    if value not in (None, ""):
                        wanted.setdefault(field.rel_model, set()).add(str(value))
            changes.append((field, name, old, new))
        parsed.append((row, changes))
    names = {}
    for model, ids in wanted.items():
        label = {models.User: models.User.display_name, models.Department: models.Department.name,
                 models.Customer: models.Customer.name}.get(model)
        if label is None:
            continue
        for pk, text in model.select(model.id, label).where(model.id.in_([int(i) for i in ids if i.isdigit()])).tuples():
            names[(model, str(pk))] = text
    return [(row, [((field.verbose_name or name) if field is not None else name,
                    _shown_value(field, old, names), _shown_value(field, new, names))
                   for field, name, old, new in changes])
            for row, changes in parsed]


# ---------------------------------------------------------------- monthly statistics (CMP-9)
def percentile(values, share):
    """Return the nearest-rank percentile: the smallest value with at least ``share`` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def month_statistics(year, month, user=None, now=None):
    """Return the 投诉统计表 of the Beijing month: ``monthly_report`` plus channels, progress, close times,
    breaches per clock and return-visit coverage, over the complaints ``user`` may see (all when None)."""
    now = now or models.utcnow()
    complaint = models.Complaint
    scoped = complaint.select() if user is None else access.scope(complaint, complaint.select(), user)
    report = rules.monthly_report(year, month, now, query=scoped)
    start, end = rules.month_bounds(year, month)
    in_month = (complaint.received_at >= start) & (complaint.received_at < end)
    rows = list(scoped.select(complaint.id, complaint.status, complaint.channel, complaint.received_at,
                              complaint.due_at, complaint.onsite_due_at, complaint.closed_at,
                              complaint.customer.alias("customer_id"))
                .where(in_month).order_by(complaint.received_at).namedtuples())
    month_ids = scoped.select(complaint.id).where(in_month)
    by_channel = {code: 0 for code in CHANNEL_LABELS}
    by_status = {code: 0 for code in STATUS_LABELS}
    close_hours = []
    within = 0
    for row in rows:
        by_channel[row.channel] = by_channel.get(row.channel, 0) + 1
        by_status[row.status] = by_status.get(row.status, 0) + 1
        if row.status == "closed" and row.closed_at is not None:
            close_hours.append((row.closed_at - row.received_at).total_seconds() / 3600)
            if row.due_at is None or row.closed_at <= row.due_at:
                within += 1
    facts = Facts(month_ids, now)
    breaches = {"close": 0, "onsite": 0, "solution": 0, "progress": 0}
    for row in rows:
        for key, missed in facts.ever_breached(row).items():
            breaches[key] += 1 if missed else 0
    # CMP-8: every customer who complained this month visited back (a return visit on or after the complaint).
    latest = {}
    for row in rows:
        if row.customer_id is not None:
            latest[row.customer_id] = max(latest.get(row.customer_id, row.received_at), row.received_at)
    visited = dict(models.Visit.select(models.Visit.customer, fn.MAX(models.Visit.visited_on))
                   .where(models.Visit.kind == "return", models.Visit.customer.in_(list(latest)) if latest else False)
                   .group_by(models.Visit.customer).tuples())
    covered = sum(1 for cid, at in latest.items()
                  if visited.get(cid) is not None and visited[cid] >= to_local(at).date())
    p90 = percentile(close_hours, 0.9)
    report.update({
        "by_channel": by_channel, "by_status": by_status,
        "received": len(rows), "closed": by_status.get("closed", 0), "rejected": by_status.get("rejected", 0),
        "open": sum(n for s, n in by_status.items() if s not in rules.FINAL_STATUSES),
        "closed_within": within, "close_days": policies.RULES["CMP-2"].get("days"),
        "average_close_hours": round(sum(close_hours) / len(close_hours), 1) if close_hours else None,
        "p90_close_hours": round(p90, 1) if p90 is not None else None,
        "breaches": breaches,
        "customers": len(latest), "visited": covered,
        "scope": (user.display_name or user.username) if user is not None else "",
        "coverage": round(100 * covered / len(latest), 1) if latest else None,
    })
    return report


def labelled(counts, labels):
    """Return [(label, count)] in the order of ``labels`` (unknown codes last)."""
    known = [(labels[code], counts.get(code, 0)) for code in labels]
    return known + [(code, n) for code, n in counts.items() if code not in labels]


BREACH_LABELS = (("close", "结案超期(CMP-2)"), ("onsite", "现场处理超时(CMP-3)"),
                 ("solution", "方案提出超时(CMP-4)"), ("progress", "进展告知不足(CMP-7)"))


def summary_lines(stats):
    """Return the headline figures of the report as [(label, value)] (page and workbook share them)."""
    def hours(value):
        return "—" if value is None else f"{value} 小时"
    return [
        ("本月受理", stats["received"]),
        ("已结案", stats["closed"]),
        ("不成立", stats["rejected"]),
        ("尚未办结", stats["open"]),
        (f"{stats['close_days']} 天内结案", stats["closed_within"]),
        ("平均结案时长", hours(stats["average_close_hours"])),
        ("90% 结案时长(P90)", hours(stats["p90_close_hours"])),
        ("超期(含未结超期)", stats["overdue"]),
        ("回访覆盖率(CMP-8)", "—" if stats["coverage"] is None else
         f"{stats['coverage']}%({stats['visited']}/{stats['customers']})"),
    ]


def workbook(stats):
    """Return the 投诉统计表 as an XLSX report (bytes)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment
    from openpyxl.styles import Font
    from openpyxl.styles import PatternFill

    book = Workbook()
    sheet = book.active
    sheet.title = "投诉统计表"
    title = f"{stats['year']}年{stats['month']}月 投诉统计表"
    sheet["A1"] = title
    sheet["A1"].font = Font(size=14, bold=True)
    sheet.merge_cells("A1:C1")
    sheet["A1"].alignment = Alignment(horizontal="center")
    sheet["A2"] = f"依据 CMP-9(000 篇四 第二十七条),应于 {stats['due_on']:%Y-%m-%d} 前呈报总经理审核"
    sheet.merge_cells("A2:C2")
    sheet["A3"] = f"生成时间 {to_local(models.utcnow()):%Y-%m-%d %H:%M}" + (
        f",统计范围:{stats['scope']}可查看的投诉" if stats.get("scope") else "")
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    row = 5

    def section(heading, lines, header=("项目", "数量")):
        nonlocal row
        sheet.cell(row=row, column=1, value=heading).font = Font(bold=True, size=12)
        row += 1
        for col, text in enumerate(header, start=1):
            cell = sheet.cell(row=row, column=col, value=text)
            cell.font = bold
            cell.fill = fill
        row += 1
        for label, value in lines:
            sheet.cell(row=row, column=1, value=label)
            sheet.cell(row=row, column=2, value=value)
            row += 1
        row += 1

    section("一、总体情况", summary_lines(stats), ("项目", "数值"))
    section("二、按投诉类别", labelled(stats["by_category"], CATEGORY_LABELS))
    section("三、按责任部门", sorted(stats["by_department"].items(), key=lambda kv: (-kv[1], kv[0])))
    section("四、按严重程度", labelled(stats["by_severity"], SEVERITY_LABELS))
    section("五、按投诉渠道", labelled(stats["by_channel"], CHANNEL_LABELS))
    section("六、各项时限超时", [(label, stats["breaches"][key]) for key, label in BREACH_LABELS], ("时限", "超时件数"))
    sheet.cell(row=row, column=1, value="编制:")
    sheet.cell(row=row, column=2, value="审核(总经理):")
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["B"].width = 22
    sheet.column_dimensions["C"].width = 16
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def report_generated(year, month):
    """Return True once someone downloaded the month's 投诉统计表 (the export is in the audit log, CMP-9) and it
    is still complete: no complaint of the month was entered, or had its receipt time corrected, after it."""
    log = models.AuditLog
    last = log.select(fn.MAX(log.at)).where(log.action == "export", log.model == "Complaint",
                                            log.changes.contains(f"投诉统计表 {year}-{month:02d}")).scalar()
    if last is None:
        return False
    Complaint = models.Complaint
    start, end = rules.month_bounds(year, month)
    in_month = Complaint.select(Complaint.id).where(Complaint.received_at >= start, Complaint.received_at < end)
    if in_month.where(Complaint.created_at > last).exists():
        return False
    corrected = log.select(log.record_id).where(log.model == "Complaint", log.at > last,
                                                log.changes.contains("更正受理时间"))
    ids = [int(pk) for (pk,) in corrected.tuples() if str(pk).isdigit()]
    return not (ids and in_month.where(Complaint.id.in_(ids)).exists())


def report_reminder(today=None):
    """Return last month's 投诉统计表 still to generate (CMP-9), for the dashboard, or None once generated.

    {"year", "month", "due_on", "overdue", "url"}: due by the [10]th; overdue after it until someone downloads it.
    """
    today = today or calendar.local_today()
    if not policies.RULES["CMP-9"].on():
        return None
    last = today.replace(day=1) - datetime.timedelta(days=1)
    if report_generated(last.year, last.month):
        return None
    due_on = rules.report_due(today)
    return {"year": last.year, "month": last.month, "due_on": due_on, "overdue": today > due_on,
            "url": url_for("complaint_stats.index", month=f"{last.year:04d}-{last.month:02d}")}


def parse_month(value, today):
    """Return (year, month) of "YYYY-MM", defaulting to last month."""
    try:
        year, month = (int(p) for p in (value or "").split("-"))
        if 2000 <= year <= 2100 and 1 <= month <= 12:
            return year, month
    except ValueError:
        pass
    first = today.replace(day=1) - datetime.timedelta(days=1)
    return first.year, first.month


def month_choices(today, count=24, chosen=None):
    """Return [("YYYY-MM", "YYYY年M月")] of the last ``count`` months up to ``today``'s (and ``chosen``)."""
    year, month = today.year, today.month
    result = []
    for _ in range(count):
        result.append((f"{year:04d}-{month:02d}", f"{year}年{month}月"))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    if chosen is not None and f"{chosen[0]:04d}-{chosen[1]:02d}" not in dict(result):
        result.append((f"{chosen[0]:04d}-{chosen[1]:02d}", f"{chosen[0]}年{chosen[1]}月"))
    return result


# ---------------------------------------------------------------- views
def can_view(user=None):
    user = current_user if user is None else user
    return user.is_authenticated and user.is_active and access.can(user, "Complaint", "view")


class ComplaintsAccess:
    """Open to whoever may view complaints (the permission matrix, 投诉 查看); rows as ``access.scope`` allows."""

    def is_accessible(self):
        return super().is_accessible() and can_view()

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return super().inaccessible_callback(name, **kwargs)
        abort(403)


class ComplaintBoardView(ComplaintsAccess, SecureView):
    """投诉看板: the complaints as columns by status, with their clocks; each complaint's whole story."""

    def _user(self):
        return current_user._get_current_object()

    def _complaint(self, complaint_id):
        if complaint_id is None:
            abort(400)
        complaint = models.Complaint.get_or_none(models.Complaint.id == complaint_id)
        if complaint is None or not access.can_see(complaint, self._user()):
            abort(404)
        return complaint

    @expose("/")
    def index(self):
        user = self._user()
        filters = Filters(request.args, user)
        pages = {status: _int(request.args.get(f"page_{status}")) or 0 for status in COLUMNS + FOLDED}
        now = models.utcnow()
        columns = board(user, filters, pages, now)
        major_count, majors = major_open(user)
        departments, assignees = filter_options(user)
        return self.render(
            "complaints/board.html", columns=columns, filters=filters, pages=pages, major_count=major_count,
            majors=majors, departments=departments, assignees=assignees, categories=models.COMPLAINT_CATEGORY,
            severities=models.SEVERITY, now=now, here=request.full_path, satisfaction_choices=models.SATISFACTION,
            claim_amount=policies.RULES["CMP-5"].get("claim_amount"),
        )

    @expose("/complaint/")
    def details(self):
        user = self._user()
        complaint_id = _int(request.args.get("id"))
        if complaint_id is None:
            return redirect(url_for(".index"))
        complaint = self._complaint(complaint_id)
        data = story(complaint, user)
        return self.render(
            "complaints/complaint.html", here=request.full_path,
            moves=with_refusals(complaint, user, moves_for(complaint, user)),
            satisfaction_choices=models.SATISFACTION,
            can_add_update=access.can(user, "ComplaintUpdate", "create"),
            can_edit_update=access.can(user, "ComplaintUpdate", "edit"),
            can_edit=access.can(user, "Complaint", "edit"),
            status_labels=STATUS_LABELS, category_labels=CATEGORY_LABELS, severity_labels=SEVERITY_LABELS,
            channel_labels=CHANNEL_LABELS, satisfaction_labels=SATISFACTION_LABELS, type_labels=TYPE_LABELS,
            history=history_lines(data.pop("history")), **data,
        )

    @expose("/updates/", methods=("POST",))
    def add_update(self):
        """Record a progress update (and whether the customer was told of it, CMP-7)."""
        user = self._user()
        if not access.can(user, "ComplaintUpdate", "create"):
            abort(403)
        complaint = self._complaint(_int(request.form.get("complaint")))
        back = url_for(".details", id=complaint.id)
        note = (request.form.get("note") or "").strip()
        if not note:
            flash("请填写处理进展。", "error")
            return redirect(back + "#add-update")
        update = models.ComplaintUpdate(complaint=complaint, by=user.id, note=note,
                                        notified_customer=request.form.get("notified_customer") == "1")
        if self._save(update):
            flash("已记录处理进展。", "success")
        return redirect(back + "#timeline")

    @expose("/notified/", methods=("POST",))
    def mark_notified(self):
        """Mark that the customer was told of an update (CMP-7 counts it)."""
        user = self._user()
        if not access.can(user, "ComplaintUpdate", "edit"):
            abort(403)
        complaint = self._complaint(_int(request.form.get("complaint")))
        update = models.ComplaintUpdate.get_or_none(models.ComplaintUpdate.id == _int(request.form.get("update")),
                                                    models.ComplaintUpdate.complaint == complaint.id)
        if update is None:
            abort(404)
        if not update.notified_customer:
            update.notified_customer = True
            if self._save(update):
                flash("已标记为已告知客户。", "success")
        return redirect(url_for(".details", id=complaint.id) + "#timeline")

    @expose("/move/", methods=("POST",))
    def move_view(self):
        """Move a card: the chosen action through the save path, the rule's refusal shown as it is."""
        user = self._user()
        if not access.can(user, "Complaint", "edit"):
            abort(403)
        complaint = self._complaint(_int(request.form.get("complaint")))
        back = back_to(url_for(".index"))
        name = request.form.get("action", "")
        chosen = next((m for m in moves_for(complaint, user) if m.name == name), None)
        if chosen is None:
            flash(f"投诉 {complaint.number} 当前为「{STATUS_LABELS.get(complaint.status)}」,不能执行这一流转。", "error")
            return redirect(back)
        version = _int(request.form.get("version"))
        if version is not None:
            # Move the version the person saw, not the one just read (someone else's change wins, no lost update).
            complaint.version = version
        try:
            move(complaint, chosen.name, user, move_values(request.form, chosen))
        except policies.PolicyViolation as exc:
            policies.log_blocked(exc, complaint)
            for violation in exc.violations:
                flash(f"投诉 {complaint.number} 未能{chosen.label}:{violation.message}", "error")
        except models.StaleEdit as exc:
            flash(f"投诉 {complaint.number}:{exc}请刷新后重试。", "error")
        else:
            flash(f"投诉 {complaint.number} 已{chosen.label},现为「{chosen.target_label}」。", "success")
        return redirect(back)

    @staticmethod
    def _save(record):
        """Save through ``save()`` in one transaction; show a rule's refusal (nothing written)."""
        try:
            with models.db.atomic():
                record.save()
        except policies.PolicyViolation as exc:
            policies.log_blocked(exc, record)
            for violation in exc.violations:
                flash(violation.message, "error")
            return False
        except models.StaleEdit as exc:
            flash(str(exc), "error")
            return False
        return True


class ComplaintStatsView(ComplaintsAccess, SecureView):
    """投诉统计: the monthly 投诉统计表 (CMP-9) with charts and an XLSX download."""

    def _month(self):
        return parse_month(request.args.get("month"), calendar.local_today())

    @expose("/")
    def index(self):
        year, month = self._month()
        user = current_user._get_current_object()
        stats = month_statistics(year, month, user)
        charts = {
            "category": labelled(stats["by_category"], CATEGORY_LABELS),
            "department": sorted(stats["by_department"].items(), key=lambda kv: (-kv[1], kv[0])),
            "severity": labelled(stats["by_severity"], SEVERITY_LABELS),
            "channel": labelled(stats["by_channel"], CHANNEL_LABELS),
            "breaches": [(label, stats["breaches"][key]) for key, label in BREACH_LABELS],
        }
        return self.render(
            "complaints/stats.html", stats=stats, year=year, month=month, summary=summary_lines(stats),
            charts=charts, charts_json=json.dumps(charts, ensure_ascii=False),
            generated=report_generated(year, month), can_export=access.can(user, "Complaint", "export"),
            months=month_choices(calendar.local_today(), chosen=(year, month)),
        )

    @expose("/xlsx/")
    def xlsx(self):
        user = current_user._get_current_object()
        if not access.can(user, "Complaint", "export"):
            abort(403)
        year, month = self._month()
        stats = month_statistics(year, month, user)
        data = workbook(stats)
        with models.db.atomic():
            audit.log("export", "Complaint", "", {"格式": ["", "xlsx"], "报表": ["", f"投诉统计表 {year}-{month:02d}"]})
        return send_file(io.BytesIO(data), as_attachment=True, download_name=f"complaint_report_{year}{month:02d}.xlsx",
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def back_to(default):
    return safe_next(request.form.get("next") or request.args.get("next"), default)


def register_complaint_views(admin):
    """Add 投诉看板 and 投诉统计 to ``admin`` (menu 投诉)."""
    admin.add_view(ComplaintBoardView(name="投诉看板", category=CATEGORY, endpoint="complaint_board",
                                      url="/admin/complaint-board"))
    admin.add_view(ComplaintStatsView(name="投诉统计", category=CATEGORY, endpoint="complaint_stats",
                                      url="/admin/complaint-stats"))
