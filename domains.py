"""Value domains of the schema: minimums, end-not-before-start pairs, facts not in the future, formats.

A model declares its domain beside its fields, in ``Meta.domain`` (a tuple of the constraints below).
One pre_save receiver of the engine (``policies.engine``) refuses every save outside it, on every
write path; the generated form carries the matching input attributes (``min``, ``type``, ``maxlength``).
Check digits and formats come from libraries: python-stdnum (GB 11643, GB 32100), phonenumbers,
email-validator (syntax only, no DNS). Like ``clock``, this module imports neither models nor policies.
"""
import datetime
import decimal

import email_validator
import phonenumbers
from stdnum.cn import ric
from stdnum.cn import uscc

import clock

# Facts typed on a machine whose clock runs a little ahead are still "now".
CLOCK_SKEW = datetime.timedelta(minutes=5)


def _label(model, name):
    field = model._meta.fields[name]
    return field.verbose_name or name


def _number(value):
    """Return ``value`` as a Decimal (or None when it is empty or not a number: the database refuses those)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = decimal.Decimal(str(value))
    except (decimal.InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _moment(value):
    """Return ``value`` as a date or datetime (ISO text accepted), or None."""
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return datetime.datetime.fromisoformat(text) if len(text) > 10 else datetime.date.fromisoformat(text)
        except ValueError:
            return None
    return None


def _comparable(a, b):
    """Return ``a`` and ``b`` as the same kind of moment (a date compared with a datetime is its midnight)."""
    if isinstance(a, datetime.datetime) != isinstance(b, datetime.datetime):
        a = a if isinstance(a, datetime.datetime) else datetime.datetime.combine(a, datetime.time())
        b = b if isinstance(b, datetime.datetime) else datetime.datetime.combine(b, datetime.time())
    return a, b


class Constraint:
    """One declared value domain; ``fields`` are the fields it reads, the first one is where it is shown."""

    fields = ()

    def problem(self, model, instance, now):
        """Return the Chinese message when ``instance`` is outside this domain (at ``now``, naive UTC), else None."""
        raise NotImplementedError

    def input_attributes(self, model):
        """Return {field name: {HTML attribute: value}} for the generated form."""
        return {}


class Min(Constraint):
    """A number not below ``minimum`` (amounts, counts, days, minutes, pages ≥ 0; days and copies ≥ 1)."""

    def __init__(self, field, minimum=0):
        self.fields = (field,)
        self.minimum = minimum

    def __repr__(self):
        return f"Min({self.fields[0]!r}, {self.minimum})"

    def message(self, model):
        label = _label(model, self.fields[0])
        if self.minimum == 0:
            return f"{label}不能为负数"
        return f"{label}至少为 {self.minimum}"

    def problem(self, model, instance, now):
        value = _number(getattr(instance, self.fields[0]))
        if value is not None and value < self.minimum:
            return self.message(model)
        return None

    def input_attributes(self, model):
        return {self.fields[0]: {"type": "number", "min": self.minimum}}


class NotBefore(Constraint):
    """An end not before its start (returned ≥ lent, closed ≥ received, valid_to ≥ valid_from)."""

    strict = False

    def __init__(self, end, start):
        self.fields = (end, start)

    def __repr__(self):
        return f"{type(self).__name__}({self.fields[0]!r}, {self.fields[1]!r})"

    def message(self, model):
        end, start = (_label(model, name) for name in self.fields)
        return f"{end}须晚于{start}" if self.strict else f"{end}不能早于{start}"

    def problem(self, model, instance, now):
        end, start = (_moment(getattr(instance, name)) for name in self.fields)
        if end is None or start is None:
            return None
        end, start = _comparable(end, start)
        if end < start or (self.strict and end == start):
            return self.message(model)
        return None


class After(NotBefore):
    """An end strictly after its start (a loan is due after it was lent)."""

    strict = True


class NotFuture(Constraint):
    """A fact that has happened: a datetime not after now (plus a few minutes' clock skew), a date not after today.

    ``unless`` names a field that, when set, makes the date a plan rather than a fact (a visit in a visit plan).
    """

    def __init__(self, field, unless=None):
        self.fields = (field,) if unless is None else (field, unless)
        self.unless = unless

    def __repr__(self):
        return f"NotFuture({self.fields[0]!r})" if self.unless is None else \
            f"NotFuture({self.fields[0]!r}, unless={self.unless!r})"

    def is_datetime(self, model):
        return model._meta.fields[self.fields[0]].field_type == "DATETIME"

    def message(self, model):
        label = _label(model, self.fields[0])
        return f"{label}不能晚于当前时间" if self.is_datetime(model) else f"{label}不能是将来的日期"

    def problem(self, model, instance, now):
        value = _moment(getattr(instance, self.fields[0]))
        if value is None:
            return None
        if self.unless is not None and instance.__data__.get(self.unless) is not None:
            return None
        if isinstance(value, datetime.datetime):
            late = value > now + CLOCK_SKEW
        else:
            late = value > clock.local_today(now)
        return self.message(model) if late else None


def _valid_email(value):
    try:
        email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError:
        return False
    return True


def _valid_cn_mobile(value):
    digits = value.replace(" ", "").replace("-", "")
    if digits.startswith("+86"):
        digits = digits[3:]
    if len(digits) != 11 or not digits.isdigit():
        return False
    number = phonenumbers.parse(digits, "CN")
    mobile = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    return phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in mobile


def _valid_resident_id(value):
    """Check length, digits, the birth date and the GB 11643 check digit.

    ``ric.is_valid`` also requires the address code to have existed in the birth year, which refuses the real
    numbers of people registered after they were born (the code is the place of registration when issued).
    """
    number = ric.compact(value)
    if len(number) != 18 or not number[:17].isdigit():
        return False
    if number[-1] != ric.calc_check_digit(number):
        return False
    try:
        born = ric.get_birth_date(number)
    except ValueError:
        return False
    return born <= clock.local_today()


# kind: (check, message after the label, input attributes)
FORMATS = {
    "email": (_valid_email, "格式不正确(例如 name@example.com)", {"type": "email"}),
    "cn_mobile": (_valid_cn_mobile, "须为 11 位中国大陆手机号码", {"type": "tel", "maxlength": 11,
                                                                   "inputmode": "numeric"}),
    "cn_resident_id": (_valid_resident_id, "不是有效的居民身份证号码(18 位,末位校验码按 GB 11643)", {"maxlength": 18}),
    "cn_credit_code": (uscc.is_valid, "不是有效的统一社会信用代码(18 位,末位校验码按 GB 32100)", {"maxlength": 18}),
}


class Format(Constraint):
    """A text in a checked format (empty is allowed: whether a value is required is the field's own matter)."""

    def __init__(self, field, kind):
        if kind not in FORMATS:
            raise ValueError(f"unknown format {kind!r}")
        self.fields = (field,)
        self.kind = kind

    def __repr__(self):
        return f"Format({self.fields[0]!r}, {self.kind!r})"

    def message(self, model):
        return _label(model, self.fields[0]) + FORMATS[self.kind][1]

    def problem(self, model, instance, now):
        value = getattr(instance, self.fields[0])
        if value is None or not str(value).strip():
            return None
        check = FORMATS[self.kind][0]
        return None if check(str(value).strip()) else self.message(model)

    def input_attributes(self, model):
        return {self.fields[0]: dict(FORMATS[self.kind][2])}


def declared(model):
    """Return the constraints ``model`` declares in ``Meta.domain``."""
    return tuple(getattr(model._meta, "domain", None) or ())


def problems(instance, created=True, now=None):
    """Return [(field, Chinese message)] for the values of ``instance`` outside their declared domain at ``now``.

    A new record is checked whole; a stored one on the constraints that read a field set since it was loaded.
    """
    now = now or clock.utcnow()
    model = type(instance)
    dirty = None if created else {field.name for field in instance.dirty_fields}
    found = []
    for constraint in declared(model):
        if dirty is not None and not dirty.intersection(constraint.fields):
            continue
        message = constraint.problem(model, instance, now)
        if message:
            found.append((constraint.fields[0], message))
    return found


def input_attributes(model):
    """Return {field name: {HTML attribute: value}} that the generated form puts on ``model``'s inputs."""
    result = {}
    for constraint in declared(model):
        for name, attrs in constraint.input_attributes(model).items():
            result.setdefault(name, {}).update(attrs)
    return result


def check_declarations(schema):
    """Return the problems of the ``Meta.domain`` declarations of ``schema`` (unknown fields, wrong types)."""
    found = []
    for model in schema:
        for constraint in declared(model):
            for name in constraint.fields:
                if name not in model._meta.fields:
                    found.append(f"{model.__name__}: Meta.domain {constraint!r} names unknown field {name!r}")
    return found
