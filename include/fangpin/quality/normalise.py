"""Cell normalisers: what a department's export is turned into before any check runs.

Data contract section 1, "Messy exports": full-width digits and letters (NFKC), spaces, tabs,
no-break and zero-width spaces around values, lower-case `x` in ID numbers and amounts written
`5,200.50` or `5200元` are normalised, then checked. Free text (names, descriptions) is only
trimmed: NFKC would rewrite compatibility ideographs inside a person's name.

Everything here works on whole pandas Series (vectorised `.str` methods; NFKC only on the
cells that are not plain ASCII), so a 244,000-household delivery is normalised in seconds.
The scalar functions (`clean_cell`, `clean_amount`) state the same rules for one value; the
property tests check that both agree.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

from fangpin import feeds as F

# Whitespace trimmed around values: ASCII blanks, no-break, ideographic, the Unicode spaces and
# the zero-width characters Excel and web forms leave behind (and a stray BOM).
BLANKS = (" \t\r\n\x0b\x0c\x1c\x1d\x1e\x1f\x85\u00a0\u1680\u180e\u2000\u2001\u2002\u2003\u2004\u2005"
          "\u2006\u2007\u2008\u2009\u200a\u200b\u200c\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff")
# Control characters that may not be stored (tab, line feed and carriage return inside a cell
# are ordinary text in a multi-line Excel cell).
CONTROL_REGEX = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_CONTROL = re.compile(CONTROL_REGEX)
# 5,200.50 | 5200元 | ¥5,200.50 | 5 200.50 is NOT accepted (ambiguous)
AMOUNT_REGEX = r"^[¥￥]?([+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]*)?)元?$"
_AMOUNT = re.compile(AMOUNT_REGEX)
# An ID number that went through a spreadsheet number: 4.51302E+17, 451302199001011234.0
NUMERIC_ID_REGEX = r"^[0-9](?:\.[0-9]*)?[eE]\+?[0-9]{1,2}$|^[0-9]{15,18}\.[0-9]*$"
_NUMERIC_ID = re.compile(NUMERIC_ID_REGEX)

# Free-text columns: trimmed only (no NFKC). Keys such as 户编号 and 问题编号 are TEXT in
# feeds.py but are matched across feeds, so they are normalised like codes.
KEY_TEXT = {"household_id", "problem_id"}


def free_text(c: F.Column) -> bool:
    return c.kind == F.TEXT and c.name not in KEY_TEXT


def clean_cell(value: str, nfkc: bool = True) -> str:
    """One cell as the reader keeps it: NFKC (unless free text), blanks around it trimmed."""
    s = str(value)
    if nfkc and not s.isascii():
        s = unicodedata.normalize("NFKC", s)
    return s.strip(BLANKS)


def clean_amount(value: str) -> str:
    """5,200.50 -> 5200.50; 5200元 -> 5200; anything else unchanged (the number check decides)."""
    m = _AMOUNT.match(value)
    return m.group(1).replace(",", "") if m else value


def clean_id(value: str) -> str:
    return value.upper()


def strip_series(s: pd.Series) -> pd.Series:
    return s.str.strip(BLANKS)


def nfkc_series(s: pd.Series) -> pd.Series:
    """NFKC of the non-ASCII cells (ASCII text is already in NFKC)."""
    if "\n".join(s.tolist()).isascii():
        return s
    ascii_ = s.str.isascii()
    out = s.copy()
    out[~ascii_] = s[~ascii_].str.normalize("NFKC")
    return out


def clean_series(s: pd.Series, column: F.Column | None) -> pd.Series:
    """A whole column normalised (see the module docstring); `column` None = an extra column."""
    s = s.astype(str)
    if column is not None and not free_text(column):
        s = nfkc_series(s)
    s = strip_series(s)
    if column is None:
        return s
    if column.kind == F.ID_NUMBER:
        s = s.str.upper()
    elif column.kind == F.MONEY:
        s = amount_series(s)
    return s


def amount_series(s: pd.Series) -> pd.Series:
    """clean_amount over a Series (only cells holding a comma, 元 or ¥ are touched)."""
    odd = s.str.contains(r"[,元¥￥]", regex=True)
    if not bool(odd.any()):
        return s
    out = s.copy()
    m = s[odd].str.extract(AMOUNT_REGEX, expand=False)
    fixed = m.str.replace(",", "", regex=False)
    out[odd] = fixed.where(m.notna(), s[odd])
    return out


def numeric_id_text(s: pd.Series) -> pd.Series:
    """True where an ID cell's text is a spreadsheet number (4.51302E+17, 4513…1234.0)."""
    return s.str.contains(NUMERIC_ID_REGEX, regex=True).fillna(False).astype(bool)


def any_match(s: pd.Series, regex) -> bool:
    """Whether any cell of a text Series matches `regex` (one C-speed search over the joined
    column: the fast path that spares a per-cell pass for the clean columns)."""
    pattern = regex if isinstance(regex, re.Pattern) else re.compile(regex)
    return bool(len(s)) and pattern.search("\n".join(s.astype(str).tolist())) is not None


def has_control(s: pd.Series) -> pd.Series:
    if not any_match(s, _CONTROL):
        return pd.Series(False, index=s.index)
    return s.str.contains(CONTROL_REGEX, regex=True).fillna(False).astype(bool)
