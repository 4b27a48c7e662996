"""The built book in a real browser: headless Chromium renders every page with its tables and images.

Pages are served on localhost; each page's DOM as Chromium renders it must hold the expected content,
every local link and image it references must load, and a screenshot of it is kept under
``_build/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import functools
import html.parser
import shutil
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reprolib.artifacts import artifacts
from reprolib.records import project_root

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium; .ci/run installs it)")

PAGES = ["intro.html", "status.html", "performance.html", *(a.notebook.replace(".ipynb", ".html") for a in artifacts().values())]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def site(built_book):
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(built_book)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class _References(html.parser.HTMLParser):
    """Local links (<a href>) and resources (<img src>, <link href>, <script src>) of a page."""

    def __init__(self):
        super().__init__()
        self.images, self.links = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        target = attrs.get("src") if tag in ("img", "script") else attrs.get("href") if tag in ("a", "link") else None
        if not target or target.startswith(("http:", "https:", "mailto:", "#", "data:", "javascript:")):
            return
        (self.images if tag == "img" else self.links).append(target.split("#")[0])


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_with_tables_and_images(site, page):
    url = urllib.parse.urljoin(site, page)
    dom = _chromium("--dump-dom", url)
    assert dom.returncode == 0 and "<main" in dom.stdout, dom.stderr[-2000:]
    refs = _References()
    refs.feed(dom.stdout)
    if page != "intro.html":
        assert "<table" in dom.stdout or refs.images, f"{page} shows neither a table nor a figure"
    for target in dict.fromkeys(refs.images + refs.links):
        if not target:
            continue
        try:
            with urllib.request.urlopen(urllib.parse.urljoin(url, target), timeout=30) as response:
                assert response.status == 200
                if target in refs.images:
                    assert response.read(8).startswith((b"\x89PNG", b"<svg", b"<?xml", b"\xff\xd8")), target
        except urllib.error.HTTPError as err:
            pytest.fail(f"{page}: broken reference {target} ({err.code})")
    shots = project_root() / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / (page.replace("/", "_").replace(".html", ".png"))
    taken = _chromium(f"--screenshot={shot}", "--window-size=1280,2400", url)
    assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr[-2000:]
