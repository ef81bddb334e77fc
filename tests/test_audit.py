"""The audit trail: who did what, when, from where, with old and new values."""
import json

import pytest

import models
import policies
from conftest import csrf_token
from conftest import login
from conftest import make_user
from conftest import submit
from factories import form_data
from factories import make
from factories import view_for


def rows(action, model=None):
    query = models.AuditLog.select().where(models.AuditLog.action == action)
    if model:
        query = query.where(models.AuditLog.model == model)
    return list(query.order_by(models.AuditLog.id))


def test_create_update_delete_through_the_form_are_audited_with_diffs(app, admin_client):
    view = view_for(app, models.Partner)
    data = form_data(view, models.Partner(name="宁波联营", region="local", grade="B", admission_status="applied"))
    assert submit(admin_client, "/admin/partner/new/", data).status_code == 302
    partner = models.Partner.get(models.Partner.name == "宁波联营")
    created = rows("create", "Partner")[-1]
    assert created.record_id == str(partner.id) and created.user.username == "u_admin"
    assert created.changes_dict()["name"] == [None, "宁波联营"]
    assert created.ip == "127.0.0.1"

    data["grade"] = "A"
    assert submit(admin_client, f"/admin/partner/edit/?id={partner.id}", data).status_code == 302
    updated = rows("update", "Partner")[-1]
    assert updated.changes_dict() == {"grade": ["B", "A"]}

    token = csrf_token(admin_client, "/admin/partner/")
    admin_client.post("/admin/partner/delete/", data={"id": partner.id, "csrf_token": token})
    deleted = rows("delete", "Partner")[-1]
    assert deleted.changes_dict()["name"] == ["宁波联营", None]


def test_sensitive_values_are_masked_in_the_trail(app):
    customer = make(models.Customer, name="敏感客户", consent_at=models.utcnow(), id_number="110101199003071233")
    entry = rows("create", "Customer")[-1]
    assert entry.changes_dict()["id_number"][1] == "1101**********1233"
    assert "110101199003071233" not in entry.changes
    customer.id_number = "110101199003075672"
    customer.save()
    assert rows("update", "Customer")[-1].changes_dict()["id_number"] == ["1101**********1233", "1101**********5672"]


def test_login_success_failure_and_logout_are_audited(app, client):
    user = make_user("denglu")
    client.post("/login", data={"username": "denglu", "password": "wrong", "csrf_token": csrf_token(client)})
    failed = rows("login")[-1]
    assert failed.record_id == str(user.id) and "密码错误" in failed.changes
    client.post("/login", data={"username": "nobody", "password": "x", "csrf_token": csrf_token(client)})
    assert "用户名不存在" in rows("login")[-1].changes
    login(client, "denglu")
    assert "成功" in rows("login")[-1].changes
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    assert rows("logout")[-1].record_id == str(user.id)


def test_export_is_audited(app, admin_client):
    admin_client.get("/admin/customer/export/csv/?search=abc")
    entry = rows("export", "Customer")[-1]
    assert "csv" in entry.changes and "search=abc" in entry.changes


def test_details_page_shows_the_history(app, admin_client):
    partner = make(models.Partner, name="历史合作方", grade="C")
    partner.grade = "A"
    partner.save()
    html = admin_client.get(f"/admin/partner/details/?id={partner.id}").get_data(as_text=True)
    assert "操作记录" in html and "新增" in html and "修改" in html
    assert "C级 → A级" in html  # choice labels, not the stored codes


def test_refused_save_writes_no_audit_row(app):
    before = models.AuditLog.select().count()
    folder = make(models.ArchiveFile, number="AUD-1", title="审计")
    borrower = make(models.User, username="aud_b")
    after_setup = models.AuditLog.select().count()
    assert after_setup > before
    with pytest.raises(policies.PolicyViolation):
        make(models.BorrowRequest, file=folder, borrower=borrower, days=30)
    assert models.AuditLog.select().count() == after_setup


def test_audit_log_cannot_be_changed_through_the_console(app, admin_client):
    entry = policies.audit.log("create", "Partner", "1", {"name": [None, "x"]})
    assert admin_client.get(f"/admin/auditlog/edit/?id={entry.id}").status_code == 403
    token = csrf_token(admin_client, "/admin/auditlog/")
    assert admin_client.post("/admin/auditlog/delete/", data={"id": entry.id, "csrf_token": token}).status_code == 403
    assert admin_client.get("/admin/auditlog/new/").status_code == 403
    assert models.AuditLog.get_by_id(entry.id).changes == json.dumps({"name": [None, "x"]})
