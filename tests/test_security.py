"""Web security: headers, cookies, sessions ended on logout/deactivation/password change,
login throttling, password policy, forced change after reset, formula injection in exports."""
import csv
import hashlib
import io
import os
import re

import pytest

import models
from conftest import PASSWORD
from conftest import csrf_token
from conftest import login
from conftest import make_user
from conftest import submit as submit_form
from factories import StatementLog
from factories import make


def session_cookie(client):
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_security_headers_on_every_page(app, client):
    for url in ("/login", "/admin/"):
        headers = client.get(url).headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"


def test_static_urls_carry_their_files_hash_and_are_kept_a_year_private_pages_never(app, admin_client):
    page = admin_client.get("/admin/customer/").get_data(as_text=True)
    urls = [u.replace("&amp;", "&") for u in re.findall(r'(?:href|src)="(/(?:admin/)?static/[^"]+)"', page)]
    assert len(urls) >= 15, urls
    for url in urls:
        path, version = re.fullmatch(r"(/[^?]+)\?v=([0-9a-f]{12})", url).groups()
        folder = app.static_folder if path.startswith("/static/") else app.blueprints["admin"].static_folder
        with open(os.path.join(folder, path.split("/static/", 1)[1]), "rb") as fh:
            assert version == hashlib.sha256(fh.read()).hexdigest()[:12], url  # a changed file gets a new URL
        response = admin_client.get(url)
        assert response.status_code == 200
        assert response.cache_control.max_age == 365 * 24 * 3600 and response.cache_control.immutable, url
        assert not response.cache_control.no_cache and not response.cache_control.no_store
    # A static file is served without the database: no statement, not even the user's.
    with StatementLog() as log:
        assert admin_client.get(urls[0]).status_code == 200
    assert log.statements == []
    # Another (an old) version of a file, or none, is not promised to last: the browser asks again.
    for url in ("/static/console.css", "/static/console.css?v=000000000000"):
        response = admin_client.get(url)
        assert response.status_code == 200 and response.cache_control.max_age is None, url
    assert admin_client.get("/admin/customer/").headers["Cache-Control"] == "no-store"


def test_session_cookie_flags(app, client):
    make_user("cookie")
    response = client.post("/login", data={"username": "cookie", "password": PASSWORD,
                                           "csrf_token": csrf_token(client)})
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header


def test_login_starts_a_new_session(app, client):
    make_user("fresh")
    client.get("/login")
    before = session_cookie(client)
    login(client, "fresh")
    assert session_cookie(client) != before


@pytest.mark.parametrize("ending", ["logout", "deactivate", "password"])
def test_old_cookie_is_rejected_after_the_session_ends(app, client, ending):
    user = make_user("replay")
    login(client, "replay")
    stolen = session_cookie(client)
    assert client.get("/admin/").status_code == 200
    if ending == "logout":
        client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    elif ending == "deactivate":
        user = models.User.get_by_id(user.id)
        user.active = False
        user.save()
    else:
        user = models.User.get_by_id(user.id)
        user.set_password("A-brand-new-pass-42")
        user.save()
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    response = thief.get("/admin/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_five_failures_slow_the_address_instead_of_locking_the_account(app, client):
    make_user("guess")
    for _ in range(5):
        client.post("/login", data={"username": "guess", "password": "wrong-guess",
                                    "csrf_token": csrf_token(client)})
    user = models.User.get(models.User.username == "guess")
    assert user.locked_until is None and user.failed_logins == 5
    response = client.post("/login", data={"username": "guess", "password": PASSWORD,
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 200 and "秒后再试" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302
    slowed = models.AuditLog.select().where(models.AuditLog.action == "login",
                                            models.AuditLog.changes.contains("尝试过于频繁"))
    assert slowed.count() == 1


def test_four_failures_do_not_lock(app, client):
    make_user("almost")
    for _ in range(4):
        client.post("/login", data={"username": "almost", "password": "wrong-guess",
                                    "csrf_token": csrf_token(client)})
    login(client, "almost")


@pytest.mark.parametrize("password,ok", [("short7!", False), ("12345678", False), ("password", False),
                                         ("aaaaaaaaaaaa", False), ("长城-Great-Wall-2026", True),
                                         ("x" * 5 + "y" * 300 + "z", True)])
def test_password_policy(app, password, ok):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", f"p{len(password)}{ok}", "--role", "clerk", "--password", password])
    assert (result.exit_code == 0) == ok, result.output


def test_admin_reset_forces_a_change_at_next_login(app, admin_client):
    client = app.test_client()
    user = make_user("reset_me")
    page = admin_client.get(f"/admin/user/details/?id={user.id}").get_data(as_text=True)
    assert "password_hash" not in page and user.password_hash not in page
    token = csrf_token(admin_client, f"/admin/user/details/?id={user.id}")
    admin_client.post("/admin/user/reset-password/", data={"id": user.id, "password": "Temp-pass-2026",
                                                          "csrf_token": token})
    assert models.User.get_by_id(user.id).must_change_password
    login(client, "reset_me", "Temp-pass-2026")
    assert client.get("/admin/customer/").headers["Location"] == "/password"
    token = csrf_token(client, "/password")
    weak = client.post("/password", data={"current": "Temp-pass-2026", "new": "12345678", "confirm": "12345678",
                                          "csrf_token": token})
    assert "常见" in weak.get_data(as_text=True)
    done = client.post("/password", data={"current": "Temp-pass-2026", "new": "Mine-own-pass-77",
                                          "confirm": "Mine-own-pass-77", "csrf_token": token})
    assert done.status_code == 302
    assert client.get("/admin/customer/").status_code == 200
    assert not models.User.get_by_id(user.id).must_change_password


def test_export_neutralises_formula_cells(app, admin_client):
    make(models.Customer, name="=HYPERLINK(\"http://evil\")", industry="+cmd", address="@SUM(1)", phone="-1+2")
    body = admin_client.get("/admin/customer/export/csv/").get_data(as_text=True).lstrip("\ufeff")
    row = list(csv.reader(io.StringIO(body)))[1]
    assert row[1].startswith("'=")
    for cell in row:
        assert not cell or cell[0] not in "=+-@"


def test_posts_without_csrf_token_change_nothing(app, admin_client):
    partner = make(models.Partner, name="CSRF原名")
    admin_client.post(f"/admin/partner/edit/?id={partner.id}", data={"name": "被篡改", "region": "local",
                                                                     "grade": "A", "admission_status": "applied"})
    admin_client.post("/admin/partner/action/", data={"action": "delete", "rowid": [str(partner.id)]})
    admin_client.post("/admin/partner/new/", data={"name": "伪造"})
    assert models.Partner.get_by_id(partner.id).name == "CSRF原名"
    assert models.Partner.select().count() == 1


def test_admin_creates_a_user_with_an_initial_password(app, admin_client):
    from factories import form_data
    from factories import view_for

    data = form_data(view_for(app, models.User), models.User(username="newbie", display_name="新同事",
                                                            clearance="normal", active=True))
    weak = submit_form(admin_client, "/admin/user/new/", dict(data, initial_password="12345678"))
    assert weak.status_code == 200 and "常见" in weak.get_data(as_text=True)
    assert not models.User.select().where(models.User.username == "newbie").exists()
    done = submit_form(admin_client, "/admin/user/new/", dict(data, initial_password="First-pass-2026"))
    assert done.status_code == 302
    user = models.User.get(models.User.username == "newbie")
    assert user.check_password("First-pass-2026") and user.must_change_password
    assert "initial_password" not in admin_client.get(f"/admin/user/edit/?id={user.id}").get_data(as_text=True)
