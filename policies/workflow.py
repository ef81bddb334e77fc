"""The workflow engine: runs the actions each record type declares in ``Meta.workflow`` (models.py).

- ``run_action(instance, name, user, **values)`` checks the action's states, roles, reason and guard,
  sets the target state, the fields the person supplies and the stamps (time, user), and saves inside
  ``db.atomic()``; a refusal raises ``PolicyViolation`` with a Chinese message and the rule id.
- ``allowed_actions(instance, user)`` lists what ``user`` may run now (the buttons, the board's moves).
- One pre_save receiver refuses a change of any workflow-owned field outside its action, whatever
  writes it (generated form, bare ``save()``, CLI, import): the first receiver of every save.
- Decided means locked: an approval records the fields it judged (``Approval.judged``); changing one
  afterwards withdraws the decision and asks the same approvers again, or is refused (``Workflow.locks``);
  an amount locked with "raise" asks again only when raised above the judged value.
- Ledgers are never deleted (``Meta.ledger``): delete is refused with a Chinese message.

Approve, reject and withdraw are actions too: they go through the approvals engine
(``policies.approvals.decide`` / ``withdraw``), whose outcome hooks are the only other writer of
workflow-owned fields.
"""
import contextlib
import contextvars
import decimal
import json

from playhouse.signals import post_save
from playhouse.signals import pre_delete
from playhouse.signals import pre_save

import models
from policies import approvals
from policies import audit
from policies.calendar import to_local
from policies.engine import APPROVE
from policies.engine import RULES
from policies.engine import PolicyViolation

# Set while an action (or the engine on its behalf) writes: workflow-owned fields may change.
_RUNNING = contextvars.ContextVar("workflow_running", default=None)
# The time actions stamp; only the demo seed and tests move it (``clock``).
_CLOCK = contextvars.ContextVar("workflow_clock", default=None)

_HANDLERS = {}
_GUARDS = {}

CORRECT = "correct"
# Decisions of the approvals engine, offered as actions on every record type with a workflow.
APPROVAL_ACTIONS = {
    "approve": models.Action("批准", "*", via="approval", style="success", params=("comment",)),
    "reject": models.Action("驳回", "*", via="approval", style="danger", params=("comment",)),
    "withdraw": models.Action("撤回申请", "*", via="approval", style="secondary"),
}
PARAM_LABELS = {"comment": "审批意见", "reason": "原因", "field": "更正字段", "value": "更正为"}
# The rule id named when a ledger line is deleted and its record type has no workflow rule.
LEDGER_RULES = {"Penalty": "ARC-9", "Payment": "CRD-2", "Shipment": "CRD-2", "Loan": "ARC-6"}


# ---------------------------------------------------------------- declarations and helpers
def spec(model):
    """Return the Workflow of ``model`` (a class or an instance), or None."""
    return models.workflow_of(model if isinstance(model, type) else type(model))


def implement(model, name):
    """Register the function that runs action ``name`` of ``model``: ``fn(instance, user, **values)``."""
    def register(fn):
        _HANDLERS[(model, name)] = fn
        return fn
    return register


def guard(model, name):
    """Register ``fn(instance, user, values) -> [(rule_id, message, field)]`` guarding action ``name``."""
    def register(fn):
        _GUARDS[(model, name)] = fn
        return fn
    return register


def now():
    """Return the time an action stamps (naive UTC)."""
    return _CLOCK.get() or models.utcnow()


def today():
    """Return the Beijing date an action stamps."""
    return to_local(now()).date()


@contextlib.contextmanager
def clock(at):
    """Run the actions inside the block as if at ``at`` (the demo seed and tests; no screen sets it)."""
    token = _CLOCK.set(at)
    try:
        yield at
    finally:
        _CLOCK.reset(token)


@contextlib.contextmanager
def running(label):
    """Let the writes inside the block change workflow-owned fields (an action is running)."""
    token = _RUNNING.set(label)
    try:
        yield
    finally:
        _RUNNING.reset(token)


def is_running():
    """Return True while an action or the approvals engine writes."""
    return bool(_RUNNING.get()) or approvals.DECIDING.get()


def _message(rule_id, text):
    rule = RULES.get(rule_id)
    return rule.message(text) if rule is not None else text


def _violation(rule_id, text, field=None):
    return PolicyViolation(rule_id, _message(rule_id, text), field)


def _raise(errors):
    """Raise one PolicyViolation carrying every (rule_id, message, field) of ``errors``."""
    violations = [_violation(rule_id, text, field) for rule_id, text, field in errors]
    first = violations[0]
    raise PolicyViolation(first.rule_id, first.message, first.field, violations=violations)


def _label(model, name):
    field = model._meta.fields.get(name)
    return (field.verbose_name if field is not None else None) or PARAM_LABELS.get(name, name)


def param_label(model, name):
    """Return the Chinese label of an action input ``name`` of ``model``."""
    return _label(model, name)


def role_names(codes):
    """Return the Chinese names of the role ``codes`` (the code where no role row names it)."""
    named = dict(models.Role.select(models.Role.code, models.Role.name).where(models.Role.code.in_(list(codes))).tuples())
    return [named.get(code) or code for code in codes]


def _roles(user):
    return user.role_codes() if user is not None else set()


def correction_action(wf):
    """Return the supervisor's audited correction action of ``wf`` (None when nothing is correctable)."""
    if not wf.correct:
        return None
    act = models.Action("更正时间", "*", roles=wf.correct_roles, rule=wf.rule, reason=True, style="warning",
                        params=("field", "value"))
    act.name = CORRECT
    return act


def action_of(model, name):
    """Return the Action ``name`` of ``model``'s workflow, or None."""
    wf = spec(model)
    if wf is None:
        return None
    if name in wf.actions:
        return wf.actions[name]
    if name == CORRECT:
        return correction_action(wf)
    act = APPROVAL_ACTIONS.get(name)
    if act is not None:
        act.name = name
    return act


def state_label(instance):
    """Return the Chinese label of ``instance``'s state ('' when its workflow has none)."""
    wf = spec(instance)
    return wf.state_label(wf.state_of(instance)) if wf is not None and wf.field else ""


# ---------------------------------------------------------------- refusals
def refusal(instance, act, user, values=None, check_inputs=True):
    """Return [(rule_id, message, field)] refusing ``user`` running ``act`` on ``instance`` now."""
    wf = spec(instance)
    model = type(instance)
    values = values or {}
    rule_id = act.rule or wf.rule
    if instance._pk is None:
        return [(rule_id, "记录尚未保存,不能执行流程操作", None)]
    state = wf.state_of(instance)
    if wf.field and not act.starts_from(state):
        return [(wf.rule or rule_id, f"当前状态为「{wf.state_label(state)}」,不能执行「{act.label}」", wf.field)]
    if act.roles and not (_roles(user) & set(act.roles)):
        names = "、".join(role_names(act.roles))
        return [(rule_id, f"「{act.label}」须由具有“{names}”角色的人员执行", None)]
    errors = []
    if check_inputs and act.reason and not str(values.get("reason") or "").strip():
        errors.append((rule_id, f"「{act.label}」须填写原因", "reason"))
    check = _GUARDS.get((model, act.name))
    if check is not None:
        errors += check(instance, user, values)
    return errors


def _approval_refusal(instance, act, user):
    """Return why ``user`` cannot take the approval decision ``act`` on ``instance`` now (Chinese), or None."""
    pending = list(approvals.pending_for(instance)) if instance._pk is not None else []
    if act.name == "withdraw":
        if not pending:
            return "该记录没有待审批的申请"
        if any(r.requested_by_id != getattr(user, "id", None) for r in pending) and "admin" not in _roles(user):
            return "只有申请人可以撤回申请"
        return None
    if user is None:
        return "审批须由审批人本人处理"
    if not pending:
        return "该记录没有待审批的申请"
    reasons = [approvals.refusal(row, user) for row in pending]
    if all(reasons):
        return reasons[0]
    return None


def allowed_actions(instance, user):
    """Return the [(name, Action)] ``user`` may run on ``instance`` now (declared, approval, correction)."""
    wf = spec(instance)
    if wf is None or instance._pk is None:
        return []
    result = []
    for name, act in wf.actions.items():
        if not refusal(instance, act, user, check_inputs=False):
            result.append((name, act))
    for name in APPROVAL_ACTIONS:
        act = action_of(type(instance), name)
        if _approval_refusal(instance, act, user) is None:
            result.append((name, act))
    correct = correction_action(wf)
    if correct is not None and _roles(user) & set(correct.roles):
        result.append((CORRECT, correct))
    return result


# ---------------------------------------------------------------- running actions
def run_action(instance, action_name, user=None, **values):
    """Run ``action_name`` on ``instance`` as ``user``; return the instance (or what the action made).

    Refused actions raise ``PolicyViolation`` (Chinese message, rule id); nothing is written.
    """
    model = type(instance)
    wf = spec(model)
    act = action_of(model, action_name)
    if wf is None or act is None:
        raise PolicyViolation(getattr(wf, "rule", ""), f"「{model.label()}」没有“{action_name}”这一流程操作")
    user = user if user is not None else models.current_actor.get()
    if act.via == "approval":
        return _decide(instance, act, user, values)
    unknown = set(values) - set(act.sets) - set(act.params) - {"reason"}
    if unknown:
        raise PolicyViolation(act.rule or wf.rule, f"「{act.label}」不接受输入:{'、'.join(sorted(unknown))}")
    errors = refusal(instance, act, user, values)
    if errors:
        _raise(errors)
    handler = _HANDLERS.get((model, action_name))
    actor = models.acting_as(user) if user is not None else contextlib.nullcontext()
    with models.db.atomic(), running(act.label), actor:
        if action_name == CORRECT:
            return _correct(instance, wf, act, user, values)
        if handler is not None:
            return handler(instance, user, **values)
        return perform(instance, act, user, values)


def perform(instance, act, user, values):
    """Set ``act``'s supplied fields, target state and stamps on ``instance`` and save it (inside an action)."""
    wf = spec(instance)
    model = type(instance)
    before = wf.state_of(instance)
    for name in act.sets:
        if name in values:
            setattr(instance, name, values[name])
    if act.target is not None and wf.field in model._meta.fields:
        setattr(instance, wf.field, act.target)
    if act.reason_to:
        setattr(instance, act.reason_to, str(values.get("reason", "")).strip())
    stamp(instance, act, user)
    instance.save()
    record(instance, act, before, values.get("reason", ""))
    return instance


def stamp(instance, act, user):
    """Fill ``act``'s stamped fields: the action's time, date or user."""
    for name, kind in act.stamps.items():
        if kind == "now":
            setattr(instance, name, now())
        elif kind == "today":
            setattr(instance, name, today())
        elif kind == "user":
            setattr(instance, name, user)


def record(instance, act, before, reason=""):
    """Write the action (and its reason) into the record's audit trail."""
    wf = spec(instance)
    changes = {"操作": ["", act.label]}
    if wf.field:
        changes["状态"] = [wf.state_label(before), wf.state_label(wf.state_of(instance))]
    if reason:
        changes["原因"] = ["", str(reason)]
    audit.log("update", type(instance).__name__, instance._pk, changes)


def _correct(instance, wf, act, user, values):
    """Correct one wrongly entered time stamp: supervisor only, with a reason, audited."""
    name = values.get("field")
    if name not in wf.correct:
        _raise([(act.rule, f"只能更正:{'、'.join(_label(type(instance), n) for n in wf.correct)}", "field")])
    old = getattr(instance, name)
    setattr(instance, name, values.get("value"))
    instance.save()
    label = _label(type(instance), name)
    audit.log("update", type(instance).__name__, instance._pk,
              {"操作": ["", f"更正{label}"], label: [audit._plain(old), audit._plain(getattr(instance, name))],
               "原因": ["", str(values.get("reason", ""))]})
    return instance


def _decide(instance, act, user, values):
    """Run approve/reject/withdraw through the approvals engine."""
    reason = _approval_refusal(instance, act, user)
    rows = list(approvals.pending_for(instance)) if instance._pk is not None else []
    rule_id = rows[0].rule if rows else spec(instance).rule
    if reason:
        _raise([(rule_id, reason, None)])
    try:
        if act.name == "withdraw":
            return approvals.withdraw(instance, user)
        row = next(r for r in rows if approvals.refusal(r, user) is None)
        return approvals.decide(row.id, user, act.name == "approve", values.get("comment", ""))
    except approvals.ApprovalError as exc:
        raise PolicyViolation(rule_id, _message(rule_id, str(exc))) from None


# ---------------------------------------------------------------- the one receiver: owned fields
def _default(field):
    value = field.default() if callable(field.default) else field.default
    return value


def _comparable_value(model, name, value):
    probe = model()
    probe.__data__[name] = value
    return models.comparable(probe, name)


def _actions_owning(wf, name):
    return [act.label for act in wf.actions.values() if name in act.sets or name in act.stamps
            or name == act.reason_to or (act.target is not None and name == wf.field)]


def _owned_refusal(model, wf, name):
    label = _label(model, name)
    owners = _actions_owning(wf, name)
    if name in wf.correct and not owners:
        how = "由主管通过“更正时间”操作更正"
    elif owners:
        how = f"只能通过流程操作({'、'.join(owners)})修改"
        if name in wf.correct:
            how += ",填错时由主管通过“更正时间”操作更正"
    else:
        how = "由审批或流程操作填写,不能直接修改"
    return f"「{label}」{how}"


@pre_save(name="workflow/owned")
def refuse_owned_changes(sender, instance, created):
    """Refuse a change of a workflow-owned field made outside its action (form, bare save, CLI, import)."""
    model = type(instance)
    wf = models.workflow_of(model)
    if wf is None or is_running():
        return
    pending = instance.__dict__.setdefault("_policy_violations", [])
    if created:
        if wf.create:
            label = wf.create
            pending.append(_violation(wf.rule, f"「{model.label()}」只能通过“{label}”操作产生,不能直接新建"))
            return
        for name in wf.fixed_at_creation(model):
            field = model._meta.fields[name]
            if name == wf.field:
                expected = wf.initial if wf.initial is not None else _default(field)
            else:
                expected = _default(field)
            if models.comparable(instance, name) != _comparable_value(model, name, expected):
                pending.append(_violation(wf.rule, _owned_refusal(model, wf, name), name))
        return
    stored = model.get_or_none(model._meta.primary_key == instance._pk)
    if stored is None:
        return
    for name in wf.owned(model):
        if models.comparable(instance, name) != models.comparable(stored, name):
            pending.append(_violation(wf.rule, _owned_refusal(model, wf, name), name))
    if not pending:
        instance.__dict__.pop("_policy_violations", None)


# ---------------------------------------------------------------- decided means locked
def _number(value):
    """Return ``value`` (a comparable string) as a Decimal, or None when it is no number."""
    try:
        return decimal.Decimal(str(value)) if value is not None else None
    except decimal.InvalidOperation:
        return None


def exceeds(how, now_value, judged):
    """Return True when the value ``now_value`` is no longer covered by the ``judged`` one under lock ``how``.

    "raise": only a value above the judged one (a lower amount, fewer days, stay covered by the approval);
    "reask" and "refuse": any other value.
    """
    if now_value == judged:
        return False
    if how == "raise":
        now_number, judged_number = _number(now_value), _number(judged)
        if now_number is not None and judged_number is not None:
            return now_number > judged_number
    return True


def approved_value(record, name):
    """Return the highest value of field ``name`` that a decision in force of ``record`` judged (Decimal), or None.

    Area rules use it so that raising an amount back up to what was approved asks nobody (Workflow.locks "raise").
    """
    values = []
    for row in decided_rows(record):
        try:
            judged = json.loads(row.judged)
        except ValueError:
            continue
        number = _number(judged.get(name))
        if number is not None:
            values.append(number)
    return max(values) if values else None


def judged_values(record):
    """Return {field: value} of ``record`` that an approval of it judges (its workflow's locks)."""
    wf = spec(record)
    if wf is None or not wf.locks:
        return {}
    return {name: models.comparable(record, name) for name in wf.locks}


def decided_rows(record):
    """Return the approved approvals of ``record`` that judged fields (the decision in force)."""
    if record._pk is None:
        return []
    return list(models.Approval.select().where(
        models.Approval.target_model == type(record).__name__, models.Approval.target_id == record._pk,
        models.Approval.status == "approved", models.Approval.kind == "approve", models.Approval.judged != ""))


def lock_notes(model):
    """Return the Chinese sentences telling what changing each judged field of ``model`` does."""
    wf = spec(model)
    if wf is None or not wf.locks:
        return []
    reask = [_label(model, n) for n, how in wf.locks.items() if how == "reask"]
    raise_ = [_label(model, n) for n, how in wf.locks.items() if how == "raise"]
    refuse = [_label(model, n) for n, how in wf.locks.items() if how == "refuse"]
    notes = []
    if raise_:
        notes.append(f"批准后调高{'、'.join(raise_)}将撤回原审批并重新送审;调低(不超过批准时的数值)不影响原审批。")
    if reask:
        notes.append(f"批准后修改{'、'.join(reask)}将撤回原审批并重新送审。")
    if refuse:
        notes.append(f"批准后不能修改{'、'.join(refuse)}。")
    return notes


@pre_save(name="workflow/decided")
def decided_fields_locked(sender, instance, created):
    """Withdraw and re-ask a decision whose judged field changed, or refuse the change (per Workflow.locks)."""
    instance.__dict__.pop("_workflow_reask", None)
    wf = models.workflow_of(type(instance))
    if wf is None or not wf.locks or created or approvals.DECIDING.get():
        return
    rows = decided_rows(instance)
    changed = {}
    for row in rows:
        try:
            judged = json.loads(row.judged)
        except ValueError:
            continue
        for name, value in judged.items():
            if name in wf.locks and exceeds(wf.locks[name], models.comparable(instance, name), value):
                changed.setdefault(name, row)
    if not changed:
        return
    refused_names = [n for n in changed if wf.locks[n] == "refuse"]
    if refused_names:
        pending = instance.__dict__.setdefault("_policy_violations", [])
        for name in refused_names:
            rule_id = changed[name].rule
            pending.append(_violation(rule_id, f"「{_label(type(instance), name)}」已经审批,不能修改", name))
        return
    for name, value in wf.reask.items():
        setattr(instance, name, value)
    instance.__dict__["_workflow_reask"] = (rows, sorted(changed))


def _reask(sender, instance, created):
    """Withdraw the decision whose judged fields changed and ask the same approvers again."""
    marked = instance.__dict__.pop("_workflow_reask", None)
    if not marked:
        return
    rows, names = marked
    labels = "、".join(_label(type(instance), n) for n in names)
    asked_again = approvals.pending_for(instance).exists()  # an area rule already asked again
    actor = models.current_actor.get()
    judged = json.dumps(judged_values(instance), ensure_ascii=False)
    with approvals.unlocked():
        for row in rows:
            row.status = "withdrawn"
            row.comment = f"{row.comment}(审批后修改了{labels},原审批撤回)".strip()
            row.save()
        if asked_again:
            return
        for row in rows:
            models.Approval.create(
                target_model=row.target_model, target_id=row.target_id, rule=row.rule, step=row.step,
                kind=row.kind, required_role=row.required_role, department=row.department_id,
                summary=row.summary, requested_by=actor, judged=judged)
    for rule_id in sorted({row.rule for row in rows}):
        if rule_id in RULES:
            RULES[rule_id].record(APPROVE, instance, note=f"审批后修改了{labels},重新送审")


def connect_late():
    """Connect the re-ask receiver after every area module's post_save (an area rule may ask itself)."""
    post_save(name="workflow/reask")(_reask)


# ---------------------------------------------------------------- ledgers
def ledger_line(instance):
    """Return True when ``instance`` is a ledger line that is never deleted (``Meta.ledger``)."""
    ledger = getattr(type(instance)._meta, "ledger", None)
    if not ledger:
        return False
    if isinstance(ledger, tuple):
        field, states = ledger
        stored = type(instance).get_or_none(type(instance)._meta.primary_key == instance._pk)
        return getattr(stored or instance, field) in states
    return True


def always_ledger(model):
    """Return True when no record of ``model`` may ever be deleted."""
    return getattr(model._meta, "ledger", None) is True


@pre_delete(name="ledger/never-deleted")
def ledger_never_deleted(sender, instance):
    """Refuse deleting a ledger line: it is cancelled or reversed with a reason instead."""
    if not ledger_line(instance):
        return
    model = type(instance)
    wf = spec(model)
    undo = [act.label for act in (wf.actions.values() if wf else ()) if act.reason]
    hint = f",如需撤销请使用“{'、'.join(undo)}”并填写原因" if undo else ""
    rule_id = LEDGER_RULES.get(model.__name__) or (wf.rule if wf else "")
    raise PolicyViolation(rule_id, f"「{model.label()}」是台账记录,不能删除{hint}")
