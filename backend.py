"""What differs between SQLite and PostgreSQL, in one place: counts, text search, casts.

Everything else in the console speaks portable peewee. This module answers the few
questions whose SQL is not the same on both databases:

- ``estimate_rows(model)``: the planner's row count of a table (SQLite ``sqlite_stat1``
  after ``ANALYZE``, PostgreSQL ``pg_class.reltuples``), for counts past the bound;
- ``bounded_count(query, bound)``: an exact count that stops reading at ``bound + 1``;
- the substring-search index of a large table's text columns: an FTS5 ``trigram``
  table on SQLite, ``pg_trgm`` GIN indexes on PostgreSQL (``install_search``,
  ``search_condition``, ``sync_search``);
- ``as_integer(expr)``: a text column read as an integer id.
"""
from peewee import SQL
from peewee import Case
from peewee import NodeList
from peewee import PostgresqlDatabase

import models

# Counts are exact up to this many rows; past it the list shows an estimate (exact on click).
COUNT_BOUND = 10_000
# Substring search goes through the trigram index from this many characters on.
TRIGRAM_MIN = 3


def database():
    """Return the bound database object (the proxy's target)."""
    return models.db.obj


def is_postgres():
    """Return True when the console runs on PostgreSQL."""
    return isinstance(database(), PostgresqlDatabase)


# ---------------------------------------------------------------- counts
def bounded_count(query, bound=COUNT_BOUND):
    """Return the number of rows of ``query``, reading at most ``bound + 1`` of them."""
    inner = query.order_by().select(SQL("1")).limit(bound + 1)
    return models.db.execute_sql(f"SELECT COUNT(*) FROM ({_sql(inner)}) AS bounded", _params(inner)).fetchone()[0]


def _sql(query):
    return query.sql()[0]


def _params(query):
    return query.sql()[1]


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


# ---------------------------------------------------------------- casts
def as_integer(expr):
    """Return ``expr`` (a text column holding a record id) as an integer expression."""
    if is_postgres():
        return Case(None, [(expr.regexp("^[0-9]{1,18}$"), expr.cast("bigint"))], None)
    # SQLite compares a text value with an INTEGER column numerically (column affinity).
    return expr


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
        exists = models.db.execute_sql("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone()
        if exists:
            continue
        columns = ", ".join(f.column_name for f in fields)
        models.db.execute_sql(f'CREATE VIRTUAL TABLE "{name}" USING fts5({columns}, tokenize="trigram")')
        models.db.execute_sql(f'INSERT INTO "{name}"(rowid, {columns}) SELECT id, {columns} FROM "{table}"')


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


def search_condition(field, word):
    """Return a condition on ``field`` (indexed for search) that holds when it contains ``word``."""
    model = field.model
    if len(word) < TRIGRAM_MIN or field not in searchable(model):
        return field.contains(word)
    if is_postgres():
        # ILIKE with a trigram GIN index (gin_trgm_ops) is index-assisted for 3+ characters.
        return NodeList((field, SQL("ILIKE"), f"%{_escape_like(word)}%", SQL("ESCAPE '\\'")))
    phrase = '"' + word.replace('"', '""') + '"'
    name = search_table(model)
    matches = SQL(f'(SELECT rowid FROM "{name}" WHERE "{name}" MATCH ?)',
                  [f"{field.column_name} : {phrase}"])
    return model._meta.primary_key.in_(matches)

