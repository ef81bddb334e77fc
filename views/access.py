"""Who may do what: the stored permission matrix and row-level visibility (ARC-3).

Rights live in the ``Permission`` table (role × record type × action), seeded from
``models.default_permissions``. Rows are filtered once, here: ``scope(model, query, user)`` and
``can_see(obj, user)`` are what every list, count, lookup, filter, inline, export, details, edit,
delete, personal-data export, approval summary and catalogue count asks.

What is hidden: customers and archive files by clearance (and customers by department for sales,
service and managers); every record with a chain of foreign keys to a hidden one, read from the
schema (Solution → Complaint → Customer, Loan → ArchiveFile, Penalty → ArchiveFile); every record
naming a hidden one by type and id (``Meta.admin["refers_to"]``: audit log, rule events, approvals).
"""
from flask import g
from flask import has_request_context
from flask_login import current_user
from peewee import JOIN
from peewee import SQL
from peewee import Case
from peewee import CharField
from peewee import ForeignKeyField
from peewee import TextField
from peewee import fn

import backend
import clock
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


def request_cache(name):
    """Return a dict kept for the current request under ``name`` (a fresh one outside a request)."""
    return g.setdefault(name, {}) if has_request_context() else {}


def _read_roles_and_rights(user):
    """Read ``user``'s role codes and rights in one statement into the request's caches."""
    statement = models.written_once(("roles-and-rights", user.id), lambda: (
        models.UserRole.select(models.Role.code, models.Permission.model, models.Permission.action)
        .join(models.Role, on=(models.UserRole.role == models.Role.id))
        .join(models.Permission, JOIN.LEFT_OUTER, on=(models.Permission.role == models.Role.id))
        .where(models.UserRole.user == user.id)))
    codes, held = set(), set()
    for code, model, action in models.db.execute_sql(*statement):
        codes.add(code)
        if model is not None:
            held.add((model, action))
    codes, held = frozenset(codes), frozenset(held)
    request_cache("_roles")[user.id] = codes
    request_cache("_rights")[user.id] = held
    return codes, held


def rights(user):
    """Return the set of (model name, action) ``user`` holds, cached for the request."""
    if user is None or not getattr(user, "is_authenticated", False):
        return frozenset()
    cache = request_cache("_rights")
    if user.id not in cache:
        return _read_roles_and_rights(user)[1]
    return cache[user.id]


def can(user, model, action):
    """Return True when ``user`` may ``action`` records of ``model`` (a class or its name)."""
    name = model if isinstance(model, str) else model.__name__
    return (name, action) in rights(user)


def role_codes(user):
    """Return the set of ``user``'s role codes, cached for the request (read with their rights)."""
    cache = request_cache("_roles")
    if user.id not in cache:
        return _read_roles_and_rights(user)[0]
    return cache[user.id]


def _restriction(user):
    """Return (clearance levels or None, department or None, owner or None) that bound ``user``'s customers.

    ``None`` levels: every level is visible; ``None`` owner: every department is visible.
    Decided once per request.
    """
    cache = request_cache("_restriction")
    if user.id not in cache:
        levels = CLEARANCE_LEVELS.get(user.clearance, ("normal",))
        all_levels = len(levels) == len(models.CONFIDENTIALITY)
        if role_codes(user) & ALL_DEPARTMENTS:
            cache[user.id] = (None if all_levels else levels, None, None)
        else:
            cache[user.id] = (None if all_levels else levels, user.department_id, user.id)
    return cache[user.id]


def scope_key(user):
    """Return a text naming what ``user`` sees (clearance levels, department, owner) and the local time zone:
    users with the same key see the same rows, so counts remembered under it are theirs to share."""
    levels, department, owner = _restriction(user)
    return (f"levels={','.join(levels) if levels is not None else '*'};department={department or '-'};"
            f"owner={owner or '*'};zone={clock.LOCAL_ZONE.key}")


def sees_everything(user):
    """Return True when no customer or archive file is hidden from ``user``."""
    levels, _, owner = _restriction(user)
    return levels is None and owner is None


def count_bound(model, user):
    """Return how far a list of ``model`` is counted exactly for ``user`` (backend's bounds).

    Lower for a user who sees one department's customers (and their own) when the rows of ``model`` are
    checked against their customer or archive file one by one: there each visible row costs ~10 probes.
    """
    _, _, owner = _restriction(user)
    if owner is None or model is models.Customer or visible_condition(model, user) is None:
        return backend.COUNT_BOUND
    return backend.PROBED_COUNT_BOUND


def customer_condition(user, customer=None):
    """Return the condition on ``customer`` (Customer or an alias) for the rows ``user`` may see, or None."""
    customer = customer or models.Customer
    levels, department, owner = _restriction(user)
    cond = _levels_condition(customer, levels)
    if owner is not None:
        mine = customer.owner == owner
        if department is not None:
            mine = (customer.department == department) | mine
        cond = mine if cond is None else (cond & mine)
    return cond


def _levels_condition(customer, levels):
    """Return "the customer is of one of ``levels``" (None: every level)."""
    if levels is None:
        return None
    # Most customers are of the lowest level: the clearance rarely narrows enough to lead a plan.
    return backend.unselective(customer.confidentiality).in_(levels)


def id_order_hint(user, model):
    """Return a condition that lets SQLite skip a deep page of customers in id order on an index, or None.

    For a user who sees one clearance level, ``confidentiality = level`` read from its index comes in
    id order (a SQLite index ends with the rowid), so skipping 500,000 ids reads only that index instead
    of the table. Only for a list ordered by id: for any other order the index would mean a sort of
    nearly every row, which is why the clearance condition itself is marked unselective.
    """
    if model is not models.Customer or backend.is_postgres():
        return None
    levels, _, owner = _restriction(user)
    if levels is None or len(levels) != 1 or owner is not None:
        # A user who sees one department pages through the narrow customer_scope index instead, testing
        # clearance, department and owner there (the clearance index would fetch every row to test them).
        return None
    return models.Customer.confidentiality == levels[0]


def id_order_branches(user, model):
    """Return the conditions of the customers ``user`` sees, in disjoint parts each read in id order, or None.

    A user who sees one department (and their own customers elsewhere) sees ``department = D OR owner = me``:
    no index hands those out in id order, so a deep page walked every customer's entry in customer_scope
    (~490,000 at 1M to skip 48,000). Split into the department (index customer_department_order) and
    the user's customers outside it (owner index), the two parts are merged in id order
    (``backend.merged_in_order``) and a deep page reads only the department's entries before it.
    """
    if model is not models.Customer:
        return None
    levels, department, owner = _restriction(user)
    if department is None or owner is None:
        return None
    customer = models.Customer
    elsewhere = (customer.department != department) | customer.department.is_null()
    parts = [customer.department == department, (customer.owner == owner) & elsewhere]
    level = _levels_condition(customer, levels)
    # Each part is the whole condition for its rows: a part that also carried the OR of customer_condition
    # led PostgreSQL to think the department ten times smaller than it is, and to sort it.
    return parts if level is None else [level & part for part in parts]


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


# The record types hidden by their own row (ARC-3); every other record type is hidden through them.
def _root_ids():
    return {models.Customer: visible_customers, models.ArchiveFile: visible_files}


def _real_fks(model):
    return [f for f in model._meta.sorted_fields
            if isinstance(f, ForeignKeyField) and f.name not in models.BaseModel.AUDIT_FIELDS]


_ROOTS = {}


def roots(model):
    """Return the record types (Customer, ArchiveFile) through which rows of ``model`` are hidden: itself, or
    those its foreign keys lead to at any depth (empty: nothing hides its rows through a parent)."""
    if model not in _ROOTS:
        _ROOTS[model] = frozenset(_roots(model, frozenset()))
    return _ROOTS[model]


def _roots(model, seen):
    if model in _root_ids():
        return {model}
    found = set()
    for field in _real_fks(model):
        if field.rel_model not in seen and field.rel_model is not model:
            found |= _roots(field.rel_model, seen | {model})
    return found


def guarded(model):
    """Return True when rows of ``model`` can be hidden: a Customer or ArchiveFile, or a foreign key leading to one."""
    return bool(roots(model))


def guarded_fks(model):
    """Return the foreign keys of ``model`` through which its rows inherit a hidden parent (any depth)."""
    return [f for f in _real_fks(model) if f.rel_model is not model and guarded(f.rel_model)]


def references(model):
    """Return (model-name field, id field) of a record type that points at any record by name and id, or None.

    Declared on the schema as ``Meta.admin["refers_to"]`` (audit log, rule events, approvals).
    """
    names = model.admin_options().get("refers_to") if hasattr(model, "admin_options") else None
    return None if not names else tuple(model._meta.fields[n] for n in names)


def customer_share(model, user):
    """Return the share (0 to 1) of all customers ``user`` sees, when rows of ``model`` are hidden only through
    their customer (a probed child list); None otherwise, or when nothing is hidden from ``user``.

    A list's estimate past its count bound is scaled by it (``views/base.py``): PostgreSQL's planner takes the
    probe of each row's customer (a correlated EXISTS) to let half the rows through, whatever the user sees — a
    department manager's 19,621 complaints were shown as "约 100,000". Read from the kept customer tally.
    """
    if model is models.Customer or references(model) is not None or roots(model) != {models.Customer}:
        return None
    tally = models.CustomerTally
    cond = customer_condition(user, tally)
    if cond is None:
        return None
    total, seen = tally.select(fn.SUM(tally.count), fn.SUM(Case(None, [(cond, tally.count)], 0))).tuples().get()
    if not total:
        return None
    return min(1.0, max(0.0, float(seen or 0) / float(total)))


def visible_ids(model, user):
    """Return a query of the ids of ``model`` rows ``user`` may see."""
    root = _root_ids().get(model)
    if root is not None:
        return root(user)
    return scope(model, model.select(model._meta.primary_key), user)


def hidden_ids(model, user):
    """Return a query of the ids of ``model`` rows hidden from ``user`` (None when none can be)."""
    cond = visible_condition(model, user)
    if cond is None:
        return None
    return model.select(model._meta.primary_key).where(~cond)


def guarded_models():
    """Return the record types of the schema whose rows can be hidden."""
    return [m for m in models.MODELS if guarded(m)]


def reference_condition(name_field, id_field, user):
    """Return the condition "(name, id) does not point at a row hidden from ``user``"."""
    cond = None
    as_text = isinstance(id_field, (CharField, TextField))
    for target in guarded_models():
        hidden = hidden_ids(target, user)
        if as_text:
            hidden = hidden.select(target._meta.primary_key.cast("text"))
        clause = ~((name_field == target.__name__) & id_field.in_(hidden))
        cond = clause if cond is None else cond & clause
    return cond


def visible_condition(model, user):
    """Return the condition on ``model`` of the rows ``user`` may see, or None when none is hidden.

    Customers and archive files are hidden by clearance and department; a record pointing at one
    (through a chain of foreign keys of any length: Solution → Complaint → Customer, Loan →
    ArchiveFile) is hidden with it; a record naming any record by type and id (audit log, rule
    events, approvals) is hidden with the record it names.
    """
    if sees_everything(user):
        return None
    if model is models.Customer:
        return customer_condition(user)
    if model is models.ArchiveFile:
        return _file_condition(user, models.ArchiveFile)
    cond = None
    for field in guarded_fks(model):
        # A direct parent is probed by primary key (EXISTS); a deeper chain goes through its parent's ids.
        if field.rel_model is models.Customer:
            clause = _customer_visible(field, user)
        elif field.rel_model is models.ArchiveFile:
            clause = _file_visible(field, user)
        else:
            clause = field.in_(visible_ids(field.rel_model, user))
            if field.null:
                clause = field.is_null() | clause
        if clause is None:
            continue
        cond = clause if cond is None else cond & clause
    ref = references(model)
    if ref is not None:
        clause = reference_condition(ref[0], ref[1], user)
        if clause is not None:
            cond = clause if cond is None else cond & clause
    return cond


def _customer_visible(field, user):
    """Return the condition that the customer ``field`` names is visible to ``user`` (None: always).

    A correlated EXISTS probing the customer by primary key: the list keeps its own order and
    stops after a page, and SQLite builds no filter over the whole customer table first.
    """
    parent = backend.probe_source(models.Customer, "customer_scope")
    cond = customer_condition(user, parent)
    if cond is None:
        return None
    probe = parent.select(SQL("1")).where(parent.id == field, cond)
    _, department, owner = _restriction(user)
    if department is not None or owner is None:
        # A department or a clearance level: many customers pass, and a probe per row stops as soon as the
        # page (or the count's bound) is full. Only a user who sees just their own few customers is left
        # to PostgreSQL's hash of them.
        probe = backend.probe_each_row(probe)
    seen = fn.EXISTS(probe)
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
    cond = visible_condition(model, user)
    return query if cond is None else query.where(cond)


def can_see(obj, user=None):
    """Return True when the single record ``obj`` is visible to ``user`` (one primary-key lookup)."""
    user = current_user if user is None else user
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if sees_everything(user):
        return True
    model = type(obj)
    return scope(model, model.select(model._meta.primary_key).where(model._meta.primary_key == obj._pk),
                 user).exists()


def can_see_reference(model_name, record_id, user=None):
    """Return True when the record named by type and id is visible to ``user`` (or no such record type)."""
    model = model_named(model_name)
    if model is None or record_id in (None, ""):
        return True
    try:
        pk = int(record_id)
    except (TypeError, ValueError):
        return True
    return scope(model, model.select(model._meta.primary_key).where(model._meta.primary_key == pk), user).exists()


def visible_references(model_name, ids, user=None):
    """Return the subset of ``ids`` of ``model_name`` records visible to ``user`` (one query)."""
    model = model_named(model_name)
    ids = [int(i) for i in ids]
    if model is None or not guarded(model):
        return set(ids)
    query = scope(model, model.select(model._meta.primary_key).where(model._meta.primary_key.in_(ids)), user)
    return {row[0] for row in query.tuples()}


def model_named(name):
    """Return the record type of the schema called ``name``, or None."""
    return next((m for m in models.MODELS if m.__name__ == name), None)
