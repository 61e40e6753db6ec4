"""Rule tests kept as data (the way OpenFisca keeps its YAML tests): tests/rules/R01.yaml …
R13.yaml and risk_levels.yaml hold cases — a compact household, a period, optionally a province
and a parameters file — and the rules, risk level, monitoring flag and explanation expected.
The registry audit's checks are kept the same way in tests/rules/A01.yaml … A12.yaml (`check:`
instead of `rule:`; expected `checks`, optionally `skipped`).
This runner builds typed frames from each case (tests/rulecase.py) and calls screen() or audit()."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from rulecase import build_frames

RULES_DIR = Path(__file__).with_name("rules")
FILES = sorted(RULES_DIR.glob("R*.yaml")) + [RULES_DIR / "risk_levels.yaml", RULES_DIR / "policy_flags.yaml"]
AUDIT_FILES = sorted(RULES_DIR.glob("A*.yaml"))


def _cases(files=FILES, key="rule"):
    for f in files:
        spec = yaml.safe_load(f.read_text(encoding="utf-8"))
        for case in spec["cases"]:
            yield pytest.param(spec[key], case, id=f"{f.stem}: {case['name']}")


@pytest.fixture
def use_params(monkeypatch):
    from fangpin import config

    def apply(name: str | None):
        if name:
            monkeypatch.setenv("FANGPIN_PARAMS_FILE", str(RULES_DIR / name))
        else:
            monkeypatch.delenv("FANGPIN_PARAMS_FILE", raising=False)
        config.reset()

    yield apply
    config.reset()


def _check(row, expected: dict, hid: str):
    rules = expected.get("rules", [])
    if not rules:
        assert row is None, f"{hid}: expected no hit, got {row['rules']} ({row['explanation']})"
        return
    assert row is not None, f"{hid}: expected {rules}, got no hit"
    assert row["rules"] == ";".join(rules), row["explanation"]
    # one clause per hit, each starting with its code, joined by '；'
    assert [c.split(" ", 1)[0] for c in row["explanation"].split("；")] == rules
    if "risk" in expected:
        assert row["risk_level"] == expected["risk"], row["rules"]
    if "monitored" in expected:
        assert bool(row["already_monitored"]) is expected["monitored"]
    if "category" in expected:
        assert row["category"] == expected["category"]
    for text in expected.get("explanation", []):
        assert text in row["explanation"], row["explanation"]
    for text in expected.get("explanation_excludes", []):
        assert text not in row["explanation"], row["explanation"]
    for flag in ("dibao_edge", "rigid_expense"):  # 2026 policy flags (None: not determinable)
        if flag in expected:
            got = row[flag]
            assert (None if got is None or pd.isna(got) else bool(got)) is expected[flag], (flag, got)


@pytest.mark.parametrize("rule, case", list(_cases()))
def test_rule_case(rule, case, use_params):
    from fangpin.screen import screen

    use_params(case.get("params"))
    frames = build_frames(case)
    out = screen(frames, str(case["period"]), province=case.get("province", "广西"))
    by_id = {r["household_id"]: r for r in out.to_dict("records")}
    if "households" in case:
        for hid, expected in case["expect"].items():
            _check(by_id.get(hid), expected, hid)
        assert set(by_id) <= set(case["expect"]), "an unexpected household hit"
    else:
        _check(by_id.get("H1"), case["expect"], "H1")


def test_every_rule_has_cases_on_both_sides():
    """Each rule file has at least one case where the rule hits and one where it does not."""
    from fangpin.screen import RULES

    for code in RULES:
        spec = yaml.safe_load((RULES_DIR / f"{code}.yaml").read_text(encoding="utf-8"))
        hits = [code in c["expect"].get("rules", []) for c in spec["cases"]]
        assert any(hits) and not all(hits), code


def test_registry_matches_the_contract():
    from fangpin.screen import RULES

    assert sorted(RULES) == [f"R{i:02d}" for i in range(1, 14)]
    assert RULES["R05"].name == "住院自付费用高" and RULES["R09"].name == "扣除医疗费用后人均纯收入低于监测范围"


# ---- registry audit (A01–A12) -----------------------------------------------------------------

def _check_audit(row, expected: dict, hid: str):
    checks = expected.get("checks", [])
    if not checks:
        assert row is None, f"{hid}: expected no flag, got {row['checks']} ({row['explanation']})"
        return
    assert row is not None, f"{hid}: expected {checks}, got no flag"
    assert row["checks"] == ";".join(checks), row["explanation"]
    assert [c.split(" ", 1)[0] for c in row["explanation"].split("；")] == checks
    for text in expected.get("explanation", []):
        assert text in row["explanation"], row["explanation"]
    for text in expected.get("explanation_excludes", []):
        assert text not in row["explanation"], row["explanation"]


@pytest.mark.parametrize("code, case", list(_cases(AUDIT_FILES, "check")))
def test_audit_case(code, case, use_params):
    from fangpin.audit import audit

    use_params(case.get("params"))
    frames = build_frames(case)
    result = audit(frames, str(case["period"]), province=case.get("province", "广西"))
    by_id = {r["household_id"]: r for r in result.flagged.to_dict("records")}
    if "households" in case:
        for hid, expected in case["expect"].items():
            _check_audit(by_id.get(hid), expected, hid)
        assert set(by_id) <= set(case["expect"]), "an unexpected household flagged"
    else:
        _check_audit(by_id.get("H1"), case["expect"], "H1")
        if "skipped" in case["expect"]:
            assert result.skipped == case["expect"]["skipped"], result.checks


def test_every_check_has_cases_on_both_sides():
    """Each audit check file has at least one case where the check flags and one where it does not."""
    from fangpin.audit import CHECKS

    for code in CHECKS:
        spec = yaml.safe_load((RULES_DIR / f"{code}.yaml").read_text(encoding="utf-8"))
        flags = [code in (c["expect"].get("checks", []) if "households" not in c else
                          [x for e in c["expect"].values() for x in e.get("checks", [])]) for c in spec["cases"]]
        assert any(flags) and not all(flags), code


def test_audit_registry_matches_the_contract():
    from fangpin.audit import CHECKS

    assert sorted(CHECKS) == [f"A{i:02d}" for i in range(1, 13)]
    assert CHECKS["A02"].name == "消除过快" and CHECKS["A12"].name == "联系电话多户共用"
    # the checks fed by the optional households column 风险类型
    assert sorted(c for c, k in CHECKS.items() if k.needs) == ["A05", "A06"]
    # every parameter a check declares exists and is in force for a period
    import datetime as dt

    from fangpin.params import lookup

    for k in CHECKS.values():
        for name in k.params:
            assert lookup(name, dt.date(2026, 10, 31), "广西").reference
