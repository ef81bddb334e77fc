"""Saved list views (列表方案): a list's filters, search, sort and visible columns under a name.

A view belongs to its owner and may be shared with one role; it is shown on the list of its record
type to its owner and to the holders of that role (who must still hold the list's view right, or
they never reach the list). One view per user and record type may be the default: opening the
list without any condition opens it. A shared view is changed or deleted by its owner or an admin.
"""
from urllib.parse import parse_qsl
from urllib.parse import urlencode

from flask import abort
from flask import flash
from flask import redirect
from flask import request
from flask import url_for
from flask_admin import expose
from flask_login import current_user
from peewee import JOIN
from peewee import fn

import models
from views import access
from views.base import SecureView

# List arguments a saved view keeps; the page number is not one of them.
KEPT_ARGS = ("search", "sort", "desc", "page_size", "cols")
MAX_NAME = 64


def kept(args):
    """Return the part of a list's query ``args`` (pairs) that a saved view keeps."""
    return [(k, v) for k, v in args if k.startswith("flt") or k in KEPT_ARGS]


def views_for(model_name, user):
    """Return the saved views of ``model_name`` that ``user`` sees: their own, then those shared with their roles.

    Read once per request (the list asks for its default view and then shows the menu of views); a request
    that saves or deletes a view redirects, and the next request reads again.
    """
    cache = access.request_cache("_saved_views")
    key = (model_name, user.id)
    if key not in cache:
        saved = models.SavedView

        def build():
            held = models.UserRole.select(models.UserRole.role).where(models.UserRole.user == user.id)
            return (_with_names(saved.select(saved))
                    .where(saved.model == model_name, (saved.owner == user.id) | saved.role.in_(held))
                    .order_by((saved.owner != user.id), fn.LOWER(saved.name)))

        sql, params = models.written_once(("saved-views", model_name, user.id), build)
        cache[key] = list(saved.raw(sql, *params))
    return cache[key]


def _with_names(query):
    """Return ``query`` of saved views also reading each view's role name and owner name (``role_name``,
    ``owner_name``: the user's display name, else the username, as ``User.__str__``), which the menus show,
    instead of one query per view."""
    saved, role, owner = models.SavedView, models.Role, models.User
    return (query.select_extend(role.name.alias("role_name"),
                                fn.COALESCE(fn.NULLIF(owner.display_name, ""), owner.username).alias("owner_name"))
            .join_from(saved, role, JOIN.LEFT_OUTER, on=(saved.role == role.id))
            .join_from(saved, owner, JOIN.LEFT_OUTER, on=(saved.owner == owner.id)))


def default_for(model_name, user):
    """Return the view that opens by default for ``user`` on ``model_name``: their own default first."""
    views = [v for v in views_for(model_name, user) if v.is_default]
    own = [v for v in views if v.owner_id == user.id]
    return (own or views or [None])[0]


def may_manage(view, user):
    return view.owner_id == user.id or "admin" in access.role_codes(user)


def list_url(view):
    """Return the URL of the list with ``view``'s conditions (and ``saved=<id>`` to mark it)."""
    args = parse_qsl(view.args, keep_blank_values=True) + [("saved", str(view.id))]
    return url_for(f"{view.model.lower()}.index_view") + "?" + urlencode(args)


def open_default(endpoint, user):
    """Return a redirect to the default view when ``endpoint`` is a list opened with no condition."""
    if not endpoint or not endpoint.endswith(".index_view") or request.args or request.method != "GET":
        return None
    model = getattr(models, _model_name(endpoint), None)
    if model is None or not access.can(user, model, "view"):
        return None
    view = default_for(model.__name__, user)
    return redirect(list_url(view)) if view is not None else None


def _model_name(endpoint):
    prefix = endpoint.split(".", 1)[0]
    for model in models.MODELS:
        if model.__name__.lower() == prefix:
            return model.__name__
    return ""


def install(app):
    """Open each list's default view and let the list template show the saved views."""

    @app.before_request
    def _default_list_view():
        # Only a list can have a default view; checked first, so that other requests never load the user.
        if (request.endpoint or "").endswith(".index_view") and current_user.is_authenticated:
            return open_default(request.endpoint, current_user)
        return None

    @app.context_processor
    def _saved_views():
        def saved_views(admin_view):
            model = getattr(admin_view, "model", None)
            if model is None or not current_user.is_authenticated:
                return []
            return [(v, list_url(v), may_manage(v, current_user)) for v in views_for(model.__name__, current_user)]

        def saved_view_args():
            return urlencode(kept(request.args.items(multi=True)))

        return dict(saved_views=saved_views, saved_view_args=saved_view_args,
                    saved_view_roles=lambda: models.Role.select(models.Role.id, models.Role.name)
                    .order_by(models.Role.id).namedtuples())


class SavedViewsView(SecureView):
    """Save, set as default and delete saved list views."""

    def is_visible(self):
        return False

    def _back(self, model_name):
        model = getattr(models, model_name or "", None)
        if model is None or model not in models.MODELS:
            return redirect(url_for("admin.index"))
        return redirect(url_for(f"{model.__name__.lower()}.index_view"))

    @expose("/", methods=("GET",))
    def index(self):
        saved = models.SavedView
        views = list(_with_names(saved.select(saved)).where(saved.owner == current_user.id)
                     .order_by(saved.model, saved.name).objects())
        labels = {m.__name__: m.label() for m in models.MODELS if hasattr(m, "label")}
        return self.render("admin/saved_views.html", views=views, labels=labels, list_url=list_url)

    @expose("/save/", methods=("POST",))
    def save(self):
        model_name = request.form.get("model", "")
        if not model_name:
            flash("请在列表页面保存方案。", "error")
            return redirect(url_for("admin.index"))
        model = getattr(models, model_name, None)
        if model is None or model not in models.MODELS or not access.can(current_user, model, "view"):
            return abort(403)
        name = (request.form.get("name") or "").strip()
        if not name:
            flash("请填写方案名称。", "error")
            return self._back(model_name)
        if len(name) > MAX_NAME:
            flash(f"方案名称不能超过 {MAX_NAME} 个字。", "error")
            return self._back(model_name)
        role_id = request.form.get("role") or None
        if role_id is not None:
            if not role_id.isdigit() or models.Role.get_or_none(models.Role.id == int(role_id)) is None:
                flash("共享的角色不存在。", "error")
                return self._back(model_name)
        pairs = [(k, v) for k, v in kept(parse_qsl(request.form.get("args", ""), keep_blank_values=True))
                 if k != "cols"]
        columns = [c for c in request.form.getlist("cols") if c]
        if columns:
            pairs.append(("cols", ",".join(columns)))
        args = urlencode(pairs)
        saved = models.SavedView
        with models.db.atomic():
            view = saved.get_or_none(saved.owner == current_user.id, saved.model == model_name, saved.name == name)
            if view is None:
                view = saved(owner=current_user.id, model=model_name, name=name)
            view.args = args
            view.role = int(role_id) if role_id else None
            view.is_default = bool(request.form.get("is_default"))
            if view.is_default:
                # One default per owner and record type.
                for other in saved.select().where(saved.owner == current_user.id, saved.model == model_name,
                                                  saved.is_default == True, saved.id != (view.id or 0)):  # noqa: E712
                    other.is_default = False
                    other.save()
            view.save()
        flash(f"已保存列表方案“{name}”。", "success")
        return redirect(list_url(view))

    @expose("/delete/", methods=("POST",))
    def delete(self):
        raw = request.form.get("id", "")
        view = models.SavedView.get_or_none(models.SavedView.id == int(raw)) if raw.isdigit() else None
        if view is None:
            flash("列表方案不存在。", "error")
            return redirect(url_for(".index"))
        if not may_manage(view, current_user):
            return abort(403)
        name, model_name = view.name, view.model
        view.delete_instance()
        flash(f"已删除列表方案“{name}”。", "success")
        return self._back(model_name)
