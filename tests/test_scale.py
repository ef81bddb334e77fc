"""Scale: bounded counts, trigram search equal to a LIKE scan and in sync, query counts independent of size."""
import datetime
import re

import pytest

import backend
import models
import policies
from conftest import ON_POSTGRES
from conftest import csrf_token
from conftest import login
from conftest import make_user
from factories import StatementLog
from factories import make
from views import access
from views import dashboard

NAMES = ["杭州西湖茶叶有限公司", "西湖区文三路五金店", "宁波港物流集团", "温州鞋业Alpha工厂", "ALPHA 贸易商行",
         "嘉兴南湖电子", "湖州丝绸之路服饰", "绍兴黄酒酿造厂", "金华火腿食品", "西湖龙井茶社", "茶", "阿尔法alpha"]
TERMS = ["西湖", "西湖茶", "湖", "alpha", "ALPHA", "Alp", "茶叶有", "物流集团", "没有这个", "al", "5%", "_"]


def bulk_customers(count, start=0, **fields):
    """Insert ``count`` customers in bulk (set-up data: no signals, like a migration)."""
    now = models.utcnow()
    rows = [dict(code=f"BULK{start + i:07d}", name=f"批量客户{start + i}", created_at=now, updated_at=now,
                 **fields) for i in range(count)]
    with models.db.atomic():
        for first in range(0, len(rows), 500):
            models.Customer.insert_many(rows[first:first + 500]).execute()
    backend.rebuild_search(models.Customer)


def like_scan(model, fields, term):
    cond = None
    for field in fields:
        clause = field.contains(term)
        cond = clause if cond is None else (cond | clause)
    return {r.id for r in model.select(model.id).where(cond)}


def indexed(model, fields, term):
    return {r.id for r in model.select(model.id).where(backend.search_condition(fields, term))}


def test_trigram_search_returns_the_rows_of_a_like_scan(app):
    for i, name in enumerate(NAMES):
        make(models.Customer, name=name, address=f"浙江省{name[:2]}路{i}号", phone=f"0571-88{i:04d}")
    fields = backend.searchable(models.Customer)
    assert [f.name for f in fields] == ["code", "name", "phone", "industry", "address"]
    for term in TERMS:
        assert indexed(models.Customer, fields, term) == like_scan(models.Customer, fields, term), term
    assert len(indexed(models.Customer, fields, "西湖茶")) == 1
    assert len(indexed(models.Customer, fields, "alpha")) == 3
    # A 3+ character term really goes through the index, a shorter one through LIKE.
    query = models.Customer.select().where(backend.search_condition(fields, "西湖茶"))
    if backend.is_postgres():
        models.db.execute_sql("SET enable_seqscan = off")
        sql, params = query.sql()
        plan = "\n".join(r[0] for r in models.db.execute_sql("EXPLAIN " + sql, params).fetchall())
        assert "customer_name_trgm" in plan, plan
    else:
        assert "MATCH" in query.sql()[0]
        short = models.Customer.select().where(backend.search_condition(fields, "西湖")).sql()[0]
        assert "MATCH" not in short


def search_page(client, term):
    return client.get("/admin/customer/", query_string={"search": term}).get_data(as_text=True)


def test_search_stays_in_sync_after_create_edit_delete_and_anonymise(admin_client):
    customer = make(models.Customer, name="杭州西湖茶叶有限公司", phone="0571-87654321")
    assert "杭州西湖茶叶有限公司" in search_page(admin_client, "西湖茶叶")
    assert "杭州西湖茶叶有限公司" in search_page(admin_client, "87654321")

    customer.name = "宁波港物流集团"
    customer.save()
    assert "宁波港物流集团" not in search_page(admin_client, "西湖茶叶")
    assert "宁波港物流集团" in search_page(admin_client, "港物流")

    token = csrf_token(admin_client, f"/admin/customer/details/?id={customer.id}")
    response = admin_client.post("/admin/customer/anonymise/", data={"id": customer.id, "confirm": "1",
                                                                     "csrf_token": token})
    assert response.status_code == 302
    assert models.Customer.get_by_id(customer.id).name.startswith("已匿名客户")
    assert "已匿名客户" not in search_page(admin_client, "港物流")
    assert "已匿名客户" not in search_page(admin_client, "87654321")
    assert "已匿名客户" in search_page(admin_client, "已匿名客户")

    other = make(models.Customer, name="温州鞋业工厂")
    assert "温州鞋业工厂" in search_page(admin_client, "鞋业工")
    token = csrf_token(admin_client, "/admin/customer/")
    response = admin_client.post("/admin/customer/delete/", data={"id": other.id, "csrf_token": token})
    assert response.status_code == 302
    assert models.Customer.get_or_none(models.Customer.id == other.id) is None
    assert "温州鞋业工厂" not in search_page(admin_client, "鞋业工")
    if not backend.is_postgres():
        left = models.db.execute_sql('SELECT COUNT(*) FROM "customer_search" WHERE rowid = ?', (other.id,))
        assert left.fetchone()[0] == 0


def test_a_refused_save_leaves_the_search_index_as_it_was(app):
    customer = make(models.Customer, name="绍兴黄酒酿造厂")
    with pytest.raises(RuntimeError):
        with models.db.atomic():
            customer.name = "改了又撤销"
            customer.save()
            raise RuntimeError("roll back")
    fields = backend.searchable(models.Customer)
    assert indexed(models.Customer, fields, "黄酒酿") == {customer.id}
    assert indexed(models.Customer, fields, "又撤销") == set()


def list_count_label(html):
    match = re.search(r'class="nav-link active">[^<(]*\(([^)]*)\)', html)
    return match.group(1) if match else None


def test_counts_are_exact_up_to_the_bound_then_estimated(admin_client):
    bulk_customers(backend.COUNT_BOUND - 1)
    html = admin_client.get("/admin/customer/").get_data(as_text=True)
    assert list_count_label(html) == str(backend.COUNT_BOUND - 1)
    assert "精确计数" not in html

    bulk_customers(51, start=backend.COUNT_BOUND)
    total = backend.COUNT_BOUND + 50
    # No statistics yet: the list says only that there are more than the bound.
    html = admin_client.get("/admin/customer/").get_data(as_text=True)
    assert list_count_label(html) == f"超过 {backend.COUNT_BOUND:,}"
    assert "精确计数" in html
    backend.analyze()
    html = admin_client.get("/admin/customer/").get_data(as_text=True)
    assert list_count_label(html) == f"约 {total:,}"
    # The last page of the estimate is reachable; the exact count is one click away.
    assert list_count_label(admin_client.get("/admin/customer/?exact=1").get_data(as_text=True)) == str(total)
    filtered = admin_client.get("/admin/customer/?flt0_0=general").get_data(as_text=True)
    # SQLite has no per-filter estimate (says "more than"), PostgreSQL's planner gives one.
    assert list_count_label(filtered) in (f"超过 {backend.COUNT_BOUND:,}", f"约 {total:,}")
    assert admin_client.get("/admin/").status_code == 200


def bulk_complaints(customer, count, start=0):
    """Insert ``count`` complaints of ``customer`` in bulk (set-up data, no signals)."""
    rows = [dict(number=f"TS{customer.id:04d}{start + i:06d}", complainant="投诉人", customer=customer.id,
                 category="quality", content="批量投诉") for i in range(count)]
    with models.db.atomic():
        for first in range(0, len(rows), 500):
            models.Complaint.insert_many(rows[first:first + 500]).execute()


def test_a_department_managers_probed_list_is_counted_to_the_lower_bound(client, login_as):
    """Each complaint row is checked against its customer for a manager who sees one department:
    counted exactly up to PROBED_COUNT_BOUND, then "more than", exact on click; others' rows never counted."""
    mine, other = make(models.Department, name="一部"), make(models.Department, name="二部")
    bound = backend.PROBED_COUNT_BOUND
    bulk_complaints(make(models.Customer, name="一部客户", department=mine), bound)
    bulk_complaints(make(models.Customer, name="二部客户", department=other), 5)
    login_as("manager", department=mine)
    assert list_count_label(client.get("/admin/complaint/").get_data(as_text=True)) == str(bound)

    bulk_complaints(models.Customer.get(models.Customer.name == "一部客户"), 1, start=bound)
    html = client.get("/admin/complaint/").get_data(as_text=True)
    label = list_count_label(html)
    # SQLite has no estimate for a restricted list; PostgreSQL's planner gives one past the bound.
    assert label == f"超过 {bound:,}" or (label.startswith("约 ") and int(label[2:].replace(",", "")) > bound), label
    assert "精确计数" in html
    exact = client.get("/admin/complaint/?exact=1").get_data(as_text=True)
    assert list_count_label(exact) == str(bound + 1)
    # A user who sees everything is counted to the usual bound: exact here.
    assert backend.PROBED_COUNT_BOUND + 6 <= backend.COUNT_BOUND
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    login_as("admin", username="top", clearance="top_secret")
    assert list_count_label(client.get("/admin/complaint/").get_data(as_text=True)) == str(bound + 6)


def test_a_probed_lists_estimate_is_scaled_by_the_customers_the_user_sees(client, login_as):
    """Past its bound, a list whose rows are checked against their customer is estimated as the list without the
    secrecy condition times the share of customers the user sees — not the planner's fixed half of the rows
    (PostgreSQL) nor "more than" (SQLite)."""
    mine, other = make(models.Department, name="一部"), make(models.Department, name="二部")
    for i in range(50):
        customer = make(models.Customer, name=f"客户{i}", department=mine if i < 10 else other)
        bulk_complaints(customer, 120)
    backend.analyze()
    manager = login_as("manager", department=mine)
    assert access.customer_share(models.Complaint, manager) == pytest.approx(10 / 50)
    html = client.get("/admin/complaint/").get_data(as_text=True)
    assert list_count_label(html) == "约 1,200"
    assert list_count_label(client.get("/admin/complaint/?exact=1").get_data(as_text=True)) == "1200"
    # Not through their customer alone (loans: archive files), or the customer list itself: no share.
    assert access.customer_share(models.Loan, manager) is None
    assert access.customer_share(models.Customer, manager) is None


@pytest.fixture
def queries():
    """The SQL statements peewee sends."""
    with StatementLog() as log:
        yield log.statements


def grow(rows, department, owner):
    """Bring customers, communications and complaints to ``rows`` each (bulk, like an import)."""
    have = models.Customer.select().count()
    now = models.utcnow()
    long_ago = now - datetime.timedelta(days=400)
    customers = [dict(code=f"Q{have + i:07d}", name=f"客户{have + i}", created_at=long_ago, updated_at=now,
                      department=department, owner=owner, tier=("key", "general")[i % 2],
                      confidentiality=("normal", "normal", "secret")[i % 3]) for i in range(rows - have)]
    with models.db.atomic():
        for first in range(0, len(customers), 500):
            models.Customer.insert_many(customers[first:first + 500]).execute()
        ids = [c.id for c in models.Customer.select(models.Customer.id)]
        comms = [dict(customer=ids[i % len(ids)], at=now - datetime.timedelta(days=i % 200), summary=f"沟通{i}",
                      created_at=now, updated_at=now)
                 for i in range(models.Communication.select().count(), rows)]
        for first in range(0, len(comms), 500):
            models.Communication.insert_many(comms[first:first + 500]).execute()
        complaints = [dict(number=f"TSQ{i:07d}", complainant=f"投诉人{i}", customer=ids[i % len(ids)],
                           category="service", content="服务态度", received_at=now - datetime.timedelta(days=i % 30),
                           due_at=now - datetime.timedelta(days=1), created_at=now, updated_at=now)
                      for i in range(models.Complaint.select().count(), rows)]
        for first in range(0, len(complaints), 500):
            models.Complaint.insert_many(complaints[first:first + 500]).execute()
    for model in (models.Customer, models.Communication, models.Complaint):
        backend.rebuild_search(model)


PAGES = ("/admin/", "/admin/customer/", "/admin/customer/?page=1", "/admin/customer/?search=客户12",
         "/admin/communication/", "/admin/complaint/")


def is_estimate(statement):
    """True for a statement of a list's estimate: the planner's (EXPLAIN), a table's size (pg_class, sqlite_stat1),
    or the share of customers the user sees (the customer tally's conditional sum, access.customer_share)."""
    text = statement.lstrip("(")
    return (text.startswith("EXPLAIN") or "pg_class" in text or "sqlite_stat1" in text
            or ("customer_tally" in text and "CASE WHEN" in text))


def statements(client, queries):
    """Statements per page, leaving out the estimate (at most two a page): asked only once a count passes its
    bound, which a department's probed list does at 1,000 rows."""
    counts = {}
    for url in PAGES:
        queries.clear()
        response = client.get(url)
        assert response.status_code == 200, url
        estimates = [q for q in queries if is_estimate(q)]
        assert len(estimates) <= 2, (url, estimates)
        counts[url] = len(queries) - len(estimates)
        assert counts[url] > 0, url  # the log really sees the page's statements
    return counts


@pytest.mark.parametrize("who", ["top_secret_admin", "normal_sales"])
def test_queries_per_list_page_are_bounded_and_do_not_grow_with_the_table(app, client, queries, who):
    east = make(models.Department, name="华东销售部")
    if who == "top_secret_admin":
        user = make_user("boss", roles=("admin",), clearance="top_secret")
    else:
        user = make_user("seller", roles=("sales",), clearance="normal", department=east)
    login(client, user.username)
    grow(100, east.id, user.id)
    small = statements(client, queries)
    grow(10_000, east.id, user.id)
    large = statements(client, queries)
    home = large.pop("/admin/")
    small.pop("/admin/")
    assert small == large
    # The workbench: a capped count per flag rule; a rule finished in Python is asked a slice at a time.
    rules = [make for entries in policies.FLAGS.values() for _, make, _ in entries]
    sliced = sum(1 for make in rules if policies.engine.takes_ids(make))
    assert home <= 4 * len(rules) + 2 * dashboard.MAX_SLICES * sliced + 20, home
    # A list: the page, its bounded count, and per flag rule its switch, settings and a page-only query or two.
    badges = max(len(entries) for entries in policies.FLAGS.values())
    assert max(large.values()) <= 25 + 3 * badges, large
    page = client.get("/admin/customer/").get_data(as_text=True)
    assert page.count("客户") > 50


def test_a_deep_page_of_a_restricted_user_holds_the_next_visible_customers(app, client):
    """Page 2 of a normal-clearance clerk: the visible customers 51-100 by id, descending, none hidden."""
    now = models.utcnow()
    levels = ("normal", "secret", "normal", "top_secret", "normal")
    rows = [dict(code=f"DEEP{i:05d}", name=f"翻页客户{i}", confidentiality=levels[i % len(levels)],
                 created_at=now, updated_at=now) for i in range(260)]
    with models.db.atomic():
        models.Customer.insert_many(rows).execute()
    clerk = make_user("clerk_low", roles=("clerk",), clearance="normal")
    login(client, clerk.username)
    visible = [r.code for r in models.Customer.select(models.Customer.code)
               .where(models.Customer.confidentiality == "normal").order_by(models.Customer.id.desc())]
    page = client.get("/admin/customer/?page=1").get_data(as_text=True)
    shown = list(dict.fromkeys(re.findall(r"DEEP\d{5}", page)))
    assert shown == visible[50:100]


def test_a_department_managers_pages_and_count_hold_exactly_the_customers_they_see(app, client, login_as):
    """A manager sees their department's customers of their clearance and their own elsewhere: each page in id
    order is read from the parts of that condition merged (views/access.py id_order_branches), and must hold
    exactly what the plain condition holds — none hidden, none twice, with or without a filter."""
    mine, other = make(models.Department, name="一部"), make(models.Department, name="二部")
    manager = login_as("manager", department=mine, clearance="normal")
    now = models.utcnow()
    levels = ("normal", "secret", "normal", "normal", "top_secret")
    stages = ("prospect", "growth")
    rows = []
    for i in range(600):
        department = (mine.id, other.id, None)[i % 3]
        # Every seventh customer is the manager's own, in any department (or none).
        rows.append(dict(code=f"DEPT{i:05d}", name=f"部门客户{i}", confidentiality=levels[i % len(levels)],
                         department=department, owner=manager.id if i % 7 == 0 else None,
                         stage=stages[i % 2], created_at=now, updated_at=now))
    with models.db.atomic():
        models.Customer.insert_many(rows).execute()
    customer = models.Customer
    sees = (customer.confidentiality == "normal") & ((customer.department == mine) | (customer.owner == manager.id))
    visible = [c.code for c in customer.select(customer.code).where(sees).order_by(customer.id.desc())]
    assert len(visible) > 150 and any(r["owner"] and r["department"] != mine.id for r in rows)

    for page in range(len(visible) // 50 + 1):
        html = client.get(f"/admin/customer/?page={page}").get_data(as_text=True)
        assert list(dict.fromkeys(re.findall(r"DEPT\d{5}", html))) == visible[page * 50:page * 50 + 50], page
    assert list_count_label(html) == str(len(visible))

    view = next(v for v in app.extensions["admin"][0]._views if getattr(v, "model", None) is models.Customer)
    stage = next(i for i, f in enumerate(view._filters)
                 if getattr(f.column, "name", None) == "stage" and type(f).__name__ == "FilterEqualOption")
    growing = [c.code for c in customer.select(customer.code).where(sees, customer.stage == "growth")
               .order_by(customer.id.desc())]
    html = client.get(f"/admin/customer/?flt0_{stage}=growth&page=1").get_data(as_text=True)
    assert list(dict.fromkeys(re.findall(r"DEPT\d{5}", html))) == growing[50:100]
    assert list_count_label(html) == str(len(growing))
    assert list_count_label(client.get("/admin/customer/?exact=1").get_data(as_text=True)) == str(len(visible))


def test_a_count_started_aside_counts_what_the_caller_would(app):
    """backend.count_later: on PostgreSQL the count runs on another pooled connection, in the process's background
    thread, while the caller goes on; inside a transaction it runs on the caller's own connection, the only one
    that sees the uncommitted rows. On SQLite it always runs at once, in the caller's thread."""
    for i in range(3):
        make(models.Partner, name=f"合作方{i}")
    with StatementLog() as log:
        assert backend.count_later(models.Partner.select(), 99)() == 3
    assert len(log.statements) == 1 and "bounded" in log.statements[0]
    assert log.threads[0].startswith("counts-aside") == ON_POSTGRES
    # Read at most bound + 1 rows, as bounded_count does.
    assert backend.count_later(models.Partner.select(), 1)() == 2
    with models.db.atomic() as transaction:
        make(models.Partner, name="未提交")
        with StatementLog() as log:
            assert backend.count_later(models.Partner.select(), 99)() == 4
        assert not log.threads[0].startswith("counts-aside")
        transaction.rollback()
    assert backend.count_later(models.Partner.select(), 99)() == 3


def test_the_workbench_tiles_are_the_same_counted_aside_or_inline(app, client, login_as):
    """The workbench starts its flag counts first and waits for them last (aside on PostgreSQL): every tile has
    the count, cap and colour it has when counted one after the other on the request's connection."""
    mine = make(models.Department, name="一部")
    manager = login_as("manager", department=mine, clearance="normal")
    bulk_customers(120, department=mine.id)  # unconfirmed (CUS-2), more than the tile shows
    bulk_customers(3, start=120, department=mine.id, owner=manager.id)
    bulk_customers(4, start=123)  # another department's: not counted
    long_ago = models.utcnow() - datetime.timedelta(days=400)
    models.Customer.insert_many([dict(code=f"OLD{i}", name=f"久未联系{i}", tier="key", created_at=long_ago,
                                      updated_at=long_ago, department=mine.id if i < 5 else None)
                                 for i in range(7)]).execute()  # CUS-1: five in the department
    with StatementLog() as log:
        assert client.get("/admin/").status_code == 200
    aside = [sql for sql, thread in zip(log.statements, log.threads) if thread.startswith("counts-aside")]
    assert bool(aside) == ON_POSTGRES and all("bounded" in sql for sql in aside)
    with app.test_request_context():
        started = dashboard.settled(dashboard.started_flag_tiles(manager))
        with models.db.atomic():  # inside a transaction every count runs inline
            inline = dashboard.settled(dashboard.started_flag_tiles(manager))
    shown = [(t["key"], t["count"], t["capped"], t["kind"]) for t in started]
    assert shown == [(t["key"], t["count"], t["capped"], t["kind"]) for t in inline]
    counts = {key: (count, capped) for key, count, capped, _ in shown}
    assert counts["CUS-2-Customer"] == (dashboard.COUNT_CAP, True) and counts["CUS-1-Customer"] == (5, False)


def test_a_lists_count_runs_while_its_page_is_read(admin_client, monkeypatch):
    """A list starts its bounded count first and waits for it last: on PostgreSQL that one statement runs on
    the second connection while the page's rows and badges are read; the pager shows the same count."""
    bulk_customers(60)
    waited = []
    started = backend.count_later

    def watched(query, bound):
        wait = started(query, bound)

        def waiting():
            waited.append(len(log.statements))  # how many statements the request had sent by then
            return wait()
        return waiting
    monkeypatch.setattr(backend, "count_later", watched)
    with StatementLog() as log:
        html = admin_client.get("/admin/customer/").get_data(as_text=True)
    aside = [sql for sql, thread in zip(log.statements, log.threads) if thread.startswith("counts-aside")]
    assert len(aside) == (1 if ON_POSTGRES else 0) and all(sql.startswith("SELECT COUNT(*)") for sql in aside)
    # Waited for only once the page's rows (their full columns) and its badges had been read.
    rows = next(i for i, sql in enumerate(log.statements) if '"t1"."credit_note"' in sql)
    assert len(waited) == 1 and waited[0] > rows + 1, (waited, rows)
    assert list_count_label(html) == "60"
    html = admin_client.get("/admin/customer/?page=1").get_data(as_text=True)
    assert list_count_label(html) == "60" and html.count("BULK00000") == 10


def test_a_pages_ids_sent_as_one_value_select_the_rows_a_list_of_them_does(app):
    bulk_customers(60)
    all_ids = [row.id for row in models.Customer.select(models.Customer.id).order_by(models.Customer.id)]
    Customer = models.Customer

    def chosen(condition):
        return [row.id for row in Customer.select(Customer.id).where(condition).order_by(Customer.id)]

    for ids in (all_ids[:50], all_ids[10:11], all_ids[::7] + [10 ** 9], []):
        assert chosen(backend.among(Customer.id, ids)) == chosen(Customer.id.in_(ids)) == sorted(set(ids) - {10 ** 9})
    # Ids that are not integers (typed into a URL) keep the plain list, and select the same.
    typed = [str(all_ids[0]), str(all_ids[1])]
    assert chosen(backend.among(Customer.id, typed)) == all_ids[:2]
    # A subquery stays a subquery: it is not read into Python first.
    newest = Customer.select(Customer.id).order_by(Customer.id.desc()).limit(3)
    with StatementLog() as log:
        condition = backend.among(Customer.id, newest)
    assert not log.statements and chosen(condition) == all_ids[-3:]
    # One value whatever the number of ids: the statement's text is the same for a page of 50 and of 3.
    texts = {models.db.get_sql_context().sql(Customer.select(Customer.id).where(backend.among(Customer.id, ids)))
             .query()[0] for ids in (all_ids[:50], all_ids[:3])}
    assert len(texts) == 1 and texts.pop().count(models.db.param) == 1


def _fk_targets_of_lists():
    from peewee import ForeignKeyField

    targets = set()
    for model in (m for m in models.MODELS if hasattr(m, "admin_options")):
        for name in model.admin_options().get("list", ()):
            field = model._meta.fields.get(name)
            if isinstance(field, ForeignKeyField):
                targets.add(field.rel_model)
    return sorted(targets, key=lambda m: m.__name__)


def test_a_lists_related_rows_read_only_their_names_and_are_named_as_when_read_whole(app, admin_client):
    from views.base import shown_columns

    targets = _fk_targets_of_lists()
    assert {m.__name__ for m in targets} >= {"User", "Customer", "ArchiveFile", "Complaint", "Department"}
    for model in targets:
        record = make(model)
        alias = model.alias()
        narrow = model.select(*shown_columns(alias)).from_(alias).where(alias.id == record.id).get()
        assert str(narrow) == str(model.get_by_id(record.id)), model.__name__
    # A customer's list of complaints reads the customer's name, not its thirty columns.
    customer = make(models.Customer, name="只读名称客户")
    make(models.Complaint, customer=customer)
    with StatementLog() as log:
        html = admin_client.get("/admin/complaint/").get_data(as_text=True)
    assert "只读名称客户" in html
    page = next(s for s in log.statements if s.startswith("SELECT") and '"t1"."number"' in s and "customer" in s)
    assert '"address"' not in page and '"password_hash"' not in page
