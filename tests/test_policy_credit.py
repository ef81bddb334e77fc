"""Credit and contract rules at their boundaries, through save(), the generated form and their approvals."""
import datetime
from decimal import Decimal

import pytest

import models
import policies
from conftest import csrf_token
from conftest import make_user
from conftest import submit
from factories import credit_ready_customer
from factories import form_data
from factories import make
from factories import view_for
from factories import decide_refused
from factories import locked
from factories import fresh
from factories import acting_as as acting
from factories import refused
from factories import run
from factories import contract_in
from policies import approvals
from policies.credit import outstanding

# A unified social credit code with a valid GB 32100 check character (licence and tax number).
CODE = "91330100MA0000004Q"

D = Decimal
YEAR = datetime.date(2026, 1, 1)


@pytest.fixture(autouse=True)
def today(monkeypatch):
    """Pin the office's 'today' (CRD-1's year, CRD-5's day of entry) to 1 January 2026 unless a test moves it."""
    current = {"day": datetime.date(2026, 1, 1)}
    monkeypatch.setattr(policies.credit, "local_today", lambda: current["day"])

    def set_today(day):
        current["day"] = day
        return day
    return set_today


def approvals_for(record, rule_id):
    return list(models.Approval.select().where(
        models.Approval.target_model == type(record).__name__, models.Approval.target_id == record.id,
        models.Approval.rule == rule_id))


def credit_line(customer, limit, status="active", valid_from=YEAR, valid_to=datetime.date(2026, 12, 31)):
    return make(models.CreditLine, customer=customer, limit=D(limit), status=status,
                valid_from=valid_from, valid_to=valid_to)


def ship(customer, amount, on=datetime.date(2026, 6, 1), prepaid=False, **extra):
    return make(models.Shipment, customer=customer, invoice_no=extra.pop("invoice_no", f"INV-{amount}-{on}"),
                amount=D(amount), shipped_on=on, prepaid=prepaid, **extra)


def pay(customer, amount, on=datetime.date(2026, 6, 1)):
    return make(models.Payment, customer=customer, amount=D(amount), received_on=on)


@pytest.fixture
def people(app):
    """A salesperson of 销售一部, its manager, the sales director named its manager, another department's manager."""
    sales_dept = models.Department.create(name="销售部")
    first = models.Department.create(name="销售一部", parent=sales_dept)
    second = models.Department.create(name="销售二部", parent=sales_dept)
    director = make_user("c_director", roles=("manager",), department=sales_dept)
    first.manager = director
    first.save()
    return dict(
        dept=first,
        sales=make_user("c_sales", roles=("sales",), department=first),
        manager=make_user("c_manager", roles=("manager",), department=first),
        director=director,
        other_manager=make_user("c_other", roles=("manager",), department=second),
    )


# ---------------------------------------------------------------- CRD-1
def test_crd1_granted_when_archive_licence_contract_and_last_year_cleared(app):
    customer = credit_ready_customer()
    last_year_end = datetime.date(policies.credit.local_today().year - 1, 12, 31)
    ship(customer, "1000.00", on=last_year_end, prepaid=True)
    pay(customer, "1000.00", on=last_year_end)
    line = credit_line(customer, "50000")
    assert line.id is not None


def test_crd1_last_years_receivables_not_cleared_by_one_fen_but_cleared_by_a_payment_in_january(app, today):
    year = today(datetime.date(2026, 3, 1)).year
    customer = credit_ready_customer()
    ship(customer, "1000.00", on=datetime.date(year - 1, 12, 31), prepaid=True)
    pay(customer, "999.99", on=datetime.date(year - 1, 12, 31))
    exc = refused("CRD-1", lambda: credit_line(customer, "50000"))
    assert "客户上年度货款未清零(尚欠 0.01 元),不能授信(CRD-1,000 篇五 1.1)" in str(exc)
    assert models.CreditLine.select().count() == 0
    # Last December's invoice paid on 15 January: cleared, the customer gets credit for the year.
    pay(customer, "0.01", on=datetime.date(year, 1, 15))
    credit_line(customer, "50000")


def test_crd1_payments_clear_the_oldest_shipments_first_and_future_payments_count_for_nothing(app, today):
    year = today(datetime.date(2026, 3, 1)).year
    customer = credit_ready_customer()
    ship(customer, "800.00", on=datetime.date(year - 2, 6, 1), prepaid=True, invoice_no="OLD-1")
    ship(customer, "200.00", on=datetime.date(year - 1, 6, 1), prepaid=True, invoice_no="OLD-2")
    ship(customer, "5000.00", on=datetime.date(year, 1, 10), prepaid=True, invoice_no="NEW-1")
    pay(customer, "1000.00", on=datetime.date(year, 1, 20))
    credit_line(customer, "50000")
    # A payment dated after today clears nothing yet.
    other = credit_ready_customer()
    ship(other, "500.00", on=datetime.date(year - 1, 6, 1), prepaid=True, invoice_no="OLD-3")
    pay(other, "500.00", on=datetime.date(year, 3, 2))
    exc = refused("CRD-1", lambda: credit_line(other, "50000"))
    assert "尚欠 500.00 元" in str(exc)


def test_crd1_needs_an_established_customer(app):
    customer = credit_ready_customer()
    customer = fresh(customer)
    customer.approved_by = None
    with approvals.unlocked():
        customer.save()
    exc = refused("CRD-1", lambda: credit_line(customer, "50000"))
    assert "尚未经销售总监审批确认" in str(exc)


def test_crd1_needs_a_signed_contract_with_settlement_terms(app):
    customer = make(models.Customer, licence_no="91330100MA00000098")
    make(models.ArchiveFile, number="KHDA-S", title="客户档案", customer=customer, kind="customer")
    contract_in("signed", customer=customer, number="HT-NS", amount=D("20000"), has_settlement_terms=False)
    exc = refused("CRD-1", lambda: credit_line(customer, "50000"))
    assert "未含结算协议" in str(exc)
    contract_in("signed", customer=customer, number="HT-S", amount=D("20000"))
    credit_line(customer, "50000")


def test_crd1_needs_a_customer_archive_that_is_not_destroyed(app):
    customer = make(models.Customer, licence_no="91330100MA0000001F")
    contract_in("signed", customer=customer, number="HT-A", amount=D("20000"))
    exc = refused("CRD-1", lambda: credit_line(customer, "50000"))
    assert "客户尚未建立客户档案" in str(exc)
    make(models.ArchiveFile, number="KHDA-X", title="客户档案", customer=customer, kind="new_vehicle")
    refused("CRD-1", lambda: credit_line(customer, "50000"))
    make(models.ArchiveFile, number="KHDA-Y", title="客户档案", customer=customer, kind="customer")
    credit_line(customer, "50000")


def test_crd1_needs_licence_or_id_number_and_a_signed_contract(app):
    customer = make(models.Customer)
    make(models.ArchiveFile, number="KHDA-Z", title="客户档案", customer=customer, kind="customer")
    make(models.Contract, customer=customer, number="HT-D", amount=D("20000"), status="draft")
    exc = refused("CRD-1", lambda: credit_line(customer, "50000"))
    messages = [v.message for v in exc.violations]
    assert any("营业执照号或开户人身份证号" in m for m in messages)
    assert any("尚未签订业务合同" in m for m in messages)
    customer.consent_at = models.utcnow()
    customer.id_number = "330106198001010013"
    customer.save()
    contract_in("completed", customer=customer, number="HT-C", amount=D("20000"))
    credit_line(customer, "50000")


def test_crd1_only_checks_active_lines(app):
    customer = make(models.Customer)
    credit_line(customer, "50000", status="suspended")
    assert models.CreditLine.select().count() == 1


def test_crd1_refused_in_the_generated_form(app, admin_client):
    customer = make(models.Customer, name="无档案客户", licence_no="91330100MA0000002J")
    view = view_for(app, models.CreditLine)
    data = form_data(view, models.CreditLine(customer=customer, limit=D("50000"), valid_from=YEAR,
                                             valid_to=datetime.date(2026, 12, 31), status="active"))
    response = submit(admin_client, "/admin/creditline/new/", data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "客户尚未建立客户档案,不能授信(CRD-1,000 篇五 1.1)" in html
    assert models.CreditLine.select().count() == 0


# ---------------------------------------------------------------- CRD-2 / CRD-3
def test_crd2_exactly_at_the_limit_is_within_it(app):
    customer = credit_ready_customer()
    credit_line(customer, "90000")
    ship(customer, "70000")
    pay(customer, "10000")
    shipment = ship(customer, "30000")  # 60,000 outstanding + 30,000 = the limit
    assert shipment.over_limit is False
    assert models.Shipment.get_by_id(shipment.id).over_limit is False
    assert approvals_for(shipment, "CRD-3") == [] and fresh(shipment).status == "shipped"


def test_crd3_exactly_a_third_of_the_limit_is_refused_a_fen_less_needs_the_manager(app):
    customer = credit_ready_customer()
    credit_line(customer, "90000")
    ship(customer, "70000")
    exc = refused("CRD-3", lambda: ship(customer, "30000.00"))
    assert "本次发货额须小于授信额的 1/3(授信额 90,000.00 元)" in str(exc)
    assert "(CRD-3,000 篇五 2.2)" in str(exc)
    assert exc.field == "amount"
    assert models.Shipment.select().count() == 1
    shipment = ship(customer, "29999.99")
    assert models.Shipment.get_by_id(shipment.id).over_limit is True
    [approval] = approvals_for(shipment, "CRD-3")
    assert approval.required_role == "manager" and approval.status == "pending"
    assert models.RuleEvent.select().where(models.RuleEvent.rule == "CRD-2",
                                           models.RuleEvent.kind == "compute").count() == 1


def test_crd3_prepaid_shipment_is_neither_over_the_limit_nor_capped(app):
    customer = credit_ready_customer()
    credit_line(customer, "90000")
    ship(customer, "70000")
    shipment = ship(customer, "50000", prepaid=True)
    assert shipment.over_limit is False
    assert approvals_for(shipment, "CRD-3") == []


def test_crd3_share_setting_takes_effect_without_restart(app):
    customer = credit_ready_customer()
    credit_line(customer, "90000")
    ship(customer, "70000")
    policies.RULES["CRD-3"].configure(divisor=2)
    shipment = ship(customer, "44999.99")
    assert shipment.over_limit is True
    refused("CRD-3", lambda: ship(customer, "45000", invoice_no="INV-HALF"))


def test_crd3_refused_in_the_generated_form(app, admin_client):
    customer = credit_ready_customer(name="超授信客户")
    credit_line(customer, "90000")
    ship(customer, "70000")
    view = view_for(app, models.Shipment)
    data = form_data(view, models.Shipment(customer=customer, invoice_no="INV-FORM", amount=D("30000"),
                                           shipped_on=datetime.date(2026, 6, 2)))
    response = submit(admin_client, "/admin/shipment/new/", data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "(CRD-3,000 篇五 2.2)" in html and "须小于授信额的 1/3" in html
    assert models.Shipment.select().count() == 1


# ---------------------------------------------------------------- CRD-4
def test_crd4_without_a_credit_line_only_prepaid(app):
    customer = make(models.Customer)
    exc = refused("CRD-4", lambda: ship(customer, "100"))
    assert "须现金(预付款)开票提货(CRD-4,000 篇五 1.4.1)" in str(exc)
    assert exc.field == "prepaid"
    ship(customer, "100", prepaid=True)
    assert models.Shipment.select().count() == 1


def test_crd4_line_valid_to_its_last_day_and_only_when_active(app):
    customer = credit_ready_customer()
    credit_line(customer, "90000", valid_to=datetime.date(2026, 6, 30))
    ship(customer, "100", on=datetime.date(2026, 6, 30))
    refused("CRD-4", lambda: ship(customer, "100", on=datetime.date(2026, 7, 1)))
    other = credit_ready_customer()
    credit_line(other, "90000", status="suspended")
    refused("CRD-4", lambda: ship(other, "100"))


def test_crd4_refused_in_the_generated_form(app, admin_client):
    customer = make(models.Customer, name="未授信客户")
    view = view_for(app, models.Shipment)
    data = form_data(view, models.Shipment(customer=customer, invoice_no="INV-CASH", amount=D("100"),
                                           shipped_on=datetime.date(2026, 6, 2), prepaid=False))
    response = submit(admin_client, "/admin/shipment/new/", data)
    assert response.status_code == 200
    assert "(CRD-4,000 篇五 1.4.1)" in response.get_data(as_text=True)
    assert models.Shipment.select().count() == 0


def test_crd4_editing_an_old_shipment_after_the_line_expired_is_not_refused(app):
    customer = credit_ready_customer()
    line = credit_line(customer, "90000")
    shipment = ship(customer, "100")
    line.status = "expired"
    line.save()
    shipment.invoice_no = "INV-CORRECTED"
    shipment.save()


# ---------------------------------------------------------------- CRD-5
def test_crd5_unpaid_thirty_days_is_fine_thirty_one_puts_on_hold(app):
    customer = credit_ready_customer()
    credit_line(customer, "500000")
    ship(customer, "1000", on=datetime.date(2026, 3, 1))
    on_day_30 = ship(customer, "100", on=datetime.date(2026, 3, 31))
    assert approvals_for(on_day_30, "CRD-5") == [] and fresh(on_day_30).status == "shipped"
    on_day_31 = ship(customer, "100", on=datetime.date(2026, 4, 1))
    [approval] = approvals_for(on_day_31, "CRD-5")
    assert approval.required_role == "manager" and approval.status == "pending"


def test_crd5_a_shipment_back_dated_40_days_does_not_escape_the_hold(app, today):
    customer = credit_ready_customer()
    credit_line(customer, "500000")
    ship(customer, "1000", on=datetime.date(2026, 3, 1))
    today(datetime.date(2026, 4, 10))
    back_dated = ship(customer, "100", on=datetime.date(2026, 3, 1), invoice_no="BACK")
    assert fresh(back_dated).status == "pending" and len(approvals_for(back_dated, "CRD-5")) == 1
    # Paid in full before the back-dated one is entered: no hold.
    pay(customer, "1000", on=datetime.date(2026, 4, 10))
    clear = ship(customer, "100", on=datetime.date(2026, 3, 2), invoice_no="CLEAR")
    assert fresh(clear).status == "shipped" and approvals_for(clear, "CRD-5") == []


def test_crd5_a_prepaid_shipment_to_a_held_customer_asks_nobody(app):
    customer = credit_ready_customer()
    credit_line(customer, "500000")
    ship(customer, "1000", on=datetime.date(2026, 3, 1))
    cash = ship(customer, "100", on=datetime.date(2026, 4, 1), prepaid=True)
    assert approvals_for(cash, "CRD-5") == [] and fresh(cash).status == "shipped"


def test_crd5_on_hold_query_at_the_boundary_and_payments_release(app):
    customer = credit_ready_customer()
    credit_line(customer, "500000")
    ship(customer, "1000", on=datetime.date(2026, 3, 1))

    def held(day):
        return customer.id in {c.id for c in policies.credit.on_hold(today=day)}

    assert not held(datetime.date(2026, 3, 31))
    assert held(datetime.date(2026, 4, 1))
    pay(customer, "999.99", on=datetime.date(2026, 3, 20))
    assert held(datetime.date(2026, 4, 1))
    pay(customer, "0.01", on=datetime.date(2026, 4, 2))
    assert held(datetime.date(2026, 4, 1))  # not received yet on that day
    assert not held(datetime.date(2026, 4, 2))


# ---------------------------------------------------------------- CTR-1
def test_ctr1_99999_asks_nothing_100000_waits_for_the_manager(app):
    customer = make(models.Customer)
    small = make(models.Contract, customer=customer, number="HT-S", amount=D("99999.99"), status="draft")
    assert small.status == "draft" and approvals_for(small, "CTR-1") == []
    big = make(models.Contract, customer=customer, number="HT-B", amount=D("100000"), status="draft")
    assert models.Contract.get_by_id(big.id).status == "pending"
    [approval] = approvals_for(big, "CTR-1")
    assert approval.required_role == "manager" and approval.status == "pending"


def test_ctr1_signed_becomes_pending_completed_keeps_its_status(app):
    customer = make(models.Customer, licence_no=CODE, tax_no=CODE, bank_account="6222020200000000000",
                    consent_at=models.utcnow())
    signed = make(models.Contract, customer=customer, number="HT-SG", amount=D("150000"))
    assert models.Contract.get_by_id(signed.id).status == "pending"
    with pytest.raises(policies.PolicyViolation, match="「状态」"):
        make(models.Contract, customer=customer, number="HT-X", amount=D("150000"), status="signed")
    done = contract_in("completed", customer=customer, number="HT-DN", amount=D("150000"))
    assert models.Contract.get_by_id(done.id).status == "completed"
    assert len(approvals_for(done, "CTR-1")) == 1


def test_ctr1_raising_the_amount_to_the_threshold_asks_once(app, people):
    customer = make(models.Customer, licence_no=CODE, tax_no=CODE, bank_account="6222020200000000002",
                    consent_at=models.utcnow(), department=people["dept"])
    with acting(people["sales"]):
        contract = make(models.Contract, customer=customer, number="HT-R", amount=D("50000"), status="draft")
        contract.amount = D("100000")
        contract.save()
    assert contract.status == "pending" and len(approvals_for(contract, "CTR-1")) == 1
    contract.amount = D("120000")
    locked(contract)
    approvals.withdraw(fresh(contract), people["sales"])
    contract = fresh(contract)
    contract.amount = D("120000")  # a draft again: editing it asks nothing
    contract.save()
    assert contract.status == "draft" and len(approvals_for(contract, "CTR-1")) == 1


def test_ctr1_through_the_generated_form(app, admin_client):
    customer = make(models.Customer, name="大合同客户")
    view = view_for(app, models.Contract)
    data = form_data(view, models.Contract(customer=customer, number="HT-FORM", amount=D("100000"), status="draft"))
    response = submit(admin_client, "/admin/contract/new/", data)
    assert response.status_code == 302
    contract = models.Contract.get(models.Contract.number == "HT-FORM")
    assert contract.status == "pending" and len(approvals_for(contract, "CTR-1")) == 1


# ---------------------------------------------------------------- CTR-2
def test_ctr2_new_customer_without_documents_below_and_at_the_threshold(app):
    customer = make(models.Customer, licence_no="91330100MA0000003M")
    make(models.Contract, customer=customer, number="HT-49", amount=D("49999.99"))
    big = make(models.Contract, customer=customer, number="HT-50", amount=D("50000"))
    exc = refused("CTR-2", lambda: run(big, "sign"))
    assert "须先在客户档案中登记税务登记号、银行账号(CTR-2,003 第二十八条(二))" in str(exc)
    assert exc.field == "customer"
    assert fresh(big).status == "draft"


def test_ctr2_a_draft_may_wait_for_the_documents_signing_may_not(app):
    customer = make(models.Customer)
    draft = make(models.Contract, customer=customer, number="HT-DR", amount=D("60000"), status="draft")
    refused("CTR-2", lambda: run(draft, "sign"))
    assert models.Contract.get_by_id(draft.id).status == "draft"


def test_ctr2_documents_on_file_or_an_earlier_signed_contract_pass(app):
    documented = make(models.Customer, licence_no=CODE, tax_no=CODE, bank_account="6222020200000000001",
                      consent_at=models.utcnow())
    contract_in("signed", customer=documented, number="HT-OK", amount=D("60000"))
    # A customer with an earlier contract of the amount (signed before the rule was switched on) is not new.
    known = make(models.Customer)
    policies.RULES["CTR-2"].configure(enabled=False)
    contract_in("completed", customer=known, number="HT-OLD", amount=D("50000"))
    policies.RULES["CTR-2"].configure(enabled=True)
    contract_in("signed", customer=known, number="HT-NEXT", amount=D("60000"))
    assert models.Contract.select().count() == 3


def test_ctr2_a_tiny_first_contract_does_not_exempt_a_large_one(app):
    customer = make(models.Customer)
    contract_in("signed", customer=customer, number="HT-TINY", amount=D("100"))
    exc = refused("CTR-2", lambda: contract_in("signed", customer=customer, number="HT-BIG", amount=D("2000000")))
    assert "营业执照号" in str(exc)
    # Raising a signed small contract to the amount afterwards is refused too.
    small = contract_in("signed", customer=customer, number="HT-SMALL", amount=D("49999.99"))
    small = fresh(small)
    small.amount = D("50000")
    refused("CTR-2", small.save)


def test_ctr2_refused_in_the_generated_form(app, admin_client):
    customer = make(models.Customer, name="新客户")
    view = view_for(app, models.Contract)
    data = form_data(view, models.Contract(customer=customer, number="HT-NEW", amount=D("50000")))
    assert "status" not in data and "signed_on" not in data
    assert submit(admin_client, "/admin/contract/new/", data).status_code == 302
    contract = models.Contract.get(models.Contract.number == "HT-NEW")
    url = f"/admin/contract/details/?id={contract.id}"
    response = admin_client.post("/admin/contract/workflow/", data={
        "csrf_token": csrf_token(admin_client, url), "id": contract.id, "action": "sign", "next": url},
        follow_redirects=True)
    assert "(CTR-2,003 第二十八条(二))" in response.get_data(as_text=True)
    assert fresh(contract).status == "draft"


# ---------------------------------------------------------------- CRD-3 / CRD-5 / CTR-1 approvals
def over_limit_shipment(people, amount="29999.99"):
    """Return a customer of 销售一部 owing 70,000 of a 90,000 line and a pending over-limit shipment."""
    customer = credit_ready_customer(department=people["dept"])
    credit_line(customer, "90000")
    ship(customer, "70000")
    with acting(people["sales"]):
        shipment = ship(customer, amount, invoice_no="INV-OVER")
    return customer, shipment


def test_crd3_over_limit_shipment_waits_for_its_regional_manager_and_is_not_owed_until_signed(app, people):
    customer, shipment = over_limit_shipment(people)
    assert fresh(shipment).status == "pending"
    [approval] = approvals_for(shipment, "CRD-3")
    assert (approval.required_role, approval.department_id, approval.requested_by_id, approval.status) == (
        "manager", people["dept"].id, people["sales"].id, "pending")
    assert outstanding(customer.id) == D("70000")
    assert shipment.id not in {row.id for row in models.Shipment.shipped()}
    shipment.invoice_no = "INV-CHANGED"
    locked(shipment)
    assert decide_refused(approval, people["other_manager"]) == "该申请须由所属部门的部门经理审批。"
    assert decide_refused(approval, people["sales"]) == "不能审批自己发起的申请。"
    approvals.decide(approval.id, people["manager"], True, "同意发货,月底前回款")
    signed = fresh(shipment)
    assert (signed.status, signed.signed_by_id, signed.invoice_no) == ("shipped", people["manager"].id, "INV-OVER")
    assert outstanding(customer.id) == D("99999.99")
    signed.invoice_no = "INV-CORRECTED"
    signed.save()


def test_crd3_the_sales_director_named_manager_of_the_department_may_sign(app, people):
    _customer, shipment = over_limit_shipment(people)
    [approval] = approvals_for(shipment, "CRD-3")
    approvals.decide(approval.id, people["director"], True)
    assert fresh(shipment).signed_by_id == people["director"].id


def test_crd3_rejection_cancels_the_shipment(app, people):
    customer, shipment = over_limit_shipment(people)
    [approval] = approvals_for(shipment, "CRD-3")
    assert decide_refused(approval, people["manager"], approve=False) == "驳回时必须填写审批意见。"
    approvals.decide(approval.id, people["manager"], False, "欠款过多,先回款")
    cancelled = fresh(shipment)
    assert cancelled.status == "cancelled" and cancelled.signed_by_id is None
    assert outstanding(customer.id) == D("70000")
    cancelled.invoice_no = "INV-VOID"  # editable; still cancelled
    cancelled.save()
    assert fresh(shipment).status == "cancelled" and not approvals.is_pending(cancelled)


def test_crd3_withdrawal_cancels_changed_terms_submit_the_shipment_again(app, people):
    customer, shipment = over_limit_shipment(people)
    approvals.withdraw(fresh(shipment), people["sales"])
    withdrawn = fresh(shipment)
    assert withdrawn.status == "cancelled" and not approvals.is_pending(withdrawn)
    withdrawn.amount = D("25000")  # still over the limit: asks again
    with acting(people["sales"]):
        withdrawn.save()
    assert fresh(shipment).status == "pending" and len(approvals_for(shipment, "CRD-3")) == 2
    approvals.withdraw(fresh(shipment), people["sales"])
    within = fresh(shipment)
    within.amount = D("20000")  # within the limit now: ships without asking
    within.save()
    assert fresh(shipment).status == "shipped" and len(approvals_for(shipment, "CRD-3")) == 2
    assert outstanding(customer.id) == D("90000")


def test_crd5_on_hold_shipment_ships_when_approved_and_is_cancelled_when_rejected(app, people):
    customer = credit_ready_customer(department=people["dept"])
    credit_line(customer, "500000")
    ship(customer, "1000", on=datetime.date(2026, 3, 1))
    with acting(people["sales"]):
        approved = ship(customer, "100", on=datetime.date(2026, 4, 1))
        rejected = ship(customer, "200", on=datetime.date(2026, 4, 2))
    for shipment in (approved, rejected):
        [approval] = approvals_for(shipment, "CRD-5")
        assert (approval.required_role, approval.department_id) == ("manager", people["dept"].id)
        assert fresh(shipment).status == "pending"
        assert decide_refused(approval, people["other_manager"]) == "该申请须由所属部门的部门经理审批。"
    approvals.decide(approvals_for(approved, "CRD-5")[0].id, people["manager"], True)
    approvals.decide(approvals_for(rejected, "CRD-5")[0].id, people["manager"], False, "先结清三月货款")
    assert (fresh(approved).status, fresh(approved).signed_by_id) == ("shipped", people["manager"].id)
    assert fresh(rejected).status == "cancelled"
    assert outstanding(customer.id) == D("1100")


def test_crd5_a_shipment_waiting_for_its_signature_puts_no_one_on_hold(app, people):
    customer, shipment = over_limit_shipment(people)
    pay(customer, "70000", on=datetime.date(2026, 6, 1))

    def held():
        return customer.id in {c.id for c in policies.credit.on_hold(today=datetime.date(2026, 7, 15))}

    assert not held()
    [approval] = approvals_for(shipment, "CRD-3")
    approvals.decide(approval.id, people["manager"], True)
    assert held()


def test_crd1_a_cancelled_shipment_of_last_year_is_not_owed(app):
    customer = credit_ready_customer()
    old = make(models.Shipment, customer=customer, invoice_no="INV-OLD", amount=D("1000"), prepaid=True,
               shipped_on=datetime.date(policies.credit.local_today().year - 1, 12, 31))
    run(old, "cancel", reason="开错发票,冲销")
    assert credit_line(customer, "50000").id is not None


def documented_customer(people):
    """Return a customer of 销售一部 with licence, tax and bank documents on file (CTR-2)."""
    return make(models.Customer, department=people["dept"], licence_no=CODE, tax_no=CODE,
                bank_account="6222020200000000003", consent_at=models.utcnow())


def test_ctr1_approval_signs_the_contract(app, people):
    customer = documented_customer(people)
    with acting(people["sales"]):
        contract = make(models.Contract, customer=customer, number="HT-AP", amount=D("100000"), status="draft")
    [approval] = approvals_for(contract, "CTR-1")
    assert (approval.required_role, approval.department_id, approval.requested_by_id) == (
        "manager", people["dept"].id, people["sales"].id)
    contract.kind = "direct"
    locked(contract)
    assert decide_refused(approval, people["other_manager"]) == "该申请须由所属部门的部门经理审批。"
    approvals.decide(approval.id, people["manager"], True, "同意签订")
    signed = fresh(contract)
    assert (signed.status, signed.signed_on, signed.kind) == ("signed", policies.workflow.today(), "distribution")
    signed.has_settlement_terms = False
    signed.save()


def test_ctr1_rejection_returns_to_draft_putting_it_forward_asks_again(app, people):
    customer = documented_customer(people)
    with acting(people["sales"]):
        contract = make(models.Contract, customer=customer, number="HT-RJ", amount=D("150000"), status="draft")
    [approval] = approvals_for(contract, "CTR-1")
    approvals.decide(approval.id, people["manager"], False, "价格条款需重新谈判")
    draft = fresh(contract)
    assert draft.status == "draft" and not approvals.is_pending(draft)
    draft.amount = D("140000")  # editable; a draft asks nothing
    draft.save()
    assert len(approvals_for(contract, "CTR-1")) == 1
    with acting(people["sales"]):
        run(fresh(contract), "sign", people["sales"])
    assert fresh(contract).status == "pending" and len(approvals_for(contract, "CTR-1")) == 2
    approvals.withdraw(fresh(contract), people["sales"])
    assert fresh(contract).status == "draft" and not approvals.is_pending(contract)
    with acting(people["sales"]):
        run(fresh(contract), "sign", people["sales"])
    [third] = approvals.pending_for(contract)
    approvals.decide(third.id, people["manager"], True, "同意")
    assert fresh(contract).status == "signed"


def on_day(day, status, **fields):
    """Return a contract brought to ``status`` by its actions on ``day`` ("pending": signed, not decided)."""
    with policies.workflow.clock(datetime.datetime.combine(day, datetime.time(4, 0))):
        return contract_in(status, **fields)


def test_ctr1_cumulative_three_contracts_of_60000(app, people):
    customer = documented_customer(people)
    first = on_day(datetime.date(2026, 3, 1), "pending", customer=customer, number="HT-C1", amount=D("60000"))
    assert fresh(first).status == "signed" and approvals_for(first, "CTR-1") == []
    second = on_day(datetime.date(2026, 5, 1), "pending", customer=customer, number="HT-C2", amount=D("40000"))  # 100,000 reached with this one
    assert fresh(second).status == "pending" and len(approvals_for(second, "CTR-1")) == 1
    third = on_day(datetime.date(2026, 6, 1), "pending", customer=customer, number="HT-C3", amount=D("60000"))
    assert fresh(third).status == "pending"
    # Another customer's contracts and last year's do not count.
    other = documented_customer(people)
    last_year = on_day(datetime.date(2025, 12, 31), "pending", customer=other, number="HT-O0", amount=D("60000"))
    this_year = on_day(datetime.date(2026, 3, 1), "pending", customer=other, number="HT-O1", amount=D("60000"))
    assert fresh(last_year).status == "signed" and fresh(this_year).status == "signed"


def test_ctr1_year_boundary_and_drafts_do_not_count(app, people):
    customer = documented_customer(people)
    on_day(datetime.date(2025, 12, 31), "pending", customer=customer, number="HT-Y1", amount=D("99999.99"))
    january = on_day(datetime.date(2026, 1, 1), "pending", customer=customer, number="HT-Y2", amount=D("0.01"))
    assert fresh(january).status == "signed"
    on_day(datetime.date(2026, 2, 1), "draft", customer=customer, number="HT-Y3", amount=D("99999.98"))  # a draft does not count towards the year
    small = on_day(datetime.date(2026, 2, 2), "pending", customer=customer, number="HT-Y4", amount=D("99999.98"))
    assert fresh(small).status == "signed"  # 0.01 + 99,999.98 = 99,999.99
    reaching = on_day(datetime.date(2026, 2, 3), "pending", customer=customer, number="HT-Y5", amount=D("0.01"))
    assert fresh(reaching).status == "pending"


def test_ctr1_back_dating_into_a_full_year_and_raising_an_approved_contract_ask_again(app, people):
    customer = documented_customer(people)
    on_day(datetime.date(2025, 6, 1), "pending", customer=customer, number="HT-B1", amount=D("90000"))
    contract = on_day(datetime.date(2026, 2, 1), "pending", customer=customer, number="HT-B2", amount=D("20000"))
    assert fresh(contract).status == "signed"
    # The signing date was entered wrongly: a supervisor corrects it.
    run(fresh(contract), "correct", people["director"], field="signed_on", value=datetime.date(2025, 12, 20),
        reason="纸质合同签订日期为 2025-12-20")
    assert fresh(contract).status == "pending" and len(approvals_for(contract, "CTR-1")) == 1
    approvals.decide(approvals_for(contract, "CTR-1")[0].id, people["manager"], True)
    contract = fresh(contract)
    assert contract.status == "signed"
    contract.kind = "direct"  # not a judged term: nothing asked
    contract.save()
    assert len(approvals_for(contract, "CTR-1")) == 1
    contract = fresh(contract)
    contract.amount = D("20000.01")
    with acting(people["sales"]):
        contract.save()
    assert fresh(contract).status == "pending" and len(approvals_for(contract, "CTR-1")) == 2
    # A decided amount is locked (integrity): lowering it keeps the approval (it judged a higher amount),
    # raising it back up to the approved amount too; only raising above the approved amount asks again.
    pending = [a for a in approvals_for(contract, "CTR-1") if a.status == "pending"]
    approvals.decide(pending[0].id, people["manager"], True)
    contract = fresh(contract)
    contract.amount = D("10000")
    contract.save()
    assert fresh(contract).status == "signed" and len(approvals_for(contract, "CTR-1")) == 2
    contract = fresh(contract)
    contract.amount = D("20000.01")
    with acting(people["sales"]):
        contract.save()
    assert fresh(contract).status == "signed" and len(approvals_for(contract, "CTR-1")) == 2
    contract = fresh(contract)
    contract.amount = D("20000.02")
    with acting(people["sales"]):
        contract.save()
    assert fresh(contract).status == "pending" and len(approvals_for(contract, "CTR-1")) == 3


def test_ctr1_99999_is_signed_without_asking(app, people):
    customer = documented_customer(people)
    contract = contract_in("signed", customer=customer, number="HT-99", amount=D("99999"))
    assert fresh(contract).status == "signed" and approvals_for(contract, "CTR-1") == []


def test_ctr1_approval_cannot_sign_a_new_customers_contract_before_its_documents(app, people):
    customer = make(models.Customer, department=people["dept"], consent_at=models.utcnow())
    with acting(people["sales"]):
        contract = make(models.Contract, customer=customer, number="HT-DOC", amount=D("100000"), status="draft")
    [approval] = approvals_for(contract, "CTR-1")
    with pytest.raises(policies.PolicyViolation, match="CTR-2"):
        approvals.decide(approval.id, people["manager"], True)
    assert models.Approval.get_by_id(approval.id).status == "pending" and fresh(contract).status == "pending"
    customer = fresh(customer)
    customer.licence_no, customer.tax_no, customer.bank_account = CODE, CODE, "6222020200000000009"
    customer.save()
    approvals.decide(approval.id, people["manager"], True)
    assert fresh(contract).status == "signed"


# ---------------------------------------------------------------- CRD-6 rolling credit amount
def test_crd6_credit_amount_is_the_invoiced_value_of_the_30_days_before(app):
    customer = credit_ready_customer()
    credit_line(customer, "1000000")
    ship(customer, "100.00", on=datetime.date(2026, 5, 1), prepaid=True)   # 31 days before: outside
    ship(customer, "200.00", on=datetime.date(2026, 5, 2), prepaid=True)   # 30 days before: inside
    ship(customer, "300.00", on=datetime.date(2026, 5, 31), prepaid=True)  # the day before: inside
    same_day = ship(customer, "400.00", on=datetime.date(2026, 6, 1), prepaid=True, invoice_no="A")
    assert fresh(same_day).credit_amount == D("500.00")
    later = ship(customer, "1.00", on=datetime.date(2026, 6, 2), prepaid=True, invoice_no="B")
    assert fresh(later).credit_amount == D("700.00")  # 300 + 400: 2 May is 31 days before 2 June


def test_crd6_the_credit_lines_limit_caps_the_amount(app):
    customer = credit_ready_customer()
    credit_line(customer, "250")
    ship(customer, "200.00", on=datetime.date(2026, 5, 20), prepaid=True)
    ship(customer, "300.00", on=datetime.date(2026, 5, 21), prepaid=True)
    shipment = ship(customer, "10.00", on=datetime.date(2026, 6, 1), prepaid=True, invoice_no="C")
    assert fresh(shipment).credit_amount == D("250.00")


def test_crd6_back_dating_a_shipment_recomputes_and_cancelled_ones_do_not_count(app):
    customer = credit_ready_customer()
    credit_line(customer, "1000000")
    early = ship(customer, "500.00", on=datetime.date(2026, 5, 20), prepaid=True)
    shipment = ship(customer, "10.00", on=datetime.date(2026, 6, 1), prepaid=True, invoice_no="D")
    assert fresh(shipment).credit_amount == D("500.00")
    shipment = fresh(shipment)
    shipment.shipped_on = datetime.date(2026, 5, 10)  # entered wrongly: back-dated before the other one
    shipment.save()
    assert fresh(shipment).credit_amount == D("0")
    early = fresh(early)
    early.status = "cancelled"
    with approvals.unlocked():
        early.save()
    shipment = fresh(shipment)
    shipment.shipped_on = datetime.date(2026, 6, 1)
    shipment.save()
    assert fresh(shipment).credit_amount == D("0")


def test_crd6_switched_off_computes_nothing(app):
    policies.RULES["CRD-6"].configure(enabled=False)
    customer = credit_ready_customer()
    ship(customer, "500.00", on=datetime.date(2026, 5, 20), prepaid=True)
    shipment = ship(customer, "10.00", on=datetime.date(2026, 6, 1), prepaid=True, invoice_no="E")
    assert fresh(shipment).credit_amount is None


# ---------------------------------------------------------------- CTR-3 preferential terms
def preference(customer, **fields):
    fields.setdefault("valid_from", datetime.date(2026, 7, 1))
    fields.setdefault("valid_to", datetime.date(2026, 12, 31))
    return make(models.Preference, customer=customer, content=fields.pop("content", "price"), **fields)


@pytest.mark.parametrize("tier,allowed", [("strategic", True), ("key", True), ("general", False), ("reserve", False)])
def test_ctr3_only_strategic_and_key_customers(app, tier, allowed):
    customer = make(models.Customer, tier=tier)
    if allowed:
        row = preference(customer)
        assert fresh(row).status == "pending"
        assert [(a.required_role, a.status) for a in approvals_for(row, "CTR-3")] == [("gm", "pending")]
    else:
        exc = refused("CTR-3", lambda: preference(customer))
        assert "优惠政策仅限战略合作客户和关键客户(CTR-3,003 第十二条(三))" in str(exc)
        assert models.Preference.select().count() == 0


def test_ctr3_gm_approves_a_manager_may_not_and_a_change_asks_again(app, people):
    gm = make_user("ctr3_gm", roles=("gm",))
    customer = make(models.Customer, tier="key")
    with acting(people["sales"]):
        row = preference(customer, content="acceptance_bill", detail="不贴息收取银行承兑汇票")
    request = approvals_for(row, "CTR-3")[0]
    assert "gm" in decide_refused(request, people["manager"])
    locked(fresh(row))
    approvals.decide(request.id, gm, True)
    row = fresh(row)
    assert row.status == "approved"
    # Decided means locked: a changed term goes back to the GM.
    row.valid_to = datetime.date(2027, 6, 30)
    with acting(people["sales"]):
        row.save()
    assert fresh(row).status == "pending" and len(approvals_for(row, "CTR-3")) == 2


def test_ctr3_status_is_not_typed_and_a_downgraded_customer_cannot_get_new_terms(app, people):
    gm = make_user("ctr3_gm2", roles=("gm",))
    customer = make(models.Customer, tier="strategic")
    row = preference(customer)
    approvals.decide(approvals_for(row, "CTR-3")[0].id, gm, False, "不符合综合考评")
    row = fresh(row)
    assert row.status == "rejected"
    row.status = "approved"
    refused("CTR-3", row.save)  # the workflow engine: the status is the GM's decision
    assert fresh(row).status == "rejected"
    customer = fresh(customer)
    customer.tier = "general"
    customer.save()
    refused("CTR-3", lambda: preference(customer, content="resources"))


def test_ctr3_refused_in_the_generated_form(app, admin_client):
    customer = make(models.Customer, tier="general")
    view = view_for(app, models.Preference)
    data = form_data(view, models.Preference(customer=customer, content="price", valid_from=datetime.date(2026, 7, 1),
                                             valid_to=datetime.date(2026, 12, 31)))
    response = submit(admin_client, "/admin/preference/new/", data)
    assert response.status_code == 200
    assert "优惠政策仅限战略合作客户和关键客户" in response.get_data(as_text=True)
    assert models.Preference.select().count() == 0
