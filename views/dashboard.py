"""The workbench (工作台): what the current user must act on, as tiles that open the filtered lists.

Every flag rule registered with ``policies.engine.flag`` becomes a tile for the people who act on
it: overseers (admin, GM, managers; the archivist for archive records) count every row they may
see, everyone else counts the rows they are responsible for (``views.worklists.OWNER_FIELDS``).
Counts are capped (COUNT_CAP) so that a large table never makes the home page slow.
"""
import datetime

from flask import url_for
from flask_admin import AdminIndexView
from flask_admin import expose
from flask_login import current_user
from peewee import Case
from peewee import fn
from werkzeug.routing import BuildError

import backend
import models
import policies
from clock import local_midnight
from clock import local_today
from views import access
from views import approvals as inbox
from views import links
from views import worklists
from views.base import LoginRequiredMixin

# A tile counts exactly up to this many rows, then shows "99+": past it the number no longer tells anyone
# what to do, and the list it opens counts (exactly up to its own bound). Keeps the rules finished in
# Python (CMP-4, CMP-8, VIS-5) to one slice of candidates on a large table.
COUNT_CAP = 99
CHART_WEEKS = 12
MANAGERS = {"admin", "gm", "deputy", "manager"}


def capped(count):
    """Return (count, capped) of a count read up to COUNT_CAP + 1: exact up to COUNT_CAP, then COUNT_CAP, True."""
    return min(count, COUNT_CAP), count > COUNT_CAP


def capped_count(query):
    """Return (count, capped) of ``query``, reading at most COUNT_CAP + 1 rows."""
    return capped(backend.bounded_count(query, COUNT_CAP))


SLICE = 500
MAX_SLICES = 20


def sliced_count(model, make, rows):
    """Count the rows of ``rows`` that ``make(ids=…)`` flags, newest first, a slice of ids at a time.

    The first slice holds twice the cap (enough when most candidates are flagged), the next ones double
    up to SLICE. Stops past COUNT_CAP, or after MAX_SLICES slices (then the count is a lower bound, shown
    capped).
    """
    count = 0
    last = None
    size = min(SLICE, 2 * (COUNT_CAP + 1))
    for _ in range(MAX_SLICES):
        page = rows.order_by(model.id.desc()).limit(size)
        if last is not None:
            page = page.where(model.id < last)
        ids = [pk for (pk,) in page.tuples()]
        if not ids:
            return min(count, COUNT_CAP), count > COUNT_CAP
        last = ids[-1]
        asked = set(ids)
        count += sum(1 for (pk,) in make(ids=ids).select(model.id).tuples() if pk in asked)
        if count > COUNT_CAP:
            return COUNT_CAP, True
        size = min(SLICE, 2 * size)
    return count, True


def _url(endpoint, **args):
    try:
        return url_for(endpoint, **args)
    except BuildError:
        return None


def approval_tiles(user):
    """Return the approvals tiles: waiting for me, and my own requests still pending."""
    # The menu's badge asks the same question in the same request: one count for both.
    current = getattr(current_user, "id", None) == user.id
    waiting = inbox.inbox_count() if current else inbox.pending_count(user)
    mine = (models.Approval.select()
            .where(models.Approval.requested_by == user.id, models.Approval.status == "pending").count())
    return [
        dict(key="approvals", title="待我审批", count=waiting, capped=False, kind="danger" if waiting else "light",
             url=_url("approvals.index"), note="审批中心"),
        dict(key="my-requests", title="我发起的待审批", count=mine, capped=False, kind="info" if mine else "light",
             url=_url("approvals.index", tab=inbox.MINE), note="等待他人处理"),
    ]


def capped_count_later(query):
    """Start ``capped_count(query)`` (aside on PostgreSQL, ``backend.count_later``); return what waits for it."""
    wait = backend.count_later(query, COUNT_CAP)
    return lambda: capped(wait())


def settled(tiles):
    """Wait for the counts of ``tiles`` (from ``started_flag_tiles``), fill them in, and order the tiles."""
    for tile in tiles:
        counted = tile.pop("counted")
        count, over = counted if isinstance(counted, tuple) else counted()
        tile.update(count=count, capped=over, kind=(tile.pop("badge") if count else "light"))
    tiles.sort(key=lambda t: (t["count"] == 0, t["rule"].id))
    return tiles


def started_flag_tiles(user):
    """Return one tile per flag rule the user acts on, counting the rows they may see (or own): its count
    started, not waited for (``settled`` finishes the tiles).

    A count in SQL is started as soon as it is written, so that on PostgreSQL the database counts while the
    rules finished in Python are asked here and the rest of the workbench is built (``backend.count_later``).
    """
    tiles = []
    for model, entries in policies.FLAGS.items():
        if not access.can(user, model, "view"):
            continue
        overseer = worklists.oversees(user, model)
        owner = worklists.owner_field(model)
        if not overseer and owner is None:
            continue
        seen = set()
        for rule_obj, make, badge in entries:
            if rule_obj.id in seen or not rule_obj.on():
                continue
            seen.add(rule_obj.id)
            if policies.engine.takes_ids(make):
                # A rule that finishes in Python: asked about its visible candidates a slice at a time.
                narrow = policies.engine.CANDIDATES.get((rule_obj.id, model))
                rows = access.scope(model, (narrow() if narrow else model).select(model.id), user)
                if not overseer:
                    rows = rows.where(worklists.mine(owner, user.id))
                counted = sliced_count(model, make, rows)  # (count, capped), counted here
            else:
                # The flag's own query, narrowed in place: the capped count can stop at COUNT_CAP + 1 rows.
                query = access.scope(model, make().select(model.id), user)
                if not overseer:
                    query = query.where(worklists.mine(owner, user.id))
                counted = capped_count_later(query)
            tiles.append(dict(
                key=f"{rule_obj.id}-{model.__name__}", title=rule_obj.title, rule=rule_obj,
                model_label=model.label(), mine=not overseer, counted=counted, badge=badge,
                url=links.worklist_url(model, rule_obj.id, mine=not overseer),
                note=f"{model.label()} · {'我负责的' if not overseer else '全部可见'}",
            ))
    return tiles


def open_loan_counts(user, everyone, now=None):
    """Return (due within a day, overdue, not overdue) of the open loans ``user`` sees (``everyone``) or borrowed.

    One statement of three conditional counts, kept for the request: the loan tiles and the managers' chart
    both ask. Open loans are the files out of the archive now, a few hundred at most: counted exactly.
    """
    cache = access.request_cache("_open_loans") if now is None else {}  # a given moment (tests) is not kept
    key = (user.id, everyone)
    if key not in cache:
        loan = models.Loan
        now = now or models.utcnow()
        base = loan.select().where(loan.returned_at.is_null())
        base = access.scope(loan, base, user) if everyone else base.where(loan.borrower == user.id)

        def counted(condition):
            return fn.COALESCE(fn.SUM(Case(None, [(condition, 1)], 0)), 0)

        tomorrow = now + datetime.timedelta(days=1)
        row = base.select(counted((loan.due_at >= now) & (loan.due_at < tomorrow)), counted(loan.due_at < now),
                          counted(loan.due_at >= now)).tuples().get()
        cache[key] = tuple(int(n) for n in row)
    return cache[key]


def loan_tiles(user, now=None):
    """Return my loans due within a day and overdue (the archivist: everyone's)."""
    if not access.can(user, models.Loan, "view") and not models.Loan.select().where(
            models.Loan.borrower == user.id).exists():
        return []
    loan = models.Loan
    everyone = worklists.oversees(user, loan) and access.can(user, loan, "view")
    soon, late, _ = open_loan_counts(user, everyone, now)
    (soon, soon_capped), (late, late_capped) = capped(soon), capped(late)
    label = "借出档案" if everyone else "我借阅的档案"
    return [
        dict(key="loans-due", title=f"{label}:明天到期", count=soon, capped=soon_capped,
             kind="warning" if soon else "light", url=links.list_url(loan) if everyone else None,
             note="请按期归还(ARC-1)"),
        dict(key="loans-overdue", title=f"{label}:已逾期", count=late, capped=late_capped,
             kind="danger" if late else "light", url=links.worklist_url(loan, "ARC-7", mine=not everyone)
             if access.can(user, loan, "view") else None, note="逾期未还(ARC-7)"),
    ]


def fines_tile(user, today=None):
    """Return this month's handover fines (ARC-9): the user's own, or everyone's for the archivist and overseers."""
    penalty = models.Penalty
    everyone = worklists.oversees(user, penalty) and access.can(user, penalty, "view")
    today = today or local_today()
    query = penalty.select(fn.COALESCE(fn.SUM(penalty.amount), 0), fn.COUNT(penalty.id)).where(
        penalty.on >= today.replace(day=1), penalty.on <= today)
    if hasattr(penalty, "withdrawn_at"):
        query = query.where(penalty.withdrawn_at.is_null())  # a withdrawn fine no longer counts
    if not everyone:
        query = query.where(penalty.user == user.id)
    total, count = query.tuples().get()
    if not everyone and not count:
        return []
    return [dict(key="fines", title=f"本月罚款{'' if everyone else '(我的)'}:{total:,.0f} 元", count=count,
                 capped=False, kind="danger" if count else "light",
                 url=links.worklist_url(penalty, mine=not everyone) if access.can(user, penalty, "view") else None,
                 note="档案移交与保管罚款(ARC-9)")]


# VIS-3's half-year report is shown from this many days before its date (10 July, 10 January); VIS-6's
# quarterly return-visit report in the first days of the next quarter (the source names no date).
SURVEY_REPORT_NOTICE_DAYS = 20
VISIT_REPORT_DAYS = 10


def complaint_tiles(user, now=None, hours=24):
    """Return the open complaints due to close within ``hours`` (CMP-2): the user's own, or all for overseers."""
    complaint = models.Complaint
    if not access.can(user, complaint, "view"):
        return []
    now = now or models.utcnow()
    everyone = worklists.oversees(user, complaint)
    query = complaint.still_open().select(complaint.id).where(
        complaint.due_at >= now, complaint.due_at < now + datetime.timedelta(hours=hours))
    query = access.scope(complaint, query, user)
    if not everyone:
        query = query.where(complaint.assignee == user.id)
        if not complaint.select().where(complaint.assignee == user.id).exists():
            return []
    count, capped = capped_count(query)
    return [dict(key="complaints-due", title=f"{'' if everyone else '我承办的'}投诉:{hours} 小时内到结案期限",
                 count=count, capped=capped, kind="warning" if count else "light",
                 url=_url("complaint_board.index", mine=None if everyone else "1"),
                 note="在投诉看板中处理(CMP-2)")]


def report_tiles(user, today=None):
    """Return the report reminders: last month's complaint statistics (CMP-9) until someone generates it (due by
    the 10th, then late), the half-year satisfaction report (VIS-3) and the quarterly return-visit report (VIS-6)."""
    from views.complaints import report_reminder

    today = today or local_today()
    codes = access.role_codes(user)
    tiles = sales_report_tiles(today) if codes & {"admin", "gm", "manager", "sales"} else []
    if not (codes & {"admin", "gm", "manager", "service"}):
        return tiles
    due = report_reminder(today)
    if due is None:
        return tiles
    when = f"{due['due_on'].month} 月 {due['due_on'].day} 日"
    return [dict(key="CMP-9", title=f"{due['year']}年{due['month']}月投诉统计表", count=None, capped=False,
                 kind="danger" if due["overdue"] else "warning", url=due["url"],
                 note=f"已超过 {when} 的期限,尚未生成(CMP-9)" if due["overdue"] else f"应于 {when}前完成(CMP-9)")] + tiles


def sales_report_tiles(today):
    """Return the VIS-3 and VIS-6 report reminders due around ``today``."""
    from policies.customers import survey_report_due
    from policies.visits import quarter_bounds
    tiles = []
    survey = policies.RULES.get("VIS-3")
    if survey is not None and survey.on():
        period, due_on = survey_report_due(today)
        if (due_on - today).days <= SURVEY_REPORT_NOTICE_DAYS:
            tiles.append(dict(key="VIS-3", title=f"{period} 用户满意率调查汇报", count=None, capped=False,
                              kind="warning", url=_url("satisfactionsurvey.index_view"),
                              note=f"应于 {due_on.year} 年 {due_on.month} 月 {due_on.day} 日前报送销售部(VIS-3)"))
    visits = policies.RULES.get("VIS-6")
    quarter = (today.month - 1) // 3 + 1
    start, _ = quarter_bounds(today.year, quarter)
    if visits is not None and visits.on() and (today - start).days < VISIT_REPORT_DAYS:
        year, last = (today.year, quarter - 1) if quarter > 1 else (today.year - 1, 4)
        tiles.append(dict(key="VIS-6", title=f"{year}年第{last}季度回访工作评定汇报", count=None, capped=False,
                          kind="warning", url=_url("visit.index_view"),
                          note="回访落实情况、成绩、未处理问题、改善建议(VIS-6)"))
    return tiles


def charts(user, today=None, now=None):
    """Return the managers' charts: complaints per week, open loans, customers by tier and stage."""
    if not (access.role_codes(user) & MANAGERS):
        return None
    today = today or local_today()
    result = {}
    if access.can(user, models.Complaint, "view"):
        result["complaints"] = weekly_complaints(user, today)
    if access.can(user, models.Customer, "view"):
        # Customers by tier and by stage: the kept tally (tallies.py) under the user's secrecy condition,
        # a few hundred rows however many customers there are.
        tally = models.CustomerTally
        cond = access.customer_condition(user, tally) if not access.sees_everything(user) else None
        for key, field in (("tiers", tally.tier), ("stages", tally.stage)):
            rows = tally.select(field, fn.SUM(tally.count)).group_by(field)
            found = {code: int(n or 0) for code, n in (rows if cond is None else rows.where(cond)).tuples()}
            names = dict(models.Customer._meta.fields[field.name].choices)
            result[key] = [(label, found.get(code, 0)) for code, label in names.items()]
    if access.can(user, models.Loan, "view"):
        _, late, on_time = open_loan_counts(user, True, now)
        result["loans"] = [("按期", on_time), ("逾期", late)]
    for key, series in result.items():
        top = max([v for _, v in series] or [0]) or 1
        result[key] = [(label, value, round(100 * value / top)) for label, value in series]
    return result


def weekly_complaints(user, today):
    """Return [(monday "MM-DD", complaints received that week)] for the last CHART_WEEKS weeks.

    Closed weeks are remembered per secrecy scope (``WeeklyComplaintCount``; ``tallies.py`` deletes a week a
    write changes); the current week, and any closed week not remembered yet, are counted in one grouped
    statement over the index of ``(received_at, customer)``, each row checked against the user's secrecy
    condition once. A department manager's twelve weeks at 1M: ~50 ms counted, ~1 ms remembered.
    """
    memory = models.WeeklyComplaintCount
    start = today - datetime.timedelta(days=today.weekday() + 7 * (CHART_WEEKS - 1))
    weeks = [start + datetime.timedelta(days=7 * i) for i in range(CHART_WEEKS + 1)]
    closed, key = weeks[:-2], access.scope_key(user)
    counts = _remembered(key, closed)
    if len(counts) == len(closed):
        counts.update(_count_weeks(user, weeks[-2:]))
    else:
        # Counted and remembered in one transaction that writers of complaints wait for (they forget the
        # weeks they change): a complaint saved meanwhile cannot leave a count remembered without it.
        with backend.write_transaction():
            backend.hold_off_writers(memory)
            counts = _remembered(key, closed)
            missing = [w for w in closed if w not in counts]
            first = weeks.index(missing[0]) if missing else len(weeks) - 2
            counts.update(_count_weeks(user, weeks[first:]))
            if missing:
                memory.insert_many([dict(scope=key, week=w, count=counts[w]) for w in missing]).execute()
    return [(f"{monday:%m-%d}", int(counts.get(monday) or 0)) for monday in weeks[:-1]]


def _remembered(key, mondays):
    memory = models.WeeklyComplaintCount
    return {w: n for w, n in memory.select(memory.week, memory.count)
            .where(memory.scope == key, memory.week.in_(mondays)).tuples()}


def _count_weeks(user, mondays):
    """Return {monday: complaints ``user`` sees received that week} for consecutive ``mondays`` (the last one ends)."""
    complaint = models.Complaint
    # Local Mondays at midnight, in the stored form (UTC).
    bounds = [local_midnight(w) for w in mondays]
    bucket = Case(None, [(complaint.received_at < hi, mondays[i]) for i, hi in enumerate(bounds[1:])])
    query = access.scope(complaint, complaint.select(bucket, fn.COUNT(complaint.id)).where(
        complaint.received_at >= bounds[0], complaint.received_at < bounds[-1]).group_by(bucket), user)
    # A week bound read back from SQL: a date on PostgreSQL, its text on SQLite (the date field parses both).
    found = {models.WeeklyComplaintCount.week.python_value(w): n for w, n in query.tuples()}
    return {w: found.get(w, 0) for w in mondays[:-1]}


def workbench(user):
    """Return everything the workbench shows ``user``."""
    flags = started_flag_tiles(user)  # counted meanwhile on PostgreSQL, waited for last
    result = dict(
        approvals=approval_tiles(user),
        loans=loan_tiles(user) + fines_tile(user),
        reports=report_tiles(user) + complaint_tiles(user),
        charts=charts(user),
    )
    result["flags"] = settled(flags)
    return result


class IndexView(LoginRequiredMixin, AdminIndexView):
    """The console's home page: the workbench, then every screen the user may open."""

    @expose("/")
    def index(self):
        groups = {}
        for view in self.admin._views:
            model = getattr(view, "model", None)
            if model is None or not view.is_visible() or not view.is_accessible():
                continue
            groups.setdefault(view.category or "", []).append(view)
        return self.render("admin/home.html", groups=groups, work=workbench(current_user))
