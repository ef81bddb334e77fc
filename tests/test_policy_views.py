"""The policy catalogue (制度条款) and the settings page (制度参数)."""
import datetime
import html
import json
import os
import re

import pytest

import models
from factories import make_loan
import policies
from conftest import csrf_token
from conftest import submit
from policies.engine import Rule
from views import display

CATALOGUE = "/admin/policies/"
SETTINGS = "/admin/policy-settings/"
DOMAIN = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "shared", "DOMAIN.md")
ROW_RE = re.compile(r'<tr id="rule-([^"]+)" data-rule="[^"]+"[^>]*>(.*?)</tr>', re.S)
NOW = datetime.datetime(2026, 11, 2, 1, 0)


def domain_rule_ids():
    """Return the rule ids of DOMAIN.md's rule tables."""
    with open(DOMAIN, encoding="utf-8") as fh:
        return {m.group(1) for m in re.finditer(r"^\| ([A-Z]+-\d+) \|", fh.read(), re.M)}


def rows(response):
    """Return {rule id: row html} of a catalogue or settings page."""
    assert response.status_code == 200, response.status_code
    return {rule_id: body for rule_id, body in ROW_RE.findall(response.get_data(as_text=True))}


def count_cell(page, rule_id, kind):
    match = re.search(rf'id="count-{re.escape(rule_id)}-{kind}">(\d+)<', page)
    assert match, f"no {kind} count for {rule_id}"
    return int(match.group(1))


class loan:
    """A loan of ``days`` that ``save()`` lends the only way one exists (a GM's request, lent by the archivist)."""

    def __init__(self, days):
        self.days = days

    def save(self):
        folder = models.ArchiveFile.create(number=f"F-{self.days}", title="档案")
        return make_loan(file=folder, days=self.days, lent_at=NOW)


def post_settings(client, data, token_url=SETTINGS):
    data = dict(data)
    data["csrf_token"] = csrf_token(client, token_url)
    return client.post(SETTINGS, data=data)


# ---------------------------------------------------------------- catalogue
def test_domain_md_has_rule_tables():
    ids = domain_rule_ids()
    assert {"ARC-1", "CMP-10", "CRD-5", "CTR-2", "CUS-5", "VIS-4", "RCP-3", "SRV-2", "MOV-1", "ATT-1", "QC-1"} <= ids


def test_catalogue_lists_exactly_the_rules_of_domain_md(app, admin_client):
    listed = rows(admin_client.get(CATALOGUE))
    expected = domain_rule_ids()
    assert sorted(expected - set(listed)) == [], "rules of DOMAIN.md missing from the catalogue"
    assert sorted(set(listed) - expected) == [], "rules in the catalogue that DOMAIN.md does not have"
    assert set(listed) == set(policies.RULES)


def test_catalogue_is_sorted_by_area_then_number(app, admin_client):
    order = list(rows(admin_client.get(CATALOGUE)))
    areas = ["ARC", "CMP", "CRD", "CTR", "CUS", "VIS", "RCP", "SRV", "MOV", "ATT", "QC"]
    keys = [(areas.index(i.split("-")[0]), int(i.split("-")[1])) for i in order]
    assert keys == sorted(keys)


def test_every_row_shows_title_source_quote_and_action(app, admin_client):
    listed = rows(admin_client.get(CATALOGUE))
    assert listed
    for rule_id, body in listed.items():
        rule = policies.RULES[rule_id]
        text = html.unescape(body)
        assert rule.title in text, rule_id
        assert f'<div class="policy-source">{rule.source}</div>' in text, rule_id
        assert rule.quote, f"{rule_id} has no quote"
        # The quote reads in clean Simplified Chinese; the original stays under 原文 when it differs.
        assert f'<small class="text-muted policy-quote">「{display.simplified(rule.quote)}」</small>' in text, rule_id
        if display.simplified(rule.quote) != rule.quote:
            assert f'<span class="policy-original">{rule.quote}</span>' in text, rule_id
        assert policies.ACTION_LABELS[rule.action] in text, rule_id


def test_catalogue_shows_settings_with_labels_and_on_off(app, admin_client):
    body = html.unescape(rows(admin_client.get(CATALOGUE))["ARC-1"])
    assert "最长借阅天数:<strong>3</strong>" in body
    assert "badge-success" in body and "启用" in body
    policies.RULES["ARC-1"].configure(enabled=False, max_days=5)
    body = html.unescape(rows(admin_client.get(CATALOGUE))["ARC-1"])
    assert "最长借阅天数:<strong>5</strong>" in body and "默认 3" in body
    assert "停用" in body


def test_catalogue_filters_by_area(app, admin_client):
    listed = rows(admin_client.get(CATALOGUE + "?area=ARC"))
    assert "ARC-1" in listed
    assert all(rule_id.startswith("ARC-") for rule_id in listed)
    assert set(listed) == {r.id for r in policies.RULES.values() if r.area == "ARC"}
    # An unknown area shows every rule.
    assert set(rows(admin_client.get(CATALOGUE + "?area=XYZ"))) == set(policies.RULES)


def test_counts_reflect_rule_events_of_the_last_30_days(app, admin_client):
    now = models.utcnow()
    for _ in range(3):
        models.RuleEvent.create(rule="ARC-1", kind="block", at=now - datetime.timedelta(days=1))
    models.RuleEvent.create(rule="ARC-1", kind="block", at=now - datetime.timedelta(days=29, hours=23))
    models.RuleEvent.create(rule="ARC-1", kind="block", at=now - datetime.timedelta(days=31))
    models.RuleEvent.create(rule="ARC-1", kind="compute", at=now)
    models.RuleEvent.create(rule="ARC-1", kind="approve", at=now)
    models.RuleEvent.create(rule="ARC-1", kind="approve", at=now)
    models.RuleEvent.create(rule="ARC-1", kind="notify", at=now - datetime.timedelta(days=40))
    page = admin_client.get(CATALOGUE).get_data(as_text=True)
    assert count_cell(page, "ARC-1", "block") == 4
    assert count_cell(page, "ARC-1", "compute") == 1
    assert count_cell(page, "ARC-1", "approve") == 2
    assert count_cell(page, "ARC-1", "notify") == 0


def test_logged_refusals_are_counted(app, admin_client):
    with pytest.raises(policies.PolicyViolation) as exc:
        loan(4).save()
    policies.log_blocked(exc.value, models.Loan())
    page = admin_client.get(CATALOGUE).get_data(as_text=True)
    assert count_cell(page, "ARC-1", "block") == 1


def test_counts_use_one_grouped_query(app, admin_client):
    from views.policy_views import event_counts

    models.RuleEvent.create(rule="ARC-1", kind="block")
    models.RuleEvent.create(rule="ARC-1", kind="block")
    models.RuleEvent.create(rule="ZZZ-9", kind="notify")
    assert event_counts() == {("ARC-1", "block"): 2, ("ZZZ-9", "notify"): 1}


def test_flag_rules_show_how_many_rows_they_flag_now(app, admin_client, monkeypatch):
    def long_loans():
        return models.Loan.select().where(models.Loan.due_at > NOW + datetime.timedelta(days=2))

    monkeypatch.setitem(policies.FLAGS, models.Loan,
                        list(policies.FLAGS.get(models.Loan, [])) + [(policies.RULES["ARC-1"], long_loans, "danger")])
    policies.RULES["ARC-1"].configure(max_days=10)
    loan(1).save()
    loan(3).save()
    loan(5).save()
    body = rows(admin_client.get(CATALOGUE))["ARC-1"]
    match = re.search(r'<a href="/admin/loan/">外借登记</a>\s*<span class="badge badge-danger">(\d+)</span>', body)
    assert match and int(match.group(1)) == 2


def test_every_declared_flag_is_counted(app, admin_client):
    listed = rows(admin_client.get(CATALOGUE))
    expected = {}
    for entries in policies.FLAGS.values():
        for rule, _query, _badge in entries:
            expected[rule.id] = expected.get(rule.id, 0) + 1
    for rule_id, body in listed.items():
        assert body.count('class="text-nowrap small policy-flag"') == expected.get(rule_id, 0), rule_id


def test_catalogue_is_in_the_menu_and_needs_login(app, client, login_as):
    response = client.get(CATALOGUE)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    login_as("clerk")
    page = client.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/policies/"' in page and "制度条款" in page
    # The settings page is for admins only, so a clerk does not see it in the menu.
    assert 'href="/admin/policy-settings/"' not in page
    assert client.get(CATALOGUE).status_code == 200


# ---------------------------------------------------------------- settings
def test_settings_page_has_a_form_for_every_rule(app, admin_client):
    response = admin_client.get(SETTINGS)
    listed = rows(response)
    assert set(listed) == set(policies.RULES)
    page = response.get_data(as_text=True)
    assert 'name="csrf_token"' in page
    body = listed["ARC-1"]
    assert 'name="rule" value="ARC-1"' in body
    assert 'name="enabled" value="y" checked' in body
    assert 'name="setting.max_days" value="3"' in body and "最长借阅天数" in body
    assert 'href="/admin/policy-settings/"' in admin_client.get("/admin/").get_data(as_text=True)


def test_admin_changes_arc1_and_it_applies_at_once(app, admin_client):
    response = submit(admin_client, SETTINGS, {"rule": "ARC-1", "enabled": "y", "setting.max_days": "5"})
    assert response.status_code == 302
    followed = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已保存 ARC-1 的参数" in followed
    assert 'name="setting.max_days" value="5"' in followed
    assert policies.RULES["ARC-1"].get("max_days") == 5
    loan(5).save()
    with pytest.raises(policies.PolicyViolation):
        loan(6).save()
    assert models.Loan.select().count() == 1
    # The change is audited like any other save.
    row = models.RuleSetting.get(models.RuleSetting.rule == "ARC-1")
    assert row.updated_by is not None


def test_admin_switches_a_rule_off(app, admin_client):
    response = submit(admin_client, SETTINGS, {"rule": "ARC-1", "setting.max_days": "3"})
    assert response.status_code == 302
    assert not policies.RULES["ARC-1"].on()
    loan(30).save()
    response = submit(admin_client, SETTINGS, {"rule": "ARC-1", "enabled": "y", "setting.max_days": "3"})
    assert policies.RULES["ARC-1"].on()
    with pytest.raises(policies.PolicyViolation):
        loan(4).save()


def test_reset_restores_the_defaults(app, admin_client):
    policies.RULES["ARC-1"].configure(enabled=False, max_days=9)
    response = submit(admin_client, SETTINGS, {"rule": "ARC-1", "reset": "1", "setting.max_days": "9"})
    assert response.status_code == 302
    assert policies.RULES["ARC-1"].on() and policies.RULES["ARC-1"].get("max_days") == 3


@pytest.mark.parametrize("value, message", [
    ("abc", "请输入整数"), ("-1", "不能为负数"), ("", "请填写数值"), ("2.5", "请输入整数"),
])
def test_bad_values_are_refused_at_the_field(app, admin_client, value, message):
    response = submit(admin_client, SETTINGS, {"rule": "ARC-1", "setting.max_days": value})
    assert response.status_code == 200
    body = rows(response)["ARC-1"]
    assert 'class="form-control form-control-sm is-invalid"' in body
    assert f'<div class="invalid-feedback d-block">{message}</div>' in body
    assert "ARC-1 的参数有误,未保存" in response.get_data(as_text=True)
    # Nothing saved: not the number, not the switch that was posted off.
    assert not models.RuleSetting.select().exists()
    assert policies.RULES["ARC-1"].on() and policies.RULES["ARC-1"].get("max_days") == 3


def test_unknown_rule_is_a_bad_request(app, admin_client):
    assert submit(admin_client, SETTINGS, {"rule": "NOPE-1"}).status_code == 400


@pytest.fixture
def dict_rule(monkeypatch):
    """A temporary rule with a per-class dict setting, a float and a switch."""
    rule = Rule("TST-1", "测试条款", "测试出处", "block",
                settings={"cost": {"A": 500, "B": 300}, "ratio": 0.5, "strict": True},
                labels={"cost": "人均标准", "cost.A": "A类人均标准", "ratio": "比例", "strict": "严格"},
                quote="测试原文。", area="TST")
    monkeypatch.setitem(policies.RULES, "TST-1", rule)
    return rule


def test_dict_float_and_bool_settings(app, admin_client, dict_rule):
    body = rows(admin_client.get(SETTINGS))["TST-1"]
    assert 'name="setting.cost.A" value="500"' in body and "A类人均标准" in body
    assert 'name="setting.cost.B" value="300"' in body and "人均标准(B)" in body
    assert 'name="setting.ratio" value="0.5"' in body
    response = submit(admin_client, SETTINGS, {"rule": "TST-1", "enabled": "y", "setting.cost.A": "450",
                                               "setting.cost.B": "300", "setting.ratio": "0.25"})
    assert response.status_code == 302
    assert dict_rule.settings() == {"cost": {"A": 450, "B": 300}, "ratio": 0.25, "strict": False}
    stored = json.loads(models.RuleSetting.get(models.RuleSetting.rule == "TST-1").params)
    assert stored["cost"] == {"A": 450, "B": 300}
    body = html.unescape(rows(admin_client.get(CATALOGUE))["TST-1"])
    assert "人均标准:<strong>A: 450,B: 300</strong>" in body


def test_bad_dict_key_saves_nothing(app, admin_client, dict_rule):
    response = submit(admin_client, SETTINGS, {"rule": "TST-1", "enabled": "y", "setting.cost.A": "450",
                                               "setting.cost.B": "-5", "setting.ratio": "x"})
    assert response.status_code == 200
    body = rows(response)["TST-1"]
    assert body.count("is-invalid") == 2
    assert "不能为负数" in body and "请输入数字" in body
    assert 'name="setting.cost.A" value="450"' in body
    assert not models.RuleSetting.select().exists()


def test_non_admin_gets_403_and_cannot_post(app, client, login_as):
    login_as("clerk")
    assert client.get(SETTINGS).status_code == 403
    response = post_settings(client, {"rule": "ARC-1", "setting.max_days": "30"}, token_url="/admin/")
    assert response.status_code == 403
    assert not models.RuleSetting.select().exists()
    assert policies.RULES["ARC-1"].get("max_days") == 3


def test_anonymous_is_sent_to_login(app, client):
    response = client.get(SETTINGS)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    response = client.post(SETTINGS, data={"rule": "ARC-1", "setting.max_days": "30"})
    assert response.status_code in (302, 400)
    assert not models.RuleSetting.select().exists()


def test_catalogue_shows_how_the_console_reads_a_rule(app, admin_client):
    body = html.unescape(rows(admin_client.get(CATALOGUE))["CTR-1"])
    assert f'<div class="small policy-reading">执行口径:{policies.RULES["CTR-1"].reading}</div>' in body
    assert "累计" in policies.RULES["CTR-1"].reading
