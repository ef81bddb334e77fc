"""Rules of return visits: on-site frequency by tier and the quarterly report (003 第十七条).

A return visit is a ``Visit`` of kind ``return``; who went is ``visited_by`` (else the plan's owner).
Only visits that happened count: a visit dated after today clears nothing.
"""
import datetime

from peewee import JOIN

import backend
import models
from policies.calendar import local_midnight
from policies.calendar import local_today
from policies.calendar import months_before
from policies.engine import FLAG
from policies.engine import REPORT
from policies.engine import flag
from policies.engine import rule

# "主管副总、各业务单位责任人" and above: the roles that count as a manager's visit.
MANAGER_OR_ABOVE = ("manager", "deputy", "gm")
# "董事长、总经理": the GM's own visit.
TOP = ("gm",)

VIS_5 = rule(
    "VIS-5", "分级现场回访频次", "003 第十七条(三)2–4", FLAG,
    settings={"strategic_months": 12, "strategic_gm_months": 12, "key_months": 12, "general_months": 12,
              "general_sales_months": 24},
    labels={"strategic_months": "战略合作客户:经理及以上现场回访间隔(月)",
            "strategic_gm_months": "战略合作客户:总经理现场回访间隔(月)",
            "key_months": "关键客户:经理现场回访间隔(月)",
            "general_months": "一般客户:经理现场回访间隔(月)",
            "general_sales_months": "一般客户:经理未回访时业务员现场回访间隔(月)"},
    quote="2、战略合作(伙伴)用户:企业主管副总、各业务单位责任人进行全方面用户现场回访每十二个月不少于1次;"
          "董事长、总经理每十二个月最少1次有选择进行现场回访;3、关键用户:各业务单位责任人每十二个月最少1次现场回访;"
          "4、通常见户:各业务单位责任人每十二个月最少1次有选择进行现场回访;对业务单位责任人没有现场回访,"
          "分管业务人员两年最少1次现场回访;",
    reading="只计已发生的回访(拜访类型“回访”),拜访人为拜访记录的拜访人或计划的业务员;新客户在其录入后才开始计算。",
)
VIS_6 = rule(
    "VIS-6", "回访工作季度评定汇报", "003 第十七条(五)", REPORT, settings={"months": 3},
    labels={"months": "回访评定汇报周期(月)"},
    quote="(五)回访工作总体效果评定销售部每三个月依据跟回访结果、效果评定对用户回访工作做总体评定汇报,汇报内容包含:"
          "1、依据年度计划进度本阶段回访工作落实情况;2、本阶段回访工作关键成绩;3、回访过程中所碰到还未处理问题;"
          "4、后期工作需改善之处,并提出意见和提议。",
)


def _return_visits(since, today, ids=None):
    """Return [(customer id, visited on, visitor's role codes)] of return visits from ``since`` to ``today``."""
    roles = {}
    for user_id, code in models.UserRole.select(models.UserRole.user, models.Role.code).join(models.Role).tuples():
        roles.setdefault(user_id, set()).add(code)
    query = (models.Visit.select(models.Visit.customer, models.Visit.visited_on, models.Visit.visited_by,
                                 models.VisitPlan.owner)
             .join(models.VisitPlan, join_type=JOIN.LEFT_OUTER, on=(models.Visit.plan == models.VisitPlan.id))
             .where(models.Visit.kind == "return", models.Visit.visited_on >= since,
                    models.Visit.visited_on <= today))
    if ids is not None:
        query = query.where(backend.among(models.Visit.customer, ids))
    return [(customer_id, on, roles.get(visitor or owner, set()))
            for customer_id, on, visitor, owner in query.tuples()]


def return_visit_overdue(today=None, ids=None):
    """Return customers whose on-site return visit by the person their tier requires is overdue (VIS-5).

    ``ids`` limits the question to those customers (a list page's rows).
    """
    today = today or local_today()
    cut = {name: months_before(today, VIS_5.get(name)) for name in VIS_5.defaults}
    visits = _return_visits(min(cut.values()), today, ids)

    def visited(customer_id, since, codes=None):
        return any(c == customer_id and on >= since and (codes is None or roles & set(codes))
                   for c, on, roles in visits)

    late = []
    rows = models.Customer.select(models.Customer.id, models.Customer.tier, models.Customer.created_at).where(
        models.Customer.tier.in_(("strategic", "key", "general")))
    if ids is not None:
        rows = rows.where(backend.among(models.Customer.id, ids))
    cut_at = {name: local_midnight(day) for name, day in cut.items()}
    for customer_id, tier, created_at in rows.tuples():
        def due(name):
            # Nothing is owed for a period before the customer was entered.
            return created_at < cut_at[name]
        if tier == "strategic":
            overdue = ((due("strategic_months") and not visited(customer_id, cut["strategic_months"], MANAGER_OR_ABOVE))
                       or (due("strategic_gm_months") and not visited(customer_id, cut["strategic_gm_months"], TOP)))
        elif tier == "key":
            overdue = due("key_months") and not visited(customer_id, cut["key_months"], MANAGER_OR_ABOVE)
        else:
            overdue = (due("general_months") and not visited(customer_id, cut["general_months"], MANAGER_OR_ABOVE)
                       and due("general_sales_months") and not visited(customer_id, cut["general_sales_months"]))
        if overdue:
            late.append(customer_id)
    return models.Customer.select().where(backend.among(models.Customer.id, late))


def quarter_bounds(year, quarter):
    """Return the first and last day of ``quarter`` (1–4) of ``year``."""
    start = datetime.date(year, 3 * quarter - 2, 1)
    end_next = datetime.date(year + (quarter == 4), 1 if quarter == 4 else 3 * quarter + 1, 1)
    return start, end_next - datetime.timedelta(days=1)


def return_visit_report(year, quarter, today=None):
    """Return the quarter's return-visit report (VIS-6): planned, done, their reports, and visits still open."""
    today = today or local_today()
    start, end = quarter_bounds(year, quarter)
    months = [f"{year}-{m:02d}" for m in range(3 * quarter - 2, 3 * quarter + 1)]
    rows = list(models.Visit.select().join(models.VisitPlan, join_type=JOIN.LEFT_OUTER,
                                          on=(models.Visit.plan == models.VisitPlan.id))
                .where(models.Visit.kind == "return",
                       (models.VisitPlan.month.in_(months))
                       | ((models.Visit.visited_on >= start) & (models.Visit.visited_on <= end)))
                .order_by(models.Visit.visited_on))
    planned = [v for v in rows if v.plan_id is not None and v.plan.month in months]
    done = [v for v in rows if start <= v.visited_on <= min(end, today)]
    return dict(
        year=year, quarter=quarter, start=start, end=end,
        planned=len(planned),
        done=len(done),
        done_of_planned=len([v for v in planned if v.visited_on <= min(end, today)]),
        results=[(v.visited_on, str(v.customer), v.report) for v in done if (v.report or "").strip()],
        open=[(v.visited_on, str(v.customer)) for v in planned if v.visited_on > today],
        without_report=[(v.visited_on, str(v.customer)) for v in done if not (v.report or "").strip()],
    )


def return_visit_candidates(today=None):
    """Return the customers of a tier VIS-5 covers entered before its shortest period: the only ones it can flag."""
    today = today or local_today()
    latest = max(months_before(today, VIS_5.get(name)) for name in VIS_5.defaults)
    Customer = models.Customer
    # Most customers meet both conditions: the count walks the ids, not these columns' indexes.
    return Customer.select().where(backend.unselective(Customer.tier).in_(("strategic", "key", "general")),
                                   backend.unselective(Customer.created_at) < local_midnight(latest))


flag(VIS_5, models.Customer, return_visit_overdue, badge="warning", name="return_visit_overdue",
     candidates=return_visit_candidates)
