"""Form fields, formatters and filters shared by the generated screens."""
import datetime
import decimal

from flask_admin.contrib.peewee import filters as peewee_filters
from flask_admin.contrib.peewee.ajax import QueryAjaxModelLoader
from flask_admin.form import DateTimePickerWidget
from flask_admin.model import typefmt
from markupsafe import Markup
from markupsafe import escape
from peewee import DoesNotExist
from wtforms import fields
from wtfpeewee.fields import ModelSelectMultipleField

import backend
import clock
from clock import to_local
from clock import to_utc
from policies.audit import mask


def local_zone():
    """Return the configured display time zone (default Asia/Shanghai)."""
    return clock.LOCAL_ZONE


def format_datetime(value):
    """Render a stored datetime in the display zone, to the minute."""
    return "" if value is None else to_local(value).strftime("%Y-%m-%d %H:%M")


class LocalDateTimeField(fields.DateTimeField):
    """A datetime input typed and shown in the display zone, stored as UTC."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("widget", DateTimePickerWidget())
        kwargs.setdefault("format", ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"])
        super().__init__(label, validators, **kwargs)

    def _value(self):
        if self.raw_data:
            return " ".join(self.raw_data)
        return to_local(self.data).strftime("%Y-%m-%d %H:%M:%S") if self.data else ""

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        super().process_formdata(valuelist)
        self.data = to_utc(self.data)


class VersionField(fields.HiddenField):
    """The record version the edit form was loaded with (optimistic locking); never copied onto the row."""

    def populate_obj(self, obj, name):
        pass


class ManyToManyField(ModelSelectMultipleField):
    """A multi-select for a peewee many-to-many; the view writes it after the row has an id."""

    def populate_obj(self, obj, name):
        pass


# -------------------------------------------------------------- list/export formatters
def _fmt_datetime(view, value, name=None):
    return format_datetime(value)


def _fmt_date(view, value, name=None):
    return value.isoformat() if value else ""


def _fmt_decimal(view, value, name=None):
    return f"{value:,.2f}"


def _fmt_bool_export(view, value, name=None):
    return "是" if value else "否"


def _fmt_none(view, value, name=None):
    return ""


_OWN_FORMATTERS = {
    type(None): _fmt_none,
    datetime.datetime: _fmt_datetime,
    datetime.date: _fmt_date,
    decimal.Decimal: _fmt_decimal,
}
LIST_TYPE_FORMATTERS = {**typefmt.BASE_FORMATTERS, **_OWN_FORMATTERS}
DETAIL_TYPE_FORMATTERS = {**typefmt.DETAIL_FORMATTERS, **_OWN_FORMATTERS}
# Characters that make a spreadsheet read a cell as a formula (ASCII and full-width forms).
FORMULA_STARTS = "=+-@＝＋－＠"


def formula_safe(value):
    """Return ``value`` with a leading quote when a spreadsheet would run it as a formula.

    Covers = + - @ and their full-width forms, also after leading blanks, and a leading tab, CR or LF.
    """
    if not isinstance(value, str) or not value:
        return value
    if value[0] in "\t\r\n" or value.lstrip(" \u3000\t\r\n")[:1] in tuple(FORMULA_STARTS):
        return "'" + value
    return value


def neutralise_formula(view, value, name=None):
    """Type formatter form of ``formula_safe`` for text cells of exports."""
    return formula_safe(value)


EXPORT_TYPE_FORMATTERS = {**typefmt.EXPORT_FORMATTERS, **_OWN_FORMATTERS, bool: _fmt_bool_export,
                          str: neutralise_formula}


def mark_required(form):
    """Tag every required field (lookups included) so the page stars its label."""
    for field in form:
        if field.flags.required:
            field.render_kw = {**(field.render_kw or {}), "data-required": "1"}
    return form


def badge(text, kind="secondary"):
    """Return a Bootstrap badge with escaped text."""
    return Markup(f'<span class="badge badge-{kind}">{escape(text)}</span>')


# -------------------------------------------------------------- ajax lookups
class LookupLoader(QueryAjaxModelLoader):
    """Ajax loader that answers an unknown or malformed id with None instead of a 500."""

    def _query(self):
        from views import access

        return access.scope(self.model, self.model.select())

    def get_one(self, pk):
        try:
            return self._query().where(self.model._meta.primary_key == int(pk)).get()
        except (DoesNotExist, TypeError, ValueError):
            return None

    def get_list(self, term, offset=0, limit=10):
        query = self._query()
        if term and self._cached_fields:
            query = query.where(backend.search_condition(self._cached_fields, term))
        order = self._cached_fields[0] if self._cached_fields else self.model._meta.primary_key
        return list(query.order_by(order).offset(offset).limit(limit))


# -------------------------------------------------------------- filters
class _LocalTimeMixin:
    """Read datetimes typed into a filter in the display zone."""

    def clean(self, value):
        cleaned = super().clean(value)
        if isinstance(cleaned, list):
            return [to_utc(v) for v in cleaned]
        return to_utc(cleaned)


def localise(filter_class):
    """Return ``filter_class`` reading its values in the display zone."""
    return type(filter_class.__name__, (_LocalTimeMixin, filter_class), {})


class FilterEqualOption(peewee_filters.FilterEqual):
    """Equality on a choice field or foreign key, offered as a drop-down."""

    def operation(self):
        return "等于"


class FilterNotEqualOption(peewee_filters.FilterNotEqual):
    def operation(self):
        return "不等于"


class FilterForeignKeyEqual(FilterEqualOption):
    """Equality on a foreign key: the value is the related row's id."""

    def validate(self, value):
        return str(value).isdigit()

    def clean(self, value):
        return int(value)


class FilterRelatedContains(peewee_filters.BasePeeweeFilter):
    """A foreign key whose related record's name contains the typed text."""

    def __init__(self, column, name, lookup_fields):
        super().__init__(column, name)
        self.lookup_fields = lookup_fields

    def apply(self, query, value):
        rel = self.column.rel_model
        stmt = backend.search_condition(self.lookup_fields, value)
        return query.where(self.column.in_(rel.select(rel._meta.primary_key).where(stmt)))

    def operation(self):
        return "名称包含"


def format_flags(view, context, model, name):
    """Render the rules that flag this row as coloured badges (id and title on hover)."""
    marks = getattr(model, "policy_flags", None) or []
    return Markup(" ".join(
        f'<span class="badge badge-{badge}" title="{escape(rule.title)}({escape(rule.source)})">'
        f'{escape(rule.id)}</span>' for rule, badge in marks))


def format_masked(view, context, model, name):
    """Show a sensitive field masked in lists, details and exports."""
    return mask(getattr(model, name))


class SensitiveField(fields.StringField):
    """An input for a sensitive value: never pre-filled; left blank keeps the stored value."""

    def _value(self):
        return ""

    def process_data(self, value):
        self.stored = value
        self.data = value

    def populate_obj(self, obj, name):
        if self.raw_data and self.raw_data[0].strip():
            setattr(obj, name, self.raw_data[0].strip())

    def __call__(self, **kwargs):
        if getattr(self, "stored", None):
            kwargs.setdefault("placeholder", f"已保存:{mask(self.stored)}(留空则不修改)")
        return super().__call__(**kwargs)
