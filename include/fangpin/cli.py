"""`fangpin` command line: every stage outside Airflow, on the same code the DAGs call.

Each command works on the monitoring database named by FANGPIN_DB_URL (a local SQLite file
when unset) and needs nothing but the delivery folder: it validates and loads what it needs.

Exit statuses (data contract section 1): 0 done; 1 a file was rejected whole or the delivery
was held (the message on standard error); 2 a usage or environment problem (missing folder,
database unreachable, output not writable) — one line on standard error, no traceback
(`-v` shows it), the database password masked.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("fangpin")


class Progress:
    """A progress bar on standard error for long work (generate, load)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bars: dict = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(total=total, desc=stage, unit="", file=sys.stderr, leave=True)
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _period(text: str) -> str:
    from fangpin.periods import Month

    try:
        return str(Month.parse(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _existing_dir(text: str) -> Path:
    p = Path(text)
    if not p.is_dir():
        raise argparse.ArgumentTypeError(f"delivery folder not found: {text}")
    return p


def _report_rejections(validation) -> int:
    for name in validation.rejected:
        print(f"拒收 {validation.outcomes[name].message}", file=sys.stderr)
    return 1 if validation.rejected else 0


def cmd_generate(args) -> int:
    from fangpin.generate import generate_county

    progress = Progress(not args.quiet)
    out = generate_county(Path(args.out), args.period, households=args.households, seed=args.seed,
                          progress=progress, previous_problems=args.previous_problems)
    progress.close()
    print(f"generated {args.households} households for {args.period} in {out} (answer key: {out / 'answer_key'})")
    return 0


def cmd_load(args) -> int:
    from fangpin import pipeline

    progress = Progress(not args.quiet)
    validation = pipeline.ingest(args.data, args.period, out_dir=args.out, build_docs=args.out is not None,
                                 progress=progress, accept_partial=args.accept_partial)
    progress.close()
    for name, o in validation.outcomes.items():
        print(f"{name:20s} {o.status:4s} rows={o.rows_total} accepted={o.rows_accepted} "
              f"quarantined={o.rows_quarantined}")
    return _report_rejections(validation)


def cmd_validate(args) -> int:
    from fangpin import pipeline

    validation = pipeline.ingest(args.data, args.period, out_dir=args.out, build_docs=not args.no_docs,
                                 accept_partial=args.accept_partial)
    print(f"validation summary: {Path(args.out) / 'validation_summary.csv'}")
    return _report_rejections(validation)


def _date(text: str):
    from fangpin.periods import parse_date

    try:
        return parse_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_screen(args) -> int:
    from fangpin import pipeline

    validation = pipeline.ingest(args.data, args.period, out_dir=args.out, build_docs=False,
                                 accept_partial=args.accept_partial)
    summary = pipeline.screen_period(args.period, str(args.out), push_lists=not args.no_push_lists,
                                     pushed_on=args.push_date)
    print(f"{summary['suspected']} suspected households -> {Path(args.out) / 'screening.csv'}")
    if summary.get("warning"):
        print(f"警告：{summary['warning']}", file=sys.stderr)
    return _report_rejections(validation)


def cmd_audit(args) -> int:
    from fangpin import pipeline

    validation = pipeline.ingest(args.data, args.period, out_dir=args.out, build_docs=False,
                                 accept_partial=getattr(args, "accept_partial", False))
    summary = pipeline.audit_period(args.period, str(args.out))
    print(f"{summary['flagged']} households flagged -> {Path(args.out) / 'audit.csv'}")
    if summary["skipped"]:
        print(f"未核查（跳过）：{summary['skipped_text']}")
    if summary.get("caveats"):
        print(f"注意：{summary['caveats']}")
    return _report_rejections(validation)


def cmd_review(args) -> int:
    from fangpin import pipeline

    validation = pipeline.ingest(args.data, args.period, out_dir=args.out, build_docs=False,
                                 accept_partial=getattr(args, "accept_partial", False))
    summary = pipeline.review_period(args.period, str(args.out), seed=args.seed)
    print(f"{summary['drawn']} households drawn for review -> {Path(args.out) / 'review_draw.csv'}")
    for s in summary["summary"]:
        share = "-" if s["share"] is None else f"{s['share']:.2%}"
        print(f"{s['decision']}: {s['households']} 户，抽取 {s['drawn']} 户（抽查比例 {share}），"
              f"已审核 {s['reviewed']} 户（认定准确 {s['accurate']}，认定不准确 {s['inaccurate']}）")
    return _report_rejections(validation)


def cmd_sample(args) -> int:
    from fangpin import pipeline

    validation = pipeline.ingest(args.data, args.period, out_dir=args.out, build_docs=False,
                                 accept_partial=args.accept_partial)
    summary = pipeline.sample_period(args.period, str(args.out), seed=args.seed,
                                     call_sheets=args.call_sheets)
    print(f"{summary['drawn']} households drawn -> {Path(args.out) / 'spot_check.csv'}")
    return _report_rejections(validation)


def cmd_problems(args) -> int:
    """problems.csv of a period. The period's problems are (re-)derived first when its delivery is
    loaded and no later month has been derived yet (re-deriving a month is a re-run: it replaces
    that month's problems; an earlier month is never re-derived over later ones)."""
    from fangpin import pipeline
    from fangpin.store import db

    eng = db.engine()
    status = 0
    if args.data:
        validation = pipeline.ingest(args.data, args.period, out_dir=args.out, build_docs=False,
                                 accept_partial=getattr(args, "accept_partial", False))
        pipeline.screen_period(args.period, str(args.out), push_lists=False)
        pipeline.audit_period(args.period, str(args.out))
        pipeline.sample_period(args.period, str(args.out), keep_recorded=True)
        status = _report_rejections(validation)
    if _derivable(eng, args.period):
        pipeline.derive_problems(args.period, eng=eng)
    path = pipeline.write_problems(args.period, args.out, as_of=args.as_of, eng=eng)
    print(f"problems -> {path}")
    return status


def _derivable(eng, period: str) -> bool:
    """The period's delivery is loaded and no later month's problems are stored."""
    from sqlalchemy import func, select

    from fangpin.store.db import periods_loaded
    from fangpin.store.models import Problem

    with eng.connect() as conn:
        latest = conn.execute(select(func.max(Problem.period))).scalar()
    return period in periods_loaded(eng) and (latest is None or latest <= period)


def cmd_report(args) -> int:
    from fangpin import pipeline

    status = 0
    if args.data:
        month = pipeline.report_month(args.kind, args.period)
        validation = pipeline.ingest(args.data, month, out_dir=args.out, build_docs=False,
                                     accept_partial=args.accept_partial)
        summary = pipeline.screen_period(month, str(args.out), push_lists=False)
        if summary.get("warning"):
            print(f"警告：{summary['warning']}", file=sys.stderr)
        pipeline.audit_period(month, str(args.out))
        pipeline.sample_period(month, str(args.out))
        pipeline.derive_problems(month)
        status = _report_rejections(validation)
    from fangpin.reports.common import NoReportData

    try:
        pdf = pipeline.build_report(args.kind, args.period, str(args.out))
    except NoReportData as exc:  # no report from no data: one line, exit status 1
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(pdf)
    return status


def cmd_db(args) -> int:
    from fangpin.store import db

    eng = db.engine(migrate_schema=False)
    db.migrate(eng, args.revision)
    print(f"{eng.url.render_as_string(hide_password=True)} at revision {args.revision}")
    return 0


def cmd_params(args) -> int:
    """Which value of each dated parameter applies for the period's last day and the province, and
    why: value, effective date, whose value (province or national) and the notice it comes from."""
    import datetime as dt

    from fangpin.config import settings
    from fangpin.params import NATIONAL, explain
    from fangpin.periods import Month

    on = Month.parse(args.period).end if args.period else dt.date.today()
    province = args.province or settings().province
    print(f"参数适用日期 {on}（{'统计期 ' + args.period + ' 末日' if args.period else '今天'}），省份 {province}")
    for e in explain(on, province, prefix=args.name or ""):
        if e.value is None:
            print(f"{e.name} = （无适用值）\n    {e.description}\n    原因：{e.why}")
            continue
        whose = "全国" if e.province == NATIONAL else e.province
        print(f"{e.name} = {e.value} {e.unit}\n    {e.description}\n"
              f"    适用：{whose}，自 {e.since} 起生效；{e.why}\n    依据：{e.reference}")
        if e.next_change:
            print(f"    下次调整：{e.next_change[0]} 起为 {e.next_change[1]}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line usage error (exit status 2) instead of the usage text."""

    def error(self, message):
        print(f"{self.prog}: error: {message}（--help 查看用法）", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="fangpin", description="防返贫动态监测 — validate, screen, sample, report")
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = ap.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write a synthetic county delivery with an answer key")
    g.add_argument("--out", required=True, help="delivery folder to write")
    g.add_argument("--period", required=True, type=_period, help="YYYY-MM")
    g.add_argument("--households", type=int, default=2000)
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--previous-problems", type=Path, help="a previous problem list CSV to write rectifications for")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=cmd_generate)

    def stage(name, func, help_):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--data", required=True, type=_existing_dir, help="delivery folder")
        p.add_argument("--period", required=True, type=_period, help="YYYY-MM")
        _accept_partial(p)
        p.set_defaults(func=func)
        return p

    p = stage("load", cmd_load, "validate a delivery and load its accepted rows (replaces the period)")
    p.add_argument("--out", type=Path, help="also write quarantine files, the summary and Data Docs here")
    p.add_argument("-q", "--quiet", action="store_true")
    p = stage("validate", cmd_validate, "validate a delivery: quarantine, validation_summary.csv, Data Docs")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--no-docs", action="store_true", help="skip building GX Data Docs")
    p = stage("screen", cmd_screen, "screen households with rules R01–R13 -> screening.csv and push lists")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--no-push-lists", action="store_true")
    p.add_argument("--push-date", type=_date, metavar="YYYY-MM-DD",
                   help="the day the push lists are sent (default: the scheduled ingest day, "
                        "day screening.push_day of the next month); verification is due 15 days later")
    p = stage("audit", cmd_audit, "registry audit, checks A01–A12 (疑点数据核查) -> audit.csv")
    p.add_argument("--out", required=True, type=Path)
    p = stage("review", cmd_review, "draw the month's new 拟纳入/拟消除 decisions for the county's sample review")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--seed", type=int)
    p = stage("sample", cmd_sample, "draw the month's phone spot-check -> spot_check.csv")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--seed", type=int)
    p.add_argument("--call-sheets", action="store_true", help="also write the restricted call sheets")

    pb = sub.add_parser("problems", help="the period's problem list -> problems.csv (状态 蓝|黄|红|已销号)")
    pb.add_argument("--period", required=True, type=_period, help="YYYY-MM")
    pb.add_argument("--out", required=True, type=Path)
    pb.add_argument("--as-of", type=_date, metavar="YYYY-MM-DD",
                    help="the day the states are taken (default: the period's bulletin date)")
    pb.add_argument("--data", type=_existing_dir, help="load, screen and draw this delivery first")
    pb.set_defaults(func=cmd_problems)

    r = sub.add_parser("report", help="render a report PDF from the monitoring database")
    r.add_argument("kind", choices=["weekly", "monthly", "quarterly"])
    r.add_argument("--period", required=True, help="2026-W45 | 2026-10 | 2026-Q4")
    r.add_argument("--out", required=True, type=Path)
    r.add_argument("--data", type=_existing_dir, help="load this delivery first")
    _accept_partial(r)
    r.set_defaults(func=cmd_report)

    d = sub.add_parser("db", help="migrate the monitoring database schema")
    d.add_argument("revision", nargs="?", default="head")
    d.set_defaults(func=cmd_db)

    pr = sub.add_parser("params", help="list the dated parameters in force")
    pr.add_argument("--period", help="YYYY-MM (default: today)")
    pr.add_argument("--province", help="default: the configured province (FANGPIN_PROVINCE)")
    pr.add_argument("--name", help="only parameters whose name starts with this, e.g. screening. or policy.")
    pr.set_defaults(func=cmd_params)
    return ap


def _accept_partial(p) -> None:
    p.add_argument("--accept-partial", action="store_true",
                   help="load a delivery even when it would be held (households or members absent, empty "
                        "or more than 10%% smaller than the latest earlier period loaded)")


def _one_line(text) -> str:
    """An error message on one line, the database password and any ID or phone number masked."""
    from fangpin.ids import redact

    msg = " ".join(str(text).split())
    try:
        from sqlalchemy.engine import make_url

        from fangpin.config import settings

        password = make_url(settings().database_url).password
        if password:
            msg = msg.replace(str(password), "***")
    except Exception:  # no settings or no URL: nothing to mask
        pass
    return redact(msg)[:500]


def _database_url() -> str:
    try:
        from fangpin.config import settings
        from fangpin.store.db import safe_url

        return safe_url(settings().database_url)
    except Exception:
        return "FANGPIN_DB_URL"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # GX sets its own loggers to INFO: keep standard error to our messages
        for handler in logging.getLogger().handlers:
            handler.setLevel(logging.WARNING)
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from fangpin.load import DeliveryHeld
    from fangpin.pipeline import OutputNotWritable, check_writable
    from fangpin.read import FeedRejected

    try:
        if getattr(args, "out", None) is not None and args.command != "generate":
            check_writable(Path(args.out))
        return args.func(args)
    except FeedRejected as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except DeliveryHeld as exc:
        print(_one_line(exc), file=sys.stderr)
        return 1
    except OutputNotWritable as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except (DBAPIError, SQLAlchemyError) as exc:
        if args.verbose:
            raise
        orig = getattr(exc, "orig", None) or exc
        first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        print(f"error: 数据库操作失败（{_database_url()}）：{_one_line(first)}", file=sys.stderr)
        return 2
    except (FileNotFoundError, NotADirectoryError, PermissionError, IsADirectoryError) as exc:
        if args.verbose:
            raise
        where = f"：{exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"error: {_one_line(exc.strerror or exc)}{_one_line(where)}" if exc.strerror
              else f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        if args.verbose:
            raise
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: 已中断", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one line (run with -v for the traceback)
        if args.verbose:
            raise
        print(f"error: {type(exc).__name__}: {_one_line(exc)}（加 -v 查看详情）", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
