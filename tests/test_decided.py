"""Decided means locked: an approval records the fields it judged; changing one re-asks or is refused (issue 8)."""
import datetime
import functools
import json
from decimal import Decimal

import pytest

import models
import policies
from conftest import csrf_token
from conftest import make_user
from factories import acting_as
from factories import approve_all
from factories import credit_code
from factories import credit_ready_customer
from factories import fresh
from factories import make
from factories import refused
from factories import run
from policies import approvals

D = Decimal


@pytest.fixture
def people(app):
    """A sales department with its manager, a salesperson, the GM and customer service."""
    # The department also serves as customer service, so its manager (with secret clearance) rules ARC-3.
    dept = models.Department.create(name="销售一部", customer_service=True)
    manager = make_user("jingli", roles=("manager",), department=dept, clearance="secret")
    return dict(dept=dept, manager=manager, sales=make_user("xiaoshou", roles=("sales",), department=dept),
                gm=make_user("zongjingli", roles=("gm",)), service=make_user("kefu", roles=("service",)))


def rows(record, rule_id=None):
    query = models.Approval.select().where(models.Approval.target_model == type(record).__name__,
                                           models.Approval.target_id == record.id).order_by(models.Approval.id)
    if rule_id:
        query = query.where(models.Approval.rule == rule_id)
    return [(a.rule, a.required_role, a.status) for a in query]


def decide_all(record, user):
    for row in list(approvals.pending_for(record)):
        approvals.decide(row.id, user, True, "同意")


# ---------------------------------------------------------------- the builders: an approved record per rule
def approved_contract(people, amount="120000"):
    customer = make(models.Customer, department=people["dept"], licence_no=credit_code(), tax_no=credit_code(),
                    bank_account="6222020200000000007", consent_at=models.utcnow())
    with acting_as(people["sales"]):
        contract = make(models.Contract, customer=customer, number="HT-120K", amount=D(amount))
    decide_all(contract, people["manager"])
    return fresh(contract)


def approved_reception(people):
    with acting_as(people["sales"]):
        reception = make(models.Reception, visitor_org="甲公司", gifts="茶具", gift_value=D("1200"))
    decide_all(reception, people["gm"])
    return fresh(reception)


def approved_solution(people, compensation="200"):
    complaint = make(models.Complaint, complainant="张先生", content="投诉", category="service")
    with acting_as(people["service"]):
        solution = make(models.Solution, complaint=complaint, proposal="赔偿", compensation_amount=D(compensation))
    decide_all(solution, people["gm"])
    return fresh(solution)


def approved_borrow(people):
    with acting_as(people["sales"]):
        request = make(models.BorrowRequest, borrower=people["sales"], days=2,
                       file=make(models.ArchiveFile, title="客户档案"))
    decide_all(request, people["gm"])
    return fresh(request)


def approved_shipment(people, amount="29999.99"):
    customer = credit_ready_customer(department=people["dept"])
    today = policies.credit.local_today()
    make(models.CreditLine, customer=customer, limit=D("90000"), valid_from=today - datetime.timedelta(days=30),
         valid_to=today + datetime.timedelta(days=365))
    make(models.Shipment, customer=customer, invoice_no="INV-BASE", amount=D("70000"),
         shipped_on=today - datetime.timedelta(days=1), prepaid=False)
    with acting_as(people["sales"]):
        shipment = make(models.Shipment, customer=customer, invoice_no="INV-OVER", amount=D(amount),
                        shipped_on=today - datetime.timedelta(days=1), prepaid=False)
    assert fresh(shipment).status == "pending"
    decide_all(shipment, people["manager"])
    return fresh(shipment)


def approved_on_hold_shipment(people):
    customer = credit_ready_customer(department=people["dept"])
    make(models.CreditLine, customer=customer, limit=D("500000"), valid_from=datetime.date(2026, 1, 1),
         valid_to=datetime.date(2026, 12, 31))
    make(models.Shipment, customer=customer, invoice_no="INV-OLD", amount=D("1000"),
         shipped_on=datetime.date(2026, 3, 1), prepaid=False)
    with acting_as(people["sales"]):
        shipment = make(models.Shipment, customer=customer, invoice_no="INV-HOLD", amount=D("100"),
                        shipped_on=datetime.date(2026, 4, 1), prepaid=False)
    assert [r[0] for r in rows(shipment)] == ["CRD-5"]
    decide_all(shipment, people["manager"])
    return fresh(shipment)


def approved_access(people):
    with acting_as(people["sales"]):
        request = make(models.AccessRequest, applicant=people["sales"],
                       file=make(models.ArchiveFile, title="机密档案", confidentiality="secret"))
    decide_all(request, people["manager"])
    return fresh(request)


# (builder, rule, field, new value, state field and the state it returns to) for every "asks again" lock
# ("raise" locks: raised above the judged value).
REASK = [
    pytest.param(approved_contract, "CTR-1", "amount", D("9000000"), ("status", "pending"), id="CTR-1 amount"),
    pytest.param(approved_reception, "RCP-3", "gift_value", D("1500"), ("status", "pending"), id="RCP-3 gift"),
    pytest.param(approved_solution, "CMP-6", "compensation_amount", D("200000"), ("approved_by", None),
                 id="CMP-6 compensation"),
    pytest.param(approved_solution, "CMP-6", "proposal", "退货并赔偿", ("approved_by", None), id="CMP-6 proposal"),
    pytest.param(approved_borrow, "ARC-5", "days", 3, ("status", "pending"), id="ARC-5 days"),
    pytest.param(approved_borrow, "ARC-5", "file", "new-file", ("status", "pending"), id="ARC-5 file"),
    pytest.param(functools.partial(approved_shipment, amount="25000"), "CRD-3", "amount", D("29000"),
                 ("status", "pending"), id="CRD-3 amount"),
    pytest.param(approved_on_hold_shipment, "CRD-5", "amount", D("150"), ("status", "pending"), id="CRD-5 amount"),
    pytest.param(approved_access, "ARC-3", "file", "new-secret-file", ("status", "pending"), id="ARC-3 file"),
    # CRD-3: the manager signed a shipment on credit; another payment term is another judgement.
    pytest.param(approved_shipment, "CRD-3", "prepaid", True, ("status", "pending"), id="CRD-3 prepaid"),
]


def new_value(value):
    if value == "new-file":
        return make(models.ArchiveFile, title="另一份档案")
    if value == "new-secret-file":
        return make(models.ArchiveFile, title="另一份机密档案", confidentiality="secret")
    return value


@pytest.mark.parametrize("build, rule_id, field, value, back_to", REASK)
def test_changing_a_judged_field_withdraws_the_decision_and_asks_again(people, build, rule_id, field, value,
                                                                          back_to):
    record = build(people)
    [decided] = [r for r in rows(record, rule_id) if r[2] == "approved"]
    approval = models.Approval.get(models.Approval.target_id == record.id, models.Approval.rule == rule_id,
                                   models.Approval.target_model == type(record).__name__)
    assert field in json.loads(approval.judged)
    setattr(record, field, new_value(value))
    with acting_as(people["sales"]):
        record.save()
    stored = fresh(record)
    state_field, state = back_to
    assert getattr(stored, state_field + ("_id" if state_field == "approved_by" else "")) == state
    statuses = [r[2] for r in rows(record, rule_id)]
    assert statuses[-1] == "pending" and "approved" not in statuses, statuses
    assert approvals.is_pending(stored)
    # The same approvers decide again, and the new request judges the new value.
    approve_all(stored)
    assert "approved" in [r[2] for r in rows(record, rule_id)]


REFUSE = [
    pytest.param(approved_contract, "CTR-1", "customer", id="CTR-1 customer"),
    pytest.param(approved_shipment, "CRD-3", "customer", id="CRD-3 customer"),
]


@pytest.mark.parametrize("build, rule_id, field", REFUSE)
def test_changing_a_judged_field_marked_refuse_is_refused(people, build, rule_id, field):
    record = build(people)
    setattr(record, field, make(models.Customer, name="另一个客户"))
    exc = refused(rule_id, record.save)
    assert exc.field == field or field in {v.field for v in exc.violations}
    assert "已经审批,不能修改" in str(exc)


def test_destruction_file_is_refused_after_approval(people):
    expired = datetime.date(2020, 1, 1)  # ARC-11: only files past their retention may be destroyed
    destruction = make(models.Destruction, file=make(models.ArchiveFile, title="到期档案", retain_until=expired),
                       reason="到期")
    decide_all(destruction, people["gm"])
    destruction = fresh(destruction)
    destruction.file = make(models.ArchiveFile, title="另一份", retain_until=expired)
    refused("ARC-11", destruction.save)


def test_unjudged_fields_stay_editable_after_approval(people):
    contract = approved_contract(people)
    contract.has_settlement_terms = False
    contract.save()
    assert fresh(contract).status == "signed" and not approvals.is_pending(contract)


def test_the_details_page_says_what_each_judged_field_does(people, client, login_as):
    login_as("admin", username="boss", clearance="top_secret")
    contract = approved_contract(people)
    html = client.get(f"/admin/contract/details/?id={contract.id}").get_data(as_text=True)
    assert "批准后调高合同金额(元)将撤回原审批并重新送审;调低(不超过批准时的数值)不影响原审批。" in html
    assert "批准后不能修改客户。" in html


def test_every_lock_says_what_changing_it_does(app):
    for model in [m for m in models.MODELS if models.workflow_of(m) is not None and models.workflow_of(m).locks]:
        wf = models.workflow_of(model)
        assert set(wf.locks.values()) <= {"reask", "raise", "refuse"}, model.__name__
        notes = "".join(policies.workflow.lock_notes(model))
        for name in wf.locks:
            assert model._meta.fields[name].verbose_name in notes, (model.__name__, name)


# ---------------------------------------------------------------- "raise": a lower judged amount stays approved
def decided_state(record, rule_id):
    """Return "kept" when ``record``'s decision under ``rule_id`` is in force, "asked" when it is asked again."""
    statuses = [r[2] for r in rows(record, rule_id)]
    if statuses[-1] == "pending" and "approved" not in statuses:
        return "asked"
    assert "approved" in statuses and "pending" not in statuses, statuses
    return "kept"


# (builder, rule, field, judged value, one unit, the record's state while the decision is in force)
RAISE = [
    pytest.param(approved_contract, "CTR-1", "amount", D("120000"), D("1"), ("status", "signed"), id="CTR-1 amount"),
    pytest.param(approved_reception, "RCP-3", "gift_value", D("1200"), D("1"), ("status", "approved"),
                 id="RCP-3 gift"),
    pytest.param(approved_solution, "CMP-6", "compensation_amount", D("200"), D("1"), ("approved_at", "set"),
                 id="CMP-6 compensation"),
    pytest.param(approved_borrow, "ARC-5", "days", 2, 1, ("status", "approved"), id="ARC-5 days"),
    pytest.param(functools.partial(approved_shipment, amount="25000"), "CRD-3", "amount", D("25000"), D("1"),
                 ("status", "shipped"), id="CRD-3 amount"),
    pytest.param(approved_on_hold_shipment, "CRD-5", "amount", D("100"), D("1"), ("status", "shipped"),
                 id="CRD-5 amount"),
]


@pytest.mark.parametrize("build, rule_id, field, judged, unit, in_force", RAISE)
def test_a_judged_amount_lowered_keeps_the_decision_and_raised_asks_again(people, build, rule_id, field, judged,
                                                                          unit, in_force):
    record = build(people)
    state_field, state = in_force

    def save_with(value):
        current = fresh(record)
        setattr(current, field, value)
        with acting_as(people["sales"]):
            current.save()
        stored = fresh(record)
        if state == "set":
            assert getattr(stored, state_field) is not None
        else:
            assert getattr(stored, state_field) == state
        return decided_state(record, rule_id)

    assert decided_state(record, rule_id) == "kept"
    # At the judged value, one unit below (covered by the approval), and back up to the judged value.
    assert save_with(judged) == "kept"
    assert save_with(judged - unit) == "kept"
    assert save_with(judged) == "kept"
    assert len(rows(record, rule_id)) == 1
    # One unit above what was approved: the decision is withdrawn and the same approvers asked again.
    current = fresh(record)
    setattr(current, field, judged + unit)
    with acting_as(people["sales"]):
        current.save()
    assert decided_state(record, rule_id) == "asked"
    assert approvals.is_pending(fresh(record))


# ---------------------------------------------------------------- the examples of issue 8
def test_issue8_a_120000_contract_raised_to_9000000_is_asked_again(people):
    contract = approved_contract(people)
    assert contract.status == "signed"
    contract.amount = D("9000000")
    contract.save()
    assert fresh(contract).status == "pending"
    assert rows(contract, "CTR-1") == [("CTR-1", "manager", "withdrawn"), ("CTR-1", "manager", "pending")]


def test_issue8_a_gm_approved_compensation_raised_to_200000_is_no_longer_approved(people):
    solution = approved_solution(people)
    complaint = solution.complaint
    solution.compensation_amount = D("200000")
    solution.save()
    assert fresh(solution).approved_by_id is None
    run(complaint, "investigate")
    make(models.Investigation, complaint=complaint)
    run(fresh(complaint), "propose")
    refused("CMP-6", lambda: run(fresh(complaint), "reply"))


def test_issue8_over_limit_shipments_approved_one_by_one_stop_at_the_third(people):
    customer = credit_ready_customer(department=people["dept"])
    today = policies.credit.local_today()
    make(models.CreditLine, customer=customer, limit=D("90000"), valid_from=today - datetime.timedelta(days=30),
         valid_to=today + datetime.timedelta(days=365))
    make(models.Shipment, customer=customer, invoice_no="INV-BASE", amount=D("70000"),
         shipped_on=policies.credit.local_today() - datetime.timedelta(days=2), prepaid=False)
    with acting_as(people["sales"]):
        first = make(models.Shipment, customer=customer, invoice_no="INV-1", amount=D("29000"),
                     shipped_on=policies.credit.local_today() - datetime.timedelta(days=1), prepaid=False)
        second = make(models.Shipment, customer=customer, invoice_no="INV-2", amount=D("29000"),
                      shipped_on=policies.credit.local_today() - datetime.timedelta(days=1), prepaid=False)
    assert fresh(first).status == fresh(second).status == "pending"
    decide_all(first, people["manager"])
    assert fresh(first).status == "shipped"   # 99,000 owed: 9,000 above the 90,000 limit
    [row] = approvals.pending_for(second)
    with pytest.raises(approvals.ApprovalError, match="已达授信额的 1/3,不能批准") as exc:
        approvals.decide(row.id, people["manager"], True)
    assert "CRD-3" in str(exc.value)
    assert fresh(second).status == "pending" and policies.credit.outstanding(customer.id) == D("99000")
    # Cancelling the first (a ledger reversal, with a reason) brings the exposure back.
    run(fresh(first), "cancel", people["manager"], reason="开票有误,冲销")
    approvals.decide(row.id, people["manager"], True)
    assert fresh(second).status == "shipped"


def test_issue8_an_open_loan_cannot_be_deleted_and_the_ledger_keeps_its_line(app):
    from factories import make_loan

    loan = make_loan()
    refused("ARC-6", loan.delete_instance)
    assert fresh(loan).returned_at is None and fresh(loan.file).status == "on_loan"


def test_a_shipped_shipment_is_reversed_not_deleted(people):
    shipment = approved_shipment(people)
    with pytest.raises(policies.PolicyViolation, match="台账记录,不能删除"):
        shipment.delete_instance()
    with pytest.raises(policies.PolicyViolation, match="须填写原因"):
        run(shipment, "cancel", people["manager"])
    run(shipment, "cancel", people["manager"], reason="客户退货,冲销发票")
    cancelled = fresh(shipment)
    assert cancelled.status == "cancelled"
    trail = models.AuditLog.select().where(models.AuditLog.model == "Shipment",
                                           models.AuditLog.record_id == str(shipment.id))
    assert any("客户退货,冲销发票" in row.changes for row in trail)
    cancelled.delete_instance()  # a cancelled shipment is no longer a ledger line


def test_a_payment_is_reversed_with_a_reason_never_deleted(people):
    customer = credit_ready_customer(department=people["dept"])
    payment = make(models.Payment, customer=customer, amount=D("3000"), received_on=datetime.date(2026, 6, 5))
    before = policies.credit.outstanding(customer.id)
    with pytest.raises(policies.PolicyViolation, match="台账记录,不能删除"):
        payment.delete_instance()
    with pytest.raises(policies.PolicyViolation, match="须由具有"):
        run(payment, "reverse", people["sales"], reason="重复录入")
    with pytest.raises(policies.PolicyViolation, match="须填写原因"):
        run(payment, "reverse", people["manager"])
    typed = fresh(payment)
    typed.reversed_at = models.utcnow()
    refused("CRD-2", typed.save)
    run(fresh(payment), "reverse", people["manager"], reason="重复录入,银行流水仅一笔")
    reversed_one = fresh(payment)
    assert reversed_one.reversed_at is not None and reversed_one.reversal_reason == "重复录入,银行流水仅一笔"
    assert policies.credit.outstanding(customer.id) == before + D("3000")
    with pytest.raises(policies.PolicyViolation, match="当前状态为「已冲销」"):
        run(reversed_one, "reverse", people["manager"], reason="再次")


# ---------------------------------------------------------------- every lock of the schema is exercised above
BUILT = {approved_contract: models.Contract, approved_reception: models.Reception, approved_solution: models.Solution,
         approved_borrow: models.BorrowRequest, approved_shipment: models.Shipment,
         approved_on_hold_shipment: models.Shipment, approved_access: models.AccessRequest}


def test_every_judged_field_of_every_workflow_has_its_test():
    declared = {(m, name, how) for m in models.MODELS if models.workflow_of(m) is not None
                for name, how in models.workflow_of(m).locks.items()}
    tested = set()
    for table, how in ((REASK, None), (RAISE, "raise"), (REFUSE, "refuse")):
        for param in table:
            build, field = param.values[0], param.values[2]
            model = BUILT[getattr(build, "func", build)]
            tested.add((model, field, how or models.workflow_of(model).locks[field]))
    tested.add((models.Destruction, "file", "refuse"))  # test_destruction_file_is_refused_after_approval
    assert declared == tested


def test_issue8_a_contract_raised_on_its_edit_form_is_asked_again(people, client, login_as):
    contract = approved_contract(people)
    login_as("manager", username="xiaoshou_zhuguan", department=people["dept"])
    url = f"/admin/contract/edit/?id={contract.id}"
    form = {"csrf_token": csrf_token(client, url), "version": str(fresh(contract).version),
            "customer": str(contract.customer_id), "number": contract.number, "kind": contract.kind,
            "amount": "9000000", "has_settlement_terms": "y"}
    assert client.post(url, data=form).status_code == 302
    stored = fresh(contract)
    assert (stored.amount, stored.status) == (D("9000000"), "pending")
    assert rows(contract, "CTR-1") == [("CTR-1", "manager", "withdrawn"), ("CTR-1", "manager", "pending")]
    html = client.get(f"/admin/contract/details/?id={contract.id}").get_data(as_text=True)
    assert 'id="workflow-state">待审批<' in html
