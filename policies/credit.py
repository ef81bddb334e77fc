"""Rules of the credit area: credit lines, shipments against them, contracts (000 篇五, 003 第二十八条).

Money is compared as Decimal: amounts are summed in Python, never as SQLite floats.
"""
import datetime
from decimal import Decimal

from peewee import fn
from playhouse.signals import post_save
from playhouse.signals import pre_save

import models
from policies import approvals
from policies import workflow
from policies.calendar import local_today
from policies.calendar import to_local
from policies.engine import APPROVE
from policies.engine import BLOCK
from policies.engine import COMPUTE
from policies.engine import flag
from policies.engine import rule

# A contract counts as signed (CRD-1, CTR-2) in these states.
SIGNED_STATUSES = ("signed", "completed")
# Shipment states (models.SHIPMENT_STATUS): only "shipped" is owed (CRD-1/2/3/5, Shipment.shipped()).
SHIPPED = "shipped"
PENDING = "pending"
CANCELLED = "cancelled"

CRD_1 = rule(
    "CRD-1", "授信资格", "000 篇五 1.1", BLOCK,
    quote="1.1.1 已建立客戶檔案(含檔案資料、開戶人的身份證復(fù)印件等)。"
          "1.1.2 已簽訂業(yè)務(wù)合同(包括兩類:經(jīng)銷合同和直銷合同,含結(jié)算協(xié)議)。"
          "1.1.3 上年度貨款清零。",
    reading="客户档案经销售总监确认、有营业执照号或身份证号、签订含结算协议的合同、以前年度货款已清(今年收到的回款先冲抵以前年度)。",
)
CRD_2 = rule(
    "CRD-2", "授信额内开票发货", "000 篇五 2.1", COMPUTE,
    quote="2.1 在授信額范圍內(nèi)可以開票發(fā)貨。",
)
# "發貨額應小于授信額的三分之一": the bound applies to this shipment's amount (發貨額), not to the
# part above the limit, and it is strict (小于): exactly a third of the limit is refused.
CRD_3 = rule(
    "CRD-3", "超授信额开票发货", "000 篇五 2.2", APPROVE, settings={"divisor": 3},
    labels={"divisor": "超授信单次发货额须小于授信额的几分之一(分母)"},
    quote="2.2.1 由區(qū)域經(jīng)理簽發(fā)首次開票發(fā)貨,發(fā)貨額應(yīng)小于授信額的三分之一,"
          "本次發(fā)貨額如發(fā)生死呆賬視同授信額內(nèi)發(fā)貨處置。",
)
CRD_4 = rule(
    "CRD-4", "未授信客户现金提货", "000 篇五 1.4.1", BLOCK,
    quote="1.4.1 未授信客戶,需現(xiàn)金開票提貨,同時客戶須制定貨款回籠計劃。",
)
CRD_5 = rule(
    "CRD-5", "超三十天款期客户", "000 篇五 1.4.2", APPROVE, settings={"days": 30},
    labels={"days": "欠款超过天数"},
    quote="1.4.2 超三十天款期客戶根據(jù)銷售部審批具體情況具體授信。",
    reading="以录入之日(或发货日,取较晚者)判断欠款是否超过 30 天,倒签的发货同样需要审批。",
)
CTR_1 = rule(
    "CTR-1", "合同累计金额审批", "003 第二十八条(一)", APPROVE, settings={"min_amount": 100000},
    labels={"min_amount": "客户当年合同累计需审批金额(元,含)"},
    quote="(一)双方达成订货意向,应根据.协议管理实施细则,签署销售协议;协议金额累计达成10万元以上,"
          "推行销售协议审批程序,规避经营风险。",
    reading="按客户、按日历年累计(待审批、已签、已履行的合同),达到 10 万元的那份及之后的合同须审批;已批准合同加价或改签订日期须重新审批,降价不审批。",
)
# The source leaves the amount blank ("协议金额在.万元以上"): 50,000 yuan, half the CTR-1 approval
# amount, is our default. "以上" includes the amount itself, as in CTR-1.
CTR_2 = rule(
    "CTR-2", "新客户资质材料", "003 第二十八条(二)", BLOCK, settings={"min_amount": 50000},
    labels={"min_amount": "新客户需资质材料的合同金额(元,含)"},
    quote="(二)对新开发用户,协议金额在.万元以上,协议在签署前应取得对方正当资质证实材料,包含:近期年度财务报表、"
          "营业执照、税务登记证、组织机构代码证、银行开户许可证等。",
    reading="此前未签过达到该金额合同的客户为新客户;一份小合同不豁免。",
)
CTR_3 = rule(
    "CTR-3", "优惠政策范围与审批", "003 第十二条(三)", APPROVE,
    quote="(三)享受优惠政策范围:经过全方面综合考评,且经企业总经理办公会同意同意战略合作(伙伴)用户、关键用户。"
          "享受优惠政策内容:产品资源保障、价格优惠、不贴息收取银行承兑汇票。经企业总经理办公会经过,还可合适给其它优惠政策。",
    reading="仅战略合作、关键客户可享受;每项须总经理审批,批准后修改条件重新审批。",
)
# "開票發貨日前三十天貨款": the invoiced value of the 30 days before the shipping day (that day excluded).
CRD_6 = rule(
    "CRD-6", "流动授信额", "000 篇五 1.2–1.3", COMPUTE, settings={"days": 30},
    labels={"days": "授信额按发货日前多少天的开票发货额计算(天)"},
    quote="1.2 授信額:客戶開票發(fā)貨日前三十天貨款。1.3 授信時間和方式:每日按時間流動授信,每日實施。",
    reading="发货日前 30 天(不含当天)已开票发货金额,授信额度封顶;计算结果记在发货记录上。",
)
# CTR-3: preferential terms are for these tiers only.
PREFERENCE_TIERS = ("strategic", "key")
PREFERENCE_TERMS = ("customer_id", "content", "detail", "valid_from", "valid_to")


# ---------------------------------------------------------------- helpers
def _stored(instance, created):
    """Return the row as it is in the database before this save (None for a new record)."""
    if created or instance._pk is None:
        return None
    model = type(instance)
    return model.get_or_none(model._meta.primary_key == instance._pk)


def _changed(instance, created, *names):
    """Return True when ``instance`` is new or one of ``names`` differs from the stored row."""
    stored = _stored(instance, created)
    return stored is None or any(getattr(stored, n) != getattr(instance, n) for n in names)


def _sum(query):
    """Return the Decimal sum of the single amount column of ``query``."""
    return sum((amount for (amount,) in query.tuples() if amount is not None), Decimal(0))


def _decimal(value):
    return Decimal(str(value)) if value is not None else Decimal(0)


def outstanding(customer_id, exclude_shipment=None):
    """Return what ``customer_id`` owes: shipped shipments (but ``exclude_shipment``) minus all payments."""
    shipments = models.Shipment.shipped().select(models.Shipment.amount).where(models.Shipment.customer == customer_id)
    if exclude_shipment is not None:
        shipments = shipments.where(models.Shipment.id != exclude_shipment)
    payments = models.Payment.counted().select(models.Payment.amount).where(models.Payment.customer == customer_id)
    return _sum(shipments) - _sum(payments)


def credit_line_on(customer_id, day):
    """Return the active credit line of ``customer_id`` valid on ``day`` (the latest one), or None."""
    if customer_id is None or day is None:
        return None
    return (models.CreditLine.select()
            .where(models.CreditLine.customer == customer_id, models.CreditLine.status == "active",
                   models.CreditLine.valid_from <= day, models.CreditLine.valid_to >= day)
            .order_by(models.CreditLine.valid_from.desc(), models.CreditLine.id.desc())
            .first())


def on_hold(today=None):
    """Return customers whose invoices are unpaid beyond [30] days: older shipments exceed payments (CRD-5)."""
    Customer = models.Customer
    Shipment = models.Shipment
    Payment = models.Payment
    today = today or local_today()
    cutoff = today - datetime.timedelta(days=CRD_5.get("days"))
    shipped = Shipment.select(fn.SUM(Shipment.amount)).where(Shipment.customer == Customer.id,
                                                             Shipment.shipped_on < cutoff,
                                                             Shipment.status == "shipped")
    paid = Payment.select(fn.SUM(Payment.amount)).where(Payment.customer == Customer.id,
                                                        Payment.received_on <= today, Payment.reversed_at.is_null())
    # Only customers with an old shipment can owe: the planner starts from those (shipment index).
    owing = Shipment.select(Shipment.customer).where(Shipment.shipped_on < cutoff, Shipment.status == "shipped")
    # Half a fen of tolerance: SQLite sums DECIMAL columns as floats.
    return Customer.select().where(Customer.id.in_(owing), fn.COALESCE(shipped, 0) - fn.COALESCE(paid, 0) > 0.005)


def over_limit(shipment):
    """Return (credit line, outstanding + this shipment, over the limit?) for ``shipment`` (CRD-2).

    A prepaid shipment draws no credit (2.2.3 先匯款後依款開票發貨), so it is never over the limit.
    """
    line = credit_line_on(shipment.customer_id, shipment.shipped_on)
    if line is None or shipment.amount is None:
        return line, None, False
    exposure = outstanding(shipment.customer_id, exclude_shipment=shipment._pk) + _decimal(shipment.amount)
    return line, exposure, (not shipment.prepaid) and exposure > _decimal(line.limit)


def _shipment_terms_changed(instance, created):
    return _changed(instance, created, "customer_id", "amount", "shipped_on", "prepaid")


def _submitted(instance, created):
    """Return True when this save submits ``instance``: a new shipment, or a cancelled one whose terms changed."""
    stored = _stored(instance, created)
    return stored is None or (stored.status == CANCELLED and _shipment_terms_changed(instance, created))


# ---------------------------------------------------------------- CRD-1
@pre_save(sender=models.CreditLine, name="CRD-1")
def credit_line_needs_archive_contract_and_cleared_year(sender, instance, created):
    """Refuse an active credit line without the customer archive, a signed contract and last year cleared."""
    if not CRD_1.on() or instance.status != "active" or instance.customer_id is None:
        return
    if not _changed(instance, created, "status", "customer_id", "limit", "valid_from", "valid_to"):
        return
    customer = models.Customer.get_by_id(instance.customer_id)
    if customer.approved_by_id is None:
        CRD_1.refuse(instance, "客户档案尚未经销售总监审批确认(未建档),不能授信", field="customer")
    archived = models.ArchiveFile.select().where(
        models.ArchiveFile.customer == customer.id, models.ArchiveFile.kind == "customer",
        models.ArchiveFile.status != "destroyed").exists()
    if not archived:
        CRD_1.refuse(instance, "客户尚未建立客户档案,不能授信", field="customer")
    if not (customer.licence_no or customer.id_number):
        CRD_1.refuse(instance, "客户档案缺营业执照号或开户人身份证号,不能授信", field="customer")
    signed = models.Contract.select().where(
        models.Contract.customer == customer.id, models.Contract.status.in_(SIGNED_STATUSES))
    if not signed.exists():
        CRD_1.refuse(instance, "客户尚未签订业务合同(经销或直销),不能授信", field="customer")
    elif not signed.where(models.Contract.has_settlement_terms == True).exists():  # noqa: E712
        CRD_1.refuse(instance, "客户已签合同均未含结算协议,不能授信", field="customer")
    owed = earlier_years_owed(customer.id)
    if owed > 0:
        CRD_1.refuse(instance, f"客户上年度货款未清零(尚欠 {owed:,.2f} 元),不能授信", field="customer")


def earlier_years_owed(customer_id, today=None):
    """Return what is still owed for shipments of earlier years: every payment received so far clears them first."""
    today = today or local_today()
    year_start = datetime.date(today.year, 1, 1)
    old = _sum(models.Shipment.shipped().select(models.Shipment.amount).where(
        models.Shipment.customer == customer_id, models.Shipment.shipped_on < year_start))
    paid = _sum(models.Payment.counted().select(models.Payment.amount).where(
        models.Payment.customer == customer_id, models.Payment.received_on <= today))
    return max(old - paid, Decimal(0))


# ---------------------------------------------------------------- CRD-2 / CRD-3 / CRD-4 / CRD-5
@pre_save(sender=models.Shipment, name="CRD-2")
def compute_over_limit(sender, instance, created):
    """Compute whether outstanding plus this shipment exceeds the active credit line."""
    # Start from no request: a refused earlier save of this object may have left its marks.
    instance.__dict__.pop("_crd3_request", None)
    instance.__dict__.pop("_crd5_request", None)
    if not CRD_2.on() or not _shipment_terms_changed(instance, created):
        return
    _line, _exposure, over = over_limit(instance)
    instance.over_limit = over
    if over:
        instance.__dict__["_crd2_computed"] = True


def rolling_credit(customer_id, day, exclude_shipment=None):
    """Return the rolling credit amount of ``customer_id`` on ``day`` (CRD-6), capped by the credit line's limit."""
    if customer_id is None or day is None:
        return None
    since = day - datetime.timedelta(days=CRD_6.get("days"))
    shipments = models.Shipment.shipped().select(models.Shipment.amount).where(
        models.Shipment.customer == customer_id, models.Shipment.shipped_on >= since,
        models.Shipment.shipped_on < day)
    if exclude_shipment is not None:
        shipments = shipments.where(models.Shipment.id != exclude_shipment)
    amount = _sum(shipments)
    line = credit_line_on(customer_id, day)
    if line is not None and line.limit is not None:
        amount = min(amount, _decimal(line.limit))
    return amount


@pre_save(sender=models.Shipment, name="CRD-6")
def compute_rolling_credit(sender, instance, created):
    """Compute the rolling credit amount on the shipping day: the invoiced value of the [30] days before it."""
    if not CRD_6.on() or not _shipment_terms_changed(instance, created):
        return
    instance.credit_amount = rolling_credit(instance.customer_id, instance.shipped_on, exclude_shipment=instance._pk)


@pre_save(sender=models.Shipment, name="CRD-3")
def over_limit_shipment_under_a_third(sender, instance, created):
    """Refuse an over-limit shipment, not prepaid, of a third of the limit or more; else ask the manager."""
    if not CRD_3.on() or not _shipment_terms_changed(instance, created):
        return
    line, _exposure, over = over_limit(instance)
    if not over:
        return
    divisor = _decimal(CRD_3.get("divisor"))
    limit = _decimal(line.limit)
    # amount < limit / divisor, compared without dividing (exactly a third is refused).
    if divisor > 0 and _decimal(instance.amount) * divisor >= limit:
        CRD_3.refuse(instance, f"超授信额发货,本次发货额须小于授信额的 1/{divisor:g}"
                               f"(授信额 {limit:,.2f} 元),或先汇款后依款发货", field="amount")
        return
    stored = _stored(instance, created)
    if stored is None or not stored.over_limit or stored.status == CANCELLED:
        instance.__dict__["_crd3_request"] = True


@pre_save(sender=models.Shipment, name="CRD-4")
def no_credit_line_ships_prepaid(sender, instance, created):
    """Refuse a shipment on credit for a customer without an active credit line on the shipping day."""
    if not CRD_4.on() or instance.prepaid or instance.customer_id is None or instance.shipped_on is None:
        return
    if not _shipment_terms_changed(instance, created):
        return
    if credit_line_on(instance.customer_id, instance.shipped_on) is None:
        CRD_4.refuse(instance, f"客户在 {instance.shipped_on} 无有效授信,须现金(预付款)开票提货", field="prepaid")


@pre_save(sender=models.Shipment, name="CRD-5")
def customer_on_hold_needs_manager(sender, instance, created):
    """Mark a new shipment to a customer with invoices unpaid beyond [30] days for the manager's approval."""
    if not CRD_5.on() or instance.customer_id is None or not _submitted(instance, created):
        return
    if instance.prepaid:
        return  # a prepaid (cash) shipment draws no credit: nothing for the sales department to grant
    # The hold is judged on the day the shipment is entered, or its shipping day if later: a shipment
    # back-dated to before the invoices fell overdue does not escape it.
    day = max(d for d in (instance.shipped_on, local_today()) if d is not None)
    held = on_hold(today=day).where(models.Customer.id == instance.customer_id)
    if held.exists():
        instance.__dict__["_crd5_request"] = True


@pre_save(sender=models.Shipment, name="CRD-3/CRD-5 status")
def shipment_waits_for_the_signature(sender, instance, created):
    """Hold a shipment that asks for approval as pending; a submitted one that asks nothing is shipped."""
    if instance.__dict__.get("_crd3_request") or instance.__dict__.get("_crd5_request"):
        instance.status = PENDING
    elif _submitted(instance, created) and (not created or instance.status == PENDING):
        instance.status = SHIPPED


@post_save(sender=models.Shipment, name="CRD-2/record")
def record_over_limit(sender, instance, created):
    """Count the computed over-limit shipments."""
    if instance.__dict__.pop("_crd2_computed", False):
        CRD_2.record(COMPUTE, instance, note="超授信")


@post_save(sender=models.Shipment, name="CRD-3/approval")
def over_limit_needs_manager(sender, instance, created):
    """Ask the regional manager to sign an over-limit shipment."""
    if instance.__dict__.pop("_crd3_request", False):
        approvals.require(instance, "CRD-3", ["manager"], department=instance.customer.department_id,
                          summary=f"超授信发货 {instance.customer} 发票 {instance.invoice_no} {instance.amount} 元")


@post_save(sender=models.Shipment, name="CRD-5/approval")
def on_hold_shipment_needs_manager(sender, instance, created):
    """Ask the manager to approve a new shipment to a customer on hold."""
    if instance.__dict__.pop("_crd5_request", False):
        approvals.require(instance, "CRD-5", ["manager"], department=instance.customer.department_id,
                          summary=f"欠款超 {CRD_5.get('days')} 天客户发货 {instance.customer} "
                                  f"发票 {instance.invoice_no} {instance.amount} 元")


def _shipment_signed(shipment, user):
    """Count the signed shipment as shipped, signed by the deciding manager (CRD-3, CRD-5)."""
    shipment.status = SHIPPED
    shipment.signed_by = user
    shipment.save()


def _shipment_cancelled(shipment, user):
    """Cancel a refused or withdrawn shipment; changing its terms submits it again."""
    shipment.status = CANCELLED
    shipment.save()


approvals.on_outcome(models.Shipment, approved=_shipment_signed, rejected=_shipment_cancelled,
                     withdrawn=_shipment_cancelled)


def exposure_at_decision(shipment, approval):
    """Refuse signing an over-limit shipment once the exposure above the limit reaches 1/[3] of it (CRD-3).

    Checked when the manager decides, against what is shipped by then: over-limit shipments approved
    one by one cannot take a customer far past the limit.
    """
    if not CRD_3.on() or shipment.prepaid:
        return None
    line, exposure, over = over_limit(shipment)
    if not over:
        return None
    limit = _decimal(line.limit)
    divisor = _decimal(CRD_3.get("divisor"))
    excess = exposure - limit
    if divisor > 0 and excess * divisor >= limit:
        return CRD_3.message(f"批准后欠款将达 {exposure:,.2f} 元,超出授信额 {limit:,.2f} 元 {excess:,.2f} 元,"
                             f"已达授信额的 1/{divisor:g},不能批准")
    return None


approvals.on_decide("CRD-3", exposure_at_decision)
flag(CRD_5, models.Customer, on_hold, badge="danger", name="on_hold")


# ---------------------------------------------------------------- CTR-2 / CTR-1
def _earlier_signed_contract(contract):
    """Return True when the customer already signed a contract of at least the CTR-2 amount (its documents were
    required then): a small first contract does not make a customer "not new" for a large one."""
    query = models.Contract.select().where(models.Contract.customer == contract.customer_id,
                                           models.Contract.status.in_(SIGNED_STATUSES),
                                           models.Contract.amount >= _decimal(CTR_2.get("min_amount")))
    if contract._pk is not None:
        query = query.where(models.Contract.id != contract._pk)
    return query.exists()


# Runs before CTR-1 turns a new large contract into "pending": a draft may be prepared while the
# documents are collected; they must be on file before it goes further ("协议在签署前应取得").
@pre_save(sender=models.Contract, name="CTR-2")
def new_customer_contract_needs_documents(sender, instance, created):
    """Refuse a new customer's large contract beyond draft until licence, tax and bank documents are on file."""
    if not CTR_2.on() or instance.customer_id is None or instance.status in ("draft", "terminated"):
        return
    if _decimal(instance.amount) < _decimal(CTR_2.get("min_amount")):
        return
    if not _changed(instance, created, "customer_id", "amount", "status"):
        return
    if _earlier_signed_contract(instance):
        return
    customer = models.Customer.get_by_id(instance.customer_id)
    missing = [label for name, label in (("licence_no", "营业执照号"), ("tax_no", "税务登记号"),
                                         ("bank_account", "银行账号")) if not getattr(customer, name)]
    if missing:
        CTR_2.refuse(instance, f"新客户合同金额达 {_decimal(CTR_2.get('min_amount')):,.0f} 元,"
                               f"须先在客户档案中登记{'、'.join(missing)}", field="customer")


def _approved_before(record, rule_id):
    """Return True when an approval of ``rule_id`` for ``record`` was granted."""
    return models.Approval.select().where(
        models.Approval.target_model == type(record).__name__, models.Approval.target_id == record._pk,
        models.Approval.rule == rule_id, models.Approval.status == "approved").exists()


# A contract counts towards the customer's year (CTR-1 累计) while awaiting approval, signed or performed.
COUNTED_STATUSES = ("pending",) + SIGNED_STATUSES


def _contract_year(contract):
    """Return the calendar year a contract belongs to: its signing date, else today (Beijing)."""
    return (contract.signed_on or local_today()).year


def year_total(customer_id, year, exclude=None):
    """Return the sum of ``customer_id``'s counted contracts of ``year`` (but ``exclude``) (CTR-1)."""
    query = models.Contract.select(models.Contract.id, models.Contract.amount, models.Contract.signed_on,
                                   models.Contract.created_at).where(
        models.Contract.customer == customer_id, models.Contract.status.in_(COUNTED_STATUSES))
    if exclude is not None:
        query = query.where(models.Contract.id != exclude)
    total = Decimal(0)
    for _pk, amount, signed_on, created_at in query.tuples():
        day = signed_on or (to_local(created_at).date() if created_at else local_today())
        if day.year == year:
            total += _decimal(amount)
    return total


@pre_save(sender=models.Contract, name="CTR-1")
def large_contract_waits_for_approval(sender, instance, created):
    """Put a contract into "pending" when the customer's contracts of the year reach the approval amount with it.

    Asked: a new contract reaching the amount; one raised (or moved to another customer or year) so that the
    year reaches it, or raised above the amount its approval judged; a draft put forward again that was never
    approved. Lowering an approved contract keeps its approval.
    """
    instance.__dict__.pop("_ctr1_request", None)
    if not CTR_1.on() or instance.amount is None or instance.customer_id is None:
        return
    if instance.status == "terminated" or approvals.DECIDING.get():
        return
    threshold = _decimal(CTR_1.get("min_amount"))
    year = _contract_year(instance)
    total = year_total(instance.customer_id, year, exclude=instance._pk) + _decimal(instance.amount)
    if total < threshold:
        return
    stored = _stored(instance, created)
    if stored is not None:
        moved = stored.customer_id != instance.customer_id or _contract_year(stored) != year
        before = year_total(stored.customer_id, _contract_year(stored), exclude=stored._pk) + _decimal(stored.amount)
        raised = _decimal(instance.amount) > _decimal(stored.amount)
        put_forward = stored.status == "draft" and instance.status in ("pending", "signed")
        if put_forward:
            ask = not _approved_before(instance, "CTR-1")
        elif stored.status == "draft":
            ask = raised and before < threshold  # a draft crossing the amount; later edits wait for putting forward
        else:
            # A signed contract raised or moved asks; an amount up to the approved one stays covered by it.
            approved = workflow.approved_value(instance, "amount")
            ask = moved or (raised and (approved is None or _decimal(instance.amount) > approved))
        if not ask:
            return
    if instance.status in ("draft", "signed"):
        instance.status = "pending"
    instance.__dict__["_ctr1_request"] = True


@post_save(sender=models.Contract, name="CTR-1/approval")
def large_contract_needs_manager(sender, instance, created):
    """Ask the manager to approve a contract reaching the approval amount."""
    if instance.__dict__.pop("_ctr1_request", False):
        approvals.require(instance, "CTR-1", ["manager"], department=instance.customer.department_id,
                          summary=f"合同 {instance.number} {instance.customer} {instance.amount} 元")


def _contract_approved(contract, user):
    """Sign the approved contract (dated today unless a signing date was entered)."""
    if contract.status != "pending":
        return
    contract.status = "signed"
    contract.signed_on = contract.signed_on or workflow.today()
    contract.save()


def _contract_back_to_draft(contract, user):
    """Return a refused or withdrawn contract to draft; putting it forward again asks again."""
    if contract.status != "pending":
        return
    contract.status = "draft"
    contract.save()


approvals.on_outcome(models.Contract, approved=_contract_approved, rejected=_contract_back_to_draft,
                     withdrawn=_contract_back_to_draft)


# ---------------------------------------------------------------- CTR-3
@pre_save(sender=models.Preference, name="CTR-3")
def preference_for_strategic_and_key_customers(sender, instance, created):
    """Refuse preferential terms for a customer below the key tier; submit new or changed terms to the GM."""
    instance.__dict__.pop("_ctr3_request", None)
    if not CTR_3.on() or approvals.DECIDING.get():
        return
    stored = _stored(instance, created)
    changed = stored is None or any(getattr(stored, n) != getattr(instance, n) for n in PREFERENCE_TERMS)
    if instance.customer_id is not None and changed:
        tier = models.Customer.select(models.Customer.tier).where(models.Customer.id == instance.customer_id).scalar()
        if tier not in PREFERENCE_TIERS:
            CTR_3.refuse(instance, "优惠政策仅限战略合作客户和关键客户", field="customer")
    if instance.valid_from and instance.valid_to and instance.valid_to < instance.valid_from:
        CTR_3.refuse(instance, "截止日期不能早于生效日期", field="valid_to")
    if stored is None or stored.status == "draft" or (stored.status != "rejected" and changed):
        instance.status = "pending"
        instance.__dict__["_ctr3_request"] = True
    elif instance.status != stored.status:
        instance.status = stored.status  # the status follows the GM's decision, never a person's edit


@post_save(sender=models.Preference, name="CTR-3/approval")
def preference_needs_gm(sender, instance, created):
    """Ask the GM (总经理办公会) to approve preferential terms."""
    if instance.__dict__.pop("_ctr3_request", False):
        approvals.require(instance, CTR_3.id, ["gm"],
                          summary=f"优惠政策 {instance.customer} {instance.choice_label('content')} "
                                  f"{instance.valid_from}~{instance.valid_to}")


def _preference_decided(status):
    def outcome(preference, user):
        preference.status = status
        preference.save()
    return outcome


approvals.on_outcome(models.Preference, approved=_preference_decided("approved"),
                     rejected=_preference_decided("rejected"), withdrawn=_preference_decided("draft"))
