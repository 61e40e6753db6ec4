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


def test_yunnan_2025_threshold_and_the_2026_term():
    yn = params.lookup("screening.monitoring_threshold", dt.date(2025, 10, 31), province="云南")
    assert yn.value == 8700 and yn.province == "云南" and "云农办通〔2025〕1号" in yn.reference
    assert params.param("screening.monitoring_threshold", dt.date(2024, 12, 31), province="云南") == 6000
    assert params.param("terms.monitored_object", dt.date(2025, 12, 31)) == "监测对象"
    assert params.param("terms.monitored_object", dt.date(2026, 1, 31)) == "防止返贫致贫对象"


def test_explain_says_which_value_applies_and_why():
    by = {e.name: e for e in params.explain(dt.date(2025, 12, 31), province="广西")}
    t = by["screening.monitoring_threshold"]
    assert (t.value, t.since, t.province) == (7000, dt.date(2022, 1, 1), "广西")
    assert "广西省级值" in t.why and "6000" in t.why
    term = by["terms.monitored_object"]
    assert term.province == params.NATIONAL and "广西未单独规定" in term.why
    assert term.next_change == (dt.date(2026, 1, 1), "防止返贫致贫对象")
    # a parameter set only for some provinces: nothing applies elsewhere, and the reason says so
    dibao = {e.name: e for e in params.explain(dt.date(2026, 10, 31), province="云南")}["policy.dibao_standard"]
    assert dibao.value is None and "广西" in dibao.why
    assert "policy.dibao_standard" not in {p.name for p in params.all_in_force(dt.date(2026, 10, 31), "云南")}


def test_params_command_prints_value_date_province_and_reference(capsys):
    from fangpin import cli

    assert cli.main(["params", "--period", "2025-10", "--province", "云南", "--name", "screening.monitoring"]) == 0
    out = capsys.readouterr().out
    assert "screening.monitoring_threshold = 8700 元" in out
    assert "自 2025-01-01 起生效" in out and "云农办通〔2025〕1号" in out and "云南省级值" in out
    assert "screening.income_drop_ratio" not in out  # --name filters
