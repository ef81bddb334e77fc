"""Journeys of real people through the console in Chromium: visible Chinese text, then the database."""
import datetime
import re
import time

from e2e_support import screen_text
from e2e_support import text_problems


def pick(page, field_id, term, choose=None):
    """Choose a record in a Flask-Admin lookup (select2) by typing ``term``; click the option containing ``choose``."""
    page.click(f"#s2id_{field_id} a.select2-choice, #s2id_{field_id} .select2-choices")
    search = page.locator(".select2-drop-active input.select2-input:visible")
    search.fill(term)
    option = page.locator(".select2-drop-active:visible .select2-result-selectable", has_text=choose or term).first
    option.wait_for()
    option.click()


def save(page):
    with page.expect_navigation():
        page.click("form.admin-form input[type=submit][value='保存']")


def assert_clean(session, page=None):
    page = page or session.page
    problems = session.take_problems(page) + text_problems(screen_text(page))
    assert not problems, "\n".join(problems)


def test_first_start_prints_the_admin_password_that_logs_in(desk, server):
    """First start: the server prints admin's password once; it logs in and shows the home page in Chinese."""
    printed = "".join(server.output)
    assert re.search(r"已创建管理员账号:用户名 admin\s+密码 \S+", printed), printed[:500]
    page = desk.login("admin", server.passwords["admin"])
    assert page.url.endswith("/admin/")
    body = page.inner_text("body")
    assert "欢迎" in body and "工作台" in body and "客户" in body
    assert_clean(desk)


def test_wrong_password_is_refused_in_chinese(desk):
    page = desk.page
    page.goto(desk.url("/login"))
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "not-the-password")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/login" in page.url
    assert "用户名或密码" in page.inner_text("body")
    desk.take_problems()


def test_clerk_creates_a_customer_with_two_contacts_inline(desk, db):
    """The inline "添加 联系人" works under the CSP: two contacts are saved with the customer."""
    page = desk.login("clerk")
    page.goto(desk.url("/admin/customer/new/"))
    name = f"宁波浏览器测试贸易有限公司{int(time.time() * 1000) % 100000}"
    page.fill("#name", name)
    page.select_option("#tier", label="关键")
    page.fill("#industry", "贸易")
    # CUS-3: a contact's mobile is kept only with the customer's (or the contact's) recorded consent.
    page.fill("#consent_at", "2026-11-30 10:00")
    page.click("text=添加 联系人")
    page.click("text=添加 联系人")
    page.fill("#contacts-0-name", "王小明")
    page.fill("#contacts-0-mobile", "13800138000")
    page.check("#contacts-0-is_primary")
    page.fill("#contacts-1-name", "李小红")
    page.fill("#contacts-1-title", "财务")
    assert_clean(desk)
    save(page)
    body = page.inner_text("body")
    assert "保存成功" in body or "已保存" in body or "记录已" in body or name in body, body[:800]
    row = db.execute("SELECT id, tier FROM customer WHERE name = ?", (name,)).fetchone()
    assert row is not None and row["tier"] == "key"
    contacts = db.execute("SELECT name, is_primary FROM contact WHERE customer_id = ? ORDER BY name",
                          (row["id"],)).fetchall()
    assert [(c["name"], bool(c["is_primary"])) for c in contacts] == [("李小红", False), ("王小明", True)]
    page.goto(desk.url(f"/admin/customer/details/?id={row['id']}"))
    details = page.inner_text("body")
    assert "客户层级" in details and "关键" in details
    assert_clean(desk)


def test_delete_asks_for_confirmation(desk, db):
    """The list's 🗑 asks "确定要删除…"; cancelling keeps the record, confirming deletes it."""
    page = desk.login("admin")
    page.goto(desk.url("/admin/holiday/new/"))
    page.fill("#day", "2031-05-06")
    page.fill("#name", "浏览器测试调休")
    if page.locator("#kind").count():
        page.select_option("#kind", index=0)
    save(page)
    row = db.execute("SELECT id FROM holiday WHERE name = ?", ("浏览器测试调休",)).fetchone()
    assert row is not None, page.inner_text("body")[:500]
    page.goto(desk.url("/admin/holiday/?search=浏览器测试调休"))
    trash = page.locator("table.model-list form.icon button").first
    desk.accept_dialogs = False
    trash.click()
    page.wait_for_timeout(300)
    assert desk.dialogs and "确定要删除" in desk.dialogs[-1]
    assert db.execute("SELECT id FROM holiday WHERE id = ?", (row["id"],)).fetchone() is not None
    desk.accept_dialogs = True
    with page.expect_navigation():
        trash.click()
    assert db.execute("SELECT id FROM holiday WHERE id = ?", (row["id"],)).fetchone() is None
    assert "删除" in page.inner_text("body")
    assert_clean(desk)


def test_bulk_delete_through_the_selection_menu(desk, db):
    """"选中的 → 删除" runs under the CSP (and asks first)."""
    page = desk.login("admin")
    for day in ("2031-06-10", "2031-06-11"):
        page.goto(desk.url("/admin/holiday/new/"))
        page.fill("#day", day)
        page.fill("#name", "批量删除测试")
        save(page)
    page.goto(desk.url("/admin/holiday/?search=批量删除测试"))
    boxes = page.locator("input.action-checkbox")
    assert boxes.count() == 2
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.click("text=选中的")
    with page.expect_navigation():
        page.click("[data-model-action=delete]")
    assert desk.dialogs and "删除" in desk.dialogs[-1]
    assert db.execute("SELECT COUNT(*) FROM holiday WHERE name = ?", ("批量删除测试",)).fetchone()[0] == 0
    assert "已删除 2 条记录" in page.inner_text("body")
    assert_clean(desk)


def test_the_date_picker_speaks_chinese(desk):
    page = desk.login("admin")
    page.goto(desk.url("/admin/holiday/new/"))
    page.click("#day")
    picker = page.locator(".daterangepicker").filter(has=page.locator("td.available")).first
    picker.wait_for()
    text = picker.inner_text()
    for word in ("一", "二", "日"):
        assert word in text, text
    assert "Su" not in text and "Mo" not in text
    assert re.search(r"\d+月", text), text
    assert not text_problems(text), text_problems(text)
    buttons = page.locator(".daterangepicker .applyBtn, .daterangepicker .cancelBtn")
    labels = {buttons.nth(i).text_content().strip() for i in range(buttons.count())}
    assert labels == {"确定", "取消"}, labels
    assert_clean(desk)


def test_second_editor_is_told_of_the_conflict(browser, server, db):
    """Two people edit one customer: the later save is refused and names who saved in between."""
    from e2e_support import Session
    from e2e_support import DESK

    first = Session(browser, server, DESK)
    second = Session(browser, server, DESK)
    try:
        customer = db.execute("SELECT id, name FROM customer WHERE confidentiality = 'normal' ORDER BY id LIMIT 1").fetchone()
        path = f"/admin/customer/edit/?id={customer['id']}"
        first.login("admin")
        second.login("clerk")
        first.goto(path)
        second.goto(path)
        first.page.fill("#industry", "第一人修改")
        save(first.page)
        assert "第一人修改" == db.execute("SELECT industry FROM customer WHERE id = ?", (customer["id"],)).fetchone()[0]
        second.page.fill("#industry", "第二人修改")
        save(second.page)
        body = second.page.inner_text("body")
        assert "保存失败" in body and "系统管理员" in body, body[:800]
        assert "第一人修改" == db.execute("SELECT industry FROM customer WHERE id = ?", (customer["id"],)).fetchone()[0]
        assert_clean(second)
    finally:
        first.close()
        second.close()


def test_borrow_refused_at_four_days_approved_on_a_phone_at_three_and_lent(desk, browser, server, db):
    """ARC-1 refuses 4 days at the field (banner on top); 3 days waits for the GM, who approves on a phone."""
    from e2e_support import Session
    from e2e_support import DESK
    from e2e_support import PHONE

    folder = db.execute(
        "SELECT f.id, f.number, f.title FROM archive_file f JOIN customer c ON c.id = f.customer_id "
        "JOIN user u ON u.username = 'sales' AND u.department_id = c.department_id "
        "WHERE f.confidentiality = 'normal' AND f.status = 'in_store' AND c.confidentiality = 'normal' "
        "AND NOT EXISTS (SELECT 1 FROM loan l WHERE l.file_id = f.id AND l.returned_at IS NULL) "
        "AND NOT EXISTS (SELECT 1 FROM borrow_request b WHERE b.file_id = f.id AND b.status = 'pending') "
        "ORDER BY f.id LIMIT 1").fetchone()
    assert folder is not None
    page = desk.login("sales")
    page.goto(desk.url("/admin/borrowrequest/new/"))
    pick(page, "file", folder["number"])
    if page.locator("#s2id_borrower").count():
        pick(page, "borrower", "刘洋")
    page.fill("#reason", "核对合同原件(浏览器测试)")
    page.fill("#days", "4")
    page.check("#dept_head_signed")
    save(page)
    banner = page.locator("#refusal-banner")
    assert banner.is_visible()
    assert "借阅天数" in banner.inner_text() and "ARC-1" in banner.inner_text()
    field_error = page.locator("#days ~ .invalid-feedback, #days + .invalid-feedback")
    assert "借阅期限不得超过 3 天" in field_error.first.inner_text()
    assert db.execute("SELECT COUNT(*) FROM borrow_request WHERE reason = ?",
                      ("核对合同原件(浏览器测试)",)).fetchone()[0] == 0
    assert_clean(desk)

    page.fill("#days", "3")
    save(page)
    request = db.execute("SELECT id, status FROM borrow_request WHERE reason = ?",
                         ("核对合同原件(浏览器测试)",)).fetchone()
    assert request is not None and request["status"] == "pending", page.inner_text("body")[:600]

    phone = Session(browser, server, PHONE, is_mobile=True)
    try:
        inbox = phone.login("gm")
        inbox.goto(phone.url("/admin/approvals/"))
        row = inbox.locator("#approval-list tr", has=inbox.locator(
            f"a[href*='/admin/borrowrequest/details/?id={request['id']}']")).first
        row.wait_for()
        assert inbox.evaluate("document.documentElement.scrollWidth") <= 390
        approve = row.locator("button[value=approve]")
        approve.scroll_into_view_if_needed()
        box = approve.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        row.locator("input[name=comment]").fill("同意借阅")
        with inbox.expect_navigation():
            approve.tap()
        assert "已批准" in inbox.inner_text("body") or "批准" in inbox.inner_text("body")
        assert_clean(phone)
    finally:
        phone.close()
    assert db.execute("SELECT status FROM borrow_request WHERE id = ?", (request["id"],)).fetchone()[0] == "approved"
    assert db.execute("SELECT COUNT(*) FROM loan WHERE request_id = ?", (request["id"],)).fetchone()[0] == 0

    # The archivist lends the approved request with its workflow button (ARC-2).
    archivist = Session(browser, server, DESK)
    try:
        archive = archivist.login("archivist")
        archive.goto(archivist.url(f"/admin/borrowrequest/details/?id={request['id']}"))
        lend = archive.locator("#action-lend")
        with archive.expect_navigation():
            lend.locator("button[type=submit]").click()
        assert not archive.locator(".alert-danger").count(), archive.locator(".alert-danger").first.inner_text()
        assert_clean(archivist)
    finally:
        archivist.close()
    loan = db.execute("SELECT lent_at, due_at, returned_at FROM loan WHERE request_id = ?", (request["id"],)).fetchone()
    assert loan is not None and loan["returned_at"] is None
    lent = datetime.datetime.fromisoformat(loan["lent_at"])
    due = datetime.datetime.fromisoformat(loan["due_at"])
    assert due - lent == datetime.timedelta(days=3)


# The complaint's workflow actions (policies.workflow): button name by the status it leads to.
COMPLAINT_ACTIONS = {"调查中": "investigate", "方案待批": "propose", "已答复": "reply", "回访": "return_visit",
                     "已结案": "close"}


def move_complaint(session, complaint_id, status_label, expect_refusal=False):
    """Move a complaint to ``status_label`` with its workflow button on the details page; return the page text."""
    page = session.page
    page.goto(session.url(f"/admin/complaint/details/?id={complaint_id}"))
    action = COMPLAINT_ACTIONS[status_label]
    form = page.locator(f"#action-{action}")
    if status_label == "已结案":
        form.locator("select").select_option(label="满意")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    errors = page.locator(".alert-danger")
    text = errors.first.inner_text() if errors.count() else ""
    assert bool(text) == expect_refusal, text
    return text


def approve_in_inbox(session, model, record_id, comment="同意"):
    page = session.page
    page.goto(session.url("/admin/approvals/"))
    row = page.locator("#approval-list tr", has=page.locator(
        f"a[href*='/admin/{model}/details/?id={record_id}']")).first
    row.locator("input[name=comment]").fill(comment)
    with page.expect_navigation():
        row.locator("button[value=approve]").click()


def test_complaint_goes_through_its_workflow_to_closed(desk, browser, server, db):
    """A service clerk records a complaint, investigates, proposes; the GM approves; it is replied and closed."""
    from e2e_support import Session
    from e2e_support import DESK

    page = desk.login("service")
    page.goto(desk.url("/admin/complaint/new/"))
    page.fill("#complainant", "浏览器测试投诉人")
    page.select_option("#category", index=1)
    page.fill("#content", "空调维修后仍不制冷(浏览器测试)")
    if page.locator("#plate_no").count():
        page.fill("#plate_no", "浙A12345")
    save(page)
    complaint = db.execute("SELECT id, number, status FROM complaint WHERE complainant = ?",
                           ("浏览器测试投诉人",)).fetchone()
    assert complaint is not None and complaint["status"] == "received", page.inner_text("body")[:600]
    # CMP-10: whether a complaint is accepted is ruled by its department's manager or the GM.
    ruler = Session(browser, server, DESK)
    try:
        ruler.login("gm")
        move_complaint(ruler, complaint["id"], "调查中")
    finally:
        ruler.close()

    page.goto(desk.url("/admin/investigation/new/"))
    pick(page, "complaint", complaint["number"])
    page.fill("#cause", "冷媒泄漏")
    page.fill("#conclusion", "维修时未做保压测试")
    save(page)
    move_complaint(desk, complaint["id"], "方案待批")

    page.goto(desk.url("/admin/solution/new/"))
    pick(page, "complaint", complaint["number"])
    page.fill("#proposal", "免费补充冷媒并延长保修三个月")
    save(page)
    solution = db.execute("SELECT id FROM solution WHERE complaint_id = ?", (complaint["id"],)).fetchone()
    assert solution is not None

    # CMP-6: no reply before the GM approved the solution (the button is not offered).
    page.goto(desk.url(f"/admin/complaint/edit/?id={complaint['id']}"))
    assert page.locator("#workflow-state").inner_text() == "方案待批"
    assert page.locator("#action-reply").count() == 0

    gm = Session(browser, server, DESK)
    try:
        gm.login("gm")
        approve_in_inbox(gm, "solution", solution["id"])
        assert_clean(gm)
    finally:
        gm.close()

    move_complaint(desk, complaint["id"], "已答复")
    move_complaint(desk, complaint["id"], "回访")
    move_complaint(desk, complaint["id"], "已结案")
    row = db.execute("SELECT status, satisfaction, closed_at FROM complaint WHERE id = ?", (complaint["id"],)).fetchone()
    assert row["status"] == "closed" and row["satisfaction"] == "satisfied" and row["closed_at"]
    page.goto(desk.url(f"/admin/complaint/details/?id={complaint['id']}"))
    body = page.inner_text("body")
    assert "已结案" in body and "满意" in body
    history = page.inner_text("#history")
    assert "回访 → 已结案" in history and "调查中 → 方案待批" in history
    assert_clean(desk)


def test_the_next_page_takes_its_style_sheets_and_scripts_from_the_browser_cache(desk):
    """Static URLs carry their file's hash: the second page a person opens fetches none of them again."""
    desk.login("clerk")
    desk.goto("/admin/customer/")
    desk.goto("/admin/contact/")
    page = desk.page
    entries = page.evaluate("""() => performance.getEntriesByType('resource')
        .map(e => [e.name, e.transferSize, e.decodedBodySize])""")
    # Style sheets and scripts (the tab's icon is fetched by the browser's own icon service, on its own terms).
    hashed = [entry for entry in entries if re.search(r"/static/.*\.(css|js)[?&]v=[0-9a-f]{12}$", entry[0])]
    assert len(hashed) >= 15, entries
    fetched = [name for name, transferred, size in hashed if transferred != 0 or size == 0]
    assert not fetched, f"fetched again over the network: {fetched}"
    # Still styled and scripted: Bootstrap laid out the navigation bar, the console's script ran.
    assert page.evaluate("getComputedStyle(document.querySelector('nav.navbar')).display") == "flex"
    assert page.evaluate("typeof window.jQuery") == "function"
    assert_clean(desk)
