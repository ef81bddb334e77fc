"""Build valid records of any model from the schema alone (no per-model code)."""
import contextlib
import datetime
import decimal
import itertools
import logging

import pytest
from peewee import BooleanField
from peewee import CharField
from peewee import DateField
from peewee import DateTimeField
from peewee import DecimalField
from peewee import FloatField
from peewee import ForeignKeyField
from peewee import IntegerField
from peewee import TextField
from stdnum.cn import ric
from stdnum.cn import uscc

import models
import policies
from policies import approvals
from policies import workflow
from views.fields import to_local

_seq = itertools.count(1)


def default_value(model, field):
    """Return a valid value for a required ``field`` with no default."""
    if field.choices:
        return field.choices[0][0]
    if isinstance(field, ForeignKeyField):
        return make(field.rel_model)
    if isinstance(field, (CharField, TextField)):
        n = next(_seq)
        text = f"测试{field.verbose_name or field.name}{n}"
        return text[: field.max_length] if getattr(field, "max_length", None) else text
    if isinstance(field, DecimalField):
        return decimal.Decimal("100.00")
    if isinstance(field, (IntegerField, FloatField)):
        return next(_seq) if field.unique else 1
    if isinstance(field, DateTimeField):
        return models.utcnow().replace(microsecond=0)
    if isinstance(field, DateField):
        return datetime.date.today() + datetime.timedelta(days=next(_seq) if field.model is models.Attendance else 0)
    if isinstance(field, BooleanField):
        return False
    raise TypeError(f"no default for {model.__name__}.{field.name}")


# Values block rules require that the schema alone cannot tell, by model name (rule id in the comment).
VALID = {
    # CUS-2: a customer confirmed by a sales director (so tests can edit it); pass approved_by=None to ask.
    "Customer": lambda: dict(approved_by=approver()),
    # ARC-4: a borrow request states its reason and carries the department head's sign-off.
    "BorrowRequest": lambda: dict(reason="核对合同原件", dept_head_signed=True),
    # ARC-4: an access request states applicant, purpose and reason, with the head's sign-off.
    "AccessRequest": lambda: dict(applicant=make(models.User), purpose="核对合同", reason="客户来电询问合同条款",
                                  dept_head_signed=True),
    # SRV-1: a service order records address, contact, model, purchase date and fault.
    "ServiceOrder": lambda: dict(address="杭州市西湖区文三路90号", contact_phone="13805710001", product_model="GT-06N",
                                 purchase_date=datetime.date(2026, 1, 5), fault="终端无法定位"),
    # CRD-1: an active credit line needs the customer's archive (with licence), a signed contract.
    "CreditLine": lambda: dict(customer=credit_ready_customer()),
    # A loan is due after it was lent (Meta.domain).
    "Loan": lambda: dict(due_at=models.utcnow().replace(microsecond=0) + datetime.timedelta(days=3)),
    # CRD-4: a customer without a credit line ships only prepaid.
    "Shipment": lambda: dict(prepaid=True),
    # ARC-11: only a file past its retention period may be proposed for destruction.
    "Destruction": lambda: dict(file=make(models.ArchiveFile,
                                          retain_until=datetime.date.today() - datetime.timedelta(days=400))),
    # CMP-1: a complaint of the vehicle business records the plate number.
    "Complaint": lambda: dict(plate_no="浙A·T0001"),
    # VIS-1: a plan's month is YYYY-MM; VIS-3: a survey's period is a half-year label, not one to come.
    "VisitPlan": lambda: dict(month=f"{datetime.date.today():%Y-%m}"),
    "SatisfactionSurvey": lambda: dict(period=f"{datetime.date.today().year}H1"),
    # CTR-3: preferential terms are for strategic and key customers.
    "Preference": lambda: dict(customer=make(models.Customer, tier="key")),
    # CUS-6: a share carries the customer's consent and the data-security agreement.
    "DataShare": lambda: dict(consent_at=models.utcnow().replace(microsecond=0), agreement_no="SJAQ-T-001"),
}


def approver():
    """Return the shared sales director who confirmed factory-made customers."""
    user = models.User.get_or_none(models.User.username == "factory_director")
    if user is None:
        user = models.User(username="factory_director", display_name="销售总监(测试)")
        user.save(force_insert=True)
    return user


def credit_code(n=None):
    """Return a valid unified social credit code (GB 32100 check character) numbered ``n``."""
    body = f"91330100MA{(next(_seq) if n is None else n):07d}"
    return body + uscc.calc_check_digit(body)


def resident_id(birthday="19900307", n=None):
    """Return a valid resident ID number (GB 11643 check digit) of a Hangzhou resident born on ``birthday``."""
    body = f"330106{birthday}{(next(_seq) if n is None else n) % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # the library reads the number with its check digit


def credit_ready_customer(**fields):
    """Return a customer that may be granted credit (CRD-1): archive, licence number, signed contract."""
    fields.setdefault("licence_no", credit_code())
    # CTR-2: the tax and bank documents are on file too (the bank account kept with consent, CUS-3).
    fields.setdefault("tax_no", fields["licence_no"])
    fields.setdefault("bank_account", "6222020200000000000")
    fields.setdefault("consent_at", models.utcnow().replace(microsecond=0))
    customer = make(models.Customer, **fields)
    make(models.ArchiveFile, number=f"KHDA-T{customer.id:05d}", title=f"{customer.name}客户档案",
         customer=customer, kind="customer")
    contract = make(models.Contract, customer=customer, number=f"HT-T{customer.id:05d}", amount=decimal.Decimal("20000"))
    with workflow.clock(datetime.datetime(2026, 1, 5, 2)):
        run(contract, "sign")
    return customer


def credit_turnover(customer, amount, on):
    """Give ``customer`` a rolling credit (CRD-6) after ``on``: a prepaid shipment of ``amount`` shipped and paid
    that day, which owes nothing (the credit amount is the invoiced value of the [30] days before a shipment)."""
    amount = decimal.Decimal(str(amount))
    shipment = make(models.Shipment, customer=customer, invoice_no=f"INV-TURNOVER-{next(_seq)}", amount=amount,
                    shipped_on=on, prepaid=True)
    make(models.Payment, customer=customer, amount=amount, received_on=on, shipment=shipment)
    return shipment


def role_user(role):
    """Return the shared factory user holding ``role`` (created on first use)."""
    user = models.User.get_or_none(models.User.username == f"factory_{role}")
    if user is None:
        user = models.User(username=f"factory_{role}", display_name=f"{role}(测试)")
        user.save(force_insert=True)
        code, _ = models.Role.get_or_create(code=role, defaults={"name": role})
        user.roles.add(code)
    return user


def cs_manager():
    """Return the factory manager of the customer-service department, with top-secret clearance (ARC-3)."""
    from policies import archives
    user = models.User.get_or_none(models.User.username == "factory_cs_manager")
    if user is None:
        department = archives.customer_service_department() or models.Department.create(
            name="客户服务部", customer_service=True)
        user = models.User(username="factory_cs_manager", display_name="客服经理(测试)", department=department,
                           clearance="top_secret")
        user.save(force_insert=True)
        code, _ = models.Role.get_or_create(code="manager", defaults={"name": "manager"})
        user.roles.add(code)
    return user


def run(record, name, user=None, **values):
    """Run the workflow action ``name`` on ``record`` as ``user`` (default: a factory user allowed to run it)."""
    act = workflow.action_of(type(record), name)
    if user is None:
        user = role_user(act.roles[0] if act is not None and act.roles else "admin")
    return workflow.run_action(record, name, user, **values)


def advance(record, *names, user=None):
    """Run the workflow actions ``names`` on ``record`` one after another; return it as stored."""
    for name in names:
        run(record, name, user)
        record = type(record).get_by_id(record.id)
    return record


def build(model, **overrides):
    """Return an unsaved ``model`` with every required field filled (FK targets are saved)."""
    auto = (model.admin_options().get("auto_number") or (None,))[0] if hasattr(model, "admin_options") else None
    values = {}
    for name, field in model._meta.fields.items():
        if name in overrides or field.primary_key or name == auto:
            continue
        if name in models.BaseModel.AUDIT_FIELDS:
            continue
        if field.null or field.default is not None:
            continue
        values[name] = default_value(model, field)
    values.update(VALID.get(model.__name__, dict)())
    values.update(overrides)
    return model(**values)


def lent(request=None, copies=None, at=None, **request_fields):
    """Return the Loan of ``request`` (default: a new request of a GM, who borrows directly) lent by the archivist."""
    if request is None:
        request_fields.setdefault("borrower", role_user("gm"))
        request = make(models.BorrowRequest, **request_fields)
    with workflow.clock(at) if at is not None else contextlib.nullcontext():
        return policies.archives.lend(request, copies, role_user("archivist"))


def make_loan(request=None, file=None, borrower=None, copies=1, lent_at=None, days=None, **ignored):
    """Make a Loan the only way one exists: a borrow request, approved, lent (ARC-3/5 approvals skipped by the GM)."""
    fields = {}
    if file is not None:
        fields["file"] = file
    if days is not None:
        fields["days"] = days
    if borrower is not None:
        fields["borrower"] = borrower
    if request is None:
        fields.setdefault("borrower", role_user("gm"))
        fields["copies"] = max(copies or 1, 1)
        request = make(models.BorrowRequest, **fields)
        if request.status != "approved":
            approve_all(request)
            request = fresh(request)
    return lent(request, copies, at=lent_at)


def approve_all(record):
    """Approve every pending approval of ``record`` in step order, each by a factory user holding its role."""
    while True:
        rows = list(approvals.pending_for(record).order_by(models.Approval.step, models.Approval.id))
        rows = [r for r in rows if approvals.actionable(r)]
        if not rows:
            return
        for row in rows:
            role = row.required_role.split("|")[0]
            user = role_user(role)
            if row.rule == "ARC-3" and role == "manager":
                # ARC-3: customer service's manager, holding the file's clearance, decides.
                user = cs_manager()
                if row.department_id != user.department_id:
                    row.department = user.department_id
                    row.save()
            elif role in ("manager",) and row.department_id is not None:
                dept = models.Department.get_by_id(row.department_id)
                if dept.manager_id is not None:
                    user = dept.manager
                elif user.department_id != row.department_id:
                    user.department = row.department_id
                    user.save()
            approvals.decide(row.id, user, True, "同意")


def contract_in(status, **fields):
    """Return a Contract brought to ``status`` by its actions and approvals (CTR-1), the only way there."""
    contract = make(models.Contract, **fields)
    if status == "draft" or fresh(contract).status == status:
        return fresh(contract)
    if fresh(contract).status == "draft":
        run(fresh(contract), "sign")
    if status == "pending":
        return fresh(contract)
    if fresh(contract).status == "pending":
        approve_all(fresh(contract))
    if status == "completed":
        run(fresh(contract), "complete")
    elif status == "terminated":
        run(fresh(contract), "terminate", reason="测试终止")
    return fresh(contract)


# Record types a workflow action alone creates: built by running it (no bare insert).
CREATORS = {"Loan": make_loan}


def make(model, **overrides):
    """Build and save a ``model`` through ``save()`` so every signal runs."""
    if model.__name__ in CREATORS:
        return CREATORS[model.__name__](**overrides)
    obj = build(model, **overrides)
    if model is models.Customer and obj.approved_by_id is not None:
        # CUS-2: stands in for the director's confirmation (owned by the approval, refused on a bare save);
        # pass approved_by=None to build a customer that asks for it.
        with workflow.running("建档确认(测试数据)"):
            obj.save(force_insert=True)
        return obj
    obj.save(force_insert=True)
    return obj


def endpoint(model):
    return f"/admin/{model.__name__.lower()}"


def view_for(app, model):
    return next(v for v in app.extensions["admin"][0]._views if getattr(v, "model", None) is model)


# Form inputs that are not model fields, by model name (ignored where the form lacks them).
FORM_EXTRAS = {"User": {"initial_password": "Initial-pass-2026"}}


def form_data(view, obj):
    """Turn an unsaved record into what a person would type into its generated form."""
    excluded = set(view.form_excluded_columns or ())
    data = {}
    for name, field in obj._meta.fields.items():
        if field.primary_key or name in excluded:
            continue
        value = getattr(obj, field.name if not isinstance(field, ForeignKeyField) else field.name + "_id")
        if isinstance(field, BooleanField):
            if value:
                data[name] = "y"
            continue
        if value is None:
            data[name] = ""
        elif isinstance(field, DateTimeField):
            data[name] = to_local(value).strftime("%Y-%m-%d %H:%M:%S")
        elif isinstance(value, datetime.date):
            data[name] = value.isoformat()
        else:
            data[name] = str(value)
    data.update(FORM_EXTRAS.get(type(obj).__name__, {}))
    return data


acting_as = models.acting_as


def refused(rule_id, action):
    """Assert that ``action()`` is refused by ``rule_id`` (among the save's refusals); return the violation."""
    with pytest.raises(policies.PolicyViolation) as exc:
        action()
    assert rule_id in {v.rule_id for v in exc.value.violations}, exc.value.violations
    return exc.value


def fresh(record):
    """Return ``record`` as stored now."""
    return type(record).get_by_id(record.id)


def decide_refused(approval, user, approve=True, comment=""):
    """Return the Chinese reason ``approvals.decide`` gives for refusing ``user``."""
    with pytest.raises(approvals.ApprovalError) as exc:
        approvals.decide(approval.id, user, approve, comment)
    return str(exc.value)


def locked(record):
    """Assert that ``record`` can be neither saved nor deleted while it waits for approval."""
    with pytest.raises(policies.PolicyViolation, match="正在等待审批"):
        record.save()
    with pytest.raises(policies.PolicyViolation, match="正在等待审批"):
        record.delete_instance()


class StatementLog(logging.Handler):
    """Collect the SQL statements peewee sends (its debug log), to count them, and the thread that sent each."""

    def __init__(self):
        super().__init__()
        self.statements = []
        self.threads = []

    def emit(self, record):
        if isinstance(record.msg, tuple):
            self.statements.append(record.msg[0])
            self.threads.append(record.threadName)

    def __enter__(self):
        self.logger = logging.getLogger("peewee")
        self.level = self.logger.level
        self.logger.addHandler(self)
        self.logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        self.logger.setLevel(self.level)
