"""Build valid records of any model from the schema alone (no per-model code)."""
import datetime
import decimal
import itertools

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

import models
import policies
from policies import approvals
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
    # SRV-1: a service order records address, contact, model, purchase date and fault.
    "ServiceOrder": lambda: dict(address="杭州市西湖区文三路90号", contact_phone="13805710001", product_model="GT-06N",
                                 purchase_date=datetime.date(2026, 1, 5), fault="终端无法定位"),
    # CRD-1: an active credit line needs the customer's archive (with licence), a signed contract.
    "CreditLine": lambda: dict(customer=credit_ready_customer()),
    # CRD-4: a customer without a credit line ships only prepaid.
    "Shipment": lambda: dict(prepaid=True),
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


def credit_ready_customer(**fields):
    """Return a customer that may be granted credit (CRD-1): archive, licence number, signed contract."""
    fields.setdefault("licence_no", f"91330100MA{next(_seq):08d}")
    customer = make(models.Customer, **fields)
    make(models.ArchiveFile, number=f"KHDA-T{customer.id:05d}", title=f"{customer.name}客户档案",
         customer=customer, kind="customer")
    make(models.Contract, customer=customer, number=f"HT-T{customer.id:05d}", amount=decimal.Decimal("20000"),
         status="signed", signed_on=datetime.date(2026, 1, 5))
    return customer


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


def make(model, **overrides):
    """Build and save a ``model`` through ``save()`` so every signal runs."""
    obj = build(model, **overrides)
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
