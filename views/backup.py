"""Backup and restore (数据备份): the CLI commands and the admin's download page.

SQLite is copied with ``VACUUM INTO``, a consistent snapshot taken inside one read
transaction, so the server may go on writing meanwhile (WAL). PostgreSQL goes through
``pg_dump``/``pg_restore`` in the custom format. A restore checks the file first
(``PRAGMA integrity_check`` and the console's own tables) and refuses a bad one.
"""
import datetime
import os
import shutil
import sqlite3
import subprocess
import tempfile

import click
from flask import abort
from flask import after_this_request
from flask import current_app
from flask import send_file
from flask_admin import expose
from flask_login import current_user
from peewee import SqliteDatabase

import models
from policies import audit
from views import access
from views.base import SecureView

# Tables that every console database has; a file without them is not a backup of this console.
REQUIRED_TABLES = ("user", "role", "customer", "audit_log")


class BackupError(Exception):
    """A backup or restore could not be made; the message is for a person (Chinese)."""


def is_sqlite(url):
    return url.startswith("sqlite")


def sqlite_path(url):
    """Return the file path of a ``sqlite:///`` URL."""
    return url.split(":///", 1)[1].split("?", 1)[0]


def check_sqlite_file(path):
    """Raise BackupError unless ``path`` is an intact SQLite file holding the console's tables."""
    if not os.path.isfile(path):
        raise BackupError(f"找不到备份文件 {path}。")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"备份文件不是有效的数据库:{exc}") from exc
    if result != "ok":
        raise BackupError(f"备份文件完整性检查未通过:{result}")
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise BackupError(f"备份文件缺少本系统的数据表:{'、'.join(missing)}")
    return True


def backup(url, path):
    """Write a consistent copy of the database at ``url`` to ``path``; return ``path``."""
    if os.path.exists(path):
        raise BackupError(f"目标文件已存在:{path}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if is_sqlite(url):
        conn = sqlite3.connect(sqlite_path(url), timeout=30)
        try:
            conn.execute("VACUUM INTO ?", (os.path.abspath(path),))
        finally:
            conn.close()
        check_sqlite_file(path)
    else:
        _run(["pg_dump", "--format=custom", "--no-owner", f"--file={path}", url], "pg_dump")
    return path


def restore(url, path):
    """Replace the database at ``url`` with the backup at ``path`` after checking it."""
    if is_sqlite(url):
        check_sqlite_file(path)
        target = sqlite_path(url)
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        dst = sqlite3.connect(target, timeout=30)
        try:
            # The backup API copies page by page under the target's lock: readers never see half a file.
            src.backup(dst)
            result = dst.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            src.close()
            dst.close()
        if result != "ok":
            raise BackupError(f"恢复后的数据库完整性检查未通过:{result}")
    else:
        if not os.path.isfile(path):
            raise BackupError(f"找不到备份文件 {path}。")
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", f"--dbname={url}", path], "pg_restore")


def _run(argv, tool):
    if shutil.which(argv[0]) is None:
        raise BackupError(f"找不到 {tool} 命令,请安装 PostgreSQL 客户端工具。")
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{tool} 失败:{done.stderr.strip()[:500]}")


def bound_url():
    """Return the URL of the database the console is bound to (the file itself for SQLite)."""
    database = models.db.obj
    if isinstance(database, SqliteDatabase):
        return "sqlite:///" + os.path.abspath(database.database)
    return current_app.config["DATABASE_URL"]


def backup_name(url, now=None):
    """Return the download name of a backup taken now (local time)."""
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    return f"console-backup-{stamp}." + ("db" if is_sqlite(url) else "dump")


def register_cli(app):
    """Add ``flask backup PATH`` and ``flask restore PATH``."""

    @app.cli.command("backup")
    @click.argument("path")
    def backup_command(path):
        """Write a consistent backup of the database to PATH (safe while the server runs)."""
        try:
            backup(bound_url(), path)
        except BackupError as exc:
            raise click.ClickException(str(exc))
        click.echo(f"已备份到 {path}({os.path.getsize(path):,} 字节),完整性检查通过。")

    @app.cli.command("restore")
    @click.argument("path")
    @click.option("--yes", is_flag=True, help="不再询问,直接覆盖当前数据库")
    def restore_command(path, yes):
        """Replace the database with the backup at PATH (stop the server first)."""
        if not yes:
            click.confirm("恢复将覆盖当前数据库中的全部数据,请先停止服务。确定继续吗?", abort=True)
        if not models.db.is_closed():
            models.db.close()
        try:
            restore(bound_url(), path)
        except BackupError as exc:
            raise click.ClickException(str(exc))
        click.echo(f"已从 {path} 恢复数据库,完整性检查通过。")


class BackupView(SecureView):
    """Let an admin download a fresh backup of the database."""

    def is_accessible(self):
        return super().is_accessible() and "admin" in access.role_codes(current_user)

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return super().inaccessible_callback(name, **kwargs)
        return abort(403)

    @expose("/", methods=("GET",))
    def index(self):
        url = bound_url()
        return self.render("admin/backup.html", sqlite=is_sqlite(url), name=backup_name(url))

    @expose("/download/", methods=("POST",))
    def download(self):
        url = bound_url()
        folder = tempfile.mkdtemp(prefix="console-backup-")
        path = os.path.join(folder, backup_name(url))
        try:
            backup(url, path)
        except BackupError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            return self.render("admin/backup.html", sqlite=is_sqlite(url), name=backup_name(url),
                               error=str(exc)), 500
        audit.log("export", "Backup", "", {"数据备份": ["", os.path.basename(path)]})

        @after_this_request
        def _cleanup(response):
            response.call_on_close(lambda: shutil.rmtree(folder, ignore_errors=True))
            return response

        return send_file(path, as_attachment=True, download_name=os.path.basename(path),
                         mimetype="application/octet-stream", max_age=0)
