"""The single entry point of every approve rule: ``require(record, rule_id, roles)``.

Until the approvals engine lands it records the request (an Approval row per role,
pending) and counts the rule event; deciding them is the next step.
"""
import models
from policies.engine import APPROVE
from policies.engine import RULES


def require(record, rule_id, roles, department=None, summary=""):
    """Ask ``roles`` to approve ``record`` under ``rule_id``; return the pending Approval rows."""
    actor = models.current_actor.get()
    rows = []
    for step, role in enumerate(roles, start=1):
        rows.append(models.Approval.create(
            target_model=type(record).__name__, target_id=record._pk, rule=rule_id, step=step,
            required_role=role, department=department, summary=summary or str(record),
            requested_by=actor,
        ))
    RULES[rule_id].record(APPROVE, record, note=summary)
    return rows


def pending_for(record):
    """Return the pending approvals of ``record``."""
    return models.Approval.select().where(
        models.Approval.target_model == type(record).__name__,
        models.Approval.target_id == record._pk,
        models.Approval.status == "pending",
    )
