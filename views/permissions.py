"""The permission matrix (权限矩阵): roles × record types × actions, edited by an admin."""
from flask import abort
from flask import flash
from flask import redirect
from flask import request
from flask_admin import expose
from flask_login import current_user

import models
from policies import audit
from views import access
from views.base import SecureView
from views.screens import screen_models


class PermissionMatrixView(SecureView):
    """Let an admin tick who may view/create/edit/delete/export each record type."""

    def is_accessible(self):
        return super().is_accessible() and access.can(current_user, "Permission", "edit")

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return super().inaccessible_callback(name, **kwargs)
        return abort(403)

    def _schema(self):
        return screen_models()

    @expose("/", methods=("GET", "POST"))
    def index(self):
        roles = list(models.Role.select().order_by(models.Role.id))
        schema = self._schema()
        current = {(p.role_id, p.model, p.action): p for p in models.Permission.select()}
        if request.method == "POST":
            if request.form.get("matrix") != "1":
                return abort(400)  # not the matrix form: never read an empty post as "revoke everything"
            wanted = set()
            for role in roles:
                for model in schema:
                    for action in access.ACTIONS:
                        if request.form.get(f"{role.id}:{model.__name__}:{action}"):
                            wanted.add((role.id, model.__name__, action))
            admin_role = next((r for r in roles if r.code == "admin"), None)
            if admin_role is not None:
                # Admins always keep the right to manage the matrix itself (no lock-out).
                wanted |= {(admin_role.id, "Permission", "view"), (admin_role.id, "Permission", "edit")}
            known = {m.__name__ for m in schema}
            added = removed = 0
            with models.db.atomic():
                for key, row in current.items():
                    if key[1] in known and key not in wanted:
                        row.delete_instance()
                        removed += 1
                for key in wanted - set(current):
                    models.Permission.create(role=key[0], model=key[1], action=key[2])
                    added += 1
                if added or removed:
                    audit.log("update", "Permission", "", {"权限矩阵": ["", f"新增 {added} 项,取消 {removed} 项"]})
            flash(f"权限已保存:新增 {added} 项,取消 {removed} 项。", "success")
            return redirect(self.get_url(".index"))
        granted = set(current)
        return self.render("admin/permissions.html", roles=roles, schema=schema, granted=granted,
                           actions=models.PERMISSION_ACTIONS)
