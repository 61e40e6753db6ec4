"""The auditors' 数据质量 (data quality) page in the Airflow 3 UI.

A FastAPI app mounted by the api-server under /data-quality, and an external view putting
"数据质量" in the UI's navigation (shown in an iframe at /plugin/data-quality). It reads the
monitoring database (settings().database_url): every validation run per department and
period, each run's expectation results, and serves each period's GX Data Docs
(<output_dir>/<period>/data_docs/) as static files under /data-quality/docs/<period>/.

Inside the api-server every route needs a signed-in Airflow user (the UI's JWT cookie or a
Bearer token) allowed to view plugins: with the FAB auth manager the Auditor role (docs/airflow.md,
"Roles") and Op/Admin, with SimpleAuthManager viewer and above; others get 403.
`create_app(require_login=False)` is the same app without that, for tests.
Only fastapi and jinja2 are imported at load time: the scheduler and workers load plugins too.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/data-quality"
TEMPLATES = Path(__file__).with_name("templates")
_PERIOD = re.compile(r"^\d{4}-\d{2}$")
STATUS_ORDER = {"拒收": 0, "有隔离": 1, "未提供": 2, "通过": 3}


class LoginRequired(Exception):
    pass


# ------------------------------------------------------------------ data access

def _engine():
    from fangpin.store import db

    # The schema belongs to the pipeline (migrated by the init service / the first stage);
    # the page only reads.
    return db.engine(migrate_schema=False)


def _tables_missing(exc: Exception) -> bool:
    from sqlalchemy.exc import OperationalError, ProgrammingError

    return isinstance(exc, (OperationalError, ProgrammingError))


def list_runs(eng, period: str | None = None, department: str | None = None,
              include_superseded: bool = False) -> list[dict]:
    """Validation runs (newest first within a department and period), as plain dicts."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from fangpin.store.models import ValidationRun as VR

    q = select(VR)
    if period:
        q = q.where(VR.period == period)
    if department:
        q = q.where(VR.department == department)
    if not include_superseded:
        q = q.where(VR.is_current.is_(True))
    q = q.order_by(VR.period.desc(), VR.department, VR.feed, VR.validated_at.desc(), VR.id.desc())
    with Session(eng) as s:
        return [_run_dict(r) for r in s.scalars(q)]


def get_run(eng, run_id: int) -> tuple[dict, list[dict]] | None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from fangpin.ids import redact
    from fangpin.store.models import ValidationResult as VRes
    from fangpin.store.models import ValidationRun as VR

    with Session(eng) as s:
        run = s.get(VR, run_id)
        if run is None:
            return None
        results = s.scalars(select(VRes).where(VRes.validation_run_id == run_id)
                            .order_by(VRes.success, VRes.column, VRes.expectation, VRes.id)).all()
        return _run_dict(run), [{
            "expectation": r.expectation, "column": r.column, "success": bool(r.success),
            "element_count": r.element_count, "unexpected_count": r.unexpected_count,
            # samples never hold full IDs by contract; masked again here all the same
            "sample": redact("、".join(str(v) for v in r.sample)) if r.sample else "",
        } for r in results]


def filters(eng) -> tuple[list[str], list[str]]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from fangpin.store.models import ValidationRun as VR

    with Session(eng) as s:
        periods = sorted(s.scalars(select(VR.period).distinct()), reverse=True)
        departments = sorted(s.scalars(select(VR.department).distinct()))
    return periods, departments


def _run_dict(r) -> dict:
    return {
        "id": r.id, "run_uid": r.run_uid, "period": r.period, "feed": r.feed, "department": r.department,
        "file_name": r.file_name, "status": r.status, "rows_total": r.rows_total,
        "rows_accepted": r.rows_accepted, "rows_quarantined": r.rows_quarantined,
        "rows_unmatched": r.rows_unmatched, "message": r.message,
        "validated_at": r.validated_at.isoformat(sep=" ", timespec="seconds") if r.validated_at else None,
        "is_current": bool(r.is_current), "data_docs": docs_path(r.period, r.data_docs),
    }


# ------------------------------------------------------------------ Data Docs

def docs_root(period: str) -> Path:
    from fangpin.config import settings

    return (Path(settings().output_dir) / period / "data_docs").resolve()


def docs_path(period: str, data_docs: str | None) -> str | None:
    """The part of a run's Data Docs path under its period's data_docs folder ('index.html' …)."""
    if not data_docs or not _PERIOD.match(period or ""):
        return None
    p = Path(data_docs)
    root = docs_root(period)
    try:
        rel = p.resolve().relative_to(root)
    except ValueError:
        parts = p.parts
        if "data_docs" not in parts:
            return None
        rel = Path(*parts[len(parts) - parts[::-1].index("data_docs"):])
    if rel.suffix != ".html":
        rel = rel / "index.html"
    return rel.as_posix()


# ------------------------------------------------------------------ the app

def _env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    env.globals["status_order"] = STATUS_ORDER
    return env


def create_app(require_login: bool = True) -> FastAPI:
    """The page's FastAPI app. `require_login`: demand an Airflow user (inside the api-server)."""
    app = FastAPI(title="fangpin 数据质量", docs_url=None, redoc_url=None, openapi_url=None)
    templates = _env()

    async def auditor(request: Request):
        if not require_login:
            return None
        from fastapi.security.utils import get_authorization_scheme_param
        from fastapi.security import HTTPAuthorizationCredentials

        from airflow.api_fastapi.core_api.security import get_user

        scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
        bearer = HTTPAuthorizationCredentials(scheme=scheme, credentials=token) if token else None
        try:
            user = await get_user(request, None, bearer)
        except HTTPException as exc:
            if exc.status_code == 401:
                raise LoginRequired() from exc
            raise
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import AccessView

        # the plugins view: FAB's "can_read on Plugins" (the Auditor and Op roles, Admin);
        # SimpleAuthManager's viewer role and above
        if not get_auth_manager().is_authorized_view(access_view=AccessView.PLUGINS, user=user):
            raise HTTPException(403, "数据质量页面需要审计（Auditor）或运维角色")
        return user

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired):
        if "text/html" in request.headers.get("accept", ""):
            from airflow.api_fastapi.app import get_auth_manager

            return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)
        return JSONResponse({"detail": "Not authenticated"}, status_code=401)

    def base(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    def page(name: str, request: Request, status_code: int = 200, **ctx) -> HTMLResponse:
        html = templates.get_template(name).render(base=base(request), **ctx)
        return HTMLResponse(html, status_code=status_code)

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, period: str | None = None, department: str | None = None,
              all: bool = False, _user=Depends(auditor)):
        try:
            eng = _engine()
            runs = list_runs(eng, period or None, department or None, include_superseded=all)
            periods, departments = filters(eng)
        except Exception as exc:  # an uninitialised monitoring database
            if not _tables_missing(exc):
                raise
            return page("data_quality.html", request, runs=[], groups=[], periods=[], departments=[],
                        period=period, department=department, show_all=all,
                        notice="监测数据库尚未初始化：还没有任何校验记录。")
        groups: dict[tuple[str, str], list[dict]] = {}
        for r in runs:
            groups.setdefault((r["department"], r["period"]), []).append(r)
        ordered = sorted(groups.items(), key=lambda kv: (kv[0][0], [-int(x) for x in kv[0][1].split("-")]))
        return page("data_quality.html", request, runs=runs, groups=ordered, periods=periods,
                    departments=departments, period=period, department=department, show_all=all, notice=None)

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_detail(request: Request, run_id: int, _user=Depends(auditor)):
        found = get_run(_engine(), run_id)
        if found is None:
            return page("data_quality_run.html", request, status_code=404, run=None, results=[])
        run, results = found
        return page("data_quality_run.html", request, run=run, results=results)

    @app.get("/api/runs")
    def api_runs(period: str | None = None, department: str | None = None, all: bool = False,
                 _user=Depends(auditor)):
        return list_runs(_engine(), period, department, include_superseded=all)

    @app.get("/api/runs/{run_id}")
    def api_run(run_id: int, _user=Depends(auditor)):
        found = get_run(_engine(), run_id)
        if found is None:
            raise HTTPException(404, "no such validation run")
        return {"run": found[0], "results": found[1]}

    @app.get("/docs/{period}/{path:path}")
    def data_docs(period: str, path: str, _user=Depends(auditor)):
        """A period's Data Docs, as static files; nothing outside <output>/<period>/data_docs."""
        if not _PERIOD.match(period):
            raise HTTPException(404)
        root = docs_root(period)
        target = (root / (path or "index.html")).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(root) or not target.is_file():
            raise HTTPException(404, "no such Data Docs file")
        return FileResponse(target)

    return app


class FangpinDataQualityPlugin(AirflowPlugin):
    name = "fangpin_data_quality"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "fangpin 数据质量"}]
    external_views = [{
        "name": "数据质量",
        "href": f"{URL_PREFIX}/",
        "destination": "nav",
        "url_route": "data-quality",
        "nav_top_level": True,
    }]
