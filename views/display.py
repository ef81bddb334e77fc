"""How stored values read on screen: labels for codes, names for ids, 是/否, local minutes, clean quotes."""
import datetime
import functools
import re

from flask import url_for
from markupsafe import Markup
from markupsafe import escape
from peewee import BooleanField
from peewee import DateField
from peewee import DateTimeField
from peewee import ForeignKeyField

import models
from views import fields as vf

# A short Chinese word for each flag rule, shown on the badge beside its id (a phone has no tooltip).
BADGE_LABELS = {
    "ARC-7": "逾期未还",
    "ARC-8": "移交逾期",
    "ATT-1": "旷工预警",
    "CMP-2": "结案超期",
    "CMP-3": "现场超时",
    "CMP-4": "方案延迟",
    "CMP-7": "进展不足",
    "CMP-8": "待回访",
    "CRD-5": "暂停发货",
    "CUS-1": "久未联系",
    "CUS-2": "待审批确认",
    "CUS-5": "流失风险",
    "CUS-7": "泄露待处理",
    "CUS-8": "权限待审查",
    "VIS-1": "计划迟交",
    "VIS-2": "报告迟交",
    "VIS-3": "待满意度调查",
    "VIS-4": "久未拜访",
    "VIS-5": "待现场回访",
    "QC-1": "活动不足",
}
# Fields that store a record type's class name; shown as its Chinese label.
CLASS_NAME_FIELDS = ("model", "target_model")
# Fields that store a "Model#id" reference to another record.
REFERENCE_FIELDS = ("source",)
REFERENCE = re.compile(r"^([A-Z][A-Za-z]+)#(\d+)$")
EMPTY = "(空)"


def model_by_name(name):
    """Return the record type called ``name`` (a class name), or None."""
    found = getattr(models, name or "", None)
    return found if isinstance(found, type) and issubclass(found, models.BaseModel) else None


def model_label(name):
    """Return the Chinese label of the record type called ``name`` (the name itself when unknown)."""
    model = model_by_name(name)
    return model.label() if model is not None and hasattr(model, "label") else (name or "")


def badge_label(rule):
    """Return the short Chinese word of a flag rule (its title when none is declared)."""
    return BADGE_LABELS.get(rule.id, rule.title)


def yes_no(value):
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = value.strip().lower() in ("true", "1", "yes", "y", "是")
    return "是" if value else "否"


# -------------------------------------------------------------- list/details formatters
def fmt_bool(view, value, name=None):
    return yes_no(value)


def fmt_flags(view, context, model, name):
    """Render the rules that flag this row: a short Chinese word with the rule id beside it."""
    marks = getattr(model, "policy_flags", None) or []
    return Markup(" ".join(flag_badge(rule, kind) for rule, kind in marks))


@functools.lru_cache(maxsize=None)
def flag_badge(rule, kind):
    """Return the badge of ``rule`` in colour ``kind`` (the same on every row it flags)."""
    return (f'<span class="badge badge-{kind} flag-badge" title="{escape(rule.id)} {escape(rule.title)}'
            f'({escape(rule.source)})">{escape(badge_label(rule))}<span class="rule-id">{escape(rule.id)}</span></span>')


def fmt_choice(view, context, model, name):
    """A choice field: its Chinese label, nothing when empty."""
    value = getattr(model, name)
    if value is None or value == "":
        return ""
    return str(dict(type(model)._meta.fields[name].choices).get(value, value))


def fmt_many(view, context, model, name):
    """A many-to-many field: the names of the related records."""
    return "、".join(str(item) for item in getattr(model, name))


def fmt_class_name(view, context, model, name):
    return model_label(getattr(model, name))


def reference(text):
    """Return (label, url) for a stored "Model#id" reference, or (text, None)."""
    match = REFERENCE.match(text or "")
    if not match:
        return text or "", None
    target = model_by_name(match.group(1))
    if target is None:
        return text, None
    record = target.get_or_none(target._meta.primary_key == int(match.group(2)))
    label = f"{target.label()} {record if record is not None else '#' + match.group(2)}"
    try:
        url = url_for(f"{target.__name__.lower()}.details_view", id=match.group(2))
    except Exception:  # noqa: BLE001 - a record type without a screen
        url = None
    return label, url


def fmt_reference(view, context, model, name):
    label, url = reference(getattr(model, name))
    if url:
        return Markup(f'<a href="{escape(url)}">{escape(label)}</a>')
    return label


def fmt_reference_export(view, context, model, name):
    return reference(getattr(model, name))[0]


def fmt_audit_changes(view, context, model, name):
    """An audit row's changes, each value as a person reads it."""
    target = model_by_name(getattr(model, "model", ""))
    lines = []
    for label, old, new in history_changes(target, model):
        lines.append(f"{label}:{old} → {new}" if old is not None else f"{label}:{new}")
    return Markup("<br>".join(escape(line) for line in lines))


def fmt_judged(view, context, model, name):
    """An approval's judged field values ({field: value} JSON), each as a person reads it."""
    import json

    try:
        values = json.loads(getattr(model, name) or "{}")
    except ValueError:
        return getattr(model, name)
    target = model_by_name(getattr(model, "target_model", ""))
    if not isinstance(values, dict):
        return str(values)
    return Markup("<br>".join(escape(f"{field_label(target, k)}:{change_value(target, k, v)}")
                              for k, v in values.items()))


# -------------------------------------------------------------- history
def _parse_datetime(value):
    if isinstance(value, datetime.datetime):
        return value
    try:
        return datetime.datetime.fromisoformat(str(value))
    except ValueError:
        return None


def change_value(model, name, value):
    """Return how one stored value of the audit trail reads: label, name, 是/否 or local minute."""
    if value is None or value == "":
        return EMPTY
    field = model._meta.fields.get(name) if model is not None else None
    if field is None:
        return str(value)
    if field.choices:
        return str(dict(field.choices).get(value, value))
    if isinstance(field, BooleanField):
        return yes_no(value)
    if isinstance(field, ForeignKeyField):
        try:
            related = field.rel_model.get_or_none(field.rel_model._meta.primary_key == int(value))
        except (TypeError, ValueError):
            related = None
        return str(related) if related is not None else f"(已删除的{getattr(field.rel_model, 'label', lambda: '')()})"
    if isinstance(field, DateTimeField):
        moment = _parse_datetime(value)
        return vf.format_datetime(moment) if moment else str(value)
    if isinstance(field, DateField):
        return str(value)[:10]
    if name in CLASS_NAME_FIELDS:
        return model_label(value)
    if name in REFERENCE_FIELDS:
        return reference(str(value))[0]
    return str(value)


def field_label(model, name):
    field = model._meta.fields.get(name) if model is not None else None
    if field is not None and field.verbose_name:
        return field.verbose_name
    return {"id": "编号"}.get(name, name)


def history_changes(model, row):
    """Return [(label, old, new)] of one audit row, every value as a person reads it."""
    result = []
    for name, pair in row.changes_dict().items():
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            pair = ["", pair]
        old, new = pair
        label = field_label(model, name)
        if row.action == "update":
            result.append((label, change_value(model, name, old), change_value(model, name, new)))
        else:
            result.append((label, None, change_value(model, name, new if new not in (None, "") else old)))
    return result


# -------------------------------------------------------------- catalogue quotes
# Pinyin left in brackets by a conversion ("份數(shù)" → "份數"), then Traditional → Simplified.
PINYIN_DEBRIS = re.compile(r"(?<=[\u4e00-\u9fff])\([a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüêḿńňǹ]+\)")
_CONVERTER = None


def simplified(text):
    """Return a catalogue quote cleaned of conversion debris and in Simplified Chinese."""
    global _CONVERTER
    if not text:
        return ""
    text = PINYIN_DEBRIS.sub("", text)
    if _CONVERTER is None:
        import opencc

        _CONVERTER = opencc.OpenCC("t2s")
    return _CONVERTER.convert(text)
