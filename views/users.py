"""The user screen: the generated one plus a password reset that forces a change at next login."""
from flask import flash
from flask import redirect
from flask import request
from flask_admin import expose
from wtforms import PasswordField
from wtforms.widgets import PasswordInput

import models
from views.auth import password_problem
from views import throttle
from views.base import ModelAdmin


class UserAdmin(ModelAdmin):
    """Users: admins create, deactivate and reset passwords, but never see one."""

    details_template = "admin/model/user_details.html"

    def scaffold_form(self):
        form_class = super().scaffold_form()
        form_class.initial_password = PasswordField(
            "初始密码", description="新建用户时必填;用户首次登录后须自行修改。编辑时请用详情页的“重设密码”。",
            widget=PasswordInput(hide_value=True))
        return form_class

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        del form.initial_password  # passwords of existing users change only through a reset
        return form

    def validate_form(self, form):
        valid = super().validate_form(form)
        if "initial_password" in form and request.method == "POST":
            raw = form.initial_password.data or ""
            problem = "请为新用户设置初始密码。" if not raw else password_problem(raw)
            if problem:
                form.initial_password.errors = list(form.initial_password.errors or ()) + [problem]
                return False
        return valid

    def on_model_change(self, form, model, is_created):
        if is_created and "initial_password" in form:
            model.set_password(form.initial_password.data)
            model.must_change_password = True
        return super().on_model_change(form, model, is_created)

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
            throttle.forget_account(user.username)
        flash(f"已重设 {user} 的密码;该用户下次登录时必须修改密码,原有登录已失效。", "success")
        return redirect(back)
