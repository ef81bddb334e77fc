"""Archive rules at their boundaries, through save() and through the generated form."""
import datetime

import pytest

import models
import policies
from conftest import submit
from factories import form_data
from factories import make
from factories import view_for

NOW = datetime.datetime(2026, 11, 2, 1, 0)


def loan(days, hours=0, **extra):
    folder = extra.pop("file", None) or make(models.ArchiveFile, number=f"F-{days}-{hours}", title="档案")
    borrower = extra.pop("borrower", None) or make(models.User, username=f"b{days}{hours}")
    return models.Loan(file=folder, borrower=borrower, lent_at=NOW,
                       due_at=NOW + datetime.timedelta(days=days, hours=hours), **extra)


def test_arc1_three_days_allowed_four_refused_via_save(app):
    loan(3).save()
    with pytest.raises(policies.PolicyViolation) as exc:
        loan(3, hours=1).save()
    assert exc.value.rule_id == "ARC-1"
    assert "借阅期限不得超过 3 天(ARC-1,000 篇二 第19条5)" in str(exc.value)
    assert models.Loan.select().count() == 1


def test_arc1_borrow_request_days(app):
    make(models.BorrowRequest, days=3)
    with pytest.raises(policies.PolicyViolation):
        make(models.BorrowRequest, days=4)


def test_arc1_refused_in_the_generated_form_at_the_field(app, admin_client):
    view = view_for(app, models.BorrowRequest)
    data = form_data(view, models.BorrowRequest(
        borrower=make(models.User, username="jieyue"), file=make(models.ArchiveFile, number="F-X", title="x"),
        days=4, copies=1, reason="核对合同", status="pending"))
    response = submit(admin_client, "/admin/borrowrequest/new/", data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "借阅期限不得超过 3 天(ARC-1,000 篇二 第19条5)" in html
    assert 'id="days"' in html and "is-invalid" in html
    assert models.BorrowRequest.select().count() == 0
    assert models.RuleEvent.select().where(models.RuleEvent.rule == "ARC-1",
                                           models.RuleEvent.kind == "block").count() == 1


def test_arc1_changed_setting_takes_effect_without_restart(app):
    policies.RULES["ARC-1"].configure(max_days=5)
    loan(5).save()
    with pytest.raises(policies.PolicyViolation):
        loan(6).save()
    policies.RULES["ARC-1"].configure(enabled=False)
    loan(30).save()
