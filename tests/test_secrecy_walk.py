"""Every record type below a Customer or an ArchiveFile (through any chain of foreign keys) hides with it.

Walks the schema: for each record type with a foreign-key path to ``Customer`` or ``ArchiveFile`` one row is
stored whose parents are hidden (a top-secret customer, a top-secret file); a normal-clearance admin must
not reach it on the list, the details page, the CSV export or any form's lookup. Rows that name a record
by type and id (audit log, rule events, approvals) are stored for each hidden row and checked the same way.
"""
import csv
import io
import json
import re

import pytest
from peewee import ForeignKeyField

import models
from conftest import login
from conftest import make_user
from factories import build
from factories import make
from views.base import lookup_fields
from views.registry import screen_models

ROOTS = (models.Customer, models.ArchiveFile)


def real_fks(model):
    return [f for f in model._meta.sorted_fields
            if isinstance(f, ForeignKeyField) and f.name not in models.BaseModel.AUDIT_FIELDS]


def reaches_root(model, seen=frozenset()):
    """Return True when ``model`` has a foreign-key path to Customer or ArchiveFile (the test's own walk)."""
    if model in ROOTS:
        return True
    return any(f.rel_model not in seen | {model} and reaches_root(f.rel_model, seen | {model})
               for f in real_fks(model))


DESCENDANTS = [m for m in screen_models() if reaches_root(m)]
NAMING = [m for m in screen_models() if m.admin_options().get("refers_to")]


def test_the_walk_covers_the_deep_chains():
    names = {m.__name__ for m in DESCENDANTS}
    assert {"Solution", "Investigation", "ComplaintUpdate", "ArchiveItem", "Loan", "Handover", "Penalty",
            "Contact", "Payment"} <= names
    assert {m.__name__ for m in NAMING} >= {"AuditLog", "RuleEvent", "Approval"}


def hidden_row(model, made):
    """Store (without rules: this is about reading) one ``model`` row whose every guarded parent is hidden."""
    if model in made:
        return made[model]
    if model is models.Customer:
        row = make(models.Customer, name="绝密根客户", confidentiality="top_secret")
    elif model is models.ArchiveFile:
        row = make(models.ArchiveFile, number="绝密根档案", title="绝密根档案", confidentiality="top_secret")
    else:
        parents = {f.name: hidden_row(f.rel_model, made) for f in real_fks(model)
                   if f.rel_model is not model and reaches_root(f.rel_model)}
        draft = build(model, **parents)
        draft._fill_auto_number()
        row_id = model.insert(draft.__data__).execute()
        row = model.get_by_id(row_id)
    made[model] = row
    return row


def naming_rows(made):
    """Store audit, rule-event and approval rows naming each hidden row."""
    rows = {models.AuditLog: [], models.RuleEvent: [], models.Approval: []}
    for model, row in made.items():
        name = model.__name__
        rows[models.AuditLog].append(models.AuditLog.create(action="update", model=name, record_id=str(row.id),
                                                            changes=json.dumps({"x": ["", "绝密"]})))
        rows[models.RuleEvent].append(models.RuleEvent.create(rule="ARC-3", kind="approve", model=name,
                                                              record_id=str(row.id), note="绝密"))
        rows[models.Approval].append(models.Approval.create(target_model=name, target_id=row.id, rule="ARC-3",
                                                            required_role="gm", summary="绝密"))
    return rows


@pytest.fixture
def hidden(app):
    made = {}
    for model in DESCENDANTS:
        hidden_row(model, made)
    named = naming_rows(made)
    return {model: [row] for model, row in made.items()} | named


def lookups_of(model):
    """Return (screen endpoint, field name) of every form field that picks a ``model`` record."""
    return [(other.__name__.lower(), f.name) for other in screen_models() for f in real_fks(other)
            if f.rel_model is model]


def export_rows(client, endpoint):
    response = client.get(f"/admin/{endpoint}/export/csv/")
    assert response.status_code == 200, endpoint
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))[1:]


def expected_visible(model, ids, hidden):
    """Return how many ``model`` rows the walker should see: all but the hidden ones and those naming one."""
    refers = model.admin_options().get("refers_to")
    if not refers:
        return model.select().count() - len(ids)
    named = {(m.__name__, str(r.id)) for m, rows in hidden.items() if m not in NAMING for r in rows}
    kind, pk = refers
    return sum(1 for row in model.select() if (getattr(row, kind), str(getattr(row, pk))) not in named)


def test_a_low_clearance_user_reaches_no_descendant_of_a_hidden_record(hidden, client):
    make_user("walker", roles=("admin",), clearance="normal")
    login(client, "walker")
    checked = 0
    for model, rows in hidden.items():
        endpoint = model.__name__.lower()
        ids = {row.id for row in rows}
        listing = client.get(f"/admin/{endpoint}/?page_size=100").get_data(as_text=True)
        shown = {int(i) for i in re.findall(rf"/admin/{endpoint}/details/\?id=(\d+)", listing)}
        assert not shown & ids, (model.__name__, "list")
        # Rows naming hidden records: a sample of their details pages (the list and export cover all).
        for row in rows[::8]:
            details = client.get(f"/admin/{endpoint}/details/?id={row.id}", follow_redirects=True)
            assert "记录不存在" in details.get_data(as_text=True), (model.__name__, "details")
        visible = expected_visible(model, ids, hidden)
        assert len(export_rows(client, endpoint)) == visible, (model.__name__, "export")
        for other, field in lookups_of(model):
            term = ""
            fields = lookup_fields(model)
            if fields:
                term = str(getattr(rows[0], fields[0].name) or "")
            answer = client.get(f"/admin/{other}/ajax/lookup/", query_string={"name": field, "query": term})
            assert answer.status_code == 200, (other, field)
            assert not {pk for pk, _ in json.loads(answer.get_data(as_text=True))} & ids, (model.__name__, other)
        checked += 1
    assert checked == len(hidden)
