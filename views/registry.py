"""Turn the schema (``models.MODELS``) into Flask-Admin screens."""
import os

from flask import g
from flask import request
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_babel import get_locale
from flask_login import current_user

import domains
import models
from views import access
from views.approvals import register_approvals_view
from views import display
from views.backup import BackupView
from views.base import build_view_class
from views.complaints import register_complaint_views
from views.customer360 import Customer360View
from views.dashboard import IndexView
from views.customers import CustomerAdmin
from views.importer import ImportView
from views.ledger import register_ledger_views
from views.saved_views import SavedViewsView
from views.permissions import PermissionMatrixView
from views.users import UserAdmin
from views.policy_views import register_policy_views
from views.screens import CATEGORIES
from views.screens import screen_models

TRANSLATIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "translations")

# Record types whose screen adds behaviour: their own <Model>Admin base class.
CUSTOM_BASES = {"User": UserAdmin, "Customer": CustomerAdmin}

# Record types whose screen stays reachable by address but has no menu entry of its own
# (RuleSetting is edited through 制度参数; its raw table would be a second, confusing entry).
HIDDEN_FROM_MENU = ("RuleSetting",)


class MenuCache:
    """The navigation bar's HTML per (rights, roles, language, open screen), kept by each process.

    Which entries a person sees depends only on the rights and roles of their roles (every screen's
    ``is_accessible``), and which one is marked open on the screen being shown. Writing the menu asked
    some fifty screens whether they were accessible and built their URLs on every page; now a page of a
    kind already shown to someone with the same rights copies it. A change of rights is a new key.
    """

    LIMIT = 512

    def __init__(self):
        self._menus = {}

    @staticmethod
    def _key(admin_view):
        if not current_user.is_authenticated:
            return None
        return (getattr(admin_view, "endpoint", None), access.rights(current_user),
                frozenset(access.role_codes(current_user)), str(get_locale()), request.script_root)

    def get(self, admin_view):
        key = self._key(admin_view)
        return self._menus.get(key) if key is not None else None

    def keep(self, admin_view, html):
        """Remember the menu rendered for this page (returns nothing to print)."""
        key = self._key(admin_view)
        if key is not None:
            if len(self._menus) >= self.LIMIT:
                self._menus.clear()
            self._menus[key] = str(html)
        return ""


class ScreenOptionError(Exception):
    """A screen option names a field its model does not have."""


def check_options(model):
    """Return the problems of ``model``'s screen options (unknown fields, bad paths)."""
    opts = model.admin_options()
    fields = model._meta.fields
    problems = []

    def known(path):
        current = model
        for part in path.split("."):
            field = current._meta.fields.get(part) or current._meta.manytomany.get(part)
            if field is None:
                return False
            current = getattr(field, "rel_model", current)
        return True

    own_only = ("filters", "readonly", "lookup", "sensitive", "form_exclude", "refers_to")
    for key in ("list", "search") + own_only:
        for name in opts.get(key, ()):
            if not known(name):
                problems.append(f"{model.__name__}: Meta.admin[{key!r}] names unknown field {name!r}")
            elif key in own_only and name not in fields:
                problems.append(f"{model.__name__}: Meta.admin[{key!r}] must name an own field, not {name!r}")
    for child_name in opts.get("inline", ()):
        child = getattr(models, child_name, None)
        if child is None or not any(getattr(f, "rel_model", None) is model for f in child._meta.fields.values()):
            problems.append(f"{model.__name__}: Meta.admin['inline'] names {child_name!r}, not a child model")
    spec = opts.get("auto_number")
    if spec and spec[0] not in fields:
        problems.append(f"{model.__name__}: Meta.admin['auto_number'] names unknown field {spec[0]!r}")
    problems.extend(domains.check_declarations([model]))
    if opts.get("category") not in CATEGORIES:
        problems.append(f"{model.__name__}: Meta.admin['category'] {opts.get('category')!r} is not a menu category")
    return problems


def check_schema(schema=None):
    """Raise ScreenOptionError listing every screen option that names a missing field."""
    problems = [p for m in screen_models(schema) for p in check_options(m)]
    if problems:
        raise ScreenOptionError("\n".join(problems))


def build_admin(app, schema=None):
    """Create the Admin with one generated view per record type of ``schema``."""
    check_schema(schema)
    app.jinja_env.filters["simplified"] = display.simplified
    app.jinja_env.globals.update(history_changes=display.history_changes, model_label=display.model_label)
    app.jinja_env.globals["menu_cache"] = MenuCache()
    admin = Admin(
        app,
        name="客户管理",
        theme=Bootstrap4Theme(base_template="admin/console_base.html", fluid=True),
        index_view=IndexView(name="工作台", url="/admin"),
        translations_path=TRANSLATIONS,
        csp_nonce_generator=lambda: g.get("csp_nonce", ""),
    )
    register_approvals_view(admin)
    for model in screen_models(schema):
        opts = model.admin_options()
        view_class = build_view_class(model, CUSTOM_BASES.get(model.__name__))
        if model.__name__ in HIDDEN_FROM_MENU:
            view_class.is_visible = lambda self: False
        admin.add_view(view_class(model, name=opts["label"], category=opts.get("category"),
                                  endpoint=model.__name__.lower()))
    register_ledger_views(admin)
    register_complaint_views(admin)
    register_policy_views(admin)
    admin.add_view(PermissionMatrixView(name="权限矩阵", category="组织与系统", endpoint="permissions",
                                        url="/admin/permission-matrix"))
    admin.add_view(Customer360View(name="客户全景", category="客户", endpoint="customer360", url="/admin/customer360"))
    admin.add_view(ImportView(name="数据导入", category="组织与系统", endpoint="data_import", url="/admin/import"))
    admin.add_view(SavedViewsView(name="列表方案", endpoint="saved_views", url="/admin/saved-views"))
    admin.add_view(BackupView(name="数据备份", category="组织与系统", endpoint="backup", url="/admin/backup"))
    return admin
