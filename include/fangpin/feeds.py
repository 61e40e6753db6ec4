"""The feeds of the data contract, declared once.

Every department export (a *feed*) is described here: its file name, the Chinese header of
each column and the internal (English) column name it maps to, the column's kind, the values
an enumeration may take, and the keys. The generator, the reader, the expectation suites and
the loader all use these declarations; a feed is never described anywhere else.

See ../shared/spec/data-contract.md section 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ---- enumerations (Chinese values exactly as the contract lists them) -------------------
LEVELS = ("乡镇", "村")
CATEGORIES = ("脱贫户", "监测户", "一般农户")
CAT_LIFTED, CAT_MONITORED, CAT_GENERAL = CATEGORIES
MONITOR_TYPES = ("脱贫不稳定户", "边缘易致贫户", "突发严重困难户")
YES_NO = ("是", "否")
LABOR_SKILLS = ("技能劳动力", "普通劳动力", "弱劳动力或半劳动力", "丧失劳动力", "无劳动力")
LABORER_SKILLS = LABOR_SKILLS[:3]
DISABILITY_TYPES = ("视力", "听力", "言语", "肢体", "智力", "精神", "多重")
DISABILITY_GRADES = ("一级", "二级", "三级", "四级")
ASSISTANCE_TYPES = ("低保", "特困", "孤儿")
SCHOOL_STAGES = ("学前", "小学", "初中", "高中", "中职", "高职", "本科及以上")
SCHOOL_STATUSES = ("在读", "辍学", "休学", "毕业")
HOUSING_GRADES = ("A", "B", "C", "D")
DISEASE_CLASSES = ("大病", "慢性病")
INSPECTION_RESULTS = ("无风险", "发现风险")
VERIFICATION_CONCLUSIONS = ("纳入监测", "排除", "持续关注")
# Optional households columns of the registry audit (data contract section 2b).
RISK_TYPES = ("因病", "因残", "因学", "因灾", "因意外事故", "缺劳动力", "产业项目失败", "务工就业不稳",
              "住房出现安全问题", "饮水安全问题", "其他")
RISK_TYPE_SEP = "、"          # 风险类型 lists several types joined by 、
ELIMINATION_METHODS = ("帮扶消除", "自然消除")
# 人社 employment feed
EMPLOYMENT_STATUSES = ("务工", "失业", "灵活就业", "公益性岗位")
UNEMPLOYED = EMPLOYMENT_STATUSES[1]
WORK_PLACES = ("县内", "县外省内", "省外")
# county sample review of decisions (浚县 practice)
REVIEW_CONCLUSIONS = ("认定准确", "认定不准确")

# ---- column kinds -----------------------------------------------------------------------
TEXT = "text"            # free text, kept as str
CODE = "code"            # administrative code, digits only (length given by `digits`)
ID_NUMBER = "id_number"  # GB 11643 citizen ID number, 18 characters
PHONE = "phone"          # 11-digit mainland mobile number
COUNT = "count"          # non-negative integer
MONEY = "money"          # non-negative decimal yuan
DATE = "date"            # 2026-10-05 | 2026/10/5 | 20261005
MONTH = "month"          # 2026-10 | 202610
ENUM = "enum"            # one of `values`
ENUM_LIST = "enum_list"  # one or more of `values` joined by RISK_TYPE_SEP (、), each validated

SENSITIVE_KINDS = (ID_NUMBER, PHONE)


@dataclass(frozen=True)
class Column:
    zh: str                      # header in the delivered file
    name: str                    # internal name used everywhere in code and the database
    kind: str = TEXT
    values: tuple[str, ...] = ()  # for ENUM
    required: bool = True        # an empty cell is a defect
    digits: tuple[int, ...] = ()  # for CODE: allowed lengths
    max_value: float | None = None  # plausibility bound for COUNT / MONEY
    optional: bool = False       # the header may be absent from the file (never required)


@dataclass(frozen=True)
class Reference:
    """`column` of this feed must exist in `feed`.`target` (a defect when it does not)."""

    column: str
    feed: str
    target: str


@dataclass(frozen=True)
class Feed:
    name: str                  # file stem in the drop folder
    department: str            # who delivers it
    label: str                 # short Chinese label used in reports
    row: str                   # what one row is
    columns: tuple[Column, ...]
    unique: tuple[str, ...] = ()          # columns whose values must be unique
    references: tuple[Reference, ...] = ()
    person_column: str | None = None      # 身份证号 matched against members; no match = unmatched
    core: bool = False                    # part of the registry rather than a department feed
    feedback: bool = False                # township/county feedback rather than a department
    extra: dict = field(default_factory=dict)

    @property
    def headers(self) -> list[str]:
        return [c.zh for c in self.columns]

    @property
    def required_headers(self) -> list[str]:
        """Headers the file must have (optional columns may be absent)."""
        return [c.zh for c in self.columns if not c.optional]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    def zh_of(self, name: str) -> str:
        return self.column(name).zh


def _c(zh, name, kind=TEXT, values=(), required=True, digits=(), max_value=None, optional=False) -> Column:
    return Column(zh, name, kind, tuple(values), required and not optional, tuple(digits), max_value, optional)


FEEDS: dict[str, Feed] = {}


def _register(feed: Feed) -> Feed:
    FEEDS[feed.name] = feed
    return feed


REGIONS = _register(Feed(
    "regions", "县乡村振兴局", "行政区划", "一个乡镇（街道）或村（社区）",
    (
        _c("行政区划代码", "code", CODE, digits=(9, 12)),
        _c("名称", "name"),
        _c("级别", "level", ENUM, LEVELS),
    ),
    unique=("code",), core=True,
))

HOUSEHOLDS = _register(Feed(
    "households", "全国防返贫监测信息系统", "农户", "一户农户",
    (
        _c("户编号", "household_id"),
        _c("行政区划代码", "village_code", CODE, digits=(12,)),
        _c("户主姓名", "head_name"),
        _c("户主身份证号", "head_id_number", ID_NUMBER),
        _c("联系电话", "phone", PHONE, required=False),
        _c("家庭人口数", "declared_size", COUNT, max_value=30),
        _c("农户类别", "category", ENUM, CATEGORIES),
        _c("监测对象类别", "monitor_type", ENUM, MONITOR_TYPES, required=False),
        _c("识别监测时间", "identified_month", MONTH, required=False),
        _c("风险是否已消除", "risk_eliminated", ENUM, YES_NO, required=False),
        _c("消除监测时间", "eliminated_month", MONTH, required=False),
        _c("人均纯收入", "income", MONEY, max_value=1_000_000),
        _c("上年人均纯收入", "last_income", MONEY, max_value=1_000_000),
        _c("帮扶措施数", "measures", COUNT, max_value=100),
        # optional columns (data contract section 2b): the registry audit's A05/A06 read them;
        # a file without them is read as usual and those checks are skipped.
        _c("风险类型", "risk_types", ENUM_LIST, RISK_TYPES, optional=True),
        _c("风险消除方式", "elimination_method", ENUM, ELIMINATION_METHODS, optional=True),
    ),
    unique=("household_id",),
    references=(Reference("village_code", "regions", "code"),),
    core=True,
))

MEMBERS = _register(Feed(
    "members", "全国防返贫监测信息系统", "家庭成员", "一名家庭成员",
    (
        _c("身份证号", "id_number", ID_NUMBER),
        _c("户编号", "household_id"),
        _c("姓名", "name"),
        _c("与户主关系", "relation"),
        _c("劳动技能", "labor_skill", ENUM, LABOR_SKILLS),
    ),
    unique=("id_number",),
    references=(Reference("household_id", "households", "household_id"),),
    core=True,
))

MEDICAL = _register(Feed(
    "medical", "医保局", "医保", "一次住院结算",
    (
        _c("身份证号", "id_number", ID_NUMBER),
        _c("入院日期", "admission_date", DATE),
        _c("出院日期", "discharge_date", DATE),
        _c("医疗总费用", "total_cost", MONEY, max_value=10_000_000),
        _c("个人自付", "out_of_pocket", MONEY, max_value=10_000_000),
    ),
    person_column="id_number",
))

DISABILITY = _register(Feed(
    "disability", "残联", "残联", "一张残疾人证",
    (
        _c("身份证号", "id_number", ID_NUMBER),
        _c("残疾类别", "disability_type", ENUM, DISABILITY_TYPES),
        _c("残疾等级", "disability_grade", ENUM, DISABILITY_GRADES),
        _c("发证日期", "issue_date", DATE),
    ),
    person_column="id_number",
))

CIVIL_AFFAIRS = _register(Feed(
    "civil_affairs", "民政局", "民政", "一条社会救助纳入记录",
    (
        _c("身份证号", "id_number", ID_NUMBER),
        _c("救助类型", "assistance_type", ENUM, ASSISTANCE_TYPES),
        _c("起始日期", "start_date", DATE),
    ),
    person_column="id_number",
))

EDUCATION = _register(Feed(
    "education", "教体局", "教体", "一名学生的当前学籍",
    (
        _c("身份证号", "id_number", ID_NUMBER),
        _c("学段", "stage", ENUM, SCHOOL_STAGES),
        _c("学籍状态", "status", ENUM, SCHOOL_STATUSES),
    ),
    unique=("id_number",),
    person_column="id_number",
))

HOUSING = _register(Feed(
    "housing", "住建局", "住建", "一次农村住房安全鉴定",
    (
        _c("户编号", "household_id"),
        _c("鉴定等级", "grade", ENUM, HOUSING_GRADES),
        _c("鉴定日期", "appraisal_date", DATE),
    ),
    references=(Reference("household_id", "households", "household_id"),),
))

HEALTH = _register(Feed(
    "health", "卫健局", "卫健", "一次重大疾病确诊",
    (
        _c("身份证号", "id_number", ID_NUMBER),
        _c("疾病名称", "disease"),
        _c("类别", "disease_class", ENUM, DISEASE_CLASSES),
        _c("确诊日期", "diagnosis_date", DATE),
    ),
    person_column="id_number",
))

INSPECTIONS = _register(Feed(
    "inspections", "乡镇/村", "日常排查", "一次入户排查",
    (
        _c("户编号", "household_id"),
        _c("排查日期", "inspect_date", DATE),
        _c("排查人", "inspector"),
        _c("排查结果", "result", ENUM, INSPECTION_RESULTS),
    ),
    references=(Reference("household_id", "households", "household_id"),),
    feedback=True,
))

VERIFICATIONS = _register(Feed(
    "verifications", "乡镇", "核实反馈", "一次疑似风险户核实",
    (
        _c("户编号", "household_id"),
        _c("核实日期", "verify_date", DATE),
        _c("核实结论", "conclusion", ENUM, VERIFICATION_CONCLUSIONS),
    ),
    references=(Reference("household_id", "households", "household_id"),),
    feedback=True,
))

SPOT_CHECK_RESULTS = _register(Feed(
    "spot_check_results", "县数据核查小组", "电话抽查", "一次电话抽查",
    (
        _c("户编号", "household_id"),
        _c("抽查日期", "check_date", DATE),
        _c("是否接通", "answered", ENUM, YES_NO),
        _c("信息是否一致", "consistent", ENUM, YES_NO),
        _c("帮扶是否落实", "assisted", ENUM, YES_NO),
        _c("备注", "remark", required=False),
    ),
    references=(Reference("household_id", "households", "household_id"),),
    feedback=True,
))

RECTIFICATIONS = _register(Feed(
    "rectifications", "乡镇", "整改反馈", "一条问题整改报告",
    (
        _c("问题编号", "problem_id"),
        _c("整改日期", "rectify_date", DATE),
        _c("整改情况", "description"),
    ),
    feedback=True,
))

EMPLOYMENT = _register(Feed(
    "employment", "人社局", "人社", "一人一月的就业（务工）记录",
    (
        _c("身份证号", "id_number", ID_NUMBER),
        _c("就业状态", "employment_status", ENUM, EMPLOYMENT_STATUSES),
        _c("务工地点", "work_place", ENUM, WORK_PLACES, required=False),
        _c("月工资", "monthly_wage", MONEY, max_value=1_000_000),
        _c("统计月份", "stat_month", MONTH),
    ),
    person_column="id_number",
))

REVIEW_RESULTS = _register(Feed(
    "review_results", "县乡村振兴局", "抽样审核", "一户拟纳入或拟消除农户的县级抽样审核结果",
    (
        _c("户编号", "household_id"),
        _c("审核日期", "review_date", DATE),
        _c("审核结论", "conclusion", ENUM, REVIEW_CONCLUSIONS),
        _c("问题说明", "note", required=False),
    ),
    references=(Reference("household_id", "households", "household_id"),),
    feedback=True,
))

# The seven departments of the mission, in the order reports list them.
DEPARTMENT_FEEDS = ("medical", "disability", "civil_affairs", "education", "housing", "health", "employment")
FEED_ORDER = tuple(FEEDS)


def feed(name: str) -> Feed:
    try:
        return FEEDS[name]
    except KeyError:
        raise KeyError(f"unknown feed {name!r}; known feeds: {', '.join(FEEDS)}") from None
