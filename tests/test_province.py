"""Province scale: several counties on one deployment, one monitoring database per county."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest
from pypdf import PdfReader

from fangpin import config

PERIOD = "2026-10"


def write_province(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def province_env(tmp_path, monkeypatch):
    """Province-level folders (counties get their own below them); no FANGPIN_DB_URL, so each
    county defaults to a SQLite file in its own home."""
    monkeypatch.delenv("FANGPIN_DB_URL", raising=False)
    for name in ("home", "data_dir", "output_dir"):
        monkeypatch.setenv(f"FANGPIN_{name.upper()}", str(tmp_path / name))
    province = write_province(tmp_path / "province.yaml", """
province: 广西
counties:
  - county_code: "451302"
    county: 兴宾区
    leaders: [xingbin-leaders@fangpin.local]
  - county_code: "451321"
    county: 忻城县
""")
    monkeypatch.setenv("FANGPIN_PROVINCE_FILE", str(province))
    config.reset()
    yield tmp_path
    config.reset()


def test_county_settings_default_to_folders_of_their_own(province_env):
    from fangpin.province import county_codes, county_values

    root = province_env
    assert county_codes() == ["451302", "451321"]
    v = county_values("451321")
    assert v["home"] == root / "home" / "counties" / "451321"
    assert v["data_dir"] == root / "data_dir" / "451321" and v["output_dir"] == root / "output_dir" / "451321"
    assert v["county"] == "忻城县" and v["issuing_office"] == "忻城县乡村振兴局" and v["province"] == "广西"
    assert county_values("451302")["leaders"] == ["xingbin-leaders@fangpin.local"]
    with config.county_settings(**v) as s:
        assert config.settings() is s
        assert s.database_url == f"sqlite:///{(root / 'home' / 'counties' / '451321' / 'fangpin.db').resolve()}"
    assert config.settings().county == "兴宾区"  # back to the process's settings
    with pytest.raises(KeyError):
        county_values("450000")


@pytest.mark.parametrize("body, message", [
    ('counties:\n  - {county_code: "451302", county: 兴宾区}\n  - {county_code: "451302", county: 兴宾}\n',
     "listed twice: 451302"),
    ('counties:\n  - {county_code: "451302", county: 兴宾区, db_uri: "sqlite://"}\n', "unknown county settings"),
    ('counties:\n  - {county_code: "4513", county: 兴宾区}\n', "county_code"),
])
def test_a_bad_province_file_is_refused_with_the_reason(tmp_path, body, message):
    from fangpin.province import load_province

    with pytest.raises(ValueError, match=message):
        load_province(write_province(tmp_path / "p.yaml", body))


def test_county_settings_are_per_thread():
    seen = {}

    def work(name):
        with config.county_settings(county=name):
            barrier.wait(timeout=10)  # both threads inside their block at once
            seen[name] = config.settings().county

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=work, args=(n,)) for n in ("甲县", "乙县")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"甲县": "甲县", "乙县": "乙县"}


def test_two_counties_run_their_month_each_on_its_own_database(province_env):
    from fangpin.generate import generate_county
    from fangpin.province import run_county_month, write_summary
    from fangpin.store import db

    root = province_env
    sizes = {"451302": 300, "451321": 200}
    for seed, (code, n) in enumerate(sizes.items(), start=1):
        generate_county(root / "data_dir" / code / PERIOD, PERIOD, households=n, seed=seed)

    results = [run_county_month(code, PERIOD) for code in sizes]
    for r, (code, n) in zip(results, sizes.items()):
        home = root / "home" / "counties" / code
        eng = db.engine(f"sqlite:///{(home / 'fangpin.db').resolve()}")
        stored = db.read_feed(eng, "households", PERIOD)
        out = root / "output_dir" / code / PERIOD
        validated = pd.read_csv(out / "validation_summary.csv", encoding="utf-8-sig").set_index("数据项")
        # only its own county's rows: what its own delivery passed, nothing of the other county
        assert r["households"] == len(stored) == validated.loc["households", "通过行数"]
        assert 0.8 * n < len(stored) <= n
        assert (out / "data_docs" / "index.html").is_file()  # its own Data Docs (and GX project)
        assert (out / "screening.csv").is_file() and (out / "spot_check.csv").is_file()
        assert r["suspected"] == len(pd.read_csv(out / "screening.csv", encoding="utf-8-sig"))
        text = "".join(page.extract_text() for page in PdfReader(r["bulletin"]).pages[:1])
        assert r["county"] in text and Path(r["bulletin"]).parent == out
        assert r["sent"] == []
    assert results[1]["county"] == "忻城县" and "兴宾区" not in Path(results[1]["bulletin"]).name

    # re-running a county replaces its period: same figures, no duplicate rows
    again = run_county_month("451321", PERIOD)
    assert {k: again[k] for k in ("households", "suspected", "drawn", "problems")} == \
        {k: results[1][k] for k in ("households", "suspected", "drawn", "problems")}

    summary = pd.read_csv(write_summary(results, PERIOD), encoding="utf-8-sig", dtype={"县区代码": str})
    assert list(summary["县区代码"]) == ["451302", "451321"]
    assert list(summary["农户数"]) == [r["households"] for r in results]


def test_a_county_without_its_delivery_fails_naming_the_folder(province_env):
    from fangpin.province import run_county_month

    with pytest.raises(FileNotFoundError, match="451321.*忻城县.*does not exist"):
        run_county_month("451321", PERIOD)
