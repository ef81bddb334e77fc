"""The policy pages: the catalogue of every rule (制度条款) and the admin's settings form (制度参数)."""
import datetime
import re

from flask import abort
from flask import flash
from flask import redirect
from flask import request
from flask import url_for
from flask_admin import expose
from flask_login import current_user
from peewee import fn
from werkzeug.routing import BuildError

import models
import policies
from views import access
from views.base import SecureView

CATEGORY = "组织与系统"
# Areas in the order of DOMAIN.md, with the label shown in the area filter.
AREAS = (
    ("ARC", "档案"), ("CMP", "投诉"), ("CRD", "授信"), ("CTR", "合同"), ("CUS", "客户"), ("VIS", "拜访"),
    ("RCP", "接待"), ("SRV", "服务"), ("MOV", "退租"), ("ATT", "考勤"), ("QC", "品管圈"),
)
AREA_LABELS = dict(AREAS)
# Rule events counted on the catalogue, with their column headings.
COUNTED_KINDS = (("block", "拦截"), ("compute", "计算"), ("approve", "送审"), ("notify", "通知"))
COUNT_WINDOW_DAYS = 30
SETTING_PREFIX = "setting"


def rule_sort_key(rule_obj):
    """Sort rules by area (DOMAIN.md order) then by their number."""
    order = {code: i for i, (code, _) in enumerate(AREAS)}
    match = re.search(r"(\d+)$", rule_obj.id)
    return order.get(rule_obj.area, len(order)), rule_obj.area, int(match.group(1)) if match else 0, rule_obj.id


def selected_area():
    """Return the area code asked for by ``?area=``, or '' for all areas."""
    area = (request.args.get("area") or "").strip().upper()
    return area if area in AREA_LABELS else ""


def rules_of(area=""):
    """Return the declared rules of ``area`` (all when empty), sorted."""
    return sorted((r for r in policies.RULES.values() if not area or r.area == area), key=rule_sort_key)


def event_counts(days=COUNT_WINDOW_DAYS, user=None):
    """Return {(rule, kind): count} of the rule events of the last ``days`` days (those ``user`` may see; one query)."""
    since = models.utcnow() - datetime.timedelta(days=days)
    query = (models.RuleEvent
             .select(models.RuleEvent.rule, models.RuleEvent.kind, fn.COUNT(models.RuleEvent.id))
             .where(models.RuleEvent.at >= since)
             .group_by(models.RuleEvent.rule, models.RuleEvent.kind))
    if user is not None:
        query = access.scope(models.RuleEvent, query, user)
    return {(rule_id, kind): count for rule_id, kind, count in query.tuples()}


def flag_counts(user=None):
    """Return {rule id: [(model label, list url or None, count, badge), ...]}: the rows (``user`` may see) flagged now."""
    result = {}
    for model, entries in policies.FLAGS.items():
        opts = model.admin_options() if hasattr(model, "admin_options") else {}
        label = opts.get("label") or model._meta.table_name
        try:
            url = url_for(f"{model.__name__.lower()}.index_view")
        except BuildError:
            url = None
        for rule_obj, query, badge in entries:
            result.setdefault(rule_obj.id, []).append((label, url, _scoped(model, query(), user).count(), badge))
    return result


def _scoped(model, query, user):
    return query if user is None else access.scope(model, query, user)


def format_value(value):
    """Return a setting value as shown on the pages."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return ",".join(f"{k}: {format_value(v)}" for k, v in value.items())
    return str(value)


# ---------------------------------------------------------------- setting inputs
class SettingInput:
    """One input of the settings form: a setting, or one key of a dict setting."""

    def __init__(self, rule_obj, path, default, current):
        self.rule = rule_obj
        self.path = path
        self.default = default
        self.current = current
        self.error = None
        self.submitted = None

    @property
    def name(self):
        return ".".join((SETTING_PREFIX,) + self.path)

    @property
    def dom_id(self):
        return f"{self.rule.id}-" + "-".join(self.path)

    @property
    def label(self):
        labels = self.rule.labels
        head = self.path[0]
        if len(self.path) == 1:
            return labels.get(head, head)
        dotted = ".".join(self.path)
        if dotted in labels:
            return labels[dotted]
        return f"{labels.get(head, head)}({'.'.join(self.path[1:])})"

    @property
    def kind(self):
        """'bool', 'int', 'float' or 'text' (the type of the default decides)."""
        if isinstance(self.default, bool):
            return "bool"
        if isinstance(self.default, int):
            return "int"
        if isinstance(self.default, float):
            return "float"
        return "text"

    @property
    def value(self):
        """Return what the input shows: the submitted text after a refused POST, else the current value."""
        if self.submitted is not None:
            return self.submitted
        if self.kind == "float":
            return f"{self.current:g}" if isinstance(self.current, (int, float)) else str(self.current)
        return "" if self.current is None else str(self.current)

    @property
    def changed(self):
        return self.current != self.default

    def parse(self, form):
        """Return the value submitted in ``form``; set ``error`` (Chinese) when it is not acceptable."""
        if self.kind == "bool":
            self.submitted = "y" if form.get(self.name) else ""
            return bool(form.get(self.name))
        text = (form.get(self.name) or "").strip()
        self.submitted = text
        if self.kind == "text":
            if not text:
                self.error = "不能为空"
            return text
        if not text:
            self.error = "请填写数值"
            return None
        try:
            number = int(text) if self.kind == "int" else float(text)
        except ValueError:
            self.error = "请输入整数" if self.kind == "int" else "请输入数字"
            return None
        if number != number or number in (float("inf"), float("-inf")):
            self.error = "请输入数字"
            return None
        if number < 0:
            self.error = "不能为负数"
            return None
        return number


def editable(value):
    """Return True if a setting of this (default) value can be edited on the page."""
    if isinstance(value, dict):
        return bool(value) and all(editable(v) for v in value.values())
    return isinstance(value, (bool, int, float, str))


def inputs_for(rule_obj, path, default, current):
    """Return the SettingInputs of one setting (one per leaf key of a dict setting)."""
    if isinstance(default, dict):
        current = current if isinstance(current, dict) else {}
        result = []
        for key, sub_default in default.items():
            result += inputs_for(rule_obj, path + (str(key),), sub_default, current.get(key, sub_default))
        return result
    return [SettingInput(rule_obj, path, default, current)]


class RuleForm:
    """The settings form of one rule: the on/off switch and one input per (leaf) setting."""

    def __init__(self, rule_obj):
        self.rule = rule_obj
        self.enabled = rule_obj.on()
        current = rule_obj.settings()
        self.inputs = []
        self.fixed = {}
        for name, default in rule_obj.defaults.items():
            if editable(default):
                self.inputs += inputs_for(rule_obj, (name,), default, current.get(name, default))
            else:
                # Lists, None and other shapes cannot be typed into a number box; shown read-only.
                self.fixed[name] = current.get(name, default)
        self.errors = False

    def parse(self, form):
        """Return the submitted params {setting: value}; mark the inputs whose value is refused."""
        self.enabled = bool(form.get("enabled"))
        params = {}
        for item in self.inputs:
            value = item.parse(form)
            if item.error:
                self.errors = True
                continue
            target = params
            for key in item.path[:-1]:
                target = target.setdefault(key, {})
            target[item.path[-1]] = value
        return params

    def merge_dicts(self, params):
        """Restore the original key types of dict settings (keys are strings in the form)."""
        for name, default in self.rule.defaults.items():
            if isinstance(default, dict) and name in params:
                params[name] = _rekey(default, params[name])
        return params


def _rekey(default, submitted):
    result = {}
    for key, sub_default in default.items():
        value = submitted.get(str(key), sub_default)
        result[key] = _rekey(sub_default, value) if isinstance(sub_default, dict) else value
    return result


# ---------------------------------------------------------------- views
class PolicyCatalogueView(SecureView):
    """制度条款: every declared rule with its source, settings, state and recent activity."""

    @expose("/")
    def index(self):
        area = selected_area()
        rules = rules_of(area)
        enabled = {row.rule: row.enabled for row in models.RuleSetting.select()}
        settings = {r.id: r.settings() for r in rules}
        return self.render(
            "policies/catalogue.html",
            rules=rules, areas=AREAS, area=area, area_counts=_area_counts(),
            action_labels=policies.ACTION_LABELS, counted_kinds=COUNTED_KINDS,
            counts=event_counts(user=current_user), flags=flag_counts(current_user), window_days=COUNT_WINDOW_DAYS,
            enabled={r.id: bool(enabled.get(r.id, True)) for r in rules}, settings=settings,
            format_value=format_value, can_configure=is_admin(),
        )


class PolicySettingsView(SecureView):
    """制度参数: the admin switches rules on/off and changes their numbers (effective at once)."""

    def is_accessible(self):
        return super().is_accessible() and is_admin()

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return super().inaccessible_callback(name, **kwargs)
        abort(403)

    @expose("/", methods=("GET", "POST"))
    def index(self):
        area = selected_area()
        forms = [RuleForm(r) for r in rules_of(area)]
        if request.method == "POST":
            rule_id = request.form.get("rule", "")
            target = next((f for f in forms if f.rule.id == rule_id), None)
            if target is None and rule_id in policies.RULES:
                # Posted from the unfiltered page while the filter hides the rule: still save it.
                target = RuleForm(policies.RULES[rule_id])
                forms.append(target)
            if target is None:
                abort(400)
            if request.form.get("reset"):
                with models.db.atomic():
                    target.rule.configure(enabled=True, **target.rule.defaults)
                flash(f"已将 {rule_id} 恢复为默认参数", "success")
                return redirect(url_for(".index", area=area or None, _anchor=f"rule-{rule_id}"))
            params = target.parse(request.form)
            if not target.errors:
                with models.db.atomic():
                    target.rule.configure(enabled=target.enabled, **target.merge_dicts(params))
                flash(f"已保存 {rule_id} 的参数", "success")
                return redirect(url_for(".index", area=area or None, _anchor=f"rule-{rule_id}"))
            flash(f"{rule_id} 的参数有误,未保存,请按提示修改。", "error")
        return self.render("policies/settings.html", forms=forms, areas=AREAS, area=area,
                           area_counts=_area_counts(), action_labels=policies.ACTION_LABELS,
                           format_value=format_value)


def is_admin():
    """Return True if the current user holds the admin role."""
    return current_user.is_authenticated and "admin" in access.role_codes(current_user)


def _area_counts():
    counts = {}
    for rule_obj in policies.RULES.values():
        counts[rule_obj.area] = counts.get(rule_obj.area, 0) + 1
    return counts


def register_policy_views(admin):
    """Add the policy catalogue and the settings page to ``admin`` (menu 组织与系统)."""
    admin.add_view(PolicyCatalogueView(name="制度条款", category=CATEGORY, endpoint="policy_catalogue",
                                       url="/admin/policies"))
    admin.add_view(PolicySettingsView(name="制度参数", category=CATEGORY, endpoint="policy_settings",
                                      url="/admin/policy-settings"))
