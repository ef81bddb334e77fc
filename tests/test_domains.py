"""Value domains (Meta.domain): every declared constraint at, just inside and just outside its boundary,
through save() and through the generated form; the issue's examples; the form's input attributes."""
import datetime
import decimal
import re

import pytest
from peewee import DateTimeField
from peewee import DecimalField

import clock
import domains
import models
import policies
from conftest import submit
from factories import build
from factories import credit_code
from factories import endpoint
from factories import form_data
from factories import make
from factories import resident_id
from factories import view_for

MINUTE = datetime.timedelta(minutes=1)
DAY = datetime.timedelta(days=1)
# A start two days back: far enough from now for every end and every "not in the future" around it.
START_BACK = datetime.timedelta(days=2)

VALID_ID = resident_id("19880715", 432)
VALID_CODE = credit_code(1234)

# kind: [(value, in the domain?)] — a valid value, then the nearest invalid ones.
FORMAT_CASES = {
    "email": [("li.ming@example.cn", True), ("a@b.cn", True), ("not-an-email", False), ("li@", False),
              ("li ming@example.cn", False)],
    "cn_mobile": [("13800001111", True), ("138 0000 1111", True), ("1380000111", False), ("138000011112", False),
                  ("abcdefg", False), ("12345678901", False)],
    "cn_resident_id": [(VALID_ID, True), (VALID_ID[:17] + str((int(VALID_ID[17]) + 1) % 10)
                                          if VALID_ID[17].isdigit() else VALID_ID[:17] + "0", False),
                       (VALID_ID[:17], False), ("33010620990715123X", False)],
    "cn_credit_code": [(VALID_CODE, True), (VALID_CODE[:17] + ("0" if VALID_CODE[17] != "0" else "1"), False),
                       (VALID_CODE[:17], False), ("91330100MA00001234I", False)],
}


def _now():
    return clock.utcnow().replace(microsecond=0)


def _moment(model, name, base):
    """Return ``base`` (a datetime) in the kind of ``model.name`` (datetime, or its local date)."""
    if isinstance(model._meta.fields[name], DateTimeField):
        return base
    return clock.to_local(base).date()


def _step(model, name):
    return MINUTE if isinstance(model._meta.fields[name], DateTimeField) else DAY


def cases(model, constraint):
    """Return [(field values, in the domain?)] at, just inside and just outside ``constraint``'s boundary."""
    if isinstance(constraint, domains.Min):
        name = constraint.fields[0]
        step = decimal.Decimal("0.01") if isinstance(model._meta.fields[name], DecimalField) else 1
        m = constraint.minimum
        return [({name: m}, True), ({name: m + step}, True), ({name: m - step}, False)]
    if isinstance(constraint, domains.NotBefore):  # After included
        end, start = constraint.fields
        start_value = _moment(model, start, _now() - START_BACK)
        step = _step(model, end)
        at = start_value if type(start_value) is type(_moment(model, end, _now())) else None
        rows = [({start: start_value, end: start_value + step}, True),
                ({start: start_value, end: start_value - step}, False)]
        if at is not None:
            rows.insert(0, ({start: start_value, end: at}, not constraint.strict))
        return rows
    if isinstance(constraint, domains.NotFuture):
        name = constraint.fields[0]
        extra = {constraint.unless: None} if constraint.unless else {}
        if isinstance(model._meta.fields[name], DateTimeField):
            now = _now()
            return [({name: now, **extra}, True),
                    ({name: now + domains.CLOCK_SKEW - MINUTE, **extra}, True),
                    ({name: now + domains.CLOCK_SKEW + MINUTE, **extra}, False)]
        today = clock.local_today()
        return [({name: today, **extra}, True), ({name: today - DAY, **extra}, True),
                ({name: today + DAY, **extra}, False)]
    if isinstance(constraint, domains.Format):
        return [({constraint.fields[0]: value}, ok) for value, ok in FORMAT_CASES[constraint.kind]]
    raise AssertionError(f"no cases for {constraint!r}: add them to this table")


DECLARED = [(model, constraint) for model in models.MODELS for constraint in domains.declared(model)]


def test_the_schema_declares_the_domains_of_the_issue():
    declared = {(model.__name__, repr(c)) for model, c in DECLARED}
    for entry in (("Contract", "Min('amount', 0)"), ("Shipment", "Min('amount', 0)"),
                  ("Reception", "Min('cost_per_person', 0)"), ("Reception", "Min('guests', 0)"),
                  ("BorrowRequest", "Min('days', 1)"), ("BorrowRequest", "Min('copies', 1)"),
                  ("Loan", "Min('copies', 1)"), ("Attendance", "Min('minutes_late', 0)"),
                  ("ArchiveFile", "Min('pages', 0)"), ("Payment", "Min('amount', 0)"),
                  ("Loan", "NotBefore('returned_at', 'lent_at')"), ("Loan", "After('due_at', 'lent_at')"),
                  ("Complaint", "NotBefore('closed_at', 'received_at')"),
                  ("CreditLine", "NotBefore('valid_to', 'valid_from')"),
                  ("Complaint", "NotFuture('received_at')"), ("Communication", "NotFuture('at')"),
                  ("Payment", "NotFuture('received_on')"), ("Visit", "NotFuture('visited_on', unless='plan')"),
                  ("Contact", "NotFuture('birthday')"), ("Contact", "Format('email', 'email')"),
                  ("Contact", "Format('mobile', 'cn_mobile')"), ("Customer", "Format('id_number', 'cn_resident_id')"),
                  ("Customer", "Format('licence_no', 'cn_credit_code')")):
        assert entry in declared


def _domain_refusals(exc, name, message=None):
    return [v for v in exc.violations if v.rule_id is None and v.field == name
            and (message is None or v.message == message)]


def _base(model, values):
    overrides = dict(values)
    if model is models.Visit:
        overrides.setdefault("visited_on", clock.local_today() - datetime.timedelta(days=10))
    if model is models.Loan and "lent_at" not in overrides and "due_at" not in overrides:
        overrides["lent_at"] = _now() - START_BACK
    if model is models.Customer and ("id_number" in overrides):
        overrides.setdefault("consent_at", _now() - DAY)  # CUS-3: personal data only with consent
    return build(model, **overrides)


@pytest.mark.parametrize("model, constraint", DECLARED, ids=[f"{m.__name__}-{c!r}" for m, c in DECLARED])
def test_every_declared_domain_through_save(app, model, constraint):
    name = constraint.fields[0]
    message = constraint.message(model)
    for values, ok in cases(model, constraint):
        before = model.select().count()
        record = _base(model, values)
        try:
            with models.db.atomic():
                record.save(force_insert=True)
        except policies.PolicyViolation as exc:
            refusals = _domain_refusals(exc, name, message)
            assert bool(refusals) == (not ok), (values, exc.violations)
            if refusals:
                assert model.select().count() == before
            continue
        assert ok, f"{values} was saved"


def _field_is_invalid(html, name):
    for tag in re.findall(r"<(?:input|select|textarea)[^>]*>", html):
        if re.search(rf'\bid="{re.escape(name)}"', tag):
            return "is-invalid" in tag
    return False


@pytest.mark.parametrize("model, constraint", DECLARED, ids=[f"{m.__name__}-{c!r}" for m, c in DECLARED])
def test_every_declared_domain_through_the_generated_form(app, admin_client, model, constraint):
    name = constraint.fields[0]
    url = f"{endpoint(model)}/new/"
    page = admin_client.get(url)
    if page.status_code != 200 or f'id="{name}"' not in page.get_data(as_text=True):
        pytest.skip(f"{model.__name__}.{name} is not typed into the generated form")
    view = view_for(app, model)
    message = constraint.message(model)
    for values, ok in cases(model, constraint):
        before = model.select().count()
        data = form_data(view, _base(model, values))
        response = submit(admin_client, url, data)
        html = response.get_data(as_text=True)
        if ok:
            assert message not in html, values
        else:
            assert response.status_code == 200 and message in html, values
            assert _field_is_invalid(html, name), values
            assert model.select().count() == before


# ---------------------------------------------------------------- the issue's examples
def refused_at(field, record):
    """Assert that saving ``record`` is refused at ``field`` by its value domain and nothing is written."""
    model = type(record)
    before = model.select().count()
    audit_rows = models.AuditLog.select().count()
    with pytest.raises(policies.PolicyViolation) as exc:
        with models.db.atomic():
            record.save(force_insert=True)
    assert _domain_refusals(exc.value, field), exc.value.violations
    assert model.select().count() == before
    assert models.AuditLog.select().count() == audit_rows
    return exc.value


def test_negative_contract_amount(app):
    exc = refused_at("amount", build(models.Contract, amount=decimal.Decimal("-5000")))
    assert "合同金额(元)不能为负数" in str(exc)


def test_negative_shipment_amount(app):
    refused_at("amount", build(models.Shipment, amount=decimal.Decimal("-888")))


def test_negative_reception_cost_and_guests(app):
    exc = refused_at("cost_per_person", build(models.Reception, visitor_org="来访团",
                                              cost_per_person=decimal.Decimal("-100"), guests=-3))
    assert {v.field for v in exc.violations} == {"cost_per_person", "guests"}


@pytest.mark.parametrize("days", [0, -2])
def test_borrow_of_zero_or_negative_days(app, days):
    exc = refused_at("days", build(models.BorrowRequest, days=days))
    assert "借阅天数至少为 1" in str(exc)


def test_negative_lateness_is_no_negative_fine(app):
    refused_at("minutes_late", build(models.Attendance, minutes_late=-20))
    assert models.Attendance.select().count() == 0


def test_return_dated_before_the_loan(app):
    lent = _now() - datetime.timedelta(days=3)
    exc = refused_at("returned_at", build(models.Loan, lent_at=lent, due_at=lent + datetime.timedelta(days=3),
                                          returned_at=lent - DAY))
    assert "归还时间不能早于借出时间" in str(exc)


def test_complaint_received_in_2030(app):
    exc = refused_at("received_at", build(models.Complaint, complainant="张先生", content="投诉", category="service",
                                          received_at=datetime.datetime(2030, 1, 1, 2)))
    assert "受理时间不能晚于当前时间" in str(exc)


def test_contact_email_not_an_email(app):
    refused_at("email", build(models.Contact, email="not-an-email"))


def test_contact_mobile_abcdefg(app):
    refused_at("mobile", build(models.Contact, mobile="abcdefg"))


def test_contact_birthday_in_2099(app):
    customer = make(models.Customer, consent_at=_now() - DAY)
    refused_at("birthday", build(models.Contact, customer=customer, birthday=datetime.date(2099, 1, 1)))


def test_the_examples_are_refused_at_their_field_on_the_form(app, admin_client):
    customer = make(models.Customer, consent_at=_now() - DAY)
    data = form_data(view_for(app, models.Contact), build(models.Contact, customer=customer))
    data.update(email="not-an-email", mobile="abcdefg", birthday="2099-01-01")
    html = submit(admin_client, "/admin/contact/new/", data).get_data(as_text=True)
    for name in ("email", "mobile", "birthday"):
        assert _field_is_invalid(html, name), name
    assert "电子邮箱格式不正确" in html and "手机须为 11 位中国大陆手机号码" in html and "生日不能是将来的日期" in html
    assert models.Contact.select().count() == 0
    assert not models.RuleEvent.select().where(models.RuleEvent.kind == "block").exists()


def test_an_edit_is_checked_too(app, admin_client):
    contract = make(models.Contract, amount=decimal.Decimal("1000"))
    contract.amount = decimal.Decimal("-1")
    with pytest.raises(policies.PolicyViolation):
        contract.save()
    assert models.Contract.get_by_id(contract.id).amount == decimal.Decimal("1000")
    data = form_data(view_for(app, models.Contract), models.Contract.get_by_id(contract.id))
    data.update(amount="-5000", version=str(models.Contract.get_by_id(contract.id).version))
    html = submit(admin_client, f"/admin/contract/edit/?id={contract.id}", data).get_data(as_text=True)
    assert _field_is_invalid(html, "amount") and "合同金额(元)不能为负数" in html
    assert models.Contract.get_by_id(contract.id).amount == decimal.Decimal("1000")


def test_a_visit_in_a_plan_may_be_planned_ahead_one_without_may_not(app):
    next_week = clock.local_today() + datetime.timedelta(days=7)
    plan = make(models.VisitPlan)
    make(models.Visit, plan=plan, visited_on=next_week)
    refused_at("visited_on", build(models.Visit, visited_on=next_week))


# ---------------------------------------------------------------- the form's input attributes
def _input(html, name):
    for tag in re.findall(r"<input[^>]*>", html):
        if re.search(rf'\bid="{re.escape(name)}"', tag):
            return tag
    raise AssertionError(f"no input {name}")


def test_form_inputs_carry_min_and_type(app, admin_client):
    html = admin_client.get("/admin/contract/new/").get_data(as_text=True)
    assert 'min="0"' in _input(html, "amount") and 'type="number"' in _input(html, "amount")
    html = admin_client.get("/admin/borrowrequest/new/").get_data(as_text=True)
    assert 'min="1"' in _input(html, "days") and 'min="1"' in _input(html, "copies")
    html = admin_client.get("/admin/reception/new/").get_data(as_text=True)
    assert 'min="0"' in _input(html, "guests") and 'min="0"' in _input(html, "cost_per_person")
    html = admin_client.get("/admin/contact/new/").get_data(as_text=True)
    assert 'type="email"' in _input(html, "email") and 'type="tel"' in _input(html, "mobile")


def test_every_min_is_on_its_input(app, admin_client):
    for model, constraint in DECLARED:
        if not isinstance(constraint, domains.Min):
            continue
        html = admin_client.get(f"{endpoint(model)}/new/").get_data(as_text=True)
        name = constraint.fields[0]
        if f'id="{name}"' not in html:
            continue  # computed, not typed (e.g. the attendance fine)
        assert f'min="{constraint.minimum}"' in _input(html, name), (model, name)


def test_declarations_name_real_fields():
    assert domains.check_declarations(models.MODELS) == []

    class Meta:
        domain = (domains.Min("nonexistent"),)

    assert domains.check_declarations([type("Broken", (models.BaseModel,), {"Meta": Meta})])
