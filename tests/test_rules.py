"""Rule tests kept as data (the way OpenFisca keeps its YAML tests): tests/rules/R01.yaml …
R12.yaml and risk_levels.yaml hold cases — a compact household, a period, optionally a province
and a parameters file — and the rules, risk level, monitoring flag and explanation expected.
This runner builds typed frames from each case (tests/rulecase.py) and calls screen()."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rulecase import build_frames

RULES_DIR = Path(__file__).with_name("rules")
FILES = sorted(RULES_DIR.glob("R*.yaml")) + [RULES_DIR / "risk_levels.yaml"]


def _cases():
    for f in FILES:
        spec = yaml.safe_load(f.read_text(encoding="utf-8"))
        for case in spec["cases"]:
            yield pytest.param(spec["rule"], case, id=f"{f.stem}: {case['name']}")


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

    assert sorted(RULES) == [f"R{i:02d}" for i in range(1, 13)]
    assert RULES["R05"].name == "住院自付费用高" and RULES["R09"].name == "扣除医疗费用后人均纯收入低于监测范围"
