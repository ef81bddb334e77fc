"""Login: every page but the login page needs a logged-in, active user."""
import re

import pytest

import models
from conftest import PASSWORD
from conftest import csrf_token
from conftest import login
from conftest import make_user
from factories import make


def concrete_urls(app):
    """Yield (url, methods) for every URL rule under /admin, with sample values for its arguments."""
    samples = {"export_type": "csv", "filename": "x.css"}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or rule.endpoint.endswith("static"):
            continue
        url = rule.rule
        for arg in rule.arguments:
            url = url.replace(f"<{arg}>", samples.get(arg, "1")).replace(f"<string:{arg}>", samples.get(arg, "1"))
        yield url, rule.methods - {"HEAD", "OPTIONS"}


def test_every_admin_url_redirects_anonymous_users_to_login(app, client):
    customer = make(models.Customer, name="匿名不可见")
    token = csrf_token(client, "/login")
    urls = list(concrete_urls(app))
    assert len(urls) > 200
    for url, methods in urls:
        for method in methods:
            if method == "GET":
                response = client.get(url + ("?id=%d" % customer.id if "?" not in url else ""))
            else:
                response = client.open(url, method=method, data={"csrf_token": token, "id": customer.id,
                                                                 "rowid": customer.id, "action": "delete"})
            assert response.status_code == 302, (method, url, response.status_code)
            assert response.headers["Location"].startswith("/login"), (method, url)
    assert models.Customer.get_or_none(models.Customer.id == customer.id) is not None


def test_login_page_is_public_and_chinese(client):
    html = client.get("/login").get_data(as_text=True)
    assert "用户名" in html and "密码" in html and "登录" in html


def test_root_redirects_to_the_console(client):
    response = client.get("/")
    assert response.status_code == 302


def test_wrong_password_is_refused_with_a_chinese_message(app, client):
    make_user("wangwu")
    response = client.post("/login", data={"username": "wangwu", "password": "wrong-password",
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 200
    assert "用户名或密码不正确" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_inactive_user_cannot_log_in(app, client):
    make_user("retired", active=False)
    response = client.post("/login", data={"username": "retired", "password": PASSWORD,
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 302


def test_login_then_console_and_logout(app, client):
    make_user("zhaoliu", display_name="赵六")
    login(client, "zhaoliu")
    home = client.get("/admin/")
    assert home.status_code == 200 and "赵六" in home.get_data(as_text=True)
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 302


def test_password_is_stored_as_argon2_hash(app):
    user = make_user("hashme")
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/", "/\\evil.example",
                                    "javascript:alert(1)", "https:////evil.example"])
def test_login_never_redirects_off_site(app, client, target):
    make_user("safe")
    response = client.post("/login?next=" + target, data={"username": "safe", "password": PASSWORD,
                                                          "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_english_can_be_selected(app, admin_client):
    chinese = admin_client.get("/admin/customer/").get_data(as_text=True)
    assert "创建" in chinese
    admin_client.get("/lang/en")
    english = admin_client.get("/admin/customer/").get_data(as_text=True)
    assert re.search(r">\s*Create\s*<", english)
    admin_client.get("/lang/zh_Hans_CN")
    assert "创建" in admin_client.get("/admin/customer/").get_data(as_text=True)
