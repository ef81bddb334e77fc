"""Demo data: fill an empty database with believable Chinese records for every screen."""
import datetime
import json
import random
import secrets
from decimal import Decimal

from stdnum.cn import ric
from stdnum.cn import uscc

import models
from policies import approvals
from policies import archives
from policies import credit
from policies import workflow
from policies.engine import settings_read_once

# Stored datetimes are naive UTC; office hours below are Beijing time (UTC+8).
BEIJING_OFFSET = datetime.timedelta(hours=8)

ROLES = (
    ("admin", "系统管理员"),
    ("gm", "总经理"),
    ("manager", "部门经理"),
    ("archivist", "档案管理员"),
    ("service", "客服专员"),
    ("sales", "销售/业务员"),
    ("clerk", "录入员"),
    ("info_supervisor", "客户信息主管"),
    # Approvers only: the deputy GM (ARC-5) and the three departments that sign a move-out (MOV-1).
    ("deputy", "副总经理"),
    ("engineering", "工程部"),
    ("finance", "财务部"),
    ("security", "保安部"),
)

# (name, parent name)
DEPARTMENTS = (
    ("总经理办公室", None),
    ("销售部", None),
    ("销售一部", "销售部"),
    ("销售二部", "销售部"),
    ("客服部", None),
    ("档案室", None),
    ("工程部", None),
    ("财务部", None),
    ("保安部", None),
    ("售后服务部", None),
)

# (username, display name, department, role codes, clearance, returned to the caller)
USERS = (
    ("gm", "王建国", "总经理办公室", ("gm",), "top_secret", True),
    ("manager", "李明", "销售部", ("manager",), "secret", True),
    ("archivist", "张丽", "档案室", ("archivist",), "secret", True),
    ("service", "陈静", "客服部", ("service",), "normal", True),
    ("sales", "刘洋", "销售一部", ("sales",), "normal", True),
    ("clerk", "赵敏", "总经理办公室", ("clerk",), "normal", True),
    ("info_supervisor", "钱文静", "客服部", ("info_supervisor",), "secret", True),
    ("zhoujie", "周杰", "销售一部", ("sales",), "normal", False),
    ("wuxiaoli", "吴晓丽", "销售二部", ("sales",), "normal", False),
    ("sunhao", "孙浩", "销售二部", ("manager",), "secret", False),
    ("huangfang", "黄芳", "客服部", ("service",), "normal", False),
    ("hewei", "何伟", "客服部", ("manager",), "top_secret", False),
    ("fengli", "冯丽", "客服部", ("manager",), "secret", False),
    ("zhengqiang", "郑强", "售后服务部", ("service",), "normal", False),
    ("tanglin", "唐琳", "售后服务部", ("manager",), "secret", False),
    ("xulei", "徐磊", "工程部", ("manager",), "secret", False),
    ("gaojing", "高静", "财务部", ("manager",), "secret", False),
    ("mayong", "马勇", "保安部", ("manager",), "secret", False),
    ("deputy", "林国栋", "总经理办公室", ("deputy",), "top_secret", True),
    ("engineering", "郭建华", "工程部", ("engineering",), "normal", True),
    ("finance", "罗晓燕", "财务部", ("finance",), "normal", True),
    ("security", "梁俊", "保安部", ("security",), "normal", True),
)

# department -> username of its manager
DEPARTMENT_MANAGERS = {
    "总经理办公室": "gm",
    "销售部": "manager",
    "销售一部": "manager",
    "销售二部": "sunhao",
    "客服部": "hewei",
    "档案室": "archivist",
    "工程部": "xulei",
    "财务部": "gaojing",
    "保安部": "mayong",
    "售后服务部": "tanglin",
}

# (city, address prefix, area code, districts, ID-number region code, plate prefix, in province)
CITIES = (
    ("杭州", "浙江省杭州市", "0571", ("西湖区", "拱墅区", "上城区", "滨江区", "余杭区", "萧山区"), "330106", "浙A", True),
    ("宁波", "浙江省宁波市", "0574", ("鄞州区", "海曙区", "江北区", "北仑区"), "330212", "浙B", True),
    ("温州", "浙江省温州市", "0577", ("鹿城区", "瓯海区", "龙湾区"), "330302", "浙C", True),
    ("绍兴", "浙江省绍兴市", "0575", ("越城区", "柯桥区", "上虞区"), "330602", "浙D", True),
    ("湖州", "浙江省湖州市", "0572", ("吴兴区", "南浔区"), "330502", "浙E", True),
    ("嘉兴", "浙江省嘉兴市", "0573", ("南湖区", "秀洲区"), "330402", "浙F", True),
    ("金华", "浙江省金华市", "0579", ("婺城区", "金东区"), "330702", "浙G", True),
    ("台州", "浙江省台州市", "0576", ("椒江区", "路桥区", "黄岩区"), "331002", "浙J", True),
    ("上海", "上海市", "021", ("浦东新区", "闵行区", "嘉定区"), "310115", "沪A", False),
    ("苏州", "江苏省苏州市", "0512", ("工业园区", "吴中区", "相城区"), "320506", "苏E", False),
    ("南京", "江苏省南京市", "025", ("江宁区", "鼓楼区", "栖霞区"), "320115", "苏A", False),
    ("合肥", "安徽省合肥市", "0551", ("蜀山区", "包河区"), "340104", "皖A", False),
    ("福州", "福建省福州市", "0591", ("鼓楼区", "仓山区"), "350102", "闽A", False),
    ("武汉", "湖北省武汉市", "027", ("江汉区", "洪山区"), "420103", "鄂A", False),
    ("广州", "广东省广州市", "020", ("天河区", "番禺区"), "440106", "粤A", False),
)

ROADS = (
    "文三路", "解放路", "人民路", "中山路", "建设路", "科技大道", "江南大道", "工业园路",
    "环城北路", "新华路", "滨江路", "兴业街", "长兴路", "创业路", "湖滨路", "学院路",
)

# (brand word, pinyin used for web addresses)
BRAND_WORDS = (
    ("恒达", "hengda"), ("华鑫", "huaxin"), ("金桥", "jinqiao"), ("宏远", "hongyuan"),
    ("鼎盛", "dingsheng"), ("万通", "wantong"), ("瑞丰", "ruifeng"), ("永盛", "yongsheng"),
    ("天成", "tiancheng"), ("博远", "boyuan"), ("中恒", "zhongheng"), ("锦程", "jincheng"),
    ("诚信", "chengxin"), ("远航", "yuanhang"), ("德力", "deli"), ("盛华", "shenghua"),
    ("新纪元", "xinjiyuan"), ("东升", "dongsheng"), ("汇通", "huitong"), ("嘉禾", "jiahe"),
    ("鑫源", "xinyuan"), ("海纳", "haina"), ("明珠", "mingzhu"), ("弘毅", "hongyi"),
    ("腾飞", "tengfei"), ("广源", "guangyuan"), ("安泰", "antai"), ("顺发", "shunfa"),
    ("金鼎", "jinding"), ("百川", "baichuan"), ("和信", "hexin"), ("众成", "zhongcheng"),
)

# (name suffix, web suffix, industry, vehicle business)
GENERAL_TRADES = (
    ("机电有限公司", "jd", "机械制造", False),
    ("物流有限公司", "wl", "物流运输", True),
    ("建材有限公司", "jc", "建材", False),
    ("汽车销售服务有限公司", "qc", "汽车销售", True),
    ("电子科技有限公司", "dz", "电子信息", False),
    ("食品有限公司", "sp", "食品加工", False),
    ("纺织有限公司", "fz", "纺织服装", False),
    ("医药有限公司", "yy", "医药", False),
    ("建设工程有限公司", "jsgc", "建筑工程", False),
    ("贸易有限公司", "my", "商贸", False),
    ("出租汽车有限公司", "czqc", "交通运输", True),
    ("化工有限公司", "hg", "化工", False),
    ("客运有限公司", "ky", "交通运输", True),
)

# Special customers (000 篇二 第3条): lawyers, banks, insurers.  {city}/{brand} are filled in.
SPECIAL_TRADES = (
    ("浙江{brand}律师事务所", "lawfirm", "法律服务"),
    ("{brand}银行{city}分行", "bank", "银行"),
    ("{brand}财产保险股份有限公司{city}中心支公司", "insurance", "保险"),
    ("{city}{brand}会计师事务所有限公司", "cpa", "会计审计"),
    ("{brand}人寿保险股份有限公司{city}分公司", "life", "保险"),
)

# (surname, pinyin)
SURNAMES = (
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
    ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"),
    ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("林", "lin"),
    ("高", "gao"), ("罗", "luo"), ("郑", "zheng"), ("沈", "shen"), ("钱", "qian"), ("蒋", "jiang"),
)
GIVEN_NAMES = (
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("磊", "lei"),
    ("强", "qiang"), ("艳", "yan"), ("勇", "yong"), ("军", "jun"), ("涛", "tao"), ("超", "chao"),
    ("秀英", "xiuying"), ("建华", "jianhua"), ("志强", "zhiqiang"), ("海燕", "haiyan"),
    ("晓东", "xiaodong"), ("丽华", "lihua"), ("国庆", "guoqing"), ("文博", "wenbo"),
    ("春梅", "chunmei"), ("立新", "lixin"), ("雪琴", "xueqin"), ("永康", "yongkang"),
)
CONTACT_TITLES = ("总经理", "采购经理", "财务主管", "行政主管", "技术总监", "办公室主任", "车队队长", "法务专员")
MOBILE_PREFIXES = ("138", "139", "137", "136", "135", "150", "151", "158", "186", "189", "177")

CREDIT_NOTES = (
    "信用良好，回款及时。",
    "合作多年，信用良好，偶有月底集中付款。",
    "新客户，信用待评估，首单预付。",
    "曾有逾期 15 天记录，已结清，需持续关注。",
    "资金周转偏紧，发货前需核对应收账款。",
    "",
)

COMMUNICATION_SUMMARIES = {
    "phone": ("电话确认下季度采购计划，客户预计增加 20% 订货量。", "电话回访产品使用情况，客户反馈运行稳定。",
              "电话催收上月货款，对方承诺本周内付款。"),
    "email": ("邮件发送新版报价单及产品手册。", "邮件确认合同条款修改意见。", "邮件寄送对账单，请客户核对。"),
    "visit": ("上门拜访采购经理，介绍新产品并了解竞争对手报价。", "走访客户仓库，查看库存及陈列情况。",
              "登门拜访总经理，商谈年度框架协议。"),
    "qq": ("QQ 沟通技术参数，发送安装说明。", "QQ 发送发票信息，确认开票抬头。"),
    "wechat": ("微信沟通到货时间，客户要求周五前送达。", "微信发送活动方案，客户表示有兴趣。",
               "微信群答复售后问题，安排技术员上门。"),
    "meeting": ("参加客户供应商大会，沟通明年合作方向。", "双方召开项目协调会，确认交付节点。"),
    "sms": ("短信通知客户节日放假安排及值班电话。", "短信提醒客户合同即将到期。"),
}
FOLLOW_UPS = ("", "下周再次电话跟进。", "月底前提交正式报价。", "安排技术员上门。", "报部门经理审批优惠政策。", "")

VISIT_REPORTS = (
    "拜访采购负责人，了解下半年需求，客户对交货周期有较高要求，建议优化物流安排。",
    "走访客户门店，陈列情况良好，竞品近期降价约 5%，需关注。",
    "回访产品使用情况，客户总体满意，提出增加培训的建议。",
    "介绍新产品，客户有试用意向，已约定下月安排样机。",
    "了解竞争对手动态：对方推出账期 60 天的政策，客户在观望。",
    "客户保养性拜访，赠送公司台历，沟通春节前备货计划。",
)
SURVEY_COMMENTS = ("", "产品质量稳定，希望价格再优惠一些。", "售后响应速度快，满意。", "送货偶有延迟。",
                   "业务员服务热情，沟通顺畅。", "希望增加节假日服务时间。", "")

ARCHIVE_ITEMS = {
    "customer": ("客户信息登记表", "营业执照复印件", "税务登记证复印件", "法定代表人身份证复印件", "开户许可证复印件",
                 "授信申请表"),
    "new_vehicle": ("购车合同", "购车发票复印件", "车辆合格证复印件", "交车确认单", "保险单复印件", "上牌资料"),
    "after_sales": ("维修委托书", "维修结算单", "质量担保单", "旧件交接单", "客户确认单"),
    "project": ("项目立项书", "施工合同", "竣工验收报告", "结算审计报告", "项目会议纪要"),
    "title_deed": ("不动产权证书", "土地使用权证", "房屋所有权证", "抵押登记证明"),
}

# product model -> typical faults
PRODUCT_FAULTS = {
    "GPS车载终端 JT-808A": ("终端无法定位，平台显示离线。", "SIM 卡无信号，无法上传数据。", "设备频繁重启。"),
    "北斗定位终端 BD-200": ("定位漂移严重，轨迹不连续。", "终端无法定位，平台显示离线。"),
    "行车记录仪 DVR-3C": ("录像文件无法回放。", "屏幕无显示，按键失灵。"),
    "车载视频终端 MDVR-4": ("摄像头画面黑屏。", "硬盘报错，视频无法存储。", "SIM 卡无信号，无法上传视频。"),
    "油量监测仪 OM-10": ("油量数据跳变，与实际不符。", "传感器供电线路接触不良。"),
}
PRODUCT_MODELS = tuple(PRODUCT_FAULTS)


class _Seed:
    """Shared state of one seeding run: the random source, the clock and what was created so far."""

    def __init__(self, today, rng_seed):
        self.rng = random.Random(rng_seed)
        self.today = today
        now = models.utcnow()
        if now.date() != today:
            now = datetime.datetime.combine(today, now.time())
        self.now = now
        self.roles = {}
        self.departments = {}
        self.users = {}
        self.passwords = {}
        self.customers = []
        self.city_of = {}
        self.primary_contact = {}
        self.files = []
        self.invoice_seq = 10000000 + self.rng.randint(0, 899999)

    def day(self, days_ago):
        """Return the date ``days_ago`` days before today (negative: in the future)."""
        return self.today - datetime.timedelta(days=days_ago)

    def at(self, day, hour=10, minute=0):
        """Return the stored (naive UTC) form of a Beijing office time on ``day``."""
        return datetime.datetime.combine(day, datetime.time(hour, minute)) - BEIJING_OFFSET

    def past(self, moment):
        """Clamp ``moment`` so it is never after now."""
        return min(moment, self.now - datetime.timedelta(minutes=5))

    def office_time(self, day):
        """Return a random office-hours moment on ``day`` (clamped to the past)."""
        return self.past(self.at(day, self.rng.randint(8, 17), self.rng.choice((0, 10, 15, 20, 30, 40, 45, 50))))

    def users_with(self, role_code):
        """Return the seeded users holding ``role_code``, in seeding order."""
        return [self.users[u[0]] for u in USERS if role_code in u[3] and u[0] in self.users]

    def spread(self, choices, n, weights=None):
        """Return ``n`` values of ``choices`` where each appears at least once, shuffled."""
        values = list(choices)
        values += self.rng.choices(list(choices), weights=weights, k=max(0, n - len(values)))
        self.rng.shuffle(values)
        return values[:n]

    def person(self):
        """Return a random Chinese full name and a matching e-mail local part."""
        surname, surname_py = self.rng.choice(SURNAMES)
        given, given_py = self.rng.choice(GIVEN_NAMES)
        return surname + given, f"{given_py}.{surname_py}"

    def mobile(self):
        """Return a random mainland mobile number."""
        return self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randint(0, 99999999):08d}"

    def landline(self, area_code):
        """Return a landline number with its area code."""
        digits = 8 if len(area_code) <= 3 or area_code in ("0571", "0574", "0577", "0512") else 7
        return f"{area_code}-{self.rng.randint(2, 8)}{self.rng.randint(0, 10 ** (digits - 1) - 1):0{digits - 1}d}"

    def next_invoice(self):
        """Return the next unique 8-digit invoice number."""
        self.invoice_seq += self.rng.randint(1, 37)
        return f"{self.invoice_seq:08d}"


def _money(value):
    """Return ``value`` as a two-place Decimal."""
    return Decimal(value).quantize(Decimal("0.01"))


def _month_start(day, shift=0):
    """Return the first day of the month ``shift`` months from ``day``'s month."""
    index = day.year * 12 + day.month - 1 + shift
    return datetime.date(index // 12, index % 12 + 1, 1)


def _half_year(day):
    """Return the survey period label (e.g. ``2026H1``) of ``day``."""
    return f"{day.year}H{1 if day.month <= 6 else 2}"


def _id_number(rng, region_code):
    """Return a well-formed 18-character resident ID number (GB 11643 check digit)."""
    birth = datetime.date(1960, 1, 1) + datetime.timedelta(days=rng.randint(0, 365 * 38))
    body = f"{region_code}{birth:%Y%m%d}{rng.randint(1, 999):03d}"
    return body + ric.calc_check_digit(body + "0")  # the library reads the number with its check digit


def _bank_account(rng):
    """Return a 16–19 digit bank card number with a valid Luhn check digit."""
    prefix = rng.choice(("622848", "622202", "621700", "622588", "621483"))
    length = rng.choice((16, 19))
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, digit in enumerate(reversed(body)):
        value = int(digit)
        if i % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return body + str((10 - total % 10) % 10)


def _credit_code(rng, region_code):
    """Return an 18-character unified social credit code (licence and tax number, GB 32100 check character)."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    # Ten draws as before (the demo's story depends on the random sequence); the last becomes the check character.
    body = "91" + region_code + "".join(rng.choice(alphabet) for _ in range(10))[:9]
    return body + uscc.calc_check_digit(body)


def _plate(rng, prefix):
    """Return a licence plate number like 浙A·D1234."""
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    tail = rng.choice(letters) + "".join(rng.choice("0123456789" + letters[:6]) for _ in range(4))
    return f"{prefix}·{tail}"


# ---------------------------------------------------------------- organisation
def _seed_roles(ctx):
    """Create the roles, reusing those that already exist."""
    for code, name in ROLES:
        role = models.Role.get_or_none(models.Role.code == code)
        if role is None:
            role = models.Role.create(code=code, name=name)
        ctx.roles[code] = role


def _seed_departments(ctx):
    """Create the department tree."""
    for name, parent in DEPARTMENTS:
        # ARC-3: the customer-service department's manager approves access to classified files.
        ctx.departments[name] = models.Department.create(name=name, parent=ctx.departments.get(parent),
                                                         customer_service=name == "客服部")


def _seed_users(ctx):
    """Create the demo users with random passwords and set the department managers."""
    for username, display_name, department, role_codes, clearance, returned in USERS:
        user = models.User.get_or_none(models.User.username == username)
        if user is None:
            password = secrets.token_urlsafe(9)
            user = models.User(username=username, display_name=display_name,
                               department=ctx.departments[department], clearance=clearance)
            user.set_password(password)
            user.save()
            if returned:
                ctx.passwords[username] = password
        held = {role.code for role in user.roles}
        for code in role_codes:
            if code not in held:
                user.roles.add(ctx.roles[code])
        ctx.users[username] = user
    for department, username in DEPARTMENT_MANAGERS.items():
        dept = ctx.departments[department]
        dept.manager = ctx.users[username]
        dept.save()


# ---------------------------------------------------------------- customers
def _customer_names(ctx, count, special_count):
    """Return ``count`` unique (name, web slug, industry, vehicle, city) tuples."""
    rng = ctx.rng
    seen = set()
    result = []
    brands = list(BRAND_WORDS)
    while len(result) < special_count:
        template, slug, industry = SPECIAL_TRADES[len(result) % len(SPECIAL_TRADES)]
        brand, brand_py = rng.choice(brands)
        city = rng.choice(CITIES[:8])
        name = template.format(brand=brand, city=city[0])
        if name not in seen:
            seen.add(name)
            result.append((name, f"{brand_py}{slug}", industry, False, city))
    while len(result) < count:
        brand, brand_py = rng.choice(brands)
        suffix, suffix_py, industry, vehicle = rng.choice(GENERAL_TRADES)
        city = rng.choice(CITIES) if rng.random() < 0.35 else rng.choice(CITIES[:8])
        name = f"{city[0]}{brand}{suffix}"
        if name not in seen:
            seen.add(name)
            result.append((name, f"{brand_py}{suffix_py}", industry, vehicle, city))
    # Put the special customers somewhere in the middle of the list, not first.
    rng.shuffle(result)
    return result


def _seed_customers(ctx, count=64):
    """Create the customers, oldest first, with contacts and communication history."""
    rng = ctx.rng
    sales_users = ctx.users_with("sales")
    names = _customer_names(ctx, count, special_count=6)
    tiers = ctx.spread([c for c, _ in models.CUSTOMER_TIER], count, weights=(1, 2, 5, 2))
    stages = ctx.spread([c for c, _ in models.CUSTOMER_STAGE], count, weights=(2, 2, 3, 4, 1))
    grade_for_tier = {"strategic": "AAB", "key": "ABB", "general": "BCCD", "reserve": "CDD"}
    secret_idx = set(rng.sample(range(count), 9))
    top_secret_idx = set(rng.sample(sorted(secret_idx), 3))
    sensitive_idx = set(rng.sample(range(count), count // 3))
    # Days since the last contact: evenly over the last 120 days, so some are past the 90-day churn mark.
    last_contact_days = [int(i * 120 / count) + rng.randint(0, 1) for i in range(count)]
    rng.shuffle(last_contact_days)
    specs = []
    for i, (name, slug, industry, _vehicle, city) in enumerate(names):
        _city, address_prefix, area_code, districts, id_region, _plate, in_province = city
        owner = sales_users[i % len(sales_users)]
        tier = tiers[i]
        stage = stages[i]
        if stage == "churned":
            last_contact_days[i] = max(last_contact_days[i], 91 + rng.randint(0, 25))
        created_on = ctx.day(rng.randint(max(last_contact_days[i], 30) + 10, 1100))
        created_at = ctx.at(created_on, rng.randint(9, 16), rng.randint(0, 59))
        confidentiality = "normal"
        if i in secret_idx:
            confidentiality = "top_secret" if i in top_secret_idx else "secret"
        credit = _credit_code(rng, id_region)
        fields = dict(
            name=name,
            kind="special" if industry in ("法律服务", "银行", "保险", "会计审计") else "general",
            tier=tier,
            grade=rng.choice(grade_for_tier[tier]),
            stage=stage,
            region="in_province" if in_province else "out_of_province",
            industry=industry,
            address=f"{address_prefix}{rng.choice(districts)}{rng.choice(ROADS)}{rng.randint(1, 888)}号",
            phone=ctx.landline(area_code),
            website=f"www.{slug}.com" if rng.random() < 0.7 else "",
            credit_note=rng.choice(CREDIT_NOTES),
            owner=owner,
            department=owner.department,
            confidentiality=confidentiality,
            # CUS-3: an ID number or bank account is kept only with the customer's consent recorded.
            consent_at=(created_at + datetime.timedelta(minutes=rng.randint(5, 90))
                        if rng.random() < 0.88 or i in sensitive_idx else None),
            licence_no=credit if rng.random() < 0.85 else "",
            tax_no=credit if rng.random() < 0.8 else "",
            id_number=_id_number(rng, id_region) if i in sensitive_idx else "",
            bank_account=_bank_account(rng) if i in sensitive_idx else "",
            created_at=created_at,
        )
        # CUS-2: the sales director of the owner's department confirms the archive; recent prospects still wait.
        confirmed = stage != "prospect" or rng.random() < 0.5 or created_on < ctx.day(240)
        specs.append((fields, slug, area_code, city, last_contact_days[i], created_on, confirmed))
    # Oldest first, so the auto-numbered codes grow with the creation date.
    specs.sort(key=lambda spec: spec[0]["created_at"])
    with models.acting_as(ctx.users["sales"]):
        for fields, slug, area_code, city, last_days_ago, created_on, confirmed in specs:
            customer = models.Customer.create(**fields)
            _date_requests(customer, fields["created_at"])
            if confirmed:
                _confirm_approvals(ctx, customer, fields["created_at"] + datetime.timedelta(days=1), "档案齐全，确认建档。")
            ctx.city_of[customer.id] = city
            _seed_contacts(ctx, customer, slug, area_code)
            # CUS-1 computes last_contact_at from each communication; keep the row as saved.
            _seed_communications(ctx, customer, last_days_ago, created_on)
            ctx.customers.append(models.Customer.get_by_id(customer.id))


def _seed_contacts(ctx, customer, slug, area_code):
    """Create 1–3 contacts for ``customer``, the first one primary."""
    rng = ctx.rng
    for n in range(rng.randint(1, 3)):
        name, mail = ctx.person()
        contact = models.Contact.create(
            customer=customer,
            name=name,
            title=rng.choice(CONTACT_TITLES),
            mobile=ctx.mobile(),
            phone=ctx.landline(area_code) if rng.random() < 0.7 else "",
            email=f"{mail}@{slug}.com" if rng.random() < 0.8 else "",
            birthday=datetime.date(rng.randint(1962, 1996), rng.randint(1, 12), rng.randint(1, 28))
            if rng.random() < 0.6 and customer.consent_at else None,  # CUS-3
            is_primary=n == 0,
            # CUS-3: a contact of a customer who gave no consent agreed themselves to their mobile and e-mail.
            consent_at=None if customer.consent_at else customer.created_at + datetime.timedelta(minutes=30),
        )
        if n == 0:
            ctx.primary_contact[customer.id] = contact


def _seed_communications(ctx, customer, last_days_ago, created_on):
    """Create 2–5 communications for ``customer``; return the latest moment."""
    rng = ctx.rng
    days = [last_days_ago] + [last_days_ago + rng.randint(3, 150) for _ in range(rng.randint(1, 4))]
    latest = None
    for days_ago in sorted(days, reverse=True):
        day = max(ctx.day(days_ago), created_on)
        channel = rng.choice([c for c, _ in models.CHANNEL])
        at = ctx.office_time(day)
        by = customer.owner if rng.random() < 0.8 else rng.choice(ctx.users_with("service"))
        models.Communication.create(customer=customer, at=at, channel=channel, by=by,
                                    summary=rng.choice(COMMUNICATION_SUMMARIES[channel]),
                                    follow_up=rng.choice(FOLLOW_UPS))
        latest = at if latest is None else max(latest, at)
    return latest


def _seed_visits(ctx):
    """Create visit plans for last, this and next month for each salesperson, with visits."""
    rng = ctx.rng
    this_month = _month_start(ctx.today)
    # VIS-1: next month's plan is approved for one salesperson, submitted or still a draft for the others.
    next_statuses = ("submitted", "draft", "approved")
    for n, owner in enumerate(ctx.users_with("sales")):
        own_customers = [c for c in ctx.customers if c.owner_id == owner.id]
        reviewer = ctx.departments[owner.department.name].manager
        next_status = next_statuses[n % len(next_statuses)]
        with models.acting_as(owner):
            for shift, status in ((-1, "approved"), (0, "approved"), (1, next_status)):
                start = _month_start(this_month, shift)
                end = _month_start(this_month, shift + 1) - datetime.timedelta(days=1)
                plan = models.VisitPlan.create(owner=owner, month=f"{start:%Y-%m}", status="draft")
                if status != "draft":
                    # VIS-1: submitting the plan asks the department manager, who approves it before the month.
                    workflow.run_action(plan, "submit", owner)
                    _date_requests(plan, ctx.past(ctx.at(start - datetime.timedelta(days=4), 16)))
                if status == "approved":
                    _confirm_approvals(ctx, plan, ctx.at(start - datetime.timedelta(days=1), 17), "同意。")
                for customer in rng.sample(own_customers, rng.randint(4, 6)):
                    _seed_visit(ctx, plan, customer, start, end, reviewer)


def _seed_visit(ctx, plan, customer, start, end, reviewer):
    """Create one visit in ``[start, end]``; past visits mostly have a report, some not."""
    rng = ctx.rng
    visited_on = start + datetime.timedelta(days=rng.randint(0, (end - start).days))
    while visited_on.weekday() >= 5:
        visited_on -= datetime.timedelta(days=1)
    visit = models.Visit(plan=plan, customer=customer, visited_on=visited_on,
                         purpose=rng.choice([c for c, _ in models.VISIT_PURPOSE]),
                         kind="return" if rng.random() < 0.3 else "visit")
    if visit.kind == "return" and customer.id % 2 == 0:
        visit.visited_by = reviewer  # VIS-5: the department manager went on site himself
    if visited_on < ctx.today and rng.random() < 0.75:
        submitted = visited_on + datetime.timedelta(days=rng.choice((0, 1, 1, 2, 2, 3, 5)))
        visit.report = rng.choice(VISIT_REPORTS)
        visit.report_submitted_on = min(submitted, ctx.today)
        if visit.report_submitted_on < ctx.today - datetime.timedelta(days=3):
            visit.reviewed_by = reviewer
    visit.save()


def _seed_surveys(ctx):
    """Create satisfaction surveys for this half-year and the previous one."""
    rng = ctx.rng
    current = _half_year(ctx.today)
    previous = _half_year(_month_start(ctx.today, -6))
    with models.acting_as(ctx.users["service"]):
        for customer in ctx.customers:
            if customer.stage == "prospect":
                continue
            for period, share in ((previous, 0.8), (current, 0.45)):
                if rng.random() < share:
                    models.SatisfactionSurvey.create(
                        customer=customer, period=period,
                        quality=rng.choices((2, 3, 4, 5), weights=(1, 3, 6, 6))[0],
                        price=rng.choices((1, 2, 3, 4, 5), weights=(1, 2, 5, 6, 3))[0],
                        service=rng.choices((2, 3, 4, 5), weights=(1, 2, 6, 7))[0],
                        comments=rng.choice(SURVEY_COMMENTS))


def _seed_partners(ctx):
    """Create the joint-venture partners (000 篇十), some out-of-town ones not visited for over 6 months."""
    rng = ctx.rng
    partners = (
        ("杭州瑞丰汽车服务有限公司", "local", "A", "admitted", 400, 20),
        ("宁波东升物流有限公司", "local", "B", "admitted", 520, 45),
        ("绍兴百川电子有限公司", "local", "C", "inspected", 60, None),
        ("上海汇通供应链管理有限公司", "out_of_town", "A", "admitted", 700, 60),
        ("苏州嘉禾机电设备有限公司", "out_of_town", "B", "admitted", 650, 230),
        ("合肥广源汽车配件有限公司", "out_of_town", "C", "admitted", 800, 300),
        ("福州安泰贸易有限公司", "out_of_town", "D", "refused", 120, None),
        ("武汉众成科技有限公司", "out_of_town", "B", "applied", None, None),
    )
    with models.acting_as(ctx.users["manager"]):
        for name, region, grade, status, inspected, visited in partners:
            models.Partner.create(
                name=name, region=region, grade=grade, admission_status=status,
                inspected_on=ctx.day(inspected + rng.randint(0, 9)) if inspected else None,
                last_visit_on=ctx.day(visited + rng.randint(0, 5)) if visited else None)


# ---------------------------------------------------------------- credit and sales
def _department_manager(ctx, approval):
    """Return the manager of ``approval``'s department (else the sales director), who may decide it."""
    department = approval.department
    candidates = [department.manager] if department is not None and department.manager_id else []
    candidates.append(ctx.users["manager"])
    return next(user for user in candidates if approvals.refusal(approval, user) is None)


def _confirm_approvals(ctx, record, at, comment, approve=True):
    """Decide the pending approvals of ``record`` through the engine as its department's manager did at ``at``."""
    decided_at = ctx.past(at)
    model = type(record).__name__
    for pending in list(approvals.pending_for(record)):
        approval = models.Approval.get_by_id(pending.id)
        if approval.status != "pending":
            continue  # a rejection withdrew it
        approval.requested_at = min(approval.requested_at, decided_at - datetime.timedelta(hours=3))
        approval.save()
        decider = _department_manager(ctx, approval)
        started = models.utcnow()
        with models.acting_as(decider), workflow.clock(decided_at):
            approvals.decide(approval.id, decider, approve, comment)
        # The engine dated the decision and the rows it closed by the clock; date its audit entries too.
        for entry in models.AuditLog.select().where(models.AuditLog.model == model,
                                                    models.AuditLog.record_id == str(record.id),
                                                    models.AuditLog.at >= started):
            entry.at = decided_at
            entry.save()


def _seed_sales(ctx):
    """Create contracts, credit lines, shipments and payments."""
    rng = ctx.rng
    seq_by_year = {}
    statuses = ctx.spread([c for c, _ in models.CONTRACT_STATUS], 60, weights=(1, 2, 6, 4, 1))
    archived = {f.customer_id for f in ctx.files if f.kind == "customer"}
    credit_customers = []
    with models.acting_as(ctx.users["sales"]):
        for customer in ctx.customers:
            if customer.stage == "prospect" and rng.random() < 0.7:
                continue
            documented = customer.licence_no and customer.tax_no and customer.bank_account
            signed_before = False
            settled = False
            for _ in range(rng.randint(1, 2)):
                status = statuses.pop() if statuses else "signed"
                # CTR-1: only a large contract waits for approval; it is entered as a draft and the save asks.
                big = status == "pending" or rng.random() < 0.4
                entered = "draft" if status == "pending" else status
                amount = rng.randrange(100000, 800000, 1000) if big else rng.randrange(8000, 99000, 500)
                if not documented and entered != "draft":
                    # CTR-2: without licence, tax and bank documents a new customer signs only small contracts.
                    amount = min(amount, rng.randrange(8000, 49500, 500))
                signed_on = None
                if status in ("signed", "completed", "terminated"):
                    signed_on = ctx.day(rng.randint(20, 500))
                year = (signed_on or ctx.today).year
                seq_by_year[year] = seq_by_year.get(year, 0) + 1
                contract = models.Contract.create(customer=customer, number=f"HT{year}-{seq_by_year[year]:04d}",
                                                  kind=rng.choice(("distribution", "distribution", "direct")),
                                                  amount=_money(amount), has_settlement_terms=rng.random() < 0.9)
                seller = customer.owner or ctx.users["sales"]
                if signed_on is not None and contract.status == "draft":
                    with workflow.clock(ctx.at(signed_on, 10)):
                        workflow.run_action(contract, "sign", seller)
                    contract = models.Contract.get_by_id(contract.id)
                if signed_on is not None and approvals.is_pending(contract):
                    # CTR-1: the manager approved the large contract on the day it was signed.
                    asked = ctx.at(signed_on - datetime.timedelta(days=3), 10)
                    _date_requests(contract, asked)
                    _confirm_approvals(ctx, contract, ctx.at(signed_on, 15), "同意签订。")
                    contract = models.Contract.get_by_id(contract.id)
                if signed_on is not None and status in ("completed", "terminated"):
                    with workflow.clock(ctx.past(ctx.at(signed_on + datetime.timedelta(days=rng.randint(10, 19)), 11))):
                        if status == "completed":
                            workflow.run_action(contract, "complete", seller)
                        else:
                            workflow.run_action(contract, "terminate", seller, reason="双方协商一致解除合同。")
                elif approvals.is_pending(contract):
                    _date_requests(contract, ctx.office_time(ctx.day(rng.randint(1, 6))))
                signed_before = signed_before or status in ("signed", "completed")
                settled = settled or (status in ("signed", "completed") and contract.has_settlement_terms)
            # CRD-1: credit only for an established customer (CUS-2) with an archive, a licence and a signed
            # contract with settlement terms.
            if (customer.stage != "prospect" and customer.licence_no and customer.id in archived and settled
                    and customer.approved_by_id and len(credit_customers) < len(ctx.customers) // 2):
                credit_customers.append(customer)
        for customer in ctx.customers:
            if customer in credit_customers:
                _seed_credit_customer(ctx, customer)
            elif customer.stage != "prospect" and rng.random() < 0.5:
                _seed_prepaid_shipments(ctx, customer)


def _seed_credit_customer(ctx, customer):
    """Create a credit line and shipments against it, some over the credit, with partial payments.

    The credit is rolling (CRD-6): the invoiced value of the 30 days before a shipment, capped by the line's limit.
    The first shipment of a run is paid in advance (nothing invoiced before it); the next ones follow within
    days and draw on the credit it opened.
    """
    rng = ctx.rng
    limit = rng.choice((50000, 80000, 100000, 150000, 200000, 300000, 500000))
    valid_from = ctx.day(rng.randint(30, 500))
    valid_to = valid_from + datetime.timedelta(days=365)
    status = "expired" if valid_to < ctx.today else ("suspended" if rng.random() < 0.12 else "active")
    # The line was active while the shipments below were made (CRD-4); it expires or is suspended after.
    line = models.CreditLine.create(customer=customer, limit=_money(limit), valid_from=valid_from, valid_to=valid_to,
                                    status="active")
    first, last = max(3, (ctx.today - valid_to).days), min(300, (ctx.today - valid_from).days)
    days_ago = rng.randint(first, last)
    for index in range(rng.randint(3, 6)):
        if days_ago < first:
            break
        shipped_on = ctx.day(days_ago)
        amount = _money(limit * rng.uniform(0.15, 0.65))
        prepaid = True
        probe = models.Shipment(customer=customer, amount=amount, shipped_on=shipped_on, prepaid=False)
        credit_amount = credit.credit_for(probe) or Decimal(0)
        if index > 0 and credit_amount > 0 and rng.random() < 0.85:
            headroom = credit_amount - credit.outstanding(customer.id)
            third = credit_amount / 3
            if headroom < third and rng.random() < 0.6:
                # Over the credit but under a third of it: the regional manager signs (CRD-3).
                base = max(headroom, Decimal(0))
                amount, prepaid = _money(base + (third - base) * Decimal(str(rng.uniform(0.2, 0.8)))), False
            elif headroom > 100:
                amount, prepaid = _money(headroom * Decimal(str(rng.uniform(0.4, 1.0)))), False
            if amount < 100:
                amount, prepaid = _money(limit * rng.uniform(0.15, 0.65)), True
        # CRD-3/CRD-5: an over-limit shipment or one to a customer on hold waits for the regional manager.
        # The manager's signature and the over-limit mark come from CRD-2/CRD-3 and the approval, never typed.
        shipment = models.Shipment.create(
            customer=customer, invoice_no=ctx.next_invoice(), amount=amount, shipped_on=shipped_on, prepaid=prepaid)
        current, days_ago = days_ago, days_ago - rng.randint(6, 25)
        if approvals.is_pending(shipment):
            _date_requests(shipment, ctx.past(ctx.at(shipped_on - datetime.timedelta(days=1), 16)))
            if current <= 5:
                continue  # still waiting for the signature: not shipped, nothing paid
            # CRD-3 at decision time: the manager cannot sign once the excess would reach a third of the credit.
            refused = rng.random() < 0.15 or credit.exposure_at_decision(shipment, None) is not None
            comment = "前期货款未回笼，暂不发货。" if refused else "同意发货，月底前回款。"
            _confirm_approvals(ctx, shipment, ctx.at(shipped_on, 9), comment, approve=not refused)
            if refused:
                continue  # cancelled: never shipped
        if prepaid:
            models.Payment.create(customer=customer, amount=amount, received_on=shipped_on - datetime.timedelta(days=2),
                                  shipment=shipment)
            continue
        roll = rng.random()
        paid = Decimal(0)
        if (ctx.today - shipped_on).days > 20 and roll < 0.5:
            paid = amount
        elif roll < 0.8:
            paid = _money(amount * Decimal(rng.choice(("0.3", "0.5", "0.6"))))
        if paid:
            received_on = min(shipped_on + datetime.timedelta(days=rng.randint(5, 40)), ctx.day(1))
            models.Payment.create(customer=customer, amount=paid, received_on=received_on, shipment=shipment)
    if status != "active":
        line.status = status
        line.save()


def _seed_prepaid_shipments(ctx, customer):
    """Create cash-in-advance shipments for a customer without a credit line (CRD-4)."""
    rng = ctx.rng
    for _ in range(rng.randint(1, 2)):
        shipped_on = ctx.day(rng.randint(5, 200))
        amount = _money(rng.randrange(3000, 60000, 100))
        shipment = models.Shipment.create(customer=customer, invoice_no=ctx.next_invoice(), amount=amount,
                                          shipped_on=shipped_on, prepaid=True)
        models.Payment.create(customer=customer, amount=amount, received_on=shipped_on - datetime.timedelta(days=1),
                              shipment=shipment)


# ---------------------------------------------------------------- archives
def _seed_archive_files(ctx):
    """Create archive files of every kind and confidentiality, with checklist items."""
    rng = ctx.rng
    vehicle_customers = [c for c in ctx.customers if c.industry in ("汽车销售", "交通运输", "物流运输")]
    project_customers = [c for c in ctx.customers if c.industry in ("建筑工程", "建材", "机械制造", "银行")]
    # Customer archives for a third of the customers: CRD-1 grants credit only to archived customers.
    plan = (("customer", 22), ("new_vehicle", 8), ("after_sales", 6), ("project", 5))
    prefixes = {"customer": "KHDA", "new_vehicle": "XCDA", "after_sales": "SHDA"}
    levels = ctx.spread([c for c, _ in models.CONFIDENTIALITY], sum(n for _, n in plan), weights=(7, 2, 1))
    seq = {}
    projects = []
    with models.acting_as(ctx.users["archivist"]):
        for kind, count in plan:
            pool = {"customer": ctx.customers, "project": project_customers}.get(kind, vehicle_customers)
            for customer in rng.sample(pool, count):
                year = customer.created_at.year
                seq[(kind, year)] = seq.get((kind, year), 0) + 1
                if kind == "project":
                    number = f"鸿项字第{len(projects) + 1:03d}号"
                else:
                    number = f"{prefixes[kind]}-{year}-{seq[(kind, year)]:03d}"
                level = levels.pop()
                title = {
                    "customer": f"{customer.name}客户档案",
                    "new_vehicle": f"{customer.name}新车销售档案",
                    "after_sales": f"{customer.name}售后维修档案",
                    "project": f"{customer.name}{rng.choice(('厂房改造', '办公楼装修', '设备安装', '仓储扩建'))}项目档案",
                }[kind]
                archive = _create_file(ctx, number, title, customer, kind, level, customer.created_at.date())
                if kind == "project":
                    projects.append(archive)
        # ARC-13: title deeds live in the safe and carry their project file's number.
        for project, level in zip(projects[:3], ("secret", "top_secret", "secret")):
            _create_file(ctx, f"{project.number}-权证", f"{project.customer.name}不动产权证",
                         project.customer, "title_deed", level, project.created_at.date())


def _create_file(ctx, number, title, customer, kind, level, opened_on):
    """Create one archive file and its 2–5 checklist items."""
    rng = ctx.rng
    location = "safe" if kind == "title_deed" or level == "top_secret" else "cabinet"
    years = {"customer": 10, "new_vehicle": 8, "after_sales": 5, "project": 30, "title_deed": 30}[kind]
    archive = models.ArchiveFile.create(
        number=number, title=title, customer=customer, kind=kind, confidentiality=level, location=location,
        pages=rng.randint(4, 120), retain_until=opened_on.replace(year=opened_on.year + years, day=1),
        keywords=" ".join((customer.name[:4], customer.industry, dict(models.FILE_KIND)[kind])),
        created_at=ctx.at(opened_on, 15))
    for name in rng.sample(ARCHIVE_ITEMS[kind], rng.randint(2, min(5, len(ARCHIVE_ITEMS[kind])))):
        models.ArchiveItem.create(file=archive, name=name, present=rng.random() < 0.93,
                                  customer_signed=rng.random() < 0.8, staff_signed=rng.random() < 0.88)
    ctx.files.append(archive)
    return archive


def _seed_handovers(ctx):
    """Create handovers (ARC-8): on time, late and still missing; ARC-9 computes their penalties."""
    from policies.archives import handover_due_on
    from policies.archives import stage1_due_on
    rng = ctx.rng
    kinds = {"new_vehicle": "sales", "after_sales": "after_sales", "project": "project"}
    outcomes = ctx.spread(("on_time", "late", "missing"), 19, weights=(6, 3, 1))
    with models.acting_as(ctx.users["archivist"]):
        for archive in ctx.files:
            kind = kinds.get(archive.kind)
            if kind is None:
                continue
            outcome = outcomes.pop() if outcomes else "on_time"
            # A still-missing file is recent: ARC-9 fines it again every working day until it is handed over.
            event_on = ctx.day(rng.randint(8, 12) if outcome == "missing" else rng.randint(4, 100))
            due_on = handover_due_on(kind, event_on)
            if kind == "sales":
                handed_by = archive.customer.owner
            elif kind == "after_sales":
                handed_by = rng.choice(ctx.users_with("service"))
            else:
                handed_by = ctx.users["manager"]
            handed_on = None
            if outcome == "on_time":
                handed_on = due_on - datetime.timedelta(days=rng.randint(0, 1))
            elif outcome == "late":
                handed_on = due_on + datetime.timedelta(days=rng.randint(1, 4))
            if handed_on is not None and handed_on >= ctx.today:
                handed_on = ctx.day(1)
            items = list(archive.items)
            project = {}
            if kind == "project":
                # ARC-8: project manager A hands to B on time; B hands to the archive (on time, late or not yet).
                stage1_on = stage1_due_on(event_on)
                if handed_on is not None:
                    stage1_on = min(stage1_on, handed_on)
                elif stage1_on >= ctx.today:
                    stage1_on = None  # A's stage is not due yet
                project = dict(receiver=ctx.users["sunhao"], stage1_on=stage1_on)
            models.Handover.create(file=archive, handed_by=handed_by, kind=kind, event_on=event_on,
                                   handed_on=handed_on, missing_items=sum(1 for item in items if not item.present),
                                   **project)


def _seed_destructions(ctx):
    """Destroy two expired customer files after the GM's approval (ARC-11); a third awaits the GM."""
    rng = ctx.rng
    candidates = [f for f in ctx.files if f.kind == "customer" and f.confidentiality == "normal"][:3]
    reasons = ("保管期限届满，经鉴定无继续保存价值。", "客户已注销多年，档案已到期，经审批销毁。",
               "保管期限已满，申请按规定销毁。")
    for n, (archive, reason) in enumerate(zip(candidates, reasons)):
        destroyed_on = ctx.day(rng.randint(5, 30)) if n < 2 else None
        asked_on = destroyed_on - datetime.timedelta(days=rng.randint(1, 4)) if destroyed_on else ctx.day(1)
        with models.acting_as(ctx.users["archivist"]):
            archive.retain_until = ctx.day(rng.randint(40, 200))
            archive.save()
            destruction = models.Destruction.create(file=archive, reason=reason, created_at=ctx.at(asked_on, 16),
                                                    method=rng.choice([c for c, _ in models.DESTRUCTION_METHOD]))
        _date_approvals(destruction, ctx.at(asked_on, 16))
        if destroyed_on is None:
            continue
        # The GM's approval marks the file destroyed (it is never deleted); it was shredded that morning.
        _decide_approvals(ctx, destruction, "approved", ctx.at(destroyed_on, 9), "同意销毁。")
        ctx.files[ctx.files.index(archive)] = models.ArchiveFile.get_by_id(archive.id)


def _seed_access_requests(ctx):
    """Create internal and external access requests (ARC-3, ARC-4)."""
    rng = ctx.rng
    files = [f for f in ctx.files if f.status != "destroyed"]
    internal = (("sales", "核对客户资质", "续签合同前核对营业执照及授信资料。"),
                ("service", "处理投诉", "客户投诉维修质量，需查阅售后维修记录。"),
                ("manager", "合同审批", "审批大额合同，需查看客户历史合作情况。"),
                ("zhoujie", "客户回访", "回访前了解客户购车资料。"),
                ("hewei", "内部审计", "配合年度内部审计抽查档案。"))
    external = (("浙江汇诚律师事务所 林律师", "JS2026-017", "诉讼取证", "代理合同纠纷案件，需查阅相关合同档案。"),
                ("杭州市市场监督管理局 赵科长", "SJ2026-043", "行政检查", "例行检查企业客户档案管理情况。"),
                ("平和财产保险公司 理赔员 钱伟", "BX2026-008", "保险理赔", "车辆出险理赔，需核对新车档案。"))
    statuses = ctx.spread(["pending", "approved", "rejected"], 8, weights=(2, 3, 1))
    with models.acting_as(ctx.users["archivist"]):
        for username, purpose, reason in internal:
            status = statuses.pop()
            request = models.AccessRequest.create(
                applicant=ctx.users[username], file=rng.choice(files), purpose=purpose, reason=reason,
                dept_head_signed=True,
                created_at=ctx.office_time(ctx.day(rng.randint(1, 40))))
            _decide_access(ctx, request, status)
        for name, letter, purpose, reason in external:
            status = statuses.pop()
            request = models.AccessRequest.create(
                external_name=name, intro_letter_no=letter, file=rng.choice(files), purpose=purpose, reason=reason,
                dept_head_signed=True, created_at=ctx.office_time(ctx.day(rng.randint(1, 40))))
            _decide_access(ctx, request, status)


def _decide_access(ctx, request, status):
    """Decide the ARC-3 approvals of a classified file's access request as ``status`` says (normal files: the archivist)."""
    _date_approvals(request, request.created_at)
    if status != "pending" and approvals.state(request) is None:
        with workflow.clock(request.created_at + datetime.timedelta(hours=2)):
            if status == "approved":
                workflow.run_action(request, "grant", ctx.users["archivist"])
            else:
                workflow.run_action(request, "deny", ctx.users["archivist"], reason="手续不全，不予查阅。")
        return
    if status != "pending":
        _decide_approvals(ctx, request, status, request.created_at + datetime.timedelta(hours=3),
                          "同意查阅。" if status == "approved" else "手续不全，不予查阅。")


def _seed_loans(ctx):
    """Create borrow requests and the loan ledger: returned, open, and open-and-overdue loans."""
    rng = ctx.rng
    archivist = ctx.users["archivist"]
    # Files awaiting destruction (ARC-11) are not lent.
    available = [f for f in ctx.files if f.status == "in_store" and not f.destructions.exists()]
    rng.shuffle(available)
    normal = [f for f in available if f.confidentiality == "normal"]
    classified = [f for f in available if f.confidentiality != "normal"]
    # Customer service's manager approves classified loans (ARC-3) and may not approve his own: others borrow them.
    service_manager = ctx.departments["客服部"].manager_id
    cleared = [ctx.users[u] for u in ("manager", "sunhao", "hewei", "tanglin") if ctx.users[u].id != service_manager]
    staff = ctx.users_with("sales") + ctx.users_with("service")
    reasons = ("续签合同核对原始资料。", "处理客户投诉，需核对维修记录。", "年度对账，核对交车资料。",
               "配合审计抽查。", "准备项目竣工结算资料。", "办理车辆过户，需核对购车发票。")
    # (state, lent days ago, loan days); state: returned / open / overdue
    plan = (("returned", 80, 3), ("returned", 55, 2), ("returned", 33, 1), ("returned", 20, 3), ("returned", 9, 2),
            ("open", 1, 3), ("open", 0, 2), ("open", 1, 2),
            ("overdue", 6, 3), ("overdue", 12, 2), ("overdue", 4, 1))
    with models.acting_as(archivist):
        for n, (state, lent_days_ago, days) in enumerate(plan):
            secret_file = n in (2, 6, 9)
            archive = (classified if secret_file and classified else normal).pop()
            borrower = rng.choice(cleared) if archive.confidentiality != "normal" else rng.choice(staff)
            lent_at = ctx.past(ctx.at(ctx.day(lent_days_ago), rng.randint(9, 11), rng.choice((0, 15, 30, 45))))
            request = models.BorrowRequest.create(
                borrower=borrower, file=archive, copies=rng.randint(1, 2), reason=rng.choice(reasons), days=days,
                dept_head_signed=True, copy_requested=n == 4, created_at=lent_at - datetime.timedelta(hours=3))
            _date_approvals(request, request.created_at)
            # ARC-3/ARC-5/ARC-10 approved: the request is approved and its loan opens.
            _decide_approvals(ctx, request, "approved", lent_at - datetime.timedelta(hours=1))
            _lend(ctx, request, lent_at, days, state)
        # ARC-5: the GM borrows directly: the archivist records the request and the loan opens at once.
        lent_at = ctx.past(ctx.at(ctx.day(15), 14))
        request = models.BorrowRequest.create(
            borrower=ctx.users["gm"], file=normal.pop(), copies=1, reason="审阅重点客户合作历史资料。", days=2,
            dept_head_signed=True, created_at=lent_at)
        _lend(ctx, request, lent_at, 2, "returned")
        for status, count in (("pending", 3), ("rejected", 2)):
            for n in range(count):
                archive = rng.choice(ctx.files)
                if archive.status == "destroyed":
                    continue
                borrower = rng.choice(cleared if archive.confidentiality != "normal" else staff)
                request = models.BorrowRequest.create(
                    borrower=borrower, file=archive, copies=1, reason=rng.choice(reasons), days=rng.randint(1, 3),
                    dept_head_signed=True, copy_requested=status == "pending" and n == 0,
                    created_at=ctx.office_time(ctx.day(rng.randint(0, 6))))
                _date_approvals(request, request.created_at)
                if status == "rejected":
                    _decide_approvals(ctx, request, "rejected", request.created_at + datetime.timedelta(hours=2))


def _lend(ctx, request, lent_at, days, state):
    """Lend the approved ``request`` at ``lent_at``, then return it complete or leave it open (file on loan)."""
    rng = ctx.rng
    due_at = lent_at + datetime.timedelta(days=days)
    request = models.BorrowRequest.get_by_id(request.id)
    with workflow.clock(lent_at):
        loan = archives.lend(request, request.copies, ctx.users["archivist"])
    # ARC-2 keeps the file's status in step with the ledger (on loan now, in store after a complete return).
    if state == "returned":
        back_on = lent_at.date() + datetime.timedelta(days=rng.randint(0, days))
        returned_at = ctx.at(back_on, rng.randint(9, 16), rng.choice((0, 20, 40)))
        if returned_at <= lent_at:
            returned_at = lent_at + datetime.timedelta(hours=2)
        with workflow.clock(ctx.past(min(returned_at, due_at))):
            archives.return_loan(loan, True, ctx.users["archivist"], "核对完整，已归位。")


def _open_approvals(record):
    """Return the pending approvals and notices of ``record``, in step order."""
    return list(models.Approval.select().where(
        models.Approval.target_model == type(record).__name__, models.Approval.target_id == record.id,
        models.Approval.status == "pending").order_by(models.Approval.step, models.Approval.id))


def _date_approvals(record, at):
    """Date the open approvals of ``record`` as asked at ``at`` (stored UTC)."""
    for approval in _open_approvals(record):
        approval.requested_at = at
        approval.save()


def _approver(ctx, record, approval):
    """Return who decides ``approval``: the department's manager, customer service's manager or the GM."""
    roles = set(approval.required_role.split("|"))
    if "manager" in roles:
        if approval.rule != "ARC-3" and approval.department_id is not None and approval.department.manager_id:
            return approval.department.manager
        # ARC-3 (000 篇二 第22条): a customer-service manager with the file's clearance, not the borrower himself.
        party = getattr(record, "borrower_id", None) or getattr(record, "applicant_id", None)
        service = ctx.departments["客服部"]
        candidates = [service.manager] + [u for u in ctx.users_with("manager") if u.department_id == service.id]
        return next((u for u in candidates if u.id != party and approvals.refusal(approval, u) is None),
                    ctx.users["manager"])
    if "deputy" in roles and "deputy" in ctx.users and ctx.rng.random() < 0.3:
        return ctx.users["deputy"]
    return ctx.users["gm"]


# What the approver writes when the story gives no comment (approve, reject), by rule.
DECISION_COMMENTS = {"ARC-10": ("同意复印，仅限工作使用，复印件用后交回档案室。", "原件可查阅，不同意复印。")}


def _decide_approvals(ctx, record, status, at, comment=None):
    """Decide ``record``'s open approvals (ARC-3/5/10/11, CMP-5/6) through the engine, step by step, by ``at``."""
    approve = status == "approved"
    steps = len(_open_approvals(record))
    when = ctx.past(at) - datetime.timedelta(minutes=40 * (steps - 1 if approve else 0))
    while True:
        approval = next((a for a in _open_approvals(record) if approvals.actionable(a)), None)
        if approval is None:
            return
        decider = _approver(ctx, record, approval)
        default = DECISION_COMMENTS.get(approval.rule, ("同意借阅。", "理由不充分，暂不外借。"))
        last_log = models.AuditLog.select(models.AuditLog.id).order_by(models.AuditLog.id.desc()).scalar() or 0
        with models.acting_as(decider), workflow.clock(when):
            approvals.decide(approval.id, decider, approve, comment or default[0 if approve else 1])
        # The engine dated the decision and the rows it closed by the clock; date its audit entries too.
        for entry in models.AuditLog.select().where(models.AuditLog.id > last_log):
            entry.at = entry.created_at = when
            entry.save()
        if not approve:
            return
        when += datetime.timedelta(minutes=40)


def _seed_loan_reminders(ctx):
    """Chase every overdue loan once: the archivist phoned the borrower the day after it fell due."""
    archivist = ctx.users["archivist"]
    with models.acting_as(archivist):
        for loan in models.Loan.overdue(ctx.now).order_by(models.Loan.due_at):
            models.LoanReminder.create(loan=loan, reminded_by=archivist, channel="phone",
                                       at=ctx.past(loan.due_at + datetime.timedelta(days=1)),
                                       note="电话提醒借阅人尽快归还。")


def _seed_inspections(ctx):
    """Create storage inspections about every six months (ARC-12)."""
    findings = (
        ("档案柜整体完好，温湿度正常；2 份售后档案装订松散。", "已重新装订。"),
        ("保险柜密码已按规定更换；发现 1 份客户档案受潮。", "已晾干并放置防潮剂。"),
        ("档案排列有序，账物相符。", ""),
        ("档案室灭火器过期 1 具；部分档案盒标签脱落。", "已更换灭火器，补贴标签。"),
    )
    with models.acting_as(ctx.users["archivist"]):
        for n, (found, repaired) in enumerate(findings):
            models.Inspection.create(on=ctx.day(12 + n * 183 + ctx.rng.randint(0, 6)), inspector=ctx.users["archivist"],
                                     findings=found, repairs=repaired)


# ---------------------------------------------------------------- complaints
COMPLAINT_TEXTS = {
    "product": ("所购{model}使用不到一个月即出现故障：{fault}", "批次产品外包装破损，部分零件缺失。",
                "新装的{model}三天两头出问题：{fault}", "到货产品与样品不符，型号标签有误。"),
    "contract": ("合同约定的交货期已过十天，仍未收到全部货物。", "业务员承诺的随货赠品未兑现，与合同附件不符。",
                 "结算价格与合同约定不一致，多收货款。"),
    "repair": ("车辆（{plate}）在贵司维修后三天内同一故障再次出现。", "车辆（{plate}）保养后发现轮胎螺丝未拧紧，存在安全隐患。"),
    "service": ("客服热线多次无人接听，报修无人回复。", "上门技术员迟到两个小时且态度生硬。"),
    "suggestion": ("建议增加周末及节假日的售后服务时间。", "建议平台增加微信查询维修进度的功能。"),
}
COMPLAINT_DEPARTMENT = {"product": "售后服务部", "contract": "销售部", "repair": "售后服务部", "service": "客服部",
                        "suggestion": "客服部"}
DEMAND_BY_CATEGORY = {"product": ("exchange", "return", "compensation"), "contract": ("discount", "compensation"),
                      "repair": ("compensation", "criticism"), "service": ("criticism",),
                      "suggestion": ("criticism",)}


def _seed_complaints(ctx):
    """Create about 30 complaints in every workflow status, with updates, investigations and solutions."""
    rng = ctx.rng
    order = ("received", "investigating", "solution_pending", "replied", "return_visit", "closed")
    plan = ((("received",) * 4) + (("investigating",) * 4) + (("solution_pending",) * 4) + (("replied",) * 4)
            + (("return_visit",) * 4) + (("closed",) * 6) + (("rejected",) * 4))
    categories = ctx.spread([c for c, _ in models.COMPLAINT_CATEGORY], len(plan), weights=(3, 2, 3, 2, 1))
    vehicle_customers = [c for c in ctx.customers if c.industry in ("汽车销售", "交通运输", "物流运输")]
    days_back = {"received": (0, 9), "investigating": (1, 10), "solution_pending": (2, 12), "replied": (4, 20),
                 "return_visit": (6, 40), "closed": (10, 150), "rejected": (3, 90)}
    with models.acting_as(ctx.users["service"]):
        for n, status in enumerate(plan):
            category = categories[n]
            # CMP-1: every complaint but a service one concerns a vehicle and carries its plate number.
            vehicle = category != "service"
            customer = rng.choice(vehicle_customers if vehicle else ctx.customers) if rng.random() < 0.9 else None
            if vehicle and customer is None:
                customer = rng.choice(vehicle_customers)
            city = ctx.city_of[customer.id] if customer else CITIES[0]
            plate = _plate(rng, city[5]) if vehicle else ""
            contact = ctx.primary_contact.get(customer.id) if customer else None
            complainant = contact.name if contact and rng.random() < 0.8 else ctx.person()[0]
            received_at = ctx.office_time(ctx.day(rng.randint(*days_back[status])))
            department = ctx.departments[COMPLAINT_DEPARTMENT[category]]
            staff = [u for u in ctx.users.values()
                     if u.department_id == department.id and u.id != department.manager_id]
            assignee = rng.choice(staff or [department.manager])
            in_province = customer is None or customer.region == "in_province"
            product_model = rng.choice(PRODUCT_MODELS)
            content = rng.choice(COMPLAINT_TEXTS[category]).format(
                model=product_model, fault=rng.choice(PRODUCT_FAULTS[product_model]), plate=plate)
            complaint = models.Complaint.create(
                received_at=received_at, created_at=received_at,
                channel=rng.choice([c for c, _ in models.COMPLAINT_CHANNEL]), complainant=complainant,
                customer=customer, plate_no=plate, category=category,
                demand=rng.choice(DEMAND_BY_CATEGORY[category]),
                severity="major" if rng.random() < 0.2 and category != "suggestion" else "general",
                content=content, department=department, assignee=assignee, status="received",
                due_at=received_at + datetime.timedelta(days=7),
                onsite_due_at=received_at + datetime.timedelta(hours=24 if in_province else 48))
            if status == "rejected":
                _reject_complaint(ctx, complaint)
                continue
            # CMP-5: the department's manager and the GM acknowledged a major complaint within the hour.
            if complaint.severity == "major" and status != "received":
                _date_approvals(complaint, received_at)
                _decide_approvals(ctx, complaint, "approved", received_at + datetime.timedelta(minutes=50),
                                  "已阅，请责任部门立即处理并随时报告进展。")
            _walk_complaint(ctx, complaint, order[:order.index(status) + 1])


# The workflow action that moves a complaint into each status.
COMPLAINT_ACTIONS = {"investigating": "investigate", "solution_pending": "propose", "replied": "reply",
                     "return_visit": "return_visit", "closed": "close"}


def _walk_complaint(ctx, complaint, path):
    """Move ``complaint`` along ``path``, creating what each step needs."""
    rng = ctx.rng
    moment = complaint.received_at
    by = complaint.assignee

    def step(hours):
        nonlocal moment
        moment = ctx.past(moment + datetime.timedelta(hours=hours))
        return moment

    models.ComplaintUpdate.create(complaint=complaint, at=step(rng.randint(1, 4)), by=by,
                                  note="已受理，电话联系投诉人确认情况，告知处理时限。", notified_customer=True)
    investigation = None
    solution = None
    for status in path[1:]:
        if status == "investigating":
            investigation = models.Investigation.create(
                complaint=complaint, started_at=step(rng.randint(2, 12)), responsible_person=by.display_name,
                process="现场查看并与相关人员面谈，调取单据记录。")
            models.ComplaintUpdate.create(complaint=complaint, at=step(rng.randint(4, 24)), by=by,
                                          note="已到现场核实情况，调查进行中。", notified_customer=rng.random() < 0.8,
                                          onsite=True)
        elif status == "solution_pending":
            investigation.cause = rng.choice(("技术员操作不规范。", "配件批次质量问题。", "交接沟通不到位。",
                                              "物流环节延误。"))
            investigation.conclusion = "投诉属实，责任在我方。"
            investigation.countermeasures = "对责任人进行培训，完善作业检查表。"
            investigation.save()
            proposed_at = step(rng.randint(1, 8))
            solution = models.Solution.create(
                complaint=complaint, created_at=proposed_at,
                proposal=rng.choice(("免费返修并延长质保 6 个月。", "更换同型号新品。", "按合同退还差价。",
                                     "赔偿误工损失并书面致歉。")),
                compensation_amount=_money(rng.choice((0, 0, 200, 500, 1200, 3000))))
            # CMP-6: the solution waits in the GM's inbox.
            _date_approvals(solution, proposed_at)
        elif status == "replied":
            approved_at = step(rng.randint(2, 20))
            _decide_approvals(ctx, solution, "approved", approved_at, "同意，尽快答复客户。")
            solution = models.Solution.get_by_id(solution.id)
            models.ComplaintUpdate.create(complaint=complaint, at=step(rng.randint(1, 6)), by=by,
                                          note="处理方案经总经理批准，已答复客户。", notified_customer=True)
        elif status == "return_visit":
            solution.customer_reply = rng.choice(("同意处理方案。", "接受方案，希望以后避免类似问题。"))
            solution.save()
            models.ComplaintUpdate.create(complaint=complaint, at=step(rng.randint(24, 72)), by=by,
                                          note="电话回访，客户确认问题已解决。", notified_customer=True)
        values = {}
        at = moment
        if status == "closed":
            values["satisfaction"] = rng.choices(("satisfied", "basically", "dissatisfied"), weights=(6, 3, 1))[0]
            at = step(rng.randint(2, 30))
        complaint = models.Complaint.get_by_id(complaint.id)
        # CMP-10: the department's manager rules that the complaint is accepted.
        actor = _ruler(ctx, complaint) if status == "investigating" else by
        with workflow.clock(at), models.acting_as(actor):
            workflow.run_action(complaint, COMPLAINT_ACTIONS[status], actor, **values)


def _ruler(ctx, complaint):
    """Return who rules whether ``complaint`` is accepted (CMP-10): its department's manager."""
    ruler = complaint.department.manager if complaint.department_id and complaint.department.manager_id \
        else ctx.users["manager"]
    return ruler if "manager" in ruler.role_codes() else ctx.users["manager"]


def _reject_complaint(ctx, complaint):
    """Close ``complaint`` as not substantiated, with the reason explained to the customer (CMP-10)."""
    rng = ctx.rng
    reason = rng.choice(("经核实，故障系客户自行改装线路所致，不属质量问题，已向客户说明。",
                         "产品已超出质保期，已向客户解释收费维修政策。",
                         "投诉内容与事实不符，已出示签收记录并向客户说明。"))
    at = ctx.past(complaint.received_at + datetime.timedelta(hours=rng.randint(6, 48)))
    models.ComplaintUpdate.create(complaint=complaint, at=at, by=complaint.assignee, note=reason,
                                  notified_customer=True)
    # CMP-10: the department's manager rules the complaint invalid.
    ruler = _ruler(ctx, complaint)
    with workflow.clock(at), models.acting_as(ruler):
        workflow.run_action(models.Complaint.get_by_id(complaint.id), "reject", ruler, rejection_reason=reason)


# ---------------------------------------------------------------- service, reception, tenants, people
def _date_requests(record, at):
    """Date the pending approvals of ``record`` as asked at ``at`` (stored UTC)."""
    for approval in approvals.pending_for(record):
        approval.requested_at = at
        approval.save()


def _decide_as(ctx, record, username, approve, at, comment=""):
    """Decide, through the engine, the pending approval of ``record`` that ``username`` may decide, dated ``at``."""
    user = ctx.users[username]
    approval = next(a for a in approvals.pending_for(record) if approvals.refusal(a, user) is None)
    with models.acting_as(user), workflow.clock(ctx.past(at)):
        approvals.decide(approval.id, user, approve, comment)  # dated ``at`` with the rows it closes


def _seed_service_orders(ctx):
    """Create install and repair orders in every status; customer service's manager decides each (SRV-1)."""
    rng = ctx.rng
    statuses = ctx.spread([c for c, _ in models.SERVICE_STATUS], 14, weights=(2, 2, 2, 5, 1))
    technicians = [ctx.users["zhengqiang"], ctx.users["huangfang"]]
    vehicle_customers = [c for c in ctx.customers if c.industry in ("汽车销售", "交通运输", "物流运输")]
    refusals = ("客户已自行送修，无需上门。", "与前一张服务单重复，已合并处理。", "设备已过保且客户不同意收费，暂不派工。")
    # SRV-1: customer service (客服部) records the call, so its manager decides.
    decider = ctx.departments["客服部"].manager.username
    with models.acting_as(ctx.users["service"]):
        for n, status in enumerate(statuses):
            customer = rng.choice(vehicle_customers)
            kind = "install" if n % 3 == 0 else "repair"
            contact = ctx.primary_contact[customer.id]
            product_model = rng.choice(PRODUCT_MODELS)
            order = models.ServiceOrder(
                kind=kind, customer=customer, address=customer.address, contact_phone=contact.mobile,
                product_model=product_model, purchase_date=ctx.day(rng.randint(30, 900)),
                fault="新车加装，按标准方案安装调试。" if kind == "install" else rng.choice(PRODUCT_FAULTS[product_model]),
                fee=_money(rng.choice((0, 0, 80, 150, 260, 480))))
            if kind == "repair" and rng.random() < 0.6:
                order.old_terminal_no = f"ZD{rng.randint(10 ** 9, 10 ** 10 - 1)}"
                order.new_terminal_no = f"ZD{rng.randint(10 ** 9, 10 ** 10 - 1)}"
                if rng.random() < 0.6:
                    order.old_sim = f"8986{rng.randint(10 ** 15, 10 ** 16 - 1)}"
                    order.new_sim = f"8986{rng.randint(10 ** 15, 10 ** 16 - 1)}"
            order.save()
            asked = ctx.office_time(ctx.day(rng.randint(0, 2) if status == "pending" else rng.randint(3, 45)))
            _date_requests(order, asked)
            if status == "pending":
                continue
            decided = asked + datetime.timedelta(hours=rng.randint(1, 4))
            if status == "cancelled":
                _decide_as(ctx, order, decider, False, decided, rng.choice(refusals))
                continue
            _decide_as(ctx, order, decider, True, decided, rng.choice(("同意，尽快安排。", "同意。", "")))
            order = models.ServiceOrder.get_by_id(order.id)
            order.technician = rng.choice(technicians)
            order.save()
            # Dispatched (and completed) by customer service through the order's workflow actions.
            for hours, action in ((2, "dispatch"), (30, "complete")):
                if status == "approved" or (status == "dispatched" and action == "complete"):
                    break
                with workflow.clock(ctx.past(decided + datetime.timedelta(hours=hours))):
                    workflow.run_action(models.ServiceOrder.get_by_id(order.id), action, ctx.users["service"])


def _seed_receptions(ctx):
    """Create receptions of classes A–D; the gm decides the important gifts (RCP-1, RCP-2, RCP-3)."""
    rng = ctx.rng
    cap = {"A": 500, "B": 300, "C": 200, "D": 150}
    # "rejected": the gm turned the gift down and the clerk chose the company souvenir instead.
    visits = (("A", 12, "approved", "定制茶具礼盒", 1800), ("A", 6, "done", "西湖龙井礼盒", 680),
              ("B", 8, "done", "公司纪念品", 200), ("B", 3, "pending", "丝绸围巾礼盒", 1200),
              ("C", 4, "done", "", 0), ("C", 5, "planned", "公司台历", 60),
              ("D", 2, "done", "", 0), ("D", 1, "planned", "", 0), ("B", 15, "approved", "公司纪念品", 150),
              ("B", 6, "rejected", "紫砂茶具套装", 2600))
    hosts = [ctx.users[u] for u in ("gm", "manager", "sunhao", "sales", "wuxiaoli")]
    with models.acting_as(ctx.users["clerk"]):
        for guest_class, guests, status, gifts, gift_value in visits:
            customer = rng.choice([c for c in ctx.customers if c.kind == "general"] + [None])
            org = customer.name if customer else rng.choice(("浙江省机电行业协会", "杭州市商务局考察团",
                                                              "苏州嘉禾机电设备有限公司"))
            companions = 1 if guests < 5 else (2 if guests <= 10 else 3)
            days = rng.randint(-10, -1) if status == "planned" else rng.randint(1, 60)
            if status in ("pending", "approved", "rejected"):
                days = rng.randint(-12, -2)
            # RCP-3: a gift over the limit makes the saved reception pending and asks the gm.
            reception = models.Reception.create(
                visitor_org=org, customer=customer, visit_on=ctx.day(days), guest_class=guest_class, guests=guests,
                # RCP-2 caps the companions: sometimes fewer go than allowed.
                companions=max(1, companions - (1 if guest_class == "A" and rng.random() < 0.5 else 0)),
                host=hosts[0] if guest_class == "A" else rng.choice(hosts[1:]),
                cost_per_person=_money(rng.randrange(cap[guest_class] // 2, cap[guest_class] + 1, 10)),
                gifts=gifts, gift_value=_money(gift_value))
            if status == "done":
                # The reception took place: the clerk marks it done (RCP-3 holds an unapproved gift back).
                with workflow.clock(ctx.past(ctx.at(ctx.day(days), 18))):
                    workflow.run_action(reception, "finish", ctx.users["clerk"])
                continue
            if reception.status != "pending":
                continue
            asked = ctx.office_time(ctx.day(rng.randint(1, 5)))
            _date_requests(reception, asked)
            decided = asked + datetime.timedelta(hours=rng.randint(2, 6))
            if status == "approved":
                _decide_as(ctx, reception, "gm", True, decided, "同意，重要客户，注意礼品包装。")
            elif status == "rejected":
                _decide_as(ctx, reception, "gm", False, decided, "礼品价值过高，请改送公司纪念品。")
                reception = models.Reception.get_by_id(reception.id)
                reception.gifts, reception.gift_value = "公司纪念品", _money(280)
                reception.save()


def _seed_move_outs(ctx):
    """Create tenant move-outs in every state; engineering, finance and security sign through the engine (MOV-1)."""
    rng = ctx.rng
    # "rejected": security refused to sign and the move-out went back to requested.
    states = ("requested", "rejected", "signing", "signing", "completed", "completed", "cancelled")
    tenants = rng.sample([c for c in ctx.customers if c.kind == "general"], len(states))
    signers = ("engineering", "finance", "security")
    notes = {"engineering": "已验房，水电设施完好。", "finance": "押金抵扣后费用已结清。", "security": "出入证、门禁卡已收回。"}
    for n, (status, tenant) in enumerate(zip(states, tenants)):
        done = status == "completed"
        damage = done and rng.random() < 0.5
        requested_on = ctx.day(rng.randint(30, 120) if done else rng.randint(3, 25))
        with models.acting_as(ctx.users["service"]):
            move_out = models.MoveOut.create(
                tenant=tenant, unit=f"{rng.choice('ABC')}座{rng.randint(2, 18)}{rng.randint(1, 12):02d}室",
                requested_on=requested_on, keys_returned=done or n in (1, 3),
                damage_note="墙面有钉孔，地毯局部污损。" if damage else "",
                damage_amount=_money(rng.choice((300, 800))) if damage else _money(0))
            if status == "cancelled":
                workflow.run_action(move_out, "cancel", ctx.users["service"], reason="租户决定续租，撤回迁出申请。")
            if status in ("requested", "cancelled"):
                continue
            # Customer service sends the move-out to the three departments at once.
            workflow.run_action(move_out, "sign_off", ctx.users["service"])
            move_out = models.MoveOut.get_by_id(move_out.id)
        asked = ctx.office_time(requested_on + datetime.timedelta(days=1))
        _date_requests(move_out, asked)
        # The departments sign in any order; a signing one still waits for some of them.
        order = rng.sample(signers, len(signers))
        if status == "signing":
            order = ["engineering"] + (["finance"] if n == 3 else [])
        elif status == "rejected":
            order = ["engineering", "security"]
        for hours, role in enumerate(order, start=1):
            at = asked + datetime.timedelta(hours=hours, minutes=rng.choice((0, 15, 30, 45)))
            if status == "rejected" and role == "security":
                _decide_as(ctx, move_out, role, False, at, "客户出入证未交回，暂不签字。")
                break
            _decide_as(ctx, move_out, role, True, at, notes[role])
        if not done:
            continue
        # All three signed: customer service closes the move-out.
        with models.acting_as(ctx.users["service"]):
            move_out = models.MoveOut.get_by_id(move_out.id)
            move_out.keys_returned = move_out.arrears_cleared = move_out.unit_restored = True
            move_out.customer_card_returned = move_out.parking_released = True
            move_out.damage_settled = move_out.damage_amount > 0
            move_out.save()
            workflow.run_action(models.MoveOut.get_by_id(move_out.id), "complete", ctx.users["service"])


def _seed_tenant_requests(ctx):
    """Create tenant requests of every kind and channel (000 篇九)."""
    rng = ctx.rng
    texts = {
        "repair": ("办公室空调不制冷，请安排维修。", "卫生间水龙头漏水。", "走廊照明灯损坏两盏。"),
        "complaint": ("楼上装修噪音过大，影响办公。", "停车场夜间照明不足。"),
        "inquiry": ("咨询物业费缴纳方式及发票开具。", "咨询会议室预约流程。", "咨询春节期间值班安排。"),
        "emergency": ("机房漏水，需立即处理！", "电梯困人，请速派人。"),
    }
    kinds = ctx.spread([c for c, _ in models.TENANT_REQUEST_KIND], 14, weights=(4, 2, 3, 1))
    channels = ctx.spread([c for c, _ in models.TENANT_CHANNEL], 14)
    handlers = ctx.users_with("service")
    with models.acting_as(ctx.users["service"]):
        for kind, channel in zip(kinds, channels):
            at = ctx.office_time(ctx.day(rng.randint(0, 45)))
            hours = 1 if kind == "emergency" else rng.randint(3, 72)
            closed_at = at + datetime.timedelta(hours=hours)
            handler = rng.choice(handlers)
            request = models.TenantRequest.create(
                customer=rng.choice(ctx.customers), at=at, channel=channel, kind=kind,
                content=rng.choice(texts[kind]), handled_by=handler)
            if closed_at < ctx.now and rng.random() < 0.8:
                # Closing stamps the time (the request's workflow action).
                with workflow.clock(closed_at):
                    workflow.run_action(request, "close", handler)


def _seed_attendance(ctx):
    """Create attendance for every seeded user over the last 20 working days (ATT-1 fines)."""
    rng = ctx.rng
    days = []
    day = ctx.today
    while len(days) < 20:
        day -= datetime.timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    with models.acting_as(ctx.users["clerk"]):
        for user in ctx.users.values():
            for day in days:
                roll = rng.random()
                minutes_late = 0
                absent = False
                if roll < 0.02:
                    absent = True
                elif roll < 0.04:
                    minutes_late = rng.randint(30, 75)
                    absent = True
                elif roll < 0.14:
                    minutes_late = rng.randint(1, 25)
                fine = 100 if absent else minutes_late
                models.Attendance.create(user=user, day=day, minutes_late=minutes_late, absent=absent,
                                         fine=_money(fine))


def _seed_qc(ctx):
    """Create QC groups with members and monthly activities; one has paused too long (QC-1)."""
    rng = ctx.rng
    groups = (("降低投诉处理超时率", 14, ("hewei", "service", "huangfang", "zhengqiang"), 0),
              ("提高档案移交及时率", 10, ("archivist", "sales", "zhoujie", "wuxiaoli", "clerk"), 0),
              ("缩短维修等待时间", 20, ("tanglin", "zhengqiang", "huangfang"), 7))
    notes = ("讨论本月数据，分析主要原因（鱼骨图）。", "确定改进对策并分工。", "检查上月对策落实情况。",
             "整理活动成果，准备成果发表。", "现状调查，收集近三个月数据。")
    with models.acting_as(ctx.users["manager"]):
        for topic, months_ago, members, paused_months in groups:
            registered_on = _month_start(ctx.today, -months_ago) + datetime.timedelta(days=rng.randint(2, 12))
            group = models.QCGroup.create(topic=topic, registered_on=registered_on)
            for username in members:
                group.members.add(ctx.users[username])
            for shift in range(-months_ago + 1, -paused_months + 1):
                on = _month_start(ctx.today, shift) + datetime.timedelta(days=rng.randint(5, 20))
                if on >= ctx.today:
                    continue
                models.QCActivity.create(group=group, on=on, minutes=rng.choice(notes))


def _seed_audit_log(ctx):
    """Record the approvals and logins the demo story implies."""
    rng = ctx.rng
    entries = []
    # CTR-1, CRD-3/5, CUS-2 and VIS-1 decisions are audited by the approvals engine itself.
    for customer in [c for c in ctx.customers if c.id_number][:3]:
        entries.append((ctx.users["gm"], "view_sensitive", "Customer", customer.id, {"field": "id_number"},
                        ctx.office_time(ctx.day(rng.randint(1, 20)))))
    entries.append((ctx.users["manager"], "export", "Customer", "", {"rows": len(ctx.customers)},
                    ctx.office_time(ctx.day(3))))
    for username in ("gm", "manager", "archivist", "service", "sales", "clerk"):
        entries.append((ctx.users[username], "login", "User", ctx.users[username].id, {},
                        ctx.office_time(ctx.day(rng.randint(1, 5)))))
    for user, action, model, record_id, changes, at in entries:
        models.AuditLog.create(at=ctx.past(at), user=user, action=action, model=model, record_id=str(record_id),
                               changes=json.dumps(changes, ensure_ascii=False),
                               ip=f"192.168.1.{rng.randint(20, 200)}", created_at=ctx.past(at))


def _seed_preferences(ctx):
    """Create preferential terms for strategic and key customers; the gm decides them (CTR-3)."""
    rng = ctx.rng
    eligible = [c for c in ctx.customers if c.tier in ("strategic", "key")][:5]
    plans = (("price", "年度采购量达标后价格下浮3%", True), ("acceptance_bill", "货款可用六个月内银行承兑汇票支付,不贴息", True),
             ("resources", "旺季优先保障供货", None), ("other", "免费上门技术培训两次", False),
             ("price", "新品首批订货九五折", True))
    with models.acting_as(ctx.users["manager"]):
        for customer, (content, detail, decision) in zip(eligible, plans):
            start = _month_start(ctx.today, rng.randint(-3, 1))
            row = models.Preference.create(customer=customer, content=content, detail=detail, valid_from=start,
                                           valid_to=_month_start(start, 12) - datetime.timedelta(days=1))
            asked = ctx.office_time(ctx.day(rng.randint(5, 30)))
            _date_requests(row, asked)
            if decision is not None:
                _decide_as(ctx, row, "gm", decision, asked + datetime.timedelta(days=1),
                           "同意,经总经理办公会研究。" if decision else "综合考评未达标,暂不给予。")


def _seed_data_protection(ctx):
    """Register third-party shares (CUS-6), one breach with its affected customers (CUS-7), access reviews (CUS-8)."""
    rng = ctx.rng
    recipients = (("杭州顺捷物流信息有限公司", "联合配送与签收", "客户名称、收货地址、联系电话", True),
                  ("浙江数安征信服务有限公司", "授信前信用评估", "客户名称、统一社会信用代码", None),
                  ("某市场调研公司", "满意度外包调查", "联系人姓名、手机号", False))
    with models.acting_as(ctx.users["sales"]):
        for n, (recipient, purpose, fields, decision) in enumerate(recipients):
            customer = ctx.customers[n * 3]
            consent = ctx.office_time(ctx.day(rng.randint(20, 40)))
            row = models.DataShare.create(customer=customer, recipient=recipient, purpose=purpose,
                                          fields_shared=fields, consent_at=consent,
                                          agreement_no=f"SJAQ-{ctx.today.year}-{n + 1:03d}")
            asked = ctx.office_time(ctx.day(rng.randint(5, 15)))
            _date_requests(row, asked)
            if decision is not None:
                _decide_as(ctx, row, "gm", decision, asked + datetime.timedelta(hours=3),
                           "同意,限协议范围内使用。" if decision else "调查可自行开展,不向第三方提供手机号。")
    found = ctx.office_time(ctx.day(20))
    with models.acting_as(ctx.users["info_supervisor"]):
        incident = models.DataIncident.create(
            found_at=found, description="业务员误将含客户联系方式的报价单群发至外部邮箱。",
            contained_at=found + datetime.timedelta(hours=5), reported_to="市网信办",
            reported_at=found + datetime.timedelta(days=1))
        for n, customer in enumerate(ctx.customers[1:4]):
            # The third customer was told on the fourth day: CUS-7 flags the incident.
            models.AffectedCustomer.create(incident=incident, customer=customer,
                                           notified_at=found + datetime.timedelta(days=1 if n < 2 else 4),
                                           note="电话告知泄露情况与可能风险,建议留意陌生来电。")
        models.DataIncident.create(found_at=ctx.office_time(ctx.day(1)), description="离职员工账号未及时停用。")
        models.AccessReview.create(reviewed_on=_month_start(ctx.today, -7), reviewer=ctx.users["info_supervisor"],
                                   findings="两名离职员工账号仍为启用状态。", changes_made="已停用离职员工账号。")
        models.AccessReview.create(reviewed_on=_month_start(ctx.today, -1), reviewer=ctx.users["info_supervisor"],
                                   findings="销售二部业务员可查看全部客户,范围过大。",
                                   changes_made="按部门收窄客户数据范围。")


def seed_demo(today: datetime.date | None = None, rng_seed: int = 2026) -> dict[str, str]:
    """Fill the database with believable Chinese demo data; return {username: password} of the users it created."""
    if models.Customer.select().exists():
        return {}
    ctx = _Seed(today or datetime.date.today(), rng_seed)
    # One transaction, and every rule's stored settings read once (not at each of ~4,000 checks).
    with models.db.atomic(), settings_read_once():
        _seed_roles(ctx)
        _seed_departments(ctx)
        _seed_users(ctx)
        _seed_customers(ctx)
        _seed_visits(ctx)
        _seed_surveys(ctx)
        _seed_partners(ctx)
        _seed_archive_files(ctx)
        _seed_sales(ctx)
        _seed_handovers(ctx)
        _seed_destructions(ctx)
        _seed_access_requests(ctx)
        _seed_loans(ctx)
        _seed_loan_reminders(ctx)
        _seed_inspections(ctx)
        _seed_complaints(ctx)
        _seed_service_orders(ctx)
        _seed_receptions(ctx)
        _seed_move_outs(ctx)
        _seed_tenant_requests(ctx)
        _seed_attendance(ctx)
        _seed_qc(ctx)
        _seed_preferences(ctx)
        _seed_data_protection(ctx)
        _seed_audit_log(ctx)
    return dict(ctx.passwords)
