"""Login, logout and language choice."""
import secrets

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import login_user
from flask_login import login_required
from flask_login import logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms import StringField
from wtforms.validators import DataRequired

import models
from policies import audit
from views import throttle

bp = Blueprint("auth", __name__)

LANGUAGES = ("zh_Hans_CN", "en")


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired(message="请输入用户名。")])
    password = PasswordField("密码", validators=[DataRequired(message="请输入密码。")])


# The most common passwords (global lists and Chinese favourites); refused outright.
COMMON_PASSWORDS = frozenset("""
123456 1234567 12345678 123456789 1234567890 111111 11111111 000000 00000000 666666 66666666 888888
88888888 123123 123321 654321 987654321 112233 121212 147258369 159753 520520 5201314 1314520 woaini
woaini1314 password password1 password123 passw0rd p@ssw0rd qwerty qwerty123 qwertyuiop abc123 abc12345
abcd1234 a123456 a12345678 aa123456 iloveyou admin admin123 admin888 root1234 letmein welcome 1qaz2wsx
1q2w3e4r zxcvbnm asdfghjkl 123qwe qwe123 123abc changeme sunshine princess dragon monkey football
baseball superman trustno1 master
""".split())


def password_problem(raw):
    """Return a Chinese reason why ``raw`` is not an acceptable password, or None."""
    if len(raw) < 8:
        return "密码至少需要 8 个字符。"
    if len(raw) > 1024:
        return "密码不能超过 1024 个字符。"
    if raw.lower() in COMMON_PASSWORDS or len(set(raw)) < 3:
        return "该密码过于常见或简单,请换一个。"
    return None


def safe_next(target, default):
    """Return ``target`` only when it is a path on this site; otherwise ``default``."""
    if not target:
        return default
    target = target.strip()
    if (not target.startswith("/") or target.startswith("//") or target.startswith("/\\")
            or "\\" in target or any(ord(c) < 32 for c in target)):
        return default
    return target


def _log_refused_login(user, name, right, wait):
    """Write the audit row of a refused login (and count a wrong password on a known user)."""
    if wait:
        outcome = f"尝试过于频繁,需等待 {wait} 秒"
    elif user is None:
        audit.log("login", "User", "", {"结果": ["", f"用户名不存在:{name[:64]}"]})
        return
    else:
        outcome = "密码错误" if not right else "账号停用或锁定"
        # Login bookkeeping is not an edit of the user record: no version bump, no update row.
        failed = (user.failed_logins or 0) + (0 if right else 1)
        models.User.update(failed_logins=failed).where(models.User.id == user.id).execute()
    audit.log("login", "User", user.id if user else "", {"结果": ["", outcome]}, user=user)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form and log the user in."""
    default = url_for("admin.index")
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next"), default))
    form = LoginForm()
    if form.validate_on_submit():
        name = form.username.data.strip()
        user = models.User.get_or_none(models.User.username == name)
        now = models.utcnow()
        wait = throttle.wait_seconds(name, trusted=throttle.trusted_device(user))
        right = not wait and throttle.verify(user, form.password.data)
        # One transaction (one commit) for the bookkeeping, known name or not: equal answers.
        with models.db.atomic():
            if not wait:
                throttle.record(name, right)
            refused = wait or not right or not user.active or (user.locked_until and user.locked_until > now)
            if refused:
                _log_refused_login(user, name, right, wait)
        if wait:
            flash(throttle.wait_message(wait), "error")
        elif refused:
            flash("用户名或密码不正确,或账号已停用。", "error")
        else:
            models.User.update(last_login=now, failed_logins=0, locked_until=None) \
                .where(models.User.id == user.id).execute()
            session.clear()
            login_user(user)
            session["login_at"] = now.isoformat()
            if user.must_change_password:
                flash("管理员已重设您的密码,请先设置新密码。", "info")
                return throttle.remember_device(redirect(url_for("auth.change_password")), user)
            audit.log("login", "User", user.id, {"结果": ["", "成功"]}, user=user)
            return throttle.remember_device(redirect(safe_next(request.args.get("next"), default)), user)
    return render_template("login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    """Log out and end the session (every login cookie of the user stops working)."""
    if current_user.is_authenticated:
        audit.log("logout", "User", current_user.id, user=current_user.id)
        # Rotating the token is session bookkeeping, not an edit of the user record.
        models.User.update(session_token=secrets.token_hex(16)).where(models.User.id == current_user.id).execute()
    logout_user()
    session.clear()
    flash("您已退出登录。", "info")
    return redirect(url_for("auth.login"))


class ChangePasswordForm(FlaskForm):
    current = PasswordField("当前密码", validators=[DataRequired(message="请输入当前密码。")])
    new = PasswordField("新密码", validators=[DataRequired(message="请输入新密码。")])
    confirm = PasswordField("确认新密码", validators=[DataRequired(message="请再次输入新密码。")])


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Let the logged-in user set a new password (forced after an admin reset)."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        problem = password_problem(form.new.data)
        right, wait = throttle.check(current_user, current_user.username, form.current.data)
        if wait:
            form.current.errors.append(throttle.wait_message(wait))
        elif not right:
            form.current.errors.append("当前密码不正确。")
        elif problem:
            form.new.errors.append(problem)
        elif form.new.data != form.confirm.data:
            form.confirm.errors.append("两次输入的新密码不一致。")
        else:
            user = models.User.get_by_id(current_user.id)
            with models.db.atomic():
                user.set_password(form.new.data)
                user.must_change_password = False
                user.save()
            session.clear()
            login_user(user)
            session["login_at"] = models.utcnow().isoformat()
            flash("密码已修改,其他设备上的登录已失效。", "success")
            return redirect(url_for("admin.index"))
    return render_template("password.html", form=form)


@bp.route("/lang/<code>")
def set_language(code):
    """Switch the interface language (Chinese by default)."""
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next"), url_for("admin.index")))
