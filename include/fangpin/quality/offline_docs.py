"""GX Data Docs that work offline (county networks often are) and send nothing anywhere.

GX's Data Docs pages load ~15 files from public CDNs (jQuery, Bootstrap, bootstrap-table, Vega,
Font Awesome) and a logo from GX's S3 bucket whose URL carries the data-context id (tracking).
The great_expectations package ships none of those libraries, so `make_offline(docs_dir)`
post-processes every generated page instead:

- every external <script src> and <link href> (stylesheets, fonts) is removed;
- the S3 logo becomes the package's own `static/images/logo-long.png` (relative path);
- any other external link (GX's newsletter) is neutralised (`href="#"`, no tracking query);
- a local stylesheet `static/styles/fangpin_offline.css` (written here) replaces Bootstrap's
  layout for what the pages need: readable tables, the navigation and the status colours.

The pages' tables and expectation results are server-rendered HTML, so they read fully; what
is lost offline is the client-side sorting/filtering (bootstrap-table) and the Vega charts
of distributions. Idempotent: running it twice changes nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

LOCAL_HOSTS = ("127.0.0.1", "localhost")
CSS_NAME = "fangpin_offline.css"
CSS = """/* fangpin: local replacement for the CDN stylesheets of GX Data Docs (offline) */
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 0; color: #212529; }
nav, .navbar { background: #1f3b57; color: #fff; padding: .5rem 1rem; display: flex; gap: 1rem; align-items: center; }
nav a, .navbar a { color: #fff; }
.container-fluid, .container { padding: 1rem; }
.row { display: flex; flex-wrap: wrap; gap: 1rem; }
.col-md-2, .col-md-3, .col-lg-2, .col-lg-3 { flex: 0 0 22%; }
.col-md-9, .col-md-10, .col-lg-9, .col-lg-10, .col-12 { flex: 1 1 70%; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { border: 1px solid #dee2e6; padding: .3rem .5rem; text-align: left; vertical-align: top; }
thead th { background: #f1f3f5; }
.card { border: 1px solid #dee2e6; border-radius: 4px; margin-bottom: 1rem; }
.card-header { background: #f8f9fa; padding: .5rem 1rem; font-weight: bold; }
.card-body { padding: .5rem 1rem; }
.text-danger, .fa-times { color: #c92a2a; }
.text-success, .fa-check-circle { color: #2b8a3e; }
.d-none, .modal { display: none; }
img.img-fluid, nav img { max-height: 40px; }
"""

_EXTERNAL = r"https?://(?!(?:127\.0\.0\.1|localhost)[:/])[^\"'\s>]+"
_SCRIPT = re.compile(rf"<script[^>]*\bsrc=[\"']{_EXTERNAL}[\"'][^>]*>\s*</script>\s*", re.I)
_LINK = re.compile(rf"<link[^>]*\bhref=[\"']{_EXTERNAL}[\"'][^>]*/?>\s*", re.I)
_LOGO = re.compile(r"https?://great-expectations-web-assets\.s3[^\"'\s>]*?/([\w.-]+\.(?:png|svg|gif))[^\"'\s>]*", re.I)
_ATTR = re.compile(rf"(\b(?:href|src|action|data-src)=[\"']){_EXTERNAL}([\"'])", re.I)
_CSS_URL = re.compile(rf"url\(\s*[\"']?{_EXTERNAL}[\"']?\s*\)", re.I)
_ANY = re.compile(_EXTERNAL, re.I)


def external_urls(text: str) -> list[str]:
    """The URLs in `text` that leave the machine (anything but 127.0.0.1 / localhost)."""
    return _ANY.findall(text)


def _rel_static(page: Path, docs_dir: Path) -> str:
    rel = os.path.relpath(docs_dir / "static", page.parent)
    return rel.replace(os.sep, "/")


def offline_html(text: str, static: str) -> str:
    """One page, rewritten to load nothing from outside (see the module docstring)."""
    text = _SCRIPT.sub("", text)
    text = _LINK.sub("", text)
    text = _LOGO.sub(lambda m: f"{static}/images/{m.group(1)}", text)
    text = _ATTR.sub(lambda m: f"{m.group(1)}#{m.group(2)}", text)
    text = _CSS_URL.sub("none", text)
    css = f'<link rel="stylesheet" href="{static}/styles/{CSS_NAME}">'
    if css not in text:
        text = re.sub(r"</head>", css + "\n</head>", text, count=1, flags=re.I) if re.search(r"</head>", text, re.I) \
            else css + text
    return _ANY.sub("#", text)  # anything left (text, inline scripts): no URL leaves the machine


def make_offline(docs_dir: Path) -> int:
    """Rewrites every page of the Data Docs site in `docs_dir`; returns the number of pages changed."""
    docs_dir = Path(docs_dir)
    styles = docs_dir / "static" / "styles"
    styles.mkdir(parents=True, exist_ok=True)
    (styles / CSS_NAME).write_text(CSS, encoding="utf-8")
    changed = 0
    for page in sorted(docs_dir.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        new = offline_html(text, _rel_static(page, docs_dir))
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed += 1
    for css in styles.glob("*.css"):  # GX's own stylesheets import web fonts
        text = css.read_text(encoding="utf-8")
        new = re.sub(rf"@import\s+url\([^)]*\)\s*;?|@import\s+[\"']{_EXTERNAL}[\"']\s*;?", "", text)
        new = _CSS_URL.sub("none", new)
        if new != text:
            css.write_text(new, encoding="utf-8")
    return changed
