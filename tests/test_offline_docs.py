"""GX Data Docs work offline: no page loads or links anything outside the machine (no CDN, no
S3 logo carrying the data-context id), GX analytics are off."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from test_validate import PERIOD, planted  # noqa: F401  (the fixture)

_URL = re.compile(r"https?://[^\"'\s<>)]+", re.I)
_LOCAL = re.compile(r"^https?://(127\.0\.0\.1|localhost)[:/]")


def _external(text: str) -> list[str]:
    return [u for u in _URL.findall(text) if not _LOCAL.match(u)]


def test_generated_data_docs_reference_nothing_outside_the_machine(planted, tmp_path, sqlite_url):  # noqa: F811
    from fangpin.validate import validate_delivery

    folder, *_ = planted
    out = tmp_path / "out"
    v = validate_delivery(folder, PERIOD, out_dir=out)
    docs = out / "data_docs"
    pages = sorted(docs.rglob("*.html"))
    assert len(pages) >= 3 and v.data_docs in [p.resolve() for p in pages]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert _external(text) == [], (page, _external(text)[:3])
        assert "dataContextId" not in text
        # what the rewrite points at exists (GX's own favicon path is off by one level: its bug, local)
        for ref in re.findall(r"(?:src|href)=\"([^\"#?]+(?:fangpin_offline\.css|logo-long\.png))\"", text):
            assert (page.parent / ref).resolve().is_file(), (page, ref)
        assert "static/styles/fangpin_offline.css" in text
    for css in docs.rglob("*.css"):
        assert _external(css.read_text(encoding="utf-8")) == [], css
    # the server-rendered content is still there (the point of the pages)
    index = v.data_docs.read_text(encoding="utf-8")
    assert "households" in index and "<table" in index
    # GX usage statistics off in the project
    config = yaml.safe_load((docs / "gx" / "great_expectations.yml").read_text(encoding="utf-8"))
    assert config.get("analytics_enabled") is False


def test_offline_rewrite_is_idempotent_and_keeps_local_urls(tmp_path):
    from fangpin.quality.offline_docs import make_offline

    page = tmp_path / "validations" / "x" / "page.html"
    page.parent.mkdir(parents=True)
    html = ('<html><head><script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>'
            '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>'
            '</head><body><img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png'
            '?d=1&dataContextId=abc"><a href="https://greatexpectations.io/newsletter?utm_source=x">n</a>'
            '<a href="http://127.0.0.1:8080/data-quality/">local</a></body></html>')
    page.write_text(html, encoding="utf-8")
    assert make_offline(tmp_path) == 1
    once = page.read_text(encoding="utf-8")
    assert _external(once) == [] and "http://127.0.0.1:8080/data-quality/" in once
    assert 'src="../../static/images/logo-long.png"' in once
    assert (tmp_path / "static" / "styles" / "fangpin_offline.css").is_file()
    assert make_offline(tmp_path) == 0 and page.read_text(encoding="utf-8") == once
