"""Who may do what: the stored permission matrix and row-level visibility (ARC-3).

Rights live in the ``Permission`` table (role × record type × action), seeded from
``models.default_permissions``. Rows are filtered once, here: ``scope(model, query, user)``
is what every list, count, lookup, export, details, edit and delete of every view asks.
"""
from flask import g
from flask import has_request_context
from flask_login import current_user

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


def visible_customers(user):
    """Return a query of the ids of customers ``user`` may see."""
    customer = models.Customer
    query = customer.select(customer.id).where(
        customer.confidentiality.in_(CLEARANCE_LEVELS.get(user.clearance, ("normal",))))
    if not (role_codes(user) & ALL_DEPARTMENTS):
        if user.department_id is not None:
            query = query.where((customer.department == user.department_id) | (customer.owner == user.id))
        else:
            query = query.where(customer.owner == user.id)
    return query


def visible_files(user):
    """Return a query of the ids of archive files ``user`` may see (ARC-3: by clearance)."""
    folder = models.ArchiveFile
    return folder.select(folder.id).where(
        folder.confidentiality.in_(CLEARANCE_LEVELS.get(user.clearance, ("normal",))),
        folder.customer.is_null() | folder.customer.in_(visible_customers(user)))


def _fk_to(model, target):
    return [f for f in model._meta.fields.values()
            if getattr(f, "rel_model", None) is target and f.name not in models.BaseModel.AUDIT_FIELDS]


def scope(model, query, user=None):
    """Restrict ``query`` over ``model`` to the rows ``user`` (default: current user) may see."""
    user = current_user if user is None else user
    if user is None or not getattr(user, "is_authenticated", False):
        return query.where(False)
    if model is models.Customer:
        return query.where(models.Customer.id.in_(visible_customers(user)))
    if model is models.ArchiveFile:
        return query.where(models.ArchiveFile.id.in_(visible_files(user)))
    for field in _fk_to(model, models.Customer):
        cond = field.in_(visible_customers(user))
        query = query.where(field.is_null() | cond if field.null else cond)
    for field in _fk_to(model, models.ArchiveFile):
        cond = field.in_(visible_files(user))
        query = query.where(field.is_null() | cond if field.null else cond)
    if model is models.AuditLog:
        log = models.AuditLog
        hidden_customers = models.Customer.select(models.Customer.id.cast("text")).where(
            models.Customer.id.not_in(visible_customers(user)))
        hidden_files = models.ArchiveFile.select(models.ArchiveFile.id.cast("text")).where(
            models.ArchiveFile.id.not_in(visible_files(user)))
        query = query.where(
            ~((log.model == "Customer") & log.record_id.in_(hidden_customers))
            & ~((log.model == "ArchiveFile") & log.record_id.in_(hidden_files)))
    return query


def can_see(obj, user=None):
    """Return True when the single record ``obj`` is visible to ``user``."""
    model = type(obj)
    return scope(model, model.select(model.id).where(model.id == obj.id), user).exists()
