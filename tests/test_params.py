import datetime as dt

import pytest
import yaml

from fangpin import params


def test_threshold_by_province_and_date():
    gx = params.lookup("screening.monitoring_threshold", dt.date(2026, 10, 31), province="广西")
    assert gx.value == 7000 and gx.province == "广西" and "兴宾" in gx.reference
    # A province without its own value falls back to the national one.
    assert params.param("screening.monitoring_threshold", dt.date(2026, 10, 31), province="河南") == 6000


def test_every_parameter_has_value_and_reference_in_force():
    for p in params.all_in_force(dt.date(2026, 10, 31), province="广西"):
        assert p.reference and p.value is not None, p.name


def test_dated_values_switch_on_their_effective_date(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump({"x": {"description": "d", "unit": "元", "values": {"*": {
        dt.date(2024, 1, 1): {"value": 1, "reference": "notice A"},
        dt.date(2025, 7, 1): {"value": 2, "reference": "notice B"},
    }}}}, allow_unicode=True))
    assert params.param("x", dt.date(2025, 6, 30), path=f) == 1
    assert params.lookup("x", dt.date(2025, 7, 1), path=f).reference == "notice B"
    with pytest.raises(params.ParameterError):
        params.param("x", dt.date(2023, 12, 31), path=f)
    with pytest.raises(params.ParameterError):
        params.param("nope", dt.date(2025, 1, 1), path=f)


def test_entry_without_reference_is_refused(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("x:\n  values:\n    '*':\n      2024-01-01: {value: 1}\n")
    with pytest.raises(params.ParameterError):
        params.param("x", dt.date(2025, 1, 1), path=f)
