"""Work lists: list filters by reminder rule (提醒) and by "mine" (只看我的), shared by lists and the workbench."""
from flask_admin.contrib.peewee import filters as peewee_filters
from flask_login import current_user

import policies
from views import access

# The field naming the person who must act on a record of each type ("mine").
OWNER_FIELDS = {
    "Customer": "owner", "Complaint": "assignee", "Loan": "borrower", "Handover": "handed_by",
    "VisitPlan": "owner", "BorrowRequest": "borrower", "Attendance": "user", "ServiceOrder": "technician",
    "Reception": "host", "Penalty": "user",
}
# Roles that act on every visible record of a type, not only their own (the rest see "mine").
OVERSEERS = {"admin", "gm", "deputy", "manager"}
AREA_KEEPERS = {"ArchiveFile": {"archivist"}, "Loan": {"archivist"}, "Handover": {"archivist"},
                "Inspection": {"archivist"}, "BorrowRequest": {"archivist"}, "Penalty": {"archivist"}}


def owner_field(model):
    """Return the field of ``model`` naming the responsible person, or None."""
    name = OWNER_FIELDS.get(model.__name__)
    return getattr(model, name) if name else None


def mine(field, user_id):
    """Return the condition "the row's ``field`` (its responsible person) is ``user_id``".

    Written as the list of that person's rows' ids, so the planner starts from them (the index of
    ``field``) whatever its statistics say: a column that is mostly empty, like the assignee of old
    complaints, looks useless to SQLite's planner, which would walk every open complaint instead.
    Used by the workbench's tiles and by the "只看我的" filter of the lists they open.
    """
    model = field.model
    return model.id.in_(model.select(model.id).where(field == user_id))


def oversees(user, model):
    """Return True when ``user`` acts on all visible rows of ``model`` (not only their own)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(access.role_codes(user) & (OVERSEERS | AREA_KEEPERS.get(model.__name__, set())))


def flag_query(model, rule_id):
    """Return the flag query of ``rule_id`` on ``model`` (a callable returning a select), or None."""
    for rule_obj, query, _badge in policies.FLAGS.get(model, ()):
        if rule_obj.id == rule_id:
            return query
    return None


def flagged(model, rule_id, query):
    """Restrict ``query`` over ``model`` to the rows that ``rule_id`` flags."""
    make = flag_query(model, rule_id)
    if make is None:
        return query.where(False)
    return query.where(model.id.in_(make().select(model.id)))


class FilterPolicyFlag(peewee_filters.BasePeeweeFilter):
    """Only the rows a reminder rule flags (e.g. CUS-1 久未联系)."""

    def __init__(self, model):
        self.model = model
        options = []
        seen = set()
        for rule_obj, _query, _badge in policies.FLAGS.get(model, ()):
            if rule_obj.id not in seen:
                seen.add(rule_obj.id)
                options.append((rule_obj.id, f"{rule_obj.title}({rule_obj.id})"))
        super().__init__(model.id, "提醒", options=options)

    def validate(self, value):
        return flag_query(self.model, value) is not None

    def apply(self, query, value):
        return flagged(self.model, value, query)

    def operation(self):
        return "为"


class FilterMine(peewee_filters.BasePeeweeFilter):
    """Only the rows whose responsible person is the current user."""

    def __init__(self, field):
        super().__init__(field, "只看我的", options=(("1", "是"),))

    def validate(self, value):
        return value == "1"

    def apply(self, query, value):
        if not getattr(current_user, "is_authenticated", False):
            return query.where(False)
        return query.where(mine(self.column, current_user.id))

    def operation(self):
        return "为"


def extra_filters(model):
    """Return the work-list filters ``model``'s list offers beside its declared ones."""
    result = []
    if policies.FLAGS.get(model):
        result.append(FilterPolicyFlag(model))
    field = owner_field(model)
    if field is not None:
        result.append(FilterMine(field))
    return result


def chosen_columns(columns, wanted):
    """Return the (name, label) ``columns`` named in the comma-separated ``wanted`` (all when none match)."""
    names = [n for n in (wanted or "").split(",") if n]
    chosen = [c for c in columns if c[0] in names]
    return chosen or columns
