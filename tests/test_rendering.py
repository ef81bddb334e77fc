"""The shortcuts of page rendering say exactly what the long way says.

List rows are written in Python (views/base.py ``ListRows``) and the navigation bar is kept per rights
and screen (views/registry.py ``MenuCache``): both must show what Flask-Admin's own templates show, and
a change of rights must reach the menu on the next page.
"""
import re

import pytest

import models
from factories import make
from views import base as views_base

CSRF_VALUE = re.compile(r'(name="csrf_token"[^>]*value=")[^"]*(")')


def normalised(html):
    """The page with whitespace next to tags removed and CSRF tokens (signed with a time) blanked."""
    html = CSRF_VALUE.sub(r"\1\2", html)
    html = re.sub(r"\s+", " ", html)
    return re.sub(r"\s*([<>])\s*", r"\1", html)


def list_table(html):
    start = html.index('<table class="table table-striped')
    return html[start:html.index("</table>", start)]


# A listed text field of each screen, given markup that must be shown as text.
MARKUP = '甲<b class="x">乙</b> & 丙'
LISTED_TEXT = {models.Customer: "name", models.Communication: "summary", models.Complaint: "complainant",
               models.Contact: "title"}


@pytest.mark.parametrize("model", list(LISTED_TEXT))
def test_list_rows_written_in_python_are_what_flask_admins_template_writes(app, admin_client, monkeypatch, model):
    for _ in range(2):
        make(model)
    make(model, **{LISTED_TEXT[model]: MARKUP})
    url = f"/admin/{model.__name__.lower()}/"
    fast = admin_client.get(url).get_data(as_text=True)
    assert 'class="list-buttons-column"' in fast and "/details/?id=" in fast

    keep = views_base.ListRows.__init__

    def template_rows(self, *args):
        keep(self, *args)
        self.lean = False  # Flask-Admin's own list_row block

    monkeypatch.setattr(views_base.ListRows, "__init__", template_rows)
    slow = admin_client.get(url).get_data(as_text=True)
    assert normalised(list_table(fast)) == normalised(list_table(slow))
    assert "甲&lt;b class=&#34;x&#34;&gt;乙&lt;/b&gt; &amp; 丙" in fast and MARKUP not in fast
    rows = re.findall(r'name="rowid" class="action-checkbox" value="(\d+)"', fast)
    assert len(rows) == model.select().count() >= 3
    for row_id in rows:  # each row's actions carry its own id, never the marker
        assert f"/details/?id={row_id}&" in fast and f'name="id" type="hidden" value="{row_id}"' in fast
    assert views_base.ListRows.MARK not in fast


def menu_links(html):
    nav = html[html.index("<nav"):html.index("</nav>")]
    return re.findall(r'<a class="(?:dropdown-item|nav-link)( active)?[^"]*" href="(/admin/[^"]*)"', nav)


def test_the_menu_follows_a_change_of_rights_on_the_next_page(app, client, login_as):
    login_as("clerk")
    role = models.Role.get(models.Role.code == "clerk")
    grant = (models.Permission.select()
             .where(models.Permission.role == role, models.Permission.model == "Complaint",
                    models.Permission.action == "view").get())
    on_customers = menu_links(client.get("/admin/customer/").get_data(as_text=True))
    assert ("", "/admin/complaint/") in on_customers and (" active", "/admin/customer/") in on_customers
    # Another screen marks its own entry open (the menu is kept per screen).
    on_complaints = menu_links(client.get("/admin/complaint/").get_data(as_text=True))
    assert (" active", "/admin/complaint/") in on_complaints and ("", "/admin/customer/") in on_complaints

    grant.delete_instance()
    without = menu_links(client.get("/admin/customer/").get_data(as_text=True))
    assert "/admin/complaint/" not in [href for _, href in without]
    assert (" active", "/admin/customer/") in without

    models.Permission.create(role=role, model="Complaint", action="view")
    assert ("", "/admin/complaint/") in menu_links(client.get("/admin/customer/").get_data(as_text=True))


def test_people_with_other_rights_never_see_each_others_menu(app, client, login_as):
    login_as("admin", clearance="top_secret")
    admin_menu = [href for _, href in menu_links(client.get("/admin/customer/").get_data(as_text=True))]
    assert "/admin/permission-matrix/" in admin_menu
    client.post("/logout", data={"csrf_token": re.search(
        r'name="csrf_token" value="([^"]+)"', client.get("/admin/customer/").get_data(as_text=True)).group(1)})
    login_as("clerk")
    clerk_menu = [href for _, href in menu_links(client.get("/admin/customer/").get_data(as_text=True))]
    assert "/admin/permission-matrix/" not in clerk_menu and "/admin/customer/" in clerk_menu
