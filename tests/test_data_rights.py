"""CUS-4: a customer's data exported on request, or anonymised keeping the business records."""
import io
import json

import openpyxl
import pytest

import models
import policies
from conftest import csrf_token
from conftest import login
from conftest import make_user
from factories import make


def customer_with_records():
    customer = make(models.Customer, name="张三商行", phone="13800001111", consent_at=models.utcnow(),
                    id_number="330106198807154323", address="杭州市西湖区文三路1号")
    make(models.Contact, customer=customer, name="张三", mobile="13900002222", email="z@example.cn")
    make(models.Contract, customer=customer, number="HT-RIGHTS", amount=5000)
    return customer


@pytest.mark.rule("CUS-4", "boundary")
def test_export_personal_data_json_and_xlsx(app, admin_client):
    customer = customer_with_records()
    url = f"/admin/customer/details/?id={customer.id}"
    token = csrf_token(admin_client, url)
    response = admin_client.post("/admin/customer/personal-data/json/", data={"id": customer.id, "csrf_token": token})
    data = json.loads(response.get_data(as_text=True))
    assert data["客户"][0]["客户名称"] == "张三商行"
    assert data["客户"][0]["身份证号"] == "330106198807154323"
    assert data["联系人"][0]["手机"] == "13900002222"
    assert data["合同"][0]["合同编号"] == "HT-RIGHTS"
    xlsx = admin_client.post("/admin/customer/personal-data/xlsx/", data={"id": customer.id, "csrf_token": token})
    book = openpyxl.load_workbook(io.BytesIO(xlsx.data))
    assert {"客户", "联系人", "合同"} <= set(book.sheetnames)
    assert models.AuditLog.select().where(models.AuditLog.action == "view_sensitive",
                                          models.AuditLog.record_id == str(customer.id)).count() == 2


@pytest.mark.rule("CUS-4", "boundary")
def test_anonymise_keeps_business_records(app, admin_client):
    customer = customer_with_records()
    token = csrf_token(admin_client, f"/admin/customer/details/?id={customer.id}")
    admin_client.post("/admin/customer/anonymise/", data={"id": customer.id, "csrf_token": token, "confirm": "1"})
    saved = models.Customer.get_by_id(customer.id)
    assert "张三" not in saved.name and saved.phone == "" and saved.id_number == "" and saved.address == ""
    contact = saved.contacts.get()
    assert contact.name == "(已匿名)" and contact.mobile == "" and contact.email == ""
    assert saved.contracts.count() == 1 and saved.contracts.get().number == "HT-RIGHTS"
    assert models.AuditLog.select().where(models.AuditLog.changes.contains("匿名化")).count() == 1


def test_anonymise_needs_confirmation(app, admin_client):
    customer = customer_with_records()
    token = csrf_token(admin_client, f"/admin/customer/details/?id={customer.id}")
    admin_client.post("/admin/customer/anonymise/", data={"id": customer.id, "csrf_token": token})
    assert models.Customer.get_by_id(customer.id).name == "张三商行"


def test_only_gm_or_admin_anonymise(app, client):
    customer = customer_with_records()
    make_user("rights_manager", roles=("manager",), clearance="top_secret")
    login(client, "rights_manager")
    token = csrf_token(client, "/admin/")
    response = client.post("/admin/customer/anonymise/", data={"id": customer.id, "csrf_token": token, "confirm": "1"})
    assert response.status_code == 403
    assert models.Customer.get_by_id(customer.id).name == "张三商行"


def test_anonymise_removes_personal_data_everywhere(app, admin_client):
    customer = customer_with_records()
    contact = customer.contacts.get()
    complaint = make(models.Complaint, customer=customer, complainant="张三", plate_no="浙A12345",
                     content="张三来电(13900002222)投诉张三商行的发票")
    make(models.ComplaintUpdate, complaint=complaint, note="已回电张三")
    talk = make(models.Communication, customer=customer, summary="与张三电话沟通,手机13900002222",
                follow_up="下周再联系张三")
    contact.mobile = "13900003333"
    contact.save()
    token = csrf_token(admin_client, f"/admin/customer/details/?id={customer.id}")
    admin_client.post("/admin/customer/anonymise/", data={"id": customer.id, "csrf_token": token, "confirm": "1"})
    complaint = models.Complaint.get_by_id(complaint.id)
    assert complaint.complainant == "(已匿名)" and complaint.plate_no == "" and "张三" not in complaint.content
    assert "13900002222" not in complaint.content and "发票" in complaint.content
    assert "张三" not in complaint.updates.get().note
    talk = models.Communication.get_by_id(talk.id)
    assert "张三" not in talk.summary + talk.follow_up and "13900002222" not in talk.summary
    trail = " ".join(row.changes for row in models.AuditLog.select())
    for value in ("张三", "13800001111", "13900002222", "13900003333", "z@example.cn", "浙A12345",
                  "杭州市西湖区文三路1号", "3301**********4321"):
        assert value not in trail, value
    assert "匿名化" in trail


def test_anonymise_a_customer_awaiting_confirmation(app, admin_client):
    customer = make(models.Customer, name="李四个体户", phone="13700001111", approved_by=None)
    assert policies.approvals.is_pending(customer)
    token = csrf_token(admin_client, f"/admin/customer/details/?id={customer.id}")
    response = admin_client.post("/admin/customer/anonymise/", data={"id": customer.id, "csrf_token": token,
                                                                    "confirm": "1"}, follow_redirects=True)
    assert response.status_code == 200 and "已匿名化" in response.get_data(as_text=True)
    saved = models.Customer.get_by_id(customer.id)
    assert "李四" not in saved.name and saved.phone == ""
    summaries = " ".join(a.summary for a in models.Approval.select())
    assert "李四" not in summaries and policies.approvals.is_pending(saved)
