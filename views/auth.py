"""Login, logout and language choice."""
import datetime

from flask import Blueprint
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import login_user
from flask_login import logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms import StringField
from wtforms.validators import DataRequired

import models
from policies import audit

bp = Blueprint("auth", __name__)

LANGUAGES = ("zh_Hans_CN", "en")


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired(message="请输入用户名。")])
    password = PasswordField("密码", validators=[DataRequired(message="请输入密码。")])


def safe_next(target, default):
    """Return ``target`` only when it is a path on this site; otherwise ``default``."""
    if not target:
        return default
    target = target.strip()
    if (not target.startswith("/") or target.startswith("//") or target.startswith("/\\")
            or "\\" in target or any(ord(c) < 32 for c in target)):
        return default
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form and log the user in."""
    default = url_for("admin.index")
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next"), default))
    form = LoginForm()
    if form.validate_on_submit():
        user = models.User.get_or_none(models.User.username == form.username.data.strip())
        now = models.utcnow()
        if user is not None and user.locked_until and user.locked_until > now:
            audit.log("login", "User", user.id, {"结果": ["", "账号锁定中,拒绝登录"]}, user=user)
            flash("该账号因多次登录失败已被临时锁定,请稍后再试。", "error")
        elif user is None or not user.check_password(form.password.data) or not user.active:
            if user is not None:
                user.failed_logins = (user.failed_logins or 0) + 1
                if user.failed_logins >= current_app.config["LOGIN_MAX_FAILURES"]:
                    user.locked_until = now + datetime.timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
                    user.failed_logins = 0
                # Login bookkeeping is not an edit of the user record: no version bump, no update row.
                models.User.update(failed_logins=user.failed_logins, locked_until=user.locked_until) \
                    .where(models.User.id == user.id).execute()
                outcome = "密码错误,账号已锁定" if user.locked_until and user.locked_until > now else "密码错误或账号停用"
                audit.log("login", "User", user.id, {"结果": ["", outcome]}, user=user)
            else:
                audit.log("login", "User", "", {"结果": ["", f"用户名不存在:{form.username.data.strip()[:64]}"]})
            flash("用户名或密码不正确,或账号已停用。", "error")
        else:
            models.User.update(last_login=now, failed_logins=0, locked_until=None) \
                .where(models.User.id == user.id).execute()
            session.clear()
            login_user(user)
            session["login_at"] = now.isoformat()
            audit.log("login", "User", user.id, {"结果": ["", "成功"]}, user=user)
            return redirect(safe_next(request.args.get("next"), default))
    return render_template("login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    """Log out and end the session."""
    if current_user.is_authenticated:
        audit.log("logout", "User", current_user.id, user=current_user.id)
    logout_user()
    session.clear()
    flash("您已退出登录。", "info")
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>")
def set_language(code):
    """Switch the interface language (Chinese by default)."""
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next"), url_for("admin.index")))
