"""Export everywhere: every record type's list exports Chinese headers, choice labels, names and masked values."""
import csv
import io

import pytest
from peewee import ForeignKeyField

import models
from factories import make
from factories import view_for
from views.screens import screen_models

EXPORTABLE = [m for m in screen_models() if "admin" in {r for r, a in models.default_permissions(m).items() if "export" in a}]


@pytest.mark.parametrize("model", EXPORTABLE, ids=lambda m: m.__name__)
def test_export_reads_like_the_screen(app, admin_client, model):
    obj = make(model)
    view = view_for(app, model)
    body = admin_client.get(f"/admin/{model.__name__.lower()}/export/csv/").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    header, values = rows[0], rows[1]  # newest first: the record made here
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in h) for h in header), header
    exported = dict(zip([name for name, _ in view._export_columns], values))
    for name, value in exported.items():
        field = model._meta.fields.get(name)
        raw = getattr(obj, name, None) if field is not None else None
        if field is not None and field.choices and raw not in (None, ""):
            assert value == dict(field.choices)[raw], (name, value)
        if isinstance(field, ForeignKeyField) and getattr(obj, name + "_id") is not None:
            assert value == str(getattr(obj, name)), (name, value)
        if name in model.admin_options().get("sensitive", ()) and raw:
            assert value != raw and "*" in value
        if isinstance(raw, bool):
            assert value in ("是", "否"), (name, value)
