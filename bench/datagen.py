"""Bulk generator of the scale data set: 1,000,000 customers, 3,000,000 communications, 200,000 complaints.

Set-up data, like a migration: rows go in with one multi-row statement per batch (SQLite
``executemany`` inside one transaction, PostgreSQL ``COPY``), secondary indexes are dropped
during the load and rebuilt after it, then the trigram search tables are filled and ``ANALYZE``
runs. Business rules do not run for these rows; the users and the small tables go through
``save()`` as usual.
"""
import datetime
import io
import random
import time

import backend
import models
import tallies
from policies import calendar
from views import access

PASSWORD = "Bench-密码-2026"
CITIES = ("杭州", "宁波", "温州", "嘉兴", "湖州", "绍兴", "金华", "衢州", "舟山", "台州", "丽水", "上海", "苏州",
          "南京", "合肥", "福州", "厦门", "广州", "深圳", "成都")
WORDS = "华盛达鑫源泰恒信通宏远兴隆安康瑞祥和丰嘉德永利海天新科美佳汇金诚博创鸿联星中"
INDUSTRIES = ("科技", "贸易", "物流", "机械", "电子", "建材", "食品", "纺织", "化工", "医药")
SUMMARIES = ("电话沟通新品报价,客户表示下月采购", "上门拜访,了解竞争对手价格", "微信确认发货时间",
             "邮件发送合同草案,等待回复", "客户反馈售后响应慢,已记录", "会议讨论年度框架协议",
             "短信提醒回款,客户承诺本周付款", "走访门店,检查陈列情况")
DEPARTMENTS = ("华东销售部", "华南销售部", "华北销售部", "西南销售部", "西北销售部", "东北销售部", "华中销售部",
               "大客户部", "渠道部", "电商部")
# Bench users (role, clearance, department): the highest clearance (sees everything), the lowest (normal only,
# all departments), and the lowest in one department (its manager: each child row is checked against its
# customer's department, the most restricted plan; one tenth of the customers).
USERS = {"bench_top": ("admin", "top_secret", None), "bench_low": ("clerk", "normal", None),
         "bench_mgr": ("manager", "normal", DEPARTMENTS[0])}


def ensure_users():
    """Create the bench users that are missing (a data set made before one was added); return them by name."""
    roles = {r.code: r for r in models.Role.select()}
    users = {}
    for username, (role, clearance, department) in USERS.items():
        user = models.User.get_or_none(models.User.username == username)
        if user is None:
            dept = models.Department.get(models.Department.name == department) if department else None
            user = models.User(username=username, display_name=username, clearance=clearance, department=dept)
            user.set_password(PASSWORD)
            user.save()
            user.roles.add(roles[role])
        users[username] = user
    return users


def _value(field, value):
    if value is None:
        return None
    if isinstance(value, bool):
        return value if backend.is_postgres() else int(value)
    if isinstance(value, (datetime.datetime, datetime.date)):
        return str(value)
    return value


def _defaults(model, row, now):
    out = {}
    for field in model._meta.sorted_fields:
        if field.primary_key and field.name not in row:
            continue
        if field.name in row:
            value = row[field.name]
        elif field.name in ("created_at", "updated_at"):
            value = now
        elif field.default is not None:
            value = field.default() if callable(field.default) else field.default
        else:
            value = None
        out[field.column_name] = _value(field, value)
    return out


def _copy_text(value):
    if value is None:
        return "\\N"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def bulk_insert(model, rows, batch=20_000):
    """Insert ``rows`` (dicts of field values) into ``model``'s table, fast; return how many."""
    now = models.utcnow()
    table = model._meta.table_name
    count = 0
    chunk = []
    columns = None

    def flush():
        nonlocal chunk
        if not chunk:
            return
        if backend.is_postgres():
            buf = io.StringIO("".join("\t".join(_copy_text(v) for v in r) + "\n" for r in chunk))
            cursor = models.db.cursor()
            cursor.copy_expert(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN', buf)
        else:
            marks = ", ".join("?" for _ in columns)
            models.db.cursor().executemany(
                f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({marks})', chunk)
        chunk = []

    for row in rows:
        values = _defaults(model, row, now)
        if columns is None:
            columns = list(values)
        chunk.append([values[c] for c in columns])
        count += 1
        if len(chunk) >= batch:
            flush()
    flush()
    return count


def _secondary_indexes(tables):
    """Return (name, create SQL) of the non-unique indexes of ``tables``."""
    if backend.is_postgres():
        rows = models.db.execute_sql(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' AND i.tablename IN %s "
            "AND i.indexdef NOT LIKE 'CREATE UNIQUE%%'", (tuple(tables),)).fetchall()
    else:
        marks = ", ".join("?" for _ in tables)
        rows = models.db.execute_sql(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND sql NOT LIKE 'CREATE UNIQUE%' AND tbl_name IN ({marks})", list(tables)).fetchall()
    return rows


def _fix_sequences(tables):
    if not backend.is_postgres():
        return
    for table in tables:
        models.db.execute_sql(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                              f"COALESCE((SELECT MAX(id) FROM \"{table}\"), 1))")


def generate(customers=1_000_000, communications=3_000_000, complaints=200_000, seed=10, echo=print):
    """Fill the bound (empty, schema-created) database with the scale data set."""
    rng = random.Random(seed)
    started = time.time()
    now = models.utcnow().replace(microsecond=0)
    with models.db.atomic():
        calendar.seed_holidays()
        access.seed_permissions(models.MODELS)
        departments = [models.Department.create(name=name) for name in DEPARTMENTS]
        roles = {r.code: r for r in models.Role.select()}
        users = ensure_users()
        sellers = []
        for i in range(50):
            user = models.User(username=f"sales{i:02d}", display_name=f"业务员{i:02d}",
                               department=departments[i % len(departments)])
            user.save()
            user.roles.add(roles["sales"])
            sellers.append(user)
    dept_ids = [d.id for d in departments]
    seller_ids = [u.id for u in sellers]

    tables = [m._meta.table_name for m in (models.Customer, models.Communication, models.Complaint)]
    indexes = _secondary_indexes(tables)
    for name, _ in indexes:
        models.db.execute_sql(f'DROP INDEX "{name}"')
    for model in (models.Customer, models.Communication, models.Complaint):
        if backend.searchable(model) and not backend.is_postgres():
            models.db.execute_sql(f'DROP TABLE IF EXISTS "{backend.search_table(model)}"')
    echo(f"  indexes dropped for the load ({len(indexes)})")

    def customer_rows():
        for i in range(1, customers + 1):
            seller = rng.choice(seller_ids)
            roll = rng.random()
            created = now - datetime.timedelta(days=rng.randint(0, 1500), seconds=rng.randint(0, 86399))
            yield dict(
                id=i, code=f"KH{created.year}-{i:07d}",
                name=f"{rng.choice(CITIES)}{rng.choice(WORDS)}{rng.choice(WORDS)}{rng.choice(INDUSTRIES)}有限公司",
                tier=rng.choice(("strategic", "key", "general", "general", "general", "reserve")),
                grade=rng.choice("ABCD"), stage=rng.choice(("prospect", "growth", "retention", "churned")),
                region=rng.choice(("in_province", "out_of_province")), industry=rng.choice(INDUSTRIES),
                address=f"{rng.choice(CITIES)}市{rng.choice(WORDS)}{rng.choice(WORDS)}路{rng.randint(1, 999)}号",
                phone=f"1{rng.randint(3, 9)}{rng.randint(0, 999999999):09d}",
                owner=seller, department=dept_ids[(seller - seller_ids[0]) % len(dept_ids)],
                confidentiality="top_secret" if roll < 0.01 else ("secret" if roll < 0.03 else "normal"),
                approved_by=users["bench_top"].id, created_at=created, updated_at=created,
                last_contact_at=created + datetime.timedelta(days=rng.randint(0, 30)),
            )

    def communication_rows():
        for i in range(1, communications + 1):
            yield dict(id=i, customer=rng.randint(1, customers),
                       at=now - datetime.timedelta(days=rng.randint(0, 730), seconds=rng.randint(0, 86399)),
                       channel=rng.choice(("phone", "email", "visit", "wechat", "sms")), by=rng.choice(seller_ids),
                       summary=rng.choice(SUMMARIES) + f"(第{i}次)")

    def complaint_rows():
        for i in range(1, complaints + 1):
            received = now - datetime.timedelta(days=rng.randint(0, 700), seconds=rng.randint(0, 86399))
            open_ = rng.random() < 0.05
            yield dict(id=i, number=f"TS{received.year}-{i:07d}", received_at=received,
                       complainant=f"{rng.choice('王李张刘陈杨黄赵吴周')}{rng.choice('先生女士')}",
                       customer=rng.randint(1, customers), category=rng.choice(("product", "service", "repair")),
                       content="客户投诉" + rng.choice(SUMMARIES), status="investigating" if open_ else "closed",
                       due_at=received + datetime.timedelta(days=30),
                       closed_at=None if open_ else received + datetime.timedelta(days=rng.randint(1, 25)))

    if not backend.is_postgres():
        models.db.execute_sql("PRAGMA synchronous = OFF")
    for model, rows in ((models.Customer, customer_rows()), (models.Communication, communication_rows()),
                        (models.Complaint, complaint_rows())):
        t0 = time.time()
        with models.db.atomic():
            n = bulk_insert(model, rows)
        echo(f"  {model.__name__}: {n:,} rows in {time.time() - t0:.0f} s")
    _fix_sequences(tables)
    t0 = time.time()
    for name, sql in indexes:
        models.db.execute_sql(sql)
    echo(f"  indexes rebuilt in {time.time() - t0:.0f} s")
    t0 = time.time()
    backend.install_search(models.MODELS)
    echo(f"  search index built in {time.time() - t0:.0f} s")
    t0 = time.time()
    tallies.rebuild()
    echo(f"  customer tally built in {time.time() - t0:.0f} s")
    t0 = time.time()
    backend.analyze()
    if not backend.is_postgres():
        models.db.execute_sql("PRAGMA synchronous = FULL")
    echo(f"  ANALYZE in {time.time() - t0:.0f} s; total {time.time() - started:.0f} s")
