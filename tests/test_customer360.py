"""Customer 360: every section of one customer, linked to its filtered list; hidden records stay hidden."""
import datetime
import decimal
import re

import models
from conftest import login
from conftest import make_user
from factories import credit_ready_customer
from factories import fresh
from factories import make


def section_count(html, model_name):
    match = re.search(rf'id="c360-{model_name}".*?badge-secondary">(\d+)<', html, re.S)
    return int(match.group(1)) if match else None


def seeded():
    customer = credit_ready_customer(name="全景测试客户", confidentiality="normal")
    make(models.Contact, customer=customer, name="王经理", mobile="13800138000")
    make(models.Contact, customer=customer, name="李会计")
    make(models.Communication, customer=customer, at=datetime.datetime(2026, 11, 20, 2, 0), summary="电话回访")
    make(models.CreditLine, customer=customer, limit=decimal.Decimal("100000"),
         valid_from=datetime.date(2026, 1, 1), valid_to=datetime.date(2027, 12, 31))
    make(models.Shipment, customer=customer, invoice_no="FP-360-1", amount=decimal.Decimal("30000"),
         shipped_on=datetime.date(2026, 11, 1))
    make(models.Payment, customer=customer, amount=decimal.Decimal("10000"), received_on=datetime.date(2026, 11, 5))
    make(models.ArchiveFile, number="全景-普通-1", title="普通档案", customer=customer, confidentiality="normal")
    make(models.ArchiveFile, number="全景-绝密-1", title="绝密档案", customer=customer, confidentiality="top_secret")
    return customer


def test_every_section_with_counts_and_filtered_links(app, admin_client):
    customer = seeded()
    html = admin_client.get(f"/admin/customer360/?id={customer.id}").get_data(as_text=True)
    assert "全景测试客户" in html.split("c360-title", 1)[1][:80]
    assert section_count(html, "contact") == 2
    assert section_count(html, "communication") == 1
    assert section_count(html, "contract") == 1
    assert section_count(html, "shipment") == 1
    assert section_count(html, "payment") == 1
    assert section_count(html, "archivefile") == 3  # the factory's customer file plus the two above
    assert "王经理" in html and "电话回访" in html and "全景-绝密-1" in html
    # Credit position: 30,000 shipped, 10,000 paid -> 20,000 outstanding of 100,000.
    assert "20,000.00" in html and "80,000.00" in html
    # Each section links to its generated list filtered by this customer, and that list shows only its rows.
    link = re.search(r'id="c360-contact".*?href="([^"]+)">在列表中查看全部', html, re.S).group(1).replace("&amp;", "&")
    listed = admin_client.get(link).get_data(as_text=True)
    other = make(models.Customer, name="别家客户")
    make(models.Contact, customer=other, name="别家联系人")
    listed = admin_client.get(link).get_data(as_text=True)
    assert "王经理" in listed and "别家联系人" not in listed


def test_low_clearance_user_sees_no_secret_file_and_masked_ids(app, client):
    customer = fresh(seeded())
    customer.id_number = "110101199003074477"
    customer.consent_at = models.utcnow()
    customer.save()
    make_user("c360_sales", roles=("clerk",), clearance="normal")
    login(client, "c360_sales")
    html = client.get(f"/admin/customer360/?id={customer.id}").get_data(as_text=True)
    assert "全景-普通-1" in html and "全景-绝密-1" not in html
    assert section_count(html, "archivefile") == 2
    assert "110101199003074477" not in html and "1101**********4477" in html


def test_hidden_customer_is_not_found(app, client):
    secret = make(models.Customer, name="绝密客户", confidentiality="top_secret")
    make_user("c360_clerk", roles=("clerk",), clearance="normal")
    login(client, "c360_clerk")
    response = client.get(f"/admin/customer360/?id={secret.id}")
    assert response.status_code == 404
    assert "绝密客户" not in response.get_data(as_text=True)


def test_sections_follow_the_permission_matrix(app, client):
    customer = seeded()
    make_user("c360_arch", roles=("archivist",), clearance="top_secret")
    login(client, "c360_arch")
    html = client.get(f"/admin/customer360/?id={customer.id}").get_data(as_text=True)
    # The archivist holds no right on contracts or shipments: those sections are not shown.
    assert 'id="c360-archivefile"' in html
    assert 'id="c360-contract"' not in html and 'id="c360-shipment"' not in html and 'id="c360-credit"' not in html


def test_details_page_links_to_the_360(app, admin_client):
    customer = seeded()
    html = admin_client.get(f"/admin/customer/details/?id={customer.id}").get_data(as_text=True)
    assert f"/admin/customer360/?id={customer.id}" in html
