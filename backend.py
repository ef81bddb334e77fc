"""What differs between SQLite and PostgreSQL, in one place: counts, text search, casts.

Everything else in the console speaks portable peewee. This module answers the few
questions whose SQL is not the same on both databases:

- ``estimate_rows(model)``: the planner's row count of a table (SQLite ``sqlite_stat1``
  after ``ANALYZE``, PostgreSQL ``pg_class.reltuples``), for counts past the bound;
- ``bounded_count(query, bound)``: an exact count that stops reading at ``bound + 1``;
  ``count_later`` starts one and returns what waits for it (on PostgreSQL it runs meanwhile, on a
  second connection of the process);
- the substring-search index of a large table's text columns: an FTS5 ``trigram``
  table on SQLite, ``pg_trgm`` GIN indexes on PostgreSQL (``install_search``,
  ``search_condition``, ``sync_search``);
- ``as_integer(expr)``: a text column read as an integer id;
- ``among(field, ids)``: ``field IN (<ids>)`` for a page's ids, as one parameter.
"""
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from peewee import SCOPE_SOURCE
from peewee import SQL
from peewee import Case
from peewee import CompoundSelectQuery
from peewee import Entity
from peewee import ModelAlias
from peewee import NodeList
from peewee import PostgresqlDatabase
from peewee import Value
from peewee import fn

from playhouse.signals import post_delete
from playhouse.signals import post_save

import models

# Counts are exact up to this many rows; past it the list shows an estimate (exact on click).
COUNT_BOUND = 10_000
# The bound of a list whose every row is checked against its customer one by one for a user who sees one
# department (a complaint list of a department manager): counting 10,000 visible rows there means probing
# ~100,000 customers (~90 ms at 1M on SQLite); 1,000 costs a tenth.
PROBED_COUNT_BOUND = 1_000
# Pooled connections are closed and replaced after this many seconds.
POOL_RECYCLE_SECONDS = 600
# Substring search goes through the trigram index from this many characters on.
TRIGRAM_MIN = 3


def database():
    """Return the bound database object (the proxy's target)."""
    return models.db.obj


def is_postgres():
    """Return True when the console runs on PostgreSQL."""
    return isinstance(database(), PostgresqlDatabase)


def write_transaction():
    """A transaction that writes: on SQLite it takes the write lock at once (BEGIN IMMEDIATE).

    Concurrent writers then wait for each other at the start (busy timeout) instead of failing at
    their first write after having read.
    """
    return models.db.atomic() if is_postgres() else models.db.atomic("IMMEDIATE")


def hold_off_writers(model):
    """Inside ``write_transaction()``: make other writers of ``model``'s table wait until it ends.

    SQLite's BEGIN IMMEDIATE already holds the database's one write lock; PostgreSQL takes SHARE ROW EXCLUSIVE
    on the table, which conflicts with every INSERT, UPDATE and DELETE of it but not with reads.
    """
    if is_postgres():
        models.db.execute_sql(f'LOCK TABLE "{model._meta.table_name}" IN SHARE ROW EXCLUSIVE MODE')


# ---------------------------------------------------------------- connections

def connect_options(url):
    """Extra connection parameters for the database at ``url``.

    PostgreSQL: no JIT compilation. The console's statements are short (a page, a bounded count),
    but a LIMIT over a correlated EXISTS is costed past ``jit_above_cost`` and compiling took longer
    (~10 ms) than running the statement.
    """
    if url.startswith(("postgres", "postgresql")):
        return {"options": "-c jit=off"}
    return {}


def pooled_url(url):
    """Return ``url`` with peewee's pooled scheme (``sqlite+pool://``, ``postgresql+pool://``)."""
    scheme, rest = url.split("://", 1)
    return url if scheme.endswith("+pool") else f"{scheme}+pool://{rest}"


def pool_options(url):
    """Pool settings: no cap (a gunicorn sync worker holds one connection at a time, a threaded
    server one per busy thread); connections older than ``POOL_RECYCLE_SECONDS`` are closed when given
    back. A pooled SQLite connection may be handed to another thread of the process, never to two at once.
    """
    options = {"max_connections": None, "stale_timeout": POOL_RECYCLE_SECONDS}
    if url.startswith("sqlite"):
        options["check_same_thread"] = False
    return options


def release_idle_connections():
    """Close the pooled connections no request is using (before binding another database)."""
    target = models.db.obj
    if target is not None and hasattr(target, "close_idle"):
        target.close_idle()


# ---------------------------------------------------------------- counts

def _bounded_count_sql(query, bound):
    inner = query.order_by().limit(bound + 1)
    if not isinstance(query, CompoundSelectQuery):
        inner = inner.select(SQL("1"))
    sql, params = inner.sql()
    return f"SELECT COUNT(*) FROM ({sql}) AS bounded", params


def bounded_count(query, bound=None):
    """Return the number of rows of ``query``, reading at most ``bound + 1`` of them."""
    sql, params = _bounded_count_sql(query, COUNT_BOUND if bound is None else bound)
    return models.db.execute_sql(sql, params).fetchone()[0]


_ASIDE = {}
_ASIDE_LOCK = threading.Lock()


def _aside_executor():
    """The process's background thread for counts (a new one after a fork: threads do not survive it)."""
    pid = os.getpid()
    with _ASIDE_LOCK:
        if _ASIDE.get("pid") != pid:
            _ASIDE.update(pid=pid, executor=ThreadPoolExecutor(max_workers=1, thread_name_prefix="counts-aside"))
        return _ASIDE["executor"]


def _count_aside(database, sql, params):
    # The pool hands this thread its own connection (peewee keeps connection state per thread).
    with database.connection_context():
        return database.execute_sql(sql, params).fetchone()[0]


def count_later(query, bound):
    """Start ``bounded_count(query, bound)`` and return a function that waits for it and returns it.

    On PostgreSQL the count is sent, as soon as its SQL is written, to a second pooled connection of the
    process by a background thread, and the caller goes on building the next one: a page that shows many
    independent counts (the workbench's tiles) has the database count while Python writes SQL (the idea of
    Rails' ``load_async``). On SQLite, or inside a transaction (another connection would not see its
    uncommitted rows), it runs at once on the caller's connection.
    """
    sql, params = _bounded_count_sql(query, bound)
    if not is_postgres() or models.db.in_transaction():
        value = models.db.execute_sql(sql, params).fetchone()[0]
        return lambda: value
    return _aside_executor().submit(_count_aside, database(), sql, params).result


class Estimate(int):
    """A row count past the bound: an int for the pager, shown as "约 N" (or "超过 N" when unknown)."""

    exact = False

    def __new__(cls, value, known=True, bound=COUNT_BOUND):
        obj = super().__new__(cls, value)
        obj.known = known
        obj.bound = bound
        return obj

    def __str__(self):
        return f"约 {int(self):,}" if self.known else f"超过 {self.bound:,}"


def count_rows_later(query, model, filtered=False, exact=False, bound=None, estimate=None):
    """Start counting the rows of a list; return a function that returns the count: exact up to ``bound``,
    else an ``Estimate`` (exact when asked).

    The bounded count is started at once (``count_later``: on PostgreSQL it runs meanwhile, while the list
    reads its page); the estimate past the bound is asked when the count is waited for: the caller's
    ``estimate()`` when it gives one, else the planner's (PostgreSQL) or the table's (SQLite, unfiltered).
    """
    bound = COUNT_BOUND if bound is None else bound
    if exact:
        value = query.order_by().count()
        return lambda: value
    wait = count_later(query, bound)

    def finish():
        counted = wait()
        if counted <= bound:
            return counted
        guess = estimate() if estimate is not None else None
        if guess is None:
            guess = estimate_query_rows(query) if is_postgres() else (None if filtered else estimate_rows(model))
        if guess is None or guess <= bound:
            return Estimate(bound + 1, known=False, bound=bound)
        return Estimate(guess, bound=bound)
    return finish


def estimate_rows(model):
    """Return the planner's estimate of the number of rows of ``model``'s table (None when unknown)."""
    table = model._meta.table_name
    if is_postgres():
        row = models.db.execute_sql("SELECT reltuples FROM pg_class WHERE relname = %s AND relkind = 'r'",
                                    (table,)).fetchone()
        return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None
    try:
        rows = models.db.execute_sql("SELECT stat FROM sqlite_stat1 WHERE tbl = ? AND idx IS NULL "
                                     "UNION ALL SELECT stat FROM sqlite_stat1 WHERE tbl = ?",
                                     (table, table)).fetchall()
    except Exception:  # noqa: BLE001 - no sqlite_stat1 before the first ANALYZE
        return None
    for (stat,) in rows:
        first = str(stat).split(" ")[0]
        if first.isdigit():
            return int(first)
    return None


def estimate_query_rows(query):
    """Return the planner's estimate of the rows ``query`` returns (PostgreSQL), else None."""
    if not is_postgres():
        return None
    sql, params = query.order_by().sql()
    plan = models.db.execute_sql("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()[0]
    if isinstance(plan, str):
        import json

        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def analyze():
    """Refresh the planner statistics (counts' estimates and index choice)."""
    models.db.execute_sql("ANALYZE")


# ---------------------------------------------------------------- planner hints
class _IndexedAlias(ModelAlias):
    """A model alias read through a named index (SQLite ``INDEXED BY``)."""

    def __init__(self, model, index):
        super().__init__(model)
        self.__dict__["index_name"] = index

    def __sql__(self, ctx):
        super().__sql__(ctx)
        if ctx.scope == SCOPE_SOURCE:
            ctx.literal(" INDEXED BY ").sql(Entity(self.index_name))
        return ctx


def probe_each_row(subquery):
    """Return the correlated EXISTS ``subquery`` so that PostgreSQL probes it row by row (``OFFSET 0``).

    Left alone, PostgreSQL turns an EXISTS under an OR (``customer IS NULL OR EXISTS …``) into a hashed
    subplan: it first reads every visible customer (a department's 100,000 at 1M: ~130 ms), even for a page
    of 50 rows or a count that stops at 1,000. ``OFFSET 0`` keeps it a per-row probe by primary key, which
    stops with the page. Only for a condition many customers meet (a department's tenth of them, a clearance
    level's nearly all), not for a user who sees only their own few customers, where the hash is the better
    plan. SQLite always probes.
    """
    return subquery.offset(0) if is_postgres() else subquery


def probe_source(model, index):
    """Return an alias of ``model`` for a probe by primary key that reads only ``index`` (covering).

    SQLite always probes an INTEGER PRIMARY KEY in the table itself, whose rows are wide (a customer's
    ~300 bytes): thousands of probes then read thousands of scattered pages. ``INDEXED BY`` a narrow index
    beginning with the id reads a small one instead. PostgreSQL's planner makes that choice itself.
    """
    return model.alias() if is_postgres() else _IndexedAlias(model, index)


def unselective(expr):
    """Return ``expr`` marked as a poor index choice: a condition most rows meet (SQLite's unary ``+``).

    PostgreSQL's planner weighs the column statistics itself; SQLite's, with only the average rows
    per value in ``sqlite_stat1``, would start from the index and sort a million rows.
    """
    if is_postgres():
        return expr
    return NodeList((SQL("+"), expr), glue="")


def merged_in_order(parts, order, limit, offset):
    """Return the rows ``limit`` from ``offset`` of the disjoint queries ``parts`` together, in ``order``.

    Each part is read in ``order`` from its own index and the parts are merged (SQLite: a MERGE of the
    UNION ALL; PostgreSQL: a Merge Append, which its planner takes when each part is limited to the rows
    the page can need), so a deep page never sorts all of them.
    """
    if is_postgres():
        parts = [part.order_by(*order).limit(offset + limit) for part in parts]
    return union_all(parts).order_by(*order).limit(limit).offset(offset)


def union_all(parts):
    """Return the queries ``parts`` (disjoint, one column) as one: ``part UNION ALL part …``."""
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.union_all(part)
    return merged


def unindexed(expr):
    """Return ``expr`` in a form no index serves, on either database: a condition most rows meet, which should
    filter the rows a selective condition found rather than be looked up itself.

    SQLite: the unary ``+`` (see ``unselective``). PostgreSQL: ``COALESCE(expr, expr)``, the same value that
    no index matches: its planner otherwise ANDs a bitmap of a low-cardinality index into the plan (CUS-1's
    tiers cover 83% of the customers: a department manager's tile count 52 → 15 ms at 1M).
    """
    return fn.COALESCE(expr, expr) if is_postgres() else unselective(expr)


# ---------------------------------------------------------------- casts
def as_integer(expr):
    """Return ``expr`` (a text column holding a record id) as an integer expression."""
    if is_postgres():
        return Case(None, [(expr.regexp("^[0-9]{1,18}$"), expr.cast("bigint"))], None)
    # SQLite compares a text value with an INTEGER column numerically (column affinity).
    return expr


def among(field, ids):
    """Return ``field IN (<ids>)`` with the ids (integers) sent as one parameter, not one placeholder each.

    A page's flags and badges ask about its 50 ids in a dozen statements; peewee writes each id of each list
    as its own placeholder (0.18 ms a list). One value instead: a JSON array read by ``json_each`` (SQLite),
    an array compared with ``= ANY`` (PostgreSQL). The statement's text is then the same for every page
    (Python's sqlite3 keeps prepared statements by their text, per connection).
    Anything but a collection of integers (a subquery, typed text) keeps peewee's own ``IN``.
    """
    if not isinstance(ids, (list, tuple, set, frozenset)) or not ids or not all(type(v) is int for v in ids):
        return field.in_(ids)
    ids = list(ids)
    if is_postgres():
        return field == fn.ANY(Value(ids, unpack=False))
    return field.in_(SQL("(SELECT value FROM json_each(?))", [json.dumps(ids)]))


# ---------------------------------------------------------------- substring search
def search_table(model):
    """Return the name of the FTS5 table that indexes ``model`` on SQLite."""
    return f"{model._meta.table_name}_search"


def searchable(model):
    """Return the own text fields of ``model`` that the trigram index covers (``Meta.admin['fulltext']``)."""
    names = model.admin_options().get("fulltext", ()) if hasattr(model, "admin_options") else ()
    return [model._meta.fields[n] for n in names]


def install_search(schema):
    """Create the trigram index of every model that declares ``fulltext`` (idempotent)."""
    for model in schema:
        fields = searchable(model)
        if not fields:
            continue
        table = model._meta.table_name
        if is_postgres():
            models.db.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            for field in fields:
                models.db.execute_sql(
                    f'CREATE INDEX IF NOT EXISTS "{table}_{field.column_name}_trgm" '
                    f'ON "{table}" USING gin ("{field.column_name}" gin_trgm_ops)')
            continue
        name = search_table(model)
        columns = ", ".join(f.column_name for f in fields)
        # IMMEDIATE: several server processes starting at once create and fill it once.
        with models.db.atomic("IMMEDIATE"):
            exists = models.db.execute_sql("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone()
            if exists:
                continue
            models.db.execute_sql(f'CREATE VIRTUAL TABLE "{name}" USING fts5({columns}, tokenize="trigram")')
            models.db.execute_sql(f'INSERT INTO "{name}"(rowid, {columns}) SELECT id, {columns} FROM "{table}"')


def install_order_indexes(schema):
    """PostgreSQL: an index on (confidentiality, id) of every table with a clearance column (idempotent).

    A restricted user's list in id order, deep pages included, is then an index-only scan of the
    visible level; a SQLite index already ends with the rowid, so the plain column index serves there.
    """
    if not is_postgres():
        return
    for model in schema:
        field = model._meta.fields.get("confidentiality")
        if field is None or model._meta.primary_key.name != "id":
            continue
        table = model._meta.table_name
        models.db.execute_sql(f'CREATE INDEX IF NOT EXISTS "{table}_confidentiality_id" '
                              f'ON "{table}" ("{field.column_name}", "id")')


def sync_search(model, instance, deleted=False):
    """Bring the SQLite search table of ``model`` in line with ``instance`` (PostgreSQL indexes itself)."""
    fields = searchable(model)
    if not fields or is_postgres() or instance._pk is None:
        return
    name = search_table(model)
    models.db.execute_sql(f'DELETE FROM "{name}" WHERE rowid = ?', (instance._pk,))
    if deleted:
        return
    columns = ", ".join(f.column_name for f in fields)
    marks = ", ".join("?" for _ in fields)
    values = [getattr(instance, f.name) or "" for f in fields]
    models.db.execute_sql(f'INSERT INTO "{name}"(rowid, {columns}) VALUES (?, {marks})', [instance._pk, *values])


def rebuild_search(model):
    """Refill the SQLite search table of ``model`` from its table (after bulk loads)."""
    fields = searchable(model)
    if not fields or is_postgres():
        return
    name = search_table(model)
    columns = ", ".join(f.column_name for f in fields)
    models.db.execute_sql(f'DELETE FROM "{name}"')
    models.db.execute_sql(f'INSERT INTO "{name}"(rowid, {columns}) SELECT id, {columns} FROM '
                          f'"{model._meta.table_name}"')


def _escape_like(word):
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_condition(fields, word):
    """Return a condition that holds when one of ``fields`` (own fields of one model) contains ``word``.

    Fields covered by the trigram index go through it (FTS5 ``MATCH`` on SQLite, ``ILIKE`` with a
    ``pg_trgm`` GIN index on PostgreSQL); shorter terms and other fields use a plain ``LIKE``.
    """
    fields = list(fields)
    model = fields[0].model
    indexed = [f for f in fields if f in searchable(model)] if len(word) >= TRIGRAM_MIN else []
    cond = None
    for field in fields:
        if field not in indexed:
            cond = field.contains(word) if cond is None else (cond | field.contains(word))
    if not indexed:
        return cond
    if is_postgres():
        for field in indexed:
            clause = NodeList((field, SQL("ILIKE"), f"%{_escape_like(word)}%", SQL("ESCAPE '\\'")))
            cond = clause if cond is None else (cond | clause)
        return cond
    phrase = '"' + word.replace('"', '""') + '"'
    name = search_table(model)
    columns = " ".join(f.column_name for f in indexed)
    matches = SQL(f'(SELECT rowid FROM "{name}" WHERE "{name}" MATCH ?)', ["{" + columns + "} : " + phrase])
    clause = model._meta.primary_key.in_(matches)
    return clause if cond is None else (cond | clause)


def _sync_receiver(sender, instance, created=None):
    if isinstance(instance, models.BaseModel) and searchable(type(instance)):
        sync_search(type(instance), instance)


def _delete_receiver(sender, instance):
    if isinstance(instance, models.BaseModel) and searchable(type(instance)):
        sync_search(type(instance), instance, deleted=True)


def connect_search_sync():
    """Keep the SQLite search tables in step with every save and delete (connected once, at import)."""
    for model in models.MODELS:
        if searchable(model):
            post_save.connect(_sync_receiver, name=f"search-sync-{model.__name__}", sender=model)
            post_delete.connect(_delete_receiver, name=f"search-drop-{model.__name__}", sender=model)


connect_search_sync()
