"""Crawl every menu entry of every role, and the first details and edit page of each list, in Chromium."""
import pytest

from e2e_support import screen_text
from e2e_support import text_problems

import demo

# The demo logins printed at first start: one per role.
ROLES = ("admin",) + tuple(row[0] for row in demo.USERS if row[-1])
# Roles whose sessions also open the edit page of each list's first row (every screen's form is seen).
EDIT_ROLES = ("admin",)
# Details pages already checked by an earlier role (the same record renders the same screen).
SEEN_DETAILS = set()


def menu_entries(page):
    """Return [(label, path)] of the navigation bar's entries (the language and logout links excluded)."""
    entries = page.eval_on_selector_all(
        "nav a.nav-link[href^='/'], nav a.dropdown-item[href^='/']",
        "els => els.map(e => [e.textContent.trim(), e.getAttribute('href')])")
    seen = []
    for label, href in entries:
        if href.startswith("/lang/") or href in [h for _, h in seen]:
            continue
        seen.append((label, href))
    return seen


def check_page(session, path, report):
    response = session.goto(path)
    page = session.page
    status = response.status if response else 0
    problems = session.take_problems()
    if status >= 500:
        problems.append(f"HTTP {status}")
    problems += text_problems(screen_text(page))
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    if width > viewport:
        problems.append(f"page scrolls sideways: scrollWidth {width} > {viewport}")
    for problem in problems:
        report.append(f"{path}: {problem}")
    return page


@pytest.mark.parametrize("role", ROLES)
def test_every_screen_of_a_role_is_clean(desk, role):
    """Every menu entry, first details page (and, for admin, first edit page): no error, no internals, Chinese."""
    desk.login(role)
    report = []
    entries = menu_entries(desk.page)
    assert len(entries) >= 3, entries
    for label, path in entries:
        # Other roles see the same screens with fewer rows: a short page keeps the crawl quick.
        if role not in EDIT_ROLES and path.rstrip("/").count("/") == 2 and "?" not in path:
            path += "?page_size=20"
        page = check_page(desk, path, report)
        first = page.query_selector("table.model-list td.list-buttons-column a[href*='/details/']")
        if first is None:
            continue
        details = first.get_attribute("href")
        key = details.split("&")[0]
        if key in SEEN_DETAILS and role not in EDIT_ROLES:
            continue
        SEEN_DETAILS.add(key)
        check_page(desk, details, report)
        if role in EDIT_ROLES:
            edit = page.query_selector("ul.nav-tabs a[href*='/edit/']")
            if edit is not None:
                check_page(desk, edit.get_attribute("href"), report)
    assert not report, f"{len(report)} problems for {role}:\n" + "\n".join(report[:80])


def test_every_list_fits_a_phone_as_cards(phone):
    """At 390 px every list is a column of cards (no table header, no sideways scroll); forms are one column."""
    phone.login("admin")
    report = []
    entries = menu_entries(phone.page)
    assert len(entries) > 20
    for label, path in entries:
        page = check_page(phone, path, report)
        rows = page.locator("table.model-list tbody tr")
        if page.locator("table.model-list").count() and rows.count() and page.locator("td.list-buttons-column").count():
            shape = page.evaluate("""() => {
              const table = document.querySelector('table.model-list');
              const row = table.querySelector('tbody tr');
              const head = table.querySelector('thead');
              return {head: getComputedStyle(head).display, row: getComputedStyle(row).display,
                      height: row.getBoundingClientRect().height, width: row.getBoundingClientRect().width};
            }""")
            if shape["head"] != "none" or shape["row"] != "flex" or shape["width"] > 390:
                report.append(f"{path}: list is not shown as cards: {shape}")
            if shape["height"] > 420:
                report.append(f"{path}: a card is {shape['height']:.0f} px tall")
    page = phone.page
    phone.goto("/admin/customer/new/")
    widths = page.evaluate("""() => Array.from(document.querySelectorAll('form.admin-form .form-group'))
        .map(g => [g.getBoundingClientRect().left, g.getBoundingClientRect().width])""")
    lefts = {round(left) for left, _ in widths}
    assert len(lefts) == 1 and all(width <= 390 for _, width in widths), widths
    assert not report, f"{len(report)} problems at 390 px:\n" + "\n".join(report[:80])
