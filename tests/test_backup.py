"""Backup and restore: consistent while the server writes, checked before restoring, admin-only download."""
import sqlite3
import threading
import time

import pytest

import models
from conftest import csrf_token
from conftest import login
from conftest import make_user
from views import backup as backups


def db_path():
    return models.db.obj.database


def test_backup_during_concurrent_writes_restores_intact(app, tmp_path):
    live = db_path()
    models.db.close()
    acknowledged = []
    stop = threading.Event()

    def writer():
        conn = sqlite3.connect(live, timeout=30)
        conn.execute("PRAGMA journal_mode=wal")
        n = 0
        while not stop.is_set():
            n += 1
            conn.execute("INSERT INTO holiday (day, kind, name, created_at, updated_at, version) "
                         "VALUES (?, 'holiday', ?, '2026-01-01', '2026-01-01', 1)",
                         (f"2100-01-01 +{n}", f"写入{n}"))
            conn.commit()
            acknowledged.append(f"写入{n}")
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(acknowledged) < 50:
            time.sleep(0.01)
        before = list(acknowledged)
        target = tmp_path / "snap.db"
        runner = app.test_cli_runner()
        result = runner.invoke(args=["backup", str(target)])
        assert result.exit_code == 0, result.output
        assert "完整性检查通过" in result.output
    finally:
        stop.set()
        thread.join()
    assert len(acknowledged) > len(before)  # writes went on around the backup
    conn = sqlite3.connect(target)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    names = {row[0] for row in conn.execute("SELECT name FROM holiday WHERE name LIKE '写入%'")}
    conn.close()
    assert set(before) <= names  # every write acknowledged before the backup began is in it

    # Restore into the live file: the rows written after the snapshot are gone, the snapshot is back.
    result = app.test_cli_runner().invoke(args=["restore", "--yes", str(target)])
    assert result.exit_code == 0, result.output
    models.db.connect(reuse_if_open=True)
    restored = {h.name for h in models.Holiday.select().where(models.Holiday.name.startswith("写入"))}
    assert restored == names
    assert models.db.execute_sql("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_backup_refuses_to_overwrite(app, tmp_path):
    target = tmp_path / "exists.db"
    target.write_text("x")
    result = app.test_cli_runner().invoke(args=["backup", str(target)])
    assert result.exit_code != 0 and "已存在" in result.output
    assert target.read_text() == "x"


@pytest.mark.parametrize("content, message", [
    (b"not a database at all" * 100, "不是有效的数据库"),
    (None, "缺少本系统的数据表"),
])
def test_restore_refuses_a_bad_file_and_keeps_the_data(app, tmp_path, content, message):
    make_user("keeper", roles=("clerk",))
    bad = tmp_path / "bad.db"
    if content is None:
        conn = sqlite3.connect(bad)
        conn.execute("CREATE TABLE other (x)")
        conn.commit()
        conn.close()
    else:
        bad.write_bytes(content)
    models.db.close()
    result = app.test_cli_runner().invoke(args=["restore", "--yes", str(bad)])
    assert result.exit_code != 0 and message in result.output
    models.db.connect(reuse_if_open=True)
    assert models.User.select().where(models.User.username == "keeper").exists()


def test_restore_refuses_a_missing_file(app, tmp_path):
    result = app.test_cli_runner().invoke(args=["restore", "--yes", str(tmp_path / "nope.db")])
    assert result.exit_code != 0 and "找不到备份文件" in result.output


def test_admin_downloads_a_backup_and_it_is_audited(app, client, tmp_path):
    make_user("boss", roles=("admin",))
    login(client, "boss")
    page = client.get("/admin/backup/")
    assert page.status_code == 200 and "下载备份" in page.get_data(as_text=True)
    response = client.post("/admin/backup/download/", data={"csrf_token": csrf_token(client, "/admin/backup/")})
    assert response.status_code == 200
    assert "console-backup-" in response.headers["Content-Disposition"]
    data = response.get_data()
    response.close()
    copy = tmp_path / "downloaded.db"
    copy.write_bytes(data)
    assert backups.check_sqlite_file(str(copy))
    conn = sqlite3.connect(copy)
    assert conn.execute("SELECT COUNT(*) FROM user WHERE username='boss'").fetchone()[0] == 1
    conn.close()
    assert models.AuditLog.select().where(models.AuditLog.action == "export",
                                          models.AuditLog.model == "Backup").count() == 1


@pytest.mark.parametrize("role", ["gm", "clerk", "archivist"])
def test_only_admins_download_backups(app, client, role):
    make_user(f"b_{role}", roles=(role,))
    login(client, f"b_{role}")
    assert client.get("/admin/backup/").status_code == 403
    response = client.post("/admin/backup/download/", data={"csrf_token": csrf_token(client, "/admin/")})
    assert response.status_code == 403
    assert not models.AuditLog.select().where(models.AuditLog.model == "Backup").exists()
