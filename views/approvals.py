"""审批中心: what the current user may decide now, what they asked for, what they decided.

The "may decide now" condition (``decidable``) mirrors ``policies.approvals.refusal`` as one SQL
condition, so a page of the inbox is one query (rows and total together) and the menu badge is one
COUNT; the engine still checks every decision itself (``approvals.decide``).
"""
from flask import flash
from flask import g
from flask import has_request_context
from flask import redirect
from flask import request
from flask import url_for
from flask_admin import expose
from flask_login import current_user
from peewee import JOIN
from peewee import SQL
from peewee import fn
from werkzeug.routing import BuildError

import models
import policies
from policies import approvals
from views import access
from views.auth import safe_next
from views.base import SecureView
from views.policy_views import rule_sort_key

PAGE_SIZE = 50
TODO = "todo"
MINE = "mine"
DONE = "done"
TABS = ((TODO, "待我审批"), (MINE, "我发起的"), (DONE, "已处理"))
DECISIONS = {"approve": True, "reject": False}


# ---------------------------------------------------------------- the questions
def _user_roles(user):
    return set(access.role_codes(user)) if has_request_context() else set(user.role_codes())


def role_keys(roles):
    """Return the ``required_role`` values ``roles`` can answer: each role and every any-of group naming one."""
    groups = {"|".join(group) for rule in approvals.ALTERNATES.values() for group in rule.values()}
    return set(roles) | {key for key in groups if set(key.split("|")) & set(roles)}


def decidable(user, roles=None):
    """Return the condition on Approval of the rows ``user`` may decide now, or None when there are none.

    Same checks as ``approvals.refusal``: pending, a role held (any of "a|b"), a manager-only match
    only in the manager's own (or managed) department, not requested by the user, no earlier step open.
    """
    roles = _user_roles(user) if roles is None else set(roles)
    keys = role_keys(roles)
    if not keys:
        return None
    approval = models.Approval
    cond = (approval.status == "pending") & approval.required_role.in_(sorted(keys))
    # A row the user answers only as a manager is theirs only in the department they sit in or manage.
    manager_only = sorted(k for k in keys if set(k.split("|")) & roles == {"manager"})
    if manager_only:
        managed = models.Department.select(models.Department.id).where(models.Department.manager == user.id)
        own = approval.department.is_null() | approval.department.in_(managed)
        if user.department_id is not None:
            own = own | (approval.department == user.department_id)
        cond &= approval.required_role.not_in(manager_only) | own
    cond &= approval.requested_by.is_null() | (approval.requested_by != user.id)
    earlier = models.Approval.alias("earlier")
    still_open = earlier.select(SQL("1")).where(
        earlier.target_model == approval.target_model, earlier.target_id == approval.target_id,
        earlier.rule == approval.rule, earlier.step < approval.step, earlier.status != "approved")
    return cond & ~fn.EXISTS(still_open)


def tab_condition(tab, user):
    """Return the condition of ``tab``'s rows for ``user`` (None: the tab is empty)."""
    if tab == MINE:
        return models.Approval.requested_by == user.id
    if tab == DONE:
        return models.Approval.decided_by == user.id
    return decidable(user)


def pending_count(user):
    """Return how many approvals and acknowledgements wait for ``user`` (one COUNT query).

    Asked on every page (the menu's badge); its statement depends on the user, their department and roles only.
    """
    roles = frozenset(_user_roles(user))

    def build():
        cond = decidable(user, roles)
        return None if cond is None else models.Approval.select(fn.COUNT(SQL("*"))).where(cond)

    statement = models.written_once(("pending", user.id, user.department_id, roles), build)
    return 0 if statement is None else models.db.execute_sql(*statement).fetchone()[0]


def inbox_count():
    """Return the current user's pending count for the menu badge, once per request."""
    if not current_user.is_authenticated:
        return 0
    if "inbox_count" not in g:
        g.inbox_count = pending_count(current_user)
    return g.inbox_count


# ---------------------------------------------------------------- presenting rows
MODEL_BY_NAME = {m.__name__: m for m in models.MODELS}


def type_label(name):
    """Return the Chinese label of the record type called ``name``."""
    model = MODEL_BY_NAME.get(name)
    return model.label() if model is not None else name


def role_label(required_role):
    """Return "总经理或副总经理" for ``"gm|deputy"`` (a role the console does not name reads as its Role row's name)."""
    names = []
    for code in required_role.split("|"):
        name = access.ROLE_NAMES.get(code)
        if name is None:
            row = models.Role.get_or_none(models.Role.code == code)
            name = row.name if row is not None and row.name else code
        names.append(name)
    return "或".join(names)


def format_wait(delta):
    """Return a waiting time as "3 天 2 小时", "5 小时 10 分钟" or "12 分钟"."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} 天 {hours} 小时"
    if hours:
        return f"{hours} 小时 {minutes} 分钟"
    return f"{minutes} 分钟" if minutes else "不到 1 分钟"


def record_url(name, target_id, cache=None):
    """Return the details page of the record, or None when it has no screen."""
    cache = {} if cache is None else cache
    if name not in cache:
        try:
            cache[name] = url_for(f"{name.lower()}.details_view", id=0)[:-1]
        except BuildError:
            cache[name] = None
    return None if cache[name] is None else f"{cache[name]}{target_id}"


# Shown instead of the summary of an approval whose record the viewer may not see (ARC-3).
MASKED_SUMMARY = "(涉密记录:您的保密级别或部门不足,摘要不予显示)"
# The one answer about an approval that is not the user's business, whether it exists or not.
NOT_YOURS = "审批记录不存在或您无权处理。"


def visible_targets(approvals_, user):
    """Return the (record type, id) pairs of ``approvals_`` whose records ``user`` may see (a query per type)."""
    by_type = {}
    for row in approvals_:
        by_type.setdefault(row.target_model, set()).add(row.target_id)
    seen = set()
    for name, ids in by_type.items():
        seen |= {(name, pk) for pk in access.visible_references(name, ids, user)}
    return seen


def concerns(approval, user):
    """Return True when ``approval`` is ``user``'s business: they asked, decided, or hold a role it asks for."""
    if approval is None:
        return False
    if user.id in (approval.requested_by_id, approval.decided_by_id):
        return True
    return bool(set(approval.required_role.split("|")) & _user_roles(user))


def summary_for(approval, user):
    """Return the approval's summary, or a mask when its record is hidden from ``user``."""
    visible = access.can_see_reference(approval.target_model, approval.target_id, user)
    return approval.summary if visible else MASKED_SUMMARY


class Row:
    """One approval as the inbox shows it (summary and link masked when the record is hidden from the viewer)."""

    def __init__(self, approval, now, urls, visible=True):
        self.approval = approval
        self.id = approval.id
        self.kind = approval.kind
        self.type_label = type_label(approval.target_model)
        self.rule = policies.RULES.get(approval.rule)
        self.visible = visible
        self.summary = approval.summary if visible else MASKED_SUMMARY
        self.url = record_url(approval.target_model, approval.target_id, urls) if visible else None
        self.waited = format_wait(now - approval.requested_at)
        self.role = role_label(approval.required_role)


def _joined(query, approval=None):
    """Fetch requester and decider with the approval (no query per row)."""
    approval = models.Approval if approval is None else approval
    requester = models.User.alias("requester")
    decider = models.User.alias("decider")
    return (query.select_extend(requester, decider)
            .join_from(approval, requester, JOIN.LEFT_OUTER, on=(approval.requested_by == requester.id),
                       attr="requested_by")
            .join_from(approval, decider, JOIN.LEFT_OUTER, on=(approval.decided_by == decider.id),
                       attr="decided_by"))


def _order(tab, approval):
    if tab == TODO:
        return approval.requested_at.asc(), approval.id.asc()
    if tab == DONE:
        return approval.decided_at.desc(), approval.id.desc()
    return approval.requested_at.desc(), approval.id.desc()


def page_query(user, tab=TODO, type_name="", rule_id="", page=0):
    """Return the one query of a page of ``tab`` (rows with requester, decider and the total), or None."""
    cond = tab_condition(tab, user)
    if cond is None:
        return None
    approval = models.Approval
    if type_name:
        cond &= approval.target_model == type_name
    if rule_id:
        cond &= approval.rule == rule_id
    # The page's ids and the total in a subquery (narrow rows to sort); the page's 50 rows joined after.
    window = (approval.select(approval.id, fn.COUNT(SQL("*")).over().alias("total")).where(cond)
              .order_by(*_order(tab, approval)).limit(PAGE_SIZE).offset(page * PAGE_SIZE)).alias("page")
    shown = models.Approval.alias("shown")
    query = shown.select(shown, window.c.total).join(window, on=(shown.id == window.c.id), attr="page")
    return _joined(query, shown).order_by(*_order(tab, shown))


def inbox_page(user, tab=TODO, type_name="", rule_id="", page=0):
    """Return (rows, total) of one page of ``tab``; total is None on a page past the end."""
    query = page_query(user, tab, type_name, rule_id, page)
    rows = [] if query is None else list(query)
    now = models.utcnow()
    urls = {}
    total = rows[0].page.total if rows else (0 if page == 0 or query is None else None)
    seen = visible_targets(rows, user)
    return [Row(r, now, urls, (r.target_model, r.target_id) in seen) for r in rows], total


def facets(user, tab=TODO):
    """Return {(record type, rule): count} of ``tab`` for the filters (one grouped query)."""
    cond = tab_condition(tab, user)
    if cond is None:
        return {}
    approval = models.Approval
    query = (approval.select(approval.target_model, approval.rule, fn.COUNT(approval.id))
             .where(cond).group_by(approval.target_model, approval.rule))
    return {(name, rule_id): n for name, rule_id, n in query.tuples()}


# ---------------------------------------------------------------- the record's own page
def approval_panel(record):
    """Return the approvals of ``record`` with what the current user may do about them (details page)."""
    if record is None or getattr(record, "_pk", None) is None or isinstance(record, models.Approval):
        return None
    approval = models.Approval
    query = _joined(approval.select(approval).where(
        approval.target_model == type(record).__name__, approval.target_id == record._pk))
    rows = list(query.order_by(approval.requested_at, approval.rule, approval.step, approval.id))
    if not rows:
        return None
    user = current_user._get_current_object()
    now = models.utcnow()
    urls = {}
    items = []
    for row in rows:
        item = Row(row, now, urls)
        item.refusal = approvals.refusal(row, user) if row.status == "pending" else None
        item.can_decide = row.status == "pending" and item.refusal is None
        items.append(item)
    pending = [r for r in rows if r.status == "pending" and r.kind == "approve"]
    is_admin = "admin" in _user_roles(user)
    can_withdraw = bool(pending) and (is_admin or all(r.requested_by_id == user.id for r in pending))
    return {"rows": items, "pending": bool(pending), "can_withdraw": can_withdraw,
            "model": type(record).__name__, "id": record._pk, "state": approvals.state(record)}


def template_helpers():
    """Expose the badge count and the details-page panel to every template (evaluated lazily)."""
    return {"inbox_count": inbox_count, "approval_panel": approval_panel}


# ---------------------------------------------------------------- the view
def _int(value, default=None):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _report_violation(exc):
    policies.log_blocked(exc)
    for violation in exc.violations:
        flash(violation.message, "error")


class ApprovalsView(SecureView):
    """审批中心: the supervisors' inbox of every approval they may decide, across record types."""

    def _back(self):
        return safe_next(request.form.get("next") or request.args.get("next"), url_for(".index"))

    @expose("/")
    def index(self):
        tab = request.args.get("tab", TODO)
        tab = tab if tab in dict(TABS) else TODO
        user = current_user._get_current_object()
        counts = facets(user, tab)
        type_name = request.args.get("type", "")
        type_name = type_name if type_name in MODEL_BY_NAME else ""
        rule_id = request.args.get("rule", "")
        rule_id = rule_id if rule_id in policies.RULES else ""
        page = max(_int(request.args.get("page"), 0), 0)
        rows, total = inbox_page(user, tab, type_name, rule_id, page)
        if tab == TODO:
            g.inbox_count = sum(counts.values())  # the badge needs no second count
        type_counts = {}
        rule_counts = {}
        for (name, rid), n in counts.items():
            type_counts[name] = type_counts.get(name, 0) + n
            rule_counts[rid] = rule_counts.get(rid, 0) + n
        types = sorted(((name, type_label(name), n) for name, n in type_counts.items()), key=lambda t: t[1])
        rules = sorted(((rid, policies.RULES[rid], n) for rid, n in rule_counts.items() if rid in policies.RULES),
                       key=lambda t: rule_sort_key(t[1]))
        pages = (total + PAGE_SIZE - 1) // PAGE_SIZE if total else 0
        return self.render(
            "approvals/index.html", tab=tab, tabs=TABS, rows=rows, total=total, page=page, pages=pages,
            page_size=PAGE_SIZE, types=types, rules=rules, type_name=type_name, rule_id=rule_id,
            type_label=type_label, here=request.full_path,
        )

    @expose("/decide/", methods=("POST",))
    def decide(self):
        """Approve or reject one approval (or acknowledge a notification) with a comment."""
        back = self._back()
        approval_id = _int(request.form.get("id"))
        decision = request.form.get("decision", "")
        if approval_id is None or decision not in DECISIONS:
            flash("请选择要处理的审批事项。", "error")
            return redirect(back)
        user = current_user._get_current_object()
        if not concerns(models.Approval.get_or_none(models.Approval.id == approval_id), user):
            flash(f"未能处理:{NOT_YOURS}", "error")
            return redirect(back)
        try:
            approval = approvals.decide(approval_id, user, DECISIONS[decision], request.form.get("comment", ""))
        except approvals.ApprovalError as exc:
            flash(f"未能处理:{exc}", "error")
        except policies.PolicyViolation as exc:
            _report_violation(exc)
        else:
            if approval.kind == "notify":
                verb = "已确认知会"
            else:
                verb = "已批准" if DECISIONS[decision] else "已驳回"
            flash(f"{verb}:{type_label(approval.target_model)} {summary_for(approval, user)}({approval.rule})",
                  "success")
        return redirect(back)

    @expose("/bulk/", methods=("POST",))
    def bulk(self):
        """Approve every selected row, each with the engine's own checks; report which failed and why."""
        back = self._back()
        ids = [i for i in (_int(v) for v in request.form.getlist("ids")) if i is not None]
        if not ids:
            flash("请先勾选要批准的审批事项。", "error")
            return redirect(back)
        user = current_user._get_current_object()
        comment = request.form.get("comment", "")
        done = 0
        failures = []
        for approval_id in dict.fromkeys(ids):
            row = models.Approval.get_or_none(models.Approval.id == approval_id)
            if not concerns(row, user):
                failures.append(f"#{approval_id}:{NOT_YOURS}")
                continue
            name = f"#{approval_id} {type_label(row.target_model)} {summary_for(row, user)}"
            try:
                approvals.decide(approval_id, user, True, comment)
            except approvals.ApprovalError as exc:
                failures.append(f"{name}:{exc}")
            except policies.PolicyViolation as exc:
                policies.log_blocked(exc)
                failures.append(f"{name}:{exc}")
            else:
                done += 1
        if done:
            flash(f"已批准 {done} 条。", "success")
        if failures:
            flash(f"{len(failures)} 条未能批准:", "error")
            for line in failures:
                flash(line, "error")
        return redirect(back)

    @expose("/withdraw/", methods=("POST",))
    def withdraw(self):
        """Let the requester take back a record's pending approvals."""
        back = self._back()
        model = MODEL_BY_NAME.get(request.form.get("model", ""))
        target_id = _int(request.form.get("id"))
        record = None
        if model is not None and target_id is not None:
            record = access.scope(model, model.select().where(model._meta.primary_key == target_id)).first()
        if record is None:
            flash("记录不存在。", "error")
            return redirect(back)
        try:
            approvals.withdraw(record, current_user._get_current_object())
        except approvals.ApprovalError as exc:
            flash(f"未能撤回:{exc}", "error")
        except policies.PolicyViolation as exc:
            _report_violation(exc)
        else:
            flash(f"已撤回 {model.label()} {record} 的审批申请,可以修改后重新提交。", "success")
        return redirect(back)


def register_approvals_view(admin):
    """Add 审批中心 to ``admin`` (top-level menu) and the badge/panel helpers to its templates."""
    admin.add_view(ApprovalsView(name="审批中心", endpoint="approvals", url="/admin/approvals"))
    admin.app.context_processor(template_helpers)
