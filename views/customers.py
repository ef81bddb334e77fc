"""The customer screen: the generated one plus the data-subject rights of CUS-4."""
import datetime
import decimal
import json

import tablib
from flask import Response
from flask import abort
from flask import flash
from flask import redirect
from flask import request
from flask_admin import expose
from flask_login import current_user

import models
import policies
from policies import personal_data
from views import access
from views.base import ModelAdmin
from views.fields import formula_safe

# Related records held about a customer, exported with it: (backref, label).
PERSONAL_DATA = (
    ("contacts", "联系人"), ("communications", "沟通记录"), ("visits", "拜访"), ("surveys", "满意度调查"),
    ("contracts", "合同"), ("credit_lines", "授信"), ("shipments", "开票发货"), ("payments", "回款"),
    ("complaints", "投诉"), ("service_orders", "服务派工单"), ("receptions", "接待"),
    ("tenant_requests", "诉求记录"), ("move_outs", "客户迁出"), ("archive_files", "档案"),
    ("data_shares", "数据共享登记"), ("data_incidents", "数据泄露事件"),
)


def _plain(value):
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, models.BaseModel):
        return str(value)
    return value


def _record(obj):
    data = {}
    for name, field in obj._meta.fields.items():
        if name in ("password_hash", "session_token"):
            continue
        value = getattr(obj, name) if not hasattr(field, "rel_model") else getattr(obj, name + "_id")
        data[field.verbose_name or name] = _plain(value)
    return data


class CustomerAdmin(ModelAdmin):
    """Customers: export everything held about one (JSON/XLSX) or anonymise them (CUS-4)."""

    details_template = "admin/model/customer_details.html"

    def can_anonymise(self):
        return bool(access.role_codes(current_user) & {"gm", "admin"})

    def personal_data(self, customer, user=None):
        """Return {section label: [records as dicts]} of what is held about ``customer`` that ``user`` may see."""
        result = {"客户": [_record(customer)]}
        for backref, label in PERSONAL_DATA:
            query = getattr(customer, backref)
            rows = list(access.scope(query.model, query, user))
            if rows:
                result[label] = [_record(r) for r in rows]
        return result

    @expose("/personal-data/<fmt>/", methods=("POST",))
    def personal_data_view(self, fmt):
        """Export one customer's personal data: plain values, so a recent login or the password again; audited."""
        if not self.can_export or fmt not in ("json", "xlsx"):
            return abort(403)
        customer = self.get_one(request.form.get("id", ""))
        if customer is None:
            flash("记录不存在。", "error")
            return redirect(self.get_url(".index_view"))
        refusal = self.reauthenticate()
        if refusal:
            flash(f"未导出:{refusal}", "error")
            return redirect(self.get_url(".details_view", id=customer.id))
        data = self.personal_data(customer, current_user)
        policies.audit.log("view_sensitive", "Customer", customer.id, {"个人数据导出": ["", fmt]})
        name = f"customer_{customer.id}_personal_data.{fmt}"
        headers = {"Content-Disposition": f"attachment; filename={name}"}
        if fmt == "json":
            body = json.dumps(data, ensure_ascii=False, indent=2)
            return Response(body, mimetype="application/json", headers=headers)
        book = tablib.Databook()
        for label, rows in data.items():
            sheet = tablib.Dataset(title=label[:31])
            sheet.headers = list(rows[0].keys())
            for row in rows:
                sheet.append([formula_safe(row.get(h)) for h in sheet.headers])
            book.add_sheet(sheet)
        return Response(book.export("xlsx"), headers=headers,
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    @expose("/anonymise/", methods=("POST",))
    def anonymise_view(self):
        """Remove the customer's personal data everywhere it is held; keep business records (gm/admin)."""
        if not (self.can_edit and self.can_anonymise()):
            return abort(403)
        customer = self.get_one(request.form.get("id", ""))
        if customer is None:
            flash("记录不存在。", "error")
            return redirect(self.get_url(".index_view"))
        if not request.form.get("confirm"):
            flash("请勾选确认后再执行匿名化。", "error")
            return redirect(self.get_url(".details_view", id=customer.id))
        personal_data.anonymise(customer)
        flash("已匿名化:客户、联系人、投诉、沟通记录及操作日志中的个人信息已清除,合同、发货等业务记录保留。", "success")
        return redirect(self.get_url(".details_view", id=customer.id))
