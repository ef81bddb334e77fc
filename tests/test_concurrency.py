"""No lost updates: two people editing the same record, the first save wins, the second is told."""
import pytest

import models
from conftest import csrf_token
from conftest import login
from conftest import make_user
from factories import form_data
from factories import make
from factories import view_for


def test_plain_save_of_a_stale_copy_is_refused(app):
    customer = make(models.Customer, name="原名")
    first = models.Customer.get_by_id(customer.id)
    second = models.Customer.get_by_id(customer.id)
    first.name = "甲改"
    first.save()
    second.name = "乙改"
    with pytest.raises(models.StaleEdit):
        second.save()
    assert models.Customer.get_by_id(customer.id).name == "甲改"


def test_two_clerks_edit_the_same_customer(app):
    clerk_a, clerk_b = app.test_client(), app.test_client()
    make_user("clerk_a", roles=("clerk",), display_name="录入员甲")
    make_user("clerk_b", roles=("clerk",), display_name="录入员乙")
    login(clerk_a, "clerk_a")
    login(clerk_b, "clerk_b")
    customer = make(models.Customer, name="两人同时编辑", phone="0571-1111")
    view = view_for(app, models.Customer)
    url = f"/admin/customer/edit/?id={customer.id}"
    token_a, token_b = csrf_token(clerk_a, url), csrf_token(clerk_b, url)
    assert f'name="version" type="hidden" value="{customer.version}"' in clerk_a.get(url).get_data(as_text=True)

    data_a = form_data(view, customer)
    data_a.update(phone="0571-2222", version=str(customer.version), csrf_token=token_a)
    data_b = form_data(view, customer)
    data_b.update(phone="0571-3333", version=str(customer.version), csrf_token=token_b)

    assert clerk_a.post(url, data=data_a).status_code == 302
    audit_rows = models.AuditLog.select().count()
    response = clerk_b.post(url, data=data_b)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "录入员甲" in html and "您的修改未保存" in html
    assert "当前已保存的值:0571-2222" in html and "您填写的值:0571-3333" in html
    saved = models.Customer.get_by_id(customer.id)
    assert saved.phone == "0571-2222" and saved.version == customer.version + 1
    assert models.AuditLog.select().count() == audit_rows
