"""GB 11643 citizen ID numbers and masking of personal identifiers.

An ID number is 18 characters: a 6-digit area code, the birth date YYYYMMDD, a 3-digit
sequence and a check digit. The check digit is sum(d_i * w_i) mod 11 over the first 17
digits, mapped to "10X98765432". Lower-case x is accepted and normalised to X.
"""

from __future__ import annotations

import datetime as dt
import re

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
# Patterns used to prove that no identifier leaks into a report, an email or a log.
ID_PATTERN = re.compile(r"(?<![\d*])\d{17}[\dXx](?![\d*])")
PHONE_PATTERN = re.compile(r"(?<![\d*])1[3-9]\d{9}(?![\d*])")


def check_char(first17: str) -> str:
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, WEIGHTS)) % 11]


def normalise(value: str) -> str:
    """An ID cell as the validator checks it: NFKC (full-width digits and Ｘ), blanks around it
    trimmed (also no-break and zero-width spaces), upper-case X (fangpin.quality.normalise)."""
    from fangpin.quality.normalise import clean_cell

    return clean_cell(value).upper()


def id_problem(value, today: dt.date | None = None) -> str | None:
    """Why `value` is not a valid ID number, in Chinese; None when it is valid."""
    s = normalise(value)
    if len(s) != 18:
        return "长度不是18位"
    if not _SHAPE.match(s):
        return "含非法字符"
    if s[:2] in ("00",) or s[:6] == "000000":
        return "地区码无效"
    try:
        born = dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return "出生日期无效"
    if born.year < 1880 or born > (today or dt.date.today()):
        return "出生日期无效"
    if check_char(s[:17]) != s[17]:
        return "校验位错误"
    return None


def make_id(area: str, born: dt.date, seq: int) -> str:
    """A valid ID number for an area code, birth date and sequence (used by the generator)."""
    first17 = f"{area[:6]}{born:%Y%m%d}{seq % 1000:03d}"
    return first17 + check_char(first17)


def mask_id(value) -> str:
    """4513**********1234: keeps the first 4 and last 4 characters."""
    s = str(value or "")
    if len(s) <= 8:
        return "*" * len(s)
    return s[:4] + "*" * (len(s) - 8) + s[-4:]


def mask_phone(value) -> str:
    """138****5678."""
    s = str(value or "")
    if len(s) < 7:
        return "*" * len(s)
    return s[:3] + "*" * (len(s) - 7) + s[-4:]


def redact(text: str) -> str:
    """Masks every ID-number or phone-shaped run in free text (for logs and samples)."""
    text = ID_PATTERN.sub(lambda m: mask_id(m.group(0)), str(text))
    return PHONE_PATTERN.sub(lambda m: mask_phone(m.group(0)), text)
