"""Saved list views: save, reopen, choose columns, default, share with a role, manage, and who sees them."""
import re

import models
from conftest import csrf_token
from conftest import login
from conftest import make_user
from factories import StatementLog
from factories import make
from factories import view_for


def save_view(client, model, name, args, **extra):
    data = {"csrf_token": csrf_token(client, "/admin/"), "model": model, "name": name, "args": args}
    data.update(extra)
    return client.post("/admin/saved-views/save/", data=data)


def names_listed(html):
    return set(re.findall(r"视图客户\w", html))


def seeded():
    make(models.Customer, name="视图客户甲", tier="strategic")
    make(models.Customer, name="视图客户乙", tier="general")
    make(models.Customer, name="视图客户丙", tier="strategic")


def tier_filter(app):
    view = view_for(app, models.Customer)
    for i, flt in enumerate(view._filters):
        if getattr(flt.column, "name", None) == "tier" and type(flt).__name__ == "FilterEqualOption":
            return f"flt0_{i}"
    raise AssertionError("no tier filter")


def test_save_and_reopen_with_filters_search_sort_and_columns(app, admin_client):
    seeded()
    arg = tier_filter(app)
    response = save_view(admin_client, "Customer", "战略客户", f"{arg}=strategic&sort=1&page=3",
                         cols=["name", "tier"])
    assert response.status_code == 302
    view = models.SavedView.get(models.SavedView.name == "战略客户")
    assert "page=" not in view.args and "cols=name%2Ctier" in view.args
    html = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert names_listed(html) == {"视图客户甲", "视图客户丙"}
    header = html.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert "客户名称" in header and "客户层级" in header and "生命周期阶段" not in header
    menu = admin_client.get("/admin/customer/").get_data(as_text=True)
    assert "战略客户" in menu.split('id="saved-views-menu"', 1)[1]


def test_default_view_opens_with_the_list_and_all_records_stay_reachable(app, admin_client):
    seeded()
    arg = tier_filter(app)
    save_view(admin_client, "Customer", "默认战略", f"{arg}=strategic", is_default="1")
    response = admin_client.get("/admin/customer/")
    assert response.status_code == 302 and "saved=" in response.headers["Location"]
    everything = admin_client.get("/admin/customer/?all=1").get_data(as_text=True)
    assert names_listed(everything) == {"视图客户甲", "视图客户乙", "视图客户丙"}
    save_view(admin_client, "Customer", "另一个默认", "search=乙", is_default="1")
    defaults = models.SavedView.select().where(models.SavedView.is_default == True)  # noqa: E712
    assert [v.name for v in defaults] == ["另一个默认"]


def test_shared_view_reaches_the_role_and_only_the_owner_or_admin_manages_it(app, client):
    seeded()
    owner = make_user("sv_owner", roles=("sales",))
    make_user("sv_peer", roles=("sales",))
    make_user("sv_clerk", roles=("clerk",))
    make_user("sv_arch", roles=("archivist",))
    login(client, "sv_owner")
    sales_role = models.Role.get(models.Role.code == "sales")
    save_view(client, "Customer", "销售共享", "search=视图客户", role=str(sales_role.id))
    save_view(client, "Customer", "私人方案", "search=甲")
    view = models.SavedView.get(models.SavedView.name == "销售共享")
    assert view.owner_id == owner.id

    peer = app.test_client()
    login(peer, "sv_peer")
    menu = peer.get("/admin/customer/?all=1").get_data(as_text=True).split('id="saved-views-menu"', 1)[1]
    assert "销售共享" in menu and "私人方案" not in menu
    token = csrf_token(peer, "/admin/")
    assert peer.post("/admin/saved-views/delete/", data={"csrf_token": token, "id": view.id}).status_code == 403
    assert models.SavedView.get_or_none(models.SavedView.id == view.id) is not None

    clerk = app.test_client()
    login(clerk, "sv_clerk")
    menu = clerk.get("/admin/customer/?all=1").get_data(as_text=True).split('id="saved-views-menu"', 1)[1]
    assert "销售共享" not in menu

    # An archivist may not open the list at all, so a view shared with archivists does not open it either.
    archivist_role = models.Role.get(models.Role.code == "archivist")
    save_view(client, "Contract", "给档案员", "", role=str(archivist_role.id))
    archivist = app.test_client()
    login(archivist, "sv_arch")
    shared = models.SavedView.get(models.SavedView.name == "给档案员")
    assert archivist.get(f"/admin/contract/?saved={shared.id}").status_code == 403

    admin = app.test_client()
    make_user("sv_admin", roles=("admin",))
    login(admin, "sv_admin")
    token = csrf_token(admin, "/admin/")
    assert admin.post("/admin/saved-views/delete/", data={"csrf_token": token, "id": view.id}).status_code == 302
    assert models.SavedView.get_or_none(models.SavedView.id == view.id) is None


def test_bad_input_gets_a_chinese_message(app, admin_client):
    response = save_view(admin_client, "Customer", "", "", )
    assert response.status_code == 302
    page = admin_client.get(response.headers["Location"], follow_redirects=True).get_data(as_text=True)
    assert "请填写方案名称" in page
    assert save_view(admin_client, "Nope", "x", "").status_code == 403
    assert models.SavedView.select().count() == 0


def test_the_menu_names_shared_views_without_a_query_per_view(app, client):
    owner = make_user("sv_sharer", roles=("sales",), display_name="共享人")
    make_user("sv_reader", roles=("sales",))
    sales_role = models.Role.get(models.Role.code == "sales")
    login(client, "sv_sharer")
    reader = app.test_client()
    login(reader, "sv_reader")
    counts = []
    for n in range(1, 4):
        save_view(client, "Customer", f"共享方案{n}", "search=视图客户", role=str(sales_role.id))
        with StatementLog() as log:
            menu = reader.get("/admin/customer/?all=1").get_data(as_text=True).split('id="saved-views-menu"', 1)[1]
        assert menu.count("共享:销售") == n and menu.count("(共享人)") == n
        counts.append(len(log.statements))
    assert counts[0] == counts[1] == counts[2], counts
    # The owner's page of their views names the role too.
    page = client.get("/admin/saved-views/").get_data(as_text=True)
    assert page.count("<td>销售") == 3 and owner.display_name == "共享人"
