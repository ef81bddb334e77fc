"""The console's application factory, database binding and command line."""
import hashlib
import os
import secrets
import sys

import click
from flask import Flask
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_babel import Babel
from flask_login import LoginManager
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from flask_wtf.csrf import CSRFProtect
from cryptography.fernet import Fernet
from jinja2 import FileSystemBytecodeCache
from playhouse.db_url import connect
from werkzeug.security import safe_join

import backend
import models
import policies  # noqa: F401 - declares every rule and connects its receivers
from views import access
from views import backup as backup_views
from views import saved_views
from views import fields as view_fields
from views import throttle
from views.auth import LANGUAGES
from views.auth import password_problem
from views.auth import bp as auth_bp
from views.registry import build_admin

# The endpoints serving files of static/ and Flask-Admin's static folder: no database, no user.
STATIC_ENDPOINTS = ("static", "admin.static")
# A versioned static URL (``?v=<hash of the file>``) never changes content: browsers keep it a year.
STATIC_MAX_AGE = 365 * 24 * 3600

DEFAULTS = dict(
    DATABASE_URL=None,
    SECRET_KEY=None,
    TESTING=False,
    TIMEZONE="Asia/Shanghai",
    BABEL_DEFAULT_LOCALE="zh_Hans_CN",
    BABEL_DEFAULT_TIMEZONE="UTC",
    SQLITE_BUSY_TIMEOUT_MS=10000,
    # Password entries (views/throttle.py): after LOGIN_MAX_FAILURES failures from one address it waits
    # LOGIN_DELAY_SECONDS doubling per failure, at most LOGIN_LOCK_MINUTES; an account attacked from many
    # addresses waits after LOGIN_ACCOUNT_MAX_FAILURES, at most LOGIN_ACCOUNT_MAX_DELAY_SECONDS.
    LOGIN_MAX_FAILURES=5,
    LOGIN_LOCK_MINUTES=15,
    LOGIN_DELAY_SECONDS=2,
    LOGIN_ACCOUNT_MAX_FAILURES=10,
    LOGIN_ACCOUNT_MAX_DELAY_SECONDS=60,
    LOGIN_FAILURE_WINDOW_MINUTES=60,
    # Request size: 16 MiB in all (uploads), 1 MiB for one plain form field.
    MAX_CONTENT_LENGTH=16 * 1024 * 1024,
    MAX_FORM_MEMORY_SIZE=1024 * 1024,
    SESSION_COOKIE_HTTPONLY=True,
    SESSION_COOKIE_SAMESITE="Lax",
    # Set SESSION_COOKIE_SECURE=1 when the console is served over https.
    SESSION_COOKIE_SECURE=False,
    REVEAL_RECENT_LOGIN_MINUTES=15,
    WTF_CSRF_TIME_LIMIT=None,
    WTF_I18N_ENABLED=True,
    FLASK_ADMIN_FLUID_LAYOUT=True,
)

ERROR_PAGE = """<!DOCTYPE html><html lang="zh-CN"><head><meta charset="UTF-8"><title>{{ title }}</title>
<link href="{{ url_for('admin.static', filename='bootstrap/bootstrap4/css/bootstrap.min.css') }}" rel="stylesheet">
<link rel="icon" href="{{ url_for('static', filename='favicon.svg') }}" type="image/svg+xml">
</head><body class="bg-light"><div class="container mt-5"><div class="alert alert-{{ kind }}">
<h4>{{ title }}</h4><p>{{ message }}</p></div><a href="{{ url_for('admin.index') }}">返回工作台</a></div></body></html>"""


def _secret_key(instance_path, name="secret_key", make=lambda: secrets.token_hex(32)):
    """Read a key file of the instance, creating it (mode 0600) on first run."""
    path = os.path.join(instance_path, name)
    if not os.path.exists(path):
        # Several workers may start at once: write a private file, then link it into place (atomic, the
        # first one wins, nobody reads a half-written key or fails on the file another worker created).
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(make())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.remove(tmp)
    with open(path) as fh:
        return fh.read().strip()


def open_database(url, busy_timeout_ms=10000, pool=True):
    """Open the database named by ``url`` (SQLite gets WAL, foreign keys, FULL sync, busy timeout).

    Connections are pooled per process (``pool``): a request takes one at its start and gives it back
    at teardown, so a page does not pay for connecting (PostgreSQL 3–35 ms; on SQLite the pragmas and
    a cold page cache). A connection given back inside a transaction is rolled back; a PostgreSQL
    connection is checked with ``SELECT 1`` before it is handed out again, so one the server dropped
    (restart, idle timeout) is replaced instead of failing the request.
    """
    options = backend.pool_options(url) if pool else {}
    if pool:
        url = backend.pooled_url(url)
    if url.startswith("sqlite"):
        return connect(url, pragmas={
            "journal_mode": "wal",
            "foreign_keys": 1,
            "synchronous": 2,  # FULL: a committed approval survives a power cut
            "busy_timeout": busy_timeout_ms,
            "cache_size": -16000,
        }, timeout=busy_timeout_ms / 1000, **options)
    return connect(url, **backend.connect_options(url), **options)


def create_app(config: dict | None = None):
    """Create the console: bind the database, create tables, register every screen."""
    instance_path = (config or {}).get("INSTANCE_PATH") or os.environ.get("CONSOLE_INSTANCE_PATH")
    app = Flask(__name__, instance_path=os.path.abspath(instance_path) if instance_path else None,
                instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(DEFAULTS)
    for key in ("DATABASE_URL", "SECRET_KEY", "TIMEZONE", "FIELD_ENCRYPTION_KEY"):
        if os.environ.get(key):
            app.config[key] = os.environ[key]
    if os.environ.get("SESSION_COOKIE_SECURE") in ("1", "true", "yes"):
        app.config["SESSION_COOKIE_SECURE"] = True
    app.config.update(config or {})
    if app.config.get("ARGON2_PARAMS"):
        models.configure_password_hasher(**app.config["ARGON2_PARAMS"])
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _secret_key(app.instance_path)
    if not app.config.get("FIELD_ENCRYPTION_KEY"):
        app.config["FIELD_ENCRYPTION_KEY"] = _secret_key(app.instance_path, "field_key",
                                                         lambda: Fernet.generate_key().decode())
    models.configure_cipher(app.config["FIELD_ENCRYPTION_KEY"])
    policies.calendar.set_zone(app.config["TIMEZONE"])
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "console.db")

    database = open_database(app.config["DATABASE_URL"], app.config["SQLITE_BUSY_TIMEOUT_MS"])
    models.db.initialize(database)
    schema = app.config.get("SCHEMA") or models.MODELS
    with models.db.connection_context():
        models.create_tables(schema)
        policies.calendar.seed_holidays()
        policies.archives.link_penalty_files()
        access.seed_permissions(schema)

    @app.before_request
    def _connect():
        if request.endpoint in STATIC_ENDPOINTS:
            return
        models.db.connect(reuse_if_open=True)
        g.actor_token = models.current_actor.set(current_user.id if current_user.is_authenticated else None)
        g.ip_token = models.current_ip.set(request.remote_addr or "")

    @app.teardown_request
    def _close(exc):
        token = g.pop("actor_token", None)
        if token is not None:
            models.current_actor.reset(token)
        ip_token = g.pop("ip_token", None)
        if ip_token is not None:
            models.current_ip.reset(ip_token)
        if not models.db.is_closed():
            models.db.close()

    _init_extensions(app)
    _version_static_files(app)
    app.register_blueprint(auth_bp)
    build_admin(app, schema)
    saved_views.install(app)
    _register_errors(app)
    _register_cli(app)
    _register_password_cli(app)
    _register_daily_cli(app)
    backup_views.register_cli(app)

    @app.route("/")
    def root():
        return redirect(url_for("admin.index"))

    _prepare_templates(app)
    return app


def _prepare_templates(app):
    """Compile every template when a server process starts, not on its first request of each page.

    Compiling the customer list's templates took ~200 ms, paid by the first person to open each screen
    after every restart, on every worker. The compiled code is also kept in the instance folder
    (Jinja's bytecode cache, keyed by each template's source), so a restart loads instead of compiling.
    Tests (``TESTING``) compile on first use, as before.
    """
    cache = os.path.join(app.instance_path, "template-cache")
    os.makedirs(cache, exist_ok=True)
    app.jinja_env.bytecode_cache = FileSystemBytecodeCache(cache)
    if app.config["TESTING"]:
        return
    for name in app.jinja_env.list_templates(extensions=("html",)):
        app.jinja_env.get_template(name)


def _version_static_files(app):
    """Give every static URL the hash of its file (``?v=``) and let browsers keep such a URL for a year.

    A page of the console loads about twenty style sheets and scripts. Without a lifetime the browser asks
    for each again (or asks whether it changed) on every page, each one a request to the same few
    workers. With the file's hash in its URL, a changed file (an upgrade) gets a new URL, so the old one
    can be kept as long as the browser likes; a URL with another or no ``v`` is served as before.
    """
    hashes = {}

    def file_version(endpoint, filename):
        # Files do not change under a running server (an upgrade restarts it), except while developing.
        key = (endpoint, filename)
        if key in hashes and not app.debug:
            return hashes[key]
        folder = app.static_folder if endpoint == "static" else app.blueprints[endpoint.split(".")[0]].static_folder
        path = safe_join(folder, filename) if folder else None
        try:
            with open(path, "rb") as fh:
                hashes[key] = hashlib.sha256(fh.read()).hexdigest()[:12]
        except (OSError, TypeError):
            hashes[key] = None
        return hashes[key]

    @app.url_defaults
    def _static_version(endpoint, values):
        if endpoint in STATIC_ENDPOINTS and values.get("filename"):
            version = file_version(endpoint, values["filename"])
            if version:
                values["v"] = version

    @app.after_request
    def _cache_versioned(response):
        filename = (request.view_args or {}).get("filename", "")
        if (request.endpoint in STATIC_ENDPOINTS and response.status_code == 200 and request.args.get("v")
                and request.args["v"] == file_version(request.endpoint, filename)):
            response.cache_control.no_cache = None
            response.cache_control.public = True
            response.cache_control.max_age = STATIC_MAX_AGE
            response.cache_control.immutable = True
        return response


def _init_extensions(app):
    def select_locale():
        lang = session.get("lang")
        return lang if lang in LANGUAGES else app.config["BABEL_DEFAULT_LOCALE"]

    Babel(app, locale_selector=select_locale)

    @app.before_request
    def _limit_plain_forms():
        # Werkzeug applies MAX_FORM_MEMORY_SIZE to multipart text parts only; a plain form is one field or more.
        # Registered before CSRFProtect, whose check is the first to read the form.
        if request.mimetype != "multipart/form-data":
            request.max_content_length = app.config["MAX_FORM_MEMORY_SIZE"]

    CSRFProtect(app)
    login = LoginManager(app)
    login.login_view = "auth.login"
    login.login_message = "请先登录。"
    login.login_message_category = "info"

    @login.user_loader
    def load_user(cookie_id):
        # The cookie carries "id:session_token": logout, deactivation and a new password rotate the token.
        user_id, _, token = str(cookie_id).partition(":")
        if not user_id.isdigit() or not token:
            return None
        models.db.connect(reuse_if_open=True)
        user_id = int(user_id)
        sql, params = models.written_once(("user", user_id), lambda: models.User.select().where(
            models.User.id == user_id))
        user = next(iter(models.User.raw(sql, *params)), None)
        if user is None or not user.active or not secrets.compare_digest(user.session_token, token):
            return None
        return user

    app.jinja_env.filters["localtime"] = view_fields.format_datetime

    @app.before_request
    def _force_password_change():
        if (request.endpoint not in ("auth.change_password", "auth.logout") + STATIC_ENDPOINTS
                and current_user.is_authenticated and current_user.must_change_password):
            return redirect(url_for("auth.change_password"))
        return None

    @app.before_request
    def _csp_nonce():
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.after_request
    def _security_headers(response):
        nonce = g.get("csp_nonce", "")
        response.headers.setdefault("Content-Security-Policy", (
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            f"script-src 'self' 'nonce-{nonce}'; object-src 'none'; base-uri 'self'; "
            "form-action 'self'; frame-ancestors 'none'"))
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.endpoint not in STATIC_ENDPOINTS and current_user.is_authenticated:
            # Pages of a logged-in user (revealed values, personal data) stay out of every cache.
            response.headers["Cache-Control"] = "no-store"
        return response


def _register_errors(app):
    compiled = []  # the error page's template, compiled on first use (render_template_string compiles each time)

    def page(title, message, status, kind="danger"):
        if not compiled:
            compiled.append(app.jinja_env.from_string(ERROR_PAGE))
        return render_template(compiled[0], title=title, message=message, kind=kind), status

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return page("表单已过期", "表单校验失败(缺少或过期的安全令牌),请返回刷新页面后重试。", 400)

    @app.errorhandler(403)
    def forbidden(exc):
        return page("没有权限", "您没有访问此页面的权限。", 403)

    @app.errorhandler(404)
    def not_found(exc):
        return page("页面不存在", f"找不到页面 {request.path}。", 404, "warning")

    @app.errorhandler(413)
    def too_large(exc):
        whole = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        field = app.config["MAX_FORM_MEMORY_SIZE"] // (1024 * 1024)
        return page("提交的内容过大", f"请求超过允许的大小(整个请求最多 {whole} MB,单个文本字段最多 {field} MB),"
                    "未作任何修改。", 413)

    @app.errorhandler(500)
    def server_error(exc):
        return page("系统错误", "处理请求时出错,操作未完成。请稍后重试或联系管理员。", 500)


def ensure_admin(echo=print):
    """Create the ``admin`` user with a random password when no user exists yet; print it once."""
    if models.User.select().exists():
        return None
    password = secrets.token_urlsafe(12)
    with models.db.atomic():
        role, _ = models.Role.get_or_create(code="admin", defaults={"name": "系统管理员"})
        user = models.User(username="admin", display_name="系统管理员", clearance="top_secret")
        user.set_password(password)
        user.save()
        user.roles.add(role)
    echo(f"已创建管理员账号:用户名 admin  密码 {password}  (仅显示这一次,请登录后妥善保管)")
    return password


def _register_cli(app):
    @app.cli.command("init-db")
    def init_db():
        """Create the tables (idempotent) and the first admin."""
        with models.db.connection_context():
            models.create_tables()
            ensure_admin(click.echo)
        click.echo("数据库已就绪。")

    @app.cli.command("seed-demo")
    def seed_demo():
        """Fill the database with Chinese demo data and print the demo logins."""
        import demo

        with models.db.connection_context():
            ensure_admin(click.echo)
            created = demo.seed_demo()
        if not created:
            click.echo("数据库中已有客户数据,未重复生成演示数据。")
        for username, password in created.items():
            click.echo(f"演示账号:{username:<10} 密码 {password}")

    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--role", "roles", multiple=True, required=True, help="角色代码,可多次指定")
    @click.option("--password", prompt="密码", hide_input=True, confirmation_prompt=True)
    @click.option("--name", "display_name", default=None, help="姓名")
    def create_user(username, roles, password, display_name):
        """Create a user with the given roles."""
        problem = password_problem(password)
        if problem:
            raise click.ClickException(problem)
        with models.db.connection_context(), models.db.atomic():
            if models.User.select().where(models.User.username == username).exists():
                raise click.ClickException(f"用户名 {username} 已存在。")
            found = list(models.Role.select().where(models.Role.code.in_(roles)))
            missing = set(roles) - {r.code for r in found}
            for code in missing:
                found.append(models.Role.create(code=code, name=code))
            user = models.User(username=username, display_name=display_name or username)
            user.set_password(password)
            user.save()
            for role in found:
                user.roles.add(role)
        click.echo(f"已创建用户 {username}(角色:{'、'.join(sorted(roles))})。")


def _register_password_cli(app):
    @app.cli.command("set-password")
    @click.argument("username")
    @click.option("--password", prompt="新密码", hide_input=True, confirmation_prompt=True)
    def set_password(username, password):
        """Set a user's password (and unlock the account)."""
        problem = password_problem(password)
        if problem:
            raise click.ClickException(problem)
        with models.db.connection_context(), models.db.atomic():
            user = models.User.get_or_none(models.User.username == username)
            if user is None:
                raise click.ClickException(f"用户 {username} 不存在。")
            user.set_password(password)
            user.failed_logins = 0
            user.locked_until = None
            user.save()
            throttle.forget_account(username)
        click.echo(f"已重设用户 {username} 的密码。")


def _register_daily_cli(app):
    @app.cli.command("daily-checks")
    def daily_checks():
        """Run the once-a-day rule work (ARC-9: fine handovers still not made after the correction day)."""
        import tallies
        from policies import archives

        with models.db.connection_context():
            rows = archives.recount_uncorrected()
            # The charts' customer counts, recounted (merges the rows that writes added during the day).
            tallies.rebuild()
            # Fresh planner statistics: the lists' count estimates and index choices read them.
            backend.analyze()
        click.echo(f"档案移交逾期复计罚款:新增 {len(rows)} 条。")
        click.echo("已重新统计客户分布(工作台图表)。")
        click.echo("已更新数据库统计信息(ANALYZE)。")


def serve(host="127.0.0.1", port=5000):
    """Start the console the way ``make run`` does: first start seeds demo data and prints the logins.

    Then gunicorn serves it with ``WEB_CONCURRENCY`` worker processes (default 2), each opening
    its own database connections; sessions are signed cookies and lockouts live in the database,
    so the workers behave as one server.
    """
    app = create_app()
    with models.db.connection_context():
        password = ensure_admin()
        if password is not None:
            import demo

            for username, pw in demo.seed_demo().items():
                print(f"演示账号:{username:<10} 密码 {pw}")
    print(f"客户管理控制台:http://{host}:{port}/  用户名 admin,密码见首次启动时的输出;"
          f"忘记密码可运行 flask --app app set-password admin", flush=True)
    workers = os.environ.get("WEB_CONCURRENCY", "2")
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    os.execv(gunicorn, [gunicorn, "--workers", workers, "--bind", f"{host}:{port}",
                        "--access-logfile", "-", "--timeout", "120", "--graceful-timeout", "10",
                        "--chdir", os.path.dirname(os.path.abspath(__file__)), "app:create_app()"])


if __name__ == "__main__":
    serve(port=int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
