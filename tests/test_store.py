import pandas as pd
from sqlalchemy import func, inspect, select

from fangpin.store import db
from fangpin.store.models import FEED_TABLES


def test_migrations_create_every_table(db_url):
    eng = db.engine(db_url)
    tables = set(inspect(eng).get_table_names())
    assert set(FEED_TABLES) <= tables
    assert {"validation_runs", "validation_results", "quarantine", "screening_results", "problems",
            "spot_check_draws", "report_deliveries", "pipeline_runs", "alembic_version"} <= tables


def test_replace_period_replaces_only_that_period(db_url):
    eng = db.engine(db_url)
    frame = pd.DataFrame({"source_row": [2, 3], "code": ["451302100", "451302100001"],
                          "name": ["凤凰镇", "三联村"], "level": ["乡镇", "村"],
                          "township_code": ["451302100", "451302100"]})
    table = FEED_TABLES["regions"]
    for _ in range(2):  # loading twice must not duplicate
        with eng.begin() as conn:
            db.replace_period(conn, "regions", "2026-10", frame)
    with eng.begin() as conn:
        db.replace_period(conn, "regions", "2026-11", frame.iloc[:1])
    with eng.connect() as conn:
        counts = dict(conn.execute(select(table.c.period, func.count()).group_by(table.c.period)).all())
    assert counts == {"2026-10": 2, "2026-11": 1}
    back = db.read_feed(eng, "regions", "2026-10")
    assert back["name"].tolist() == ["凤凰镇", "三联村"]
    assert db.periods_loaded(eng, "regions") == ["2026-10", "2026-11"]


def test_read_feed_where_reads_only_the_matching_rows(db_url):
    """read_feed(where=...) filters in SQL (a township's problem list reads its own households)."""
    eng = db.engine(db_url)
    frame = pd.DataFrame({"source_row": [2, 3, 4], "code": ["451302100", "451302100001", "451302101001"],
                          "name": ["凤凰镇", "三联村", "北五村"], "level": ["乡镇", "村", "村"],
                          "township_code": ["451302100", "451302100", "451302101"]})
    with eng.begin() as conn:
        db.replace_period(conn, "regions", "2026-10", frame)
    one = db.read_feed(eng, "regions", "2026-10", columns=["code", "name"], where={"township_code": "451302100"})
    assert one["name"].tolist() == ["凤凰镇", "三联村"] and list(one.columns) == ["code", "name"]
    assert db.read_feed(eng, "regions", "2026-10", where={"township_code": "451302101", "level": "村"})[
        "code"].tolist() == ["451302101001"]
    assert db.read_feed(eng, "regions", "2026-10", where={"township_code": "999"}).empty
    # the period column (filled in, not fetched) is where the table has it, for this period only
    with eng.begin() as conn:
        db.replace_period(conn, "regions", "2026-11", frame.iloc[:1])
    whole = db.read_feed(eng, "regions", "2026-10")
    assert list(whole.columns) == [c.name for c in FEED_TABLES["regions"].columns]
    assert whole["period"].tolist() == ["2026-10"] * 3 and whole["code"].tolist() == frame["code"].tolist()
    assert db.read_feed(eng, "regions", "2026-11", columns=["name", "period"]).to_dict("records") == [
        {"name": "凤凰镇", "period": "2026-11"}]
    assert db.read_feed(eng, "regions", "2026-12", columns=["period"]).empty


def test_bulk_load_round_trips_every_kind_of_value(db_url):
    """The fast load path (COPY on PostgreSQL, raw executemany on SQLite) stores what the typed
    frame holds: dates (a leap day too), money with cents, counts, NULL vs empty text, and text with
    commas, quotes, newlines and a backslash."""
    eng = db.engine(db_url)
    med = FEED_TABLES["medical"]
    assert {c.name for c in med.columns} >= {"admission_date", "discharge_date", "total_cost", "out_of_pocket"}
    medical = pd.DataFrame({
        "source_row": [2, 3, 4],
        "id_number": ["451302198005170011", "45130219800517002X", "451302198005170038"],
        "admission_date": pd.to_datetime(["2026-10-03", "2026-02-28", "2024-02-29"]),
        "discharge_date": pd.to_datetime(["2026-10-08", "2026-03-01", "2024-03-01"]),
        "total_cost": [3000.0, 12.34, 0.0],
        "out_of_pocket": [1200.5, 0.01, 0.0],
    })
    households = pd.DataFrame({
        "source_row": [2, 3], "household_id": ["H1", "H2"], "village_code": ["451302100201"] * 2,
        "head_name": ['韦,"某"\n第二行', "覃\\N某"], "head_id_number": ["451302198005170011"] * 2,
        "phone": [None, ""], "declared_size": pd.array([3, 1], dtype="Int64"), "category": ["脱贫户", "一般农户"],
        "monitor_type": [None, None], "identified_month": ["2026-05", None], "risk_eliminated": [None, None],
        "eliminated_month": [None, None], "income": [6999.99, 12000.0], "last_income": [9000.0, 11800.5],
        "measures": pd.array([0, 2], dtype="Int64"), "township_code": ["451302100"] * 2,
    })
    with eng.begin() as conn:
        db.replace_period(conn, "medical", "2026-10", medical)
        db.replace_period(conn, "households", "2026-10", households)
    back = db.read_feed(eng, "medical", "2026-10")
    assert back["admission_date"].dt.strftime("%Y-%m-%d").tolist() == ["2026-10-03", "2026-02-28", "2024-02-29"]
    assert back["discharge_date"].dt.strftime("%Y-%m-%d").tolist() == ["2026-10-08", "2026-03-01", "2024-03-01"]
    assert back["total_cost"].tolist() == [3000.0, 12.34, 0.0]
    assert back["out_of_pocket"].tolist() == [1200.5, 0.01, 0.0]
    hh = db.read_feed(eng, "households", "2026-10")
    assert hh["head_name"].tolist() == ['韦,"某"\n第二行', "覃\\N某"]
    assert hh["phone"].isna().tolist() == [True, False] and hh["phone"].iloc[1] == ""
    assert hh["declared_size"].tolist() == [3, 1] and hh["measures"].tolist() == [0, 2]
    assert hh["identified_month"].iloc[0] == "2026-05" and pd.isna(hh["identified_month"].iloc[1])
    assert hh["income"].tolist() == [6999.99, 12000.0]
