"""Corrections (更正版), the archive of versions sent, the email a leader can act on, and no
report from no data.

The hand-made county of test_reports is loaded; reports are built and sent through
fangpin.pipeline to a real SMTP server (aiosmtpd, as in test_notify); the data is then
corrected and the same reports are built and sent again.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fangpin import config, pipeline, reports, versions
from fangpin.ids import ID_PATTERN, PHONE_PATTERN
from fangpin.reports import common as C
from fangpin.store import db
from fangpin.store.models import PipelineRun, Problem, ReportDelivery, ReportVersion, ValidationRun
from test_notify import smtp  # noqa: F401  (fixture)
from test_reports import NOV, OCT, T1, T3, hid, members, pdf_text, populate, registry

LEADERS = ["leader1@county.gov.cn", "leader2@county.gov.cn"]


@pytest.fixture
def county(sqlite_url, monkeypatch):
    monkeypatch.setenv("FANGPIN_LEADERS", '["leader1@county.gov.cn", "leader2@county.gov.cn"]')
    config.reset()
    eng = db.engine(sqlite_url)
    populate(eng)
    yield eng
    config.reset()


def parsed(envelope) -> email.message.EmailMessage:
    return email.message_from_bytes(envelope.content, policy=email.policy.default)


def body_of(msg) -> str:
    return msg.get_body(preferencelist=("html",)).get_content()


def add_problem(eng, pid: str, town: str = T3, n: int = 1) -> None:
    with Session(eng) as s, s.begin():
        s.add(Problem(problem_id=pid, period=OCT, problem_type="消除不规范", township_code=town,
                      village_code=f"{town}001", household_id=hid(town, n), detail="风险消除不规范",
                      found_on=dt.date(2026, 10, 31), deadline=dt.date(2026, 11, 9)))


def test_bulletin_corrected_after_sending_is_reissued(smtp, county, tmp_path):  # noqa: F811
    server = smtp()
    out = tmp_path / "out"
    pdf1 = pipeline.build_report("monthly", OCT, str(out), eng=county)
    assert pdf1.endswith("兴宾区防返贫动态监测月通报_2026年10月.pdf")
    assert versions.read_meta(pdf1)["version"] == 1
    assert "更正" not in pdf_text(pdf1)
    assert pipeline.send_report("monthly", OCT, pdf1, eng=county) == LEADERS
    msg = parsed(server.envelopes[0])
    assert msg["Subject"] == "【月通报】兴宾区防返贫动态监测工作月通报（2026年10月）"
    body = body_of(msg)
    # key figures a leader can act on: pushes, timeliness, problems by colour, red townships
    for s in ("推送核实户数", "3户", "核实按期率", "33.3%", "红单2、黄单1、蓝单1", "红单乡镇", "城东镇、南山乡"):
        assert s in body, s
    assert not ID_PATTERN.search(body) and not PHONE_PATTERN.search(body)

    # an unchanged re-run builds the same version and sends nothing twice
    again = pipeline.build_report("monthly", OCT, str(out), eng=county)
    assert again == pdf1
    assert pipeline.send_report("monthly", OCT, again, eng=county) == []
    assert len(server.envelopes) == 2

    # corrected data: one more problem, one rectified
    add_problem(county, "XCBG-202610-00000099")
    with county.begin() as conn:
        conn.execute(update(Problem.__table__).where(Problem.problem_id == "HSCQ-202610-0000000E")
                     .values(closed_on=dt.date(2026, 11, 2)))
    pdf2 = pipeline.build_report("monthly", OCT, str(out), eng=county)
    assert pdf2.endswith("兴宾区防返贫动态监测月通报_2026年10月_更正版1.pdf")
    text = pdf_text(pdf2)
    for s in ("更正版1", "更正说明", "替代此前发送的原版", "清单问题（个）：6 → 7", "新增问题1个：XCBG-202610-00000099",
              "HSCQ-202610-0000000E（蓝单→已销号）"):
        assert s in text.replace("\n", ""), s
    # leader2 left the list since: still gets the correction of what it was sent
    config.reset()
    import os

    os.environ["FANGPIN_LEADERS"] = '["leader1@county.gov.cn", "leader3@county.gov.cn"]'
    config.reset()
    try:
        sent = pipeline.send_report("monthly", OCT, pdf2, eng=county)
    finally:
        os.environ["FANGPIN_LEADERS"] = '["leader1@county.gov.cn", "leader2@county.gov.cn"]'
        config.reset()
    assert sorted(sent) == sorted(["leader1@county.gov.cn", "leader2@county.gov.cn", "leader3@county.gov.cn"])
    msg = parsed(server.envelopes[-1])
    assert msg["Subject"].startswith("【更正版1】【月通报】")
    body = body_of(msg)
    assert "更正版1" in body and "清单问题（个）：6 → 7" in body
    part = next(msg.iter_attachments())
    assert part.get_filename() == "兴宾区防返贫动态监测月通报_2026年10月_更正版1.pdf"
    assert 'filename="monthly_bulletin_2026-10_correction1.pdf"' in server.envelopes[-1].content.decode("ascii")

    # every version sent is archived and recorded with its fingerprint, figures and problems
    sent_v = versions.sent_versions("monthly", OCT, county)
    assert [v["version"] for v in sent_v] == [1, 2]
    assert sent_v[0]["fingerprint"] != sent_v[1]["fingerprint"]
    assert sent_v[0]["summary"]["figures"]["清单问题（个）"] == 6 and sent_v[1]["summary"]["figures"]["清单问题（个）"] == 7
    assert (out / "sent" / "兴宾区防返贫动态监测月通报_2026年10月.v1.pdf").is_file()
    assert (out / "sent" / "兴宾区防返贫动态监测月通报_2026年10月_更正版1.v2.pdf").is_file()
    with county.connect() as conn:
        rows = conn.execute(select(ReportDelivery.__table__)).mappings().all()
    assert sorted((r["recipient"], r["version"]) for r in rows) == sorted(
        [(LEADERS[0], 1), (LEADERS[1], 1), (LEADERS[0], 2), (LEADERS[1], 2), ("leader3@county.gov.cn", 2)])
    # what the next month builds on: the problems actually sent
    assert "XCBG-202610-00000099" in versions.last_sent_problem_ids(OCT, T3, county)
    assert versions.last_sent_problems(OCT, T3, county)["HSCQ-202610-0000000E"] == "已销号"
    assert versions.last_sent_problem_ids(NOV, T3, county) is None

    # a PDF built before the correction was sent cannot go out any more
    with pytest.raises(versions.StaleReport):
        pipeline.send_report("monthly", OCT, pdf1, eng=county)
    # re-running the corrected month again: the same correction, nothing sent
    assert pipeline.build_report("monthly", OCT, str(out), eng=county) == pdf2
    assert pipeline.send_report("monthly", OCT, pdf2, eng=county) == []
    assert len(server.envelopes) == 5


def test_township_list_email_and_correction(smtp, county, tmp_path):  # noqa: F811
    server = smtp()
    out = tmp_path / "out"
    pdf = pipeline.write_township_problems(OCT, T1, str(out), eng=county)
    assert pdf.endswith("城东镇防返贫监测问题清单_2026年10月.pdf")
    assert pipeline.send_township_problems(OCT, T1, pdf, eng=county) == ["township-451302100@fangpin.local"]
    msg = parsed(server.envelopes[0])
    assert msg["Subject"] == "【问题清单】城东镇2026年10月防返贫监测问题清单（请于11月9日前整改）"
    body = body_of(msg)
    for s in ("城东镇", "红单", "1个", "黄单", "整改期限", "11月9日"):
        assert s in body, s
    assert not ID_PATTERN.search(body) and not PHONE_PATTERN.search(body)
    assert 'filename="problems_451302100_2026-10.pdf"' in server.envelopes[0].content.decode("ascii")
    assert pipeline.send_township_problems(OCT, T1, pipeline.write_township_problems(OCT, T1, str(out), eng=county),
                                           eng=county) == []
    # the township rectified its yellow problem: the list it holds is corrected
    with county.begin() as conn:
        conn.execute(update(Problem.__table__).where(Problem.problem_id == "DHCC-202610-0000000C")
                     .values(closed_on=dt.date(2026, 11, 3)))
    pdf2 = pipeline.write_township_problems(OCT, T1, str(out), eng=county)
    assert pdf2.endswith("城东镇防返贫监测问题清单_2026年10月_更正版1.pdf")
    assert "黄单（个）：1 → 0" in pdf_text(pdf2).replace("\n", "")
    assert pipeline.send_township_problems(OCT, T1, pdf2, eng=county) == ["township-451302100@fangpin.local"]
    msg = parsed(server.envelopes[-1])
    assert msg["Subject"].startswith("【更正版1】【问题清单】城东镇2026年10月")
    assert 'filename="problems_451302100_2026-10_correction1.pdf"' in server.envelopes[-1].content.decode("ascii")
    assert versions.last_sent_problems(OCT, T1, county) == {"HSCQ-202609-0000000A": "红单",
                                                           "DHCC-202610-0000000C": "已销号"}


def test_township_list_emptied_after_sending_is_corrected_not_dropped(smtp, county, tmp_path):  # noqa: F811
    smtp()
    out = tmp_path / "out"
    pipeline.send_township_problems(OCT, T3, pipeline.write_township_problems(OCT, T3, str(out), eng=county),
                                    eng=county)
    with county.begin() as conn:
        conn.execute(Problem.__table__.delete().where(Problem.township_code == T3))
    pdf = pipeline.write_township_problems(OCT, T3, str(out), eng=county)
    assert pdf and pdf.endswith("_更正版1.pdf")
    assert pipeline.send_township_problems(OCT, T3, pdf, eng=county) == ["township-451302102@fangpin.local"]


def test_fingerprint_ignores_charts_and_is_content_sensitive():
    ctx = {"total": {"pushed": 3, "rate": 0.5}, "issued_on": dt.date(2026, 11, 6), "charts": {"a": "<svg id=c1>"}}
    same = {**ctx, "charts": {"a": "<svg id=c9>"}}
    assert versions.fingerprint(ctx) == versions.fingerprint(same)
    assert versions.fingerprint(ctx) != versions.fingerprint({**ctx, "total": {"pushed": 4, "rate": 0.5}})
    assert versions.fingerprint({"x": float("nan")}) == versions.fingerprint({"x": None})


# ---- no bulletin from no data -------------------------------------------------------------

def test_no_bulletin_from_a_missing_delivery(county, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(C.NoReportData, match="2026年12月无农户、家庭成员数据.*no households or members loaded for 2026-12"):
        pipeline.build_report("monthly", "2026-12", str(out), eng=county)
    assert not list(out.glob("*.pdf")) if out.exists() else True
    with county.connect() as conn:
        run = conn.execute(select(PipelineRun.__table__).where(PipelineRun.stage == "report:monthly")).mappings().one()
    assert run["status"] == "failed" and run["detail"]["error"] == "NoReportData"
    with pytest.raises(C.NoReportData):
        reports.build_township_problems("2026-12", T1, out, eng=county)
    with pytest.raises(C.NoReportData, match="2026-12"):
        reports.build_report("quarterly", "2026-Q4", out, eng=county)


def test_no_bulletin_without_members_or_validation(county, tmp_path):
    regions, hh = registry()
    with county.begin() as conn:  # households only: members empty
        db.replace_period(conn, "regions", "2026-12", regions)
        db.replace_period(conn, "households", "2026-12", hh)
    with pytest.raises(C.NoReportData, match="无家庭成员数据.*no members loaded"):
        reports.build_report("monthly", "2026-12", tmp_path, eng=county)
    with county.begin() as conn:
        db.replace_period(conn, "members", "2026-12", members(hh))
    with pytest.raises(C.NoReportData, match="未经校验.*no validation run for 2026-12"):
        reports.build_report("monthly", "2026-12", tmp_path, eng=county)
    with Session(county) as s, s.begin():
        s.add(ValidationRun(run_uid="r9", period="2026-12", feed="households", department="乡村振兴局", status="通过",
                            rows_total=len(hh), rows_accepted=len(hh), rows_quarantined=0, rows_unmatched=0,
                            validated_at=dt.datetime(2027, 1, 6), is_current=True))
    assert reports.build_report("monthly", "2026-12", tmp_path, eng=county).is_file()
    assert not list(tmp_path.glob("*.pdf")) == []


def test_versions_table_exists_after_migration(sqlite_url):
    eng = db.engine(sqlite_url)
    with eng.connect() as conn:
        assert conn.execute(select(ReportVersion.__table__)).first() is None


def test_push_list_email_and_correction(smtp, county, tmp_path):  # noqa: F811
    from fangpin.store.models import ScreeningResult

    server = smtp()
    out = tmp_path / "out"
    path = pipeline.write_push_list(OCT, T1, str(out), eng=county)
    assert pipeline.send_push_list(OCT, T1, path, eng=county) == ["township-451302100@fangpin.local"]
    msg = parsed(server.envelopes[0])
    assert msg["Subject"] == "【推送清单】城东镇2026年10月疑似风险户推送清单（请于11月16日前入户核实）"
    body = body_of(msg)
    assert "城东镇" in body and "推送户数" in body and "1户" in body and "11月16日" in body
    assert not ID_PATTERN.search(body) and not PHONE_PATTERN.search(body)
    assert next(msg.iter_attachments()).get_filename() == "城东镇疑似风险户推送清单_2026年10月.xlsx"
    assert pipeline.send_push_list(OCT, T1, pipeline.write_push_list(OCT, T1, str(out), eng=county),
                                   eng=county) == []
    # a corrected screening adds a household to the township's list: re-sent as 更正版1
    with Session(county) as s, s.begin():
        s.add(ScreeningResult(period=OCT, household_id=hid(T1, 2), township_code=T1, village_code=f"{T1}002",
                              rules="R03", risk_level="中", already_monitored=False, explanation="x",
                              first_seen=OCT, status="新增疑似", pushed_on=dt.date(2026, 11, 1),
                              verify_by=dt.date(2026, 11, 16)))
    path = pipeline.write_push_list(OCT, T1, str(out), eng=county)
    assert pipeline.send_push_list(OCT, T1, path, eng=county) == ["township-451302100@fangpin.local"]
    msg = parsed(server.envelopes[-1])
    assert msg["Subject"].startswith("【更正版1】【推送清单】城东镇")
    assert next(msg.iter_attachments()).get_filename() == "城东镇疑似风险户推送清单_2026年10月_更正版1.xlsx"
    assert 'filename="push_list_451302100_2026-10_correction1.xlsx"' in server.envelopes[-1].content.decode("ascii")
    assert "推送户数（户）：1 → 2" in body_of(msg) and "新增推送1户" in body_of(msg)
    assert [v["version"] for v in versions.sent_versions(f"push_list:{T1}", OCT, county)] == [1, 2]
    assert len(list((out / "push_lists" / "sent").glob("*.v*.xlsx"))) == 2


def test_cli_report_from_no_data_exits_1_with_one_line(sqlite_url, tmp_path, capsys):
    from fangpin import cli

    assert cli.main(["report", "monthly", "--period", "2026-12", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "不生成月通报" in err and "no monthly bulletin" in err
    assert not list(tmp_path.glob("*.pdf"))
