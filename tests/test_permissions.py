"""Permissions: the matrix screen, and every role × every URL rule × GET/POST against it."""
import pytest

import models
from policies import workflow
from conftest import csrf_token
from conftest import login
from conftest import make_user
from factories import make
from views import access
from views.registry import screen_models

ROLES = ("admin", "gm", "manager", "archivist", "service", "sales", "clerk")
ENDPOINT_ACTION = {
    "index_view": "view", "details_view": "view", "ajax_lookup": "view", "create_view": "create",
    "edit_view": "edit", "ajax_update": "edit", "delete_view": "delete", "export": "export",
    "action_view": "delete", "reveal_view": "view", "reset_password_view": "edit",
    "personal_data_view": "export", "anonymise_view": "edit",
}


def model_rules(app):
    """Yield (model, endpoint suffix, url) for every URL rule of every generated screen."""
    models_by_endpoint = {m.__name__.lower(): m for m in screen_models()}
    for rule in app.url_map.iter_rules():
        prefix, _, suffix = rule.endpoint.partition(".")
        if prefix in models_by_endpoint and suffix in ENDPOINT_ACTION:
            url = rule.rule.replace("<export_type>", "csv").replace("<fmt>", "json")
            yield models_by_endpoint[prefix], suffix, url, rule.methods - {"HEAD", "OPTIONS"}


@pytest.mark.parametrize("role", ROLES)
def test_every_url_answers_as_the_matrix_says(app, client, role):
    user = make_user(f"m_{role}", roles=(role,), clearance="top_secret")
    login(client, user.username)
    token = csrf_token(client, "/admin/")
    samples = {}
    checked = 0
    for model, suffix, url, methods in model_rules(app):
        if model not in samples:
            samples[model] = make(model)
        obj = samples[model]
        action = ENDPOINT_ACTION[suffix]
        allowed = access.can(user, model, action)
        screen = model.admin_options()
        if screen.get("read_only_screen") and action in ("create", "edit", "delete"):
            allowed = False
        if model is models.ArchiveFile and action == "delete":
            allowed = False
        # Lending alone creates a loan (policies.workflow): its screen has no create.
        if action == "create" and models.workflow_of(model) is not None and models.workflow_of(model).create:
            allowed = False
        # Ledger lines are never deleted: the screen refuses with a message, nothing is removed.
        ledger = action == "delete" and allowed and workflow.always_ledger(model)
        if suffix == "anonymise_view" and role not in ("gm", "admin"):
            allowed = False
        for method in methods:
            before = model.select().count()
            if method == "GET":
                response = client.get(url + (f"?id={obj.id}&name=x&query=" if "?" not in url else ""))
            else:
                response = client.post(url, data={"csrf_token": token, "id": obj.id, "rowid": obj.id,
                                                  "action": "delete", "field": "x", "password": ""})
            checked += 1
            if ledger:
                assert response.status_code == 302 and model.select().count() == before, (role, method, url)
            elif allowed:
                assert response.status_code != 403, (role, method, url)
            else:
                assert response.status_code == 403, (role, method, url, response.status_code)
                assert model.select().count() == before, (role, method, url)
    assert checked > 300


def test_menu_shows_only_what_the_role_can_open(app, client):
    make_user("menu_sales", roles=("sales",))
    login(client, "menu_sales")
    html = client.get("/admin/").get_data(as_text=True)
    assert "/admin/customer/" in html
    assert "/admin/auditlog/" not in html and "/admin/user/" not in html


def test_admin_edits_the_matrix_and_it_takes_effect(app, admin_client):
    clerk = make_user("matrix_clerk", roles=("clerk",))
    other = app.test_client()
    login(other, "matrix_clerk")
    assert other.get("/admin/partner/").status_code == 200
    page = admin_client.get("/admin/permission-matrix/")
    assert page.status_code == 200 and "权限矩阵" in page.get_data(as_text=True)
    role = models.Role.get(models.Role.code == "clerk")
    granted = {f"{p.role_id}:{p.model}:{p.action}": "1" for p in models.Permission.select()
               if not (p.role_id == role.id and p.model == "Partner")}
    granted["csrf_token"] = csrf_token(admin_client, "/admin/permission-matrix/")
    granted["matrix"] = "1"
    assert admin_client.post("/admin/permission-matrix/", data=granted).status_code == 302
    assert not access.can(clerk, "Partner", "view")
    assert other.get("/admin/partner/").status_code == 403
    assert models.AuditLog.select().where(models.AuditLog.model == "Permission",
                                          models.AuditLog.action == "delete").count() >= 3


def test_admin_cannot_lock_themselves_out(app, admin_client):
    token = csrf_token(admin_client, "/admin/permission-matrix/")
    assert admin_client.post("/admin/permission-matrix/", data={"csrf_token": token}).status_code == 400
    assert models.Permission.select().count() > 100
    admin_client.post("/admin/permission-matrix/", data={"csrf_token": token, "matrix": "1"})
    assert admin_client.get("/admin/permission-matrix/").status_code == 200


def test_only_admins_open_the_matrix(app, client):
    make_user("matrix_gm", roles=("gm",))
    login(client, "matrix_gm")
    assert client.get("/admin/permission-matrix/").status_code == 403
    before = models.Permission.select().count()
    client.post("/admin/permission-matrix/", data={"csrf_token": csrf_token(client, "/admin/")})
    assert models.Permission.select().count() == before


ARCHIVE_VIEW = {"admin", "gm", "manager", "archivist", "clerk"}
# Who may open each custom page (every URL rule that is not a generated screen must be listed).
CUSTOM_PAGES = {
    "admin.index": set(ROLES),
    "policy_catalogue.index": set(ROLES),
    "policy_settings.index": {"admin"},
    "permissions.index": {"admin"},
    "backup.index": {"admin"},
    "saved_views.index": set(ROLES),
    "saved_views.save": set(ROLES),
    "saved_views.delete": set(ROLES),
    "data_import.index": set(ROLES),
    "data_import.template": set(ROLES),
    "data_import.upload": set(ROLES),
    "data_import.job": set(ROLES),
    "data_import.run": set(ROLES),
    "data_import.progress": set(ROLES),
    "data_import.failed_rows": set(ROLES),
    "customer360.index": {"admin", "gm", "manager", "sales", "service", "clerk", "archivist"},
    "backup.download": {"admin"},
    "approvals.index": set(ROLES),
    "approvals.decide": set(ROLES),
    "approvals.bulk": set(ROLES),
    "approvals.withdraw": set(ROLES),
    # 借阅登记册 and 移交看板: who may view loans (handovers); chasing and receiving need the right to edit them.
    "ledger.index": ARCHIVE_VIEW,
    "ledger.file_history": ARCHIVE_VIEW,
    "ledger.borrower_history": ARCHIVE_VIEW,
    "ledger.print_view": ARCHIVE_VIEW,
    "ledger.export_xlsx": ARCHIVE_VIEW - {"clerk"},
    "ledger.remind": ARCHIVE_VIEW - {"gm"},
    # Lending and returning: the workflow decides who may (the archivist); an empty request is incomplete.
    "ledger.lend": ARCHIVE_VIEW,
    "ledger.return_view": ARCHIVE_VIEW,
    "handover_board.index": ARCHIVE_VIEW,
    "handover_board.receive": ARCHIVE_VIEW - {"gm"},
    # 投诉看板 and 投诉统计: whoever may view complaints; writing needs the matching right on the record type.
    "complaint_board.index": set(ROLES) - {"archivist"},
    "complaint_board.details": set(ROLES) - {"archivist"},
    "complaint_board.add_update": {"admin", "manager", "service", "clerk"},
    "complaint_board.mark_notified": {"admin", "manager", "service", "clerk"},
    "complaint_board.move_view": {"admin", "manager", "service", "clerk"},
    "complaint_stats.index": set(ROLES) - {"archivist"},
    "complaint_stats.xlsx": {"admin", "gm", "manager", "service"},
}
PUBLIC_OR_SELF = {"static", "admin.static", "root", "auth.login", "auth.logout", "auth.change_password",
                  "auth.set_language"}


def test_every_custom_page_is_declared_and_enforced(app, client):
    screens = {m.__name__.lower() for m in screen_models()}
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.split(".")[0] not in screens]
    undeclared = {r.endpoint for r in rules} - set(CUSTOM_PAGES) - PUBLIC_OR_SELF
    assert not undeclared, f"declare who may open {undeclared}"
    for role in ROLES:
        other = app.test_client()
        make_user(f"page_{role}", roles=(role,))
        login(other, f"page_{role}")
        token = csrf_token(other, "/admin/")
        for rule in rules:
            if rule.endpoint not in CUSTOM_PAGES:
                continue
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                before = (models.Permission.select().count(), models.RuleSetting.select().count())
                response = other.open(rule.rule, method=method, data={"csrf_token": token} if method == "POST" else None)
                if role in CUSTOM_PAGES[rule.endpoint]:
                    # An empty POST may be refused as incomplete (400), never as forbidden or a crash.
                    assert response.status_code in (200, 302, 400), (role, method, rule.rule)
                else:
                    assert response.status_code == 403, (role, method, rule.rule, response.status_code)
                    assert (models.Permission.select().count(), models.RuleSetting.select().count()) == before
