"""The workbench: per-role tiles with exact counts, each opening the filtered list; managers' charts."""
import datetime
import re

import models
from conftest import login
from conftest import make_user
from factories import make
from views import dashboard

TEN_DAYS_AGO = models.utcnow() - datetime.timedelta(days=10)


def tile_count(html, key):
    match = re.search(rf'id="tile-{re.escape(key)}" data-count="(\d*)"', html)
    return int(match.group(1)) if match and match.group(1) else None


def tile_url(html, key):
    block = html.split(f'id="tile-{key}"', 1)[1].split("workbench-tile", 1)[0]
    return re.search(r'stretched-link small" href="([^"]+)"', block).group(1).replace("&amp;", "&")


def seeded():
    east = models.Department.create(name="华东销售部")
    west = models.Department.create(name="华西销售部")
    s1 = make_user("dash_s1", roles=("sales",), department=east)
    s2 = make_user("dash_s2", roles=("sales",), department=east)
    make_user("dash_mgr", roles=("manager",), department=east)
    make_user("dash_gm", roles=("gm",), clearance="top_secret")
    customers = dict(
        a=make(models.Customer, name="甲战略客户", tier="strategic", owner=s1, department=east, created_at=TEN_DAYS_AGO),
        b=make(models.Customer, name="乙一般客户", tier="general", owner=s1, department=east, created_at=TEN_DAYS_AGO),
        c=make(models.Customer, name="丙关键客户", tier="key", owner=s2, department=east, created_at=TEN_DAYS_AGO),
        e=make(models.Customer, name="戊外区客户", tier="strategic", department=west, created_at=TEN_DAYS_AGO),
    )
    return customers


def home(client, username):
    login(client, username)
    return client.get("/admin/").get_data(as_text=True)


def test_contact_tile_counts_what_each_role_acts_on(app):
    seeded()
    expected = {"dash_s1": 1, "dash_s2": 1, "dash_mgr": 2, "dash_gm": 3}
    for username, count in expected.items():
        html = home(app.test_client(), username)
        assert tile_count(html, "CUS-1-Customer") == count, username


def test_a_tile_opens_the_list_of_exactly_its_rows(app):
    seeded()
    client = app.test_client()
    html = home(client, "dash_s1")
    listed = client.get(tile_url(html, "CUS-1-Customer")).get_data(as_text=True)
    assert "甲战略客户" in listed
    assert "乙一般客户" not in listed and "丙关键客户" not in listed and "戊外区客户" not in listed
    client = app.test_client()
    html = home(client, "dash_gm")
    listed = client.get(tile_url(html, "CUS-1-Customer")).get_data(as_text=True)
    assert {"甲战略客户", "丙关键客户", "戊外区客户"} <= set(re.findall(r"[甲乙丙戊]\w+客户", listed))
    assert "乙一般客户" not in listed


def test_a_contact_clears_the_tile(app):
    customers = seeded()
    make(models.Communication, customer=customers["a"], at=models.utcnow() - datetime.timedelta(hours=1),
         summary="电话沟通")
    assert tile_count(home(app.test_client(), "dash_s1"), "CUS-1-Customer") == 0


def test_managers_see_charts_and_sales_do_not(app):
    customers = seeded()
    make(models.Complaint, customer=customers["a"], received_at=models.utcnow() - datetime.timedelta(hours=2))
    gm_html = home(app.test_client(), "dash_gm")
    assert "每周投诉" in gm_html and "客户分级" in gm_html
    tiers = gm_html.split("客户分级", 1)[1].split("</div></div></div>", 1)[0]
    assert re.search(r"战略合作</span>.*?<span class=\"text-nowrap\">2</span>", tiers, re.S)
    sales_html = home(app.test_client(), "dash_s1")
    assert "每周投诉" not in sales_html


def test_monthly_complaint_report_is_due_until_the_tenth(app):
    seeded()
    gm = models.User.get(models.User.username == "dash_gm")
    sales = models.User.get(models.User.username == "dash_s1")
    with app.test_request_context():
        assert [t["title"] for t in dashboard.report_tiles(gm, today=datetime.date(2026, 12, 10))] == ["2026年11月投诉统计表"]
        assert dashboard.report_tiles(gm, today=datetime.date(2026, 12, 11)) == []
        assert dashboard.report_tiles(sales, today=datetime.date(2026, 12, 3)) == []


def test_counts_are_capped(app, monkeypatch):
    seeded()
    monkeypatch.setattr(dashboard, "COUNT_CAP", 2)
    html = home(app.test_client(), "dash_gm")
    assert tile_count(html, "CUS-1-Customer") == 2 and "2+" in html


def test_fines_this_month_for_the_person_and_for_the_archivist(app):
    seeded()
    s1 = models.User.get(models.User.username == "dash_s1")
    s2 = models.User.get(models.User.username == "dash_s2")
    make_user("dash_arch", roles=("archivist",))
    today = dashboard.local_today()
    last_month = today.replace(day=1) - datetime.timedelta(days=1)
    for user, amount, on in ((s1, 50, today), (s1, 20, today), (s2, 100, today), (s1, 999, last_month)):
        make(models.Penalty, user=user, rule="ARC-9", amount=amount, on=on)
    html = home(app.test_client(), "dash_s1")
    assert "本月罚款(我的):70 元" in html and tile_count(html, "fines") == 2
    html = home(app.test_client(), "dash_arch")
    assert "本月罚款:170 元" in html and tile_count(html, "fines") == 3
