"""The command line: init-db, create-user, set-password, seed-demo."""
import models
from conftest import login


def test_init_db_is_idempotent_and_creates_the_admin_once(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["init-db"])
    assert first.exit_code == 0, first.output
    assert "用户名 admin" in first.output
    second = runner.invoke(args=["init-db"])
    assert second.exit_code == 0 and "用户名 admin" not in second.output
    assert models.User.select().where(models.User.username == "admin").count() == 1


def test_create_user_with_role_and_password(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", "xiaoli", "--role", "clerk", "--password", "Lu-ru-2026!", "--name", "小李"])
    assert result.exit_code == 0, result.output
    user = models.User.get(models.User.username == "xiaoli")
    assert user.role_codes() == {"clerk"} and user.display_name == "小李"
    login(client, "xiaoli", "Lu-ru-2026!")
    assert client.get("/admin/").status_code == 200
    again = runner.invoke(args=["create-user", "xiaoli", "--role", "clerk", "--password", "Another-pass-9"])
    assert again.exit_code != 0 and "已存在" in again.output


def test_create_user_prompts_for_the_password(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", "prompted", "--role", "sales"], input="Pass-word-1\nPass-word-1\n")
    assert result.exit_code == 0, result.output
    assert models.User.get(models.User.username == "prompted").check_password("Pass-word-1")


def test_set_password_unlocks(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["create-user", "locked", "--role", "sales", "--password", "old-password-1"])
    models.User.update(locked_until=models.utcnow()).where(models.User.username == "locked").execute()
    result = runner.invoke(args=["set-password", "locked", "--password", "new-password-2"])
    assert result.exit_code == 0, result.output
    user = models.User.get(models.User.username == "locked")
    assert user.check_password("new-password-2") and user.locked_until is None


def test_seed_demo_fills_every_record_type_and_prints_logins(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    for username in ("gm", "manager", "archivist", "service", "sales", "clerk"):
        assert f"演示账号:{username}" in result.output
    # Engine tables fill up as people work (settings changed, rules fired, approvals asked, files imported,
    # list views saved, passwords mistyped, a manager's workbench opened).
    engine_tables = {models.RuleSetting, models.RuleEvent, models.Approval, models.ImportJob, models.SavedView,
                     models.LoginThrottle, models.WeeklyComplaintCount}
    for model in models.MODELS:
        if model not in engine_tables:
            assert model.select().count() > 0, model.__name__
    assert models.Customer.select().count() >= 50
    assert {c.status for c in models.Complaint.select()} == {k for k, _ in models.COMPLAINT_STATUS}
    overdue = models.Loan.select().where(models.Loan.returned_at.is_null(), models.Loan.due_at < models.utcnow())
    assert overdue.count() > 0
    kinds = {f.kind for f in models.ArchiveFile.select()}
    levels = {f.confidentiality for f in models.ArchiveFile.select()}
    assert kinds == {k for k, _ in models.FILE_KIND} and levels == {k for k, _ in models.CONFIDENTIALITY}
    assert {c.tier for c in models.Customer.select()} == {k for k, _ in models.CUSTOMER_TIER}
    again = runner.invoke(args=["seed-demo"])
    assert "未重复生成" in again.output
