"""The rule engine: declared rules, their settings, violations and events.

A rule is declared once with ``rule(...)``: id, Chinese title, source citation,
action kind and default settings. Area modules connect named ``playhouse.signals``
receivers (``@pre_save(sender=Loan, name="ARC-1")``) that call ``R.refuse(...)``
for a block, set fields for a compute, or ``approvals.require(...)`` for an approval.

Order inside one save (the save's own transaction):
0. the engine's first pre_save receiver ("domains") refuses values outside the schema's ``Meta.domain``
   (negative amounts, an end before its start, a fact dated in the future, a malformed mobile…) at once,
   before any rule judges them;
1. pre_save receivers of the area modules, in import order (policies/__init__.py);
   a block rule only *records* its violation, so every violation of one save is found;
2. the engine's last pre_save receiver ("policy-violations") raises them together
   as one ``PolicyViolation`` and the save (with everything written before it) rolls back;
3. the row is written; post_save receivers run (computes on other rows, approvals).
"""
import contextlib
import contextvars
import functools
import inspect
import json

from flask import g
from flask import has_request_context
from playhouse.signals import post_delete
from playhouse.signals import post_save
from playhouse.signals import pre_save

import backend
import domains
import models

BLOCK = "block"
APPROVE = "approve"
COMPUTE = "compute"
FLAG = "flag"
NOTIFY = "notify"
REPORT = "report"
ACTION = "action"

ACTION_LABELS = {
    BLOCK: "拦截", APPROVE: "审批", COMPUTE: "计算", FLAG: "提醒", NOTIFY: "通知", REPORT: "报表", ACTION: "操作",
}

RULES = {}

# The stored settings of every rule, read once for a ``settings_read_once()`` block (one import chunk).
_SNAPSHOT = contextvars.ContextVar("rule_settings_snapshot", default=None)


class PolicyViolation(Exception):
    """A block rule refused a save; ``violations`` holds every refusal of that save."""

    def __init__(self, rule_id, message, field=None, violations=None):
        self.rule_id = rule_id
        self.message = message
        self.field = field
        self.violations = violations or [self]
        super().__init__("；".join(v.message for v in self.violations))


class Rule:
    """One numbered rule of DOMAIN.md."""

    def __init__(self, rule_id, title, source, action, settings=None, quote="", labels=None, area="", reading=""):
        self.id = rule_id
        # How the console reads the rule: its current wording and boundaries, shown in the catalogue.
        self.reading = reading
        self.title = title
        self.source = source
        self.action = action
        self.defaults = dict(settings or {})
        self.labels = dict(labels or {})
        self.quote = quote
        self.area = area

    def __repr__(self):
        return f"<Rule {self.id}>"

    # ------------------------------------------------------------ settings
    def _row(self):
        snapshot = _SNAPSHOT.get()
        if snapshot is not None:
            if "rows" not in snapshot:
                snapshot["rows"] = {row.rule: row for row in models.RuleSetting.select()}
            return snapshot["rows"].get(self.id)
        if has_request_context():
            # One query per request for every rule's stored settings (the workbench asks ~30 rules).
            if "_rule_settings" not in g:
                g._rule_settings = {row.rule: row for row in models.RuleSetting.select()}
            return g._rule_settings.get(self.id)
        return models.RuleSetting.get_or_none(models.RuleSetting.rule == self.id)

    def settings(self):
        """Return the current settings: defaults overlaid by what an admin stored."""
        row = self._row()
        values = dict(self.defaults)
        if row is not None and row.params:
            try:
                stored = json.loads(row.params)
            except ValueError:
                stored = {}
            values.update({k: v for k, v in stored.items() if k in self.defaults})
        return values

    def get(self, name):
        """Return one current setting (effective at once, no restart)."""
        return self.settings()[name]

    def on(self):
        """Return True unless an admin switched this rule off."""
        row = self._row()
        return row is None or bool(row.enabled)

    def configure(self, enabled=None, **params):
        """Store new settings for this rule (through save(), so it is audited)."""
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise KeyError(f"{self.id} has no setting {sorted(unknown)}")
        row = self._row() or models.RuleSetting(rule=self.id, params="{}")
        stored = json.loads(row.params or "{}")
        stored.update(params)
        row.params = json.dumps(stored, ensure_ascii=False)
        if enabled is not None:
            row.enabled = enabled
        row.save()  # forget_cached_settings drops what the request or block read
        return row

    # ------------------------------------------------------------ outcomes
    def citation(self):
        return f"({self.id},{self.source})"

    def message(self, text):
        """Return ``text`` with the rule id and source appended, as shown to a person."""
        return f"{text}{self.citation()}"

    def refuse(self, instance, text, field=None):
        """Record that this block rule refuses ``instance``'s save (raised at the end of pre_save)."""
        pending = instance.__dict__.setdefault("_policy_violations", [])
        pending.append(PolicyViolation(self.id, self.message(text), field))

    def record(self, kind, instance=None, note=""):
        """Write a RuleEvent (compute/approve/notify) in the current transaction."""
        models.RuleEvent.create(
            rule=self.id, kind=kind, note=note,
            model=type(instance).__name__ if instance is not None else "",
            record_id=str(instance._pk) if instance is not None and instance._pk is not None else "",
        )


@contextlib.contextmanager
def settings_read_once():
    """Read the rules' stored settings once for the block instead of at every check (a batch of saves).

    A change an admin stores meanwhile in another request takes effect at the next block.
    """
    token = _SNAPSHOT.set({})
    try:
        yield
    finally:
        _SNAPSHOT.reset(token)


@post_save(sender=models.RuleSetting, name="rule-settings-cache")
def forget_cached_settings(sender, instance, created=None):
    """Drop the cached rule settings (the request's, a ``settings_read_once`` block's) once one is written."""
    if has_request_context():
        g.pop("_rule_settings", None)
    snapshot = _SNAPSHOT.get()
    if snapshot is not None:
        snapshot.pop("rows", None)


post_delete(sender=models.RuleSetting, name="rule-settings-cache-delete")(forget_cached_settings)


def rule(rule_id, title, source, action, settings=None, quote="", labels=None, reading=""):
    """Declare a rule once; return it."""
    if rule_id in RULES:
        raise ValueError(f"rule {rule_id} declared twice")
    area = rule_id.split("-")[0]
    RULES[rule_id] = Rule(rule_id, title, source, action, settings, quote, labels, area, reading)
    return RULES[rule_id]


def log_blocked(exc, instance=None):
    """Count each rule's refusal of ``exc`` (call after the refused transaction rolled back)."""
    for violation in exc.violations:
        if not violation.rule_id:
            continue  # a value outside its domain: an input error, not a rule that fired
        models.RuleEvent.create(
            rule=violation.rule_id, kind=BLOCK, note=violation.message,
            model=type(instance).__name__ if instance is not None else "",
            # The refused record, when it exists: the event is hidden with it (views/access.py).
            record_id=str(instance._pk) if instance is not None and instance._pk is not None else "",
        )


@pre_save(name="domains")
def values_in_their_domain(sender, instance, created):
    """Refuse a save whose values are outside their declared domain, each refusal at its field."""
    found = domains.problems(instance, created, now=models.utcnow())
    if found:
        violations = [PolicyViolation(None, message, field) for field, message in found]
        first = violations[0]
        raise PolicyViolation(None, first.message, first.field, violations=violations)


def connect_raiser():
    """Connect the last pre_save receiver, which raises every recorded violation together."""

    @pre_save(name="policy-violations")
    def raise_violations(sender, instance, created):
        pending = instance.__dict__.pop("_policy_violations", None)
        if pending:
            first = pending[0]
            raise PolicyViolation(first.rule_id, first.message, first.field, violations=pending)

    return raise_violations


# ---------------------------------------------------------------- flags
FLAGS = {}


def expose(model, name, query):
    """Offer ``query`` as ``model.<name>()`` too, so screens, the board and tests ask it the same way."""
    existing = model.__dict__.get(name)
    if existing is not None and getattr(existing, "__func__", existing) is not query:
        raise ValueError(f"{model.__name__}.{name} is already defined")
    setattr(model, name, staticmethod(query))


# (rule id, model) -> a callable returning, in SQL, every row a query finished in Python may flag (a superset).
CANDIDATES = {}


def flag(rule_obj, model, query, badge="warning", name=None, candidates=None):
    """Declare that ``rule_obj`` flags the rows of ``model`` returned by ``query()`` (a ModelSelect).

    The query is declared with its rule in the rule's module; ``name`` also offers it as ``model.<name>()``.
    A query that finishes in Python (``ids=``) may name its ``candidates()``: the rows it can flag, in SQL,
    so that the workbench counts by asking it about those rows only.
    """
    FLAGS.setdefault(model, []).append((rule_obj, query, badge))
    if candidates is not None:
        CANDIDATES[(rule_obj.id, model)] = candidates
    if name:
        expose(model, name, query)


@functools.lru_cache(maxsize=None)
def takes_ids(query):
    """Return True when the flag query ``query`` accepts the ids of the rows it is asked about."""
    try:
        return "ids" in inspect.signature(query).parameters
    except (TypeError, ValueError):
        return False


def flags_for(model, ids):
    """Return {id: [(rule, badge), ...]} for the rows ``ids`` of ``model`` (one query per flag rule).

    Each query runs as SQL restricted to ``WHERE id IN (<ids>)``; a query that must finish in
    Python (working days, local dates) is handed the ids so it reads only those rows.
    """
    result = {}
    if not ids:
        return result
    ids = list(ids)
    # Every rule's stored settings in one statement for the whole page (read-only while flagging).
    with settings_read_once():
        for rule_obj, query, badge in FLAGS.get(model, ()):
            if not rule_obj.on():
                continue
            base = query(ids=ids) if takes_ids(query) else query()
            flagged = base.select(model.id).where(backend.among(model.id, ids))
            for row in flagged.tuples():
                result.setdefault(row[0], []).append((rule_obj, badge))
    return result
