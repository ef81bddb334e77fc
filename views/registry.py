"""Turn the schema (``models.MODELS``) into Flask-Admin screens."""
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

import models
from views.base import IndexView
from views.base import build_view_class

# Menu order of the categories; a record type names its category in ``Meta.admin``.
CATEGORIES = ("客户", "档案", "投诉", "销售与授信", "服务与接待", "组织与系统")


def screen_models(schema=None):
    """Return the record types of ``schema`` that have a screen, in menu order."""
    schema = models.MODELS if schema is None else schema
    with_screen = [m for m in schema if hasattr(m, "admin_options") and m.admin_options().get("label")]
    order = {name: i for i, name in enumerate(CATEGORIES)}
    return sorted(with_screen, key=lambda m: order.get(m.admin_options().get("category"), len(order)))


def build_admin(app, schema=None):
    """Create the Admin with one generated view per record type of ``schema``."""
    admin = Admin(
        app,
        name="客户管理",
        theme=Bootstrap4Theme(base_template="admin/console_base.html", fluid=True),
        index_view=IndexView(name="工作台", url="/admin"),
    )
    for model in screen_models(schema):
        opts = model.admin_options()
        view_class = build_view_class(model)
        admin.add_view(view_class(model, name=opts["label"], category=opts.get("category"),
                                  endpoint=model.__name__.lower()))
    return admin
