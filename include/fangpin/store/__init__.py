"""The monitoring database: models, migrations and the few queries every stage shares."""

from fangpin.store.db import engine, migrate, read_feed, replace_period, session  # noqa: F401
