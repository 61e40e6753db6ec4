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
