"""What screens show for stored values: labels, names, 是/否, local minutes, clean quotes (views/display.py)."""
import datetime
import re

import models
import policies
from factories import make
from views import display


def test_catalogue_quote_is_cleaned_to_simplified_chinese():
    original = "借閱者把借閱的資料的名稱、份數(shù)、借閱時間,將客戶資料據(jù)為己有,須經(jīng)客戶服務(wù)部經(jīng)理批準"
    cleaned = display.simplified(original)
    assert cleaned == "借阅者把借阅的资料的名称、份数、借阅时间,将客户资料据为己有,须经客户服务部经理批准"
    assert display.simplified("") == ""


def test_every_declared_quote_reads_without_debris():
    for rule in policies.RULES.values():
        assert not re.search(r"[\u4e00-\u9fff]\([a-zāáǎàēéěèīíǐìōóǒòūúǔùü]+\)", display.simplified(rule.quote)), rule.id


def test_catalogue_page_shows_the_cleaned_quote_and_keeps_the_original(admin_client):
    html = admin_client.get("/admin/policies/").get_data(as_text=True)
    assert "份数、借阅时间" in html
    assert "份數(shù)" in html  # the source text stays available under 原文
    assert "原文" in html


def test_flag_rules_have_a_short_badge_word():
    words = {rule.id: display.badge_label(rule) for rules in policies.FLAGS.values() for rule, _q, _b in rules}
    assert {"ARC-7", "CUS-1", "CRD-5", "CMP-2"} <= set(words)
    assert words["ARC-7"] == "逾期未还" and words["CUS-1"] == "久未联系"
    for rule_id, word in words.items():
        # A rule declared later without a word falls back to its (short) title.
        assert 2 <= len(word) <= 10, (rule_id, word)


def test_list_badge_shows_the_word_with_the_rule_id(admin_client):
    # CUS-1 counts communications: a key customer entered 60 days ago and never contacted is flagged.
    customer = make(models.Customer, name="久未联系测试客户", tier="key",
                    created_at=models.utcnow() - datetime.timedelta(days=60))
    html = admin_client.get("/admin/customer/?search=久未联系测试客户").get_data(as_text=True)
    assert customer.name in html
    assert re.search(r"久未联系<span class=\"rule-id\">CUS-1</span>", html), html[html.find("提醒"):][:2000]


def test_details_show_names_not_sql_and_yes_no_not_true_false(admin_client):
    group = make(models.QCGroup)
    member = models.User.select().first()
    group.members.add([member])
    html = admin_client.get(f"/admin/qcgroup/details/?id={group.id}").get_data(as_text=True)
    assert "SELECT" not in html
    assert str(member) in html
    contact = make(models.Contact, is_primary=True)
    html = admin_client.get(f"/admin/contact/details/?id={contact.id}").get_data(as_text=True)
    assert not re.search(r">\s*(True|False|None)\s*<", html)
    assert re.search(r"主要联系人</b>\s*</td>\s*<td>\s*是", html)


def test_backref_many_to_many_is_labelled_in_chinese(admin_client):
    user = models.User.select().first()
    html = admin_client.get(f"/admin/user/details/?id={user.id}").get_data(as_text=True)
    assert "qc_groups" not in html
    assert "QC小组" in html


def test_history_shows_labels_names_and_local_minutes(admin_client):
    customer = make(models.Customer, name="历史显示测试", region="in_province")
    owner = models.User.select().first()
    customer = models.Customer.get_by_id(customer.id)
    customer.region = "out_of_province"
    customer.owner = owner
    customer.save()
    html = admin_client.get(f"/admin/customer/details/?id={customer.id}").get_data(as_text=True)
    history = html[html.find('id="history"'):]
    assert "省内 → 省外" in history
    assert f"→ {owner}" in history
    assert "out_of_province" not in history
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d+", history)


def test_change_values_read_as_a_person_reads_them():
    assert display.change_value(models.Contact, "is_primary", True) == "是"
    assert display.change_value(models.Contact, "is_primary", False) == "否"
    assert display.change_value(models.Customer, "stage", "prospect") == "潜在"
    assert display.change_value(models.Customer, "stage", None) == "(空)"
    assert display.change_value(models.AuditLog, "model", "RuleEvent") == "规则触发记录"
    assert display.change_value(models.Loan, "lent_at", "2026-12-01 02:32:04.246156") == "2026-12-01 10:32"


def test_penalty_source_reads_as_the_record_it_names(admin_client):
    user = models.User.select().first()
    handover = make(models.Handover)
    penalty = make(models.Penalty, user=user, rule="ARC-9", amount=50, on=datetime.date(2026, 12, 1),
                   source=f"Handover#{handover.id}")
    html = admin_client.get("/admin/penalty/").get_data(as_text=True)
    assert f"Handover#{handover.id}" not in html
    assert "档案移交" in html
    html = admin_client.get(f"/admin/penalty/details/?id={penalty.id}").get_data(as_text=True)
    assert f"/admin/handover/details/?id={handover.id}" in html


def test_class_names_read_as_record_type_labels(admin_client):
    policies.audit.log("export", "RuleEvent", "", {"格式": ["", "csv"]})
    html = admin_client.get("/admin/auditlog/").get_data(as_text=True)
    assert not re.search(r">\s*RuleEvent\s*<", html)
    assert "规则触发记录" in html


def test_raw_rule_settings_have_no_second_menu_entry(admin_client):
    html = admin_client.get("/admin/").get_data(as_text=True)
    assert "制度参数(原始)" not in html
    assert admin_client.get("/admin/rulesetting/").status_code == 200


def test_pages_carry_no_inline_handlers(admin_client):
    """Every handler is bound by static/console.js: the nonce CSP would block inline ones."""
    for path in ("/admin/customer/", "/admin/customer/new/", "/admin/holiday/"):
        html = admin_client.get(path).get_data(as_text=True)
        assert not re.search(r"\son[a-z]+=", html), path
        assert "console.js" in html
