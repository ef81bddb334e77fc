"""The audit trail: every create, update and delete of every record type writes an AuditLog row.

Connected to peewee's signals like the rules, so forms, custom views, CLI and imports are
all audited. A refused save (PolicyViolation in pre_save) never reaches post_save: no row.
Logins, logouts, exports and reveals of sensitive fields call ``log()`` directly.
"""
import datetime
import decimal
import json

from playhouse.signals import post_delete
from playhouse.signals import post_save
from playhouse.signals import pre_save

import models

# Tables that are the trail itself or engine bookkeeping.
NOT_AUDITED = ("AuditLog", "RuleEvent")
# Never written into the trail, not even masked.
SECRET_FIELDS = {"password_hash", "session_token"}


def mask(value):
    """Mask a sensitive value: keep the first 4 and last 4 characters (e.g. 1101**********1234)."""
    text = "" if value is None else str(value)
    if len(text) <= 8:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 8) + text[-4:]


def _plain(value):
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def _sensitive(model):
    return set(model.admin_options().get("sensitive", ())) if hasattr(model, "admin_options") else set()


def _values(instance):
    model = type(instance)
    sensitive = _sensitive(model)
    result = {}
    for name, field in model._meta.fields.items():
        if name in SECRET_FIELDS or name in models.BaseModel.AUDIT_FIELDS:
            continue
        value = instance.__data__.get(name)
        result[name] = mask(value) if name in sensitive and value else _plain(value)
    return result


def log(action, model="", record_id="", changes=None, user=None):
    """Write one AuditLog row (who, when in UTC, IP, what)."""
    return models.AuditLog.create(
        at=models.utcnow(), user=user if user is not None else models.current_actor.get(),
        action=action, model=model, record_id=str(record_id or ""),
        changes=json.dumps(changes, ensure_ascii=False) if changes else "",
        ip=models.current_ip.get(),
    )


def _audited(instance):
    return type(instance).__name__ not in NOT_AUDITED


@pre_save(name="audit/snapshot")
def snapshot(sender, instance, created):
    """Remember the stored values of a row about to be updated."""
    if created or not _audited(instance) or instance._pk is None:
        return
    stored = type(instance).get_or_none(type(instance)._meta.primary_key == instance._pk)
    instance.__dict__["_audit_before"] = _values(stored) if stored is not None else {}


@post_save(name="audit/write")
def write(sender, instance, created):
    """Write the create/update row with each changed field as [old, new]."""
    if not _audited(instance):
        return
    after = _values(instance)
    if created:
        changes = {k: [None, v] for k, v in after.items() if v not in (None, "", False)}
        log("create", type(instance).__name__, instance._pk, changes)
        return
    before = instance.__dict__.pop("_audit_before", {})
    changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
    if changes:
        log("update", type(instance).__name__, instance._pk, changes)


@post_delete(name="audit/delete")
def write_delete(sender, instance):
    """Write the delete row with the values the record had."""
    if _audited(instance):
        log("delete", type(instance).__name__, instance._pk,
            {k: [v, None] for k, v in _values(instance).items() if v not in (None, "")})


def history(instance, limit=200):
    """Return the AuditLog rows of one record, newest first."""
    return (models.AuditLog.select().where(models.AuditLog.model == type(instance).__name__,
                                           models.AuditLog.record_id == str(instance._pk))
            .order_by(models.AuditLog.at.desc(), models.AuditLog.id.desc()).limit(limit))
