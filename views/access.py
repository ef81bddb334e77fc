"""Who may do what: the stored permission matrix and row-level visibility (ARC-3).

Rights live in the ``Permission`` table (role × record type × action), seeded from
``models.default_permissions``. Rows are filtered once, here: ``scope(model, query, user)``
is what every list, count, lookup, export, details, edit and delete of every view asks.
"""
from flask import g
from flask import has_request_context
from flask_login import current_user
from peewee import SQL
from peewee import fn

import backend
import models

ACTIONS = tuple(code for code, _ in models.PERMISSION_ACTIONS)
ROLE_NAMES = {
    "admin": "系统管理员", "gm": "总经理", "manager": "部门经理", "archivist": "档案管理员",
    "service": "客服专员", "sales": "销售/业务员", "clerk": "录入员",
    # Approvers only (no screens by default): ARC-5's deputy GM, MOV-1's three sign-off departments.
    "deputy": "副总经理", "engineering": "工程部", "finance": "财务部", "security": "保安部",
}
CLEARANCE_LEVELS = {
    "normal": ("normal",),
    "secret": ("normal", "secret"),
    "top_secret": ("normal", "secret", "top_secret"),
}
# Roles that see every department's customers; sales, service and managers see their own.
ALL_DEPARTMENTS = {"admin", "gm", "deputy", "clerk", "archivist", "engineering", "finance", "security"}


def seed_permissions(schema):
    """Fill the permission matrix from the schema defaults when it is empty."""
    if models.Permission.select().exists():
        return
    roles = {}
    for code, name in ROLE_NAMES.items():
        roles[code], _ = models.Role.get_or_create(code=code, defaults={"name": name})
    rows = []
    for model in schema:
        if not hasattr(model, "admin_options") or not model.admin_options().get("label"):
            continue
        for code, actions in models.default_permissions(model).items():
            if code in roles:
                rows.extend({"role": roles[code].id, "model": model.__name__, "action": a,
                             "created_at": models.utcnow(), "updated_at": models.utcnow()} for a in actions)
    with models.db.atomic():
        # Seeding the matrix is set-up, not a business write: one multi-row insert.
        for start in range(0, len(rows), 200):
            models.Permission.insert_many(rows[start:start + 200]).execute()


def rights(user):
    """Return the set of (model name, action) ``user`` holds, cached for the request."""
    if user is None or not getattr(user, "is_authenticated", False):
        return frozenset()
    cache = g.setdefault("_rights", {}) if has_request_context() else {}
    if user.id not in cache:
        query = (models.Permission.select(models.Permission.model, models.Permission.action)
                 .join(models.UserRole, on=(models.UserRole.role == models.Permission.role))
                 .where(models.UserRole.user == user.id))
        cache[user.id] = frozenset(query.tuples())
    return cache[user.id]


def can(user, model, action):
    """Return True when ``user`` may ``action`` records of ``model`` (a class or its name)."""
    name = model if isinstance(model, str) else model.__name__
    return (name, action) in rights(user)


def role_codes(user):
    cache = g.setdefault("_roles", {}) if has_request_context() else {}
    if user.id not in cache:
        cache[user.id] = user.role_codes()
    return cache[user.id]


def _restriction(user):
    """Return (clearance levels or None, department or None, owner or None) that bound ``user``'s customers.

    ``None`` levels: every level is visible; ``None`` owner: every department is visible.
    Decided once per request.
    """
    cache = g.setdefault("_restriction", {}) if has_request_context() else {}
    if user.id not in cache:
        levels = CLEARANCE_LEVELS.get(user.clearance, ("normal",))
        all_levels = len(levels) == len(models.CONFIDENTIALITY)
        if role_codes(user) & ALL_DEPARTMENTS:
            cache[user.id] = (None if all_levels else levels, None, None)
        else:
            cache[user.id] = (None if all_levels else levels, user.department_id, user.id)
    return cache[user.id]


def sees_everything(user):
    """Return True when no customer or archive file is hidden from ``user``."""
    levels, _, owner = _restriction(user)
    return levels is None and owner is None


def customer_condition(user, customer=None):
    """Return the condition on ``customer`` (Customer or an alias) for the rows ``user`` may see, or None."""
    customer = customer or models.Customer
    levels, department, owner = _restriction(user)
    cond = None
    if levels is not None:
        # Most customers are of the lowest level: the clearance rarely narrows enough to lead a plan.
        cond = backend.unselective(customer.confidentiality).in_(levels)
    if owner is not None:
        mine = customer.owner == owner
        if department is not None:
            mine = (customer.department == department) | mine
        cond = mine if cond is None else (cond & mine)
    return cond


def visible_customers(user):
    """Return a query of the ids of customers ``user`` may see."""
    customer = models.Customer
    cond = customer_condition(user)
    query = customer.select(customer.id)
    return query if cond is None else query.where(cond)


def visible_files(user):
    """Return a query of the ids of archive files ``user`` may see (ARC-3: by clearance)."""
    folder = models.ArchiveFile
    return _scope_file(folder.select(folder.id), folder, folder, user)


def _fk_to(model, target):
    return [f for f in model._meta.fields.values()
            if getattr(f, "rel_model", None) is target and f.name not in models.BaseModel.AUDIT_FIELDS]


def _customer_visible(field, user):
    """Return the condition that the customer ``field`` names is visible to ``user`` (None: always).

    A correlated EXISTS probing the customer by primary key: the list keeps its own order and
    stops after a page, and SQLite builds no filter over the whole customer table first.
    """
    parent = models.Customer.alias()
    cond = customer_condition(user, parent)
    if cond is None:
        return None
    seen = fn.EXISTS(parent.select(SQL("1")).where(parent.id == field, cond))
    return field.is_null() | seen if field.null else seen


def _file_condition(user, folder):
    """Return the condition on ``folder`` (ArchiveFile or an alias) that ``user`` may see it, or None."""
    levels, _, _ = _restriction(user)
    conds = []
    if levels is not None:
        conds.append(backend.unselective(folder.confidentiality).in_(levels))
    owner = _customer_visible(folder.customer, user)
    if owner is not None:
        conds.append(owner)
    if not conds:
        return None
    cond = conds[0]
    for extra in conds[1:]:
        cond = cond & extra
    return cond


def _file_visible(field, user):
    """Return the condition that the archive file ``field`` names is visible to ``user`` (None: always)."""
    parent = models.ArchiveFile.alias()
    cond = _file_condition(user, parent)
    if cond is None:
        return None
    seen = fn.EXISTS(parent.select(SQL("1")).where(parent.id == field, cond))
    return field.is_null() | seen if field.null else seen


def _scope_file(query, src, folder, user):
    """Keep the rows of ``query`` where ``folder`` (ArchiveFile or an alias) is visible."""
    cond = _file_condition(user, folder)
    return query if cond is None else query.where(cond)


def scope(model, query, user=None):
    """Restrict ``query`` over ``model`` to the rows ``user`` (default: current user) may see.

    A user who sees everything gets the query untouched; otherwise the condition is a plain
    one on the customer (or archive file) row, probed by primary key (EXISTS) for child tables.
    """
    user = current_user if user is None else user
    if user is None or not getattr(user, "is_authenticated", False):
        return query.where(False)
    if sees_everything(user):
        return query
    if model is models.Customer:
        return query.where(customer_condition(user))
    if model is models.ArchiveFile:
        return _scope_file(query, model, model, user)
    for field in _fk_to(model, models.Customer):
        cond = _customer_visible(field, user)
        query = query if cond is None else query.where(cond)
    for field in _fk_to(model, models.ArchiveFile):
        cond = _file_visible(field, user)
        query = query if cond is None else query.where(cond)
    if model is models.AuditLog:
        query = query.where(~_hidden_log(models.AuditLog, "Customer", models.Customer, customer_condition(user))
                            & ~_hidden_file_log(user))
    return query


def _hidden_log(log, name, target, visible_cond):
    """Return the condition of audit rows about an existing ``target`` row that ``visible_cond`` hides."""
    record = backend.as_integer(log.record_id)
    exists = fn.EXISTS(target.select(SQL("1")).where(target.id == record))
    seen = fn.EXISTS(target.select(SQL("1")).where(target.id == record, visible_cond))
    return (log.model == name) & exists & ~seen


def _hidden_file_log(user):
    log = models.AuditLog
    folder = models.ArchiveFile
    record = backend.as_integer(log.record_id)
    exists = fn.EXISTS(folder.select(SQL("1")).where(folder.id == record))
    seen = fn.EXISTS(_scope_file(folder.select(SQL("1")), folder, folder, user).where(folder.id == record))
    return (log.model == "ArchiveFile") & exists & ~seen


def can_see(obj, user=None):
    """Return True when the single record ``obj`` is visible to ``user`` (one primary-key lookup)."""
    user = current_user if user is None else user
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if sees_everything(user):
        return True
    model = type(obj)
    return scope(model, model.select(model.id).where(model.id == obj.id), user).exists()
