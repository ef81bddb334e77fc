"""Links into the generated lists, pre-filtered, and plain display values for custom pages."""
import datetime
import decimal

from flask import current_app
from flask import url_for

from policies.audit import mask
from views import fields as vf


def admin_view(model):
    """Return the generated Flask-Admin view of ``model`` (or None)."""
    admin = current_app.extensions["admin"][0]
    endpoint = model.__name__.lower()
    for view in admin._views:
        if getattr(view, "endpoint", None) == endpoint and getattr(view, "model", None) is model:
            return view
    return None


def filter_arg(view, field_name, filter_class_name):
    """Return the ``flt0_N`` argument name of ``view``'s filter ``filter_class_name`` on ``field_name``."""
    for index, flt in enumerate(view._filters or ()):
        if getattr(flt.column, "name", None) == field_name and type(flt).__name__ == filter_class_name:
            return f"flt0_{index}"
    return None


def list_url(model, **filters):
    """Return the URL of ``model``'s list filtered by equality on each ``field=value`` (FK, choice or text).

    A field that the list cannot filter on is left out, so the link still opens the list.
    """
    view = admin_view(model)
    if view is None:
        return None
    args = {}
    for position, (name, value) in enumerate(filters.items()):
        for class_name in ("FilterForeignKeyEqual", "FilterEqualOption", "FilterEqual", "BooleanEqualFilter"):
            arg = filter_arg(view, name, class_name)
            if arg:
                args[arg.replace("flt0_", f"flt{position}_")] = value
                break
    return url_for(f"{view.endpoint}.index_view", **args)


def worklist_url(model, rule_id=None, mine=False):
    """Return ``model``'s list restricted to the rows ``rule_id`` flags and, with ``mine``, to the user's own."""
    view = admin_view(model)
    if view is None:
        return None
    args = {}
    position = 0
    for index, flt in enumerate(view._filters or ()):
        kind = type(flt).__name__
        if (kind == "FilterPolicyFlag" and rule_id) or (kind == "FilterMine" and mine):
            args[f"flt{position}_{index}"] = rule_id if kind == "FilterPolicyFlag" else "1"
            position += 1
    return url_for(f"{view.endpoint}.index_view", **args)


def details_url(obj):
    """Return the details page of ``obj`` on its generated screen."""
    view = admin_view(type(obj))
    return url_for(f"{view.endpoint}.details_view", id=obj.id) if view is not None else None


def display(obj, name):
    """Return the value of ``obj.name`` as a person reads it: labels, names, local time, 是/否, masked."""
    model = type(obj)
    field = model._meta.fields.get(name)
    if field is not None and getattr(field, "rel_model", None) is not None:
        related_id = getattr(obj, name + "_id")
        if related_id is None:
            return ""
        return str(getattr(obj, name))
    value = getattr(obj, name)
    if name in model.admin_options().get("sensitive", ()):
        return mask(value) if value else ""
    if field is not None and field.choices:
        return dict(field.choices).get(value, value if value is not None else "")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime.datetime):
        return vf.format_datetime(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return f"{value:,.2f}"
    return str(value)


def label(model, name):
    """Return the Chinese label of ``model.name``."""
    field = model._meta.fields.get(name)
    return (field.verbose_name if field is not None else None) or name
