"""借阅登记册 and 移交看板: the archivist's screens over the loan ledger, handovers and inspections.

Every list here is one query per page (loans joined with file, borrower, department, request and
checker), restricted by ``access.scope`` so a user without clearance never sees a secret file's line.
Writes call the policies (lend, return, receipt) and show their refusals; no rule is checked here.
"""
import datetime
import io
from decimal import Decimal

from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import request
from flask import send_file
from flask import url_for
from flask_admin import expose
from flask_login import current_user
from peewee import JOIN
from peewee import Case
from peewee import fn

import models
import policies
from policies import archives
from policies.audit import log as audit_log
from policies.calendar import add_months
from policies.calendar import local_midnight
from policies.calendar import local_today
from policies.calendar import to_local
from views import access
from views.approvals import format_wait
from views.auth import safe_next
from views.base import SecureView
from views.fields import neutralise_formula

CATEGORY = "档案"
PAGE_SIZE = 50
OPEN = "open"
CLOSED = "closed"
ALL = "all"
STATES = ((OPEN, "在借"), (CLOSED, "已注销"), (ALL, "全部"))
# Columns of the paper 《客户资料外借登记册》 (000 篇二 第19条5, 第20条): print view and XLSX export.
BOOK_COLUMNS = ("序号", "借出日期", "档案编号", "资料名称", "密级", "份数", "借阅理由", "借阅人", "部门",
                "应还日期", "归还日期", "核验人", "注销")
LEVEL_LABELS = dict(models.CONFIDENTIALITY)
CENT = Decimal("0.01")
LEVEL_BADGES = {"normal": "secondary", "secret": "warning", "top_secret": "danger"}


# ---------------------------------------------------------------- request parsing
def _int(value, default=None):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _date(value):
    try:
        return datetime.date.fromisoformat(str(value).strip())
    except (TypeError, ValueError):
        return None


class Filters:
    """The ledger's filters as asked in the query string (invalid values are ignored)."""

    def __init__(self, args):
        self.q = (args.get("q") or "").strip()[:100]
        self.borrower = _int(args.get("borrower"))
        self.department = _int(args.get("department"))
        self.overdue = args.get("overdue") == "1"
        level = args.get("level", "")
        self.level = level if level in LEVEL_LABELS else ""
        self.start = _date(args.get("start"))
        self.end = _date(args.get("end"))
        state = args.get("state", OPEN)
        self.state = state if state in dict(STATES) else OPEN
        self.page = max(_int(args.get("page"), 0), 0)

    def args(self, **changes):
        """Return the query-string arguments of these filters with ``changes`` applied."""
        values = {"q": self.q, "borrower": self.borrower, "department": self.department,
                  "overdue": "1" if self.overdue else None, "level": self.level, "start": self.start,
                  "end": self.end, "state": self.state if self.state != OPEN else None}
        values.update(changes)
        return {k: v for k, v in values.items() if v not in (None, "", 0)}

    @property
    def active(self):
        return bool(self.q or self.borrower or self.department or self.overdue or self.level
                    or self.start or self.end)


# ---------------------------------------------------------------- the questions
def lines(user, filters=None, now=None):
    """Return the query of the ledger lines ``user`` may see, with file, borrower, department, request, checker."""
    filters = filters or Filters({})
    now = now or models.utcnow()
    loan = models.Loan
    folder = models.ArchiveFile
    borrower = models.User.alias("borrower")
    checker = models.User.alias("checker")
    department = models.Department
    borrow_request = models.BorrowRequest
    query = (loan.select(loan, folder, borrower, department, borrow_request, checker)
             .join_from(loan, folder, on=(loan.file == folder.id), attr="file")
             .join_from(loan, borrower, on=(loan.borrower == borrower.id), attr="borrower")
             .join_from(borrower, department, JOIN.LEFT_OUTER, on=(borrower.department == department.id),
                        attr="department")
             .join_from(loan, borrow_request, JOIN.LEFT_OUTER, on=(loan.request == borrow_request.id),
                        attr="request")
             .join_from(loan, checker, JOIN.LEFT_OUTER, on=(loan.checked_by == checker.id), attr="checked_by"))
    query = access.scope(loan, query, user)
    if filters.state == OPEN:
        query = query.where(loan.returned_at.is_null())
    elif filters.state == CLOSED:
        query = query.where(loan.returned_at.is_null(False))
    if filters.q:
        term = filters.q
        query = query.where(folder.number.contains(term) | folder.title.contains(term)
                            | borrower.display_name.contains(term) | borrower.username.contains(term))
    if filters.borrower:
        query = query.where(loan.borrower == filters.borrower)
    if filters.department:
        query = query.where(borrower.department == filters.department)
    if filters.overdue:
        query = query.where(loan.returned_at.is_null(), loan.due_at < now)
    if filters.level:
        query = query.where(folder.confidentiality == filters.level)
    if filters.start:
        query = query.where(loan.lent_at >= local_midnight(filters.start))
    if filters.end:
        query = query.where(loan.lent_at < local_midnight(filters.end + datetime.timedelta(days=1)))
    if filters.state == OPEN:
        # Overdue lines first (ARC-7), then by due time.
        late_first = Case(None, [(loan.due_at < now, 0)], 1)
        return query.order_by(late_first, loan.due_at, loan.id)
    if filters.state == CLOSED:
        return query.order_by(loan.returned_at.desc(), loan.id.desc())
    return query.order_by(loan.lent_at.desc(), loan.id.desc())


def book_lines(user, start, end):
    """Return the ledger lines lent from ``start`` to ``end`` (local dates) in the paper book's order."""
    filters = Filters({"state": ALL})
    filters.start, filters.end = start, end
    return lines(user, filters).order_by(models.Loan.lent_at, models.Loan.id)


def waiting_requests(user):
    """Return the approved borrow requests no loan was opened for, with their files and borrowers."""
    borrow_request = models.BorrowRequest
    folder = models.ArchiveFile
    borrower = models.User.alias("borrower")
    lent = models.Loan.select(models.Loan.id).where(models.Loan.request == borrow_request.id)
    query = (borrow_request.select(borrow_request, folder, borrower)
             .join_from(borrow_request, folder, on=(borrow_request.file == folder.id), attr="file")
             .join_from(borrow_request, borrower, on=(borrow_request.borrower == borrower.id), attr="borrower")
             .where(borrow_request.status == "approved", ~fn.EXISTS(lent))
             .order_by(borrow_request.updated_at, borrow_request.id))
    return access.scope(borrow_request, query, user)


def open_loans_of(file_ids):
    """Return {file id: open Loan (with borrower)} of ``file_ids``, in one query."""
    if not file_ids:
        return {}
    loan = models.Loan
    borrower = models.User.alias("borrower")
    query = (loan.select(loan, borrower).join_from(loan, borrower, on=(loan.borrower == borrower.id),
                                                   attr="borrower")
             .where(loan.file.in_(list(file_ids)), loan.returned_at.is_null()))
    return {row.file_id: row for row in query}


def lend_refusals(requests, user):
    """Return {request id: [Chinese reasons]} why ``user`` cannot lend each request now (the workflow's answer)."""
    from policies import workflow
    act = workflow.action_of(models.BorrowRequest, "lend")
    if act is None:
        return {}
    return {r.id: [message for _, message, _ in workflow.refusal(r, act, user, check_inputs=False)]
            for r in requests}


def reminders_of(loan_ids):
    """Return {loan id: (count, last time)} of the chases of ``loan_ids``, in one grouped query."""
    if not loan_ids:
        return {}
    reminder = models.LoanReminder
    query = (reminder.select(reminder.loan, fn.COUNT(reminder.id), fn.MAX(reminder.at))
             .where(reminder.loan.in_(list(loan_ids))).group_by(reminder.loan))
    return {loan_id: (count, last) for loan_id, count, last in query.tuples()}


def reminder_counts(user, now=None):
    """Return (due tomorrow, overdue) counts of the open loans ``user`` may see (ARC-7 reminders)."""
    loan = models.Loan
    return (access.scope(loan, loan.due_tomorrow(now), user).count(),
            access.scope(loan, loan.overdue(now), user).count())


# ---------------------------------------------------------------- presenting
def days_left(loan, now):
    """Return ("剩 1 天 3 小时" or "已逾期 2 天 1 小时", overdue?) of an open loan."""
    if loan.returned_at is not None or loan.due_at is None:
        return "", False
    if loan.due_at < now:
        return f"已逾期 {format_wait(now - loan.due_at)}", True
    return f"剩 {format_wait(loan.due_at - now)}", False


def held_for(loan, now):
    """Return how long the file was (or has been) out."""
    end = loan.returned_at or now
    return format_wait(end - loan.lent_at) if loan.lent_at else ""


def local_text(value, fmt="%Y-%m-%d %H:%M"):
    return to_local(value).strftime(fmt) if value else ""


def book_row(n, loan):
    """Return one paper-book line of ``loan`` as texts (print view, XLSX)."""
    folder = loan.file
    who = loan.borrower
    department = who.department.name if who.department_id and who.department else ""
    reason = loan.request.reason if loan.request_id and loan.request else ""
    checker = str(loan.checked_by) if loan.checked_by_id and loan.checked_by else ""
    if loan.returned_at is not None:
        cancelled = "已注销"
    elif loan.lost_or_damaged:
        cancelled = "遗失/毁损"
    else:
        cancelled = "未还"
    return (n, local_text(loan.lent_at, "%Y-%m-%d"), folder.number, folder.title,
            LEVEL_LABELS.get(folder.confidentiality, folder.confidentiality), loan.copies, reason, str(who),
            department, local_text(loan.due_at, "%Y-%m-%d %H:%M"), local_text(loan.returned_at, "%Y-%m-%d"),
            checker, cancelled)


def month_range(today, month_text=""):
    """Return (first day, last day) of the month ``YYYY-MM`` (default: the month of ``today``)."""
    try:
        first = datetime.date.fromisoformat(f"{month_text.strip()}-01")
    except ValueError:
        first = today.replace(day=1)
    return first, add_months(first, 1) - datetime.timedelta(days=1)


def company_name():
    """Return the company's name printed on the ledger (setting COMPANY_NAME)."""
    return current_app.config.get("COMPANY_NAME") or "客户管理"


def _report(exc):
    policies.log_blocked(exc)
    for violation in exc.violations:
        flash(violation.message, "error")


class ArchiveDeskView(SecureView):
    """Base of the archivist's pages: open to users who may view the record type ``needs``."""

    needs = models.Loan

    def is_accessible(self):
        return super().is_accessible() and access.can(current_user, self.needs, "view")

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return super().inaccessible_callback(name, **kwargs)
        abort(403)

    def _user(self):
        return current_user._get_current_object()

    def _may(self, model, action):
        return access.can(current_user, model, action)

    def _back(self, default):
        return safe_next(request.form.get("next") or request.args.get("next"), default)


# ---------------------------------------------------------------- 借阅登记册
class LedgerView(ArchiveDeskView):
    """借阅登记册: the open loans (overdue first, in red), the queue to lend, reminders, inspections."""

    @expose("/")
    def index(self):
        user = self._user()
        now = models.utcnow()
        filters = Filters(request.args)
        query = lines(user, filters, now)
        total = query.count()
        rows = list(query.limit(PAGE_SIZE).offset(filters.page * PAGE_SIZE))
        chases = reminders_of([row.id for row in rows])
        waiting = list(waiting_requests(user)) if filters.state == OPEN else []
        out = open_loans_of({r.file_id for r in waiting})
        refusals = lend_refusals(waiting, user)
        due_tomorrow, overdue = reminder_counts(user, now)
        inspection_due, inspection_on = models.Inspection.due()
        last_inspection = models.Inspection.select(fn.MAX(models.Inspection.on)).scalar()
        borrowers = (models.User.select(models.User.id, models.User.display_name, models.User.username)
                     .where(models.User.id.in_(models.Loan.select(models.Loan.borrower)))
                     .order_by(models.User.display_name))
        departments = models.Department.select(models.Department.id, models.Department.name).order_by(
            models.Department.name)
        pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
        return self.render(
            "ledger/index.html", rows=rows, total=total, filters=filters, states=STATES, pages=pages,
            now=now, days_left=days_left, held_for=held_for, local_text=local_text, chases=chases,
            waiting=waiting, out=out, refusals=refusals, due_tomorrow=due_tomorrow, overdue=overdue,
            inspection_due=inspection_due, inspection_on=inspection_on, last_inspection=last_inspection,
            borrowers=borrowers, departments=departments, levels=models.CONFIDENTIALITY, level_badges=LEVEL_BADGES,
            channels=models.LoanReminder.CHANNEL, today=local_today(now), here=request.full_path,
            can_lend=self._may(models.Loan, "create") and hasattr(archives, "lend"),
            can_return=self._may(models.Loan, "edit") and hasattr(archives, "return_loan"),
            can_chase=self._may(models.Loan, "edit"), can_export=self._may(models.Loan, "export"),
            can_inspect=self._may(models.Inspection, "create"),
        )

    # ------------------------------------------------------------ history
    @expose("/file/")
    def file_history(self):
        """Every loan and every viewing of one file (``?id=``): who, when, for how long."""
        file_id = _int(request.args.get("id"))
        if file_id is None:
            return redirect(url_for(".index"))
        user = self._user()
        folder = access.scope(models.ArchiveFile, models.ArchiveFile.select().where(
            models.ArchiveFile.id == file_id), user).first()
        if folder is None:
            abort(404)
        filters = Filters({"state": ALL})
        loans = list(lines(user, filters).where(models.Loan.file == file_id))
        views_ = self._viewings(user, models.AccessRequest.file == file_id)
        return self._history("file", folder, loans, views_)

    @expose("/borrower/")
    def borrower_history(self):
        """Every loan and viewing of one person (``?id=``), restricted to the files the current user may see."""
        user_id = _int(request.args.get("id"))
        if user_id is None:
            return redirect(url_for(".index"))
        person = models.User.get_or_none(models.User.id == user_id)
        if person is None:
            abort(404)
        user = self._user()
        filters = Filters({"state": ALL})
        loans = list(lines(user, filters).where(models.Loan.borrower == user_id))
        views_ = self._viewings(user, models.AccessRequest.applicant == user_id)
        return self._history("borrower", person, loans, views_)

    def _viewings(self, user, cond):
        access_request = models.AccessRequest
        folder = models.ArchiveFile
        applicant = models.User.alias("applicant")
        query = (access_request.select(access_request, folder, applicant)
                 .join_from(access_request, folder, on=(access_request.file == folder.id), attr="file")
                 .join_from(access_request, applicant, JOIN.LEFT_OUTER,
                            on=(access_request.applicant == applicant.id), attr="applicant")
                 .where(cond).order_by(access_request.created_at.desc()))
        return list(access.scope(access_request, query, user))

    def _history(self, kind, subject, loans, viewings):
        now = models.utcnow()
        loans.sort(key=lambda row: (row.lent_at, row.id), reverse=True)
        return self.render("ledger/history.html", kind=kind, subject=subject, loans=loans, viewings=viewings,
                           now=now, held_for=held_for, local_text=local_text, days_left=days_left,
                           level_badges=LEVEL_BADGES, request_status=dict(models.REQUEST_STATUS))

    # ------------------------------------------------------------ print and export
    def _range(self):
        today = local_today()
        first, last = month_range(today, request.args.get("month", ""))
        start = _date(request.args.get("start")) or first
        end = _date(request.args.get("end")) or last
        if end < start:
            start, end = end, start
        return start, end

    @expose("/print/")
    def print_view(self):
        """The paper book for a date range as an A4 page for the browser's print."""
        start, end = self._range()
        rows = [book_row(n, loan) for n, loan in enumerate(book_lines(self._user(), start, end), start=1)]
        return self.render("ledger/print.html", rows=rows, columns=BOOK_COLUMNS, start=start, end=end,
                           company=company_name(), printed_at=local_text(models.utcnow()),
                           printed_by=self._user())

    @expose("/export.xlsx")
    def export_xlsx(self):
        """Download the paper book of a date range as an XLSX file (formula-safe cells)."""
        if not self._may(models.Loan, "export"):
            abort(403)
        from openpyxl import Workbook
        from openpyxl.styles import Font

        start, end = self._range()
        user = self._user()
        book = Workbook()
        sheet = book.active
        sheet.title = "借阅登记册"
        sheet.append([f"{company_name()} 客户资料外借登记册 {start} 至 {end}"])
        sheet.append(list(BOOK_COLUMNS))
        sheet["A1"].font = Font(bold=True, size=14)
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        count = 0
        for n, loan in enumerate(book_lines(user, start, end), start=1):
            sheet.append([neutralise_formula(None, v) if isinstance(v, str) else v for v in book_row(n, loan)])
            count = n
        for letter, width in zip("ABCDEFGHIJKLM", (6, 12, 18, 28, 8, 6, 28, 12, 14, 18, 12, 12, 8)):
            sheet.column_dimensions[letter].width = width
        buffer = io.BytesIO()
        book.save(buffer)
        buffer.seek(0)
        audit_log("export", "Loan", changes={"格式": "xlsx", "范围": f"{start} 至 {end}", "行数": count})
        return send_file(buffer, as_attachment=True, download_name=f"借阅登记册-{start}-{end}.xlsx",
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    # ------------------------------------------------------------ lend and return (注销)
    @expose("/lend/", methods=("POST",))
    def lend(self):
        """Hand out the file of an approved request (policies.archives.lend: ARC-1 due date, ARC-2 file out)."""
        back = self._back(url_for(".index"))
        request_id = _int(request.form.get("request"))
        if request_id is None:
            abort(400)
        query = models.BorrowRequest.select().where(models.BorrowRequest.id == request_id)
        borrow_request = access.scope(models.BorrowRequest, query, self._user()).first()
        if borrow_request is None:
            abort(404)
        copies = _int(request.form.get("copies"))
        if copies is None:
            flash("请填写借出份数(整数)。", "error")
            return redirect(back)
        try:
            loan = archives.lend(borrow_request, copies, self._user())
        except policies.PolicyViolation as exc:
            _report(exc)
        except models.StaleEdit as exc:
            flash(str(exc), "error")
        else:
            flash(f"已借出:{loan.file} 给 {loan.borrower},{loan.copies} 份,应还 {local_text(loan.due_at)}", "success")
        return redirect(back)

    @expose("/return/", methods=("GET", "POST"))
    def return_view(self):
        """Check a returned file against its checklist; complete closes the line (注销), incomplete keeps it open."""
        loan = self._visible_loan(_int(request.values.get("id")))
        back = self._back(url_for(".index"))
        items = list(models.ArchiveItem.select().where(models.ArchiveItem.file == loan.file_id)
                     .order_by(models.ArchiveItem.id))
        errors = {}
        ticked = set()
        note = getattr(loan, "return_note", "") or ""
        if request.method == "POST":
            ticked = set(request.form.getlist("tick"))
            note = (request.form.get("note") or "").strip()
            complete = "pages" in ticked and all(f"item-{item.id}" in ticked for item in items)
            try:
                archives.return_loan(loan, complete, self._user(), note)
            except policies.PolicyViolation as exc:
                policies.log_blocked(exc)
                for violation in exc.violations:
                    key = violation.field if violation.field in ("return_note", "returned_complete") else ""
                    errors.setdefault(key, []).append(violation.message)
            except models.StaleEdit as exc:
                errors.setdefault("", []).append(str(exc))
            else:
                if complete:
                    flash(f"已归还注销:{loan.file}(借阅人 {loan.borrower}),档案已复位在库。", "success")
                else:
                    flash(f"{loan.file} 核对未完整,登记保持未注销,已记录说明。", "warning")
                return redirect(back)
        elif loan.returned_at is not None:
            flash("该借阅已归还注销。", "info")
            return redirect(back)
        return self.render("ledger/return.html", loan=loan, items=items, errors=errors, ticked=ticked, note=note,
                           back=back, now=models.utcnow(), days_left=days_left, local_text=local_text,
                           level_badges=LEVEL_BADGES)

    # ------------------------------------------------------------ reminders
    @expose("/remind/", methods=("POST",))
    def remind(self):
        """Record one chase of an open loan (who, when, how) on the loan."""
        back = self._back(url_for(".index"))
        if not self._may(models.Loan, "edit"):
            abort(403)
        loan = self._visible_loan(_int(request.form.get("loan")))
        if loan.returned_at is not None:
            flash("该借阅已注销，无需催还。", "error")
            return redirect(back)
        channel = request.form.get("channel", "phone")
        if channel not in dict(models.LoanReminder.CHANNEL):
            channel = "phone"
        note = (request.form.get("note") or "").strip()[:255]
        try:
            with models.db.atomic():
                models.LoanReminder.create(loan=loan, reminded_by=self._user(), at=models.utcnow(),
                                           channel=channel, note=note)
        except policies.PolicyViolation as exc:
            _report(exc)
        else:
            flash(f"已记录催还：{loan.file} 借阅人 {loan.borrower}", "success")
        return redirect(back)

    def _visible_loan(self, loan_id):
        """Return the loan ``loan_id`` if the user may see it; 400 without an id, 404 when unknown or hidden."""
        if loan_id is None:
            abort(400)
        loan = models.Loan
        row = access.scope(loan, loan.select().where(loan.id == loan_id), self._user()).first()
        if row is None:
            abort(404)
        return row


# ---------------------------------------------------------------- 移交看板
class HandoverBoardView(ArchiveDeskView):
    """移交看板: files due from sales and service (ARC-8), late ones with their fines (ARC-9), receipts."""

    needs = models.Handover

    @expose("/")
    def index(self):
        user = self._user()
        today = local_today()
        show = request.args.get("show", "pending")
        show = show if show in ("pending", "received") else "pending"
        handover = models.Handover
        folder = models.ArchiveFile
        person = models.User.alias("person")
        department = models.Department
        query = (handover.select(handover, folder, person, department)
                 .join_from(handover, folder, on=(handover.file == folder.id), attr="file")
                 .join_from(handover, person, JOIN.LEFT_OUTER, on=(handover.handed_by == person.id),
                            attr="handed_by")
                 .join_from(person, department, JOIN.LEFT_OUTER, on=(person.department == department.id),
                            attr="department"))
        query = access.scope(handover, query, user)
        if show == "pending":
            query = query.where(handover.handed_on.is_null()).order_by(handover.due_on, handover.id)
        else:
            since = today - datetime.timedelta(days=90)
            query = query.where(handover.handed_on >= since).order_by(handover.handed_on.desc(), handover.id.desc())
        rows = list(query.limit(200))
        fines = self._fines([row.id for row in rows])
        items = self._items({row.file_id for row in rows if row.handed_on is None})
        month_first, month_last = month_range(today, request.args.get("month", ""))
        return self.render(
            "ledger/handovers.html", rows=rows, fines=fines, items=items, today=today, show=show,
            kinds=dict(models.HANDOVER_KIND), monthly=monthly_fines(month_first, month_last),
            month_first=month_first, month_last=month_last, prev_month=add_months(month_first, -1),
            next_month=add_months(month_first, 1), here=request.full_path,
            late_dates=archives.late_dates, can_receive=self._may(models.Handover, "edit"),
            level_badges=LEVEL_BADGES,
        )

    @staticmethod
    def _fines(handover_ids):
        """Return {handover id: (count, total)} of the ARC-9 penalties of ``handover_ids``, in one query."""
        if not handover_ids:
            return {}
        penalty = models.Penalty
        sources = {f"Handover#{i}": i for i in handover_ids}
        query = (penalty.select(penalty.source, fn.COUNT(penalty.id), fn.SUM(penalty.amount))
                 .where(penalty.rule == archives.ARC_9.id, penalty.source.in_(list(sources)))
                 .group_by(penalty.source))
        return {sources[source]: (count, money(total)) for source, count, total in query.tuples()}

    @staticmethod
    def _items(file_ids):
        """Return {file id: [ArchiveItem]} of ``file_ids``, in one query."""
        result = {}
        if file_ids:
            for item in models.ArchiveItem.select().where(models.ArchiveItem.file.in_(list(file_ids))).order_by(
                    models.ArchiveItem.id):
                result.setdefault(item.file_id, []).append(item)
        return result

    @expose("/receive/", methods=("POST",))
    def receive(self):
        """Receive a handover: record the checklist ticks, then the handover date (ARC-9 computes the fines)."""
        back = self._back(url_for(".index"))
        if not self._may(models.Handover, "edit"):
            abort(403)
        handover_id = _int(request.form.get("handover"))
        if handover_id is None:
            abort(400)
        query = models.Handover.select().where(models.Handover.id == handover_id)
        handover = access.scope(models.Handover, query, self._user()).first()
        if handover is None:
            abort(404)
        if handover.handed_on is not None:
            flash("该档案已接收。", "error")
            return redirect(back)
        handed_on = _date(request.form.get("handed_on")) or local_today()
        ticked = set(request.form.getlist("tick"))
        try:
            with models.db.atomic():
                for item in models.ArchiveItem.select().where(models.ArchiveItem.file == handover.file_id):
                    values = {"present": f"{item.id}:present" in ticked,
                              "customer_signed": f"{item.id}:customer" in ticked,
                              "staff_signed": f"{item.id}:staff" in ticked}
                    if any(getattr(item, name) != value for name, value in values.items()):
                        for name, value in values.items():
                            setattr(item, name, value)
                        item.save()
                handover.handed_on = handed_on
                handover.missing_items = models.ArchiveItem.select().where(
                    models.ArchiveItem.file == handover.file_id, models.ArchiveItem.present == False).count()  # noqa: E712
                handover.save()
        except policies.PolicyViolation as exc:
            _report(exc)
        except models.StaleEdit as exc:
            flash(str(exc), "error")
        else:
            fined = self._fines([handover.id]).get(handover.id)
            tail = f"，已计罚款 {fined[1]} 元(ARC-9)" if fined else ""
            flash(f"已接收 {handover.file}，移交日期 {handed_on}{tail}", "success")
        return redirect(back)


def monthly_fines(first, last):
    """Return [(user, count, total)] of the ARC-9 fines dated from ``first`` to ``last``, largest first."""
    penalty = models.Penalty
    person = models.User.alias("person")
    total = fn.SUM(penalty.amount)
    query = (penalty.select(person.id, person.display_name, person.username, fn.COUNT(penalty.id), total)
             .join_from(penalty, person, on=(penalty.user == person.id))
             .where(penalty.rule == archives.ARC_9.id, penalty.on.between(first, last))
             .group_by(person.id, person.display_name, person.username)
             .order_by(total.desc(), person.display_name))
    return [(user_id, name or username, count, money(amount))
            for user_id, name, username, count, amount in query.tuples()]


def money(value):
    """Return ``value`` (a SUM, which SQLite gives as a float) as yuan with two decimals."""
    return Decimal(str(value or 0)).quantize(CENT)


def register_ledger_views(admin):
    """Add 借阅登记册 and 移交看板 to ``admin`` (menu 档案)."""
    admin.add_view(LedgerView(name="借阅登记册", category=CATEGORY, endpoint="ledger", url="/admin/ledger"))
    admin.add_view(HandoverBoardView(name="移交看板", category=CATEGORY, endpoint="handover_board",
                                     url="/admin/handover-board"))
