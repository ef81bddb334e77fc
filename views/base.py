"""The shared base of every generated screen: login check, CSRF, transactions and the
fixes Flask-Admin's peewee backend needs (labels, joins, filters, search, inlines, m2m)."""
import datetime
import decimal
import logging

from flask import abort
from flask import current_app
from flask import session
from flask import flash
from flask import has_request_context
from flask import redirect
from flask import request
from flask import url_for
from flask_admin import BaseView
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.peewee import ModelView
from flask_admin.contrib.peewee.form import CustomModelConverter
from flask_admin.contrib.peewee.form import InlineModelConverter
from flask_admin.contrib.peewee.form import InlineModelFormList
from flask_admin.model.form import InlineFormAdmin
from flask_login import current_user
from flask_wtf import FlaskForm
from jinja2 import pass_context
from markupsafe import Markup
from markupsafe import escape
from peewee import JOIN
from peewee import SQL
from peewee import AutoField
from peewee import BooleanField
from peewee import CharField
from peewee import DateField
from peewee import DateTimeField
from peewee import DecimalField
from peewee import FloatField
from peewee import ForeignKeyField
from peewee import IntegerField
from peewee import IntegrityError
from peewee import TextField
from wtforms import ValidationError
from wtforms.utils import unset_value

import backend
import domains
import models
import policies
from policies import workflow
from views import access
from views import display
from views import fields as vf
from views import throttle
from views import worklists

log = logging.getLogger(__name__)

PAGE_SIZE = 50
# The right each Flask-Admin endpoint needs (action_view is decided by the action posted).
ENDPOINT_ACTIONS = {
    "index_view": "view", "details_view": "view", "ajax_lookup": "view", "create_view": "create",
    "edit_view": "edit", "ajax_update": "edit", "delete_view": "delete", "export": "export",
    "reveal_view": "view", "reset_password_view": "edit", "personal_data_view": "export", "anonymise_view": "edit",
    # The action decides: role-bound actions and approvals check their own roles (policies.workflow).
    "workflow_action_view": "view",
}
# Attribute names of a WTForms form that a model field must not shadow.
FORM_RESERVED_NAMES = frozenset({"process", "validate", "populate_obj", "data", "errors", "meta", "hidden_tag"})


class AdminForm(FlaskForm):
    """Base of every generated form: Flask-WTF CSRF token and WTForms' Chinese messages."""


class LoginRequiredMixin:
    """Let only logged-in, active users in; send the others to the login page."""

    def is_accessible(self):
        return current_user.is_authenticated and current_user.is_active

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        return super().inaccessible_callback(name, **kwargs)


class SecureView(LoginRequiredMixin, BaseView):
    """Base of the custom pages."""


class FixedInlineModelFormList(InlineModelFormList):
    """Save inline rows so that new ones are really inserted (upstream #1718); show and touch only visible rows."""

    def process(self, formdata, data=unset_value, extra_filters=None):
        if hasattr(data, "where"):
            data = list(access.scope(self.model, data))
        return super().process(formdata, data, extra_filters)

    def save_related(self, obj):
        model_id = getattr(obj, self._pk)
        attr = getattr(self.model, self.prop)
        existing = {str(getattr(v, self._pk)): v
                    for v in access.scope(self.model, self.model.select().where(attr == model_id))}
        for field in self.entries:
            field_id = field.get_pk()
            is_created = not field_id or field_id not in existing
            if is_created:
                if self.should_delete(field):
                    continue
                child = self.model()
            else:
                child = existing[field_id]
                if self.should_delete(field):
                    child.delete_instance()
                    continue
            field.populate_obj(child, None)
            if is_created:
                # The hidden pk input populated '' which makes peewee UPDATE nothing.
                setattr(child, self._pk, None)
            setattr(child, self.prop, model_id)
            child.save(force_insert=is_created)


class FixedInlineModelConverter(InlineModelConverter):
    inline_field_list_type = FixedInlineModelFormList


class ModelConverter(CustomModelConverter):
    """Form fields for the schema: local-time datetimes, Chinese choices."""

    def __init__(self, view, additional=None):
        super().__init__(view, additional)
        self.converters[DateTimeField] = self.handle_local_datetime
        # wtfpeewee takes the first isinstance match: AutoField must win over IntegerField,
        # or the hidden id of a new inline row is "required" and the row never saves.
        self.converters = {AutoField: self.handle_pk, **self.converters}

    def convert(self, model, field, field_args):
        """Put the input attributes of the field's declared domain (min, type, maxlength) on its input."""
        attributes = domains.input_attributes(model).get(field.name)
        if attributes:
            field_args = dict(field_args or {})
            field_args["render_kw"] = {**attributes, **(field_args.get("render_kw") or {})}
        return super().convert(model, field, field_args)

    def handle_local_datetime(self, model, field, **kwargs):
        return field.name, vf.LocalDateTimeField(**kwargs)


def _comparable(value):
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return value
    return str(value)


def field_of(model, path):
    """Resolve ``'customer.name'`` into the list of fields it walks through."""
    chain = []
    current = model
    for part in path.split("."):
        field = current._meta.fields.get(part)
        if field is None:
            raise AttributeError(f"{current.__name__} has no field {part!r} (in {model.__name__}.{path})")
        chain.append(field)
        if isinstance(field, ForeignKeyField):
            current = field.rel_model
    return chain


RELATED_IDS_MAX = 500


def condition_through(chain, make_clause):
    """Build a condition on the first field of ``chain`` via subqueries over the rest.

    ``make_clause`` gets the last field alone, or a list of own fields to search together. Returns None
    when no related row matches: the caller leaves the term out (an ``OR 1 = 0`` beside the trigram
    match made SQLite scan every customer instead of reading the search index).
    """
    if isinstance(chain[0], list):
        return make_clause(chain[0])
    head, rest = chain[0], chain[1:]
    if not rest:
        return make_clause(head)
    rel = head.rel_model
    inner = condition_through(rest, make_clause)
    if inner is None:
        return None
    matches = rel.select(rel._meta.primary_key).where(inner)
    # A few matching related rows become a literal list: the planner can then OR the foreign key's
    # index with the other columns' indexes (PostgreSQL BitmapOr) instead of scanning the table.
    found = [pk for (pk,) in matches.limit(RELATED_IDS_MAX + 1).tuples()]
    if len(found) <= RELATED_IDS_MAX:
        return head.in_(found) if found else None
    return head.in_(matches)


def lookup_fields(model):
    """Return the text fields searched when a form picks a ``model`` record."""
    opts = model.admin_options() if hasattr(model, "admin_options") else {}
    names = opts.get("lookup") or [
        n for n in opts.get("search", ()) if "." not in n
    ]
    if not names:
        names = [f.name for f in model._meta.sorted_fields if isinstance(f, (CharField, TextField))][:1]
    return [model._meta.fields[n] for n in names]


def shown_columns(alias):
    """Return the columns of a related row that a list shows in an FK column: its id and the fields it is named
    by (``lookup``, which its ``__str__`` reads), not the whole row: a customer's thirty columns, a user's password
    hash. A record type that declares no ``lookup`` is read whole."""
    names = alias.model.admin_options().get("lookup")
    if not names:
        return [alias]
    return [getattr(alias, alias.model._meta.primary_key.name), *(getattr(alias, name) for name in names)]


class ListRows:
    """The rows of one list page, written by Python rather than cell by cell in Jinja.

    Flask-Admin's list template spends most of a page's time in its loops: per cell a call to decide
    whether the column is editable, one to get the value and the escaping around them; per row three macro
    calls for the details, edit and delete actions, each building URLs and form fields. Here the actions
    cell is rendered once, through the same macros, for a marker id, and each row gets a copy with its own
    id; each row's cells are joined in one call. The HTML means the same; a page with editable columns or
    ids that are not plain numbers keeps Flask-Admin's template.
    """

    MARK = "~row~"  # outside the base64 alphabet of the CSRF token; kept as is by URLs and HTML

    def __init__(self, view, list_columns, data):
        self._view = view
        self._columns = [(c, str(escape(c))) for c, _name in list_columns]
        self.lean = not view.column_editable_list and all(str(view.get_pk_value(row)).isdigit() for row in data)
        self._actions = None

    @property
    def has_actions_cell(self):
        return self._actions is not None

    def keep_actions_cell(self, html):
        """Remember the actions cell rendered for the marker id (returns nothing to print)."""
        self._actions = str(html)
        return ""

    def actions_cell(self, pk):
        return Markup(self._actions.replace(self.MARK, str(pk)))

    @pass_context
    def cells(self, context, row):
        """The ``<td>`` of every list column of ``row``, as Flask-Admin's template writes them."""
        value = self._view.get_list_value
        return Markup("".join(f'<td class="col-{css}">{escape(value(context, row, c))}</td>'
                              for c, css in self._columns))


class ModelAdmin(ModelView):
    """Base of every generated screen."""

    form_base_class = AdminForm
    model_form_converter = ModelConverter
    inline_model_form_converter = FixedInlineModelConverter
    can_view_details = True
    export_types = ["csv", "xlsx"]
    page_size = PAGE_SIZE
    can_set_page_size = True
    column_display_pk = False
    column_default_sort = ("id", True)
    # The saved-views menu (list_console.html) plus the exact-count link (console_list.html).
    list_template = "admin/model/console_list.html"
    column_type_formatters = {**vf.LIST_TYPE_FORMATTERS, bool: display.fmt_bool}
    column_type_formatters_export = vf.EXPORT_TYPE_FORMATTERS
    column_type_formatters_detail = {**vf.DETAIL_TYPE_FORMATTERS, bool: display.fmt_bool}
    details_modal = False
    details_template = "admin/model/details_history.html"
    edit_modal = False
    create_modal = False
    # Fields filled by the system, never typed into a form.
    form_excluded_columns = models.BaseModel.AUDIT_FIELDS

    # The declared ``search`` paths, resolved to field chains in init_search.
    search_paths = ()

    def __init__(self, model, *args, **kwargs):
        self._search_chains = []
        super().__init__(model, *args, **kwargs)

    # ---------------------------------------------------------------- access
    # What the screen offers at all (from Meta.admin); the user's rights narrow it per request.
    static_can_create = True
    static_can_edit = True
    static_can_delete = True
    static_can_export = True

    def allowed(self, action):
        """Return True when the current user holds ``action`` on this record type."""
        return (current_user.is_authenticated and current_user.is_active
                and access.can(current_user, self.model, action))

    @property
    def can_create(self):
        return self.static_can_create and (not has_request_context() or self.allowed("create"))

    @property
    def can_edit(self):
        return self.static_can_edit and (not has_request_context() or self.allowed("edit"))

    @property
    def can_delete(self):
        return self.static_can_delete and (not has_request_context() or self.allowed("delete"))

    @property
    def can_export(self):
        return self.static_can_export and (not has_request_context() or self.allowed("export"))

    def is_accessible(self):
        return self.allowed("view")

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        return abort(403)

    def _handle_view(self, name, **kwargs):
        refused = super()._handle_view(name, **kwargs)
        if refused is not None:
            return refused
        action = ENDPOINT_ACTIONS.get(name, "view")
        if name == "action_view":
            action = "delete" if request.form.get("action") == "delete" else "edit"
        flag = {"create": "can_create", "edit": "can_edit", "delete": "can_delete", "export": "can_export"}.get(action)
        if flag and not getattr(self, flag):
            return abort(403)
        if action == "delete" and workflow.always_ledger(self.model):
            flash(f"「{self.model.label()}」是台账记录,不能删除。", "error")
            return redirect(self.get_url(".index_view"))
        return None

    def get_query(self):
        """Return the rows the current user may see (every list, count, export and lookup starts here)."""
        return access.scope(self.model, self.model.select())

    # ---------------------------------------------------------------- search
    def init_search(self):
        self._search_chains = [field_of(self.model, p) for p in self.search_paths]
        return bool(self._search_chains)

    def search_placeholder(self):
        labels = []
        for chain in self._search_chains:
            labels.append("/".join(f.verbose_name or f.name for f in chain))
        return "搜索:" + "、".join(labels)

    def _search_groups(self):
        """Return the search chains with the own fields of each model searched as one group."""
        groups = []
        own = {}
        for chain in self._search_chains:
            *path, last = chain
            key = tuple(path)
            if key not in own:
                own[key] = []
                groups.append((path, own[key]))
            own[key].append(last)
        return [path + [fields] for path, fields in groups]

    def _apply_search(self, query, term):
        groups = self._search_groups()
        for word in term.split():
            stmt = None
            for chain in groups:
                clause = condition_through(
                    chain, lambda f, w=word: backend.search_condition(f if isinstance(f, list) else [f], w))
                if clause is not None:
                    stmt = clause if stmt is None else (stmt | clause)
            query = query.where(stmt if stmt is not None else SQL("1 = 0"))
        return query

    # ---------------------------------------------------------------- filters
    def scaffold_filters(self, name):
        field = getattr(self.model, name, None) if isinstance(name, str) else name
        if field is None:
            raise AttributeError(f"{self.model.__name__} has no field {name!r} to filter on")
        label = self.get_column_name(field.name)
        if isinstance(field, ForeignKeyField):
            rel = field.rel_model
            fields = lookup_fields(rel)

            def options():
                order = fields[0] if fields else rel._meta.primary_key
                rows = access.scope(rel, rel.select()).order_by(order).limit(300)
                return [(str(r.id), str(r)) for r in rows]

            return [
                vf.FilterRelatedContains(field, label, fields),
                vf.FilterForeignKeyEqual(field, label, options=options),
            ]
        if field.choices:
            choices = [(str(k), v) for k, v in field.choices]
            return [
                vf.FilterEqualOption(field, label, options=choices),
                vf.FilterNotEqualOption(field, label, options=choices),
            ]
        if isinstance(field, DateTimeField):
            return [vf.localise(f)(field, label) for f in self.filter_converter.datetime_filters]
        if isinstance(field, DateField):
            return [f(field, label) for f in self.filter_converter.date_filters]
        if isinstance(field, BooleanField):
            return [f(field, label) for f in self.filter_converter.bool_filters]
        if isinstance(field, IntegerField):
            return [f(field, label) for f in self.filter_converter.int_filters]
        if isinstance(field, (DecimalField, FloatField)):
            return [f(field, label) for f in self.filter_converter.float_filters]
        if isinstance(field, (CharField, TextField)):
            return [f(field, label) for f in self.filter_converter.strings]
        raise TypeError(f"{self.model.__name__}.{field.name}: no filter for {type(field).__name__}")

    # ---------------------------------------------------------------- list query
    def _list_fk_fields(self):
        result = []
        for column in self._list_columns:
            field = self.model._meta.fields.get(column[0])
            if isinstance(field, ForeignKeyField):
                result.append(field)
        return result

    def _with_related(self, query):
        """Fetch the related rows shown in FK columns with the page query (one query a page)."""
        aliases = {}
        selected = [self.model]
        for field in self._list_fk_fields():
            alias = field.rel_model.alias()
            query = query.join_from(self.model, alias, JOIN.LEFT_OUTER,
                                    on=(field == getattr(alias, field.rel_field.name)), attr=field.name)
            aliases[field.name] = alias
            selected.extend(shown_columns(alias))
        return query.select(*selected), aliases

    def _narrowed(self, query, search, filters):
        """Return ``query`` with the list's search and filters applied."""
        if self._search_supported and search:
            query = self._apply_search(query, search)
        for index, _name, value in (filters or ()) if self._filters else ():
            flt = self._filters[index]
            query = flt.apply(query, flt.clean(value))
        return query

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        pk = self.model._meta.primary_key
        filtered = self._narrowed(self.get_query(), search, filters)
        query, aliases = self._with_related(filtered)
        if sort_column is not None:
            order = [(sort_column, sort_desc)]
        else:
            order = self._get_default_order() or []
        names = [c if isinstance(c, str) else c.name for c, _ in order]
        clauses = []
        for name, (_column, desc) in zip(names, order):
            if name in aliases:
                target = lookup_fields(aliases[name].model)
                alias = aliases[name]
                sort_field = getattr(alias, (target[0] if target else aliases[name].model._meta.primary_key).name)
            else:
                sort_field = self.model._meta.fields.get(name, self.model._meta.primary_key)
            clauses.append(sort_field.desc() if desc else sort_field.asc())
        if not any(column in ("id", self.model.id) for column, _ in order):
            clauses.append(pk.desc())  # stable paging
        query = query.order_by(*clauses)

        # In id order without a search, a user who sees a department (and their own customers elsewhere) is
        # counted and paged over the parts of that condition, each read in id order from its own index.
        by_id = not search and all(name == pk.name for name in names)
        branches = access.id_order_branches(current_user, self.model) if by_id else None
        parts = [self._narrowed(self.model.select(pk).where(b), None, filters) for b in branches or ()]

        counting = None
        if not self.simple_list_pager:
            # Started first: on PostgreSQL it is counted meanwhile, while the page is read (backend.count_later).
            narrowed = bool(search or filters) or not access.sees_everything(current_user)
            counted = backend.union_all(parts) if parts else filtered
            counting = backend.count_rows_later(counted, self.model, filtered=narrowed,
                                                bound=access.count_bound(self.model, current_user),
                                                exact=has_request_context() and request.args.get("exact") == "1",
                                                estimate=lambda: self._estimate(search, filters))

        if page_size is None:
            page_size = self.page_size
        if page_size and (page or parts) and not any(name in aliases for name in names):
            # Skip the offset over the bare ids, then join the related rows for this page only.
            if parts:
                page_ids = backend.merged_in_order(parts, clauses, page_size, page * page_size)
            else:
                page_ids = filtered.select(pk).order_by(*clauses).limit(page_size).offset(page * page_size)
                hint = access.id_order_hint(current_user, self.model) if by_id else None
                if hint is not None:
                    page_ids = page_ids.where(hint)
            query, _ = self._with_related(self.model.select().where(pk.in_(page_ids)))
            query = query.order_by(*clauses)
        elif page_size:
            query = query.limit(page_size)
            if page:
                query = query.offset(page * page_size)
        if execute:
            query = list(query)
            if policies.FLAGS.get(self.model):
                marks = policies.flags_for(self.model, [row.id for row in query])
                for row in query:
                    row.policy_flags = marks.get(row.id, [])
        return (counting() if counting else None), query

    def _estimate(self, search, filters):
        """Estimate the rows of a list whose rows are checked against their customer: the estimate of the list
        without the secrecy condition, times the share of customers the user sees (``access.customer_share``).
        None when that does not apply (the backend's own estimate is used)."""
        share = access.customer_share(self.model, current_user)
        if share is None:
            return None
        unscoped = self._narrowed(self.model.select(self.model._meta.primary_key), search, filters)
        rows = backend.estimate_query_rows(unscoped) if (search or filters) else backend.estimate_rows(self.model)
        return None if rows is None else round(rows * share)

    def render(self, template, **kwargs):
        """Show only the columns a saved list view chose (``cols``), in the list's own order."""
        if "list_columns" in kwargs and has_request_context():
            kwargs["list_columns"] = worklists.chosen_columns(kwargs["list_columns"], request.args.get("cols"))
        if "list_columns" in kwargs and "data" in kwargs:
            kwargs["list_rows"] = ListRows(self, kwargs["list_columns"], kwargs["data"])
        return super().render(template, **kwargs)

    def get_one(self, id):
        """Return the record, or None for a malformed or unknown id (a message, never a 500)."""
        try:
            pk = int(str(id).strip())
        except (TypeError, ValueError):
            return None
        return self.get_query().where(self.model._meta.primary_key == pk).first()

    # ---------------------------------------------------------------- forms
    def _m2m_fields(self):
        return list(self.model._meta.manytomany.values())

    def scaffold_form(self):
        form_class = super().scaffold_form()
        form_class.version = vf.VersionField()
        for name, alias in self._renamed_fields().items():
            info = self.model_form_converter(self).convert(self.model, self.model._meta.fields[name], None)
            setattr(form_class, alias, info.field)
        for m2m in self._m2m_fields():
            field = vf.ManyToManyField(
                label=getattr(m2m, "verbose_name", None) or m2m.rel_model.label(),
                model=m2m.rel_model,
                get_label=str,
            )
            setattr(form_class, m2m.name, field)
        return form_class

    def _renamed_fields(self):
        """Model fields whose names clash with WTForms' own attributes (e.g. ``process``)."""
        return {name: name + "_field" for name in self.model._meta.fields if name in FORM_RESERVED_NAMES}

    def _copy_renamed_into(self, form, obj):
        for name, alias in self._renamed_fields().items():
            if alias in form:
                setattr(obj, name, form[alias].data)

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if obj is not None and request.method == "GET":
            for name, alias in self._renamed_fields().items():
                if alias in form:
                    form[alias].data = getattr(obj, name)
        return vf.mark_required(form)

    def create_form(self, obj=None):
        return vf.mark_required(super().create_form(obj))

    def _save_m2m(self, form, obj):
        for m2m in self._m2m_fields():
            if m2m.name in form:
                getattr(obj, m2m.name).add(form[m2m.name].data or [], clear_existing=True)

    def _report_conflict(self, form, exc):
        """Tell who saved the record in between, and show both values of each conflicting field."""
        when = vf.format_datetime(exc.when) if exc.when else ""
        flash(f"保存失败:该记录已于 {when} 被 {exc.who} 修改,您的修改未保存。"
              "请核对下列字段后刷新页面重新修改。", "error")
        current = exc.current
        if current is None:
            return
        renamed = self._renamed_fields()
        for name in current._meta.fields:
            field = form._fields.get(renamed.get(name, name))
            if field is None or name in models.BaseModel.AUDIT_FIELDS or field.type == "HiddenField":
                continue
            theirs = getattr(current, name + "_id" if name in current._meta.fields and
                             hasattr(current._meta.fields[name], "rel_model") else name)
            mine = field.data
            mine_id = getattr(mine, "id", mine)
            if _comparable(mine_id) != _comparable(theirs):
                shown = current.choice_label(name) if current._meta.fields[name].choices else \
                    (str(getattr(current, name)) if getattr(current, name) is not None else "(空)")
                field.errors = list(field.errors or ()) + [f"当前已保存的值:{shown};您填写的值:{mine if mine not in (None, '') else '(空)'}"]

    def _report_violation(self, form, exc, obj):
        """Show each refusal at its field (or at the top), count it, and keep the form."""
        policies.log_blocked(exc, obj)
        renamed = self._renamed_fields()
        for violation in exc.violations:
            name = renamed.get(violation.field, violation.field)
            if name and name in form:
                form[name].errors = list(form[name].errors or ()) + [violation.message]
            else:
                flash(violation.message, "error")

    def _flash_failure(self, ex, verb):
        if isinstance(ex, ValidationError):
            flash(str(ex), "error")
        elif isinstance(ex, IntegrityError):
            flash(f"{verb}失败:数据与已有记录冲突或缺少必填项({ex})。", "error")
        else:
            log.exception("%s failed", verb)
            flash(f"{verb}失败:{ex}", "error")

    def create_model(self, form):
        try:
            with models.db.atomic():
                model = self.model()
                form.populate_obj(model)
                self._copy_renamed_into(form, model)
                self._on_model_change(form, model, True)
                model.save(force_insert=True)
                self._save_m2m(form, model)
                self._save_inlines(form, model)
        except policies.PolicyViolation as exc:
            self._report_violation(form, exc, model)
            return False
        except Exception as ex:  # noqa: BLE001 - every failure becomes a message, the transaction rolled back
            self._flash_failure(ex, "保存")
            return False
        self.after_model_change(form, model, True)
        return model

    def update_model(self, form, model):
        try:
            with models.db.atomic():
                if form.version.data:
                    # Save against the version the person loaded, not the one just read.
                    model.version = int(form.version.data)
                form.populate_obj(model)
                self._copy_renamed_into(form, model)
                self._on_model_change(form, model, False)
                model.save()
                self._save_m2m(form, model)
                self._save_inlines(form, model)
        except models.StaleEdit as exc:
            self._report_conflict(form, exc)
            return False
        except policies.PolicyViolation as exc:
            self._report_violation(form, exc, model)
            # The transaction rolled back: forget the in-memory changes too.
            model.__data__.update(type(model).get_by_id(model._pk).__data__)
            return False
        except Exception as ex:  # noqa: BLE001
            self._flash_failure(ex, "保存")
            return False
        self.after_model_change(form, model, False)
        return True

    @staticmethod
    def _save_inlines(form, model):
        for field in form._fields.values():
            if field.type == "FixedInlineModelFormList":
                field.save_related(model)

    def dependants(self, obj):
        """Return [(label, count)] of records that point at ``obj`` and block its deletion."""
        result = []
        for fk, rel_model in obj._meta.backrefs.items():
            if (fk.on_delete or "").upper() in ("CASCADE", "SET NULL"):
                continue
            count = rel_model.select().where(fk == obj._pk).count()
            if count:
                label = rel_model.label() if hasattr(rel_model, "label") else rel_model.__name__
                result.append((label, count))
        return result

    def delete_model(self, model):
        if workflow.ledger_line(model):
            try:
                workflow.ledger_never_deleted(type(model), model)
            except policies.PolicyViolation as exc:
                policies.log_blocked(exc, model)
                flash(exc.message, "error")
                return False
        blocking = self.dependants(model)
        if blocking:
            listing = "、".join(f"{label} {n} 条" for label, n in blocking)
            flash(f"不能删除“{model}”:仍有{listing}引用它。", "error")
            return False
        try:
            with models.db.atomic():
                self.on_model_delete(model)
                model.delete_instance()
        except policies.PolicyViolation as exc:
            policies.log_blocked(exc, model)
            for violation in exc.violations:
                flash(violation.message, "error")
            return False
        except Exception as ex:  # noqa: BLE001
            self._flash_failure(ex, "删除")
            return False
        self.after_model_delete(model)
        return True

    @action("delete", "删除", "确定要删除所选记录吗?")
    def action_delete(self, ids):
        deleted = 0
        for pk in ids:
            obj = self.get_one(pk)
            if obj is not None and self.delete_model(obj):
                deleted += 1
        if deleted:
            flash(f"已删除 {deleted} 条记录。", "success")

    # ---------------------------------------------------------------- workflow (policies.workflow)
    edit_template = "admin/model/edit_workflow.html"
    # Facts typed in on creation that afterwards change only by a supervisor's correction.
    locked_after_create = ()

    def get_edit_form(self):
        form_class = super().get_edit_form()
        if not self.locked_after_create:
            return form_class
        return type(form_class.__name__, (form_class,), {name: None for name in self.locked_after_create})

    def _input(self, model, name, kind=None):
        """Describe one input of an action's form: name, Chinese label, widget and choices."""
        field = model._meta.fields.get(name)
        label = workflow.param_label(model, name)
        if kind:
            return {"name": name, "label": label, "kind": kind, "choices": ()}
        if field is None:
            return {"name": name, "label": label, "kind": "text", "choices": ()}
        if field.choices:
            return {"name": name, "label": label, "kind": "select", "choices": [(str(k), v) for k, v in field.choices]}
        if isinstance(field, BooleanField):
            return {"name": name, "label": label, "kind": "checkbox", "choices": ()}
        if isinstance(field, (IntegerField, DecimalField)):
            return {"name": name, "label": label, "kind": "number", "choices": ()}
        if isinstance(field, DateTimeField):
            return {"name": name, "label": label, "kind": "datetime-local", "choices": ()}
        if isinstance(field, DateField):
            return {"name": name, "label": label, "kind": "date", "choices": ()}
        return {"name": name, "label": label, "kind": "text", "choices": ()}

    def workflow_panel(self, obj, with_approvals=True):
        """Return what the workflow card shows for ``obj``: state, owned fields, lock notes, allowed actions."""
        wf = models.workflow_of(self.model)
        if wf is None or obj is None or not current_user.is_authenticated:
            return None
        owned = []
        for name in wf.owned(self.model):
            value = getattr(obj, name)
            if self.model._meta.fields[name].choices:
                shown = obj.choice_label(name) if value is not None else ""
            elif isinstance(value, datetime.datetime):
                shown = vf.format_datetime(value)
            elif isinstance(value, bool):
                shown = "是" if value else "否"
            else:
                shown = "" if value is None else str(value)
            owned.append((self.column_labels.get(name, name), shown))
        buttons = []
        user = current_user._get_current_object()
        # A refused action's messages, shown at its inputs (set by workflow_action_view, shown once).
        refused = session.get("workflow_errors") or {}
        if refused.get("model") == self.model.__name__ and refused.get("id") == str(obj._pk):
            session.pop("workflow_errors", None)
        else:
            refused = {}
        for name, act in workflow.allowed_actions(obj, user):
            if act.via == "approval" and not with_approvals:
                continue
            if act.via != "approval" and not act.roles and not self.allowed("edit"):
                continue
            inputs = [self._input(self.model, n) for n in act.sets + act.params if n not in ("field", "value", "comment")]
            if "comment" in act.params:
                inputs.append(self._input(self.model, "comment", "text"))
            if name == workflow.CORRECT:
                inputs = [{"name": "field", "label": "更正字段", "kind": "select",
                           "choices": [(n, self.column_labels.get(n, n)) for n in wf.correct]},
                          self._input(self.model, wf.correct[0], "datetime-local"
                                      if isinstance(self.model._meta.fields[wf.correct[0]], DateTimeField) else "date")]
                inputs[-1]["name"], inputs[-1]["label"] = "value", "更正为"
            if act.reason:
                inputs.append({"name": "reason", "label": "原因", "kind": "text", "choices": ()})
            if refused.get("action") == name:
                for item in inputs:
                    item["error"] = refused.get("fields", {}).get(item["name"], "")
            buttons.append({"name": name, "label": act.label, "style": act.style, "inputs": inputs,
                            "rule": policies.RULES.get(act.rule or wf.rule)})
        return {"state": workflow.state_label(obj), "owned": owned, "buttons": buttons,
                "locks": workflow.lock_notes(self.model)}

    def _action_value(self, name, raw):
        """Convert one submitted action input into the model field's Python value."""
        field = self.model._meta.fields.get(name)
        raw = (raw or "").strip()
        if field is None:
            return raw
        if isinstance(field, BooleanField):
            return raw.lower() in ("y", "on", "1", "true")
        if raw == "":
            return None if field.null else field.default if not callable(field.default) else None
        try:
            if isinstance(field, IntegerField) and not isinstance(field, ForeignKeyField):
                return int(raw)
            if isinstance(field, DecimalField):
                return decimal.Decimal(raw)
            if isinstance(field, DateTimeField):
                return vf.to_utc(datetime.datetime.fromisoformat(raw.replace(" ", "T")))
            if isinstance(field, DateField):
                return datetime.date.fromisoformat(raw)
        except (ValueError, decimal.InvalidOperation):
            raise ValueError(f"「{self.column_labels.get(name, name)}」格式不正确:{raw}") from None
        return raw

    @expose("/workflow/", methods=("POST",))
    def workflow_action_view(self):
        """Run one workflow action posted from the details or edit page (the engine decides)."""
        obj = self.get_one(request.form.get("id", ""))
        name = request.form.get("action", "")
        act = workflow.action_of(self.model, name)
        back = request.form.get("next") or ""
        if not back.startswith("/"):
            back = self.get_url(".details_view", id=obj.id) if obj is not None else self.get_url(".index_view")
        if obj is None or act is None:
            flash("记录不存在或操作无效。", "error")
            return redirect(back)
        if act.via != "approval" and not act.roles and not self.allowed("edit"):
            return abort(403)
        values = {}
        try:
            for input_name in act.sets + act.params:
                if input_name == "value":
                    continue
                if input_name == "comment" or input_name == "field":
                    values[input_name] = request.form.get(input_name, "").strip()
                else:
                    values[input_name] = self._action_value(input_name, request.form.get(input_name))
            if name == workflow.CORRECT:
                target = values.get("field", "")
                if target not in (models.workflow_of(self.model).correct or ()):
                    raise ValueError("请选择要更正的字段。")
                values["value"] = self._action_value(target, request.form.get("value"))
            if act.reason:
                values["reason"] = request.form.get("reason", "").strip()
        except ValueError as exc:
            flash(str(exc), "error")
            return redirect(back)
        try:
            workflow.run_action(obj, name, current_user._get_current_object(), **values)
        except policies.PolicyViolation as exc:
            policies.log_blocked(exc, obj)
            inputs = set(act.sets) | set(act.params) | ({"reason"} if act.reason else set())
            at_fields = {v.field: v.message for v in exc.violations if v.field in inputs}
            for violation in exc.violations:
                if violation.field not in at_fields:
                    flash(violation.message, "error")
            if at_fields:
                # Shown at the action's inputs on the page it returns to (workflow_panel).
                session["workflow_errors"] = {"model": self.model.__name__, "id": str(obj._pk), "action": name,
                                              "fields": at_fields}
                flash(f"未执行“{act.label}”:请按输入框旁的提示填写。", "error")
            return redirect(back)
        except models.StaleEdit as exc:
            flash(str(exc), "error")
            return redirect(back)
        flash(f"已完成“{act.label}”。", "success")
        return redirect(back)

    # ---------------------------------------------------------------- sensitive fields (CUS-3)
    sensitive_fields = ()

    def recent_login(self):
        """Return True when the user logged in within the reveal window."""
        stamp = session.get("login_at")
        if not stamp:
            return False
        minutes = current_app.config.get("REVEAL_RECENT_LOGIN_MINUTES", 15)
        return models.utcnow() - datetime.datetime.fromisoformat(stamp) < datetime.timedelta(minutes=minutes)

    def reauthenticate(self):
        """Return why plain personal data may not be shown now (Chinese), or None.

        A recent login is enough; otherwise the password typed with the request, throttled like the login.
        """
        if self.recent_login():
            return None
        right, wait = throttle.check(current_user, current_user.username, request.form.get("password", ""))
        if wait:
            return throttle.wait_message(wait)
        return None if right else "查看敏感信息需要重新输入登录密码。"

    @expose("/reveal/", methods=("POST",))
    def reveal_view(self):
        """Show one sensitive value unmasked, after a recent login or the password again; audited."""
        name = request.form.get("field", "")
        obj = self.get_one(request.form.get("id", ""))
        back = self.get_url(".details_view", id=obj.id) if obj is not None else self.get_url(".index_view")
        if obj is None or name not in self.sensitive_fields:
            flash("记录不存在或该字段不可查看。", "error")
            return redirect(back)
        refusal = self.reauthenticate()
        if refusal:
            flash(refusal, "error")
            return redirect(back)
        policies.audit.log("view_sensitive", self.model.__name__, obj.id, {name: ["", "已查看明文"]})
        label = self.column_labels.get(name, name)
        return self.render("admin/model/reveal.html", model=obj, label=label, value=getattr(obj, name) or "(空)",
                           back=back)

    def history(self, obj):
        """Return the audit rows of ``obj`` for its details page."""
        return list(policies.audit.history(obj))

    @expose("/export/<export_type>/")
    def export(self, export_type):
        """Export the filtered list, and write who exported what into the audit log."""
        response = super().export(export_type)
        if getattr(response, "status_code", 0) == 200:
            policies.audit.log("export", self.model.__name__, "",
                               {"格式": ["", export_type], "条件": ["", request.query_string.decode()[:500]]})
        return response

    def get_export_value(self, model, name):
        """Return the exported cell; text, including a related record's name, is made formula-safe."""
        value = super().get_export_value(model, name)
        raw = self._get_field_value(model, name)
        if isinstance(raw, models.BaseModel) or isinstance(value, str) and isinstance(raw, str):
            return vf.neutralise_formula(self, str(value))
        return value

    def get_export_name(self, export_type="csv"):
        from models import utcnow

        return f"{self.model.__name__.lower()}_{utcnow():%Y%m%d_%H%M%S}.{export_type}"


def build_view_class(model, base=None):
    """Return the ``<Model>Admin`` class generated from ``model``'s ``Meta.admin`` (over ``base``)."""
    opts = model.admin_options()
    meta_fields = model._meta.fields
    labels = {name: f.verbose_name or name for name, f in meta_fields.items()}
    for m2m in model._meta.manytomany.values():
        # A backref many-to-many (QCGroup.members seen from User) is named after the other side.
        labels[m2m.name] = getattr(m2m, "verbose_name", None) or m2m.rel_model.label()
    labels["id"] = "编号"

    list_columns = list(opts.get("list") or [n for n in meta_fields if n not in models.BaseModel.AUDIT_FIELDS
                                             and n != "id"])
    readonly = tuple(opts.get("readonly", ()))
    wf = models.workflow_of(model)
    locked_after_create = ()
    if wf is not None:
        # Workflow-owned fields are shown on the workflow card, never typed into the form.
        fixed = wf.fixed_at_creation(model)
        readonly += tuple(n for n in fixed if n not in readonly)
        locked_after_create = tuple(n for n in wf.owned(model) if n not in fixed and n not in readonly)
    details = [n for n in meta_fields if n not in opts.get("form_exclude", ())]
    details += [m.name for m in model._meta.manytomany.values()]

    ajax_refs = {}
    for name, field in meta_fields.items():
        if isinstance(field, ForeignKeyField) and name not in models.BaseModel.AUDIT_FIELDS:
            ajax_refs[name] = vf.LookupLoader(name, field.rel_model, fields=lookup_fields(field.rel_model),
                                              placeholder="输入名称搜索…", minimum_input_length=0)

    inline_models = []
    for child_name in opts.get("inline", ()):
        child = getattr(models, child_name)
        child_refs = {}
        for name, field in child._meta.fields.items():
            if isinstance(field, ForeignKeyField) and field.rel_model is not model \
                    and name not in models.BaseModel.AUDIT_FIELDS:
                child_refs[name] = vf.LookupLoader(f"{child.__name__.lower()}.{name}", field.rel_model,
                                                   fields=lookup_fields(field.rel_model),
                                                   placeholder="输入名称搜索…", minimum_input_length=0)
        inline_models.append(InlineFormAdmin(
            child,
            form_excluded_columns=list(models.BaseModel.AUDIT_FIELDS),
            form_ajax_refs=child_refs,
            form_label=child.label(),
        ))

    choices = {name: [(k, v) for k, v in f.choices] for name, f in meta_fields.items() if f.choices}
    formatters = {m2m.name: display.fmt_many for m2m in model._meta.manytomany.values()}
    formatters.update({n: display.fmt_choice for n, f in meta_fields.items() if f.choices})
    formatters.update({n: display.fmt_class_name for n in display.CLASS_NAME_FIELDS if n in meta_fields})
    formatters.update({n: display.fmt_reference for n in display.REFERENCE_FIELDS if n in meta_fields})
    if hasattr(model, "changes_dict") and "changes" in meta_fields:
        formatters["changes"] = display.fmt_audit_changes
    if "judged" in meta_fields and "target_model" in meta_fields:
        formatters["judged"] = display.fmt_judged
    export_formatters = {n: display.fmt_reference_export for n in display.REFERENCE_FIELDS if n in meta_fields}
    export_formatters.update({n: display.fmt_class_name for n in display.CLASS_NAME_FIELDS if n in meta_fields})
    sensitive = tuple(opts.get("sensitive", ()))
    for name in sensitive:
        formatters[name] = vf.format_masked
    if policies.FLAGS.get(model):
        list_columns.append("policy_flags")
        labels["policy_flags"] = "提醒"
        formatters["policy_flags"] = display.fmt_flags

    attrs = dict(
        column_list=list_columns,
        column_formatters=formatters,
        column_formatters_detail={**{k: v for k, v in formatters.items() if k != "policy_flags"},
                                  **{n: vf.format_masked for n in sensitive}},
        column_formatters_export={**export_formatters, **{n: vf.format_masked for n in sensitive}},
        form_overrides={n: vf.SensitiveField for n in sensitive},
        sensitive_fields=sensitive,
        column_labels=labels,
        column_choices=choices,
        column_filters=list(opts.get("filters", ())) + worklists.extra_filters(model),
        column_details_list=details,
        column_export_list=[c for c in list_columns if c != "policy_flags"],
        column_sortable_list=[c for c in list_columns if c in meta_fields],
        search_paths=tuple(opts.get("search", ())),
        column_searchable_list=list(opts.get("search", ())),
        form_excluded_columns=(list(models.BaseModel.AUDIT_FIELDS) + list(readonly) + list(opts.get("form_exclude", ()))
                               + [n for n in meta_fields if n in FORM_RESERVED_NAMES]),
        form_ajax_refs=ajax_refs,
        inline_models=inline_models or None,
        locked_after_create=locked_after_create,
        static_can_create=not opts.get("read_only_screen", False) and not (wf is not None and wf.create),
        static_can_edit=not opts.get("read_only_screen", False),
        static_can_delete=not opts.get("read_only_screen", False) and opts.get("can_delete", True),
    )
    return type(f"{model.__name__}Admin", (base or ModelAdmin,), attrs)
