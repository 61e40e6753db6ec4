"""generate_county: a complete synthetic delivery (13 feeds) and its answer key.

Order of work: the static county (seed only) -> the month's decisions and planted registry
doubts (registry.py) -> this period's incomes and department rows (background, hitting nothing)
-> planted hits and near-misses -> 人社 rows, 风险类型 of the A05/A06 doubts, review results ->
outsiders (unmatched rows) -> defects -> the generator's own check of the planting on clean and
on accepted rows, and the audit expectation -> delivered text -> files -> answer key. See
docs/generate.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from fangpin import feeds as F
from fangpin.config import settings
from fangpin.generate import employment, feedback, history, plant, registry, write
from fangpin.generate.county import County, build_county, id_strings, unique_bodies
from fangpin.generate.defects import PERSON_FEEDS, Defects
from fangpin.generate.expect import evaluate, evaluate_audit
from fangpin.params import param
from fangpin.periods import Month

VERSION = "1.0"
KEY_DIR = "answer_key"


class PlantingError(AssertionError):
    """The generator's own check found a planted household that does not hit what it should."""


def _ctx(month: Month) -> plant.Ctx:
    def p(name):
        return param(name, on=month.end)

    return plant.Ctx(
        month=month, T=float(p("screening.monitoring_threshold")), drop_ratio=float(p("screening.income_drop_ratio")),
        thr_registered=float(p("screening.oop_threshold_registered")),
        thr_general=float(p("screening.oop_threshold_general")), large=int(p("screening.large_household_size")),
        student_ratio=float(p("screening.student_ratio")), severe_grades=tuple(p("screening.severe_disability_grades")),
        grade3_types=tuple(p("screening.severe_disability_grade3_types")),
        unsafe_grades=tuple(p("screening.unsafe_housing_grades")),
        compulsory=tuple(p("screening.compulsory_education_stages")))


def _person_feed(county: County, parts: list[pd.DataFrame], plan_rows: list[dict], columns: list[str]) -> pd.DataFrame:
    frames = [p[["person", "h", *columns]] for p in parts if len(p)]
    if plan_rows:
        frames.append(pd.DataFrame(plan_rows)[["person", "h", *columns]])
    df = pd.concat(frames, ignore_index=True)
    df["person"] = df["person"].astype(np.int64)
    df["h"] = df["h"].astype(np.int64)
    return df


def _with_ids(county: County, df: pd.DataFrame, date_col: str | None) -> pd.DataFrame:
    ids = county.mem["id_number"].to_numpy()
    df = df.copy()
    df["id_number"] = np.where(df["person"].to_numpy() >= 0, ids[np.maximum(df["person"].to_numpy(), 0)],
                               df.get("id_number", pd.Series([None] * len(df))).to_numpy())
    for c in df.columns:
        if c.endswith("_date"):
            df[c] = df[c].to_numpy().astype("datetime64[D]")
    if date_col:
        df = df.sort_values([date_col, "id_number"], kind="stable")
    return df.reset_index(drop=True)


def _outsiders(county: County, rng, month: Month, n_per: dict[str, int], ctx) -> tuple[dict, list[str]]:
    """Rows for people outside the rural registry (valid IDs that match no member)."""
    total = sum(n_per.values()) + 64
    age = rng.integers(3, 85, total)
    births = np.datetime64(f"{county.anchor_year - 1}-01-01") - (age * 365 + rng.integers(0, 365, total)).astype(
        "timedelta64[D]")
    male = rng.random(total) < 0.5
    bodies = unique_bodies(rng, county.regions["code"].iat[0][:6], births, male,
                           taken=set(county.mem["body"].to_numpy().tolist()))
    ids = list(id_strings(bodies))
    fresh = ids[sum(n_per.values()):]
    start, end = np.datetime64(month.start), np.datetime64(month.end)
    out, k = {}, 0

    def take(n):
        nonlocal k
        chunk = ids[k:k + n]
        k += n
        return np.array(chunk, dtype=object)

    def days(lo, hi, n):
        return lo + rng.integers(0, int((hi - lo) / np.timedelta64(1, "D")) + 1, n).astype("timedelta64[D]")

    n = n_per["medical"]
    d = days(np.datetime64(month.year_start), end, n)
    oop = np.round(rng.uniform(200, 30000, n), 2)
    out["medical"] = pd.DataFrame({"id_number": take(n), "admission_date": d - 5 * np.timedelta64(1, "D"),
                                   "discharge_date": d, "total_cost": np.round(oop * 2.5, 2), "out_of_pocket": oop})
    n = n_per["disability"]
    out["disability"] = pd.DataFrame({"id_number": take(n), "disability_type": "智力", "disability_grade": "一级",
                                      "issue_date": days(start, end, n)})
    n = n_per["civil_affairs"]
    out["civil_affairs"] = pd.DataFrame({"id_number": take(n), "assistance_type": "低保",
                                         "start_date": days(start, end, n)})
    n = n_per["education"]
    out["education"] = pd.DataFrame({"id_number": take(n), "stage": "初中", "status": "辍学"})
    n = n_per["health"]
    out["health"] = pd.DataFrame({"id_number": take(n), "disease": "恶性肿瘤", "disease_class": "大病",
                                  "diagnosis_date": days(start, end, n)})
    for f in out.values():
        f["person"], f["h"] = -1, -1
    return out, fresh


def _assemble(county: County, plan: plant.Plan, hist: dict, per: dict, ctx) -> dict[str, pd.DataFrame]:
    hh, mem = county.hh, county.mem
    typed = {"regions": county.regions[["code", "name", "level"]].copy()}
    households = pd.DataFrame({
        "h": np.arange(len(hh)), "household_id": hh["household_id"], "village_code": hh["village_code"],
        "head_name": hh["head_name"], "head_id_number": hh["head_id_number"], "phone": hh["phone"],
        "declared_size": hh["size"], "category": hh["category"], "monitor_type": hh["monitor_type"],
        "identified_month": hh["identified_month"], "risk_eliminated": hh["risk_eliminated"],
        "eliminated_month": hh["eliminated_month"], "income": plan.income, "last_income": plan.last,
        "measures": hh["measures"], "cat": hh["cat"]})
    typed["households"] = households
    typed["members"] = pd.DataFrame({
        "person": np.arange(len(mem)), "h": mem["h"], "id_number": mem["id_number"],
        "household_id": hh["household_id"].to_numpy()[mem["h"].to_numpy()], "name": mem["name"],
        "relation": mem["relation"], "labor_skill": plan.skill, "birth": mem["birth"].to_numpy(),
        "male": mem["male"].to_numpy(dtype=bool)})
    households["head_male"] = mem["male"].to_numpy(dtype=bool)[county.start]
    year_start = np.datetime64(ctx.month.year_start)
    med = per["medical"]
    med = med[~(med["h"].isin(plan.clear_ytd) & (med["discharge_date"] >= year_start))]
    cols = {"medical": ["admission_date", "discharge_date", "total_cost", "out_of_pocket"],
            "disability": ["disability_type", "disability_grade", "issue_date"],
            "civil_affairs": ["assistance_type", "start_date"],
            "health": ["disease", "disease_class", "diagnosis_date"]}
    typed["medical"] = _person_feed(county, [med], plan.rows["medical"], cols["medical"])
    for feed in ("disability", "civil_affairs", "health"):
        typed[feed] = _person_feed(county, [hist[feed], per[feed]], plan.rows[feed], cols[feed])
    typed["education"] = history.education_rows(county, plan.stage, plan.status)
    hou = pd.concat([hist["housing"], per["housing"]], ignore_index=True)
    hou = hou[~hou["h"].isin(plan.clear_housing)]
    if plan.rows["housing"]:
        hou = pd.concat([hou, pd.DataFrame(plan.rows["housing"])], ignore_index=True)
    hou["h"] = hou["h"].astype(np.int64)
    hou["household_id"] = hh["household_id"].to_numpy()[hou["h"].to_numpy()]
    hou["appraisal_date"] = hou["appraisal_date"].to_numpy().astype("datetime64[D]")
    typed["housing"] = hou.sort_values(["appraisal_date", "household_id"], kind="stable").reset_index(drop=True)
    return typed


def _check(expected: dict[int, set], got: dict[int, set], hh: pd.DataFrame, what: str) -> None:
    if expected == got:
        return
    bad = sorted(set(expected) ^ set(got) | {h for h in set(expected) & set(got) if expected[h] != got[h]})
    detail = "; ".join(f"{hh['household_id'].iat[h]}: planted {sorted(expected.get(h, []))} got {sorted(got.get(h, []))}"
                       for h in bad[:10])
    raise PlantingError(f"{what}: {len(bad)} households differ from the planting ({detail})")


def generate_county(out: Path, period: str, households: int = 2000, seed: int = 1,
                    progress: Callable[[str, int, int], None] | None = None,
                    previous_problems: Path | None = None) -> Path:
    """Writes a delivery for `period` into `out` and its answer key into `out/answer_key/`."""
    return build_delivery(out, period, households, seed, progress, previous_problems)


def build_delivery(out: Path, period: str, households: int = 2000, seed: int = 1,
                   progress: Callable[[str, int, int], None] | None = None,
                   previous_problems: Path | None = None, living=None) -> Path:
    """generate_county's work. `living` (a fangpin.generate.living.Evolution, or None) makes the
    delivery one month of the living county: the registry evolves before the period's rows are
    drawn (`living.registry(hh)`), after planting (`living.after_planting(hh, plan, static)`),
    and the four township feedback feeds are left out of the delivery (they arrive weekly)."""
    report = progress or (lambda stage, done, total: None)
    steps = 8
    month = Month.parse(period)
    ctx = _ctx(month)
    if households < 200:
        raise ValueError("households must be at least 200 (22 townships with planted cases)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / KEY_DIR).mkdir(exist_ok=True)

    report("county", 0, steps)
    county = build_county(seed, households, month.year, settings().county_code,
                          min_months=int(param("problems.min_months_before_elimination", on=month.end)),
                          large=ctx.large, student_ratio=ctx.student_ratio)
    report("county", 1, steps)
    rng = np.random.default_rng([seed, month.year * 12 + month.month, 451302])
    hh = county.hh
    drift = rng.uniform(0.92, 1.08, len(hh))
    income = np.round(ctx.T + hh["excess"].to_numpy() * drift, 2)
    last = np.round((ctx.T + hh["excess"].to_numpy()) * hh["last_ratio"].to_numpy(), 2)
    hist = history.static_history(county, seed)
    # static planting uses a seed-only stream and the county as built (the same households every
    # month); the living county's registry changes after it, before this period's rows
    plan = plant.Plan(county, ctx, income.copy(), last.copy(), county.mem["skill"].to_numpy().copy(),
                      county.mem["stage"].to_numpy().copy(), county.mem["status"].to_numpy().copy())
    plant.plant_static(plan, seed)
    static_planted = np.zeros(len(hh), dtype=bool)
    static_planted[list(plan.planted)] = True
    if living is not None:
        living.registry(hh)
    # the month's decisions (拟纳入 / 拟消除; the living county makes its own) and planted
    # registry doubts (A01–A12), before the period's rows: see fangpin.generate.registry
    a = _audit_params(month)
    review_draws = None
    if living is None:
        review_draws = registry.predicted_draw(hh, plan.used.copy(), month.shift(-1), seed, a["min_months"])
    registry.top_up(hh, plan.used, month, seed, a["min_months"], decisions=living is None)
    if living is None:
        registry.apply_decisions(hh, *registry.month_decisions(hh, plan.used, month, seed, a["min_months"]), month)
    else:
        review_draws = living.review_draws
    decided = (hh["identified_month"].to_numpy() == str(month)) | (hh["eliminated_month"].to_numpy() == str(month))
    plan.used[decided] = True
    doubts = registry.AuditPlan(plan, hh, month, seed, a)
    doubts.registry()
    per = history.period_rows(county, rng, month, income, ctx.T, (ctx.thr_registered, ctx.thr_general))
    report("county", 2, steps)

    plant.plant_period(plan, rng)
    if living is not None:
        living.after_planting(hh, plan, static_planted)
    report("county", 3, steps)

    typed = _assemble(county, plan, hist, per, ctx)
    employment.add_feeds(typed, county, plan.skill, month, seed)  # 人社 rows; 风险类型, 风险消除方式 (issue 15)
    doubts.after_assembly(typed, month.end)
    position = pd.Series(np.arange(len(hh)), index=hh["household_id"].to_numpy())
    typed["review_results"] = registry.review_rows(review_draws, month, seed, position)
    n_out = {f: max(3, len(typed[f]) // 200) for f in PERSON_FEEDS}
    outsiders, fresh_ids = _outsiders(county, rng, month, n_out, ctx)
    for feed in PERSON_FEEDS:
        typed[feed] = _with_ids(county, pd.concat([typed[feed], outsiders[feed]], ignore_index=True),
                                {"medical": "discharge_date", "disability": "issue_date", "civil_affairs": "start_date",
                                 "health": "diagnosis_date", "education": None}[feed])
    planted_mask = np.zeros(len(hh), dtype=bool)
    planted_mask[list(plan.planted)] = True
    protected = planted_mask.copy()
    protected[[h for h, *_ in plan.near]] = True
    protected[list(doubts.planted)] = True
    protected |= decided

    if living is None:
        pushed = static_planted | (rng.random(len(hh)) < 0.01)
        typed["inspections"] = feedback.inspections(rng, county, month, planted_mask)
        typed["verifications"] = feedback.verifications(
            rng, county, month, pushed, int(param("screening.push_day", on=month.end)),
            int(param("problems.verification_days", on=month.end)))
        typed["spot_check_results"] = feedback.spot_checks(rng, county, month,
                                                           int(param("sample.per_township", on=month.end)))
        problems = feedback.read_problem_ids(previous_problems) if previous_problems else []
        typed["rectifications"] = feedback.rectifications(rng, month, problems)
    else:  # township feedback arrives weekly (fangpin.generate.living.generate_week)
        typed.update(feedback.empty_frames())
    phoned = np.zeros(len(hh), dtype=bool)
    phoned[typed["spot_check_results"]["h"].to_numpy()] = True  # the drawn stay in the registry
    report("county", 4, steps)

    count = min(200, max(2, households // 1000))
    defects = Defects(county, rng, month, protected, count, registered=phoned)
    defects.choose_registry(typed)
    defects.choose_departments(typed)

    expected = {h: rules for h, (rules, _) in plan.planted.items()}
    screen_feeds = {f: typed[f] for f in ("medical", "disability", "civil_affairs", "education", "housing", "health")}
    _check(expected, evaluate(typed["households"], typed["members"], screen_feeds, ctx), hh, "clean rows")
    removed = defects.removed()
    acc_hh = typed["households"][~typed["households"]["h"].isin(removed["households"])]
    acc_mem = typed["members"][~typed["members"]["person"].isin(removed["members"])]
    acc = {f: t.drop(index=list(removed[f])) for f, t in screen_feeds.items()}
    _check(expected, evaluate(acc_hh, acc_mem, acc, ctx), hh, "accepted rows")
    audit_hits = evaluate_audit(acc_hh, acc_mem, acc, ctx, a)
    missing = {h: codes - audit_hits.get(h, set()) for h, codes in doubts.planted.items()
               if codes - audit_hits.get(h, set())}
    if missing:
        raise PlantingError("planted registry doubts not flagged: " + "; ".join(
            f"{hh['household_id'].iat[h]}: {sorted(c)}" for h, c in list(missing.items())[:10]))
    report("county", 5, steps)

    texts = {f: write.text_frame(f, typed[f], rng) for f in F.FEEDS}
    defects.apply(texts, fresh_ids)
    texts = defects.finish(texts)
    report("county", 6, steps)

    delivered = [f for f in F.FEEDS if living is None or f not in feedback.FEEDBACK_FEEDS]
    for feed in set(F.FEEDS) - set(delivered):
        (out / f"{feed}{write.FORMATS[feed][0]}").unlink(missing_ok=True)  # left by an earlier run
    defects.lines = [line for line in defects.lines if line[0] in delivered]
    manifest_feeds = {}
    for i, feed in enumerate(delivered):
        name, encoding = write.write_feed(out, feed, texts[feed])
        manifest_feeds[feed] = {"file": name, "format": "xlsx" if encoding == "xlsx" else "csv",
                                "encoding": None if encoding == "xlsx" else encoding, "rows": len(texts[feed])}
        report("files", i + 1, len(delivered))
    report("county", 7, steps)

    _answer_key(out / KEY_DIR, county, plan, defects, outsiders, ctx)
    _audit_key(out / KEY_DIR, hh, audit_hits, doubts.planted)
    manifest = {"period": str(month), "seed": seed, "households": households, "people": len(county.mem),
                "T": ctx.T, "county_code": settings().county_code, "generator_version": VERSION,
                "planted_households": len(plan.planted), "near_misses": len(plan.near),
                "quarantine_lines": len(defects.lines), "audit_flagged": len(audit_hits),
                "audit_planted": {c: sum(c in v for v in doubts.planted.values()) for c in _CODES},
                "decisions": {"拟纳入": int((hh["identified_month"] == str(month)).sum()),
                              "拟消除": int((hh["eliminated_month"] == str(month)).sum())},
                "review_results": len(typed["review_results"]), "feeds": manifest_feeds}
    if living is not None:
        manifest["living"] = living.summary()
    (out / KEY_DIR / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    report("county", 8, steps)
    return out


_CODES = tuple(f"A{i:02d}" for i in range(1, 13))


def _audit_params(month: Month) -> dict:
    def p(name):
        return param(name, on=month.end)

    return {"min_months": int(p("problems.min_months_before_elimination")),
            "lookback": int(p("audit.medical_lookback_months")), "max_labor_share": float(p("audit.max_labor_share")),
            "minor_age": int(p("audit.minor_age")), "max_phone": int(p("audit.max_households_per_phone"))}


def _audit_key(folder: Path, hh: pd.DataFrame, hits: dict[int, set], planted: dict[int, set]) -> None:
    """expected_audit.csv: every household the audit must flag (核查规则) and which of its checks
    were planted (埋设规则; the others are doubts of the background)."""
    rows = [{"户编号": hh["household_id"].iat[h], "乡镇代码": hh["township_code"].iat[h],
             "村代码": hh["village_code"].iat[h], "核查规则": ";".join(sorted(codes)),
             "埋设规则": ";".join(sorted(planted.get(h, set())))} for h, codes in hits.items()]
    key = pd.DataFrame(rows, columns=["户编号", "乡镇代码", "村代码", "核查规则", "埋设规则"])
    write.write_key_csv(folder / "expected_audit.csv", key.sort_values("户编号"))


def _answer_key(folder: Path, county: County, plan: plant.Plan, defects: Defects, outsiders: dict, ctx) -> None:
    hh = county.hh
    on = ctx.month.end
    risk = (param("risk.high_rules", on=on), int(param("risk.high_min_hits", on=on)), param("risk.medium_rules", on=on),
            int(param("risk.medium_hits", on=on)))
    rows = []
    for h, (rules, names) in plan.planted.items():
        monitored = hh["cat"].iat[h] == 1 and hh["risk_eliminated"].iat[h] != "是"
        rows.append({"户编号": hh["household_id"].iat[h], "乡镇代码": hh["township_code"].iat[h],
                     "村代码": hh["village_code"].iat[h], "命中规则": ";".join(sorted(rules)),
                     "风险等级": plant.risk_level(rules, *risk), "是否已纳入监测": "是" if monitored else "否",
                     "农户类别": hh["category"].iat[h], "场景": "、".join(names)})
    screening = pd.DataFrame(rows, columns=["户编号", "乡镇代码", "村代码", "命中规则", "风险等级", "是否已纳入监测",
                                            "农户类别", "场景"]).sort_values("户编号")
    write.write_key_csv(folder / "expected_screening.csv", screening)
    near = pd.DataFrame([{"户编号": hh["household_id"].iat[h], "规则": rule, "说明": text, "场景": name}
                         for h, rule, text, name in plan.near], columns=["户编号", "规则", "说明", "场景"])
    write.write_key_csv(folder / "near_misses.csv", near.sort_values(["规则", "户编号"]))
    order = {f: i for i, f in enumerate(F.FEEDS)}
    q = pd.DataFrame(defects.lines, columns=["数据项", "行号", "列", "原因"]).drop_duplicates()
    q = q.sort_values(["数据项", "行号", "列"], key=lambda s: s.map(order) if s.name == "数据项" else s)
    write.write_key_csv(folder / "expected_quarantine.csv", q)
    unmatched = pd.DataFrame([{"数据项": f, "行数": len(outsiders[f])} for f in PERSON_FEEDS])
    write.write_key_csv(folder / "expected_unmatched.csv", unmatched)
