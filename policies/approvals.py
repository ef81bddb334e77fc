"""The approvals engine behind every approve rule: ``require(record, rule_id, steps)``.

A rule asks for approval from a post_save receiver; the engine stores one ``Approval``
row per step and role. Chains, declared per rule in ``CHAINS``:

- sequential (default): step 1, then step 2 … (ARC-3 top secret: manager, then gm);
- parallel: every listed role signs, in any order (MOV-1: engineering, finance, security);
- any-of: one step that any of several roles may decide (ARC-5: gm or a deputy, stored "gm|deputy");
- notify: acknowledge items that decide nothing and lock nothing (CMP-5).

While a record has a pending approval it cannot be changed or deleted (a pre_save and a
pre_delete receiver refuse it) except by the engine itself or after its requester withdraws.
Area modules register what approval, rejection and withdrawal mean for their record types
with ``on_outcome(Model, approved=…, rejected=…, withdrawn=…)``.
"""
import contextlib
import contextvars
import json

from playhouse.signals import pre_delete
from playhouse.signals import pre_save

import backend
import models
from policies.engine import APPROVE
from policies.engine import NOTIFY
from policies.engine import RULES
from policies.engine import PolicyViolation

SEQUENTIAL = "sequential"
PARALLEL = "parallel"
NOTIFY_ONLY = "notify"

# How each rule's listed roles form a chain (default sequential).
CHAINS = {"MOV-1": PARALLEL, "CMP-5": NOTIFY_ONLY}
# Roles that may stand in for another in one step (ARC-5: the GM or a deputy).
ALTERNATES = {"ARC-5": {"gm": ("gm", "deputy")},
              # ARC-10: the GM or the customer-information supervisor (客户信息主管).
              "ARC-10": {"gm": ("gm", "info_supervisor")}}

# Set while the engine itself writes a record under approval (its effects may change it).
DECIDING = contextvars.ContextVar("approvals_deciding", default=False)

_OUTCOMES = {}
_STEP_HOOKS = {}
_GUARDS = {}
_DECISION_CHECKS = {}


class ApprovalError(Exception):
    """A decision that cannot be taken; the message says why, in Chinese."""


def on_outcome(model, approved=None, rejected=None, withdrawn=None):
    """Register what the final approval, a rejection or a withdrawal does to a ``model`` record."""
    _OUTCOMES[model] = {"approved": approved, "rejected": rejected, "withdrawn": withdrawn}


def on_step(rule_id, hook):
    """Register ``hook(record, approval)`` run when one approval of ``rule_id`` is approved (MOV-1 signatures)."""
    _STEP_HOOKS[rule_id] = hook


def on_guard(rule_id, guard):
    """Register ``guard(approval, user, record)`` returning why ``user`` may not decide (Chinese), or None (ARC-3)."""
    _GUARDS[rule_id] = guard


def _now():
    """Return the time a decision is stamped with (the workflow clock: now, or the demo seed's time)."""
    from policies import workflow

    return workflow.now()


def on_decide(rule_id, check):
    """Register ``check(record, approval)`` run before approving under ``rule_id``: a Chinese reason refuses it."""
    _DECISION_CHECKS[rule_id] = check


def _target_rows(model_name, target_id):
    return models.Approval.select().where(models.Approval.target_model == model_name,
                                          models.Approval.target_id == target_id)


def require(record, rule_id, roles, department=None, summary=""):
    """Ask ``roles`` to approve ``record`` under ``rule_id``; return the Approval rows created."""
    mode = CHAINS.get(rule_id, SEQUENTIAL)
    alternates = ALTERNATES.get(rule_id, {})
    actor = models.current_actor.get()
    from policies import workflow  # the fields this decision judges (decided means locked)

    judged = workflow.judged_values(record)
    judged = json.dumps(judged, ensure_ascii=False) if judged and mode != NOTIFY_ONLY else ""
    rows = []
    for index, role in enumerate(roles, start=1):
        rows.append(models.Approval.create(
            target_model=type(record).__name__, target_id=record._pk, rule=rule_id,
            step=index if mode == SEQUENTIAL else 1,
            kind="notify" if mode == NOTIFY_ONLY else "approve",
            required_role="|".join(alternates.get(role, (role,))),
            department=department, summary=(summary or str(record))[:255], requested_by=actor, judged=judged,
        ))
    RULES[rule_id].record(NOTIFY if mode == NOTIFY_ONLY else APPROVE, record, note=summary)
    return rows


def pending_for(record):
    """Return the pending approvals (not notifications) of ``record``."""
    return _target_rows(type(record).__name__, record._pk).where(
        models.Approval.status == "pending", models.Approval.kind == "approve")


def is_pending(record):
    """Return True while ``record`` waits for an approval."""
    return record._pk is not None and pending_for(record).exists()


def state(record):
    """Return the outcome of ``record``'s latest request: 'pending', 'approved', 'rejected', 'withdrawn' or None."""
    rows = list(_target_rows(type(record).__name__, record._pk)
                .where(models.Approval.kind == "approve").order_by(models.Approval.id.desc()))
    if not rows:
        return None
    if any(r.status == "pending" for r in rows):
        return "pending"
    # Newest first: rows withdrawn alongside a rejection belong to that rejected request.
    for row in rows:
        if row.status in ("approved", "rejected"):
            return row.status
    return "withdrawn"


def _roles_of(user):
    return user.role_codes()


def actionable(approval):
    """Return True when no earlier step of the same request is still open."""
    if approval.status != "pending":
        return False
    earlier = _target_rows(approval.target_model, approval.target_id).where(
        models.Approval.rule == approval.rule, models.Approval.step < approval.step,
        models.Approval.status != "approved")
    return not earlier.exists()


def refusal(approval, user):
    """Return why ``user`` may not decide ``approval`` now (Chinese), or None."""
    if approval.status != "pending":
        who = approval.decided_by or "其他人"
        return f"该申请已由{who}处理({approval.choice_label('status')}),无需重复审批。"
    if approval.requested_by_id is not None and approval.requested_by_id == user.id:
        return "不能审批自己发起的申请。"
    required = set(approval.required_role.split("|"))
    held = _roles_of(user) & required
    if not held:
        names = "、".join(sorted(required))
        return f"需要由具有“{names}”角色的人员审批。"
    guard = _GUARDS.get(approval.rule)
    if guard is not None:
        reason = guard(approval, user, _load_target(approval))
        if reason:
            return reason
    # A manager decides for the department they sit in or the one that names them its manager.
    if (approval.department_id is not None and held == {"manager"} and user.department_id != approval.department_id
            and approval.department.manager_id != user.id):
        return "该申请须由所属部门的部门经理审批。"
    if not actionable(approval):
        return "前一审批步骤尚未完成。"
    return None


def _load_target(approval):
    model = next((m for m in models.MODELS if m.__name__ == approval.target_model), None)
    if model is None:
        return None
    return model.get_or_none(model._meta.primary_key == approval.target_id)


@contextlib.contextmanager
def unlocked():
    """Let the engine or a compute rule write records that wait for approval (not a person's edit)."""
    token = DECIDING.set(True)
    try:
        yield
    finally:
        DECIDING.reset(token)


def _run(hook, *args):
    if hook is None:
        return
    with unlocked():
        hook(*args)


def decide(approval_id, user, approve, comment=""):
    """Approve or reject one approval as ``user``; exactly one of two simultaneous deciders wins."""
    from policies import audit

    comment = (comment or "").strip()
    if not approve and not comment:
        raise ApprovalError("驳回时必须填写审批意见。")
    try:
        with backend.write_transaction():  # serialises deciders (SQLite: BEGIN IMMEDIATE)
            approval = models.Approval.get_or_none(models.Approval.id == approval_id)
            if approval is None:
                raise ApprovalError("审批记录不存在。")
            reason = refusal(approval, user)
            if reason:
                raise ApprovalError(reason)
            if approval.kind == "notify" and not approve:
                raise ApprovalError("知会事项只需确认,不能驳回。")
            check = _DECISION_CHECKS.get(approval.rule)
            if approve and approval.kind == "approve" and check is not None:
                target = _load_target(approval)
                reason = check(target, approval) if target is not None else None
                if reason:
                    raise ApprovalError(reason)
            approval.status = "approved" if approve else "rejected"
            approval.decided_by = user
            approval.decided_at = _now()
            approval.comment = comment
            with unlocked():
                approval.save()
            audit.log("approve" if approve else "reject", approval.target_model, approval.target_id,
                      {"审批": ["", f"{approval.rule} 第{approval.step}步 {approval.choice_label('status')}"],
                       "意见": ["", comment]}, user=user)
            if approval.kind == "approve":
                _apply(approval, user)
    except models.StaleEdit:
        raise ApprovalError("该申请刚刚已被他人处理,请刷新后查看。") from None
    return approval


def _apply(approval, user):
    record = _load_target(approval)
    if record is None:
        return
    outcome = _OUTCOMES.get(type(record), {})
    if approval.status == "approved":
        _run(_STEP_HOOKS.get(approval.rule), record, approval)
        # The last open row of this request is approved (a rejection would have withdrawn it); an earlier
        # refused or withdrawn request of the same record does not count against this one.
        if not pending_for(record).exists():
            _run(outcome.get("approved"), record, user)
        return
    for other in pending_for(record):
        other.status = "withdrawn"
        other.comment = "因其他审批驳回而终止"
        other.decided_at = _now()
        with unlocked():
            other.save()
    _run(outcome.get("rejected"), record, user)


def withdraw(record, user):
    """Let the requester take back ``record``'s pending approvals so it can be changed again."""
    from policies import audit

    rows = list(pending_for(record))
    if not rows:
        raise ApprovalError("该记录没有待审批的申请。")
    if any(r.requested_by_id != user.id for r in rows) and "admin" not in _roles_of(user):
        raise ApprovalError("只有申请人可以撤回申请。")
    with backend.write_transaction():
        for row in rows:
            row.status = "withdrawn"
            row.decided_by = user
            row.decided_at = _now()
            row.comment = "申请人撤回"
            with unlocked():
                row.save()
        audit.log("update", type(record).__name__, record._pk, {"审批": ["待审批", "已撤回"]}, user=user)
        fresh = type(record).get_or_none(type(record)._meta.primary_key == record._pk)  # the caller's copy may be stale
        _run(_OUTCOMES.get(type(record), {}).get("withdrawn"), fresh or record, user)
    return rows


@pre_save(name="approvals/locked")
def refuse_changes_while_pending(sender, instance, created):
    """Refuse changing a record that waits for approval (withdraw the request first)."""
    if created or DECIDING.get() or isinstance(instance, (models.Approval, models.AuditLog, models.RuleEvent)):
        return
    row = pending_for(instance).first() if instance._pk is not None else None
    if row is not None:
        RULES[row.rule].refuse(instance, "该记录正在等待审批,审批完成或申请人撤回前不能修改")


@pre_delete(name="approvals/locked-delete")
def refuse_delete_while_pending(sender, instance):
    """Refuse deleting a record that waits for approval."""
    if DECIDING.get() or isinstance(instance, models.Approval):
        return
    row = pending_for(instance).first()
    if row is not None:
        rule = RULES[row.rule]
        raise PolicyViolation(rule.id, rule.message("该记录正在等待审批,不能删除"))


# What an approval is and how it was decided: written by the engine only (require, decide, withdraw, re-ask).
DECISION_FIELDS = ("target_model", "target_id", "rule", "step", "kind", "required_role", "status", "decided_by",
                   "decided_at", "comment", "judged")


@pre_save(sender=models.Approval, name="approvals/engine-only")
def approval_decided_only_by_the_engine(sender, instance, created):
    """Refuse a bare save() that changes an approval's decision outside the engine (approve, reject, withdraw)."""
    if created or DECIDING.get():
        return
    stored = models.Approval.get_or_none(models.Approval.id == instance._pk)
    if stored is None:
        return
    changed = [n for n in DECISION_FIELDS if models.comparable(instance, n) != models.comparable(stored, n)]
    if changed:
        label = models.Approval._meta.fields[changed[0]].verbose_name
        raise PolicyViolation(stored.rule, f"审批记录的「{label}」只能由审批引擎写入:请在审批中心批准、驳回或撤回申请",
                              changed[0])
