"""Import (导入) from XLSX and CSV for every record type, row by row through the normal save path.

1. The template's headers are the Chinese field labels of the record type's form.
2. An upload is parsed into an ``ImportJob``; the preview shows the first rows with per-cell errors.
3. Running the job saves each row with ``save()`` inside a savepoint, as the uploading user, so the
   policies, the audit log and the permission matrix hold; a failing row is reported, the rest go on.
4. A row that matches an existing record by its natural key (``Meta.admin["natural_key"]``, default
   the unique fields) updates it, or is skipped when nothing changed: re-importing a file adds nothing.
"""
import csv
import datetime
import decimal
import io
import json
import threading

import openpyxl
from flask import Response
from flask import abort
from flask import current_app
from flask import flash
from flask import jsonify
from flask import redirect
from flask import request
from flask import url_for
from flask_admin import expose
from flask_login import current_user
from peewee import BooleanField
from peewee import DateField
from peewee import DateTimeField
from peewee import DecimalField
from peewee import FloatField
from peewee import ForeignKeyField
from peewee import IntegerField
from peewee import IntegrityError

import backend
import models
from policies import PolicyViolation
from policies import engine
from clock import to_utc
from views import access
from views import fields as vf
from views.base import SecureView
from views.base import lookup_fields
from views.screens import screen_models

PREVIEW_ROWS = 20
PREVIEW_BAD_ROWS = 30  # rows with errors shown after the first PREVIEW_ROWS
RESULT_ROWS = 500  # rows of the result table (failed rows first); the failed-rows download has them all
MAX_ROWS = 50000
BATCH = 200  # rows per transaction (each row in its own savepoint): one disk sync per batch
TRUE_WORDS = {"是", "1", "true", "yes", "y", "√", "✓", "对"}
FALSE_WORDS = {"否", "0", "false", "no", "n", "×", "", "不"}
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d")
DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
                    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")


class CellError(ValueError):
    """A cell's value cannot be read as its field's type; the message is for a person."""


def importable_models(user):
    """Return the record types ``user`` may create, with a screen, in menu order."""
    return [m for m in screen_models() if not m.admin_options().get("read_only_screen")
            and access.can(user, m, "create") and m is not models.ImportJob]


def model_named(name):
    model = getattr(models, name or "", None)
    return model if isinstance(model, type) and issubclass(model, models.BaseModel) and model in models.MODELS else None


def import_fields(model):
    """Return the fields a person fills for ``model`` (its form's fields), in declaration order."""
    opts = model.admin_options()
    skip = set(models.BaseModel.AUDIT_FIELDS) | set(opts.get("readonly", ())) | set(opts.get("form_exclude", ()))
    workflow = models.workflow_of(model)
    if workflow is not None:
        skip |= set(workflow.owned(model))  # states, stamps and sign-offs move only through their actions
    auto = (opts.get("auto_number") or (None,))[0]
    result = []
    for name, field in model._meta.fields.items():
        if field.primary_key or (name in skip and name != auto):
            continue
        result.append(field)
    return result


def header(field):
    return field.verbose_name or field.name


def required(field, model):
    auto = (model.admin_options().get("auto_number") or (None,))[0]
    return not field.null and field.default is None and field.name != auto


def natural_keys(model):
    """Return the natural keys of ``model`` as tuples of field names, tried in order."""
    declared = model.admin_options().get("natural_key")
    if declared:
        return [k if isinstance(k, tuple) else (k,) for k in declared]
    return [(name,) for name, f in model._meta.fields.items() if f.unique and not f.primary_key]


# ---------------------------------------------------------------- reading cells
def _text(value):
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def resolve_fk(field, raw, user, cache=None):
    """Return the id of the related record named ``raw`` (its name, code or username), visible to ``user``.

    ``cache`` (a dict kept for one file) remembers answers: a file names the same owner on every row.
    """
    rel = field.rel_model
    text = _text(raw)
    if cache is not None:
        key = (rel, text)
        if key not in cache:
            try:
                cache[key] = resolve_fk(field, raw, user)
            except CellError as exc:
                cache[key] = exc
        if isinstance(cache[key], CellError):
            raise cache[key]
        return cache[key]
    names = [f for f in lookup_fields(rel)]
    if rel is models.User:
        names = [models.User.username, models.User.display_name]
    clause = None
    for f in names:
        c = f == text
        clause = c if clause is None else (clause | c)
    if clause is None:
        raise CellError(f"无法按名称查找{rel.label()}")
    # Only records the importer may see (any record type below a hidden customer or file is hidden too).
    query = access.scope(rel, rel.select(rel.id).where(clause), user)
    ids = [row[0] for row in query.limit(2).tuples()]
    if not ids:
        raise CellError(f"找不到{rel.label()}“{text}”")
    if len(ids) > 1:
        raise CellError(f"{rel.label()}“{text}”不唯一,请改用编号")
    return ids[0]


def convert(field, raw, user, cache=None):
    """Return the stored value of one cell for ``field``, or raise CellError with a Chinese message."""
    text = _text(raw)
    if text == "":
        if isinstance(field, BooleanField):
            return False
        if field.null:
            return None
        return field.default() if callable(field.default) else field.default
    if isinstance(field, ForeignKeyField):
        return resolve_fk(field, raw, user, cache)
    if field.choices:
        by_label = {str(label): code for code, label in field.choices}
        codes = {str(code): code for code, _ in field.choices}
        if text in by_label:
            return by_label[text]
        if text in codes:
            return codes[text]
        raise CellError(f"“{text}”不是可选值({'、'.join(str(l) for _, l in field.choices)})")
    if isinstance(field, BooleanField):
        low = text.lower()
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
        raise CellError(f"“{text}”应为“是”或“否”")
    if isinstance(field, DateTimeField):
        if isinstance(raw, datetime.datetime):
            return to_utc(raw)
        for fmt in DATETIME_FORMATS + DATE_FORMATS:
            try:
                return to_utc(datetime.datetime.strptime(text, fmt))
            except ValueError:
                continue
        raise CellError(f"“{text}”不是有效的日期时间(例:2026-03-01 09:30)")
    if isinstance(field, DateField):
        if isinstance(raw, datetime.datetime):
            return raw.date()
        if isinstance(raw, datetime.date):
            return raw
        for fmt in DATE_FORMATS:
            try:
                return datetime.datetime.strptime(text, fmt).date()
            except ValueError:
                continue
        raise CellError(f"“{text}”不是有效的日期(例:2026-03-01)")
    if isinstance(field, IntegerField):
        try:
            number = decimal.Decimal(text.replace(",", ""))
        except decimal.InvalidOperation:
            raise CellError(f"“{text}”不是整数") from None
        if number != number.to_integral_value():
            raise CellError(f"“{text}”不是整数")
        return int(number)
    if isinstance(field, (DecimalField, FloatField)):
        try:
            return decimal.Decimal(text.replace(",", "").replace("¥", "").replace("元", ""))
        except decimal.InvalidOperation:
            raise CellError(f"“{text}”不是数字") from None
    max_length = getattr(field, "max_length", None)
    if max_length and len(text) > max_length:
        raise CellError(f"超过 {max_length} 个字")
    return text


# ---------------------------------------------------------------- files
def read_table(filename, payload):
    """Return (headers, rows) of an uploaded XLSX or CSV file; raise CellError for an unreadable file."""
    name = (filename or "").lower()
    if name.endswith(".xlsx"):
        try:
            book = openpyxl.load_workbook(io.BytesIO(payload), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise CellError(f"无法读取 Excel 文件:{type(exc).__name__}") from exc
        sheet = book.worksheets[0]
        table = [list(row) for row in sheet.iter_rows(values_only=True)]
        book.close()
    elif name.endswith(".csv"):
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = payload.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise CellError("无法识别 CSV 文件的编码(请保存为 UTF-8 或 GBK)")
        table = list(csv.reader(io.StringIO(text)))
    else:
        raise CellError("只支持 .xlsx 和 .csv 文件")
    table = [row for row in table if any(_text(c) for c in row)]
    if not table:
        raise CellError("文件中没有数据")
    headers = [_text(c) for c in table[0]]
    rows = [[_cell(c) for c in row] for row in table[1:]]
    if len(rows) > MAX_ROWS:
        raise CellError(f"一次最多导入 {MAX_ROWS} 行,请拆分文件")
    return headers, rows


def _cell(value):
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    return _text(value)


def template_xlsx(model):
    """Return the bytes of an XLSX template whose headers are ``model``'s Chinese field labels."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = model.label()[:31]
    fields = import_fields(model)
    sheet.append([header(f) for f in fields])
    notes = book.create_sheet("填写说明")
    notes.append(["列", "必填", "说明"])
    for f in fields:
        if isinstance(f, ForeignKeyField):
            hint = f"填写{f.rel_model.label()}的名称或编号" + ("(用户填用户名或姓名)" if f.rel_model is models.User else "")
        elif f.choices:
            hint = "可选:" + "、".join(str(label) for _, label in f.choices)
        elif isinstance(f, BooleanField):
            hint = "是 / 否"
        elif isinstance(f, DateTimeField):
            hint = "日期时间,如 2026-03-01 09:30(北京时间)"
        elif isinstance(f, DateField):
            hint = "日期,如 2026-03-01"
        elif isinstance(f, (IntegerField, DecimalField, FloatField)):
            hint = "数字"
        else:
            hint = "文本"
        notes.append([header(f), "是" if required(f, model) else "", hint])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# ---------------------------------------------------------------- checking and saving rows
def column_map(model, headers):
    """Return ({column index: field}, [unknown headers], [missing required labels])."""
    by_label = {}
    for f in import_fields(model):
        by_label[header(f)] = f
        by_label[f.name] = f
    mapping, unknown = {}, []
    for index, text in enumerate(headers):
        field = by_label.get(text)
        if field is None:
            if text:
                unknown.append(text)
            continue
        mapping[index] = field
    present = {f.name for f in mapping.values()}
    missing = [header(f) for f in import_fields(model) if required(f, model) and f.name not in present]
    return mapping, unknown, missing


def check_row(model, mapping, row, user, cache=None):
    """Return ({field name: value}, {column index: error}) for one row."""
    values, errors = {}, {}
    for index, field in mapping.items():
        raw = row[index] if index < len(row) else ""
        try:
            values[field.name] = convert(field, raw, user, cache)
        except CellError as exc:
            errors[index] = str(exc)
    for index, field in mapping.items():
        if index not in errors and required(field, model) and values.get(field.name) in (None, ""):
            errors[index] = "必填"
    return values, errors


def find_existing(model, values, user):
    """Return the visible record matching ``values`` on the first natural key they fill, or None."""
    for key in natural_keys(model):
        if not all(values.get(name) not in (None, "") for name in key):
            continue
        found = model.select().where(*[getattr(model, name) == values[name] for name in key]).first()
        if found is not None and not access.can_see(found, user):
            raise CellError("已存在同一记录,但您无权查看或修改")
        return found
    return None


def _first_key(keys, values):
    """Return (key, its values) of the first natural key that ``values`` fill, or (None, None)."""
    for key in keys:
        if all(values.get(name) not in (None, "") for name in key):
            return key, tuple(values[name] for name in key)
    return None, None


class Matches:
    """The records that the rows of one chunk match by natural key: one query per key, not one per row.

    Answers what ``find_existing`` would answer for each row, including records saved by earlier rows
    of the chunk; a record that an update touched is looked up again (its key may have changed).
    """

    def __init__(self, model, user, rows_values):
        self.model = model
        self.user = user
        self.keys = natural_keys(model)
        self.found = {key: {} for key in self.keys}
        self.visible = set()
        wanted = {key: set() for key in self.keys}
        for values in rows_values:
            key, value = _first_key(self.keys, values)
            if key is not None:
                wanted[key].add(value)
        fetched = {}  # one object per record, whichever key found it
        for key, values in wanted.items():
            if not values:
                continue
            conditions = [getattr(model, name).in_(sorted({v[i] for v in values}, key=str))
                          for i, name in enumerate(key)]
            for record in model.select().where(*conditions).order_by(model._meta.primary_key):
                value = self._value(record, key)
                if value in values and self.found[key].get(value) is None:
                    self.found[key][value] = fetched.setdefault(record._pk, record)
            for value in values:
                self.found[key].setdefault(value, None)
        if fetched:
            if access.sees_everything(user):
                self.visible = set(fetched)
            else:
                self.visible = access.visible_references(model.__name__, list(fetched), user)

    @staticmethod
    def _value(record, key):
        return tuple(record.__data__.get(name) for name in key)

    def find(self, values):
        """Return the visible record matching ``values`` (as ``find_existing``), or None."""
        key, value = _first_key(self.keys, values)
        if key is None:
            return None
        if value not in self.found[key]:
            return find_existing(self.model, values, self.user)
        record = self.found[key][value]
        if record is not None and record._pk not in self.visible:
            if not access.can_see(record, self.user):
                raise CellError("已存在同一记录,但您无权查看或修改")
            self.visible.add(record._pk)
        return record

    def add(self, record):
        """Let later rows of the chunk match ``record``, just saved."""
        for key in self.keys:
            value = self._value(record, key)
            if all(v not in (None, "") for v in value) and self.found[key].get(value) is None:
                self.found[key][value] = record

    def forget(self, record):
        """Look ``record`` up again when a later row names it (an update changed or failed to change it)."""
        for found in self.found.values():
            for value in [v for v, r in found.items() if r is record]:
                del found[value]


def save_row(model, values, user, matches=None, may_edit=None):
    """Create or update one record through save(); return 'imported', 'updated' or 'skipped'."""
    existing = matches.find(values) if matches is not None else find_existing(model, values, user)
    if existing is None:
        record = model(**{k: v for k, v in values.items() if v is not None or model._meta.fields[k].null})
        record.save()
        if matches is not None:
            matches.add(record)
        return "imported", record
    if not (access.can(user, model, "edit") if may_edit is None else may_edit):
        raise CellError("已存在同一记录,您没有修改权限")
    changed = False
    for name, value in values.items():
        field = model._meta.fields[name]
        if value is None and not field.null:
            continue  # an empty cell of a field that cannot be empty (the auto number) keeps what is stored
        current = getattr(existing, name + "_id") if isinstance(field, ForeignKeyField) else getattr(existing, name)
        if value != current and not (value is None and current == ""):
            setattr(existing, name, value)
            changed = True
    if not changed:
        return "skipped", existing
    if matches is not None:
        matches.forget(existing)  # changed in memory: saved or refused, later rows read it afresh
    existing.save()
    return "updated", existing


def violation_text(exc):
    if isinstance(exc, PolicyViolation):
        return "；".join(v.message for v in exc.violations)
    if isinstance(exc, models.StaleEdit):
        return str(exc)
    if isinstance(exc, IntegrityError):
        return "与已有记录重复或缺少必填项"
    return str(exc)


def import_chunk(model, mapping, rows, first_number, user, cache, counts, results, may_edit):
    """Check and save ``rows`` (spreadsheet rows from ``first_number``), each in its own savepoint."""
    # The natural keys of the chunk, read ahead (lookups not remembered: a row may name a record an earlier
    # row creates, such as a parent department); each row is checked in full just before it is saved.
    names = {name for key in natural_keys(model) for name in key}
    key_columns = {i: f for i, f in mapping.items() if f.name in names}
    ahead, lookups = [], {}
    for row in rows:
        keys = {}
        for index, field in key_columns.items():
            try:
                keys[field.name] = convert(field, row[index] if index < len(row) else "", user, lookups)
            except CellError:
                pass
        ahead.append(keys)
    matches = Matches(model, user, ahead)
    for number, row in enumerate(rows, start=first_number):
        values, errors = check_row(model, mapping, row, user, cache)
        if errors:
            counts["failed"] += 1
            results.append([number, "failed", "；".join(
                f"{header(mapping[i])}:{e}" for i, e in sorted(errors.items()))])
            continue
        try:
            with models.db.atomic():
                outcome, record = save_row(model, values, user, matches, may_edit)
        except (PolicyViolation, CellError, IntegrityError, models.StaleEdit, ValueError) as exc:
            counts["failed"] += 1
            results.append([number, "failed", violation_text(exc)])
            continue
        counts[outcome] += 1
        results.append([number, outcome, str(record)])


def run_job(job_id, user_id, app=None):
    """Import every row of job ``job_id`` as user ``user_id``; progress is written as it goes."""
    models.db.connect(reuse_if_open=True)
    try:
        job = models.ImportJob.get_by_id(job_id)
        user = models.User.get_by_id(user_id)
        model = model_named(job.model)
        data = json.loads(job.data)
        mapping, _, _ = column_map(model, data["headers"])
        may_edit = access.can(user, model, "edit")
        results = []
        cache = {}
        counts = dict(imported=0, updated=0, skipped=0, failed=0)
        token_actor = models.current_actor.set(user)
        try:
            rows = data["rows"]
            for start in range(0, len(rows), BATCH):
                # A chunk commits its rows and its progress together; a failing row rolls back alone.
                with backend.write_transaction(), engine.settings_read_once():
                    import_chunk(model, mapping, rows[start:start + BATCH], start + 2, user, cache, counts,
                                 results, may_edit)
                    models.ImportJob.update(done=min(start + BATCH, len(rows)), **counts).where(
                        models.ImportJob.id == job_id).execute()
        finally:
            models.current_actor.reset(token_actor)
        job = models.ImportJob.get_by_id(job_id)
        job.status = "done"
        job.done = len(data["rows"])
        job.finished_at = models.utcnow()
        job.results = json.dumps(results, ensure_ascii=False)
        for key, value in counts.items():
            setattr(job, key, value)
        job.save()
    except Exception:
        models.ImportJob.update(status="failed").where(models.ImportJob.id == job_id).execute()
        raise
    finally:
        if not models.db.is_closed():
            models.db.close()


OUTCOME_LABELS = {"imported": "新增", "updated": "更新", "skipped": "跳过(无变化)", "failed": "失败"}


class ImportView(SecureView):
    """Upload a file, preview it with per-cell errors, import it with progress, download the failed rows."""

    def is_accessible(self):
        return super().is_accessible() and bool(importable_models(current_user))

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return super().inaccessible_callback(name, **kwargs)
        return abort(403)

    def _model(self, name):
        model = model_named(name)
        if model is None or model not in importable_models(current_user):
            return abort(403)
        return model

    def _job(self, raw, light=False):
        """Return the caller's job ``raw``; ``light``: without the file's rows and results (progress polls)."""
        if not str(raw or "").isdigit():
            return None
        Job = models.ImportJob
        columns = [f for f in Job._meta.sorted_fields if not (light and f in (Job.data, Job.results))]
        job = Job.select(*columns).where(Job.id == int(raw)).first()
        if job is None or job.created_by_id != current_user.id:
            return abort(404)
        self._model(job.model)
        return job

    @expose("/", methods=("GET",))
    def index(self):
        choices = importable_models(current_user)
        selected = model_named(request.args.get("model")) or choices[0]
        if selected not in choices:
            return abort(403)
        Job = models.ImportJob
        jobs = list(Job.select(*[f for f in Job._meta.sorted_fields if f not in (Job.data, Job.results)])
                    .where(Job.created_by == current_user.id).order_by(Job.id.desc()).limit(10))
        fields = [(header(f), required(f, selected)) for f in import_fields(selected)]
        return self.render("admin/import/index.html", choices=choices, selected=selected, fields=fields, jobs=jobs,
                           keys=[[header(selected._meta.fields[n]) for n in key] for key in natural_keys(selected)],
                           labels=dict(models.IMPORT_STATUS), model_labels={
                               name: model.label() for name, model in ((j.model, model_named(j.model)) for j in jobs)
                               if model is not None})

    @expose("/template/", methods=("GET",))
    def template(self):
        name = request.args.get("model") or importable_models(current_user)[0].__name__
        model = self._model(name)
        return Response(template_xlsx(model), headers={
            "Content-Disposition": f"attachment; filename=import_{name.lower()}.xlsx"},
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    @expose("/upload/", methods=("POST",))
    def upload(self):
        if not request.form.get("model"):
            flash("请选择记录类型。", "error")
            return redirect(url_for(".index"))
        model = self._model(request.form.get("model"))
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash("请选择要导入的文件。", "error")
            return redirect(url_for(".index", model=model.__name__))
        try:
            headers, rows = read_table(upload.filename, upload.read())
        except CellError as exc:
            flash(str(exc), "error")
            return redirect(url_for(".index", model=model.__name__))
        mapping, unknown, missing = column_map(model, headers)
        if not mapping:
            flash("文件的表头与模板不一致:没有一列能对应到“" + model.label() + "”的字段,请使用下载的模板。", "error")
            return redirect(url_for(".index", model=model.__name__))
        job = models.ImportJob.create(model=model.__name__, filename=upload.filename[:255], total=len(rows),
                                      data=json.dumps({"headers": headers, "rows": rows}, ensure_ascii=False))
        return redirect(url_for(".job", id=job.id))

    @expose("/job/", methods=("GET",))
    def job(self):
        job = self._job(request.args.get("id"))
        if job is None:
            return redirect(url_for(".index"))
        model = model_named(job.model)
        data = json.loads(job.data)
        mapping, unknown, missing = column_map(model, data["headers"])
        preview, bad_rows, later_bad = [], 0, 0
        if job.status == "preview":  # the result page checks nothing again
            cache = {}
            for number, row in enumerate(data["rows"], start=2):
                values, errors = check_row(model, mapping, row, current_user, cache)
                if errors:
                    bad_rows += 1
                # The first rows, then the rows with errors further down (a few screens at most).
                if len(preview) < PREVIEW_ROWS or (errors and len(preview) < PREVIEW_ROWS + PREVIEW_BAD_ROWS):
                    if len(preview) >= PREVIEW_ROWS:
                        later_bad += 1
                    preview.append((number, [(row[i] if i < len(row) else "", errors.get(i)) for i in sorted(mapping)]))
        outcomes = json.loads(job.results or "[]")
        # Failed rows first: they are what the person has to act on; the rest only up to a page's worth.
        ordered = [r for r in outcomes if r[1] == "failed"] + [r for r in outcomes if r[1] != "failed"]
        results = [(n, OUTCOME_LABELS.get(o, o), o, text) for n, o, text in ordered[:RESULT_ROWS]]
        return self.render(
            "admin/import/job.html", job=job, model=model, headers=[data["headers"][i] for i in sorted(mapping)],
            preview=preview, bad_rows=bad_rows, later_bad=later_bad, unknown=unknown, missing=missing,
            results=results, result_count=len(outcomes), labels=dict(models.IMPORT_STATUS))

    @expose("/run/", methods=("POST",))
    def run(self):
        job = self._job(request.form.get("id"))
        if job is None:
            flash("找不到要导入的文件,请重新上传。", "error")
            return redirect(url_for(".index"))
        model = model_named(job.model)
        _, _, missing = column_map(model, json.loads(job.data)["headers"])
        if missing:
            flash("缺少必填列:" + "、".join(missing) + ",未导入。", "error")
            return redirect(url_for(".job", id=job.id))
        claimed = (models.ImportJob.update(status="running", done=0)
                   .where(models.ImportJob.id == job.id, models.ImportJob.status == "preview").execute())
        if not claimed:
            flash("该文件已经导入过或正在导入。", "info")
            return redirect(url_for(".job", id=job.id))
        if current_app.config.get("IMPORT_IN_REQUEST"):
            run_job(job.id, current_user.id)
            models.db.connect(reuse_if_open=True)
        else:
            threading.Thread(target=run_job, args=(job.id, current_user.id), daemon=True).start()
        return redirect(url_for(".job", id=job.id))

    @expose("/progress/", methods=("GET",))
    def progress(self):
        job = self._job(request.args.get("id"), light=True)
        if job is None:
            return jsonify(error="找不到该导入任务"), 400
        return jsonify(status=job.status, label=dict(models.IMPORT_STATUS).get(job.status), total=job.total,
                       done=job.done, imported=job.imported, updated=job.updated, skipped=job.skipped,
                       failed=job.failed)

    @expose("/failed/", methods=("GET",))
    def failed_rows(self):
        job = self._job(request.args.get("id"))
        if job is None:
            return redirect(url_for(".index"))
        data = json.loads(job.data)
        reasons = {n: text for n, outcome, text in json.loads(job.results or "[]") if outcome == "failed"}
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.title = "导入失败的行"
        sheet.append(list(data["headers"]) + ["失败原因"])
        for number, row in enumerate(data["rows"], start=2):
            if number in reasons:
                sheet.append([vf.neutralise_formula(None, c) for c in row] + [reasons[number]])
        out = io.BytesIO()
        book.save(out)
        return Response(out.getvalue(), headers={
            "Content-Disposition": f"attachment; filename=import_{job.id}_failed.xlsx"},
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
