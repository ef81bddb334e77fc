"""Row-level access (ARC-3): forbidden rows are invisible by typed id on every endpoint."""
import json

import pytest

import models
import policies
from conftest import csrf_token
from conftest import login
from conftest import make_user
from factories import make


@pytest.fixture
def world(app):
    east = make(models.Department, name="华东销售部")
    west = make(models.Department, name="西南销售部")
    secret_customer = make(models.Customer, name="机密客户甲", confidentiality="secret", department=east)
    top_customer = make(models.Customer, name="绝密客户乙", confidentiality="top_secret", department=east)
    west_customer = make(models.Customer, name="西南普通客户", department=west)
    own_customer = make(models.Customer, name="本部门普通客户", department=east)
    secret_file = make(models.ArchiveFile, number="JM-001", title="机密档案", confidentiality="secret")
    contract = make(models.Contract, customer=secret_customer, number="HT-SECRET")
    policies.audit.log("update", "Customer", secret_customer.id, {"name": ["旧", "机密客户甲"]})
    return dict(east=east, west=west, secret_customer=secret_customer, top_customer=top_customer,
                west_customer=west_customer, own_customer=own_customer, secret_file=secret_file,
                contract=contract)


def forbidden_probes(endpoint, obj, token):
    """Every way to reach one record by its id."""
    return [
        ("GET", f"/admin/{endpoint}/details/?id={obj.id}", None),
        ("GET", f"/admin/{endpoint}/edit/?id={obj.id}", None),
        ("POST", f"/admin/{endpoint}/delete/", {"id": obj.id, "csrf_token": token}),
        ("POST", f"/admin/{endpoint}/action/", {"action": "delete", "rowid": obj.id, "csrf_token": token}),
    ]


def assert_invisible(client, endpoint, obj, marker):
    token = csrf_token(client, "/admin/")
    model = type(obj)
    for method, url, data in forbidden_probes(endpoint, obj, token):
        response = client.open(url, method=method, data=data, follow_redirects=True)
        assert response.status_code in (200, 403), (url, response.status_code)
        assert marker not in response.get_data(as_text=True), (method, url)
        assert model.get_or_none(model.id == obj.id) is not None, (method, url)
    listing = client.get(f"/admin/{endpoint}/").get_data(as_text=True)
    assert marker not in listing
    export = client.get(f"/admin/{endpoint}/export/csv/").get_data(as_text=True)
    assert marker not in export


def test_normal_clearance_cannot_reach_secret_customers_or_files(world, client):
    make_user("plain_clerk", roles=("clerk",), clearance="normal")
    login(client, "plain_clerk")
    assert_invisible(client, "customer", world["secret_customer"], "机密客户甲")
    assert_invisible(client, "customer", world["top_customer"], "绝密客户乙")
    assert_invisible(client, "archivefile", world["secret_file"], "机密档案")
    assert_invisible(client, "contract", world["contract"], "HT-SECRET")
    lookup = client.get("/admin/contract/ajax/lookup/?name=customer&query=客户").get_data(as_text=True)
    assert "机密客户甲" not in json.loads(lookup).__repr__() and "西南普通客户" in json.loads(lookup).__repr__()
    home = client.get("/admin/").get_data(as_text=True)
    assert "机密" not in home


def test_secret_clearance_sees_secret_but_not_top_secret(world, client):
    make_user("secret_clerk", roles=("clerk",), clearance="secret")
    login(client, "secret_clerk")
    assert "机密客户甲" in client.get("/admin/customer/").get_data(as_text=True)
    assert_invisible(client, "customer", world["top_customer"], "绝密客户乙")


def test_sales_see_only_their_department(world, client):
    make_user("east_sales", roles=("sales",), clearance="top_secret", department=world["east"])
    login(client, "east_sales")
    html = client.get("/admin/customer/").get_data(as_text=True)
    assert "本部门普通客户" in html
    assert_invisible(client, "customer", world["west_customer"], "西南普通客户")


def test_audit_log_hides_rows_about_forbidden_records(world, client):
    admin = make_user("plain_admin", roles=("admin",), clearance="normal")
    login(client, admin.username)
    rows = client.get("/admin/auditlog/?search=Customer").get_data(as_text=True)
    assert f">{world['secret_customer'].id}<" not in rows.replace(" ", "")
    entry = models.AuditLog.select().where(models.AuditLog.model == "Customer",
                                           models.AuditLog.record_id == str(world["secret_customer"].id)).first()
    response = client.get(f"/admin/auditlog/details/?id={entry.id}", follow_redirects=True)
    assert "记录不存在" in response.get_data(as_text=True)


def test_gm_sees_everything(world, client):
    make_user("all_seeing", roles=("gm",), clearance="top_secret")
    login(client, "all_seeing")
    html = client.get("/admin/customer/").get_data(as_text=True)
    for name in ("机密客户甲", "绝密客户乙", "西南普通客户", "本部门普通客户"):
        assert name in html
