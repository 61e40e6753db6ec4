"""Running the suites with Great Expectations, and building the Data Docs site.

Validation runs in an *ephemeral* GX context (nothing on disk, so runs never contend). Every
expectation runs with result_format COMPLETE: `unexpected_index_list` maps each failure back to
its row. Only then, for the Data Docs, the results are stripped of failing values (ID and phone
numbers masked) and written, under an exclusive file lock, into a file-based GX project that
lives beside the site (`<docs_dir>/gx/`), and the site (`<docs_dir>/index.html`) is rebuilt
incrementally. Two validations writing one site take turns; the site is never half-written by two.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
from pathlib import Path

import pandas as pd

from fangpin import feeds as F
from fangpin.ids import mask_id, mask_phone, redact
from fangpin.quality.evaluate import Failure

log = logging.getLogger(__name__)
SITE = "fangpin"
SAMPLE_SIZE = 20


def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    import fangpin.gx_ids  # noqa: F401  (registers the custom expectations)
    import fangpin.quality.gx_custom  # noqa: F401

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    return gx


def _quiet(ctx) -> None:
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)


def _suite(gx, suite: dict):
    from great_expectations.core.expectation_suite import ExpectationSuite

    return ExpectationSuite(name=suite["name"], expectations=[dict(e) for e in suite["expectations"]],
                            meta=suite.get("meta") or {})


def run_suites(checks: dict[str, pd.DataFrame], suites: dict[str, dict], params: dict) -> dict[str, tuple]:
    """{feed: (failures, GX suite validation result)} for every feed in `checks`."""
    gx = _gx()
    ctx = gx.get_context(mode="ephemeral")
    _quiet(ctx)
    source = ctx.data_sources.add_pandas("delivery")
    out = {}
    for name, frame in checks.items():
        suite = suites[name]
        for i, e in enumerate(suite["expectations"]):
            e["meta"] = {**e.get("meta", {}), "order": i}
        gx_suite = ctx.suites.add(_suite(gx, suite))
        batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=gx_suite))
        result = vd.run(batch_parameters={"dataframe": frame}, expectation_parameters=params,
                        result_format={"result_format": "COMPLETE"})
        failures: list[Failure] = [None] * len(suite["expectations"])  # type: ignore[list-item]
        for r in result.results:
            info = r.exception_info or {}
            raised = info.get("raised_exception") or any(
                isinstance(v, dict) and v.get("raised_exception") for v in info.values())
            if raised:
                raise RuntimeError(f"GX expectation {r.expectation_config.type} on {name} failed to run: "
                                   f"{redact(str(info))[:2000]}")
            order = r.expectation_config.meta["order"]
            res = r.result or {}
            rows = res.get("unexpected_index_list") or []
            if rows and isinstance(rows[0], dict):
                rows = [d.get("index") for d in rows]
            failures[order] = Failure(suite["expectations"][order], pd.Index(rows).to_numpy(dtype="int64"),
                                      int(res.get("element_count") or len(frame)),
                                      list(res.get("partial_unexpected_list") or [])[:SAMPLE_SIZE])
        out[name] = (failures, result)
    return out


# ---- masking failing values (results stored in Data Docs and in the monitoring database) -------

def mask_value(value, kind: str | None):
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if kind == F.ID_NUMBER:
        return mask_id(value)
    if kind == F.PHONE:
        return mask_phone(value)
    if isinstance(value, (int, float, bool)):
        return value
    return redact(str(value))


def column_kind(feed: F.Feed, column: str | None) -> str | None:
    if not column:
        return None
    base = column.split("__")[0]
    try:
        return feed.column(base).kind
    except KeyError:
        return None


def strip_result(result, feed: F.Feed) -> None:
    """Removes full failing values from a GX suite result (in place): masked samples only."""
    for r in result.results:
        res = r.result or {}
        kind = column_kind(feed, r.expectation_config.kwargs.get("column"))
        for key in ("unexpected_list", "unexpected_index_list", "partial_unexpected_index_list",
                    "unexpected_index_query", "unexpected_rows"):
            res.pop(key, None)
        if "partial_unexpected_list" in res:
            res["partial_unexpected_list"] = [mask_value(v, kind) for v in res["partial_unexpected_list"]]
        if "partial_unexpected_counts" in res:
            counts: dict = {}
            for c in res["partial_unexpected_counts"]:
                v = c.get("value")
                v = mask_value(v, kind) if not isinstance(v, (list, tuple)) else tuple(mask_value(x, None) for x in v)
                counts[v] = counts.get(v, 0) + c.get("count", 0)
            res["partial_unexpected_counts"] = [{"value": k, "count": n} for k, n in counts.items()]


# ---- Data Docs ---------------------------------------------------------------------------------

@contextlib.contextmanager
def file_lock(path: Path):
    """An exclusive advisory lock (fcntl.flock) held for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def build_data_docs(docs_dir: Path, suites: dict[str, dict], results: dict, run_name: str) -> Path:
    """Adds this run's (stripped) results to the site in `docs_dir` and rebuilds it; the index path."""
    gx = _gx()
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (ExpectationSuiteIdentifier,
                                                                            ValidationResultIdentifier)

    docs_dir = Path(docs_dir).resolve()
    with file_lock(docs_dir / ".fangpin-docs.lock"):
        ctx = gx.get_context(mode="file", project_root_dir=str(docs_dir))
        sites = dict(ctx.variables.data_docs_sites or {})
        if set(sites) != {SITE}:
            ctx.variables.data_docs_sites = {SITE: {
                "class_name": "SiteBuilder", "show_how_to_buttons": False,
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }}
            _quiet(ctx)
            ctx.variables.save()
            ctx = gx.get_context(mode="file", project_root_dir=str(docs_dir))
        run_id = RunIdentifier(run_name=run_name, run_time=dt.datetime.now(dt.timezone.utc))
        resources = []
        for name, result in results.items():
            ctx.suites.add_or_update(_suite(gx, suites[name]))
            key = ValidationResultIdentifier(ExpectationSuiteIdentifier(name), run_id, name)
            ctx.validation_results_store.set(key, result)
            resources += [key, ExpectationSuiteIdentifier(name)]
        if ctx.config.analytics_enabled is not False:  # no GX usage statistics, whatever the env says
            ctx.enable_analytics(False)
        ctx.build_data_docs(site_names=[SITE], resource_identifiers=resources or None)
        from fangpin.quality.offline_docs import make_offline

        make_offline(docs_dir)  # no CDN, no S3 logo with the data-context id: works offline
    index = docs_dir / "index.html"
    log.info("Data Docs: %s", index)
    return index
