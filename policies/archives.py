"""Rules of the archive area: loans, handovers, fines, inspections, title deeds (000 篇二/篇八, 001 第6篇)."""
import datetime
from decimal import Decimal

from peewee import fn
from playhouse.signals import post_save
from playhouse.signals import pre_delete
from playhouse.signals import pre_save

import models
from policies import approvals
from policies import workflow
from policies.calendar import add_months
from policies.calendar import add_working_days
from policies.calendar import local_midnight
from policies.calendar import to_local
from policies.calendar import local_today
from policies.calendar import to_local
from policies.engine import APPROVE
from policies.engine import BLOCK
from policies.engine import COMPUTE
from policies.engine import FLAG
from policies.engine import PolicyViolation
from policies.engine import expose
from policies.engine import flag
from policies.engine import rule

ARC_1 = rule(
    "ARC-1", "借阅期限", "000 篇二 第19条5", BLOCK, settings={"max_days": 3},
    labels={"max_days": "最长借阅天数"},
    quote="借閱者把借閱的資料的名稱、份數(shù)、借閱時間、理由等在客戶資料外借登記冊上填寫清楚,并簽字確認,客戶資料借閱時間不得超過三天。",
)

ARC_2 = rule(
    "ARC-2", "借出未还不得再借、已销毁不得借出", "000 篇二 第19条1", BLOCK,
    quote="任何處室和個人不得以任何借口分散保管客戶資料和將客戶資料據(jù)為己有。",
)

ARC_3 = rule(
    "ARC-3", "密级档案借阅查阅审批", "000 篇二 第18条4, 第22条", APPROVE,
    quote="非本企業(yè)人員查閱客戶檔案,必須持介紹信或工作證進行登記和審核,查閱密級文件須經(jīng)客戶服務(wù)部經(jīng)理批準。",
    reading="密级档案的借阅、查阅由客户服务部(部门中勾选)的部门经理审批,审批人的保密级别不得低于档案密级;绝密档案再经总经理审批。其他部门经理不能代批。",
)

ARC_4 = rule(
    "ARC-4", "借阅查阅申请手续", "000 篇二 第18–19条", BLOCK,
    quote="借閱申請由借閱者所在單位(部門)蓋章,負責(zé)人簽字。",
    reading="借阅申请须理由、份数(至少 1)、部门负责人签字;查阅申请须申请人或外部查阅人、目的、理由,本公司人员须负责人签字,外部人员须介绍信编号。",
)

ARC_5 = rule(
    "ARC-5", "员工借阅须总经理批准", "001 第6篇 六(一)", APPROVE,
    quote="公司董事長、總經理。副總經理需要借閱檔案可以直接通過檔案管理員辦理借閱手續(xù),員工因工作需要借閱檔案的,"
          "必須按借閱需求填寫《檔案資料出借單》,并經公司董事長、總經理或主管副總經理批準;",
)

ARC_6 = rule(
    "ARC-6", "归还核对完整后注销", "001 第6篇 六(四), 000 篇二 第20条", BLOCK,
    quote="檔案管理員核對資料完整無誤后將檔案復位,并登記臺帳。",
)

ARC_7 = rule(
    "ARC-7", "借阅逾期提醒", "000 篇二 第19条5", FLAG,
    quote="客戶資料借閱時間不得超過三天。",
)

ARC_8 = rule(
    "ARC-8", "档案移交期限", "000 篇八, 001 第6篇 四(五)", COMPUTE,
    settings={"sales_working_days": 3, "after_sales_working_days": 1, "project_a_working_days": 3,
              "project_b_working_days": 2},
    labels={"sales_working_days": "销售档案移交期限(工作日)", "after_sales_working_days": "售后档案移交期限(工作日)",
            "project_a_working_days": "项目档案A角移交B角期限(工作日)",
            "project_b_working_days": "项目档案B角移交档案室期限(工作日)"},
    quote="新車檔案由銷售部在銷售車3個工作日內(nèi)交于客戶關(guān)愛部客戶檔案管理員。",
    reading="销售档案 3 个工作日、售后档案 1 个工作日;项目档案 A角 3 个工作日内交 B角,B角自 A角应交日(或实际交付日,取较晚者)起 2 个工作日内交档案室,两段各自计逾期。节假日按“节假日安排”。",
)

# The correction period and the doubling thresholds are not bracketed in DOMAIN.md; they are the source's
# numbers (处罚 6 and 10), kept as settings so an admin can follow a revised rule book.
ARC_9 = rule(
    "ARC-9", "档案违规罚款", "000 篇八 处罚 1–7", COMPUTE,
    settings={"late": 50, "customer_signature": 20, "customer_signature_after_sales": 50, "staff_signature": 20,
              "incomplete": 20, "contact_unconfirmed": 50,
              "lost": 20, "sales_double_from": 2, "service_double_from": 3, "correct_within_working_days": 1},
    labels={"late": "逾期移交罚款(元/件)", "customer_signature": "缺客户签字罚款(元/项)",
            "customer_signature_after_sales": "售后档案缺客户签字罚款(元/项)", "staff_signature": "缺经办人签字罚款(元/项)",
            "incomplete": "售后档案不完整/错误罚款(元/项)", "contact_unconfirmed": "未核对联系人及联系方式罚款(元/车次)",
            "lost": "档案遗失/毁损罚款(元/件)", "sales_double_from": "销售顾问当月第几次违规起翻倍",
            "service_double_from": "服务顾问当月第几次违规起翻倍", "correct_within_working_days": "限期改正(工作日)"},
    quote="銷售顧問超過交車后3個工作日上交檔案者,罰款50元/車次。",
    reading="罚款按当前事实计算:更正日期、签字或缺项后不再成立的罚款撤销并保留记录;逾期未改正的再罚从应交日或档案录入系统之日(取较晚者)起算;含处罚3(未核对联系人)与处罚5(售后档案不完整)。",
)

ARC_10 = rule(
    "ARC-10", "复印摘录须总经理或客户信息主管批准", "000 篇二 第23条", APPROVE,
    quote="非經(jīng)總經(jīng)理或客戶信息主管批準,不得復(fù)制和摘抄。",
    reading="复印、摘录由总经理或客户信息主管审批。",
)

ARC_11 = rule(
    "ARC-11", "档案销毁审批", "000 篇二 第25条", APPROVE,
    quote="對保管期滿,失去保存價值的客戶資料要按規(guī)定銷毀,不得當作廢紙出售。",
    reading="只有保管期满(保管期限早于今天)且未借出的档案可申请销毁;审批时已借出则不能批准;“已销毁”只能由批准的销毁记录设置。",
)

ARC_12 = rule(
    "ARC-12", "保管状况半年检查", "000 篇二 第14条", FLAG, settings={"months": 6},
    labels={"months": "检查周期(月)"},
    quote="每半年對客戶檔案的保管狀況進行一次全面檢查,做好檢查記錄。",
    reading="最近一次(已发生的)检查满 6 个月即提醒;从未检查时所有在库档案提醒。",
)

ARC_13 = rule(
    "ARC-13", "权证存保险柜并按项目编号", "001 第6篇 五", BLOCK,
    quote="存檔的權證應按項目按項目編號分開保存,且權證編號應與項目的檔案編號一致。",
)

SECRET_LEVELS = ("secret", "top_secret")


# ---------------------------------------------------------------- helpers




def _changed(instance, created, *names):
    """Return True when ``instance`` is new or one of the fields ``names`` was assigned since it was loaded."""
    return created or any(field.name in names for field in instance.dirty_fields)


def _stored_value(instance, name):
    """Return the value of ``name`` as it is in the database (None for a new record)."""
    if instance._pk is None:
        return None
    model = type(instance)
    return model.select(getattr(model, name)).where(model._meta.primary_key == instance._pk).scalar()


def _user(user_id):
    return models.User.get_or_none(models.User.id == user_id) if user_id is not None else None


def _file(file_id):
    return models.ArchiveFile.get_or_none(models.ArchiveFile.id == file_id) if file_id is not None else None


def _summary(text):
    return text[:255]


def _open_loan_exists(file_id):
    return models.Loan.select().where(models.Loan.file == file_id, models.Loan.returned_at.is_null()).exists()


# ---------------------------------------------------------------- requests under approval (ARC-3, ARC-5, ARC-10)
# A request is submitted when it is created, or when its requester saves it again after withdrawing it
# (withdraw, edit, save: the approvals are asked afresh). A rejected request is final; a new one is filed.
# Its status is the approvals' outcome: a person cannot set it once approval was asked.
def _resubmitted(instance):
    """Return True when ``instance`` was withdrawn from approval and is being saved again by a person."""
    if approvals.DECIDING.get() or instance._pk is None:
        return False
    return _stored_value(instance, "status") == "withdrawn" and not approvals.is_pending(instance)


def _refuse_status_edit(rule_obj, instance, created):
    """Refuse a person's change of the status of a request whose approvals were asked."""
    if created or approvals.DECIDING.get() or approvals.state(instance) is None:
        return
    if instance.__dict__.get("_workflow_reask"):
        return  # a judged field changed: the workflow engine withdrew the decision and asks again
    if instance.status != _stored_value(instance, "status"):
        rule_obj.refuse(instance, "申请状态由审批结果决定，不能直接修改", field="status")


# ---------------------------------------------------------------- ARC-1 loan period
@pre_save(sender=models.BorrowRequest, name="ARC-1/request")
def borrow_days_within_limit(sender, instance, created):
    """Refuse a borrow request for more days than the limit."""
    if not ARC_1.on():
        return
    limit = ARC_1.get("max_days")
    if instance.days is not None and instance.days > limit:
        ARC_1.refuse(instance, f"借阅期限不得超过 {limit} 天", field="days")


@pre_save(sender=models.Loan, name="ARC-1")
def loan_period_within_limit(sender, instance, created):
    """Refuse a loan whose due time is more than the limit after lending."""
    if not ARC_1.on() or instance.lent_at is None or instance.due_at is None:
        return
    limit = ARC_1.get("max_days")
    if instance.due_at - instance.lent_at > datetime.timedelta(days=limit):
        ARC_1.refuse(instance, f"借阅期限不得超过 {limit} 天", field="due_at")


# ---------------------------------------------------------------- ARC-2 one loan at a time, never a destroyed file
@pre_save(sender=models.Loan, name="ARC-2")
def loan_of_available_file(sender, instance, created):
    """Refuse lending a destroyed file, or a file whose previous loan is still open."""
    if not ARC_2.on() or instance.file_id is None:
        return
    folder = _file(instance.file_id)
    if created and folder is not None and folder.status == "destroyed":
        ARC_2.refuse(instance, "该档案已销毁，不能借出", field="file")
        return
    if instance.returned_at is not None:
        return
    others = models.Loan.select().where(models.Loan.file == instance.file_id, models.Loan.returned_at.is_null())
    if instance._pk is not None:
        others = others.where(models.Loan.id != instance._pk)
    if others.exists():
        ARC_2.refuse(instance, "该档案已借出尚未归还，归还注销前不能再次借出", field="file")


@pre_save(sender=models.BorrowRequest, name="ARC-2/request")
def request_for_existing_file(sender, instance, created):
    """Refuse a borrow request for a destroyed file."""
    if not ARC_2.on() or not _changed(instance, created, "file"):
        return
    folder = _file(instance.file_id)
    if folder is not None and folder.status == "destroyed":
        ARC_2.refuse(instance, "该档案已销毁，不能申请借阅", field="file")


# The file's status follows the ledger (DOMAIN.md, Borrow workflow) even while ARC-2 is switched off.
@post_save(sender=models.Loan, name="ARC-2/status")
def file_status_follows_loan(sender, instance, created):
    """Compute the file's status: on loan while a loan is open, in store after a complete return."""
    folder = _file(instance.file_id)
    if folder is None or folder.status == "destroyed":
        return
    if instance.returned_at is None:
        target = "on_loan"
    elif instance.returned_complete and not models.Loan.select().where(
            models.Loan.file == folder.id, models.Loan.returned_at.is_null()).exists():
        target = "in_store"
    else:
        return
    if folder.status != target:
        folder.status = target
        folder.save()


# ---------------------------------------------------------------- ARC-3 secret files need approval
CLEARANCE_RANK = {"normal": 0, "secret": 1, "top_secret": 2}
# Departments taken as customer service when none is marked (客户服务部).
CUSTOMER_SERVICE_NAMES = ("客户服务部", "客服部")


def customer_service_department():
    """Return the department marked as customer service (else one named 客户服务部/客服部), or None."""
    marked = models.Department.select().where(models.Department.customer_service == True)  # noqa: E712
    found = marked.order_by(models.Department.id).first()
    if found is None:
        found = (models.Department.select().where(models.Department.name.in_(CUSTOMER_SERVICE_NAMES))
                 .order_by(models.Department.id).first())
    return found


def _request_file(record):
    return _file(getattr(record, "file_id", None)) if record is not None else None


def _arc3_guard(approval, user, record):
    """Let only a customer-service manager holding the file's clearance take the manager step (ARC-3)."""
    if approval.required_role != "manager":
        return None
    if approval.department_id is None:
        return "未设置客户服务部(请在“部门”中勾选客户服务部),无法审批密级档案的借阅查阅。"
    in_department = user.department_id == approval.department_id or approval.department.manager_id == user.id
    if not in_department:
        return "密级档案的借阅查阅须由客户服务部经理审批。"
    folder = _request_file(record)
    if folder is not None and CLEARANCE_RANK.get(user.clearance, 0) < CLEARANCE_RANK.get(folder.confidentiality, 0):
        return f"审批人须具有该档案的保密级别({folder.choice_label('confidentiality')})。"
    return None


approvals.on_guard(ARC_3.id, _arc3_guard)


def _clearance_roles(folder):
    if folder is None or folder.confidentiality not in SECRET_LEVELS:
        return []
    return ["manager", "gm"] if folder.confidentiality == "top_secret" else ["manager"]


@pre_save(sender=models.AccessRequest, name="ARC-3/submit")
def submit_access_request(sender, instance, created):
    """Start a new or resubmitted access request to a classified file as pending; refuse editing a decided status."""
    _refuse_status_edit(ARC_3, instance, created)
    resubmitted = _resubmitted(instance)
    submitted = created or resubmitted
    instance.__dict__["_arc_submitted"] = submitted
    if resubmitted or (submitted and ARC_3.on() and _clearance_roles(_file(instance.file_id))):
        instance.status = "pending"


def _cs_department_id():
    department = customer_service_department()
    return department.id if department is not None else None


@post_save(sender=models.BorrowRequest, name="ARC-3/borrow")
def secret_borrow_needs_approval(sender, instance, created):
    """Ask a manager (and the GM for top secret) to approve borrowing a classified file."""
    if not instance.__dict__.get("_arc_submitted") or not ARC_3.on():
        return
    folder = _file(instance.file_id)
    roles = _clearance_roles(folder)
    if roles:
        who = _user(instance.borrower_id)
        approvals.require(instance, ARC_3.id, roles, department=_cs_department_id(),
                          summary=_summary(f"{who} 借阅{folder.choice_label('confidentiality')}档案 {folder}"))


@post_save(sender=models.AccessRequest, name="ARC-3/access")
def secret_access_needs_approval(sender, instance, created):
    """Ask a manager (and the GM for top secret) to approve viewing a classified file."""
    if not instance.__dict__.pop("_arc_submitted", False) or not ARC_3.on():
        return
    folder = _file(instance.file_id)
    roles = _clearance_roles(folder)
    if roles:
        who = _user(instance.applicant_id) or instance.external_name
        approvals.require(instance, ARC_3.id, roles, department=_cs_department_id(),
                          summary=_summary(f"{who} 查阅{folder.choice_label('confidentiality')}档案 {folder}"))


def access_approved(request, user):
    """Mark an access request approved once every ARC-3 step approved it."""
    request.status = "approved"
    request.save()


def access_rejected(request, user):
    """Mark an access request rejected."""
    request.status = "rejected"
    request.save()


def access_withdrawn(request, user):
    """Mark a withdrawn access request withdrawn until its requester saves it again."""
    if request.status == "pending":
        request.status = "withdrawn"
        request.save()


approvals.on_outcome(models.AccessRequest, approved=access_approved, rejected=access_rejected,
                     withdrawn=access_withdrawn)


# ---------------------------------------------------------------- ARC-4 the request's paperwork
@pre_save(sender=models.BorrowRequest, name="ARC-4")
def borrow_request_complete(sender, instance, created):
    """Refuse a borrow request without reason, copies or the department head's signature."""
    if not ARC_4.on():
        return
    if not (instance.reason or "").strip():
        ARC_4.refuse(instance, "借阅申请须写明借阅理由", field="reason")
    if instance.copies is None or instance.copies < 1:
        ARC_4.refuse(instance, "借阅份数至少为 1 份", field="copies")
    if not instance.dept_head_signed:
        ARC_4.refuse(instance, "借阅申请须由所在部门负责人签字", field="dept_head_signed")


ACCESS_PAPERWORK = ("applicant", "external_name", "intro_letter_no", "purpose", "reason", "dept_head_signed")


@pre_save(sender=models.AccessRequest, name="ARC-4/access")
def access_request_complete(sender, instance, created):
    """Refuse an access request without applicant, purpose or reason; staff need the head's sign-off,
    an external person an introduction letter number."""
    if not ARC_4.on() or not _changed(instance, created, *ACCESS_PAPERWORK):
        return
    external = instance.applicant_id is None and (instance.external_name or "").strip()
    if instance.applicant_id is None and not external:
        ARC_4.refuse(instance, "查阅申请须填写申请人(本公司人员)或外部查阅人", field="applicant")
    if external and not (instance.intro_letter_no or "").strip():
        ARC_4.refuse(instance, "外单位人员查阅档案须登记介绍信(或工作证)编号", field="intro_letter_no")
    if not (instance.purpose or "").strip():
        ARC_4.refuse(instance, "查阅申请须写明查阅目的", field="purpose")
    if not (instance.reason or "").strip():
        ARC_4.refuse(instance, "查阅申请须写明查阅理由", field="reason")
    if instance.applicant_id is not None and not instance.dept_head_signed:
        ARC_4.refuse(instance, "本公司人员查阅须由所在部门负责人签字", field="dept_head_signed")


# ---------------------------------------------------------------- ARC-5 staff loans need the GM
# 001 第6篇 六(一): the chairman, the GM and the deputy GMs borrow directly through the archivist.
DIRECT_BORROWERS = ("gm", "deputy")


def _borrows_directly(user):
    return user is not None and bool(user.role_codes() & set(DIRECT_BORROWERS))


def _borrow_needs_approval(instance):
    """Return True when submitting ``instance`` asks ARC-3, ARC-5 or ARC-10 for approval."""
    return ((ARC_3.on() and bool(_clearance_roles(_file(instance.file_id))))
            or (ARC_5.on() and not _borrows_directly(_user(instance.borrower_id)))
            or (ARC_10.on() and bool(instance.copy_requested)))


@pre_save(sender=models.BorrowRequest, name="ARC-5/submit")
def submit_borrow_request(sender, instance, created):
    """Start a new or resubmitted borrow request as pending, or approve it at once when no rule asks."""
    _refuse_status_edit(ARC_5, instance, created)
    submitted = created or _resubmitted(instance)
    instance.__dict__["_arc_submitted"] = submitted
    if not submitted:
        return
    if _borrow_needs_approval(instance):
        instance.status = "pending"
        return
    instance.status = "approved"
    # ARC-2 would refuse lending it now; say so at the request's own field.
    if ARC_2.on() and instance.file_id is not None and _open_loan_exists(instance.file_id):
        ARC_2.refuse(instance, "该档案已借出尚未归还，归还注销前不能再次借出", field="file")


# "Created by a non-gm" is read as "borrowed by a non-gm": the GM borrows directly even when a clerk
# types the request in, and a staff member's request needs the GM even when the GM typed it in.
@post_save(sender=models.BorrowRequest, name="ARC-5")
def staff_borrow_needs_gm(sender, instance, created):
    """Ask the GM (or a deputy) to approve a borrow request of anyone but the GM or a deputy."""
    if not instance.__dict__.pop("_arc_submitted", False) or not ARC_5.on():
        return
    borrower = _user(instance.borrower_id)
    if _borrows_directly(borrower):
        return
    approvals.require(instance, ARC_5.id, ["gm"],
                      summary=_summary(f"{borrower} 申请借阅 {_file(instance.file_id)} {instance.days} 天"))


def _no_loan_yet(request):
    return request._pk is None or not models.Loan.select().where(models.Loan.request == request._pk).exists()


@workflow.guard(models.BorrowRequest, "lend")
def lend_guard(request, user, values):
    """Refuse lending a request twice, more copies than requested, or a file that is out or destroyed (ARC-2)."""
    errors = []
    if not _no_loan_yet(request):
        errors.append((ARC_2.id, "该借阅申请已经借出,不能重复借出", None))
    copies = values.get("copies", request.copies)
    try:
        copies = int(copies) if copies not in (None, "") else request.copies
    except (TypeError, ValueError):
        copies = None
    if copies is None or copies < 1 or copies > (request.copies or 0):
        errors.append((ARC_4.id, f"借出份数须在 1 至申请的 {request.copies} 份之间", "copies"))
    folder = _file(request.file_id)
    if folder is not None and folder.status == "destroyed":
        errors.append((ARC_2.id, "该档案已销毁，不能借出", None))
    elif request.file_id is not None and _open_loan_exists(request.file_id):
        errors.append((ARC_2.id, "该档案已借出尚未归还，归还注销前不能再次借出", None))
    return errors


@workflow.implement(models.BorrowRequest, "lend")
def _lend(request, user, copies=None):
    """Open the ledger line of an approved request: lent now, due after its days (ARC-2 puts the file on loan)."""
    lent_at = workflow.now()
    loan = models.Loan.create(request=request, file=request.file_id, borrower=request.borrower_id,
                              copies=int(copies) if copies not in (None, "") else request.copies,
                              lent_at=lent_at, due_at=lent_at + datetime.timedelta(days=request.days))
    workflow.record(request, request._meta.workflow.actions["lend"], request.status,
                    f"外借登记 #{loan.id},{loan.copies} 份,应还 {loan.due_at:%Y-%m-%d %H:%M}(UTC)")
    return loan


def lend(request, copies=None, user=None):
    """Lend the file of an approved borrow request: the only way a Loan comes to exist; return the Loan."""
    return workflow.run_action(request, "lend", user, copies=copies if copies is not None else request.copies)


def return_loan(loan, complete, checked_by, note=""):
    """Return a loan: closes the ledger line only when the archivist confirms the file complete (ARC-6);
    an incomplete return keeps the line open with the checker and the note of what is missing."""
    if not complete:
        return workflow.run_action(loan, "check_incomplete", checked_by, return_note=note or "")
    return workflow.run_action(loan, "return", checked_by, returned_complete=True, return_note=note or "")


@workflow.guard(models.Loan, "check_incomplete")
def incomplete_return_noted(loan, user, values):
    """Refuse recording an incomplete return without saying what is missing or damaged (ARC-6)."""
    if not str(values.get("return_note") or "").strip():
        return [(ARC_6.id, "核对未完整时须写明缺失或损坏的情况，登记保持未注销", "return_note")]
    return []


def borrow_approved(request, user):
    """Approve the request once every ARC-3/ARC-5/ARC-10 approval is given; the archivist then lends it."""
    if request.status != "approved":
        request.status = "approved"
        request.save()


@pre_save(sender=models.BorrowRequest, name="ARC-1/lent")
def lent_request_fixed(sender, instance, created):
    """Refuse changing the file, days or copies of a request that was lent (the loan is the ledger line)."""
    if created or _no_loan_yet(instance):
        return
    stored = models.BorrowRequest.get_by_id(instance._pk)
    for name, rule_obj in (("days", ARC_1), ("file", ARC_2), ("copies", ARC_4)):
        if models.comparable(stored, name) != models.comparable(instance, name):
            label = models.BorrowRequest._meta.fields[name].verbose_name
            rule_obj.refuse(instance, f"该申请已经借出,不能修改{label}", field=name)


def borrow_rejected(request, user):
    """Reject the request: no loan opens; a copy request turned down after the loan only clears copy_requested."""
    if request.status == "approved":
        request.copy_requested = False
    else:
        request.status = "rejected"
    request.save()


def borrow_withdrawn(request, user):
    """Mark a withdrawn request withdrawn (its requester edits and saves it to resubmit); a withdrawn copy
    request of an approved loan lapses."""
    if request.status == "approved" and request.copy_requested:
        request.copy_requested = False
        request.save()
    elif request.status == "pending":
        request.status = "withdrawn"
        request.save()


approvals.on_outcome(models.BorrowRequest, approved=borrow_approved, rejected=borrow_rejected,
                     withdrawn=borrow_withdrawn)


# ---------------------------------------------------------------- ARC-6 the archivist closes the ledger line
@pre_save(sender=models.Loan, name="ARC-6")
def return_checked_by_archivist(sender, instance, created):
    """Refuse closing a loan unless an archivist confirmed the file came back complete."""
    if not ARC_6.on() or instance.returned_at is None:
        return
    if not instance.returned_complete:
        ARC_6.refuse(instance, "档案管理员核对资料完整无误后方可注销归还(遗失或毁损请勾选“遗失/毁损”，不填归还时间)",
                     field="returned_complete")
    checker = _user(instance.checked_by_id)
    if checker is None or "archivist" not in checker.role_codes():
        ARC_6.refuse(instance, "归还须由档案管理员核验(核验人须为档案管理员)", field="checked_by")


# ---------------------------------------------------------------- ARC-7 overdue loans
def overdue_loans(now=None):
    """Return the open loans past their due time (ARC-7)."""
    Loan = models.Loan
    now = now or models.utcnow()
    # A return dated after now has not happened yet: the loan is still out.
    still_out = Loan.returned_at.is_null() | (Loan.returned_at > now)
    return Loan.select().where(still_out, Loan.due_at < now)


flag(ARC_7, models.Loan, overdue_loans, badge="danger", name="overdue")


def open_loans():
    """Return the loans whose ledger line is not yet cancelled (注销)."""
    Loan = models.Loan
    return Loan.select().where(Loan.returned_at.is_null())


def loans_due_tomorrow(now=None):
    """Return the open loans due during tomorrow (local calendar day), for the reminders (ARC-7)."""
    Loan = models.Loan
    tomorrow = to_local(now or models.utcnow()).date() + datetime.timedelta(days=1)
    return Loan.select().where(Loan.returned_at.is_null(), Loan.due_at >= local_midnight(tomorrow),
                               Loan.due_at < local_midnight(tomorrow + datetime.timedelta(days=1)))


expose(models.Loan, "open", open_loans)
expose(models.Loan, "due_tomorrow", loans_due_tomorrow)


# ---------------------------------------------------------------- ARC-8 handover due date
# Project files go in two stages (001 第6篇 四(五)): A to B within [3] working days of the project end, B to the
# archive room within [2] further working days, counted from the later of A's due date and A's actual handover,
# so that each stage is late on its own ("a late stage is late whatever the other did").
def handover_due_on(kind, event_on, stage1_on=None):
    """Return the date a handover of ``kind`` is due in the archive after ``event_on`` (sale, delivery, project end)."""
    if kind == "after_sales":
        return add_working_days(event_on, ARC_8.get("after_sales_working_days"))
    if kind == "project":
        stage1_due = stage1_due_on(event_on)
        start = max(stage1_due, stage1_on) if stage1_on is not None else stage1_due
        return add_working_days(start, ARC_8.get("project_b_working_days"))
    return add_working_days(event_on, ARC_8.get("sales_working_days"))


def stage1_due_on(event_on):
    """Return when project manager A must hand a project file to project manager B."""
    return add_working_days(event_on, ARC_8.get("project_a_working_days"))


def _stage1_done(handover):
    """Return the day A handed over to B: as entered, else the day the file reached the archive."""
    return handover.stage1_on or handover.handed_on


@pre_save(sender=models.Handover, name="ARC-8")
def compute_handover_due(sender, instance, created):
    """Compute the handover's due dates from its kind and the event date (a project's two stages)."""
    if not ARC_8.on() or not isinstance(instance.event_on, datetime.date):
        return
    if instance.kind == "project":
        if instance.stage1_on and instance.handed_on and instance.handed_on < instance.stage1_on:
            ARC_8.refuse(instance, "移交档案室日期不能早于A角移交B角日期", field="handed_on")
        stage1 = stage1_due_on(instance.event_on)
        due_on = handover_due_on("project", instance.event_on, _stage1_done(instance))
    else:
        stage1 = None
        due_on = handover_due_on(instance.kind, instance.event_on)
    if instance.due_on != due_on or instance.stage1_due_on != stage1:
        instance.due_on = due_on
        instance.stage1_due_on = stage1
        instance.__dict__["_arc8_computed"] = True


@post_save(sender=models.Handover, name="ARC-8/record")
def record_handover_due(sender, instance, created):
    """Count the due date computed for this save."""
    if instance.__dict__.pop("_arc8_computed", False):
        ARC_8.record(COMPUTE, instance)


def late_handovers(today=None):
    """Return the handovers still not made after their due date, or made after it (ARC-8)."""
    Handover = models.Handover
    if today is None:
        today = local_today()
    # A handover dated after today has not been made yet.
    handed = Handover.handed_on.is_null(False) & (Handover.handed_on <= today)
    # A project's first stage (A to B) is late on its own, whatever the second did.
    stage1 = ((Handover.stage1_on.is_null() & Handover.handed_on.is_null() & (Handover.stage1_due_on < today))
              | (Handover.stage1_on > Handover.stage1_due_on))
    return Handover.select().where((~handed & (Handover.due_on < today))
                                   | (handed & (Handover.handed_on > Handover.due_on)) | stage1)


flag(ARC_8, models.Handover, late_handovers, badge="warning", name="late")


# ---------------------------------------------------------------- ARC-9 fines
# Reading of 000 篇八 处罚:
# - one Penalty row is one violation (受处罚一次): lateness, each repeat of it, the missing customer
#   signatures of one handover, its missing staff signatures, an unconfirmed contact (处罚3), the incomplete
#   items of an after-sales file (处罚5), a lost or damaged file;
# - signature and completeness fines are rate × items, charged once the file is handed over (handed_on set);
# - late: the first violation falls on the day after the due date; it is "uncorrected" (处罚 10) when the file
#   is still not handed over once working day n of the correction period has ended, and counts again the next
#   day. The correction period starts at the due date, or when the handover was entered if that is later:
#   nobody can be told to correct what the console did not know (no fines for a period before the record);
# - a project file's stages are fined separately: A for stage 1, B (receiver, else A) for stage 2;
# - doubling (处罚 6): the nth ARC-9 fine in force of the person in the calendar month of its date is doubled
#   from n = 2 for a `sales` user and n = 3 for a `service` user; other roles are never doubled;
# - fines follow the facts: each save recomputes what the facts as they stand earn; a fine no longer earned
#   (a date or an item corrected) is withdrawn with the reason, never deleted; a missing one is created;
# - lost or damaged (处罚 7): the archivist ticks Loan.lost_or_damaged; the borrower is fined once per loan.
#   (A return with returned_complete=False cannot be saved: ARC-6 keeps such a ledger line open.)
DOUBLED = "(本月第"


def late_dates(due_on, until, since=None):
    """Return the dates of the lateness violation and of each uncorrected repeat up to ``until``.

    ``since`` is the day the record was entered: the correction period starts no earlier.
    """
    if due_on is None or until is None or until <= due_on:
        return []
    dates = [due_on + datetime.timedelta(days=1)]
    start = max(due_on, since) if since is not None else due_on
    window = max(1, ARC_9.get("correct_within_working_days"))
    n = 1
    while True:
        deadline = add_working_days(start, n * window)
        if until <= deadline:
            return dates
        dates.append(deadline + datetime.timedelta(days=1))
        n += 1


def _double_from(user):
    codes = user.role_codes()
    limits = [ARC_9.get(key) for code, key in (("sales", "sales_double_from"), ("service", "service_double_from"))
              if code in codes]
    return min(limits) if limits else None


def _base_note(note):
    return (note or "").split(DOUBLED)[0]


def _create_fine(user, source, violation, on, amount, note, folder=None):
    month = on.replace(day=1)
    ordinal = models.Penalty.in_force().where(
        models.Penalty.user == user, models.Penalty.rule == ARC_9.id,
        models.Penalty.on >= month, models.Penalty.on < add_months(month, 1)).count() + 1
    amount = Decimal(amount)
    threshold = _double_from(user)
    if threshold is not None and ordinal >= threshold:
        amount *= 2
        note = f"{note}{DOUBLED} {ordinal} 次违规，罚款翻倍)"
    return models.Penalty.create(user=user, rule=ARC_9.id, violation=violation, amount=amount, on=on,
                                 source=source, note=note, file=folder)


def _reconcile(source, expected, reason, folder=None):
    """Make the fines in force of ``source`` match ``expected`` [(user, violation, on, amount, note)].

    A fine in force that the facts no longer earn is withdrawn (kept); an earned one not in force is created.
    """
    in_force = list(models.Penalty.in_force().where(models.Penalty.rule == ARC_9.id, models.Penalty.source == source)
                    .order_by(models.Penalty.id))
    missing = []
    for user, violation, on, amount, note in expected:
        match = next((row for row in in_force if row.user_id == user.id and row.violation == violation
                      and row.on == on and _base_note(row.note) == note), None)
        if match is not None:
            in_force.remove(match)
        else:
            missing.append((user, violation, on, amount, note))
    for row in in_force:
        with workflow.running("ARC-9 撤销罚款"):  # the rule withdraws what the corrected facts no longer earn
            row.withdrawn_at = models.utcnow()
            row.withdrawn_reason = reason
            row.save()
    return [_create_fine(user, source, violation, on, amount, note, folder)
            for user, violation, on, amount, note in missing]


def _late_fines(user, number, stage, due_on, done_on, since, today):
    late = ARC_9.get("late")
    dates = late_dates(due_on, done_on or today, since)
    fines = []
    if dates:
        fines.append((user, "late", dates[0], late, f"{number} {stage}应于 {due_on} 前移交，逾期"))
        fines += [(user, "late_repeat", on, late, f"{number} {stage}逾期未改正，第 {n} 次再次计罚")
                  for n, on in enumerate(dates[1:], start=1)]
    return fines


def handover_fines(handover, today=None):
    """Return the ARC-9 fines [(user, violation, on, amount, note)] the handover's facts earn by ``today``."""
    user = _user(handover.handed_by_id)
    folder = _file(handover.file_id)
    if user is None or folder is None or handover.due_on is None:
        return []
    today = today or local_today()
    since = to_local(handover.created_at).date() if handover.created_at else None
    fines = []
    if handover.kind == "project" and handover.stage1_due_on is not None:
        receiver = _user(handover.receiver_id) or user
        fines += _late_fines(user, folder.number, "A角移交B角", handover.stage1_due_on, _stage1_done(handover),
                             since, today)
        fines += _late_fines(receiver, folder.number, "B角移交档案室", handover.due_on, handover.handed_on,
                             since, today)
    else:
        fines += _late_fines(user, folder.number, "", handover.due_on, handover.handed_on, since, today)
    if handover.kind == "after_sales" and not handover.contact_confirmed:
        fines.append((user, "contact_unconfirmed", handover.event_on, ARC_9.get("contact_unconfirmed"),
                      f"{folder.number} 接修时未核对联系人及其唯一联系方式"))
    if handover.handed_on is not None:
        items = list(folder.items)
        unsigned = [item.name for item in items if not item.customer_signed]
        if unsigned:
            key = "customer_signature_after_sales" if handover.kind == "after_sales" else "customer_signature"
            fines.append((user, "customer_signature", handover.handed_on, ARC_9.get(key) * len(unsigned),
                          f"{folder.number} {len(unsigned)} 项材料缺客户签字：{'、'.join(unsigned)}"))
        unsigned = [item.name for item in items if not item.staff_signed]
        if unsigned:
            fines.append((user, "staff_signature", handover.handed_on, ARC_9.get("staff_signature") * len(unsigned),
                          f"{folder.number} {len(unsigned)} 项材料缺经办人签字：{'、'.join(unsigned)}"))
        if handover.kind == "after_sales" and (handover.missing_items or 0) > 0:
            fines.append((user, "incomplete", handover.handed_on, ARC_9.get("incomplete") * handover.missing_items,
                          f"{folder.number} 售后档案不完整/错误 {handover.missing_items} 项"))
    return fines


def handover_penalties(handover, today=None):
    """Bring the ARC-9 fines of ``handover`` in line with its facts by ``today``; return the fines created."""
    return _reconcile(f"Handover#{handover.id}", handover_fines(handover, today),
                      "移交记录更正后不再构成该项违规，罚款撤销(保留记录)", _file(handover.file_id))


def computed_fine(penalty):
    """Return True when ``penalty`` is one ARC-9 computes from a handover or a loan (it follows their facts)."""
    return penalty.rule == ARC_9.id and (penalty.source or "").startswith(("Handover#", "Loan#"))


@workflow.guard(models.Penalty, "revoke")
def revoke_only_hand_entered_fines(penalty, user, values):
    """Refuse withdrawing by hand a fine ARC-9 computes: correcting its handover or loan withdraws it."""
    if computed_fine(penalty):
        return [(ARC_9.id, "该罚款由 ARC-9 根据移交或外借记录自动计算,请更正该记录,罚款随之撤销", None)]
    return []


@post_save(sender=models.Handover, name="ARC-9")
def fine_handover(sender, instance, created):
    """Recompute the fines of a handover from its facts: lateness, signatures, contact, completeness."""
    if ARC_9.on() and handover_penalties(instance):
        ARC_9.record(COMPUTE, instance)


@post_save(sender=models.ArchiveItem, name="ARC-9/item")
def refine_after_item_change(sender, instance, created):
    """Recompute the signature fines of the handed-over handovers of the item's file."""
    if not ARC_9.on() or instance.file_id is None:
        return
    for handover in models.Handover.select().where(models.Handover.file == instance.file_id,
                                                   models.Handover.handed_on.is_null(False)):
        if handover_penalties(handover):
            ARC_9.record(COMPUTE, handover)


@post_save(sender=models.Loan, name="ARC-9/lost")
def fine_lost_file(sender, instance, created):
    """Compute the penalty of a borrower whose loaned file was lost or damaged; unticking withdraws it."""
    if not ARC_9.on():
        return
    borrower = _user(instance.borrower_id)
    folder = _file(instance.file_id)
    if borrower is None:
        return
    source = f"Loan#{instance.id}"
    existing = models.Penalty.select().where(models.Penalty.rule == ARC_9.id, models.Penalty.source == source,
                                             models.Penalty.violation == "lost")
    in_force = existing.where(models.Penalty.withdrawn_at.is_null()).first()
    expected = []
    if instance.lost_or_damaged:
        on = in_force.on if in_force is not None else local_today()
        expected = [(borrower, "lost", on, ARC_9.get("lost"), f"{folder.number if folder else ''} 借阅期间遗失/毁损")]
    if _reconcile(source, expected, "遗失/毁损登记已更正，罚款撤销(保留记录)", folder):
        ARC_9.record(COMPUTE, instance)


def link_penalty_files():
    """Fill the file of ARC-9 penalties stored before penalties named it (an upgrade); return how many."""
    sources = {"Handover": models.Handover, "Loan": models.Loan}
    linked = 0
    rows = models.Penalty.select(models.Penalty.id, models.Penalty.source).where(
        models.Penalty.file.is_null(), models.Penalty.source.contains("#"))
    for penalty_id, source in rows.tuples():
        kind, _, pk = source.partition("#")
        model = sources.get(kind)
        if model is None or not pk.isdigit():
            continue
        file_id = model.select(model.file).where(model.id == int(pk)).scalar()
        if file_id is not None:
            # Bookkeeping of an upgrade, not an edit of the ledger line: no version bump, no audit row.
            linked += models.Penalty.update(file=file_id).where(models.Penalty.id == penalty_id).execute()
    return linked


def recount_uncorrected(today=None):
    """Fine again every handover still not made once its correction period ended (处罚 10); return the new rows."""
    if not ARC_9.on():
        return []
    today = today or local_today()
    rows = []
    with models.db.atomic():
        open_handovers = models.Handover.select().where(
            models.Handover.handed_on.is_null(),
            (models.Handover.due_on < today) | (models.Handover.stage1_due_on < today))
        for handover in open_handovers:
            new = handover_penalties(handover, today)
            if new:
                ARC_9.record(COMPUTE, handover, note=f"逾期未改正，新增 {len(new)} 条罚款")
            rows += new
    return rows


# ---------------------------------------------------------------- ARC-10 copies need the GM or the info supervisor
@pre_save(sender=models.BorrowRequest, name="ARC-10/track")
def note_new_copy_request(sender, instance, created):
    """Remember whether this save newly asks for copying or excerpting."""
    instance.__dict__["_arc10_new"] = bool(instance.copy_requested) and (
        instance.__dict__.get("_arc_submitted") or not _stored_value(instance, "copy_requested"))


@post_save(sender=models.BorrowRequest, name="ARC-10")
def copy_needs_gm(sender, instance, created):
    """Ask the GM or the customer-information supervisor to approve copying or excerpting a file."""
    if instance.__dict__.pop("_arc10_new", False) and ARC_10.on():
        approvals.require(instance, ARC_10.id, ["gm"],
                          summary=_summary(f"{_user(instance.borrower_id)} 申请复印/摘录 {_file(instance.file_id)}"))


# ---------------------------------------------------------------- ARC-11 destruction, never deletion
# "保管期满": retain_until is in the past (the day itself is still within the period). A file on loan is
# not in the archive to be destroyed: it may be neither proposed nor approved for destruction.
def _destruction_refusals(folder, today):
    """Return why ``folder`` may not be destroyed on ``today`` (Chinese), or []."""
    if folder is None:
        return []
    reasons = []
    if folder.status == "destroyed":
        reasons.append("该档案已销毁")
    if folder.retain_until is None:
        reasons.append("该档案未登记保管期限，不能申请销毁")
    elif folder.retain_until >= today:
        reasons.append(f"该档案保管期限至 {folder.retain_until}，未满期不能销毁")
    if _open_loan_exists(folder.id):
        reasons.append("该档案已借出尚未归还，不能销毁")
    return reasons


# A destruction withdrawn by its requester is asked again when saved; a rejected one is final.
@pre_save(sender=models.Destruction, name="ARC-11/submit")
def note_destruction_submission(sender, instance, created):
    """Refuse proposing a file not past its retention period or on loan; note whether this save submits it."""
    submitted = created or (
        not approvals.DECIDING.get() and instance.approved_by_id is None and approvals.state(instance) == "withdrawn")
    instance.__dict__["_arc11_submitted"] = submitted
    if submitted and ARC_11.on():
        for reason in _destruction_refusals(_file(instance.file_id), local_today()):
            ARC_11.refuse(instance, reason, field="file")


@pre_save(sender=models.ArchiveFile, name="ARC-11/status")
def destroyed_only_through_the_destruction(sender, instance, created):
    """Refuse a person marking a file destroyed, or bringing a destroyed file back."""
    if not ARC_11.on() or approvals.DECIDING.get():
        return
    stored = _stored_value(instance, "status") if not created else None
    if instance.status == "destroyed" and stored != "destroyed":
        ARC_11.refuse(instance, "档案只能经批准的销毁记录销毁，不能直接改为已销毁", field="status")
    elif stored == "destroyed" and instance.status != "destroyed":
        ARC_11.refuse(instance, "已销毁的档案不能恢复", field="status")


@post_save(sender=models.Destruction, name="ARC-11")
def destruction_needs_gm(sender, instance, created):
    """Ask the GM to approve a destruction."""
    if instance.__dict__.pop("_arc11_submitted", False) and ARC_11.on():
        approvals.require(instance, ARC_11.id, ["gm"],
                          summary=_summary(f"销毁档案 {_file(instance.file_id)}：{instance.reason}"))


def destruction_approved(destruction, user):
    """Record the approving GM and today's date, and mark the file destroyed (it stays in the database).

    A file lent out since the proposal refuses the decision (it is not stored; decide again once returned).
    """
    folder = _file(destruction.file_id)
    reasons = _destruction_refusals(folder, local_today()) if ARC_11.on() else []
    if reasons:
        raise PolicyViolation(ARC_11.id, ARC_11.message("；".join(reasons)), "file")
    destruction.approved_by = user
    destruction.destroyed_on = workflow.today()
    destruction.save()
    folder = _file(destruction.file_id)
    if folder is not None and folder.status != "destroyed":
        folder.status = "destroyed"
        folder.save()


# A rejected or withdrawn destruction destroys nothing.
approvals.on_outcome(models.Destruction, approved=destruction_approved)


@pre_delete(sender=models.ArchiveFile, name="ARC-11/delete")
def archive_file_never_deleted(sender, instance):
    """Refuse deleting an archive file."""
    if ARC_11.on():
        # The engine collects refusals of saves only; a delete is refused here, before anything is removed.
        raise PolicyViolation(ARC_11.id, ARC_11.message("档案不得删除，只能经审批销毁"))


# ---------------------------------------------------------------- ARC-12 storage inspection
# The rule concerns the archive room: when an inspection is due the latest inspection is flagged on the
# 保管检查 list, and while the room was never inspected every file kept in it is flagged on the 档案 list.
# Only inspections that happened count (one dated after today clears nothing).
def _last_inspection(today):
    Inspection = models.Inspection
    return (Inspection.select().where(Inspection.on <= today)
            .order_by(Inspection.on.desc(), Inspection.id.desc()).first())


def inspection_due(today=None):
    """Return (whether a storage inspection is due, the date it fell due; None if never inspected) (ARC-12)."""
    if not ARC_12.on():
        return False, None
    today = today or local_today()
    last = _last_inspection(today)
    if last is None:
        return True, None
    due_on = add_months(last.on, ARC_12.get("months"))
    return today >= due_on, due_on


def inspection_overdue(today=None):
    """Return the latest inspection when the next one is due (ARC-12 flag on the inspection list)."""
    today = today or local_today()
    due, due_on = inspection_due(today)
    last = _last_inspection(today) if due and due_on is not None else None
    return models.Inspection.select().where(models.Inspection.id == (last.id if last is not None else 0))


def files_never_inspected(today=None):
    """Return the files kept in the archive while it was never inspected (ARC-12 flag on the file list)."""
    if _last_inspection(today or local_today()) is not None:
        return models.ArchiveFile.select().where(models.ArchiveFile.id == 0)
    return models.ArchiveFile.select().where(models.ArchiveFile.status != "destroyed")


expose(models.Inspection, "due", inspection_due)
flag(ARC_12, models.Inspection, inspection_overdue, badge="warning")
flag(ARC_12, models.ArchiveFile, files_never_inspected, badge="secondary")


# ---------------------------------------------------------------- ARC-13 title deeds
# 001 第6篇 五(五) wants the deed's number to equal its project file's number (鴻借字第001號 for both).
# Archive numbers are unique here, so a deed's number is its project file's number followed by a suffix
# that does not start with a digit, e.g. 鸿借字第001号-权证 (a "-1" suffix would read as another number).
def project_of_deed(number):
    """Return the project file whose number the title deed number ``number`` carries, or None."""
    number = number or ""
    candidates = models.ArchiveFile.select().where(
        models.ArchiveFile.kind == "project",
        fn.SUBSTR(number, 1, fn.LENGTH(models.ArchiveFile.number)) == models.ArchiveFile.number)
    for project in candidates:
        rest = number[len(project.number):]
        if not rest[:1].isdigit():
            return project
    return None


@pre_save(sender=models.ArchiveFile, name="ARC-13")
def title_deed_in_safe_with_project_number(sender, instance, created):
    """Refuse a title deed kept outside the safe or numbered unlike any project file."""
    if not ARC_13.on() or instance.kind != "title_deed":
        return
    if not _changed(instance, created, "kind", "number", "location"):
        return
    if instance.location != "safe":
        ARC_13.refuse(instance, "权证须存入保险柜单独保存", field="location")
    if project_of_deed(instance.number) is None:
        ARC_13.refuse(instance, "权证编号须与其项目档案编号一致(以已有项目档案编号开头，如“鸿借字第001号-权证”)",
                      field="number")


# ---------------------------------------------------------------- access requests decided by hand
def _decided_by_hand(request, user, values):
    """Refuse granting or refusing by hand an access request whose approvals were asked (ARC-3)."""
    if approvals.state(request) is not None:
        return [(ARC_3.id, "该查阅申请由审批决定，不能直接同意或驳回", None)]
    return []


workflow.guard(models.AccessRequest, "grant")(_decided_by_hand)
workflow.guard(models.AccessRequest, "deny")(_decided_by_hand)


@pre_delete(sender=models.BorrowRequest, name="ARC-2/lent-request")
def lent_request_never_deleted(sender, instance):
    """Refuse deleting a borrow request that was lent: its loan is a ledger line that points at it."""
    if not _no_loan_yet(instance):
        raise PolicyViolation(ARC_2.id, ARC_2.message("该借阅申请已经借出,外借登记引用它,不能删除"))
