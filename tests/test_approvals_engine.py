"""The approvals engine: who may decide, chains, withdrawal, notifications, the double decision, the audit."""
import decimal
import threading

import pytest

import models
from conftest import make_user
from factories import credit_ready_customer
from factories import make
from factories import acting_as as acting
from factories import decide_refused
from factories import fresh
from policies import approvals


def ask(record, rule_id, roles, requester, department=None):
    """Return the approvals ``requester`` asks ``roles`` for on ``record``."""
    with acting(requester):
        return approvals.require(record, rule_id, roles, department=department, summary=f"测试 {record}")


def department(name):
    return models.Department.create(name=name)


@pytest.fixture
def people(app):
    """A sales requester, managers of two departments, the GM and a deputy."""
    sales_dept = department("销售一部")
    other_dept = department("销售二部")
    return dict(
        sales_dept=sales_dept, other_dept=other_dept,
        sales=make_user("e_sales", roles=("sales",), department=sales_dept),
        manager=make_user("e_manager", roles=("manager",), department=sales_dept),
        other_manager=make_user("e_manager2", roles=("manager",), department=other_dept),
        gm=make_user("e_gm", roles=("gm",)),
        deputy=make_user("e_deputy", roles=("deputy",)),
    )


def test_large_contract_asks_its_department_manager_who_approves_it(app, people):
    customer = credit_ready_customer(department=people["sales_dept"])
    with acting(people["sales"]):
        contract = make(models.Contract, customer=customer, number="HT-E-1", amount=decimal.Decimal("100000"))
    [approval] = approvals.pending_for(contract)
    assert (approval.rule, approval.required_role, approval.department_id) == ("CTR-1", "manager",
                                                                             people["sales_dept"].id)
    assert approval.requested_by_id == people["sales"].id
    assert decide_refused(approval, people["other_manager"]) == "该申请须由所属部门的部门经理审批。"
    approvals.decide(approval.id, people["manager"], True, "同意")
    assert fresh(approval).status == "approved" and fresh(approval).decided_by_id == people["manager"].id
    assert approvals.state(contract) == "approved"


def test_self_approval_is_refused_even_with_the_right_role(app, people, bare_engine):
    record = make(models.Contact)
    [approval] = ask(record, "CTR-1", ["manager"], people["manager"], department=people["sales_dept"].id)
    assert decide_refused(approval, people["manager"]) == "不能审批自己发起的申请。"
    assert fresh(approval).status == "pending"


def test_manager_of_another_department_is_refused(app, people, bare_engine):
    record = make(models.Contact)
    [approval] = ask(record, "CTR-1", ["manager"], people["sales"], department=people["sales_dept"].id)
    assert decide_refused(approval, people["other_manager"]) == "该申请须由所属部门的部门经理审批。"
    manager_without_department = make_user("e_manager3", roles=("manager",))
    assert decide_refused(approval, manager_without_department) == "该申请须由所属部门的部门经理审批。"
    approvals.decide(approval.id, people["manager"], True)
    assert fresh(approval).status == "approved"


def test_the_role_is_checked_when_deciding_not_when_asking(app, people, bare_engine):
    record = make(models.Contact)
    [approval] = ask(record, "CMP-6", ["gm"], people["sales"])
    gm_role = models.Role.get(models.Role.code == "gm")
    people["gm"].roles.remove(gm_role)
    assert decide_refused(approval, people["gm"]) == "需要由具有“gm”角色的人员审批。"
    newcomer = make_user("e_newcomer", roles=("clerk",))
    assert "需要由" in decide_refused(approval, newcomer)
    newcomer.roles.add(gm_role)
    approvals.decide(approval.id, newcomer, True)
    assert fresh(approval).status == "approved" and fresh(approval).decided_by_id == newcomer.id


def test_rejection_needs_a_comment(app, people, bare_engine):
    record = make(models.Contact)
    [approval] = ask(record, "CMP-6", ["gm"], people["sales"])
    assert decide_refused(approval, people["gm"], approve=False) == "驳回时必须填写审批意见。"
    assert decide_refused(approval, people["gm"], approve=False, comment="   ") == "驳回时必须填写审批意见。"
    assert fresh(approval).status == "pending"
    approvals.decide(approval.id, people["gm"], False, "方案赔偿金额过高")
    stored = fresh(approval)
    assert (stored.status, stored.comment) == ("rejected", "方案赔偿金额过高")
    assert approvals.state(record) == "rejected"


def test_sequential_chain_is_decided_in_order(app, people, bare_engine):
    record = make(models.Contact)
    first, second = ask(record, "ARC-3", ["manager", "gm"], people["sales"], department=people["sales_dept"].id)
    assert (first.step, first.required_role, second.step, second.required_role) == (1, "manager", 2, "gm")
    assert decide_refused(second, people["gm"]) == "前一审批步骤尚未完成。"
    approvals.decide(first.id, people["manager"], True)
    assert approvals.state(record) == "pending"
    approvals.decide(second.id, people["gm"], True)
    assert approvals.state(record) == "approved"


def test_rejecting_a_step_ends_the_chain(app, people, bare_engine):
    record = make(models.Contact)
    first, second = ask(record, "ARC-3", ["manager", "gm"], people["sales"], department=people["sales_dept"].id)
    approvals.decide(first.id, people["manager"], False, "理由不充分")
    assert fresh(second).status == "withdrawn"
    assert approvals.state(record) == "rejected" and not approvals.is_pending(record)


def test_parallel_sign_off_in_any_order_all_must_sign(app, people, bare_engine):
    record = make(models.Contact)
    rows = ask(record, "MOV-1", ["engineering", "finance", "security"], people["sales"])
    assert {r.step for r in rows} == {1}
    signers = {code: make_user(f"e_{code}", roles=(code,)) for code in ("engineering", "finance", "security")}
    by_role = {r.required_role: r for r in rows}
    for code in ("security", "engineering"):
        approvals.decide(by_role[code].id, signers[code], True)
        assert approvals.state(record) == "pending"
    assert decide_refused(by_role["finance"], signers["security"]) == "需要由具有“finance”角色的人员审批。"
    approvals.decide(by_role["finance"].id, signers["finance"], True)
    assert approvals.state(record) == "approved"


def test_any_of_the_gm_or_a_deputy_decides_arc5(app, people, bare_engine):
    record = make(models.Contact)
    [approval] = ask(record, "ARC-5", ["gm"], people["sales"])
    assert approval.required_role == "gm|deputy"
    assert "需要由" in decide_refused(approval, people["manager"])
    approvals.decide(approval.id, people["deputy"], True)
    assert fresh(approval).decided_by_id == people["deputy"].id
    assert "无需重复审批" in decide_refused(approval, people["gm"])


def test_withdrawal_by_the_requester_only(app, people, bare_engine):
    record = make(models.Contact)
    [approval] = ask(record, "CMP-6", ["gm"], people["sales"])
    with pytest.raises(approvals.PolicyViolation, match="正在等待审批"):
        record.save()
    with pytest.raises(approvals.ApprovalError, match="只有申请人可以撤回申请"):
        approvals.withdraw(record, people["gm"])
    approvals.withdraw(record, people["sales"])
    assert fresh(approval).status == "withdrawn" and not approvals.is_pending(record)
    record.name = "撤回后修改"
    record.save()
    with pytest.raises(approvals.ApprovalError, match="没有待审批的申请"):
        approvals.withdraw(record, people["sales"])
    assert "无需重复审批" in decide_refused(approval, people["gm"])


def test_notifications_lock_nothing_and_are_acknowledged(app, people, bare_engine):
    record = make(models.Contact)
    rows = ask(record, "CMP-5", ["manager", "gm"], people["sales"], department=people["sales_dept"].id)
    assert {r.kind for r in rows} == {"notify"} and {r.step for r in rows} == {1}
    assert not approvals.is_pending(record) and approvals.state(record) is None
    record.name = "通知不锁定"
    record.save()
    by_role = {r.required_role: r for r in rows}
    assert decide_refused(by_role["gm"], people["gm"], approve=False, comment="不同意") == "知会事项只需确认,不能驳回。"
    approvals.decide(by_role["gm"].id, people["gm"], True)
    approvals.decide(by_role["manager"].id, people["manager"], True)
    assert {fresh(r).status for r in rows} == {"approved"}


def test_every_decision_is_audited(app, people, bare_engine):
    first = make(models.Contact)
    second = make(models.Contact)
    [approved] = ask(first, "CMP-6", ["gm"], people["sales"])
    [rejected] = ask(second, "CMP-6", ["gm"], people["sales"])
    approvals.decide(approved.id, people["gm"], True, "同意")
    approvals.decide(rejected.id, people["gm"], False, "不同意")
    logs = {(row.action, row.record_id): row for row in models.AuditLog.select().where(
        models.AuditLog.action.in_(("approve", "reject")))}
    assert set(logs) == {("approve", str(first.id)), ("reject", str(second.id))}
    assert all(row.model == "Contact" and row.user_id == people["gm"].id for row in logs.values())
    assert "不同意" in logs[("reject", str(second.id))].changes


def test_a_refused_decision_writes_no_audit_row(app, people, bare_engine):
    record = make(models.Contact)
    [approval] = ask(record, "CMP-6", ["gm"], people["sales"])
    decide_refused(approval, people["manager"])
    assert not models.AuditLog.select().where(models.AuditLog.action.in_(("approve", "reject"))).exists()


def test_two_supervisors_deciding_at_once_exactly_one_decision_is_stored(app, people, bare_engine):
    record = make(models.Contact)
    [approval] = ask(record, "CMP-6", ["gm"], people["sales"])
    deciders = [people["gm"], make_user("e_gm2", roles=("gm",))]
    barrier = threading.Barrier(len(deciders))
    outcomes = {}

    def decide(user, approve):
        models.db.connect(reuse_if_open=True)
        try:
            barrier.wait(timeout=10)
            approvals.decide(approval.id, user, approve, "并发审批")
            outcomes[user.username] = "ok"
        except approvals.ApprovalError as exc:
            outcomes[user.username] = str(exc)
        finally:
            models.db.close()

    threads = [threading.Thread(target=decide, args=(user, i == 0)) for i, user in enumerate(deciders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == sorted(u.username for u in deciders)
    winners = [name for name, result in outcomes.items() if result == "ok"]
    assert len(winners) == 1, outcomes
    [loser] = [result for result in outcomes.values() if result != "ok"]
    assert "已由" in loser or "已被他人处理" in loser, loser
    stored = fresh(approval)
    winner = models.User.get(models.User.username == winners[0])
    assert stored.decided_by_id == winner.id
    assert stored.status == ("approved" if winner.id == deciders[0].id else "rejected")
    assert models.AuditLog.select().where(models.AuditLog.action.in_(("approve", "reject"))).count() == 1
