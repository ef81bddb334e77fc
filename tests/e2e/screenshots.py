"""Take the README's screenshots in Chromium: `make screenshots` writes them into docs/screenshots/."""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from e2e_support import CHROMIUM  # noqa: E402
from e2e_support import CHROMIUM_ARGS  # noqa: E402
from e2e_support import DESK  # noqa: E402
from e2e_support import PHONE  # noqa: E402
from e2e_support import missing_browser  # noqa: E402
from e2e_support import start_server  # noqa: E402


def login(context, server, username):
    page = context.new_page()
    page.goto(server.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", server.passwords[username])
    with page.expect_navigation():
        page.click("button[type=submit]")
    return page


def shoot(page, server, path, out, name, full_page=False):
    page.goto(server.url + path)
    page.wait_for_load_state("networkidle")
    target = os.path.join(out, name)
    page.screenshot(path=target, full_page=full_page)
    print(target)


def main(out):
    reason = missing_browser()
    if reason:
        sys.exit(f"screenshots need Chromium: {reason}")
    from playwright.sync_api import sync_playwright

    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as instance:
        server = start_server(instance)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                desk = browser.new_context(viewport=DESK, locale="zh-CN")
                page = login(desk, server, "admin")
                shoot(page, server, "/admin/", out, "home-desk.png")
                shoot(page, server, "/admin/customer/", out, "customers-desk.png")
                sales = login(browser.new_context(viewport=DESK, locale="zh-CN"), server, "sales")
                from test_journeys import pick

                sales.goto(server.url + "/admin/borrowrequest/new/")
                pick(sales, "borrower", "刘洋")
                pick(sales, "file", "KHDA")
                sales.fill("#reason", "核对合同原件")
                sales.fill("#days", "4")
                sales.check("#dept_head_signed")
                with sales.expect_navigation():
                    sales.click("form.admin-form input[type=submit][value='保存']")
                sales.screenshot(path=os.path.join(out, "refusal-desk.png"), full_page=True)
                print(os.path.join(out, "refusal-desk.png"))
                gm = login(browser.new_context(viewport=DESK, locale="zh-CN"), server, "gm")
                shoot(gm, server, "/admin/approvals/", out, "inbox-desk.png")
                phone = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True,
                                            device_scale_factor=2)
                gm_phone = login(phone, server, "gm")
                shoot(gm_phone, server, "/admin/approvals/", out, "inbox-phone.png")
                shoot(gm_phone, server, "/admin/customer/", out, "customers-phone.png")
                browser.close()
        finally:
            server.process.terminate()
            server.process.wait(timeout=10)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "docs", "screenshots"))
