"""All configuration in one place.

Values come, highest priority first, from environment variables `FANGPIN_<FIELD>`
(e.g. FANGPIN_DB_URL), then from a YAML file (FANGPIN_CONFIG, default ./fangpin.yaml when
it exists), then from the defaults below, which run everything locally on SQLite.
Policy thresholds are not here: they are dated parameters (parameters.yaml, see params.py).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource


# The repository root when running from a checkout (include/fangpin/config.py -> ../..);
# in the Docker image templates/ and expectations/ are mounted there too.
REPO = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FANGPIN_", extra="ignore")

    home: Path = Field(Path(".fangpin"), description="working folder for the local SQLite database")
    db_url: str | None = Field(None, description="SQLAlchemy URL of the monitoring database; SQLite in `home` when unset")
    data_dir: Path = Field(Path("incoming"), description="drop folder root; one sub-folder per delivery")
    output_dir: Path = Field(Path("output"), description="where reports, lists and Data Docs are written")
    params_file: Path | None = Field(None, description="dated parameters; the packaged parameters.yaml when unset")
    templates_dir: Path = Field(REPO / "templates", description="Jinja2 report templates (HTML + CSS)")
    expectations_dir: Path = Field(REPO / "expectations", description="declarative GX expectation suites")

    county: str = "兴宾区"
    county_code: str = "451302"
    province: str = "广西"
    issuing_office: str = "兴宾区乡村振兴局"
    county_kind: str | None = Field(None, description="区 or 县 (as in 全区 / 全县 in the reports); "
                                                      "unset: the last character of `county` when it is 区/县/市/旗, else 县")

    leaders: list[str] = Field(default_factory=lambda: ["leaders@fangpin.local"],
                               description="recipients of the weekly, monthly and quarterly reports")
    platform_team: list[str] = Field(default_factory=lambda: ["platform@fangpin.local"],
                                     description="recipients of DAG failure alerts")
    spot_check_team: list[str] = Field(default_factory=lambda: ["spotcheck@fangpin.local"],
                                       description="recipients of the restricted call sheets")
    township_contacts: dict[str, str] = Field(default_factory=dict,
                                              description="township code (9 digits) -> email of its contact")
    township_contact_pattern: str | None = Field(
        "township-{code}@fangpin.local",
        description="fallback address for a township without an explicit contact; null disables it")
    province_file: Path | None = Field(None, description="province deployments: the YAML list of counties "
                                                         "(fangpin.province); unset for one county")
    mail_from: str | None = None  # unset: the SMTP connection's from_email extra
    draw_secret: SecretStr | None = Field(
        None, description="secret the spot-check and village draws derive their seeds from (with the period); "
                          "unset: the public demo secret, with a warning — set it in production")
    smtp_conn_id: str = "smtp_default"
    go_live: dt.date | None = Field(
        None, description="first day of production use: runs for periods that ended before it build their "
                          "outputs but email nothing unless force_send (first unpause sends no stale report)")
    allowed_roots: list[Path] = Field(
        default_factory=list, description="folders the data_root/output_root Params may point into, besides "
                                          "data_dir and output_dir")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = os.environ.get("FANGPIN_CONFIG", "fangpin.yaml")
        sources = [init_settings, env_settings]
        if Path(yaml_file).is_file():
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        return tuple(sources)

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.home / 'fangpin.db').resolve()}"

    @property
    def area_word(self) -> str:
        """全区 / 全县 (…): how the reports name the whole county."""
        kind = self.county_kind or (self.county[-1] if self.county and self.county[-1] in "区县市旗" else "县")
        return f"全{kind}"

    def township_contact(self, code: str) -> str | None:
        if code in self.township_contacts:
            return self.township_contacts[code]
        return self.township_contact_pattern.format(code=code) if self.township_contact_pattern else None


# The secret used when FANGPIN_DRAW_SECRET is unset: fine for the demo county, never for a real one
# (anyone who reads this file could predict the draws).
DEMO_DRAW_SECRET = "fangpin-demo-draw-secret"


_warned: set[str] = set()


def draw_secret() -> str:
    """settings().draw_secret, or DEMO_DRAW_SECRET with a warning (once per process and county)
    when it is unset."""
    s = settings()
    secret = s.draw_secret
    if secret is None or not secret.get_secret_value():
        import logging

        if s.county in _warned:
            return DEMO_DRAW_SECRET
        _warned.add(s.county)
        logging.getLogger(__name__).warning(
            "FANGPIN_DRAW_SECRET is not set: the spot-check draw uses the public demo secret, so it can be "
            "predicted; set a secret in production")
        return DEMO_DRAW_SECRET
    return secret.get_secret_value()


@lru_cache(maxsize=1)
def _from_environment() -> Settings:
    return Settings()


# Settings of the county being worked on, where a province deployment runs several (see
# fangpin.province). A ContextVar: each thread and each task has its own.
_county: ContextVar[Settings | None] = ContextVar("fangpin_county_settings", default=None)


def settings() -> Settings:
    """The settings in force: those of `county_settings(...)` inside one, else the process's."""
    return _county.get() or _from_environment()


@contextmanager
def county_settings(**values) -> Iterator[Settings]:
    """Runs the block on other settings: `values` over the environment and config file (the
    fields of Settings, e.g. db_url, home, data_dir, output_dir, county, leaders)."""
    token = _county.set(Settings(**values))
    try:
        yield _county.get()
    finally:
        _county.reset(token)


def reset() -> None:
    """Forget cached settings (tests change the environment)."""
    _from_environment.cache_clear()
    _warned.clear()
