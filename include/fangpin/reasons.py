"""The wording of quarantine reasons, shared by the validator and the generator's answer key.

A reason reads `<Chinese column header>：<problem>`, e.g. `身份证号：校验位错误`; several
reasons of one row are joined by `；`. The problems for ID numbers come from fangpin.ids.
"""

from __future__ import annotations

SEPARATOR = "；"

MISSING = "不能为空"
DUPLICATE = "重复"
UNKNOWN_VILLAGE = "村代码不存在"
UNKNOWN_HOUSEHOLD = "户编号不存在"
NOT_A_NUMBER = "不是数字"
NEGATIVE = "不能为负数"
NOT_INTEGER = "不是整数"
TOO_LARGE = "超出合理范围"
BAD_ENUM = "取值不在允许范围"
BAD_DATE = "日期无法解析"
BAD_MONTH = "月份无法解析"
AFTER_PERIOD = "晚于本期末"
SIZE_MISMATCH = "与成员数不符"
BAD_PHONE = "不是11位手机号"
BAD_CODE = "代码位数不对"
LEVEL_MISMATCH = "级别与代码位数不符"
DATE_ORDER = "早于入院日期"
# Messy exports (data contract section 1, "Messy exports")
STORED_AS_NUMBER = "被存为数字，已失真"      # an ID cell Excel stored as a number
TOTAL_ROW = "合计行"                          # a 合计/总计/小计 row (the whole reason, no column)
TOO_MANY_CELLS = "列数多于表头"               # a row with cells past the header (the whole reason)
EXACT_DUPLICATE = "重复"                      # a later copy of an event row already accepted
CONTRADICTORY_DUPLICATE = "重复且矛盾"        # same person and date, different values (every copy)
CONTROL_CHARS = "含控制字符"
NOT_CONVERTIBLE = "无法转换"                  # passed the text checks but could not be typed (safety net)
NAME_LIMIT, CELL_LIMIT = 50, 2000


def too_long(limit: int) -> str:
    return f"超过{limit}个字符"


# ID-number problems (see fangpin.ids.id_problem): 长度不是18位, 含非法字符, 地区码无效,
# 出生日期无效, 校验位错误


def reason(column_zh: str, problem: str) -> str:
    return f"{column_zh}：{problem}"


def join(reasons) -> str:
    return SEPARATOR.join(reasons)
