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


# ---------------------------------------------------------------- headless Chromium, network off

def _chromium() -> str | None:
    import shutil

    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


class _Recorder:
    """An HTTP proxy on 127.0.0.1 that answers nothing and records every request sent to it:
    Chromium sends every non-loopback request through it, so a request recorded = a request
    that would have left the machine."""

    def __init__(self):
        import socket
        import threading

        self.requests: list[str] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    line = conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
                except OSError:
                    continue
                if line:
                    self.requests.append(line)
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self):
        self.sock.close()


def _serve_dir(root: Path):
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


_BROWSER_OWN = re.compile(r"^([A-Z]+ http://|CONNECT )(clients\d*\.google\.com|[\w.-]*\.googleapis\.com|"
                          r"[\w.-]*\.gvt1\.com|accounts\.google\.com)[:/]")


def _load(browser: str, url: str, proxy: int, profile: Path) -> str:
    import subprocess

    cmd = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
           "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication",
           f"--user-data-dir={profile}", f"--proxy-server=http://127.0.0.1:{proxy}",
           "--virtual-time-budget=4000", "--dump-dom", url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90).stdout


def test_data_docs_in_headless_chromium_request_nothing_outside(planted, tmp_path, sqlite_url):  # noqa: F811
    import pytest

    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (scripts/setup.sh --dev installs it)")
    from fangpin.validate import validate_delivery

    folder, *_ = planted
    out = tmp_path / "out"
    validate_delivery(folder, PERIOD, out_dir=out)
    docs = out / "data_docs"
    page = next(p for p in docs.rglob("*.html") if "validations" in p.parts)
    # the control: a GX page as GX writes it (CDN scripts) — the recorder must see its requests
    raw = docs / "raw_gx.html"
    raw.write_text('<html><head><script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>'
                   '</head><body>raw</body></html>', encoding="utf-8")
    recorder, server = _Recorder(), _serve_dir(docs)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        dom = _load(browser, f"{base}/raw_gx.html", recorder.port, tmp_path / "p0")
        assert "raw" in dom and any("code.jquery.com" in r and not _BROWSER_OWN.search(r)
                                    for r in recorder.requests), recorder.requests
        recorder.requests.clear()
        for target in (docs / "index.html", page):
            rel = target.relative_to(docs).as_posix()
            dom = _load(browser, f"{base}/{rel}", recorder.port, tmp_path / f"p-{len(rel)}")
            assert "<table" in dom or "<div" in dom, rel  # the page rendered
        # Chromium's own background calls (time sync, component updater) to Google's service hosts
        # are the browser's, not the pages' (which contain no external URL at all, see above)
        from_pages = [r for r in recorder.requests if not _BROWSER_OWN.search(r)]
        assert from_pages == [], from_pages
    finally:
        recorder.close()
        server.shutdown()
