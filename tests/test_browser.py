"""The built book in a real browser: headless Chromium (driven through chromedriver) renders every page.

Pages are served on localhost. On each page of the table of contents, as Chromium lays it out:
every local link and image loads; no table, figure, image or code block is wider than the text column
unless it scrolls inside it (and nothing is cut off by a container that hides its overflow), at a
desktop and a tablet width; every verdict cell has words, not only a symbol (an emoji shows as an empty
box without an emoji font). A screenshot of each page is kept under ``_build/screenshots/`` for a person
to look at. Synthetic pages check that the layout and verdict checks fail on what they must catch.
"""

from __future__ import annotations

import contextlib
import functools
import html.parser
import re
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from reprolib.records import project_root

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install -e '.[test]')")
pytestmark = pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                                reason="needs Chromium and its driver (apt-get install chromium chromium-driver; .ci/run installs them)")

WIDTHS = (1280, 800)  # a desktop window (sidebars shown) and a tablet one (the primary sidebar folds away)


def _toc_pages() -> list[str]:
    """Every page of the book's table of contents, as its HTML path."""
    toc = yaml.safe_load((project_root() / "book" / "_toc.yml").read_text())

    def files(entry: dict):
        if "file" in entry:
            yield entry["file"]
        for key in ("parts", "chapters", "sections"):
            for child in entry.get(key, []):
                yield from files(child)

    return [f"{page}.html" for page in [toc["root"], *files(toc)]]


PAGES = _toc_pages()

# Problems of the page open in the browser, in the text column (sphinx-book-theme's article, else <main>).
LAYOUT_PROBLEMS = """
const column = document.querySelector("article.bd-article") || document.querySelector("main");
const style = getComputedStyle(column), box = column.getBoundingClientRect();
const left = box.left + parseFloat(style.paddingLeft), right = box.right - parseFloat(style.paddingRight);
const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
  + (typeof el.className === "string" && el.className.trim() ? "." + el.className.trim().split(/\\s+/).join(".") : "");
const scroller = el => {  // the nearest box from el up to the column that scrolls sideways, if any
  for (let a = el; a && a !== column; a = a.parentElement)
    if (["auto", "scroll"].includes(getComputedStyle(a).overflowX)) return a;
  return null;
};
const problems = [];
for (const el of column.querySelectorAll("table, img, figure, svg, pre")) {
  const own = el.getBoundingClientRect();
  if (!own.width) continue;
  const shown = (scroller(el) || el).getBoundingClientRect();
  if (shown.left < left - 1 || shown.right > right + 1)
    problems.push(`${name(el)} (${Math.round(own.width)} px) is wider than the ${Math.round(right - left)}-px text column`);
  for (let a = el.parentElement; a && a !== column; a = a.parentElement) {
    const overflow = getComputedStyle(a).overflowX;
    if (["hidden", "clip"].includes(overflow) && own.right > a.getBoundingClientRect().right + 1) {
      problems.push(`${name(el)} is cut off by ${name(a)} (overflow: ${overflow})`);
      break;
    }
  }
}
const page = document.documentElement.scrollWidth;
if (page > window.innerWidth + 1) problems.push(`the page is ${page} px wide in a ${window.innerWidth}-px window`);
return problems;
"""

# Table cells that give a verdict with no words: any cell of only symbols that holds a pictograph (emoji),
# and, in a table with a Claim(s) column, any non-empty cell without a letter or digit.
VERDICT_PROBLEMS = """
const problems = [];
for (const table of document.querySelectorAll("main table")) {
  const claims = [...table.querySelectorAll("th")].some(th => /^claims?$/i.test(th.textContent.trim()));
  for (const cell of table.querySelectorAll("td")) {
    const text = cell.textContent.trim();
    if (!text || /[\\p{L}\\p{N}]/u.test(text)) continue;
    if (claims || /\\p{Extended_Pictographic}/u.test(text)) problems.push(`a cell reads only "${text}"`);
  }
}
return problems;
"""


@contextlib.contextmanager
def _serve(folder: Path):
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def site(built_book):
    with _serve(built_book) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,2400"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def rendering_problems(browser, url: str) -> list[str]:
    """Layout problems at every width in WIDTHS, and verdict cells without words, of the page at ``url``."""
    problems = []
    for width in WIDTHS:
        browser.set_window_size(width, 2400)
        browser.get(url)
        problems += [f"at {width} px: {p}" for p in browser.execute_script(LAYOUT_PROBLEMS)]
    return problems + browser.execute_script(VERDICT_PROBLEMS)


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


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_within_its_column_with_verdicts_in_words(site, browser, page):
    url = urllib.parse.urljoin(site, page)
    assert rendering_problems(browser, url) == [], page
    dom = browser.page_source
    assert "<main" in dom, f"{page} did not render"
    refs = _References()
    refs.feed(dom)
    if "/" in page:  # a paper's table or figure page
        assert "<table" in dom or refs.images, f"{page} shows neither a table nor a figure"
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
    shot = shots / page.replace("/", "_").replace(".html", ".png")
    browser.set_window_size(WIDTHS[0], 2400)
    browser.get(url)  # laid out afresh at the desktop width
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


# A page laid out as sphinx-book-theme lays out the book's: a text column beside a table of contents.
SYNTHETIC = """<!DOCTYPE html><html><head><meta charset="utf-8"><style>body {{ margin: 0; }}
main {{ display: flex; }} article.bd-article {{ width: 50vw; padding: 0 30px; }}</style></head>
<body><main><article class="bd-article">{body}</article><nav style="width: 20vw">contents</nav></main></body></html>"""
WIDE_TABLE = "<table>" + "<tr>" + "".join(f"<td>column&nbsp;{i}&nbsp;of&nbsp;a&nbsp;wide&nbsp;table</td>" for i in range(12)) + "</tr></table>"
CLAIMS = "<table><tr><th>Claim</th><th>Our numbers</th></tr><tr><td>DDPP ≥ MTT</td><td>{verdict}</td></tr></table>"
BROKEN = {
    "wide_table": (WIDE_TABLE, r"table \(\d+ px\) is wider than the \d+-px text column"),
    "hidden_columns": (f'<div style="overflow: hidden">{WIDE_TABLE}</div>', "table is cut off by div"),
    "wide_figure": ('<figure><svg width="1200" height="10"></svg></figure>', r"svg \(1200 px\) is wider than"),
    "emoji_verdict": (CLAIMS.format(verdict="🟢"), 'a cell reads only "🟢"'),
    "symbol_verdict": (CLAIMS.format(verdict="✓"), 'a cell reads only "✓"'),
}
FINE = {
    "scrolling_table": f'<div style="overflow-x: auto">{WIDE_TABLE}</div>',
    "verdict_in_words": CLAIMS.format(verdict="holds ✓"),
}


@pytest.fixture(scope="module")
def synthetic_site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    for name, body in {**{k: body for k, (body, _) in BROKEN.items()}, **FINE}.items():
        (folder / f"{name}.html").write_text(SYNTHETIC.format(body=body), encoding="utf-8")
    with _serve(folder) as url:
        yield url


@pytest.mark.parametrize("name", BROKEN)
def test_the_checks_fail_on_a_broken_page(synthetic_site, browser, name):
    problems = rendering_problems(browser, urllib.parse.urljoin(synthetic_site, f"{name}.html"))
    assert any(re.search(BROKEN[name][1], p) for p in problems), problems


@pytest.mark.parametrize("name", FINE)
def test_the_checks_pass_a_page_that_scrolls_and_speaks(synthetic_site, browser, name):
    assert rendering_problems(browser, urllib.parse.urljoin(synthetic_site, f"{name}.html")) == []
