"""Many counties on one deployment (province scale): one monitoring database per county.

A province runs ~100 counties. Each county keeps its own monitoring database, GX project, drop
folder and output folder, so a county's data never mixes with another's, a county can be
re-run, restored or handed over alone, and the schema needs no county key. One Airflow runs
them all: `fangpin_province_monthly` maps one task per county (CeleryExecutor workers spread
the mapped tasks), each running the month's cycle under that county's settings.

The province file (YAML; `FANGPIN_PROVINCE_FILE`) lists the counties. Only `county_code` and
`county` are required; every other key is a field of `fangpin.config.Settings` for that county,
and the defaults put each county in a folder of its own under the province's folders:

    province: 广西
    counties:
      - county_code: "451302"
        county: 兴宾区
        issuing_office: 兴宾区乡村振兴局
        leaders: [leaders@xingbin.example]
        db_url: postgresql+psycopg2://fangpin@db/fangpin_451302   # default: SQLite in home
      - county_code: "451321"
        county: 忻城县

Defaults per county: home = <home>/counties/<code>, data_dir = <data_dir>/<code>,
output_dir = <output_dir>/<code>, issuing_office = <county>乡村振兴局, province = the file's.
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from fangpin.config import Settings, county_settings, settings
from fangpin.periods import Month

log = logging.getLogger(__name__)

SUMMARY_NAME = "province_summary.csv"
SUMMARY_COLUMNS = {"county_code": "县区代码", "county": "县区", "households": "农户数", "suspected": "疑似风险户数",
                   "drawn": "电话抽查户数", "problems": "问题数", "rejected": "拒收数据项", "bulletin": "月通报"}


class CountyEntry(BaseModel):
    """One county of the province file: its code and name, plus any Settings fields."""

    model_config = ConfigDict(extra="allow")
    county_code: str = Field(pattern=r"^\d{6}$")
    county: str


class ProvinceFile(BaseModel):
    province: str | None = None
    counties: list[CountyEntry]


def load_province(path: str | Path | None = None) -> ProvinceFile:
    """The province file (settings().province_file when `path` is None); the codes must be unique."""
    path = Path(path or settings().province_file or "")
    if not path.is_file():
        raise FileNotFoundError(f"province file not found: {path} (set FANGPIN_PROVINCE_FILE)")
    with open(path, encoding="utf-8") as fh:
        province = ProvinceFile.model_validate(yaml.safe_load(fh) or {})
    codes = [c.county_code for c in province.counties]
    duplicated = sorted({c for c in codes if codes.count(c) > 1})
    if duplicated:
        raise ValueError(f"{path}: county codes listed twice: {', '.join(duplicated)}")
    unknown = {k for c in province.counties for k in (c.model_extra or {})} - set(Settings.model_fields)
    if unknown:
        raise ValueError(f"{path}: unknown county settings {sorted(unknown)}; allowed: the fields of fangpin.config.Settings")
    return province


def county_codes(path: str | Path | None = None) -> list[str]:
    return [c.county_code for c in load_province(path).counties]


def county_values(code: str, path: str | Path | None = None) -> dict:
    """The Settings values of one county: its entry over the per-county defaults."""
    province = load_province(path)
    entry = next((c for c in province.counties if c.county_code == code), None)
    if entry is None:
        raise KeyError(f"county {code} is not in the province file")
    base = settings()
    values = {
        "home": base.home / "counties" / code,
        "data_dir": base.data_dir / code,
        "output_dir": base.output_dir / code,
        "issuing_office": f"{entry.county}乡村振兴局",
        "province": province.province or base.province,
        "db_url": None,
        "province_file": None,
    }
    values.update(entry.model_dump())
    return values


def run_county_month(code: str, period: str, send: bool = False, force: bool = False,
                     path: str | Path | None = None, run_day: str | None = None) -> dict:
    """One county's monthly cycle under its own settings: validate + load, screen + push lists,
    spot-check draw + call sheets, problems, the 月通报 (emailed to the county's leaders when
    `send`). run_day: the day the push lists are sent (ISO; default the scheduled ingest day).
    Returns a JSON-serialisable summary (what the mapped Airflow task pushes to XCom)."""
    from fangpin import pipeline
    from fangpin.store import db

    month = str(Month.parse(str(period)))
    with county_settings(**county_values(code, path)) as s:
        data, out = Path(s.data_dir) / month, Path(s.output_dir) / month
        if not data.is_dir():
            raise FileNotFoundError(f"county {code} ({s.county}): delivery folder {data} does not exist")
        log.info("county %s (%s) %s: cycle starts", code, s.county, month)
        validation = pipeline.ingest(data, month, out_dir=out)
        screened = pipeline.screen_period(month, str(out), push_lists=True, pushed_on=run_day)
        pipeline.audit_period(month, str(out))
        drawn = pipeline.sample_period(month, str(out), call_sheets=True, keep_recorded=True)
        problems = pipeline.derive_problems(month)
        pdf = pipeline.build_report("monthly", month, str(out))
        sent = pipeline.send_report("monthly", month, pdf, force=force) if send else []
        households = len(db.read_feed(db.engine(), "households", month, columns=["household_id"]))
        return {"county_code": code, "county": s.county, "period": month, "households": households,
                "suspected": int(screened.get("suspected", 0)), "drawn": int(drawn.get("drawn", 0)),
                "problems": int(problems.get("problems", 0)), "rejected": list(validation.rejected),
                "bulletin": pdf, "sent": sent}


def write_summary(results: list[dict], period: str, out_root: str | Path | None = None) -> Path:
    """The province's one-page table of the month: <output_dir>/<period>/province_summary.csv
    (UTF-8 with BOM), one row per county, in county-code order. No personal data."""
    import pandas as pd

    month = str(Month.parse(str(period)))
    frame = pd.DataFrame(sorted(results, key=lambda r: r["county_code"]))
    frame = frame.reindex(columns=list(SUMMARY_COLUMNS))
    frame["rejected"] = frame["rejected"].map(lambda v: "、".join(v) if isinstance(v, list) else "")
    frame["bulletin"] = frame["bulletin"].map(lambda p: Path(p).name if isinstance(p, str) else "")
    out = Path(out_root or settings().output_dir) / month
    out.mkdir(parents=True, exist_ok=True)
    path = out / SUMMARY_NAME
    frame.rename(columns=SUMMARY_COLUMNS).to_csv(path, index=False, encoding="utf-8-sig")
    return path
