"""Sensitive fields (CUS-3): encrypted at rest, masked everywhere, revealed only with an audit row."""
import datetime
import io
import sqlite3

import openpyxl
import pytest

import models
from conftest import PASSWORD
from conftest import csrf_token
from factories import form_data
from factories import make
from factories import view_for

ID_NUMBER = "330106198807154323"
BANK = "6222021202041234567"


def sensitive_customer():
    return make(models.Customer, name="敏感信息客户", consent_at=models.utcnow(), id_number=ID_NUMBER,
                bank_account=BANK)


@pytest.mark.sqlite_only
def test_plaintext_is_not_in_the_database_file(app, tmp_path):
    customer = sensitive_customer()
    models.db.execute_sql("PRAGMA wal_checkpoint(FULL)")
    raw = (tmp_path / "test.db").read_bytes()
    assert ID_NUMBER.encode() not in raw and BANK.encode() not in raw
    assert models.Customer.get_by_id(customer.id).id_number == ID_NUMBER
    stored = sqlite3.connect(tmp_path / "test.db").execute(
        "select id_number from customer where id = ?", (customer.id,)).fetchone()[0]
    assert stored and ID_NUMBER not in stored


def test_plaintext_is_not_in_the_stored_column(app):
    customer = sensitive_customer()
    stored = models.db.execute_sql("SELECT id_number, bank_account FROM customer WHERE id = %d"
                                   % customer.id).fetchone()
    assert stored[0] and ID_NUMBER not in stored[0] and BANK not in stored[1]


def test_masked_in_list_details_and_exports(app, admin_client):
    customer = sensitive_customer()
    for url in ("/admin/customer/", f"/admin/customer/details/?id={customer.id}",
                f"/admin/customer/edit/?id={customer.id}", "/admin/customer/export/csv/"):
        body = admin_client.get(url).get_data(as_text=True)
        assert ID_NUMBER not in body and BANK not in body, url
    assert "3301**********4323" in admin_client.get(f"/admin/customer/details/?id={customer.id}").get_data(as_text=True)
    xlsx = admin_client.get("/admin/customer/export/xlsx/").data
    cells = [c.value for row in openpyxl.load_workbook(io.BytesIO(xlsx)).active.iter_rows() for c in row]
    assert ID_NUMBER not in cells


def test_reveal_is_audited(app, admin_client):
    customer = sensitive_customer()
    token = csrf_token(admin_client, f"/admin/customer/details/?id={customer.id}")
    response = admin_client.post("/admin/customer/reveal/", data={"id": customer.id, "field": "id_number",
                                                                 "csrf_token": token})
    assert ID_NUMBER in response.get_data(as_text=True)
    entry = models.AuditLog.select().where(models.AuditLog.action == "view_sensitive").get()
    assert entry.record_id == str(customer.id) and "id_number" in entry.changes


def test_reveal_needs_a_recent_login_or_the_password(app, admin_client):
    customer = sensitive_customer()
    token = csrf_token(admin_client, f"/admin/customer/details/?id={customer.id}")
    with admin_client.session_transaction() as sess:
        sess["login_at"] = (models.utcnow() - datetime.timedelta(hours=2)).isoformat()
    refused = admin_client.post("/admin/customer/reveal/", data={"id": customer.id, "field": "id_number",
                                                                "csrf_token": token}, follow_redirects=True)
    assert ID_NUMBER not in refused.get_data(as_text=True) and "重新输入登录密码" in refused.get_data(as_text=True)
    assert models.AuditLog.select().where(models.AuditLog.action == "view_sensitive").count() == 0
    allowed = admin_client.post("/admin/customer/reveal/", data={"id": customer.id, "field": "id_number",
                                                                "password": PASSWORD, "csrf_token": token})
    assert ID_NUMBER in allowed.get_data(as_text=True)


def test_blank_sensitive_input_keeps_the_stored_value(app, admin_client):
    customer = sensitive_customer()
    view = view_for(app, models.Customer)
    data = form_data(view, customer)
    data.update(id_number="", bank_account="", name="改名后", version=str(customer.version),
                csrf_token=csrf_token(admin_client, f"/admin/customer/edit/?id={customer.id}"))
    assert admin_client.post(f"/admin/customer/edit/?id={customer.id}", data=data).status_code == 302
    saved = models.Customer.get_by_id(customer.id)
    assert saved.name == "改名后" and saved.id_number == ID_NUMBER and saved.bank_account == BANK
