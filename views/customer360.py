"""Customer 360 (客户全景): everything about one customer on one page, each section linked to its list."""
import decimal

from flask import abort
from flask import redirect
from flask import request
from flask import url_for
from flask_admin import expose
from flask_login import current_user

import models
from policies import credit
from clock import local_today
from views import access
from views import links
from views.base import SecureView

ROWS = 20

# (title, model, the field pointing at the customer, columns, newest-first order field)
SECTIONS = (
    ("联系人", "Contact", "customer", ("name", "title", "mobile", "email", "is_primary"), None),
    ("沟通记录", "Communication", "customer", ("at", "channel", "by", "summary", "follow_up"), "at"),
    ("合同", "Contract", "customer", ("number", "kind", "amount", "signed_on", "status"), "signed_on"),
    ("开票发货", "Shipment", "customer", ("invoice_no", "amount", "shipped_on", "status", "over_limit", "prepaid"),
     "shipped_on"),
    ("回款", "Payment", "customer", ("received_on", "amount", "shipment"), "received_on"),
    ("投诉", "Complaint", "customer", ("number", "received_at", "category", "severity", "status", "due_at"),
     "received_at"),
    ("拜访与回访", "Visit", "customer", ("visited_on", "kind", "purpose", "report_submitted_on"), "visited_on"),
    ("满意度调查", "SatisfactionSurvey", "customer", ("period", "quality", "price", "service"), None),
    ("服务派工单", "ServiceOrder", "customer", ("kind", "product_model", "fault", "status"), None),
    ("档案", "ArchiveFile", "customer", ("number", "title", "kind", "confidentiality", "status"), None),
)
PROFILE = ("code", "name", "kind", "tier", "grade", "stage", "region", "industry", "address", "phone", "website",
           "owner", "department", "confidentiality", "consent_at", "approved_by", "last_contact_at",
           "id_number", "bank_account")


def _section(title, model, fk_name, columns, order_name, customer, user):
    """Return one section's rows (newest first, at most ROWS), its total and its list link; None if not allowed."""
    if not access.can(user, model, "view"):
        return None
    fk = getattr(model, fk_name)
    query = access.scope(model, model.select().where(fk == customer.id), user)
    total = query.count()
    order = getattr(model, order_name).desc() if order_name else model.id.desc()
    rows = list(query.order_by(order, model.id.desc()).limit(ROWS))
    return dict(
        title=title, model=model, columns=[(c, links.label(model, c)) for c in columns],
        rows=[(r, [links.display(r, c) for c in columns], links.details_url(r)) for r in rows],
        total=total, more=links.list_url(model, **{fk_name: customer.id}),
    )


def open_loans(customer, user):
    """Return the open loans of the customer's files the user may see."""
    if not access.can(user, models.Loan, "view"):
        return []
    loan = models.Loan
    query = (loan.select(loan, models.ArchiveFile)
             .join(models.ArchiveFile)
             .where(models.ArchiveFile.customer == customer.id, loan.returned_at.is_null()))
    return list(access.scope(loan, query, user).order_by(loan.due_at))


def credit_position(customer):
    """Return the credit line valid today, what is outstanding and what is left (CRD-2)."""
    line = credit.credit_line_on(customer.id, local_today())
    owed = credit.outstanding(customer.id)
    limit = line.limit if line is not None else decimal.Decimal(0)
    used = 0 if not limit else min(100, max(0, int(owed * 100 / limit)))
    return dict(line=line, outstanding=owed, available=limit - owed if line is not None else None, used=used)


def approvals_of(customer, user):
    """Return the approvals of the customer and of its contracts and shipments (visible ones)."""
    approval = models.Approval
    targets = (
        ((approval.target_model == "Customer") & (approval.target_id == customer.id))
        | ((approval.target_model == "Contract")
           & approval.target_id.in_(models.Contract.select(models.Contract.id)
                                    .where(models.Contract.customer == customer.id)))
        | ((approval.target_model == "Shipment")
           & approval.target_id.in_(models.Shipment.select(models.Shipment.id)
                                    .where(models.Shipment.customer == customer.id)))
    )
    query = access.scope(approval, approval.select().where(targets), user)
    return list(query.order_by(approval.requested_at.desc()).limit(ROWS))


class Customer360View(SecureView):
    """One page per customer: profile, contacts, timeline, contracts, credit, complaints, files, approvals."""

    def is_accessible(self):
        return super().is_accessible() and access.can(current_user, models.Customer, "view")

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return super().inaccessible_callback(name, **kwargs)
        return abort(403)

    def is_visible(self):
        return False  # opened from a customer, not from the menu

    @expose("/")
    def index(self):
        raw = request.args.get("id", "")
        if not raw.isdigit():
            return redirect(url_for("customer.index_view"))
        customer = models.Customer.get_or_none(models.Customer.id == int(raw))
        if customer is None or not access.can_see(customer, current_user):
            return abort(404)
        sections = []
        for title, model_name, fk_name, columns, order_name in SECTIONS:
            section = _section(title, getattr(models, model_name), fk_name, columns, order_name, customer,
                               current_user)
            if section is not None:
                sections.append(section)
        profile = [(links.label(models.Customer, n), links.display(customer, n)) for n in PROFILE]
        can_credit = access.can(current_user, models.CreditLine, "view")
        return self.render(
            "admin/customer360.html", customer=customer, profile=profile, sections=sections,
            credit=credit_position(customer) if can_credit else None,
            credit_url=links.list_url(models.CreditLine, customer=customer.id) if can_credit else None,
            loans=open_loans(customer, current_user),
            approvals=approvals_of(customer, current_user),
            details_url=links.details_url(customer), display=links.display,
        )
