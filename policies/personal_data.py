"""CUS-4: what the console holds about one customer, and anonymising it (002 篇三 第三章3).

``held_about(customer)`` finds every record reaching the customer through the schema's foreign keys
(contacts, complaints and their solutions, files and their loans…). ``anonymise(customer)`` removes the
customer's personal data from the customer, its contacts, complaints, communications and their like,
and from the copies the audit log, approval summaries and rule events keep, whatever state the customer
is in (awaiting CUS-2 confirmation included). Business records (amounts, dates, states) stay.

Anonymising is not a business edit: no rule may keep personal data alive, so it writes with plain
UPDATEs (versions bumped, so open edit forms go stale) and leaves one audit row saying it happened.
"""
import json

from peewee import ForeignKeyField

import backend
import models
from policies import audit

ANONYMOUS = "(已匿名)"
# Personal fields by record type, and what they become; business fields (amounts, dates, status) are kept.
PERSONAL_FIELDS = {
    "Customer": {"phone": "", "address": "", "website": "", "id_number": "", "bank_account": "", "licence_no": "",
                 "tax_no": "", "credit_note": ""},
    "Contact": {"name": ANONYMOUS, "title": "", "mobile": "", "phone": "", "email": "", "birthday": None},
    "Complaint": {"complainant": ANONYMOUS, "plate_no": ""},
    "ServiceOrder": {"address": ANONYMOUS, "contact_phone": ""},
}
# Free text that may quote personal data: each known personal value in it is replaced.
FREE_TEXT = {
    "Complaint": ("content", "rejection_reason"), "ComplaintUpdate": ("note",), "Solution": ("customer_reply",),
    "Communication": ("summary", "follow_up"), "Visit": ("report",), "TenantRequest": ("content",),
    "SatisfactionSurvey": ("comments",), "ServiceOrder": ("fault",),
}
# Shorter values (a one-character name) would blank unrelated words.
MIN_SCRUB_LENGTH = 2


def _model(name):
    return next((m for m in models.MODELS if m.__name__ == name), None)


def _fks(model):
    return [f for f in model._meta.sorted_fields
            if isinstance(f, ForeignKeyField) and f.name not in models.BaseModel.AUDIT_FIELDS]


def reaches(model, customer_id, _seen=None):
    """Return the condition on ``model`` of rows reaching customer ``customer_id`` by foreign keys, or None."""
    if model is models.Customer:
        return model.id == customer_id
    seen = set() if _seen is None else _seen
    seen = seen | {model}
    cond = None
    for field in _fks(model):
        rel = field.rel_model
        if rel is models.Customer:
            clause = field == customer_id
        elif rel in seen:
            continue
        else:
            inner = reaches(rel, customer_id, seen)
            if inner is None:
                continue
            clause = field.in_(rel.select(rel._meta.primary_key).where(inner))
        cond = clause if cond is None else cond | clause
    return cond


def held_about(customer, scope=None):
    """Return [(record type, query of its rows)] of everything reaching ``customer``, the customer first.

    ``scope(model, query)`` narrows each query to what the asking person may see.
    """
    result = []
    for model in models.MODELS:
        if not (hasattr(model, "admin_options") and model.admin_options().get("label")):
            continue
        cond = reaches(model, customer.id)
        if cond is None:
            continue
        query = model.select().where(cond).order_by(model._meta.primary_key)
        result.append((model, scope(model, query) if scope else query))
    return result


def _personal_fields(name):
    return set(PERSONAL_FIELDS.get(name, {})) | ({"name"} if name == "Customer" else set())


def _personal_values(customer, held, touched):
    """Return the personal values to wipe (held now or ever, by the audit log), longest first."""
    values = {customer.name}
    for model, query in held:
        fields = _personal_fields(model.__name__)
        for row in query:
            values |= {getattr(row, n) for n in fields}
    log = models.AuditLog
    for name, ids in touched.items():
        fields = _personal_fields(name)
        if not fields or not ids:
            continue
        for entry in log.select().where(log.model == name, log.record_id.in_(sorted(ids))):
            for field, pair in entry.changes_dict().items():
                if field in fields and isinstance(pair, list):
                    values |= set(pair)
    values = {v for v in values if isinstance(v, str)}
    values |= {audit.mask(v) for v in values}
    return sorted((v for v in values if _worth_scrubbing(v)), key=len, reverse=True)


def _worth_scrubbing(value):
    text = value.strip()
    # Not the mark itself, not a lone character, not a mask with nothing left to show ("****").
    return text != ANONYMOUS and len(text) >= MIN_SCRUB_LENGTH and text.strip("*") != ""


def scrub(text, values):
    """Return ``text`` with every value of ``values`` replaced by the anonymous mark."""
    if not isinstance(text, str) or not text:
        return text
    for value in values:
        text = text.replace(value, ANONYMOUS)
    return text


def _scrub_changes(changes, personal, values):
    changed = {}
    for field, pair in changes.items():
        if field in personal and isinstance(pair, list):
            changed[field] = [ANONYMOUS if v not in (None, "", False) else v for v in pair]
        elif isinstance(pair, list):
            changed[field] = [scrub(v, values) for v in pair]
        else:
            changed[field] = scrub(pair, values)
    return changed


def _update(model, row_id, fields):
    if fields:
        model.update(version=model.version + 1, updated_at=models.utcnow(), **fields) \
            .where(model._meta.primary_key == row_id).execute()


def _ids_ever(model, customer_id):
    """Return ids of ``model`` rows the audit log saw created for the customer (deleted ones included)."""
    if not any(f.rel_model is models.Customer for f in _fks(model)):
        return set()
    log = models.AuditLog
    marks = [f'"{f.name}": [null, {customer_id}]' for f in _fks(model) if f.rel_model is models.Customer]
    cond = None
    for mark in marks:
        clause = log.changes.contains(mark)
        cond = clause if cond is None else cond | clause
    rows = log.select(log.record_id).where(log.model == model.__name__, log.action == "create", cond)
    return {r for (r,) in rows.tuples()}


def anonymise(customer):
    """Remove ``customer``'s personal data everywhere it is held; keep the business records."""
    customer = models.Customer.get_by_id(customer.id)
    held = held_about(customer)
    touched = {model.__name__: {str(pk) for (pk,) in query.select(model._meta.primary_key).tuples()}
               | _ids_ever(model, customer.id) for model, query in held}
    values = _personal_values(customer, held, touched)
    with models.db.atomic():
        for model, query in held:
            name = model.__name__
            personal = dict(PERSONAL_FIELDS.get(name, {}))
            if model is models.Customer:
                personal["name"] = f"已匿名客户 {customer.code}"
            texts = FREE_TEXT.get(name, ())
            if not personal and not texts:
                continue
            for row in query:
                fields = {k: v for k, v in personal.items() if getattr(row, k) != v}
                for field in texts:
                    cleaned = scrub(getattr(row, field), values)
                    if cleaned != getattr(row, field):
                        fields[field] = cleaned
                _update(model, row._pk, fields)
                if fields:
                    # Plain UPDATEs send no signal: bring the search index in line (backend.py).
                    backend.sync_search(model, model.get_by_id(row._pk))
        _scrub_trail(touched, values)
        audit.log("update", "Customer", customer.id, {"匿名化": ["", "已执行(CUS-4)"]})
    return customer


def _scrub_trail(touched, values):
    """Wipe the personal values from the audit log, approval summaries and rule events of the touched records."""
    log = models.AuditLog
    for name, ids in touched.items():
        if not ids:
            continue
        personal = _personal_fields(name)
        for entry in log.select().where(log.model == name, log.record_id.in_(sorted(ids))):
            changes = entry.changes_dict()
            cleaned = _scrub_changes(changes, personal, values)
            if cleaned != changes:
                log.update(changes=json.dumps(cleaned, ensure_ascii=False)).where(log.id == entry.id).execute()
        int_ids = [int(i) for i in ids if str(i).isdigit()]
        approval = models.Approval
        approval_ids = []
        for row in approval.select().where(approval.target_model == name, approval.target_id.in_(int_ids)):
            approval_ids.append(str(row.id))
            summary, comment = scrub(row.summary, values), scrub(row.comment, values)
            if (summary, comment) != (row.summary, row.comment):
                approval.update(summary=summary, comment=comment).where(approval.id == row.id).execute()
        # The audit log keeps a copy of each approval row as it was written (its summary names the customer).
        for entry in log.select().where(log.model == "Approval", log.record_id.in_(approval_ids or [""])):
            changes = entry.changes_dict()
            cleaned = _scrub_changes(changes, (), values)
            if cleaned != changes:
                log.update(changes=json.dumps(cleaned, ensure_ascii=False)).where(log.id == entry.id).execute()
        event = models.RuleEvent
        for row in event.select().where(event.model == name, event.record_id.in_(sorted(ids))):
            note = scrub(row.note, values)
            if note != row.note:
                event.update(note=note).where(event.id == row.id).execute()
