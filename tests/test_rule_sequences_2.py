"""Sequences after the fact (edit, delete, back-date, approve then change, reject then resubmit) for the rules whose
own tests walk only the first save (issue 9, second round)."""
import datetime
import decimal
import json

import pytest

import models
import policies
from conftest import csrf_token
from conftest import make_user
from factories import credit_ready_customer
from factories import credit_turnover
from factories import fresh
from factories import make
from factories import make_loan
from factories import refused
from factories import role_user
from factories import run
from policies import approvals
from policies import archives
from policies import complaints
from policies import workflow
from views import complaints as board_view

D = decimal.Decimal
DAY = datetime.timedelta(days=1)
NOW = datetime.datetime(2026, 11, 2, 1, 0)  # Monday 2 November 2026, 09:00 in Beijing


def bj(*args):
    """Return the stored (naive UTC) form of a Beijing wall-clock time."""
    return complaints.to_utc(datetime.datetime(*args))


def staff_request(folder=None, **fields):
    """Return a salesperson's borrow request, approved by the GM (ARC-5)."""
    fields.setdefault("borrower", make_user(f"staff{models.User.select().count()}", roles=("sales",)))
    request = make(models.BorrowRequest, file=folder or make(models.ArchiveFile, title="客户档案"), **fields)
    run(request, "approve", role_user("gm"))
    return fresh(request)


def check_incomplete(loan, note="缺第 3 页", at=NOW + DAY):
    with workflow.clock(at):
        return archives.return_loan(fresh(loan), False, role_user("archivist"), note)


def give_back(loan, at=NOW + DAY):
    with workflow.clock(at):
        return archives.return_loan(fresh(loan), True, role_user("archivist"), "")


# ---------------------------------------------------------------- ARC-2
@pytest.mark.rule("ARC-2", "sequence")
def test_arc2_an_incomplete_return_keeps_the_file_out_until_the_complete_return(app):
    folder = make(models.ArchiveFile, number="F-S2", title="客户档案")
    first = make_loan(file=folder, days=2, lent_at=NOW)
    waiting = staff_request(folder)  # approved while the file is out: it waits for the return
    check_incomplete(first)
    assert fresh(first).returned_at is None and fresh(folder).status == "on_loan"
    refused("ARC-2", lambda: archives.lend(fresh(waiting), 1, role_user("archivist")))
    give_back(first, at=NOW + 2 * DAY)
    assert fresh(folder).status == "in_store"
    second = archives.lend(fresh(waiting), 1, role_user("archivist"))
    assert fresh(folder).status == "on_loan" and fresh(second).returned_at is None
    # The first line, once cancelled (注销), cannot be reopened under the second loan.
    reopened = fresh(first)
    reopened.returned_at = None
    with pytest.raises(policies.PolicyViolation):
        reopened.save()
    assert fresh(first).returned_at is not None


@pytest.mark.rule("ARC-2", "sequence")
def test_arc2_a_request_moved_to_a_destroyed_file_afterwards_is_refused(app):
    request = make(models.BorrowRequest, borrower=role_user("gm"), file=make(models.ArchiveFile, title="在库档案"))
    folder = make(models.ArchiveFile, number="F-S2D", title="到期档案", retain_until=datetime.date(2020, 1, 1))
    run(make(models.Destruction, file=folder, reason="保管期满"), "approve", role_user("gm"))
    assert fresh(folder).status == "destroyed"
    request = fresh(request)
    request.file = folder
    refused("ARC-2", request.save)
    assert fresh(request).file_id != folder.id


# ---------------------------------------------------------------- ARC-5
@pytest.mark.rule("ARC-5", "sequence")
def test_arc5_a_gms_request_handed_to_a_staff_member_afterwards_asks_the_gm(app):
    gm = make_user("zongjingli", roles=("gm",))
    staff = make_user("liuyang", roles=("sales",))
    request = make(models.BorrowRequest, borrower=gm)
    assert fresh(request).status == "approved"  # the GM borrows directly
    request = fresh(request)
    request.borrower = staff  # the same form saved again for a staff member
    request.save()
    assert fresh(request).status == "pending"
    assert [(a.rule, a.status) for a in approvals.pending_for(request)] == [("ARC-5", "pending")]
    refused("ARC-5", lambda: archives.lend(fresh(request), 1, role_user("archivist")))
    run(fresh(request), "approve", gm)
    archives.lend(fresh(request), 1, role_user("archivist"))
    assert fresh(request).loans.count() == 1


@pytest.mark.rule("ARC-5", "sequence")
def test_arc5_a_rejected_request_stays_rejected_a_new_one_asks_again(app):
    gm = make_user("zongjingli", roles=("gm",))
    staff = make_user("liuyang", roles=("sales",))
    request = make(models.BorrowRequest, borrower=staff)
    run(request, "reject", gm, comment="用途不明")
    assert fresh(request).status == "rejected"
    refused("ARC-5", lambda: archives.lend(fresh(request), 1, role_user("archivist")))
    again = make(models.BorrowRequest, borrower=staff, file=request.file, reason="核对合同原件,客户来电询问条款")
    assert fresh(again).status == "pending"
    assert [a.rule for a in approvals.pending_for(again)] == ["ARC-5"]


# ---------------------------------------------------------------- ARC-6
@pytest.mark.rule("ARC-6", "sequence")
def test_arc6_a_closed_line_cannot_be_made_incomplete_or_rechecked_by_someone_else_afterwards(app):
    loan = make_loan(days=2, lent_at=NOW)
    give_back(loan)
    closed = fresh(loan)
    closed.returned_complete = False
    with pytest.raises(policies.PolicyViolation):
        closed.save()
    closed = fresh(loan)
    closed.checked_by = make_user("zhaomin", roles=("clerk",))
    with pytest.raises(policies.PolicyViolation):
        closed.save()
    stored = fresh(loan)
    assert stored.returned_complete and stored.checked_by_id == role_user("archivist").id
    # Returning it twice is refused too: the ledger line is cancelled once.
    with pytest.raises(policies.PolicyViolation):
        give_back(loan, at=NOW + 2 * DAY)


@pytest.mark.rule("ARC-6", "sequence")
def test_arc6_incomplete_then_complete_by_an_archivist_only(app):
    loan = make_loan(days=2, lent_at=NOW)
    check_incomplete(loan, "缺客户签字页")
    clerk = make_user("zhaomin", roles=("clerk",))
    with pytest.raises(policies.PolicyViolation), workflow.clock(NOW + 2 * DAY):
        archives.return_loan(fresh(loan), True, clerk, "")
    assert fresh(loan).returned_at is None
    give_back(loan, at=NOW + 2 * DAY)
    assert fresh(loan).returned_at == NOW + 2 * DAY and fresh(loan.file).status == "in_store"


# ---------------------------------------------------------------- ARC-7
@pytest.mark.rule("ARC-7", "sequence")
def test_arc7_an_incomplete_return_leaves_the_loan_overdue_the_complete_one_clears_it(app):
    loan = make_loan(days=1, lent_at=NOW)
    after_due = NOW + 2 * DAY
    assert loan.id in {row.id for row in archives.overdue_loans(after_due)}
    check_incomplete(loan, "缺第 2 页", at=NOW + DAY + datetime.timedelta(hours=1))
    assert loan.id in {row.id for row in archives.overdue_loans(after_due)}
    give_back(loan, at=NOW + DAY + datetime.timedelta(hours=2))
    assert loan.id not in {row.id for row in archives.overdue_loans(after_due)}


@pytest.mark.rule("ARC-7", "sequence")
def test_arc7_correcting_the_lending_time_moves_the_due_time(app):
    loan = make_loan(days=3, lent_at=NOW)
    assert fresh(loan).due_at == NOW + 3 * DAY
    # Typed wrongly: the file went out two days earlier. The due time follows; the loan is overdue sooner.
    run(fresh(loan), "correct", role_user("archivist"), field="lent_at", value=NOW - 2 * DAY, reason="登记时间录入错误")
    corrected = fresh(loan)
    assert (corrected.lent_at, corrected.due_at) == (NOW - 2 * DAY, NOW + DAY)
    assert loan.id in {row.id for row in archives.overdue_loans(NOW + DAY + datetime.timedelta(seconds=1))}
    # Corrected back the other way: lent later, due later; no longer overdue at the earlier due time.
    run(fresh(loan), "correct", role_user("archivist"), field="lent_at", value=NOW, reason="再次更正,以登记册为准")
    assert fresh(loan).due_at == NOW + 3 * DAY
    assert loan.id not in {row.id for row in archives.overdue_loans(NOW + DAY + datetime.timedelta(seconds=1))}
    assert loan.id in {row.id for row in archives.overdue_loans(NOW + 3 * DAY + datetime.timedelta(seconds=1))}


@pytest.mark.rule("ARC-7", "sequence")
def test_arc7_raising_the_days_after_lending_does_not_move_an_overdue_loan(app):
    loan = make_loan(days=1, lent_at=NOW)
    request = fresh(loan.request)
    request.days = 3
    refused("ARC-1", request.save)
    assert loan.id in {row.id for row in archives.overdue_loans(NOW + 2 * DAY)}


# ---------------------------------------------------------------- CMP-6
def complaint_in_solution_pending():
    item = make(models.Complaint, complainant="张先生", content="投诉内容", category="service")
    manager = make_user("bumenjingli", roles=("manager",))
    run(item, "investigate", manager)
    make(models.Investigation, complaint=item)
    run(fresh(item), "propose")
    return fresh(item)


@pytest.mark.rule("CMP-6", "sequence")
def test_cmp6_an_approved_solution_changed_before_the_reply_must_be_approved_again(app):
    gm = make_user("zongjingli", roles=("gm",))
    item = complaint_in_solution_pending()
    solution = make(models.Solution, complaint=item, proposal="免费返修", compensation_amount=D("200"))
    run(solution, "approve", gm)
    assert fresh(solution).approved_by_id == gm.id
    changed = fresh(solution)
    changed.compensation_amount = D("2000")  # raised after the GM's approval
    changed.save()
    assert fresh(solution).approved_by_id is None
    assert [a.rule for a in approvals.pending_for(solution)] == ["CMP-6"]
    refused("CMP-6", lambda: run(fresh(item), "reply"))
    run(fresh(solution), "approve", gm)
    run(fresh(item), "reply")
    assert fresh(item).status == "replied"


@pytest.mark.rule("CMP-6", "sequence")
def test_cmp6_an_approved_solution_cannot_be_deleted_from_under_the_reply(app):
    gm = make_user("zongjingli", roles=("gm",))
    item = complaint_in_solution_pending()
    rejected = make(models.Solution, complaint=item, proposal="全额退款")
    run(rejected, "reject", gm, comment="金额过高")
    approved = make(models.Solution, complaint=item, proposal="更换新品")
    run(approved, "approve", gm)
    run(fresh(item), "reply")
    with pytest.raises(policies.PolicyViolation):
        fresh(approved).delete_instance()
    assert models.Solution.get_or_none(models.Solution.id == approved.id) is not None


# ---------------------------------------------------------------- CMP-4 on the complaint board
@pytest.mark.rule("CMP-4", "sequence")
def test_cmp4_the_boards_solution_clock_runs_on_after_the_gm_rejects_the_solution(app):
    gm = make_user("zongjingli", roles=("gm",))
    item = make(models.Complaint, complainant="张先生", content="内容", category="service",
                received_at=bj(2026, 4, 2, 9, 0))
    run(item, "investigate", make_user("bumenjingli", roles=("manager",)))
    make(models.Investigation, complaint=item, started_at=bj(2026, 4, 3, 10, 0))  # due Tuesday 7 April 10:00

    def board(now):
        """Return (the board's solution clock: running?, stopped at, state; the CMP-4 flag) at ``now``."""
        facts = board_view.Facts(models.Complaint.select(models.Complaint.id).where(models.Complaint.id == item.id),
                                 now)
        clock = {c.key: c for c in facts.clocks(fresh(item))}["solution"]
        return clock.running, clock.stopped_at, clock.state, item.id in {c.id for c in complaints.solution_late(now)}

    at = bj(2026, 4, 8, 10, 0)
    first = make(models.Solution, complaint=item, proposal="全额退款", created_at=bj(2026, 4, 7, 9, 0))
    assert board(at) == (False, bj(2026, 4, 7, 9, 0), board_view.MET, False)
    run(first, "reject", gm, comment="金额过高")
    # Turned down: no solution stands; the flag is back and the board's clock runs on, past due.
    assert board(at) == (True, None, board_view.RED, True)
    make(models.Solution, complaint=item, proposal="免费维修", created_at=bj(2026, 4, 8, 9, 30))
    # The new solution stops both, a day late.
    assert board(at) == (False, bj(2026, 4, 8, 9, 30), board_view.RED, False)


# ---------------------------------------------------------------- CMP-9
@pytest.mark.rule("CMP-9", "sequence")
def test_cmp9_a_corrected_receipt_time_moves_the_complaint_into_the_month_it_belongs_to(app):
    item = make(models.Complaint, complainant="王先生", content="内容", category="service",
                received_at=bj(2026, 4, 1, 0, 30))
    assert (complaints.monthly_report(2026, 3)["total"], complaints.monthly_report(2026, 4)["total"]) == (0, 1)
    run(fresh(item), "correct", make_user("jingli", roles=("manager",)), field="received_at",
        value=bj(2026, 3, 31, 23, 30), reason="受理时间录入错误,实为 3 月 31 日晚")
    assert (complaints.monthly_report(2026, 3)["total"], complaints.monthly_report(2026, 4)["total"]) == (1, 0)
    assert complaints.monthly_report(2026, 3)["due_on"] == datetime.date(2026, 4, 10)


@pytest.mark.rule("CMP-9", "sequence")
def test_cmp9_a_complaint_entered_after_the_report_was_generated_asks_for_it_again(app, admin_client):
    make(models.Complaint, complainant="王先生", content="内容", category="service", received_at=bj(2026, 3, 10, 9, 0))
    admin_client.get("/admin/complaint-stats/xlsx/", query_string={"month": "2026-03"})
    with admin_client.application.test_request_context():
        assert board_view.report_reminder(datetime.date(2026, 4, 8)) is None
    # A March complaint typed in on 8 April, after the report went out: March's report is incomplete.
    late = make(models.Complaint, complainant="赵女士", content="内容", category="service",
                received_at=bj(2026, 3, 31, 20, 0))
    with admin_client.application.test_request_context():
        due = board_view.report_reminder(datetime.date(2026, 4, 8))
        assert due is not None and (due["year"], due["month"]) == (2026, 3)
    april = make(models.Complaint, complainant="钱先生", content="内容", category="service",
                 received_at=bj(2026, 4, 1, 0, 30))
    admin_client.get("/admin/complaint-stats/xlsx/", query_string={"month": "2026-03"})
    with admin_client.application.test_request_context():
        assert board_view.report_reminder(datetime.date(2026, 4, 8)) is None
    assert complaints.monthly_report(2026, 3)["total"] == 2 and late.id in {
        c.id for c in models.Complaint.select().where(models.Complaint.received_at < bj(2026, 4, 1))}
    # An April complaint, entered before the report, whose receipt time is corrected into March afterwards.
    run(fresh(april), "correct", make_user("jingli", roles=("manager",)), field="received_at",
        value=bj(2026, 3, 31, 23, 30), reason="受理时间录入错误")
    with admin_client.application.test_request_context():
        assert board_view.report_reminder(datetime.date(2026, 4, 8))["month"] == 3


# ---------------------------------------------------------------- CRD-2 / CRD-3 on the rolling credit
@pytest.fixture
def pinned(monkeypatch):
    """Pin the office's 'today' for the credit rules (CRD-1's year, CRD-5's day of entry) to 15 June 2026."""
    monkeypatch.setattr(policies.credit, "local_today", lambda: datetime.date(2026, 6, 15))


def credit_customer(limit="100000", turnover="40000", turnover_on=datetime.date(2026, 5, 20), **fields):
    """Return a customer with a line of ``limit`` and a paid turnover of ``turnover`` on ``turnover_on`` (CRD-6)."""
    customer = credit_ready_customer(**fields)
    make(models.CreditLine, customer=customer, limit=D(limit), valid_from=datetime.date(2026, 1, 1),
         valid_to=datetime.date(2026, 12, 31))
    turnover_row = credit_turnover(customer, turnover, turnover_on) if turnover else None
    return customer, turnover_row


def ship(customer, amount, on=datetime.date(2026, 6, 1), **fields):
    fields.setdefault("invoice_no", f"INV-{amount}-{on}-{models.Shipment.select().count()}")
    return make(models.Shipment, customer=customer, amount=D(amount), shipped_on=on, prepaid=False, **fields)


def crd3_rows(shipment):
    return [a.status for a in models.Approval.select().where(
        models.Approval.rule == "CRD-3", models.Approval.target_model == "Shipment",
        models.Approval.target_id == shipment.id)]


@pytest.mark.rule("CRD-2", "boundary")
@pytest.mark.rule("CRD-6", "boundary")
def test_crd2_exactly_the_rolling_credit_is_within_it_one_yuan_more_asks_crd3(app, pinned):
    customer, _ = credit_customer()  # limit 100,000; 40,000 invoiced in the 30 days before 1 June
    within = ship(customer, "40000")
    assert fresh(within).credit_amount == D("40000") and not fresh(within).over_limit
    assert fresh(within).status == "shipped" and crd3_rows(within) == []
    other, _ = credit_customer(name="第二客户")
    ship(other, "30000")
    over = ship(other, "10001")  # 40,001 owed against 40,000: one yuan over, well under a third
    assert fresh(over).over_limit and fresh(over).credit_amount == D("40000")
    assert fresh(over).status == "pending" and crd3_rows(over) == ["pending"]


@pytest.mark.rule("CRD-3", "boundary")
def test_crd3_a_third_of_the_rolling_credit_not_of_the_limit(app, pinned):
    customer, _ = credit_customer()  # credit 40,000 on 1 June (limit 100,000)
    ship(customer, "30000")
    exc = refused("CRD-3", lambda: ship(customer, "13333.34"))  # 30,000 + 13,333.34 > 40,000; ≥ 40,000 / 3
    assert "(授信额 40,000.00 元)" in str(exc)
    asked = ship(customer, "13333.33")
    assert fresh(asked).status == "pending" and crd3_rows(asked) == ["pending"]


@pytest.mark.rule("CRD-6", "boundary")
def test_crd6_the_limit_caps_the_rolling_credit_the_checks_use(app, pinned):
    customer, _ = credit_customer(limit="30000", turnover="90000")
    within = ship(customer, "30000")
    assert fresh(within).credit_amount == D("30000") and fresh(within).status == "shipped"
    over = ship(customer, "1")
    assert fresh(over).over_limit and crd3_rows(over) == ["pending"]


@pytest.mark.rule("CRD-2", "boundary")
def test_crd2_without_turnover_in_the_window_only_prepaid_ships(app, pinned):
    customer, _ = credit_customer(turnover=None)
    exc = refused("CRD-3", lambda: ship(customer, "100"))
    assert "(授信额 0.00 元)" in str(exc)
    cash = make(models.Shipment, customer=customer, invoice_no="CASH-1", amount=D("100"),
                shipped_on=datetime.date(2026, 6, 1), prepaid=True)
    assert fresh(cash).status == "shipped" and not fresh(cash).over_limit


@pytest.mark.rule("CRD-6", "boundary")
def test_crd2_switched_off_crd6_measures_credit_by_the_limit(app, pinned):
    policies.RULES["CRD-6"].configure(enabled=False)
    customer, _ = credit_customer(turnover=None)
    within = ship(customer, "100000")
    assert fresh(within).status == "shipped" and not fresh(within).over_limit


@pytest.mark.rule("CRD-2", "sequence")
def test_crd2_a_shipment_re_dated_past_the_window_is_over_the_credit_and_asks(app, pinned):
    customer, _ = credit_customer()  # 40,000 invoiced on 20 May: credit until 19 June
    shipment = ship(customer, "10000", on=datetime.date(2026, 6, 19))
    assert fresh(shipment).status == "shipped"
    assert fresh(shipment).credit_amount == D("40000")
    moved = fresh(shipment)
    moved.shipped_on = datetime.date(2026, 6, 20)  # re-dated a day later: 31 days after the turnover, no credit
    exc = refused("CRD-3", moved.save)
    assert "(授信额 0.00 元)" in str(exc)
    assert fresh(shipment).shipped_on == datetime.date(2026, 6, 19) and fresh(shipment).status == "shipped"


@pytest.mark.rule("CRD-2", "sequence")
def test_crd2_cancelling_the_turnover_afterwards_takes_the_credit_with_it(app, pinned):
    customer, turnover = credit_customer()
    first = ship(customer, "20000")
    assert fresh(first).status == "shipped"
    run(fresh(turnover), "cancel", role_user("manager"), reason="开错发票,冲销")
    run(turnover.payments.get(), "reverse", role_user("manager"), reason="预付款退回客户")
    # The credit on 2 June now rests on the 20,000 of 1 June alone, and 20,000 is owed: nothing more on credit.
    exc = refused("CRD-3", lambda: ship(customer, "10000", on=datetime.date(2026, 6, 2)))
    assert "(授信额 20,000.00 元)" in str(exc)
    asked = ship(customer, "5000", on=datetime.date(2026, 6, 2))
    assert fresh(asked).status == "pending" and crd3_rows(asked) == ["pending"]


@pytest.mark.rule("CRD-2", "sequence")
def test_crd2_a_reversed_payment_brings_the_debt_back_over_the_credit(app, pinned):
    customer, _ = credit_customer(limit="40000")  # the credit never exceeds 40,000
    ship(customer, "30000")
    paid = make(models.Payment, customer=customer, amount=D("30000"), received_on=datetime.date(2026, 6, 1))
    within = ship(customer, "40000", on=datetime.date(2026, 6, 2))  # all paid: the whole credit is free
    assert fresh(within).status == "shipped"
    run(fresh(paid), "reverse", role_user("manager"), reason="银行退票")
    asked = ship(customer, "1000", on=datetime.date(2026, 6, 3))
    assert fresh(asked).status == "pending" and crd3_rows(asked) == ["pending"]


@pytest.mark.rule("CRD-3", "sequence")
def test_crd3_an_approved_over_credit_shipment_raised_to_a_third_afterwards_is_refused(app, pinned):
    customer, _ = credit_customer()
    ship(customer, "35000")
    shipment = ship(customer, "10000")  # 45,000 of a 40,000 credit: the manager signs
    approvals.decide(approvals.pending_for(shipment).get().id, role_user("manager"), True, "同意")
    assert fresh(shipment).status == "shipped"
    raised = fresh(shipment)
    raised.amount = D("13333.34")
    refused("CRD-3", raised.save)
    assert fresh(shipment).amount == D("10000")


# ---------------------------------------------------------------- CUS-4
@pytest.mark.rule("CUS-4", "sequence")
def test_cus4_a_contract_awaiting_approval_anonymised_then_approved_keeps_no_name(app):
    customer = make(models.Customer, name="张三商行", phone="13800001111", consent_at=models.utcnow(),
                    licence_no="91330100MA0000004Q", tax_no="91330100MA0000004Q",
                    bank_account="6222020200000000003")
    run(make(models.Contract, customer=customer, number="HT-FIRST", amount=D("60000")), "sign")
    contract = make(models.Contract, customer=customer, number="HT-ANON", amount=D("50000"))  # 110,000: CTR-1 asks
    [row] = list(approvals.pending_for(contract))
    assert "张三商行" in row.summary
    policies.personal_data.anonymise(customer)
    approvals.decide(row.id, role_user("manager"), True, "同意")
    assert fresh(contract).status == "signed" and fresh(contract).number == "HT-ANON"
    assert "张三商行" not in models.Approval.get_by_id(row.id).summary
    assert "张三" not in fresh(customer).name and fresh(customer).phone == ""
    trail = " ".join(entry.changes for entry in models.AuditLog.select())
    assert "张三商行" not in trail and "13800001111" not in trail


@pytest.mark.rule("CUS-4", "sequence")
def test_cus4_data_added_after_anonymising_is_the_customers_again_and_is_exported(app, admin_client):
    customer = make(models.Customer, name="李四个体户", phone="13700001111", consent_at=models.utcnow())
    policies.personal_data.anonymise(customer)
    anonymous = fresh(customer)
    anonymous.phone = "13700002222"  # the customer came back and gave a number again
    anonymous.save()
    token = csrf_token(admin_client, f"/admin/customer/details/?id={customer.id}")
    data = json.loads(admin_client.post("/admin/customer/personal-data/json/",
                                        data={"id": customer.id, "csrf_token": token}).get_data(as_text=True))
    exported = json.dumps(data, ensure_ascii=False)
    assert "13700002222" in exported and "13700001111" not in exported and "李四" not in exported


# ---------------------------------------------------------------- CUS-5
@pytest.mark.rule("CUS-5", "sequence")
def test_cus5_deleting_the_communication_or_cancelling_the_shipment_brings_the_risk_back(app):
    customer = make(models.Customer, created_at=datetime.datetime(2025, 1, 1))

    def at_risk():
        return customer.id in {row.id for row in policies.customers.churn_risk()}

    assert at_risk()
    talk = make(models.Communication, customer=customer, at=models.utcnow() - DAY, summary="电话回访")
    assert not at_risk()
    talk.delete_instance()
    assert at_risk()
    shipment = make(models.Shipment, customer=customer, invoice_no="INV-CUS5", amount=D("100"),
                    shipped_on=policies.customers.local_today() - DAY, prepaid=True)
    assert not at_risk()
    run(fresh(shipment), "cancel", role_user("manager"), reason="客户取消订单,冲销发票")
    assert at_risk()


# ---------------------------------------------------------------- CUS-8
@pytest.mark.rule("CUS-8", "sequence")
def test_cus8_a_review_deleted_afterwards_brings_the_flag_back(app):
    today = policies.privacy.local_today()
    for user in models.User.select():
        user.created_at = datetime.datetime(2020, 1, 1)
        user.save()
    make_user("p_old", created_at=datetime.datetime(2020, 1, 1))
    supervisor = make_user("p_supervisor", roles=("info_supervisor",))
    make(models.AccessReview, reviewed_on=today - datetime.timedelta(days=200), reviewer=supervisor)
    assert policies.privacy.review_due().count() > 0  # more than 6 months ago
    review = make(models.AccessReview, reviewed_on=today - DAY, reviewer=supervisor)
    assert policies.privacy.review_due().count() == 0
    fresh(review).delete_instance()  # entered for the wrong office, deleted: the older review is too old
    assert policies.privacy.review_due().count() > 0


# ---------------------------------------------------------------- VIS-2
@pytest.mark.rule("VIS-2", "sequence")
def test_vis2_emptying_a_report_afterwards_brings_the_reminder_back(app):
    visited = datetime.date(2026, 11, 2)
    row = make(models.Visit, visited_on=visited, report="客户有扩产计划", report_submitted_on=visited + DAY)
    late = {r.id for r in policies.customers.reports_late(today=datetime.date(2026, 11, 20))}
    assert row.id not in late
    row = fresh(row)
    row.report = ""
    row.save()
    assert row.id in {r.id for r in policies.customers.reports_late(today=datetime.date(2026, 11, 20))}


# ---------------------------------------------------------------- VIS-5 / VIS-6
@pytest.fixture
def visitors(app):
    return dict(manager=make_user("v_manager", roles=("manager",)), sales=make_user("v_sales", roles=("sales",)))


def old_customer(tier):
    row = make(models.Customer, tier=tier)
    row.created_at = datetime.datetime(2024, 1, 1)
    row.save()
    return row


@pytest.mark.rule("VIS-5", "sequence")
def test_vis5_a_visit_re_dated_or_re_attributed_afterwards_brings_the_flag_back(app, visitors):
    today = datetime.date(2026, 6, 30)
    key = old_customer("key")
    done = make(models.Visit, customer=key, visited_by=visitors["manager"], visited_on=datetime.date(2026, 6, 1),
                kind="return")

    def overdue():
        return key.id in {row.id for row in policies.visits.return_visit_overdue(today)}

    assert not overdue()
    done = fresh(done)
    done.visited_on = datetime.date(2025, 6, 29)  # a year and a day before: outside the 12 months
    done.save()
    assert overdue()
    done = fresh(done)
    done.visited_on = datetime.date(2026, 6, 1)
    done.visited_by = visitors["sales"]  # a salesperson's visit does not do for a key customer
    done.save()
    assert overdue()
    done = fresh(done)
    done.visited_by = visitors["manager"]
    done.save()
    assert not overdue()
    done.delete_instance()
    assert overdue()


@pytest.mark.rule("VIS-6", "sequence")
def test_vis6_a_visit_moved_out_of_the_quarter_or_deleted_changes_the_report(app, visitors):
    key = old_customer("key")
    plan = make(models.VisitPlan, owner=visitors["sales"], month="2026-06")
    first = make(models.Visit, customer=key, visited_by=visitors["sales"], visited_on=datetime.date(2026, 6, 10),
                 kind="return", plan=plan, report="客户满意")
    second = make(models.Visit, customer=key, visited_by=visitors["sales"], visited_on=datetime.date(2026, 6, 12),
                  kind="return", plan=plan)
    report = policies.visits.return_visit_report(2026, 2, today=datetime.date(2026, 7, 5))
    assert (report["planned"], report["done"]) == (2, 2)
    moved = fresh(second)
    moved.visited_on = datetime.date(2026, 7, 2)  # it happened in July: the next quarter
    moved.save()
    report = policies.visits.return_visit_report(2026, 2, today=datetime.date(2026, 7, 5))
    assert report["done"] == 1
    fresh(first).delete_instance()
    report = policies.visits.return_visit_report(2026, 2, today=datetime.date(2026, 7, 5))
    assert report["done"] == 0 and report["results"] == []


# ---------------------------------------------------------------- QC-1
@pytest.mark.rule("QC-1", "sequence")
def test_qc1_an_activity_deleted_or_re_dated_afterwards_brings_the_flags_back(app):
    today = datetime.date(2026, 11, 15)
    group = make(models.QCGroup, topic="降低返修率", registered_on=datetime.date(2025, 1, 10))
    meeting = make(models.QCActivity, group=group, on=datetime.date(2026, 11, 1))
    assert group.id not in {g.id for g in policies.qc.inactive(today)}
    meeting = fresh(meeting)
    meeting.on = datetime.date(2026, 5, 14)  # typed wrongly: it was May's meeting, six months and a day ago
    meeting.save()
    assert group.id in {g.id for g in policies.qc.inactive(today)}
    assert group.id in {g.id for g in policies.qc.paused_too_long(today)}
    meeting = fresh(meeting)
    meeting.on = datetime.date(2026, 5, 15)  # six months to the day: paused, but not too long
    meeting.save()
    assert group.id not in {g.id for g in policies.qc.paused_too_long(today)}
    fresh(meeting).delete_instance()
    assert group.id in {g.id for g in policies.qc.paused_too_long(today)}
