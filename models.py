"""The schema: every record type of the console, its Chinese labels and its screen options.

Screen options live in ``Meta.admin`` (one namespaced key: peewee stores every
``Meta`` attribute on ``_meta`` and crashes on ``fields``/``columns``):

    label       Chinese name of the record type (menu entry, page titles)
    category    Chinese menu category
    list        list columns (own fields or ``fk.field``)
    search      searchable text fields, related ones as ``fk.field``
    filters     filterable fields (FK, choices, booleans, dates, numbers)
    readonly    fields shown on the form but never written by it
    inline      child record types edited on the parent's form (class names)
    lookup      text fields searched when another form picks this record
    auto_number (field, pattern) filled on first save, e.g. ('code', 'KH{year}-{seq:06d}')
    sensitive   personal fields that later layers mask and encrypt
    natural_key how an import recognises an existing record: field names or tuples of them, tried in
                order (default: the model's unique fields)
    read_only_screen  True when the screen lists and shows but never writes
    refers_to   (type field, id field) of a row naming any record by type and id: hidden with it
    fulltext    own text fields of a large table searched through a trigram index (backend.py)

Value domains live in ``Meta.domain`` (see ``domains.py``): ``Min(field, 0)``, ``NotBefore(end, start)``,
``After(end, start)``, ``NotFuture(field)`` and ``Format(field, kind)``; every save is checked against them.
"""
import contextlib
import datetime
import json
import re
import secrets
from contextvars import ContextVar

from peewee import BooleanField
from peewee import CharField
from peewee import DatabaseProxy
from peewee import DateField
from peewee import DateTimeField
from peewee import DecimalField
from peewee import DeferredForeignKey
from peewee import ForeignKeyField
from peewee import IntegerField
from peewee import ManyToManyField
from peewee import Node
from peewee import SqliteDatabase
from peewee import TextField
from peewee import fn
from peewee import Model as PeeweeModel
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate
from playhouse.signals import Model as SignalModel
from playhouse.signals import post_save
from playhouse.signals import pre_save
from argon2 import PasswordHasher
from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError

from clock import utcnow
from domains import After
from domains import Format
from domains import Min
from domains import NotBefore
from domains import NotFuture

db = DatabaseProxy()

# Who is writing: set by the web request (or CLI) so BaseModel can fill created_by/updated_by.
current_actor: ContextVar = ContextVar("current_actor", default=None)
# The client address of the web request, for the audit log.
current_ip: ContextVar = ContextVar("current_ip", default="")


@contextlib.contextmanager
def acting_as(user):
    """Write the records saved inside the block as ``user`` (created_by, updated_by, requester)."""
    token = current_actor.set(user)
    try:
        yield user
    finally:
        current_actor.reset(token)


_WRITTEN = {}


def written_once(key, build):
    """Return (sql, params) of the query ``build()`` returns, written once per process for ``key``.

    For the statements every page sends whose text and values depend on ``key`` only (the user's id, their
    department and roles): peewee takes 0.2–1 ms to write one, and a page sends several before its own.
    ``build()`` may return None (nothing to ask), which is remembered too.
    """
    key = (type(db.obj), key)
    if key not in _WRITTEN:
        if len(_WRITTEN) > 10_000:
            _WRITTEN.clear()
        query = build()
        _WRITTEN[key] = None if query is None else query.sql()
    return _WRITTEN[key]


PASSWORD_HASHER = PasswordHasher()


def configure_password_hasher(**params):
    """Replace the argon2 parameters (tests use a cheap profile; production keeps the RFC 9106 default)."""
    global PASSWORD_HASHER
    PASSWORD_HASHER = PasswordHasher(**params)

# ---------------------------------------------------------------- encrypted fields
_CIPHER = None


def configure_cipher(key):
    """Set the Fernet key used for sensitive fields (CUS-3: encrypted at rest)."""
    global _CIPHER
    _CIPHER = Fernet(key)


class EncryptedField(TextField):
    """Text stored encrypted with Fernet; Python code sees the plain value."""

    def db_value(self, value):
        if value is None or value == "":
            return value
        if _CIPHER is None:
            raise RuntimeError("encryption key not configured (models.configure_cipher)")
        return _CIPHER.encrypt(str(value).encode()).decode()

    def python_value(self, value):
        if not value or _CIPHER is None:
            return value
        try:
            return _CIPHER.decrypt(value.encode()).decode()
        except InvalidToken:
            return "(无法解密)"


# ---------------------------------------------------------------- choices
CLEARANCE = (("normal", "普通"), ("secret", "机密"), ("top_secret", "绝密"))
CONFIDENTIALITY = CLEARANCE
AUDIT_ACTIONS = (
    ("create", "新增"), ("update", "修改"), ("delete", "删除"), ("approve", "批准"),
    ("reject", "驳回"), ("login", "登录"), ("logout", "退出"), ("export", "导出"),
    ("view_sensitive", "查看敏感信息"),
)
CUSTOMER_KIND = (("general", "一般客户"), ("special", "特殊客户"))
CUSTOMER_TIER = (("strategic", "战略合作"), ("key", "关键"), ("general", "一般"), ("reserve", "储备"))
GRADE = (("A", "A级"), ("B", "B级"), ("C", "C级"), ("D", "D级"))
CUSTOMER_STAGE = (
    ("prospect", "潜在"), ("first_purchase", "首次购买"), ("growth", "增长"),
    ("retention", "维系"), ("churned", "流失"),
)
REGION = (("in_province", "省内"), ("out_of_province", "省外"))
CHANNEL = (
    ("phone", "电话"), ("email", "邮件"), ("visit", "走访"), ("qq", "QQ"),
    ("wechat", "微信"), ("meeting", "会议"), ("sms", "短信"),
)
PLAN_STATUS = (("draft", "草稿"), ("submitted", "已提交"), ("approved", "已批准"))
VISIT_PURPOSE = (
    ("market_research", "市场调查"), ("competitor", "了解竞争对手"),
    ("relationship", "客户保养"), ("new_customer", "开发新客户"),
    ("new_product", "新产品推广"), ("coverage", "提高产品覆盖率"),
)
VISIT_KIND = (("visit", "拜访"), ("return", "回访"))
SCORE = tuple((i, f"{i} 分") for i in range(1, 6))
PARTNER_REGION = (("local", "本地"), ("out_of_town", "外地"))
ADMISSION_STATUS = (("applied", "申请中"), ("inspected", "已考察"), ("admitted", "已准入"), ("refused", "未准入"))
CONTRACT_KIND = (("distribution", "经销"), ("direct", "直销"))
CONTRACT_STATUS = (
    ("draft", "草拟"), ("pending", "待审批"), ("signed", "已签订"),
    ("completed", "已履行"), ("terminated", "已终止"),
)
CREDIT_STATUS = (("active", "有效"), ("suspended", "暂停"), ("expired", "已失效"))
# CRD-3/CRD-5: a shipment waiting for the manager's signature is not counted as shipped.
SHIPMENT_STATUS = (("pending", "待审批"), ("shipped", "已发货"), ("cancelled", "已取消"))
FILE_KIND = (
    ("customer", "客户档案"), ("new_vehicle", "新车档案"), ("after_sales", "售后档案"),
    ("project", "项目档案"), ("title_deed", "权证"),
)
FILE_LOCATION = (("cabinet", "档案柜"), ("safe", "保险柜"))
FILE_STATUS = (("in_store", "在库"), ("on_loan", "借出"), ("destroyed", "已销毁"))
HANDOVER_KIND = (("sales", "销售"), ("after_sales", "售后"), ("project", "项目"))
# A request its requester withdrew is "withdrawn" until saved again, which submits it afresh.
REQUEST_STATUS = (("pending", "待审批"), ("approved", "已批准"), ("rejected", "已驳回"), ("withdrawn", "已撤回"))
PAYMENT_STATE = (("valid", "有效"), ("reversed", "已冲销"))
# A loan's place in the ledger, computed from returned_at (ARC-6: returning closes the line).
LOAN_STATE = (("open", "借出中"), ("returned", "已归还注销"))
# A fine's place in the ledger, computed from withdrawn_at (ARC-9: a withdrawn fine stays in history).
PENALTY_STATE = (("in_force", "有效"), ("withdrawn", "已撤销"))
DESTRUCTION_METHOD = (("shred", "粉碎"), ("burn", "焚烧"), ("other", "其他"))
COMPLAINT_CHANNEL = (
    ("phone", "电话"), ("visit", "来访"), ("letter", "信函"), ("email", "邮件"),
    ("web", "网络"), ("wechat", "微信"),
)
COMPLAINT_CATEGORY = (
    ("product", "产品质量"), ("contract", "销售合同"), ("repair", "维修质量"),
    ("service", "服务质量"), ("suggestion", "建议意见"),
)
COMPLAINT_DEMAND = (
    ("discount", "减价"), ("return", "退货"), ("exchange", "换货"),
    ("compensation", "赔偿"), ("criticism", "批评建议"),
)
SEVERITY = (("general", "一般"), ("major", "重大"))
COMPLAINT_STATUS = (
    ("received", "已受理"), ("investigating", "调查中"), ("solution_pending", "方案待批"),
    ("replied", "已答复"), ("return_visit", "回访"), ("closed", "已结案"), ("rejected", "不成立"),
)
SATISFACTION = (("satisfied", "满意"), ("basically", "基本满意"), ("dissatisfied", "不满意"))
SERVICE_KIND = (("install", "安装"), ("repair", "维修"))
SERVICE_STATUS = (
    ("pending", "待审批"), ("approved", "已批准"), ("dispatched", "已派工"),
    ("completed", "已完工"), ("cancelled", "已取消"),
)
RECEPTION_STATUS = (("planned", "计划中"), ("pending", "待审批"), ("approved", "已批准"), ("done", "已完成"))
MOVEOUT_STATUS = (("requested", "已申请"), ("signing", "会签中"), ("completed", "已迁出"), ("cancelled", "已取消"))
TENANT_REQUEST_KIND = (("repair", "报修"), ("complaint", "投诉"), ("inquiry", "咨询"), ("emergency", "紧急"))
TENANT_REQUEST_STATE = (("open", "处理中"), ("closed", "已关闭"))
TENANT_CHANNEL = (("phone", "电话"), ("visit", "来访"), ("wechat", "微信"), ("letter", "书面"))
# CTR-3: what a preferential policy grants (003 第十二条(三)).
PREFERENCE_CONTENT = (
    ("resources", "产品资源保障"), ("price", "价格优惠"), ("acceptance_bill", "不贴息收取银行承兑汇票"),
    ("other", "其他优惠"),
)
PREFERENCE_STATUS = (("draft", "草拟"), ("pending", "待审批"), ("approved", "已批准"), ("rejected", "已驳回"))
DATA_SHARE_STATUS = (("draft", "草拟"), ("pending", "待审批"), ("approved", "已批准"), ("rejected", "已驳回"))
INCIDENT_STATUS = (("open", "处理中"), ("contained", "已控制"), ("closed", "已结案"))


# ---------------------------------------------------------------- default rights
# Rights by menu category, role -> letters: v view, c create, e edit, d delete, x export.
# A model may override single roles with Meta.admin["permissions"]; admins edit the stored matrix.
CATEGORY_PERMISSIONS = {
    "客户": {"admin": "vcedx", "gm": "vx", "manager": "vcedx", "sales": "vcex", "service": "vcex",
             "clerk": "vce", "archivist": "v", "info_supervisor": "vx"},
    # info_supervisor (客户信息主管) approves copying and excerpting of files (ARC-10).
    "档案": {"admin": "vcedx", "gm": "vx", "manager": "vcex", "archivist": "vcedx", "clerk": "vce",
             "info_supervisor": "v"},
    "投诉": {"admin": "vcedx", "gm": "vx", "manager": "vcedx", "service": "vcedx", "clerk": "vce", "sales": "v"},
    "销售与授信": {"admin": "vcedx", "gm": "vx", "manager": "vcedx", "sales": "vcex", "clerk": "vce"},
    "服务与接待": {"admin": "vcedx", "gm": "vx", "manager": "vcedx", "service": "vcex", "sales": "vce",
                  "clerk": "vce"},
    "组织与系统": {"admin": "vcedx", "gm": "v"},
}
# The deputy GM reads what the GM reads (ARC-5 stands in for the GM).
for _rights in CATEGORY_PERMISSIONS.values():
    if "gm" in _rights:
        _rights.setdefault("deputy", _rights["gm"])
PERMISSION_LETTERS = {"v": "view", "c": "create", "e": "edit", "d": "delete", "x": "export"}


def default_permissions(model):
    """Return {role code: set of actions} that ``model`` grants by default."""
    opts = model.admin_options()
    table = dict(CATEGORY_PERMISSIONS.get(opts.get("category"), {"admin": "vcedx"}))
    table.update(opts.get("permissions", {}))
    return {role: {PERMISSION_LETTERS[c] for c in letters} for role, letters in table.items()}


# ---------------------------------------------------------------- base
class StaleEdit(Exception):
    """Someone else saved the record after it was loaded; nothing was written."""

    def __init__(self, instance):
        self.instance = instance
        current = type(instance).get_or_none(type(instance)._meta.primary_key == instance._pk)
        self.current = current
        who = str(current.updated_by) if current is not None and current.updated_by_id else "其他用户"
        when = current.updated_at if current is not None else None
        self.who = who
        self.when = when
        super().__init__(f"该记录已被{who}修改,您的修改未保存。")


# INSERT statements of BaseModel._insert, per (record type, database class, column names); None: peewee's own.
_INSERTS = {}
# The SELECT of the last auto number, per (record type, field, prefix, database class).
_LAST_NUMBER_SQL = {}


def _compile_insert(model, data):
    """Return (SQL, fields in parameter order) of peewee's INSERT of ``data``, or None if it is not that simple."""
    if any(name not in model._meta.fields for name in data):
        return None
    sql, params = model.insert(**data).sql()
    fields = sorted((model._meta.fields[name] for name in data), key=lambda f: f.get_sort_key(None))
    head = sql.split(") VALUES (", 1)[0]
    columns = [c.strip().strip('"`') for c in head.split(" (", 1)[-1].split(", ")]
    if columns != [f.column_name for f in fields] or len(params) != len(fields):
        return None  # peewee adds columns (a missing default) or orders them otherwise: let it build each one
    return sql, fields


class BaseModel(SignalModel):
    """Carry the database, the audit columns and the optimistic-lock version."""

    created_at = DateTimeField(default=utcnow, verbose_name="创建时间", index=True)
    created_by = DeferredForeignKey("User", null=True, backref="+", on_delete="SET NULL", verbose_name="创建人")
    updated_at = DateTimeField(default=utcnow, verbose_name="修改时间")
    updated_by = DeferredForeignKey("User", null=True, backref="+", on_delete="SET NULL", verbose_name="修改人")
    version = IntegerField(default=1, verbose_name="版本")

    AUDIT_FIELDS = ("created_at", "created_by", "updated_at", "updated_by", "version")

    class Meta:
        database = db
        legacy_table_names = False

    @classmethod
    def admin_options(cls):
        """Return this record type's screen options (``Meta.admin``)."""
        return getattr(cls._meta, "admin", None) or {}

    @classmethod
    def label(cls):
        """Return the Chinese name of this record type."""
        return cls.admin_options().get("label", cls.__name__)

    def save(self, *args, **kwargs):
        """Stamp the audit columns and fill the auto number; update only the version we loaded.

        The UPDATE carries ``WHERE version = <loaded version>``: if someone saved the row in
        between, nothing is written and ``StaleEdit`` is raised (no lost update, no audit row).
        """
        actor = current_actor.get()
        now = utcnow()
        created = self._pk is None or bool(kwargs.get("force_insert"))
        expected = None
        if created:
            self.created_at = self.created_at or now
            if actor is not None and self.created_by_id is None:
                self.created_by = actor
            self._fill_auto_number()
        else:
            expected = self.version or 0
            self.version = expected + 1
        self.updated_at = now
        if actor is not None:
            self.updated_by = actor
        self.__dict__["_expected_version"] = expected
        try:
            pre_save.send(self, created=created)
            # Model.create() saves with force_insert=True: the same INSERT.
            if self._pk is None and not args and set(kwargs) <= {"force_insert"} and self._meta.auto_increment:
                rows = self._insert()
            else:
                rows = PeeweeModel.save(self, *args, **kwargs)
        except Exception:
            if not created:
                self.version = expected  # a refused save leaves the object as it was loaded
            raise
        finally:
            self.__dict__.pop("_expected_version", None)
        if not created and not rows:
            self.version = expected
            raise StaleEdit(self)
        post_save.send(self, created=created)
        return rows

    def _insert(self):
        """INSERT this new row as peewee's save() does, with a statement compiled once per column set.

        peewee builds each INSERT's SQL afresh; an import saves thousands of rows of one shape.
        """
        meta = self._meta
        data = self.__data__.copy()
        data.pop(meta.primary_key.name, None)
        self._populate_unsaved_relations(data)
        database = db.obj if meta.database is db else meta.database
        if any(isinstance(value, Node) for value in data.values()):
            return PeeweeModel.save(self)
        key = (type(self), type(database), tuple(data))
        if key not in _INSERTS:
            _INSERTS[key] = _compile_insert(type(self), data)
        if _INSERTS[key] is None:
            return PeeweeModel.save(self)
        sql, fields = _INSERTS[key]
        cursor = database.execute_sql(sql, [field.db_value(data[field.name]) for field in fields])
        self._pk = cursor.fetchone()[0] if database.returning_clause else cursor.lastrowid
        self._dirty -= set(data)
        self._dirty.discard(meta.primary_key.name)
        return 1

    def _pk_expr(self):
        expr = super()._pk_expr()
        expected = self.__dict__.get("_expected_version")
        if expected is not None:
            expr = expr & (type(self).version == expected)
        return expr

    def _fill_auto_number(self):
        spec = self.admin_options().get("auto_number")
        if not spec:
            return
        field_name, pattern = spec
        if getattr(self, field_name):
            return
        year = (self.created_at or utcnow()).year
        prefix = pattern.split("{seq")[0].format(year=year)
        field = getattr(type(self), field_name)
        database = db.obj if self._meta.database is db else self._meta.database
        key = (type(self), field_name, prefix, type(database))
        if key not in _LAST_NUMBER_SQL:  # built once: peewee would build the same SELECT for every new row
            _LAST_NUMBER_SQL[key] = (type(self).select(field).where(field.startswith(prefix))
                                     .order_by(field.desc()).limit(1).sql())
        row = database.execute_sql(*_LAST_NUMBER_SQL[key]).fetchone()
        last = row[0] if row else None
        seq = 1
        if last:
            match = re.search(r"(\d+)$", last)
            seq = int(match.group(1)) + 1 if match else 1
        setattr(self, field_name, pattern.format(year=year, seq=seq))

    def choice_label(self, field_name):
        """Return the Chinese label of a choice field's current value."""
        value = getattr(self, field_name)
        return dict(getattr(type(self), field_name).choices or ()).get(value, value)


# ---------------------------------------------------------------- workflows
class Action:
    """One move of a workflow, declared beside the fields (``Meta.workflow``).

    source  the states it moves from ("*": any)        target  the state it moves to (None: stays)
    roles   role codes that may run it (empty: anyone who may edit the record type)
    rule    the rule id that guards it (named in every refusal)
    sets    fields the person supplies with the action (a satisfaction answer…), owned by the workflow
    params  further inputs of the action that are not owned fields (lend: the copies handed out)
    stamps  fields the action fills in: {"closed_at": "now" | "today" | "user"}
    via     "" a button run by policies.workflow; "approval" a decision of the approvals engine
    reason  True when the person must give a reason (written to the audit log)
    """

    def __init__(self, label, source, target=None, roles=(), rule="", sets=(), stamps=None, via="",
                 reason=False, style="primary", params=(), reason_to=None):
        self.label = label
        self.source = (source,) if isinstance(source, str) else tuple(source)
        self.target = target
        self.roles = tuple(roles)
        self.rule = rule
        self.sets = tuple(sets)
        self.params = tuple(params)
        self.stamps = dict(stamps or {})
        self.via = via
        self.reason = reason
        # The field that keeps the reason on the record itself (a reversal's reason), besides the audit log.
        self.reason_to = reason_to
        self.style = style
        self.name = ""

    def starts_from(self, state):
        """Return True when this action may start from ``state``."""
        return "*" in self.source or state in self.source


class Workflow:
    """A record type's life cycle: its state field, states and actions, and the fields they own.

    field    the state field, or a property computing the state (Loan: open/returned)
    owns     further fields only actions change (sign-offs, approvers…); every action's
             ``sets`` and ``stamps`` and a real state field are owned too
    create   the only action that creates such a record (Loan: lend); a bare insert is refused
    locks    fields an approval judges: {"file": "reask"} withdraws the decision and asks again
             when changed, {"amount": "raise"} only when raised above the judged value (a lower
             amount stays covered by the approval), {"customer": "refuse"} refuses the change
    reask    what re-asking does to the record: {"status": "pending", "approved_by": None}
    correct  time stamps a supervisor may correct through the audited correction action
    """

    def __init__(self, field, states=(), actions=None, initial=None, rule="", owns=(), create=None,
                 locks=None, reask=None, correct=(), correct_roles=("manager", "admin")):
        self.field = field
        self.states = tuple(states)
        self.actions = dict(actions or {})
        for name, act in self.actions.items():
            act.name = name
        self.initial = initial
        self.rule = rule
        self.create = create
        self.locks = dict(locks or {})
        self.reask = dict(reask or {})
        self.correct = tuple(correct)
        self.correct_roles = tuple(correct_roles)
        self._owns = tuple(owns)

    def owned(self, model):
        """Return the names of ``model``'s fields that only this workflow's actions change."""
        names = list(self._owns)
        if self.field in model._meta.fields:
            names.insert(0, self.field)
        for act in self.actions.values():
            names += [n for n in act.sets + tuple(act.stamps) + ((act.reason_to,) if act.reason_to else ())
                      if n in model._meta.fields]
        names += list(self.correct)
        seen = []
        for name in names:
            if name not in seen:
                seen.append(name)
        return tuple(seen)

    def fixed_at_creation(self, model):
        """Return the owned fields a new record must leave at their defaults (the correctable facts are free)."""
        stamped = set()
        for act in self.actions.values():
            stamped.update(act.sets)
            stamped.update(act.stamps)
            if act.reason_to:
                stamped.add(act.reason_to)
        return tuple(n for n in self.owned(model) if n not in self.correct or n in stamped)

    def state_of(self, instance):
        """Return the current state of ``instance`` (None when the workflow has no state)."""
        return getattr(instance, self.field) if self.field else None

    def state_label(self, state):
        """Return the Chinese label of ``state``."""
        return dict(self.states).get(state, state or "")


def workflow_of(model):
    """Return ``model``'s declared Workflow, or None."""
    return getattr(getattr(model, "_meta", None), "workflow", None)


def comparable(instance, name):
    """Return the value of field ``name`` in a form that compares equal across loads (FKs as ids)."""
    field = type(instance)._meta.fields[name]
    value = instance.__data__.get(name)
    if value is None or value == "":
        return None
    if isinstance(field, DecimalField):
        import decimal
        try:
            return str(decimal.Decimal(str(value)).quantize(decimal.Decimal("0.01")))
        except decimal.InvalidOperation:
            return str(value)
    if isinstance(field, ForeignKeyField):
        return str(getattr(value, "id", value))
    if isinstance(field, (DateTimeField, DateField)):
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    return str(value)


# ---------------------------------------------------------------- organisation
class Role(BaseModel):
    code = CharField(unique=True, max_length=32, verbose_name="代码")
    name = CharField(max_length=64, verbose_name="名称")

    class Meta:
        admin = dict(
            label="角色", category="组织与系统",
            list=("code", "name"), search=("code", "name"), lookup=("name", "code"),
        )

    def __str__(self):
        return self.name


class Department(BaseModel):
    name = CharField(max_length=100, verbose_name="名称")
    parent = ForeignKeyField("self", null=True, backref="children", on_delete="SET NULL", verbose_name="上级部门")
    manager = DeferredForeignKey("User", null=True, backref="managed_departments", on_delete="SET NULL",
                                 verbose_name="部门经理")
    # ARC-3: its manager (holding the file's clearance) approves access to classified files.
    customer_service = BooleanField(default=False, verbose_name="客户服务部")

    class Meta:
        admin = dict(
            label="部门", category="组织与系统",
            list=("name", "parent", "manager", "customer_service"), search=("name",),
            filters=("parent", "manager", "customer_service"),
            lookup=("name",),
        )

    def __str__(self):
        return self.name


class User(BaseModel):
    username = CharField(unique=True, max_length=64, verbose_name="用户名")
    display_name = CharField(max_length=64, verbose_name="姓名")
    password_hash = CharField(max_length=255, default="", verbose_name="密码摘要")
    department = ForeignKeyField(Department, null=True, backref="users", on_delete="SET NULL", verbose_name="部门")
    roles = ManyToManyField(Role, backref="users", through_model=None)
    active = BooleanField(default=True, verbose_name="启用")
    clearance = CharField(max_length=16, choices=CLEARANCE, default="normal", verbose_name="保密级别")
    last_login = DateTimeField(null=True, verbose_name="最近登录")
    failed_logins = IntegerField(default=0, verbose_name="连续登录失败次数")
    locked_until = DateTimeField(null=True, verbose_name="锁定至")
    must_change_password = BooleanField(default=False, verbose_name="下次登录须改密码")
    # Part of the login cookie: changing it ends every existing session of the user.
    session_token = CharField(max_length=64, default=lambda: secrets.token_hex(16), verbose_name="会话令牌")

    class Meta:
        admin = dict(
            label="用户", category="组织与系统",
            list=("username", "display_name", "department", "clearance", "active", "last_login"),
            search=("username", "display_name", "department.name"),
            filters=("department", "clearance", "active", "last_login"),
            readonly=("last_login", "failed_logins"),
            form_exclude=("password_hash", "session_token"),
            lookup=("display_name", "username"),
        )

    def __str__(self):
        return self.display_name or self.username

    # flask-login protocol
    @property
    def is_authenticated(self):
        return True

    @property
    def is_active(self):
        return bool(self.active)

    @property
    def is_anonymous(self):
        return False

    def get_id(self):
        return f"{self.id}:{self.session_token}"

    def end_sessions(self):
        """Invalidate every existing login cookie of this user."""
        self.session_token = secrets.token_hex(16)

    def set_password(self, raw):
        """Store an argon2id hash of ``raw`` (RFC 9106 low-memory profile)."""
        self.password_hash = PASSWORD_HASHER.hash(raw)
        self.end_sessions()

    def check_password(self, raw):
        """Return True when ``raw`` matches the stored hash."""
        if not self.password_hash:
            return False
        try:
            return PASSWORD_HASHER.verify(self.password_hash, raw)
        except (VerificationError, InvalidHashError):
            return False

    def role_codes(self):
        """Return the set of role codes this user holds."""
        return {r.code for r in self.roles}


UserRole = User.roles.get_through_model()


PERMISSION_ACTIONS = (("view", "查看"), ("create", "新增"), ("edit", "修改"), ("delete", "删除"), ("export", "导出"))


class Permission(BaseModel):
    role = ForeignKeyField(Role, backref="permissions", on_delete="CASCADE", verbose_name="角色")
    model = CharField(max_length=64, verbose_name="对象类型")
    action = CharField(max_length=16, choices=PERMISSION_ACTIONS, verbose_name="操作")

    class Meta:
        indexes = ((("role", "model", "action"), True),)
        admin = dict(
            label="权限", category="组织与系统",
            list=("role", "model", "action"), search=("model", "role.name"), filters=("role", "action"),
            read_only_screen=True,
        )

    def __str__(self):
        return f"{self.role_id}:{self.model}:{self.action}"


class AuditLog(BaseModel):
    at = DateTimeField(default=utcnow, index=True, verbose_name="时间")
    user = ForeignKeyField(User, null=True, backref="audit_logs", on_delete="SET NULL", verbose_name="用户")
    action = CharField(max_length=16, choices=AUDIT_ACTIONS, verbose_name="操作")
    model = CharField(max_length=64, default="", verbose_name="对象类型")
    record_id = CharField(max_length=64, default="", verbose_name="记录编号")
    changes = TextField(default="", verbose_name="变更内容")
    ip = CharField(max_length=64, default="", verbose_name="IP地址")

    class Meta:
        ledger = True
        admin = dict(
            label="操作日志", permissions={"admin": "vx", "gm": "v"}, category="组织与系统",
            list=("at", "user", "action", "model", "record_id", "ip"),
            search=("model", "record_id", "ip", "user.display_name"),
            filters=("user", "action", "model", "at"),
            readonly=("at", "user", "action", "model", "record_id", "changes", "ip"),
            read_only_screen=True,
            # The row names its record by type and id: hidden with it (views/access.py).
            refers_to=("model", "record_id"),
        )

    def __str__(self):
        return f"{self.choice_label('action')} {self.model} #{self.record_id}"

    def changes_dict(self):
        """Return the stored changes as {field: [old, new]}."""
        try:
            return json.loads(self.changes) if self.changes else {}
        except ValueError:
            return {}


# ---------------------------------------------------------------- customers
class Customer(BaseModel):
    code = CharField(unique=True, max_length=32, verbose_name="客户编号")
    name = CharField(max_length=200, verbose_name="客户名称")
    kind = CharField(max_length=16, choices=CUSTOMER_KIND, default="general", verbose_name="客户类别")
    tier = CharField(max_length=16, choices=CUSTOMER_TIER, default="general", verbose_name="客户层级")
    grade = CharField(max_length=1, choices=GRADE, default="C", verbose_name="客户等级")
    stage = CharField(max_length=16, choices=CUSTOMER_STAGE, default="prospect", verbose_name="生命周期阶段")
    region = CharField(max_length=16, choices=REGION, default="in_province", verbose_name="地域")
    industry = CharField(max_length=64, default="", verbose_name="行业")
    address = CharField(max_length=255, default="", verbose_name="地址")
    phone = CharField(max_length=32, default="", verbose_name="电话")
    website = CharField(max_length=255, default="", verbose_name="网站")
    credit_note = TextField(default="", verbose_name="信用状况")
    owner = ForeignKeyField(User, null=True, backref="customers", on_delete="SET NULL", verbose_name="负责人")
    department = ForeignKeyField(Department, null=True, backref="customers", on_delete="SET NULL",
                                 verbose_name="所属部门")
    confidentiality = CharField(max_length=16, choices=CONFIDENTIALITY, default="normal", index=True,
                                verbose_name="密级")
    consent_at = DateTimeField(null=True, verbose_name="告知同意时间")
    licence_no = CharField(max_length=64, default="", verbose_name="营业执照号")
    tax_no = CharField(max_length=64, default="", verbose_name="税务登记号")
    id_number = EncryptedField(default="", verbose_name="身份证号")
    bank_account = EncryptedField(default="", verbose_name="银行账号")
    approved_by = ForeignKeyField(User, null=True, backref="approved_customers", on_delete="SET NULL",
                                  verbose_name="建档确认人")
    last_contact_at = DateTimeField(null=True, verbose_name="最近联系时间")

    class Meta:
        domain = (Format("id_number", "cn_resident_id"), Format("licence_no", "cn_credit_code"),
                  Format("tax_no", "cn_credit_code"), NotFuture("consent_at"))
        # CUS-2: the confirming sales director is the approval's, never typed in nor set by a bare save().
        workflow = Workflow(None, rule="CUS-2", owns=("approved_by",))
        admin = dict(
            label="客户", category="客户",
            list=("code", "name", "tier", "grade", "stage", "region", "owner", "department", "last_contact_at"),
            search=("code", "name", "phone", "industry", "address", "owner.display_name"),
            fulltext=("code", "name", "phone", "industry", "address"),
            filters=("tier", "grade", "stage", "region", "kind", "owner", "department", "confidentiality",
                     "last_contact_at", "created_at"),
            # CUS-2: the confirming sales director is set by the approval, not typed in;
            # CUS-1: the last contact is computed from the communications.
            readonly=("code", "approved_by", "last_contact_at"),
            inline=("Contact",),
            lookup=("name", "code"),
            # Import matches an existing customer by code, or by name when the file has no code.
            natural_key=("code", "name"),
            auto_number=("code", "KH{year}-{seq:06d}"),
            sensitive=("id_number", "bank_account"),
        )

    def __str__(self):
        return self.name


# CUS-2 asks for the few customers no director has confirmed yet: a partial index of just those rows
# (a full index on a column that is nearly always set looks useless to SQLite's planner).
Customer.add_index(Customer.index(Customer.approved_by, name="customer_unconfirmed").where(
    Customer.approved_by.is_null()))
# Row-level secrecy checks a child row's customer by id against its clearance, department and owner
# (views/access.py): this narrow index answers that probe without reading the wide customer row
# (on SQLite a complaint list's count of a department manager ~3× faster at 1M; see backend.probe_source).
Customer.add_index(Customer.index(Customer.id, Customer.confidentiality, Customer.department, Customer.owner,
                                  name="customer_scope"))
# A department's customers in id order, their clearance beside (views/access.py id_order_branches): the deep
# page of a department manager reads just them, not every customer's entry in customer_scope.
Customer.add_index(Customer.index(Customer.department, Customer.id, Customer.confidentiality,
                                  name="customer_department_order"))


class Contact(BaseModel):
    customer = ForeignKeyField(Customer, backref="contacts", on_delete="CASCADE", verbose_name="客户")
    name = CharField(max_length=64, verbose_name="姓名")
    title = CharField(max_length=64, default="", verbose_name="职务")
    mobile = CharField(max_length=32, default="", verbose_name="手机")
    phone = CharField(max_length=32, default="", verbose_name="电话(含区号)")
    email = CharField(max_length=128, default="", verbose_name="电子邮箱")
    birthday = DateField(null=True, verbose_name="生日")
    is_primary = BooleanField(default=False, verbose_name="主要联系人")
    # CUS-3: the contact person's own consent to keep their mobile, e-mail and birthday (else the customer's).
    consent_at = DateTimeField(null=True, verbose_name="本人告知同意时间")

    class Meta:
        domain = (Format("mobile", "cn_mobile"), Format("email", "email"), NotFuture("birthday"))
        admin = dict(
            label="联系人", category="客户",
            list=("name", "customer", "title", "mobile", "phone", "email", "is_primary"),
            search=("name", "mobile", "phone", "email", "customer.name"),
            fulltext=("name", "mobile", "phone", "email"),
            filters=("customer", "is_primary", "birthday"),
            lookup=("name", "mobile"),
            natural_key=(("customer", "name"),),
        )

    def __str__(self):
        return self.name


class Communication(BaseModel):
    customer = ForeignKeyField(Customer, backref="communications", on_delete="CASCADE", verbose_name="客户")
    at = DateTimeField(default=utcnow, index=True, verbose_name="沟通时间")
    channel = CharField(max_length=16, choices=CHANNEL, default="phone", verbose_name="沟通方式")
    by = ForeignKeyField(User, null=True, backref="communications", on_delete="SET NULL", verbose_name="经办人")
    summary = TextField(verbose_name="沟通内容")
    follow_up = TextField(default="", verbose_name="后续跟进")

    class Meta:
        # CUS-5 asks "talked to since" per customer.
        indexes = ((("customer", "at"), False),)
        domain = (NotFuture("at"),)
        admin = dict(
            label="沟通记录", category="客户",
            list=("at", "customer", "channel", "by", "summary"),
            search=("summary", "follow_up", "customer.name"),
            fulltext=("summary", "follow_up"),
            filters=("customer", "channel", "by", "at"),
        )

    def __str__(self):
        return f"{self.choice_label('channel')}沟通 {self.at:%Y-%m-%d}" if self.at else "沟通记录"


class VisitPlan(BaseModel):
    owner = ForeignKeyField(User, backref="visit_plans", on_delete="CASCADE", verbose_name="业务员")
    month = CharField(max_length=7, verbose_name="计划月份")
    status = CharField(max_length=16, choices=PLAN_STATUS, default="draft", verbose_name="状态")

    class Meta:
        workflow = Workflow(
            "status", states=PLAN_STATUS, initial="draft", rule="VIS-1",
            actions={"submit": Action("提交审核", "draft", "submitted", rule="VIS-1")},
        )
        admin = dict(
            label="拜访计划", category="客户",
            list=("month", "owner", "status"),
            search=("month", "owner.display_name"),
            filters=("owner", "status"),
            inline=("Visit",),
            lookup=("month",),
        )

    def __str__(self):
        return f"{self.month} 拜访计划"


class Visit(BaseModel):
    plan = ForeignKeyField(VisitPlan, null=True, backref="visits", on_delete="SET NULL", verbose_name="拜访计划")
    customer = ForeignKeyField(Customer, backref="visits", on_delete="CASCADE", verbose_name="客户")
    purpose = CharField(max_length=32, choices=VISIT_PURPOSE, default="relationship", verbose_name="拜访目的")
    visited_on = DateField(verbose_name="拜访日期")
    kind = CharField(max_length=16, choices=VISIT_KIND, default="visit", verbose_name="类型")
    report = TextField(default="", verbose_name="拜访报告")
    report_submitted_on = DateField(null=True, verbose_name="报告提交日期")
    reviewed_by = ForeignKeyField(User, null=True, backref="reviewed_visits", on_delete="SET NULL",
                                  verbose_name="审阅人")
    # VIS-5: who went on site (a manager, the GM or the salesperson); empty: the plan's owner.
    visited_by = ForeignKeyField(User, null=True, backref="visits_made", on_delete="SET NULL",
                                 verbose_name="拜访人")

    class Meta:
        # CMP-8 asks for a customer's last return visit.
        indexes = ((("customer", "kind", "visited_on"), False),)
        # A visit in a visit plan may be planned ahead; one without a plan, or with a report, has happened.
        domain = (NotFuture("visited_on", unless="plan"), NotFuture("report_submitted_on"),
                  NotBefore("report_submitted_on", "visited_on"))
        admin = dict(
            label="拜访", category="客户",
            list=("visited_on", "customer", "kind", "purpose", "visited_by", "plan", "report_submitted_on",
                  "reviewed_by"),
            search=("report", "customer.name"),
            filters=("customer", "kind", "purpose", "visited_by", "visited_on", "report_submitted_on"),
        )

    def __str__(self):
        return f"{self.choice_label('kind')} {self.visited_on}"


class SatisfactionSurvey(BaseModel):
    customer = ForeignKeyField(Customer, backref="surveys", on_delete="CASCADE", verbose_name="客户")
    period = CharField(max_length=8, verbose_name="调查期间")
    quality = IntegerField(choices=SCORE, default=5, verbose_name="质量评分")
    price = IntegerField(choices=SCORE, default=5, verbose_name="价格评分")
    service = IntegerField(choices=SCORE, default=5, verbose_name="服务评分")
    comments = TextField(default="", verbose_name="意见")

    class Meta:
        indexes = ((("customer", "created_at"), False),)  # VIS-3
        admin = dict(
            label="满意度调查", category="客户",
            list=("period", "customer", "quality", "price", "service"),
            search=("period", "comments", "customer.name"),
            filters=("customer", "period", "quality", "price", "service"),
        )

    def __str__(self):
        return f"{self.period} 满意度调查"


class Partner(BaseModel):
    name = CharField(max_length=200, verbose_name="名称")
    region = CharField(max_length=16, choices=PARTNER_REGION, default="local", verbose_name="地域")
    grade = CharField(max_length=1, choices=GRADE, default="C", verbose_name="等级(内部)")
    admission_status = CharField(max_length=16, choices=ADMISSION_STATUS, default="applied", verbose_name="准入状态")
    inspected_on = DateField(null=True, verbose_name="考察日期")
    last_visit_on = DateField(null=True, verbose_name="最近走访日期")

    class Meta:
        domain = (NotFuture("inspected_on"), NotFuture("last_visit_on"))
        admin = dict(
            label="联营合作方", category="客户",
            list=("name", "region", "grade", "admission_status", "inspected_on", "last_visit_on"),
            search=("name",),
            filters=("region", "grade", "admission_status", "last_visit_on"),
            lookup=("name",),
        )

    def __str__(self):
        return self.name


# ---------------------------------------------------------------- credit and sales
class Contract(BaseModel):
    customer = ForeignKeyField(Customer, backref="contracts", on_delete="RESTRICT", verbose_name="客户")
    number = CharField(unique=True, max_length=64, verbose_name="合同编号")
    kind = CharField(max_length=16, choices=CONTRACT_KIND, default="distribution", verbose_name="合同类型")
    amount = DecimalField(max_digits=14, decimal_places=2, default=0, verbose_name="合同金额(元)")
    signed_on = DateField(null=True, verbose_name="签订日期")
    status = CharField(max_length=16, choices=CONTRACT_STATUS, default="draft", verbose_name="状态")
    has_settlement_terms = BooleanField(default=True, verbose_name="含结算条款")

    class Meta:
        domain = (Min("amount"),)
        workflow = Workflow(
            "status", states=CONTRACT_STATUS, initial="draft", rule="CTR-1",
            actions={
                "sign": Action("签订", "draft", "signed", rule="CTR-1", stamps={"signed_on": "today"}),
                "complete": Action("履行完毕", "signed", "completed", rule="CTR-1", style="success"),
                "terminate": Action("终止", ("draft", "signed"), "terminated", rule="CTR-1", reason=True,
                                    style="danger"),
            },
            # CTR-1: raising an approved contract's amount asks the approver again; a lower amount stays approved.
            locks={"amount": "raise", "customer": "refuse"}, reask={"status": "pending"},
            correct=("signed_on",),
        )
        admin = dict(
            label="合同", category="销售与授信",
            list=("number", "customer", "kind", "amount", "signed_on", "status"),
            search=("number", "customer.name"),
            filters=("customer", "kind", "status", "amount", "signed_on"),
            lookup=("number",),
        )

    def __str__(self):
        return self.number


class CreditLine(BaseModel):
    customer = ForeignKeyField(Customer, backref="credit_lines", on_delete="RESTRICT", verbose_name="客户")
    limit = DecimalField(max_digits=14, decimal_places=2, verbose_name="授信额度(元)")
    valid_from = DateField(verbose_name="生效日期")
    valid_to = DateField(verbose_name="截止日期")
    status = CharField(max_length=16, choices=CREDIT_STATUS, default="active", verbose_name="状态")

    class Meta:
        domain = (Min("limit"), NotBefore("valid_to", "valid_from"))
        admin = dict(
            label="授信", category="销售与授信",
            list=("customer", "limit", "valid_from", "valid_to", "status"),
            search=("customer.name",),
            filters=("customer", "status", "limit", "valid_to"),
        )

    def __str__(self):
        return f"授信 {self.limit} 元({self.valid_from}~{self.valid_to})"


class Shipment(BaseModel):
    customer = ForeignKeyField(Customer, backref="shipments", on_delete="RESTRICT", verbose_name="客户")
    invoice_no = CharField(max_length=64, verbose_name="发票号")
    amount = DecimalField(max_digits=14, decimal_places=2, verbose_name="金额(元)")
    shipped_on = DateField(verbose_name="发货日期")
    over_limit = BooleanField(default=False, verbose_name="超授信")
    # CRD-6: the rolling credit amount on the shipping day, computed, never typed in.
    credit_amount = DecimalField(max_digits=14, decimal_places=2, null=True, verbose_name="流动授信额(元)")
    prepaid = BooleanField(default=False, verbose_name="预付款")
    signed_by = ForeignKeyField(User, null=True, backref="signed_shipments", on_delete="SET NULL",
                                verbose_name="签发人")
    # Set by CRD-3/CRD-5 and their approvals, never typed in: only "shipped" counts as owed.
    status = CharField(max_length=16, choices=SHIPMENT_STATUS, default="shipped", index=True, verbose_name="状态")

    class Meta:
        indexes = ((("customer", "shipped_on"), False),)  # CUS-5, CRD-5
        domain = (Min("amount"),)
        workflow = Workflow(
            "status", states=SHIPMENT_STATUS, initial="shipped", rule="CRD-3", owns=("signed_by", "over_limit"),
            actions={
                # A shipped invoice is a ledger line: it is cancelled (reversed) with a reason, never deleted.
                "cancel": Action("取消(冲销)", ("pending", "shipped"), "cancelled", roles=("manager", "admin"),
                                 rule="CRD-2", reason=True, style="danger"),
            },
            # CRD-3/CRD-5: the manager signed this amount for this customer; raising it (or paying on credit
            # instead of in advance) asks again, a lower amount stays signed.
            locks={"amount": "raise", "customer": "refuse", "prepaid": "reask"},
            reask={"status": "pending", "signed_by": None},
        )
        # Shipped shipments are ledger lines (never deleted); a pending or cancelled one may be.
        ledger = ("status", ("shipped",))
        admin = dict(
            label="开票发货", category="销售与授信",
            list=("invoice_no", "customer", "amount", "shipped_on", "status", "over_limit", "prepaid", "signed_by"),
            search=("invoice_no", "customer.name"),
            filters=("customer", "status", "over_limit", "prepaid", "amount", "shipped_on"),
            readonly=("over_limit", "status", "credit_amount"),
            lookup=("invoice_no",),
        )

    def __str__(self):
        return f"发票 {self.invoice_no}"

    @classmethod
    def shipped(cls):
        """Return the shipments that count as shipped: neither waiting for a signature nor cancelled (CRD-3/5)."""
        return cls.select().where(cls.status == "shipped")


class Payment(BaseModel):
    customer = ForeignKeyField(Customer, backref="payments", on_delete="RESTRICT", verbose_name="客户")
    amount = DecimalField(max_digits=14, decimal_places=2, verbose_name="金额(元)")
    received_on = DateField(verbose_name="回款日期")
    shipment = ForeignKeyField(Shipment, null=True, backref="payments", on_delete="SET NULL",
                               verbose_name="对应发货")
    # A payment entered wrongly is reversed (冲销) with a reason, never deleted: it then counts for nothing.
    reversed_at = DateTimeField(null=True, verbose_name="冲销时间")
    reversal_reason = TextField(default="", verbose_name="冲销原因")

    class Meta:
        domain = (Min("amount"), NotFuture("received_on"))
        ledger = True
        workflow = Workflow(
            "ledger_state", states=PAYMENT_STATE, initial="valid", rule="CRD-2",
            actions={"reverse": Action("冲销", "valid", "reversed", roles=("manager", "admin"), rule="CRD-2",
                                       stamps={"reversed_at": "now"}, reason=True, reason_to="reversal_reason",
                                       style="danger")},
        )
        admin = dict(
            label="回款", category="销售与授信",
            list=("received_on", "customer", "amount", "shipment", "reversed_at"),
            search=("customer.name", "shipment.invoice_no"),
            filters=("customer", "amount", "received_on", "reversed_at"),
        )

    def __str__(self):
        return f"回款 {self.amount} 元 {self.received_on}"

    @property
    def ledger_state(self):
        """Return "valid" until the payment is reversed, then "reversed" (the workflow's state)."""
        return "reversed" if self.reversed_at is not None else "valid"

    @classmethod
    def counted(cls):
        """Return the payments that count: every one not reversed."""
        return cls.select().where(cls.reversed_at.is_null())


class Preference(BaseModel):
    customer = ForeignKeyField(Customer, backref="preferences", on_delete="RESTRICT", verbose_name="客户")
    content = CharField(max_length=16, choices=PREFERENCE_CONTENT, default="price", verbose_name="优惠内容")
    detail = TextField(default="", verbose_name="优惠说明")
    valid_from = DateField(verbose_name="生效日期")
    valid_to = DateField(verbose_name="截止日期")
    # CTR-3: set by the GM's approval, never typed in.
    status = CharField(max_length=16, choices=PREFERENCE_STATUS, default="draft", verbose_name="状态")

    class Meta:
        domain = (NotBefore("valid_to", "valid_from"),)
        # CTR-3: the status is the GM's decision (approve, reject, withdraw), never typed in nor set by save().
        workflow = Workflow("status", states=PREFERENCE_STATUS, initial="draft", rule="CTR-3")
        admin = dict(
            label="优惠政策", category="销售与授信",
            list=("customer", "content", "valid_from", "valid_to", "status"),
            search=("detail", "customer.name"),
            filters=("customer", "content", "status", "valid_from", "valid_to"),
            readonly=("status",),
        )

    def __str__(self):
        return f"{self.choice_label('content')}({self.customer})" if self.customer_id else "优惠政策"


# ---------------------------------------------------------------- archives
class ArchiveFile(BaseModel):
    number = CharField(unique=True, max_length=64, verbose_name="档案编号")
    title = CharField(max_length=200, verbose_name="题名")
    customer = ForeignKeyField(Customer, null=True, backref="archive_files", on_delete="RESTRICT",
                               verbose_name="客户")
    kind = CharField(max_length=16, choices=FILE_KIND, default="customer", verbose_name="档案类别")
    confidentiality = CharField(max_length=16, choices=CONFIDENTIALITY, default="normal", verbose_name="密级")
    location = CharField(max_length=16, choices=FILE_LOCATION, default="cabinet", verbose_name="存放位置")
    pages = IntegerField(default=1, verbose_name="页数")
    status = CharField(max_length=16, choices=FILE_STATUS, default="in_store", verbose_name="状态")
    retain_until = DateField(null=True, verbose_name="保管期限至")
    keywords = CharField(max_length=255, default="", verbose_name="关键词")

    class Meta:
        domain = (Min("pages"),)
        # ARC-2/ARC-11: a file's status follows its loans and its approved destruction, never a form.
        workflow = Workflow("status", states=FILE_STATUS, initial="in_store", rule="ARC-11")
        admin = dict(
            label="档案", permissions={"admin": "vcex", "archivist": "vcex", "manager": "vcex"}, category="档案",
            # ARC-11: files are never deleted, only destroyed after approval.
            can_delete=False,
            list=("number", "title", "customer", "kind", "confidentiality", "location", "status", "retain_until"),
            search=("number", "title", "keywords", "customer.name"),
            filters=("customer", "kind", "confidentiality", "location", "status", "pages", "retain_until"),
            inline=("ArchiveItem",),
            lookup=("number", "title"),
        )

    def __str__(self):
        return f"{self.number} {self.title}"


class ArchiveItem(BaseModel):
    file = ForeignKeyField(ArchiveFile, backref="items", on_delete="CASCADE", verbose_name="档案")
    name = CharField(max_length=200, verbose_name="材料名称")
    present = BooleanField(default=True, verbose_name="已归档")
    customer_signed = BooleanField(default=False, verbose_name="客户已签字")
    staff_signed = BooleanField(default=False, verbose_name="经办人已签字")

    class Meta:
        admin = dict(
            label="档案清单项", category="档案",
            list=("file", "name", "present", "customer_signed", "staff_signed"),
            search=("name", "file.number", "file.title"),
            filters=("file", "present", "customer_signed", "staff_signed"),
        )

    def __str__(self):
        return self.name


class Handover(BaseModel):
    file = ForeignKeyField(ArchiveFile, backref="handovers", on_delete="RESTRICT", verbose_name="档案")
    handed_by = ForeignKeyField(User, null=True, backref="handovers", on_delete="SET NULL", verbose_name="移交人")
    kind = CharField(max_length=16, choices=HANDOVER_KIND, default="sales", verbose_name="移交类别")
    event_on = DateField(verbose_name="业务发生日期")
    handed_on = DateField(null=True, verbose_name="移交日期")
    due_on = DateField(null=True, verbose_name="应移交日期")
    missing_items = IntegerField(default=0, verbose_name="缺失项数")
    # ARC-8 project files, stage 1: project manager A (handed_by) to project manager B (receiver).
    receiver = ForeignKeyField(User, null=True, backref="received_handovers", on_delete="SET NULL",
                               verbose_name="接收人(项目经理B角)")
    stage1_on = DateField(null=True, verbose_name="A角移交B角日期")
    stage1_due_on = DateField(null=True, verbose_name="A角应移交日期")
    # ARC-9 处罚3: the service advisor confirmed the visit's contact person and their one number.
    contact_confirmed = BooleanField(default=True, verbose_name="已核对联系人及唯一联系方式")

    class Meta:
        domain = (Min("missing_items"), NotBefore("handed_on", "event_on"))
        admin = dict(
            label="档案移交", category="档案",
            list=("file", "kind", "handed_by", "event_on", "due_on", "handed_on", "missing_items"),
            search=("file.number", "file.title", "handed_by.display_name"),
            filters=("kind", "handed_by", "receiver", "event_on", "due_on", "handed_on"),
            readonly=("due_on", "stage1_due_on"),
        )

    def __str__(self):
        return f"{self.choice_label('kind')}档案移交 {self.event_on}"


class AccessRequest(BaseModel):
    applicant = ForeignKeyField(User, null=True, backref="access_requests", on_delete="SET NULL",
                                verbose_name="申请人")
    external_name = CharField(max_length=100, default="", verbose_name="外部查阅人")
    intro_letter_no = CharField(max_length=64, default="", verbose_name="介绍信编号")
    file = ForeignKeyField(ArchiveFile, backref="access_requests", on_delete="RESTRICT", verbose_name="档案")
    purpose = CharField(max_length=200, default="", verbose_name="查阅目的")
    reason = TextField(default="", verbose_name="查阅理由")
    dept_head_signed = BooleanField(default=False, verbose_name="部门负责人已签字")
    status = CharField(max_length=16, choices=REQUEST_STATUS, default="pending", verbose_name="状态")

    class Meta:
        workflow = Workflow(
            "status", states=REQUEST_STATUS, initial="pending", rule="ARC-3",
            actions={
                # A normal file's access asks no approval (ARC-3): the archivist grants or refuses it.
                "grant": Action("同意查阅", "pending", "approved", roles=("archivist",), rule="ARC-4",
                                style="success"),
                "deny": Action("不予查阅", "pending", "rejected", roles=("archivist",), rule="ARC-4", reason=True,
                               style="danger"),
            },
            locks={"file": "reask"}, reask={"status": "pending"},
        )
        admin = dict(
            label="查阅申请", permissions={"sales": "vc", "service": "vc", "gm": "vcx"}, category="档案",
            list=("file", "applicant", "external_name", "purpose", "dept_head_signed", "status", "created_at"),
            search=("external_name", "purpose", "file.number", "applicant.display_name"),
            filters=("file", "applicant", "status", "dept_head_signed", "created_at"),
        )

    def __str__(self):
        return f"查阅申请 #{self.id}"


class BorrowRequest(BaseModel):
    borrower = ForeignKeyField(User, backref="borrow_requests", on_delete="RESTRICT", verbose_name="借阅人")
    file = ForeignKeyField(ArchiveFile, backref="borrow_requests", on_delete="RESTRICT", verbose_name="档案")
    copies = IntegerField(default=1, verbose_name="份数")
    reason = TextField(default="", verbose_name="借阅理由")
    days = IntegerField(default=1, verbose_name="借阅天数")
    dept_head_signed = BooleanField(default=False, verbose_name="部门负责人已签字")
    # ARC-10: copying or excerpting a file needs the GM's approval.
    copy_requested = BooleanField(default=False, verbose_name="申请复印/摘录")
    status = CharField(max_length=16, choices=REQUEST_STATUS, default="pending", verbose_name="状态")

    class Meta:
        domain = (Min("copies", 1), Min("days", 1))
        workflow = Workflow(
            "status", states=REQUEST_STATUS, initial="pending", rule="ARC-5",
            actions={
                "lend": Action("借出", "approved", None, roles=("archivist",), rule="ARC-2", params=("copies",)),
            },
            # ARC-3/ARC-5: the approvers judged the file and the days; another file or more days asks again.
            locks={"days": "raise", "file": "reask"}, reask={"status": "pending"},
        )
        admin = dict(
            label="借阅申请", permissions={"sales": "vc", "service": "vc", "gm": "vcx"}, category="档案",
            list=("file", "borrower", "copies", "days", "dept_head_signed", "status", "created_at"),
            search=("reason", "file.number", "file.title", "borrower.display_name"),
            filters=("file", "borrower", "status", "days", "created_at"),
            # ARC-3/ARC-5/ARC-10: the status is the approvals' outcome, never typed in.
            readonly=("status",),
        )

    def __str__(self):
        return f"借阅申请 #{self.id}({self.days} 天)"


class Loan(BaseModel):
    request = ForeignKeyField(BorrowRequest, null=True, backref="loans", on_delete="SET NULL",
                              verbose_name="借阅申请")
    file = ForeignKeyField(ArchiveFile, backref="loans", on_delete="RESTRICT", verbose_name="档案")
    borrower = ForeignKeyField(User, backref="loans", on_delete="RESTRICT", verbose_name="借阅人")
    copies = IntegerField(default=1, verbose_name="份数")
    lent_at = DateTimeField(default=utcnow, verbose_name="借出时间")
    due_at = DateTimeField(verbose_name="应还时间")
    returned_at = DateTimeField(null=True, verbose_name="归还时间")
    returned_complete = BooleanField(default=False, verbose_name="归还完整")
    # ARC-9 (处罚 7): the archivist found the file lost or damaged; the ledger line stays open (ARC-6).
    lost_or_damaged = BooleanField(default=False, verbose_name="遗失/毁损")
    checked_by = ForeignKeyField(User, null=True, backref="checked_loans", on_delete="SET NULL",
                                 verbose_name="核验人")
    return_note = TextField(default="", verbose_name="归还核验说明")

    class Meta:
        domain = (Min("copies", 1), NotFuture("lent_at"), After("due_at", "lent_at"),
                  NotBefore("returned_at", "lent_at"), NotFuture("returned_at"))
        # Lending (policies.archives.lend) is the only way a loan exists; returning is the only way it closes.
        workflow = Workflow(
            "ledger_state", states=LOAN_STATE, initial="open", rule="ARC-6", create="借出",
            owns=("request", "file", "borrower", "copies", "lent_at", "due_at"),
            actions={
                "return": Action("归还注销", "open", "returned", roles=("archivist",), rule="ARC-6",
                                 sets=("returned_complete", "return_note"),
                                 stamps={"returned_at": "now", "checked_by": "user"}),
                # ARC-6: a return found incomplete keeps the line open, with who checked it and what is missing.
                "check_incomplete": Action("核对未完整", "open", None, roles=("archivist",), rule="ARC-6",
                                           sets=("return_note",), stamps={"checked_by": "user"}, style="warning"),
                "report_lost": Action("登记遗失/毁损", "open", None, roles=("archivist",), rule="ARC-9",
                                      sets=("lost_or_damaged",), stamps={"checked_by": "user"}, reason=True,
                                      style="danger"),
            },
            correct=("lent_at", "returned_at"), correct_roles=("archivist", "admin"),
        )
        ledger = True
        admin = dict(
            label="外借登记", category="档案",
            list=("file", "borrower", "copies", "lent_at", "due_at", "returned_at", "returned_complete",
                  "checked_by"),
            search=("file.number", "file.title", "borrower.display_name"),
            filters=("file", "borrower", "returned_complete", "lent_at", "due_at", "returned_at"),
        )

    def __str__(self):
        return f"外借 #{self.id}"

    @property
    def ledger_state(self):
        """Return "open" until the loan is returned, then "returned" (the workflow's state)."""
        return "returned" if self.returned_at is not None else "open"


class LoanReminder(BaseModel):
    """One chase of an overdue loan: who reminded the borrower, when, how."""
    CHANNEL = (("in_person", "当面"), ("phone", "电话"), ("message", "消息"))

    loan = ForeignKeyField(Loan, backref="reminders", on_delete="RESTRICT", verbose_name="外借登记")
    reminded_by = ForeignKeyField(User, null=True, backref="loan_reminders", on_delete="SET NULL",
                                  verbose_name="催还人")
    at = DateTimeField(default=utcnow, index=True, verbose_name="催还时间")
    channel = CharField(max_length=16, choices=CHANNEL, default="phone", verbose_name="催还方式")
    note = CharField(max_length=255, default="", verbose_name="备注")

    # No screen of its own: chases are recorded and shown on the loan ledger (views/ledger.py).

    def __str__(self):
        return f"催还 #{self.id}"


class Destruction(BaseModel):
    file = ForeignKeyField(ArchiveFile, backref="destructions", on_delete="RESTRICT", verbose_name="档案")
    reason = TextField(verbose_name="销毁原因")
    approved_by = ForeignKeyField(User, null=True, backref="approved_destructions", on_delete="SET NULL",
                                  verbose_name="批准人")
    destroyed_on = DateField(null=True, verbose_name="销毁日期")
    method = CharField(max_length=16, choices=DESTRUCTION_METHOD, default="shred", verbose_name="销毁方式")

    class Meta:
        # ARC-11: approver and date are the GM's approval, never typed in.
        workflow = Workflow(None, rule="ARC-11", owns=("approved_by", "destroyed_on"),
                            locks={"file": "refuse"})
        admin = dict(
            label="销毁记录", category="档案",
            list=("file", "reason", "approved_by", "destroyed_on", "method"),
            search=("reason", "file.number", "file.title"),
            filters=("file", "method", "destroyed_on"),
            # ARC-11: filled in when the GM approves the destruction.
            readonly=("approved_by", "destroyed_on"),
        )

    def __str__(self):
        return f"销毁记录 #{self.id}"


class Inspection(BaseModel):
    on = DateField(verbose_name="检查日期")
    inspector = ForeignKeyField(User, null=True, backref="inspections", on_delete="SET NULL", verbose_name="检查人")
    findings = TextField(default="", verbose_name="检查情况")
    repairs = TextField(default="", verbose_name="修复措施")

    class Meta:
        domain = (NotFuture("on"),)
        admin = dict(
            label="保管检查", category="档案",
            list=("on", "inspector", "findings", "repairs"),
            search=("findings", "repairs"),
            filters=("inspector", "on"),
        )

    def __str__(self):
        return f"保管检查 {self.on}"


class Penalty(BaseModel):
    # What was violated (ARC-9, 000 篇八 处罚); empty for a penalty entered by hand.
    VIOLATION = (
        ("late", "逾期移交"), ("late_repeat", "逾期未改正(再次违规)"), ("customer_signature", "缺客户签字"),
        ("staff_signature", "缺经办人签字"), ("lost", "档案遗失/毁损"),
        ("contact_unconfirmed", "未核对联系人及联系方式"), ("incomplete", "售后档案不完整/错误"),
    )

    user = ForeignKeyField(User, backref="penalties", on_delete="RESTRICT", verbose_name="责任人")
    rule = CharField(max_length=16, verbose_name="依据条款")
    violation = CharField(max_length=32, choices=VIOLATION, null=True, verbose_name="违规类型")
    amount = DecimalField(max_digits=10, decimal_places=2, verbose_name="罚款金额(元)")
    on = DateField(verbose_name="日期")
    source = CharField(max_length=64, default="", verbose_name="来源记录")
    note = TextField(default="", verbose_name="说明")
    # ARC-9: a fine whose facts were corrected is withdrawn, never deleted (kept in history).
    withdrawn_at = DateTimeField(null=True, verbose_name="撤销时间")
    withdrawn_reason = TextField(default="", verbose_name="撤销原因")
    # The file the violation concerns: a penalty naming a secret file is as secret as the file (ARC-3).
    file = ForeignKeyField(ArchiveFile, null=True, backref="penalties", on_delete="RESTRICT", verbose_name="档案")

    class Meta:
        domain = (Min("amount"),)
        ledger = True
        # A fine entered wrongly is withdrawn by a supervisor with a reason, never deleted (kept in history);
        # ARC-9's computed fines follow their handover or loan and are withdrawn when those are corrected.
        workflow = Workflow(
            "ledger_state", states=PENALTY_STATE, initial="in_force", rule="ARC-9",
            actions={"revoke": Action("撤销罚款", "in_force", "withdrawn", roles=("manager", "admin"), rule="ARC-9",
                                      stamps={"withdrawn_at": "now"}, reason=True, reason_to="withdrawn_reason",
                                      style="danger")},
        )
        admin = dict(
            label="罚款记录", category="档案",
            list=("on", "user", "rule", "violation", "amount", "source", "note", "withdrawn_at"),
            search=("rule", "note", "user.display_name"),
            filters=("user", "rule", "violation", "amount", "on", "withdrawn_at"),
            readonly=("withdrawn_at",),
        )

    def __str__(self):
        return f"{self.rule} 罚款 {self.amount} 元"

    @property
    def ledger_state(self):
        """Return "in_force" until the fine is withdrawn, then "withdrawn" (the workflow's state)."""
        return "withdrawn" if self.withdrawn_at is not None else "in_force"

    @classmethod
    def in_force(cls):
        """Return the penalties not withdrawn (ARC-9: a withdrawn fine stays in history)."""
        return cls.select().where(cls.withdrawn_at.is_null())


# ---------------------------------------------------------------- complaints
class Complaint(BaseModel):
    number = CharField(unique=True, max_length=32, verbose_name="投诉编号")
    received_at = DateTimeField(default=utcnow, index=True, verbose_name="受理时间")
    channel = CharField(max_length=16, choices=COMPLAINT_CHANNEL, default="phone", verbose_name="投诉渠道")
    complainant = CharField(max_length=100, verbose_name="投诉人")
    customer = ForeignKeyField(Customer, null=True, backref="complaints", on_delete="RESTRICT", verbose_name="客户")
    plate_no = CharField(max_length=16, default="", verbose_name="车牌号")
    category = CharField(max_length=16, choices=COMPLAINT_CATEGORY, verbose_name="投诉类别")
    demand = CharField(max_length=16, choices=COMPLAINT_DEMAND, default="criticism", verbose_name="客户诉求")
    # 003 第十六条(四): a claim of this size or more is escalated as a major complaint (CMP-5 setting).
    claim_amount = DecimalField(max_digits=12, decimal_places=2, default=0, verbose_name="索赔金额(元)")
    severity = CharField(max_length=16, choices=SEVERITY, default="general", verbose_name="严重程度")
    content = TextField(verbose_name="投诉内容")
    department = ForeignKeyField(Department, null=True, backref="complaints", on_delete="SET NULL",
                                 verbose_name="责任部门")
    assignee = ForeignKeyField(User, null=True, backref="assigned_complaints", on_delete="SET NULL",
                               verbose_name="承办人")
    status = CharField(max_length=16, choices=COMPLAINT_STATUS, default="received", verbose_name="状态")
    due_at = DateTimeField(null=True, verbose_name="结案期限")
    onsite_due_at = DateTimeField(null=True, verbose_name="现场处理期限")
    closed_at = DateTimeField(null=True, verbose_name="结案时间")
    satisfaction = CharField(max_length=16, choices=SATISFACTION, null=True, verbose_name="客户满意度")
    rejection_reason = TextField(default="", verbose_name="不成立原因(已向客户说明)")
    # CMP-10: the department manager who ruled whether the complaint is accepted (stamped by the ruling).
    ruled_by = ForeignKeyField(User, null=True, backref="ruled_complaints", on_delete="SET NULL",
                               verbose_name="受理裁定人")

    class Meta:
        indexes = (
            (("customer", "received_at"), False),  # CMP-8
            # Open complaints past a deadline (CMP-2, CMP-3, CMP-7): the few open ones by status, then the range.
            (("status", "due_at"), False),
            (("status", "onsite_due_at"), False),
            (("status", "received_at"), False),
            # Complaints per week on the workbench: a range of received_at with each row's customer, read from
            # the index alone before the customer is checked against the user's secrecy condition.
            (("received_at", "customer"), False),
        )
        domain = (NotFuture("received_at"), NotBefore("closed_at", "received_at"))
        workflow = Workflow(
            "status", states=COMPLAINT_STATUS, initial="received", rule="CMP-10",
            actions={
                # CMP-10: whether a complaint is accepted is ruled by its department's manager (or the GM).
                "investigate": Action("受理并开始调查", "received", "investigating", roles=("manager", "gm"),
                                      rule="CMP-10"),
                "propose": Action("提交方案待批", "investigating", "solution_pending", rule="CMP-4"),
                "reply": Action("答复客户", "solution_pending", "replied", rule="CMP-6"),
                "return_visit": Action("转入回访", "replied", "return_visit", rule="CMP-10"),
                "close": Action("结案", "return_visit", "closed", rule="CMP-8", sets=("satisfaction",),
                                stamps={"closed_at": "now"}, style="success"),
                # CMP-10: a supervisor (the department's manager) rules a complaint invalid.
                "reject": Action("判定不成立", "received", "rejected", roles=("manager", "gm"), rule="CMP-10",
                                 sets=("rejection_reason",), stamps={"closed_at": "now"}, style="danger"),
            },
            correct=("received_at", "closed_at"),
            # CMP-10: the manager who ruled is stamped by the ruling (accept or reject), never typed in.
            owns=("ruled_by",),
        )
        admin = dict(
            label="投诉", category="投诉",
            list=("number", "received_at", "complainant", "customer", "category", "severity", "status",
                  "assignee", "due_at"),
            search=("number", "complainant", "plate_no", "content", "customer.name"),
            fulltext=("number", "complainant", "plate_no", "content"),
            filters=("customer", "category", "severity", "status", "department", "assignee", "received_at",
                     "due_at"),
            readonly=("number", "due_at", "onsite_due_at", "ruled_by"),
            inline=("ComplaintUpdate",),
            lookup=("number", "complainant"),
            auto_number=("number", "TS{year}-{seq:06d}"),
        )

    def __str__(self):
        return f"{self.number} {self.complainant}"

    # Statuses in which a complaint is finished (no deadline runs any more).
    FINAL_STATUSES = ("closed", "rejected")
    OPEN_STATUSES = tuple(code for code, _ in COMPLAINT_STATUS if code not in ("closed", "rejected"))

    @classmethod
    def still_open(cls):
        """Return the complaints not yet closed or rejected."""
        # The open statuses named (not "not final"): the index on status leads to the few open complaints.
        return cls.select().where(cls.status.in_(cls.OPEN_STATUSES))


class ComplaintUpdate(BaseModel):
    complaint = ForeignKeyField(Complaint, backref="updates", on_delete="CASCADE", verbose_name="投诉")
    at = DateTimeField(default=utcnow, verbose_name="时间")
    by = ForeignKeyField(User, null=True, backref="complaint_updates", on_delete="SET NULL", verbose_name="经办人")
    note = TextField(verbose_name="处理进展")
    notified_customer = BooleanField(default=False, verbose_name="已告知客户")
    # CMP-3: only an on-site visit counts as on-site handling (a phone call does not).
    onsite = BooleanField(default=False, verbose_name="现场处理")

    class Meta:
        indexes = ((("complaint", "at"), False),)  # CMP-3, CMP-7
        domain = (NotFuture("at"),)
        admin = dict(
            label="处理进展", category="投诉",
            list=("at", "complaint", "by", "note", "notified_customer"),
            search=("note", "complaint.number"),
            filters=("complaint", "by", "notified_customer", "at"),
        )

    def __str__(self):
        return f"处理进展 {self.at:%Y-%m-%d %H:%M}" if self.at else "处理进展"


class Investigation(BaseModel):
    complaint = ForeignKeyField(Complaint, backref="investigations", on_delete="CASCADE", verbose_name="投诉")
    started_at = DateTimeField(default=utcnow, verbose_name="调查开始时间")
    cause = TextField(default="", verbose_name="原因")
    process = TextField(default="", verbose_name="调查过程")
    responsible_person = CharField(max_length=64, default="", verbose_name="责任人")
    conclusion = TextField(default="", verbose_name="调查结论")
    countermeasures = TextField(default="", verbose_name="纠正预防措施")

    class Meta:
        admin = dict(
            label="调查报告", category="投诉",
            list=("complaint", "started_at", "responsible_person", "conclusion"),
            search=("cause", "conclusion", "responsible_person", "complaint.number"),
            filters=("complaint", "started_at"),
        )

    def __str__(self):
        return f"调查报告 #{self.id}"


class Solution(BaseModel):
    complaint = ForeignKeyField(Complaint, backref="solutions", on_delete="CASCADE", verbose_name="投诉")
    proposal = TextField(verbose_name="处理方案")
    compensation_amount = DecimalField(max_digits=12, decimal_places=2, default=0, verbose_name="赔偿金额(元)")
    approved_by = ForeignKeyField(User, null=True, backref="approved_solutions", on_delete="SET NULL",
                                  verbose_name="批准人(总经理)")
    approved_at = DateTimeField(null=True, verbose_name="批准时间")
    customer_reply = TextField(default="", verbose_name="客户答复")

    class Meta:
        domain = (Min("compensation_amount"),)
        # CMP-6: the GM judged the proposal and the compensation; another proposal or a higher
        # compensation asks the GM again, a lower compensation stays approved.
        workflow = Workflow(None, rule="CMP-6", owns=("approved_by", "approved_at"),
                            locks={"compensation_amount": "raise", "proposal": "reask"},
                            reask={"approved_by": None, "approved_at": None})
        admin = dict(
            label="处理方案", category="投诉",
            list=("complaint", "proposal", "compensation_amount", "approved_by", "approved_at"),
            search=("proposal", "customer_reply", "complaint.number"),
            filters=("complaint", "approved_by", "compensation_amount", "approved_at"),
            # CMP-6: filled in when the GM approves the solution in the approvals inbox.
            readonly=("approved_by", "approved_at"),
        )

    def __str__(self):
        return f"处理方案 #{self.id}"


# ---------------------------------------------------------------- service, reception, tenants, people
class ServiceOrder(BaseModel):
    number = CharField(unique=True, max_length=32, verbose_name="单号")
    kind = CharField(max_length=16, choices=SERVICE_KIND, default="repair", verbose_name="类型")
    customer = ForeignKeyField(Customer, backref="service_orders", on_delete="RESTRICT", verbose_name="客户")
    address = CharField(max_length=255, default="", verbose_name="地址")
    contact_phone = CharField(max_length=32, default="", verbose_name="联系电话")
    product_model = CharField(max_length=64, default="", verbose_name="产品型号")
    purchase_date = DateField(null=True, verbose_name="购买日期")
    fault = TextField(default="", verbose_name="故障描述")
    technician = ForeignKeyField(User, null=True, backref="service_orders", on_delete="SET NULL",
                                 verbose_name="技术员")
    old_terminal_no = CharField(max_length=64, default="", verbose_name="原终端号")
    new_terminal_no = CharField(max_length=64, default="", verbose_name="新终端号")
    old_sim = CharField(max_length=32, default="", verbose_name="原SIM卡号")
    new_sim = CharField(max_length=32, default="", verbose_name="新SIM卡号")
    fee = DecimalField(max_digits=10, decimal_places=2, default=0, verbose_name="费用(元)")
    status = CharField(max_length=16, choices=SERVICE_STATUS, default="pending", verbose_name="状态")

    class Meta:
        domain = (Min("fee"), NotFuture("purchase_date"))
        workflow = Workflow(
            "status", states=SERVICE_STATUS, initial="pending", rule="SRV-1",
            actions={
                "dispatch": Action("派工", "approved", "dispatched", rule="SRV-1"),
                "complete": Action("完工", "dispatched", "completed", rule="SRV-1", style="success"),
                "cancel": Action("取消", ("approved", "dispatched"), "cancelled", rule="SRV-1", reason=True,
                                 style="danger"),
                # A rejected (cancelled) order is put forward again: SRV-1 asks the manager anew.
                "resubmit": Action("重新送审", "cancelled", "pending", rule="SRV-1"),
            },
        )
        admin = dict(
            label="服务派工单", category="服务与接待",
            list=("number", "kind", "customer", "product_model", "technician", "fee", "status"),
            search=("number", "address", "product_model", "fault", "customer.name"),
            filters=("customer", "kind", "status", "technician", "purchase_date", "fee"),
            readonly=("number",),
            lookup=("number",),
            auto_number=("number", "FW{year}-{seq:05d}"),
        )

    def __str__(self):
        return f"{self.number} {self.choice_label('kind')}"


class Reception(BaseModel):
    visitor_org = CharField(max_length=200, verbose_name="来访单位")
    customer = ForeignKeyField(Customer, null=True, backref="receptions", on_delete="RESTRICT", verbose_name="客户")
    visit_on = DateField(null=True, verbose_name="接待日期")
    guest_class = CharField(max_length=1, choices=GRADE, default="C", verbose_name="接待等级")
    guests = IntegerField(default=1, verbose_name="来宾人数")
    companions = IntegerField(default=1, verbose_name="陪同人数")
    host = ForeignKeyField(User, null=True, backref="receptions", on_delete="SET NULL", verbose_name="接待人")
    cost_per_person = DecimalField(max_digits=10, decimal_places=2, default=0, verbose_name="人均费用(元)")
    gifts = CharField(max_length=200, default="", verbose_name="礼品")
    gift_value = DecimalField(max_digits=10, decimal_places=2, default=0, verbose_name="礼品价值(元)")
    status = CharField(max_length=16, choices=RECEPTION_STATUS, default="planned", verbose_name="状态")

    class Meta:
        domain = (Min("guests"), Min("companions"), Min("cost_per_person"), Min("gift_value"))
        workflow = Workflow(
            "status", states=RECEPTION_STATUS, initial="planned", rule="RCP-3",
            actions={
                "finish": Action("接待完成", ("planned", "approved"), "done", rule="RCP-3", style="success"),
            },
            # RCP-3: the GM judged the gift's value; raising it asks again, a cheaper gift stays approved.
            locks={"gift_value": "raise"}, reask={"status": "pending"},
        )
        admin = dict(
            label="接待", category="服务与接待",
            list=("visit_on", "visitor_org", "customer", "guest_class", "guests", "companions", "host",
                  "cost_per_person", "status"),
            search=("visitor_org", "gifts", "customer.name"),
            filters=("customer", "guest_class", "host", "status", "visit_on", "cost_per_person"),
        )

    def __str__(self):
        return f"{self.visitor_org} 接待"


class MoveOut(BaseModel):
    tenant = ForeignKeyField(Customer, backref="move_outs", on_delete="RESTRICT", verbose_name="租户")
    unit = CharField(max_length=64, verbose_name="单元")
    requested_on = DateField(verbose_name="申请日期")
    keys_returned = BooleanField(default=False, verbose_name="单元钥匙已交回")
    arrears_cleared = BooleanField(default=False, verbose_name="欠费已结清")
    unit_restored = BooleanField(default=False, verbose_name="单元已复原")
    damage_note = TextField(default="", verbose_name="损坏情况")
    damage_amount = DecimalField(max_digits=10, decimal_places=2, default=0, verbose_name="赔偿金额(元)")
    parking_released = BooleanField(default=False, verbose_name="车位已退")
    # MOV-1 (001 第3篇 三2–6): the customer card, parking items, compensation and the decoration agreement.
    customer_card_returned = BooleanField(default=False, verbose_name="客户出入证已交回")
    has_parking = BooleanField(default=False, verbose_name="租有车位")
    parking_lock_key_returned = BooleanField(default=False, verbose_name="车位锁钥匙已交回")
    parking_card_returned = BooleanField(default=False, verbose_name="停车卡已交回")
    damage_settled = BooleanField(default=False, verbose_name="损坏赔偿已结清")
    decoration_kept = BooleanField(default=False, verbose_name="装修经协议保留")
    engineering_signed = BooleanField(default=False, verbose_name="工程部已签")
    finance_signed = BooleanField(default=False, verbose_name="财务部已签")
    security_signed = BooleanField(default=False, verbose_name="保安部已签")
    status = CharField(max_length=16, choices=MOVEOUT_STATUS, default="requested", verbose_name="状态")

    class Meta:
        domain = (Min("damage_amount"),)
        workflow = Workflow(
            "status", states=MOVEOUT_STATUS, initial="requested", rule="MOV-1",
            owns=("engineering_signed", "finance_signed", "security_signed"),
            actions={
                "sign_off": Action("提交会签", "requested", "signing", rule="MOV-1"),
                "complete": Action("办结迁出", "signing", "completed", rule="MOV-1", style="success"),
                "cancel": Action("取消迁出", ("requested", "signing"), "cancelled", rule="MOV-1", reason=True,
                                 style="danger"),
            },
        )
        admin = dict(
            label="客户迁出",
            # MOV-1's three sign-off departments open the move-outs they sign.
            permissions={"engineering": "v", "finance": "v", "security": "v"}, category="服务与接待",
            list=("tenant", "unit", "requested_on", "keys_returned", "arrears_cleared", "unit_restored",
                  "status"),
            search=("unit", "damage_note", "tenant.name"),
            filters=("tenant", "status", "keys_returned", "arrears_cleared", "requested_on"),
            # MOV-1: the three departments sign through their approvals, never by a ticked box.
            readonly=("engineering_signed", "finance_signed", "security_signed"),
        )

    def __str__(self):
        return f"{self.unit} 迁出"


class TenantRequest(BaseModel):
    customer = ForeignKeyField(Customer, backref="tenant_requests", on_delete="RESTRICT", verbose_name="客户")
    at = DateTimeField(default=utcnow, verbose_name="时间")
    channel = CharField(max_length=16, choices=TENANT_CHANNEL, default="phone", verbose_name="渠道")
    kind = CharField(max_length=16, choices=TENANT_REQUEST_KIND, default="inquiry", verbose_name="类别")
    content = TextField(verbose_name="内容")
    handled_by = ForeignKeyField(User, null=True, backref="tenant_requests", on_delete="SET NULL",
                                 verbose_name="处理人")
    closed_at = DateTimeField(null=True, verbose_name="关闭时间")

    class Meta:
        domain = (NotFuture("at"), NotBefore("closed_at", "at"))
        # Closing stamps the time (000 篇九); a wrongly entered time is corrected by a supervisor.
        workflow = Workflow(
            "closing_state", states=TENANT_REQUEST_STATE, initial="open",
            actions={"close": Action("关闭诉求", "open", "closed", stamps={"closed_at": "now"},
                                     style="success")},
            correct=("closed_at",),
        )
        admin = dict(
            label="诉求记录", category="服务与接待",
            list=("at", "customer", "kind", "channel", "handled_by", "closed_at"),
            search=("content", "customer.name"),
            filters=("customer", "kind", "channel", "handled_by", "at", "closed_at"),
        )

    def __str__(self):
        return f"{self.choice_label('kind')}诉求 #{self.id}"

    @property
    def closing_state(self):
        """Return "open" until the request is closed, then "closed" (the workflow's state)."""
        return "closed" if self.closed_at is not None else "open"


class Attendance(BaseModel):
    user = ForeignKeyField(User, backref="attendances", on_delete="RESTRICT", verbose_name="员工")
    day = DateField(verbose_name="日期")
    minutes_late = IntegerField(default=0, verbose_name="迟到分钟")
    absent = BooleanField(default=False, verbose_name="旷工")
    fine = DecimalField(max_digits=10, decimal_places=2, default=0, verbose_name="罚款(元)")

    class Meta:
        domain = (Min("minutes_late"), Min("fine"))
        indexes = ((("user", "day"), True),)
        admin = dict(
            label="考勤", permissions={"manager": "vx", "clerk": "vce"}, category="组织与系统",
            list=("day", "user", "minutes_late", "absent", "fine"),
            search=("user.display_name",),
            filters=("user", "absent", "minutes_late", "day"),
            readonly=("fine",),
        )

    def __str__(self):
        return f"考勤 {self.day}"


class QCGroup(BaseModel):
    topic = CharField(max_length=200, verbose_name="课题")
    registered_on = DateField(verbose_name="注册日期")
    members = ManyToManyField(User, backref="qc_groups")

    class Meta:
        domain = (NotFuture("registered_on"),)
        admin = dict(
            label="QC小组", category="服务与接待",
            list=("topic", "registered_on"),
            search=("topic",),
            filters=("registered_on",),
            inline=("QCActivity",),
            lookup=("topic",),
        )

    def __str__(self):
        return self.topic

    @classmethod
    def quiet_since(cls, since, until=None):
        """Return the groups registered before ``since`` with no activity on or after it (up to ``until``)."""
        recent = QCActivity.select(QCActivity.group).where(QCActivity.on >= since)
        if until is not None:
            recent = recent.where(QCActivity.on <= until)
        return cls.select().where(cls.registered_on < since, cls.id.not_in(recent))


QCGroupMember = QCGroup.members.get_through_model()


class QCActivity(BaseModel):
    group = ForeignKeyField(QCGroup, backref="activities", on_delete="CASCADE", verbose_name="QC小组")
    on = DateField(verbose_name="活动日期")
    minutes = TextField(default="", verbose_name="活动记录")

    class Meta:
        domain = (NotFuture("on"),)
        admin = dict(
            label="QC活动记录", category="服务与接待",
            list=("on", "group", "minutes"),
            search=("minutes", "group.topic"),
            filters=("group", "on"),
        )

    def __str__(self):
        return f"QC活动 {self.on}"


# ---------------------------------------------------------------- data protection (002 篇三)
class DataShare(BaseModel):
    customer = ForeignKeyField(Customer, backref="data_shares", on_delete="RESTRICT", verbose_name="客户")
    recipient = CharField(max_length=200, verbose_name="接收方(第三方)")
    purpose = TextField(verbose_name="共享目的")
    fields_shared = TextField(verbose_name="共享数据项")
    consent_at = DateTimeField(null=True, verbose_name="客户明示同意时间")
    agreement_no = CharField(max_length=64, default="", verbose_name="数据安全协议编号")
    shared_on = DateField(null=True, verbose_name="共享日期")
    # CUS-6: set by the GM's approval (数据使用审批), never typed in.
    status = CharField(max_length=16, choices=DATA_SHARE_STATUS, default="pending", verbose_name="状态")

    class Meta:
        domain = (NotFuture("consent_at"),)
        # CUS-6: the status is the GM's decision on the share, never typed in nor set by save().
        workflow = Workflow("status", states=DATA_SHARE_STATUS, initial="pending", rule="CUS-6")
        admin = dict(
            label="数据共享登记", category="客户",
            permissions={"sales": "vc", "service": "vc", "clerk": "vc", "info_supervisor": "vcex"},
            list=("customer", "recipient", "purpose", "consent_at", "agreement_no", "shared_on", "status"),
            search=("recipient", "purpose", "agreement_no", "customer.name"),
            filters=("customer", "status", "shared_on", "consent_at"),
            readonly=("status",),
        )

    def __str__(self):
        return f"数据共享 {self.recipient}"


class DataIncident(BaseModel):
    found_at = DateTimeField(verbose_name="发现时间")
    description = TextField(verbose_name="事件经过")
    contained_at = DateTimeField(null=True, verbose_name="控制时间(停止泄露)")
    # CUS-7: when the last affected customer was notified (computed from the affected customers).
    customers_notified_at = DateTimeField(null=True, verbose_name="客户全部通知时间")
    reported_to = CharField(max_length=200, default="", verbose_name="报告部门")
    reported_at = DateTimeField(null=True, verbose_name="报告时间")
    status = CharField(max_length=16, choices=INCIDENT_STATUS, default="open", verbose_name="状态")

    class Meta:
        domain = (NotFuture("found_at"), NotBefore("contained_at", "found_at"), NotFuture("contained_at"),
                  NotBefore("reported_at", "found_at"), NotFuture("reported_at"))
        admin = dict(
            label="数据泄露事件", category="客户",
            permissions={"sales": "v", "service": "v", "clerk": "vc", "info_supervisor": "vcedx"},
            list=("found_at", "description", "contained_at", "customers_notified_at", "reported_at", "status"),
            search=("description", "reported_to"),
            filters=("status", "found_at", "contained_at", "reported_at"),
            readonly=("customers_notified_at",),
            inline=("AffectedCustomer",),
        )

    def __str__(self):
        return f"数据泄露事件 {self.found_at:%Y-%m-%d}" if self.found_at else "数据泄露事件"


class AffectedCustomer(BaseModel):
    incident = ForeignKeyField(DataIncident, backref="affected", on_delete="CASCADE", verbose_name="泄露事件")
    customer = ForeignKeyField(Customer, backref="data_incidents", on_delete="RESTRICT", verbose_name="客户")
    notified_at = DateTimeField(null=True, verbose_name="通知客户时间")
    note = TextField(default="", verbose_name="告知内容")

    class Meta:
        domain = (NotFuture("notified_at"),)
        indexes = ((("incident", "customer"), True),)
        admin = dict(
            label="受影响客户", category="客户",
            permissions={"sales": "v", "service": "v", "clerk": "vc", "info_supervisor": "vcedx"},
            list=("incident", "customer", "notified_at"),
            search=("customer.name", "note"),
            filters=("incident", "customer", "notified_at"),
        )

    def __str__(self):
        return f"受影响客户 {self.customer}" if self.customer_id else "受影响客户"


class AccessReview(BaseModel):
    reviewed_on = DateField(verbose_name="审查日期")
    reviewer = ForeignKeyField(User, null=True, backref="access_reviews", on_delete="SET NULL",
                               verbose_name="审查人")
    period_start = DateField(null=True, verbose_name="审查期间起")
    findings = TextField(default="", verbose_name="审查发现")
    changes_made = TextField(default="", verbose_name="权限调整")
    # CUS-8: who holds which rights and who revealed which sensitive data in the period (computed).
    report = TextField(default="", verbose_name="权限与敏感信息查看清单")

    class Meta:
        domain = (NotFuture("reviewed_on"), NotBefore("reviewed_on", "period_start"))
        admin = dict(
            label="权限审查", category="组织与系统",
            permissions={"gm": "vx", "info_supervisor": "vcex"},
            list=("reviewed_on", "reviewer", "period_start", "findings", "changes_made"),
            search=("findings", "changes_made", "report"),
            filters=("reviewer", "reviewed_on"),
            readonly=("report",),
        )

    def __str__(self):
        return f"权限审查 {self.reviewed_on}"


# ---------------------------------------------------------------- policy engine
HOLIDAY_KIND = (("holiday", "法定节假日"), ("workday", "调休上班"))
RULE_EVENT_KIND = (("block", "拦截"), ("compute", "计算"), ("flag", "提醒"), ("approve", "送审"), ("notify", "通知"))
APPROVAL_STATUS = (("pending", "待审批"), ("approved", "已批准"), ("rejected", "已驳回"), ("withdrawn", "已撤回"))
APPROVAL_KIND = (("approve", "审批"), ("notify", "知会"))


class Holiday(BaseModel):
    day = DateField(unique=True, verbose_name="日期")
    kind = CharField(max_length=16, choices=HOLIDAY_KIND, default="holiday", verbose_name="类型")
    name = CharField(max_length=64, default="", verbose_name="名称")

    class Meta:
        admin = dict(
            label="节假日安排", category="组织与系统",
            list=("day", "kind", "name"), search=("name",), filters=("kind", "day"),
        )

    def __str__(self):
        return f"{self.day} {self.name or self.choice_label('kind')}"


class RuleSetting(BaseModel):
    rule = CharField(unique=True, max_length=16, verbose_name="条款编号")
    enabled = BooleanField(default=True, verbose_name="启用")
    params = TextField(default="{}", verbose_name="参数(JSON)")

    class Meta:
        admin = dict(
            label="制度参数(原始)", category="组织与系统",
            list=("rule", "enabled", "params", "updated_at", "updated_by"), search=("rule",),
            filters=("enabled",), readonly=("rule",), read_only_screen=True,
        )

    def __str__(self):
        return self.rule


class RuleEvent(BaseModel):
    rule = CharField(max_length=16, index=True, verbose_name="条款编号")
    kind = CharField(max_length=16, choices=RULE_EVENT_KIND, verbose_name="类型")
    at = DateTimeField(default=utcnow, index=True, verbose_name="时间")
    model = CharField(max_length=64, default="", verbose_name="对象类型")
    record_id = CharField(max_length=64, default="", verbose_name="记录编号")
    note = TextField(default="", verbose_name="说明")

    class Meta:
        ledger = True
        admin = dict(
            label="规则触发记录", category="组织与系统",
            list=("at", "rule", "kind", "model", "record_id", "note"), search=("rule", "model", "note"),
            filters=("kind", "rule", "at"), read_only_screen=True, refers_to=("model", "record_id"),
        )

    def __str__(self):
        return f"{self.rule} {self.choice_label('kind')}"


class Approval(BaseModel):
    target_model = CharField(max_length=64, index=True, verbose_name="对象类型")
    target_id = IntegerField(index=True, verbose_name="记录编号")
    rule = CharField(max_length=16, verbose_name="依据条款")
    step = IntegerField(default=1, verbose_name="步骤")
    kind = CharField(max_length=16, choices=APPROVAL_KIND, default="approve", verbose_name="类型")
    # One role code, or several separated by "|" when any of them may decide (ARC-5: gm|deputy).
    required_role = CharField(max_length=64, verbose_name="审批角色")
    department = ForeignKeyField(Department, null=True, backref="approvals", on_delete="SET NULL",
                                 verbose_name="审批部门")
    status = CharField(max_length=16, choices=APPROVAL_STATUS, default="pending", index=True, verbose_name="状态")
    summary = CharField(max_length=255, default="", verbose_name="摘要")
    requested_by = ForeignKeyField(User, null=True, backref="requested_approvals", on_delete="SET NULL",
                                   verbose_name="申请人")
    requested_at = DateTimeField(default=utcnow, verbose_name="申请时间")
    decided_by = ForeignKeyField(User, null=True, backref="decided_approvals", on_delete="SET NULL",
                                 verbose_name="审批人")
    decided_at = DateTimeField(null=True, verbose_name="审批时间")
    comment = TextField(default="", verbose_name="审批意见")
    # The record's values this approval judged, {field: value} (JSON): changing one re-asks or is refused.
    judged = TextField(default="", verbose_name="审批依据的字段值")

    class Meta:
        ledger = True
        indexes = (
            (("status", "required_role", "requested_at"), False),
            (("target_model", "target_id", "status"), False),
        )
        admin = dict(
            label="审批记录", category="组织与系统",
            list=("requested_at", "rule", "target_model", "target_id", "summary", "required_role", "status",
                  "requested_by", "decided_by"),
            search=("rule", "target_model", "summary"),
            filters=("rule", "status", "required_role", "requested_at"), read_only_screen=True,
            refers_to=("target_model", "target_id"),
        )

    def __str__(self):
        return f"{self.rule} 审批 #{self.id}"


IMPORT_STATUS = (("preview", "待导入"), ("running", "导入中"), ("done", "已完成"), ("failed", "失败"))


class ImportJob(BaseModel):
    """One uploaded file being imported row by row through the normal save path."""
    model = CharField(max_length=64, verbose_name="记录类型")
    filename = CharField(max_length=255, default="", verbose_name="文件名")
    status = CharField(max_length=16, choices=IMPORT_STATUS, default="preview", index=True, verbose_name="状态")
    total = IntegerField(default=0, verbose_name="总行数")
    done = IntegerField(default=0, verbose_name="已处理")
    imported = IntegerField(default=0, verbose_name="新增")
    updated = IntegerField(default=0, verbose_name="更新")
    skipped = IntegerField(default=0, verbose_name="跳过")
    failed = IntegerField(default=0, verbose_name="失败")
    # The uploaded rows ({"headers": [...], "rows": [[...], ...]}) and the outcome per row, as JSON.
    data = TextField(default="{}", verbose_name="数据")
    results = TextField(default="[]", verbose_name="结果")
    finished_at = DateTimeField(null=True, verbose_name="完成时间")

    class Meta:
        # The file may hold ID numbers and bank accounts (and runs to megabytes): the trail keeps a masked stub.
        admin = dict(sensitive=("data", "results"))

    def __str__(self):
        return f"导入 {self.filename}"


class SavedView(BaseModel):
    """A named list view (filters, search, sort, columns) kept by a user, optionally shared with a role."""
    name = CharField(max_length=64, verbose_name="方案名称")
    model = CharField(max_length=64, index=True, verbose_name="记录类型")
    owner = ForeignKeyField(User, backref="saved_views", on_delete="CASCADE", verbose_name="创建人")
    role = ForeignKeyField(Role, null=True, backref="saved_views", on_delete="SET NULL", verbose_name="共享给角色")
    # The list's query string without the page number (flt…, search, sort, desc, page_size, cols).
    args = TextField(default="", verbose_name="列表条件")
    is_default = BooleanField(default=False, verbose_name="默认方案")

    def __str__(self):
        return self.name


class LoginThrottle(BaseModel):
    """Failed password entries per account and per client address: growing delays shared by every server process.

    No screen; written as bookkeeping (plain UPDATE/INSERT, not audited) by ``views/throttle.py``.
    """

    key = CharField(unique=True, max_length=200, verbose_name="键")
    failures = IntegerField(default=0, verbose_name="失败次数")
    last_failure_at = DateTimeField(null=True, index=True, verbose_name="最近失败时间")
    blocked_until = DateTimeField(null=True, verbose_name="可再次尝试时间")

    def __str__(self):
        return self.key


# Labels of many-to-many fields (peewee's ManyToManyField takes no verbose_name).
User.roles.verbose_name = "角色"
QCGroup.members.verbose_name = "成员"

class CustomerTally(BaseModel):
    """How many customers share one tier, stage, clearance, department and owner: the managers' charts at scale.

    No screen; kept by ``tallies.py`` (plain UPDATE/INSERT in the customer's saving transaction, not audited),
    rebuilt in bulk by the daily checks. A key may have several rows: the charts add them up.
    """

    tier = CharField(max_length=16, verbose_name="客户层级")
    stage = CharField(max_length=16, verbose_name="生命周期阶段")
    confidentiality = CharField(max_length=16, verbose_name="保密级别")
    # Plain ids, not foreign keys: a deleted owner or department is cleared here by tallies.py.
    department = IntegerField(null=True, verbose_name="所属部门")
    owner = IntegerField(null=True, verbose_name="负责人")
    count = IntegerField(default=0, verbose_name="客户数")

    class Meta:
        indexes = ((("tier", "stage", "confidentiality", "department", "owner"), False),)

    def __str__(self):
        return f"{self.tier}/{self.stage}: {self.count}"


class WeeklyComplaintCount(BaseModel):
    """Complaints received in one closed local week, as one secrecy scope sees them: the workbench chart's memory.

    No screen. ``views/dashboard.py`` writes a week's count the first time a scope asks for it and reads it
    afterwards; ``tallies.py`` deletes the rows a write makes wrong, in the writing transaction (a complaint
    added, moved or deleted in that week; a customer moved to another clearance, department or owner; a user
    or department deleted), and the daily checks delete all of them. The current week is always counted live.
    """

    scope = CharField(max_length=200, verbose_name="可见范围")
    week = DateField(verbose_name="周一")
    count = IntegerField(default=0, verbose_name="投诉数")

    class Meta:
        indexes = ((("scope", "week"), True), (("week",), False))

    def __str__(self):
        return f"{self.scope} {self.week}: {self.count}"


MODELS = (
    Role, Department, User, UserRole, Permission, AuditLog,
    Customer, Contact, Communication, VisitPlan, Visit, SatisfactionSurvey, Partner,
    Contract, CreditLine, Shipment, Payment, Preference,
    ArchiveFile, ArchiveItem, Handover, AccessRequest, BorrowRequest, Loan, LoanReminder, Destruction, Inspection,
    Penalty,
    Complaint, ComplaintUpdate, Investigation, Solution,
    ServiceOrder, Reception, MoveOut, TenantRequest, Attendance, QCGroup, QCGroupMember, QCActivity,
    DataShare, DataIncident, AffectedCustomer, AccessReview,
    Holiday, RuleSetting, RuleEvent, Approval, ImportJob, SavedView, LoginThrottle, CustomerTally,
    WeeklyComplaintCount,
)


def index_filtered_fields(schema=None):
    """Index every own column a list filters on (``Meta.admin['filters']``); foreign keys have theirs."""
    for model in MODELS if schema is None else schema:
        for name in model.admin_options().get("filters", ()) if hasattr(model, "admin_options") else ():
            field = model._meta.fields.get(name)
            if field is not None and not isinstance(field, (ForeignKeyField, TextField)) and not field.unique:
                field.index = True


index_filtered_fields()


def create_tables(schema=None):
    """Create every table of ``schema`` (default MODELS) and add columns a newer version declares."""
    schema = MODELS if schema is None else schema
    add_missing_columns(schema)  # before the indexes, which may name the new columns
    db.create_tables(schema, safe=True)
    from backend import install_order_indexes
    from backend import install_search

    install_search(schema)
    install_order_indexes(schema)
    if CustomerTally in schema and Customer in schema:
        import tallies

        tallies.ensure()


def add_missing_columns(schema):
    """Add the columns the schema declares but an older database lacks (an upgrade never drops data)."""
    migrator = SchemaMigrator.from_database(db.obj)
    operations = []
    tables = set(db.get_tables())
    for model in schema:
        if model._meta.table_name not in tables:
            continue
        existing = {column.name for column in db.get_columns(model._meta.table_name)}
        for field in model._meta.sorted_fields:
            if field.column_name not in existing:
                operations.append(migrator.add_column(model._meta.table_name, field.column_name, field))
    if not operations:
        return 0
    # SQLite adds a NOT NULL column by rebuilding the table; with foreign keys on, dropping the old copy
    # would delete every child row (ON DELETE CASCADE). Off during the upgrade (outside any transaction).
    sqlite = isinstance(db.obj, SqliteDatabase)
    if sqlite:
        db.execute_sql("PRAGMA foreign_keys=OFF")
    try:
        with db.atomic():
            migrate(*operations)
    finally:
        if sqlite:
            db.execute_sql("PRAGMA foreign_keys=ON")
    return len(operations)
