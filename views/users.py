"""The user screen: the generated one plus a password reset that forces a change at next login."""
from flask import flash
from flask import redirect
from flask import request
from flask_admin import expose

import models
from views.auth import password_problem
from views.base import ModelAdmin


class UserAdmin(ModelAdmin):
    """Users: admins create, deactivate and reset passwords, but never see one."""

    details_template = "admin/model/user_details.html"

    @expose("/reset-password/", methods=("POST",))
    def reset_password_view(self):
        """Set a temporary password typed by the admin; the user must change it at next login."""
        if not self.can_edit:
            return self.inaccessible_callback("reset_password_view")
        user = self.get_one(request.form.get("id", ""))
        if user is None:
            flash("记录不存在。", "error")
            return redirect(self.get_url(".index_view"))
        back = self.get_url(".details_view", id=user.id)
        password = request.form.get("password", "")
        problem = password_problem(password)
        if problem:
            flash(f"未重设:{problem}", "error")
            return redirect(back)
        with models.db.atomic():
            user.set_password(password)
            user.must_change_password = True
            user.failed_logins = 0
            user.locked_until = None
            user.save()
        flash(f"已重设 {user} 的密码;该用户下次登录时必须修改密码,原有登录已失效。", "success")
        return redirect(back)
