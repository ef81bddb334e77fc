"""审批中心: inbox contents per role, tabs, filters, decisions on the page, bulk approve, the badge, the record's page."""
import datetime
import decimal
import re

import pytest

import models
from conftest import csrf_token
from conftest import login
from conftest import make_user
from factories import StatementLog
from factories import credit_ready_customer
from factories import make
from factories import acting_as as acting
from policies import approvals
from views import approvals as inbox

INBOX = "/admin/approvals/"
ROW_RE = re.compile(r'<tr id="approval-(\d+)"')


def ask(record, rule_id, roles, requester, department=None, summary=None):
    """Return the approvals ``requester`` asks ``roles`` for on ``record``."""
    with acting(requester):
        return approvals.require(record, rule_id, roles, department=department,
                                 summary=summary or f"测试申请 {record}")


def client_for(app, user):
    other = app.test_client()
    login(other, user.username)
    return other


def listed(client, url=INBOX, **args):
    """Return the approval ids listed on the inbox page (in page order) and the page's text."""
    response = client.get(url, query_string=args)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    return [int(i) for i in ROW_RE.findall(html)], html


def post(client, path, data, token_from=INBOX):
    data = dict(data, csrf_token=csrf_token(client, token_from))
    return client.post(path, data=data)


def status(approval):
    return models.Approval.get_by_id(approval.id).status


def badge(html):
    match = re.search(r'id="inbox-badge">(\d+)<', html)
    assert match, "no badge on the page"
    return int(match.group(1))


@pytest.fixture
def office(app, bare_engine):
    """Two departments with a manager each, a GM, a deputy, two sales people, and a spread of requests."""
    dept_a = models.Department.create(name="华东销售部")
    dept_b = models.Department.create(name="华南销售部")
    people = dict(
        sales_a=make_user("i_sales_a", roles=("sales",), department=dept_a, display_name="张销售"),
        sales_b=make_user("i_sales_b", roles=("sales",), department=dept_b),
        manager_a=make_user("i_manager_a", roles=("manager",), department=dept_a, display_name="王经理"),
        manager_b=make_user("i_manager_b", roles=("manager",), department=dept_b),
        gm=make_user("i_gm", roles=("gm",), display_name="李总"),
        deputy=make_user("i_deputy", roles=("deputy",)),
    )
    p = people
    # Each record belongs to a customer of the department its approval goes to (a manager sees only those).
    homes = (dept_a, dept_b, None, dept_a, dept_a, dept_a, None)
    records = [make(models.Contact, customer=make(models.Customer, department=home)) for home in homes]
    asked = dict(
        contract_a=ask(records[0], "CTR-1", ["manager"], p["sales_a"], dept_a.id, "合同 HT-A 100000 元")[0],
        contract_b=ask(records[1], "CTR-1", ["manager"], p["sales_b"], dept_b.id)[0],
        solution=ask(records[2], "CMP-6", ["gm"], p["sales_a"], summary="处理方案:退货")[0],
        chain=ask(records[3], "ARC-3", ["manager", "gm"], p["sales_a"], dept_a.id),
        own=ask(records[4], "CTR-1", ["manager"], p["manager_a"], dept_a.id)[0],
        notify=ask(records[5], "CMP-5", ["manager", "gm"], p["sales_a"], dept_a.id),
        borrow=ask(records[6], "ARC-5", ["gm"], p["sales_a"])[0],
    )
    return dict(people, depts=(dept_a, dept_b), records=records, **asked)


def test_inbox_holds_what_each_role_may_decide_now(app, office):
    o = office
    manager_ids, html = listed(client_for(app, o["manager_a"]))
    # Oldest first: the order the requests were made in.
    assert manager_ids == [o["contract_a"].id, o["chain"][0].id, o["notify"][0].id]
    assert listed(client_for(app, o["manager_b"]))[0] == [o["contract_b"].id]
    # The GM's second step of the ARC-3 chain waits for the manager's first.
    assert listed(client_for(app, o["gm"]))[0] == [o["solution"].id, o["notify"][1].id, o["borrow"].id]
    assert listed(client_for(app, o["deputy"]))[0] == [o["borrow"].id]
    sales_ids, sales_html = listed(client_for(app, o["sales_a"]))
    assert sales_ids == [] and "目前没有需要您处理的审批" in sales_html
    assert badge(sales_html) == 0


def test_the_inbox_query_agrees_with_the_engine_for_every_user(app, office):
    o = office
    dept_a, dept_b = o["depts"]
    both = make_user("i_both", roles=("manager", "gm"), department=dept_b)
    homeless = make_user("i_homeless", roles=("manager",))
    head = make_user("i_head", roles=("manager",), department=dept_b)
    dept_a.manager = head
    dept_a.save()
    users = [o[k] for k in ("sales_a", "sales_b", "manager_a", "manager_b", "gm", "deputy")] + [both, homeless, head]
    approvals.decide(o["chain"][0].id, o["manager_a"], True)
    pending = list(models.Approval.select().where(models.Approval.status == "pending"))
    for user in users:
        may = {a.id for a in pending if approvals.refusal(a, user) is None}
        query = models.Approval.select(models.Approval.id).where(inbox.decidable(user, user.role_codes()))
        assert {row.id for row in query} == may, user.username
        assert inbox.pending_count(user) == len(may)
    # The head named on 华东销售部 decides its requests from 华南销售部, where they sit.
    assert o["contract_a"].id in {row.id for row in models.Approval.select().where(inbox.decidable(head))}


def test_the_badge_follows_a_users_new_department_and_roles(app, office):
    o = office

    def engine_count(user):
        pending = models.Approval.select().where(models.Approval.status == "pending")
        return sum(1 for row in pending if approvals.refusal(row, user) is None)

    user = models.User.get_by_id(o["manager_a"].id)
    counts = [inbox.pending_count(user)]
    assert counts[0] == engine_count(user) > 0
    user.department = o["depts"][1]
    user.save()
    user = models.User.get_by_id(user.id)
    counts.append(inbox.pending_count(user))
    assert counts[1] == engine_count(user) != counts[0]
    models.UserRole.delete().where(models.UserRole.user == user.id).execute()
    assert inbox.pending_count(user) == engine_count(user) == 0


def test_inbox_row_shows_type_summary_rule_requester_wait_and_link(app, office):
    o = office
    _, html = listed(client_for(app, o["manager_a"]))
    row = html.split(f'id="approval-{o["contract_a"].id}"')[1].split("</tr>")[0]
    assert "联系人" in row and "合同 HT-A 100000 元" in row
    assert "CTR-1" in row and "合同累计金额审批" in row and "003 第二十八条(一)" in row
    assert "张销售" in row
    assert "分钟" in row
    assert f'href="/admin/contact/details/?id={o["records"][0].id}"' in row
    notify_row = html.split(f'id="approval-{o["notify"][0].id}"')[1].split("</tr>")[0]
    assert "知会" in notify_row and ">确认</button>" in notify_row and "驳回" not in notify_row


def test_waiting_time_and_oldest_first(app, office):
    o = office
    old = models.utcnow() - datetime.timedelta(days=3, hours=2, minutes=5)
    models.Approval.update(requested_at=old).where(models.Approval.id == o["notify"][0].id).execute()
    ids, html = listed(client_for(app, o["manager_a"]))
    assert ids[0] == o["notify"][0].id
    row = html.split(f'id="approval-{ids[0]}"')[1].split("</tr>")[0]
    assert "3 天 2 小时" in row


def test_tabs_mine_and_done(app, office):
    o = office
    manager = client_for(app, o["manager_a"])
    assert post(manager, "/admin/approvals/decide/",
                {"id": o["contract_a"].id, "decision": "approve", "comment": "同意"}).status_code == 302
    done, html = listed(manager, tab="done")
    assert done == [o["contract_a"].id] and "已批准" in html and "同意" in html
    mine, _ = listed(manager, tab="mine")
    assert mine == [o["own"].id]
    sales = client_for(app, o["sales_a"])
    mine, html = listed(sales, tab="mine")
    expected = {o["contract_a"].id, o["solution"].id, o["borrow"].id} | {a.id for a in o["chain"] + o["notify"]}
    assert set(mine) == expected
    row = html.split(f'id="approval-{o["contract_a"].id}"')[1].split("</tr>")[0]
    assert "已批准" in row and "王经理" in row


def test_filters_by_type_and_rule(app, office):
    o = office
    extra = make(models.Partner)
    partner_request = ask(extra, "CMP-6", ["gm"], o["sales_a"])[0]
    gm = client_for(app, o["gm"])
    ids, html = listed(gm)
    assert partner_request.id in ids
    assert 'value="Partner"' in html and 'value="CMP-6"' in html
    assert listed(gm, type="Partner")[0] == [partner_request.id]
    assert listed(gm, rule="CMP-6")[0] == [o["solution"].id, partner_request.id]
    assert listed(gm, rule="ARC-5", type="Contact")[0] == [o["borrow"].id]
    assert listed(gm, rule="ARC-5", type="Partner")[0] == []
    # Unknown values are ignored rather than failing.
    assert len(listed(gm, rule="NOPE", type="Nothing")[0]) == len(ids)


def test_approve_and_reject_on_the_page(app, office):
    o = office
    gm = client_for(app, o["gm"])
    response = post(gm, "/admin/approvals/decide/", {"id": o["solution"].id, "decision": "reject", "comment": ""})
    assert response.status_code == 302
    assert status(o["solution"]) == "pending"
    assert "驳回时必须填写审批意见" in gm.get(INBOX).get_data(as_text=True)
    post(gm, "/admin/approvals/decide/", {"id": o["solution"].id, "decision": "reject", "comment": "赔偿过高"})
    stored = models.Approval.get_by_id(o["solution"].id)
    assert (stored.status, stored.comment, stored.decided_by_id) == ("rejected", "赔偿过高", o["gm"].id)
    post(gm, "/admin/approvals/decide/", {"id": o["borrow"].id, "decision": "approve"})
    assert status(o["borrow"]) == "approved"
    post(gm, "/admin/approvals/decide/", {"id": o["notify"][1].id, "decision": "approve"})
    assert status(o["notify"][1]) == "approved"
    ids, html = listed(gm)
    assert ids == [] and "已确认知会" in html


def test_a_refused_decision_becomes_a_message(app, office):
    o = office
    manager_b = client_for(app, o["manager_b"])
    post(manager_b, "/admin/approvals/decide/", {"id": o["contract_a"].id, "decision": "approve"})
    assert status(o["contract_a"]) == "pending"
    assert "该申请须由所属部门的部门经理审批" in manager_b.get(INBOX).get_data(as_text=True)
    post(manager_b, "/admin/approvals/decide/", {"id": "abc", "decision": "approve"})
    assert "请选择要处理的审批事项" in manager_b.get(INBOX).get_data(as_text=True)


def test_bulk_approve_reports_the_row_that_failed(app, office):
    o = office
    manager = client_for(app, o["manager_a"])
    chosen = [o["contract_a"].id, o["chain"][0].id, o["own"].id]
    response = post(manager, "/admin/approvals/bulk/", {"ids": chosen, "next": INBOX})
    assert response.status_code == 302
    assert (status(o["contract_a"]), status(o["chain"][0]), status(o["own"])) == ("approved", "approved", "pending")
    html = manager.get(INBOX).get_data(as_text=True)
    assert "已批准 2 条" in html and "1 条未能批准" in html
    assert f"#{o['own'].id}" in html and "不能审批自己发起的申请" in html
    # The GM's step of the chain is now open to the GM.
    assert o["chain"][1].id in listed(client_for(app, o["gm"]))[0]
    post(manager, "/admin/approvals/bulk/", {})
    assert "请先勾选要批准的审批事项" in manager.get(INBOX).get_data(as_text=True)


def test_badge_counts_pending_items_on_every_page(app, office):
    o = office
    manager = client_for(app, o["manager_a"])
    assert badge(manager.get("/admin/").get_data(as_text=True)) == 3
    assert badge(manager.get("/admin/contact/").get_data(as_text=True)) == 3
    assert badge(client_for(app, o["gm"]).get("/admin/").get_data(as_text=True)) == 3
    approvals.decide(o["contract_a"].id, o["manager_a"], True)
    assert badge(manager.get("/admin/").get_data(as_text=True)) == 2


def test_anonymous_is_sent_to_login_and_changes_nothing(app, client, office):
    response = client.get(INBOX)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    token = csrf_token(client, "/login")
    response = client.post("/admin/approvals/decide/", data={"csrf_token": token, "id": office["solution"].id,
                                                            "decision": "approve"})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert status(office["solution"]) == "pending"


def test_post_without_csrf_token_changes_nothing(app, office):
    gm = client_for(app, office["gm"])
    response = gm.post("/admin/approvals/decide/", data={"id": office["solution"].id, "decision": "approve"})
    assert response.status_code == 400
    response = gm.post("/admin/approvals/bulk/", data={"ids": [office["solution"].id]})
    assert response.status_code == 400
    assert status(office["solution"]) == "pending"


def test_unsafe_next_is_ignored(app, office):
    gm = client_for(app, office["gm"])
    response = post(gm, "/admin/approvals/decide/", {"id": office["borrow"].id, "decision": "approve",
                                                     "next": "https://evil.example/"})
    assert response.headers["Location"].endswith(INBOX)
    response = post(gm, "/admin/approvals/decide/", {"id": office["solution"].id, "decision": "approve",
                                                     "next": "//evil.example/x"})
    assert response.headers["Location"].endswith(INBOX)


def test_one_page_is_fifty_rows_and_costs_no_query_per_row(app, office):
    o = office
    gm = client_for(app, o["gm"])

    def inbox_queries(**args):
        with StatementLog() as log:
            ids, html = listed(gm, **args)
        return ids, html, len(log.statements)

    _, _, few = inbox_queries()
    for _ in range(57):
        ask(make(models.Contact), "CMP-6", ["gm"], o["sales_b"])
    ids, html, many = inbox_queries()
    assert len(ids) == 50 and "第 1 / 2 页,共 60 条" in html
    assert many == few and few > 0
    ids, html, _ = inbox_queries(page=1)
    assert len(ids) == 10
    ids, html, _ = inbox_queries(page=9)
    assert ids == [] and "返回第一页" in html


# ---------------------------------------------------------------- the record's own page
@pytest.fixture
def big_contract(app):
    """A 100,000 contract of a customer of 华东销售部, waiting for its manager (CTR-1)."""
    dept = models.Department.create(name="华东销售部")
    sales = make_user("d_sales", roles=("sales",), department=dept)
    manager = make_user("d_manager", roles=("manager",), department=dept)
    customer = credit_ready_customer(department=dept)
    with acting(sales):
        contract = make(models.Contract, customer=customer, number="HT-D-1", amount=decimal.Decimal("100000"))
    [approval] = approvals.pending_for(contract)
    return dict(sales=sales, manager=manager, contract=contract, approval=approval,
                url=f"/admin/contract/details/?id={contract.id}")


def test_record_page_lists_its_approvals_and_lets_the_manager_decide(app, big_contract):
    b = big_contract
    manager = client_for(app, b["manager"])
    html = manager.get(b["url"]).get_data(as_text=True)
    panel = html.split('id="approval-panel"')[1].split("</table>")[0]
    assert "CTR-1" in panel and "部门经理" in panel and "待审批" in panel and "d_sales" in panel
    assert ">批准</button>" in panel and ">驳回</button>" in panel
    assert 'id="withdraw-form"' not in html
    response = post(manager, "/admin/approvals/decide/", {"id": b["approval"].id, "decision": "approve",
                                                          "comment": "金额核实无误", "next": b["url"]},
                    token_from=b["url"])
    assert response.status_code == 302 and response.headers["Location"].endswith(b["url"])
    assert status(b["approval"]) == "approved"
    html = manager.get(b["url"]).get_data(as_text=True)
    panel = html.split('id="approval-panel"')[1].split("</table>")[0]
    assert "已批准" in panel and "金额核实无误" in panel and ">批准</button>" not in panel


def test_requester_withdraws_on_the_record_page(app, big_contract):
    b = big_contract
    sales = client_for(app, b["sales"])
    html = sales.get(b["url"]).get_data(as_text=True)
    panel = html.split('id="approval-panel"')[1].split("</table>")[0]
    assert ">批准</button>" not in panel and "等待部门经理审批" in panel
    assert 'id="withdraw-form"' in html
    response = post(sales, "/admin/approvals/withdraw/", {"model": "Contract", "id": b["contract"].id,
                                                          "next": b["url"]}, token_from=b["url"])
    assert response.headers["Location"].endswith(b["url"])
    assert status(b["approval"]) == "withdrawn"
    assert "已撤回" in sales.get(b["url"]).get_data(as_text=True)


def test_only_the_requester_may_withdraw(app, big_contract):
    b = big_contract
    manager = client_for(app, b["manager"])
    post(manager, "/admin/approvals/withdraw/", {"model": "Contract", "id": b["contract"].id})
    assert status(b["approval"]) == "pending"
    assert "只有申请人可以撤回申请" in manager.get(INBOX).get_data(as_text=True)
    post(manager, "/admin/approvals/withdraw/", {"model": "Nothing", "id": "1"})
    assert "记录不存在" in manager.get(INBOX).get_data(as_text=True)
