"""SQLite is opened with WAL, foreign keys, FULL sync and a busy timeout; deletes work; upgrades add columns."""
import datetime

import models
from conftest import csrf_token
from factories import make


def test_sqlite_pragmas(app):
    assert models.db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert models.db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert models.db.execute_sql("PRAGMA synchronous").fetchone()[0] == 2
    assert models.db.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_delete_and_mass_delete_through_the_list(app, admin_client):
    one = make(models.Partner, name="合作方一")
    two = make(models.Partner, name="合作方二")
    three = make(models.Partner, name="合作方三")
    token = csrf_token(admin_client, "/admin/partner/")
    response = admin_client.post("/admin/partner/delete/", data={"id": one.id, "csrf_token": token})
    assert response.status_code == 302
    assert models.Partner.get_or_none(models.Partner.id == one.id) is None
    response = admin_client.post("/admin/partner/action/", data={
        "action": "delete", "rowid": [str(two.id), str(three.id)], "csrf_token": token})
    assert response.status_code == 302
    assert models.Partner.select().count() == 0


def test_post_without_csrf_token_changes_nothing(app, admin_client):
    partner = make(models.Partner, name="保留")
    response = admin_client.post("/admin/partner/delete/", data={"id": partner.id})
    assert response.status_code == 400
    assert models.Partner.get_or_none(models.Partner.id == partner.id) is not None


def test_an_older_database_gets_the_new_columns_on_start(app):
    """An office upgrading keeps its rows; columns added since are created with their defaults."""
    make(models.Shipment, customer=make(models.Customer, name="老库客户"), invoice_no="OLD-1", amount=100,
         shipped_on=datetime.date(2026, 1, 5), prepaid=True)
    models.db.execute_sql("DROP INDEX IF EXISTS shipment_status")
    models.db.execute_sql("ALTER TABLE shipment DROP COLUMN status")
    assert "status" not in {c.name for c in models.db.get_columns("shipment")}
    models.create_tables()
    assert "status" in {c.name for c in models.db.get_columns("shipment")}
    assert "shipment_status" in {i.name for i in models.db.get_indexes("shipment")}
    shipment = models.Shipment.get(models.Shipment.invoice_no == "OLD-1")
    assert shipment.status == "shipped" and shipment.amount == 100
    assert models.add_missing_columns(models.MODELS) == 0


def test_an_upgrade_keeps_the_rows_that_point_at_a_rebuilt_table(app):
    """SQLite adds a NOT NULL column by rebuilding the table: the child rows (ON DELETE CASCADE) must survive."""
    complaint = make(models.Complaint, complainant="张先生", content="老库投诉", category="service")
    make(models.ComplaintUpdate, complaint=complaint, note="老库进展")
    models.db.execute_sql("ALTER TABLE complaint DROP COLUMN plate_no")
    models.create_tables()
    assert "plate_no" in {c.name for c in models.db.get_columns("complaint")}
    assert [u.note for u in models.ComplaintUpdate.select()] == ["老库进展"]
    assert models.Complaint.get_by_id(complaint.id).plate_no == ""
    assert models.db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
