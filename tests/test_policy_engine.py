"""The engine: refusals collected per save, shown at their fields, rolled back with no audit row."""
import ast
import decimal
import os
import subprocess
import sys

import pytest

import models
import policies
from conftest import submit
from factories import form_data
from factories import make
from factories import view_for


def reception(**fields):
    values = dict(visitor_org="宁波来访团", guest_class="B", guests=2, companions=1,
                  cost_per_person=decimal.Decimal("100"), status="planned")
    values.update(fields)
    return models.Reception(**values)


def test_several_violations_of_one_save_are_reported_together(app):
    with pytest.raises(policies.PolicyViolation) as exc:
        reception(guests=6, companions=1, cost_per_person=decimal.Decimal("999")).save()
    ids = {v.rule_id for v in exc.value.violations}
    assert ids == {"RCP-1", "RCP-2"}
    assert {v.field for v in exc.value.violations} == {"cost_per_person", "companions"}
    assert models.Reception.select().count() == 0


def test_form_shows_each_refusal_at_its_field_and_writes_no_audit_row(app, admin_client):
    audit_rows = models.AuditLog.select().count()
    data = form_data(view_for(app, models.Reception), reception(guests=6, companions=1,
                                                                cost_per_person=decimal.Decimal("999")))
    response = submit(admin_client, "/admin/reception/new/", data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "RCP-1" in html and "RCP-2" in html
    assert html.count("is-invalid") >= 2
    assert models.Reception.select().count() == 0
    assert models.AuditLog.select().count() == audit_rows
    blocked = models.RuleEvent.select().where(models.RuleEvent.kind == "block")
    assert {e.rule for e in blocked} == {"RCP-1", "RCP-2"}


def test_refused_edit_leaves_the_record_and_its_audit_unchanged(app, admin_client):
    saved = make(models.Reception, visitor_org="原单位", guest_class="B", guests=2, companions=1,
                 cost_per_person=decimal.Decimal("100"))
    audit_rows = models.AuditLog.select().count()
    data = form_data(view_for(app, models.Reception), saved)
    data.update(visitor_org="新单位", cost_per_person="301", version=str(saved.version))
    response = submit(admin_client, f"/admin/reception/edit/?id={saved.id}", data)
    assert response.status_code == 200 and "RCP-1" in response.get_data(as_text=True)
    again = models.Reception.get_by_id(saved.id)
    assert again.visitor_org == "原单位" and again.version == saved.version
    assert models.AuditLog.select().count() == audit_rows


def test_every_rule_of_domain_is_declared_with_source_and_action():
    for rule_id, rule in policies.RULES.items():
        assert rule.title and rule.source and rule.action in policies.ACTION_LABELS, rule_id
        assert rule.quote, rule_id
        for name in rule.defaults:
            assert name in rule.labels, (rule_id, name)


def test_daily_checks_command_runs(app):
    result = app.test_cli_runner().invoke(args=["daily-checks"])
    assert result.exit_code == 0 and "新增" in result.output


def test_a_settings_change_is_audited(app):
    policies.RULES["ARC-1"].configure(max_days=5)
    entry = models.AuditLog.select().where(models.AuditLog.model == "RuleSetting").order_by(
        models.AuditLog.id.desc()).get()
    assert entry.action in ("create", "update") and "5" in entry.changes


def _imported_modules(path):
    """Return every module that the file at ``path`` imports, at any depth (functions included)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
    return names


def _root(*parts):
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), *parts)


def test_the_schema_imports_nothing_from_the_rules():
    imported = _imported_modules(_root("models.py"))
    assert not {name for name in imported if name == "policies" or name.startswith("policies.")}
    assert not {name for name in imported if name.startswith("views")}
    assert not {n for n in _imported_modules(_root("clock.py")) if n.split(".")[0] in ("models", "policies", "views")}
    loaded = subprocess.run([sys.executable, "-c", "import sys, models; print(sorted(m for m in sys.modules "
                             "if m.split('.')[0] in ('policies', 'views')))"],
                            cwd=_root(), capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_the_permission_matrix_does_not_import_the_registry():
    assert "views.registry" not in _imported_modules(_root("views", "permissions.py"))
    assert "views.registry" not in _imported_modules(_root("views", "screens.py"))


def test_each_flag_query_is_declared_in_its_rules_module():
    for model, entries in policies.FLAGS.items():
        for rule_obj, query, _badge in entries:
            assert query.__module__.startswith("policies."), (model, rule_obj)
    # The registered query is the model's named query too (one declaration, asked the same way everywhere).
    assert models.Loan.overdue is policies.archives.overdue_loans
    assert models.Customer.contact_overdue is policies.customers.contact_overdue
