import datetime as dt

import pytest

from fangpin import ids


def test_make_id_is_valid_and_check_digit_matches_gb11643_example():
    # The worked example of GB 11643-1999: 11010519491231002X.
    assert ids.check_char("11010519491231002") == "X"
    assert ids.id_problem("11010519491231002X") is None
    assert ids.id_problem("11010519491231002x") is None  # lower-case x accepted
    made = ids.make_id("451302", dt.date(1980, 2, 29), 7)
    assert ids.id_problem(made) is None and made.startswith("45130219800229007")


@pytest.mark.parametrize("value, problem", [
    ("11010519491231002", "长度不是18位"),
    ("1101051949123100AX", "含非法字符"),
    ("110105194902300020", "出生日期无效"),   # 30 February
    ("000000194912310020", "地区码无效"),
    ("110105194912310021", "校验位错误"),
])
def test_id_problems(value, problem):
    assert ids.id_problem(value) == problem


def test_future_birth_date_is_invalid():
    future = ids.make_id("451302", dt.date(2030, 1, 1), 1)
    assert ids.id_problem(future, today=dt.date(2026, 11, 22)) == "出生日期无效"


def test_masking_and_redaction():
    assert ids.mask_id("451302198001020178") == "4513**********0178"
    assert ids.mask_phone("13812345678") == "138****5678"
    text = "户主 451302198001020178 电话 13812345678 户编号 HH0001"
    red = ids.redact(text)
    assert "451302198001020178" not in red and "13812345678" not in red
    assert "4513**********0178" in red and "138****5678" in red and "HH0001" in red
    assert not ids.ID_PATTERN.search(red) and not ids.PHONE_PATTERN.search(red)


# ---- property-based: the ID check (hypothesis) --------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_ID_CHARS = st.sampled_from(list("0123456789") * 4 + ["X", "x", "Ａ", "１", " ", "\u00a0", "\u200b", "-", "٣"])


@settings(max_examples=300, deadline=None)
@given(st.dates(dt.date(1880, 1, 1), dt.date(2026, 11, 1)), st.integers(0, 999),
       st.sampled_from(["110105", "451302", "653101"]))
def test_every_made_id_is_valid_and_one_wrong_character_is_not(born, seq, area):
    made = ids.make_id(area, born, seq)
    assert ids.id_problem(made, today=dt.date(2026, 11, 22)) is None
    for i in (0, 7, 16, 17):        # a changed digit or check character never passes the check digit
        wrong = made[:i] + ("1" if made[i] == "0" else "0") + made[i + 1:]
        assert ids.id_problem(wrong, today=dt.date(2026, 11, 22)) is not None


@settings(max_examples=400, deadline=None)
@given(st.text(_ID_CHARS, min_size=15, max_size=20))
def test_vectorised_id_check_equals_the_scalar_one(value):
    import pandas as pd

    from fangpin.quality.checks import id_problems

    today = dt.date(2026, 11, 22)
    got = id_problems(pd.Series([value]), today=today).iloc[0]
    want = ids.id_problem(value, today=today) if ids.normalise(value) else None
    assert got == want


def test_the_id_birth_date_reference_is_the_period_end_and_never_after_today():
    import datetime as dt

    from fangpin.quality.checks import born_by

    assert born_by("2026-10-31T00:00:00") == dt.date(2026, 10, 31)   # a past period: its end
    assert born_by(dt.date(2999, 1, 31)) == dt.date.today()          # a period not ended: today
    assert born_by(None) is None and born_by({}) is None
