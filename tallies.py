"""Customer counts by tier, stage, clearance, department and owner (``CustomerTally``), kept on every write.

The managers' charts on the workbench (customers by tier and by stage) add up these rows under the
user's secrecy condition instead of grouping a million customers. Every customer save and delete moves
one count in the same transaction (when a save writes a key field, the stored row is read before and after, so a
partly loaded instance cannot skew it); a deleted owner or department is cleared here as the database clears it on the
customer (``ON DELETE SET NULL``). ``rebuild()`` recounts everything in one statement: after a bulk
load, when an existing database first gets the table, and in the daily checks.

The complaints-per-week chart remembers closed weeks per secrecy scope (``WeeklyComplaintCount``, written by
``views/dashboard.py``); the writes that make a remembered week wrong delete it here, in their transaction,
and ``rebuild()`` forgets them all (a bulk write that bypassed ``save()``).
"""
import datetime

from peewee import Value
from peewee import fn
from playhouse.signals import post_delete
from playhouse.signals import post_save
from playhouse.signals import pre_delete
from playhouse.signals import pre_save

import backend
import models
from clock import to_local

KEY = ("tier", "stage", "confidentiality", "department", "owner")


def _stored_key(pk):
    """Return the tally key of the stored customer ``pk`` (None when there is no such row)."""
    c = models.Customer
    return (c.select(c.tier, c.stage, c.confidentiality, c.department, c.owner)
            .where(c.id == pk).tuples().first())


def move(key, delta):
    """Add ``delta`` to the count of ``key`` (tier, stage, confidentiality, department id, owner id)."""
    t = models.CustomerTally
    # ``== None`` is IS NULL: a customer without a department or owner has its own rows.
    cond = [getattr(t, name) == value for name, value in zip(KEY, key)]
    cell = t.select(t.id).where(*cond).limit(1)
    if not t.update(count=t.count + delta).where(t.id.in_(cell)).execute():
        now = models.utcnow()
        t.insert(**dict(zip(KEY, key)), count=delta, created_at=now, updated_at=now).execute()


def rebuild():
    """Recount every customer into the tally (one INSERT … SELECT)."""
    t = models.CustomerTally
    c = models.Customer
    now = models.utcnow()
    with models.db.atomic():
        forget_weeks()
        t.delete().execute()
        rows = c.select(c.tier, c.stage, c.confidentiality, c.department, c.owner, fn.COUNT(c.id),
                        Value(now), Value(now), Value(1)).group_by(
            c.tier, c.stage, c.confidentiality, c.department, c.owner)
        t.insert_from(rows, [t.tier, t.stage, t.confidentiality, t.department, t.owner, t.count,
                             t.created_at, t.updated_at, t.version]).execute()


def ensure():
    """Build the tally of an existing database that does not have it yet (an upgrade)."""
    if models.CustomerTally.select().exists() or not models.Customer.select().exists():
        return
    if backend.is_postgres():
        with models.db.atomic():
            # Several server processes may start at once: one builds, the others find it built.
            models.db.execute_sql(f'LOCK TABLE "{models.CustomerTally._meta.table_name}" IN EXCLUSIVE MODE')
            if not models.CustomerTally.select().exists():
                rebuild()
        return
    with models.db.atomic("IMMEDIATE"):
        if not models.CustomerTally.select().exists():
            rebuild()


@pre_save(sender=models.Customer, name="tally/before-save")
def remember_stored_key(sender, instance, created):
    """Note the stored key of a customer whose key fields are about to be written.

    A save that sets none of them (a name, a confirmation) writes none of them: nothing to move, no query.
    """
    if not created and instance._pk is not None and set(KEY) & instance._dirty:
        instance.__dict__["_tally_key"] = _stored_key(instance._pk)


@post_save(sender=models.Customer, name="tally/after-save")
def count_saved(sender, instance, created):
    """Move the customer's count from its old key to its new one."""
    if created:
        # The INSERT wrote exactly these values (defaults included).
        move((instance.tier, instance.stage, instance.confidentiality, instance.department_id,
              instance.owner_id), 1)
        return
    if "_tally_key" not in instance.__dict__:
        return
    old = instance.__dict__.pop("_tally_key")
    new = _stored_key(instance._pk)
    if old == new:
        return
    if old is not None:
        move(old, -1)
    if new is not None:
        move(new, 1)
    if old is None or new is None or old[2:] != new[2:]:
        # Its complaints are seen by other scopes now (clearance, department, owner).
        forget_weeks()


@pre_delete(sender=models.Customer, name="tally/before-delete")
def remember_deleted_key(sender, instance):
    instance.__dict__["_tally_key"] = _stored_key(instance._pk)


@post_delete(sender=models.Customer, name="tally/after-delete")
def count_deleted(sender, instance):
    """Take a deleted customer out of its count."""
    old = instance.__dict__.pop("_tally_key", None)
    if old is not None:
        move(old, -1)


@post_delete(sender=models.User, name="tally/owner-deleted")
def clear_owner(sender, instance):
    """Follow the database: the customers of a deleted user have no owner."""
    t = models.CustomerTally
    t.update(owner=None).where(t.owner == instance._pk).execute()
    forget_weeks()


@post_delete(sender=models.Department, name="tally/department-deleted")
def clear_department(sender, instance):
    """Follow the database: the customers of a deleted department have none."""
    t = models.CustomerTally
    t.update(department=None).where(t.department == instance._pk).execute()
    forget_weeks()


# ---------------------------------------------------------------- complaints per closed week
# The workbench remembers the counts of closed weeks per secrecy scope (WeeklyComplaintCount); a write that
# changes one is followed here, in its transaction, by deleting what it made wrong.

def week_of(received_at):
    """Return the local Monday of the week ``received_at`` (stored naive UTC) falls in."""
    if isinstance(received_at, str):
        received_at = models.Complaint.received_at.python_value(received_at)
    day = to_local(received_at).date()
    return day - datetime.timedelta(days=day.weekday())


def forget_weeks(*received):
    """Delete the remembered counts of the weeks of ``received`` (datetimes), or all of them."""
    w = models.WeeklyComplaintCount
    query = w.delete()
    if received:
        query = query.where(w.week.in_({week_of(r) for r in received if r is not None}))
    query.execute()


def _stored_complaint(pk):
    c = models.Complaint
    return c.select(c.received_at, c.customer).where(c.id == pk).tuples().first()


@pre_save(sender=models.Complaint, name="weeks/before-save")
def remember_complaint_week(sender, instance, created):
    if not created and instance._pk is not None and {"received_at", "customer"} & instance._dirty:
        instance.__dict__["_stored_week_key"] = _stored_complaint(instance._pk)


@post_save(sender=models.Complaint, name="weeks/after-save")
def complaint_saved(sender, instance, created):
    """A new complaint counts in its week; one moved to another week or customer changes both weeks."""
    if created:
        forget_weeks(instance.received_at)
        return
    old = instance.__dict__.pop("_stored_week_key", None)
    if old is not None and old != _stored_complaint(instance._pk):
        forget_weeks(old[0], instance.received_at)


@post_delete(sender=models.Complaint, name="weeks/after-delete")
def complaint_deleted(sender, instance):
    forget_weeks(instance.received_at)
