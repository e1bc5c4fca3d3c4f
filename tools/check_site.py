"""Check the built site in a real browser (headless Chromium): `make check-site`.

Every page is served from 127.0.0.1, loaded, and checked the way a reader would see it:
no console errors, every image loaded and described by alt text (not a file name), math
typeset by MathJax, no glued value left unrendered, every internal link and #anchor
resolving, no code block scrolling sideways at desktop width, and no sideways scroll on a
phone. Each page is also audited for accessibility with axe-core (pinned in
tools/axe/package-lock.json, installed by `bash tools/install-browser.sh`) at desktop width,
in the theme's light mode and again in its dark mode: a "serious" or "critical" violation
fails the page, "moderate" and "minor" ones are only counted in the JSON report.
Chapter pages are also photographed at desktop width (light and dark) and at phone width.

    python tools/check_site.py _build/html --screenshots _build/screenshots

Exit status 0 when every page passes, 1 with the list of failures otherwise. This is a
check of the *built* site: it builds nothing (run `make book` first).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import re
import shutil
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urlsplit

from selenium import webdriver
from selenium.common.exceptions import JavascriptException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.wait import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent  # the repo
AXE = ROOT / "tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
)
DESKTOP = (1280, 900)  # (width, height) of the viewport, css pixels
PHONE = (390, 844)  # a current phone in portrait
PAGE_TIMEOUT_S = 60  # page load, readyState
WAIT_TIMEOUT_S = 30  # images and MathJax, each
AXE_TIMEOUT_S = 60  # one axe-core run (a few seconds on the longest chapter)
FAILING_IMPACTS = ("critical", "serious")  # axe's other impacts, moderate and minor, are noted
# the theme's colour modes (pydata-sphinx-theme: <html data-theme> and localStorage "mode"),
# each audited; a page without data-theme has one look, audited in the first
MODES = ("light", "dark")
DARK_LUMINANCE = 0.2  # a page background darker than this is dark (white is 1, black 0)
# alt text that is a file name, as when an image has no alt and the build fills in its path
IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg", ".gif", ".webp")
SKIP_DIRS = {"_static", "_sources"}  # theme assets and page sources, not pages
NOT_CHAPTERS = {"genindex.html", "search.html"}  # checked, but not photographed
# chromium asks every origin for /favicon.ico by itself; the book links no icon
IGNORED_CONSOLE = ("/favicon.ico - Failed to load resource",)

# a glue role that was never parsed, a paste that fell back to a python repr, and the
# strings myst-nb leaves when a key is missing or cannot be rendered
GLUE_PATTERNS = (
    r"\{glue(:[a-z]+)?\}",
    r"<glue",
    r"\[myst-nb\.glue",
    r"\bobject at 0x[0-9a-f]+>",
    r"<Figure size \d+x\d+ with \d+ Axes>",
)

# all scripts run in the page; each returns JSON-able values only
JS_WAIT_IMAGES = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach((img) => { if (img.loading === "lazy") img.loading = "eager"; });
const pending = images.filter((img) => !img.complete).map((img) => new Promise((resolve) => {
  img.addEventListener("load", resolve, {once: true});
  img.addEventListener("error", resolve, {once: true});
}));
Promise.all(pending).then(() => done(images.length));
"""

JS_WAIT_MATHJAX = """
const done = arguments[arguments.length - 1];
const mj = window.MathJax;
if (!mj) { done("absent"); return; }
if (!(mj.startup && mj.startup.promise)) { done("configured but its script did not load"); return; }
mj.startup.promise.then(() => done("ok"), (err) => done("failed: " + err));
"""

JS_BROKEN_IMAGES = """
return Array.from(document.images)
  .filter((img) => !(img.complete && img.naturalWidth > 0))
  .map((img) => img.getAttribute("src"));
"""

# text a reader sees outside code listings (pre) and scripts; TeX delimiters and glue
# roles inside code are examples, not failures
JS_PROSE_TEXT = """
const skipCode = arguments[0];
const skip = new Set(["PRE", "SCRIPT", "STYLE", "TEXTAREA", "NOSCRIPT", "MJX-CONTAINER"]);
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
  acceptNode(node) {
    for (let el = node.parentElement; el; el = el.parentElement) {
      if (skip.has(el.tagName) || (skipCode && el.tagName === "CODE")) {
        return NodeFilter.FILTER_REJECT;
      }
    }
    return NodeFilter.FILTER_ACCEPT;
  },
});
const parts = [];
while (walker.nextNode()) parts.push(walker.currentNode.nodeValue);
return parts.join("");
"""

JS_MATH = """
const math = Array.from(document.querySelectorAll(".math"));
const untypeset = math.filter((el) => !el.querySelector("mjx-container"));
return {
  math: math.length,
  containers: document.querySelectorAll("mjx-container").length,
  untypeset: untypeset.length,
  first_untypeset: untypeset.length ? untypeset[0].textContent.trim().slice(0, 60) : null,
  errors: Array.from(document.querySelectorAll("mjx-merror, merror"))
    .map((el) => el.getAttribute("data-mjx-error") || el.textContent.trim().slice(0, 80)),
};
"""

JS_SYSTEM_MESSAGES = """
return Array.from(document.querySelectorAll(".system-message, .problematic"))
  .map((el) => el.textContent.trim().replace(/\\s+/g, " ").slice(0, 160));
"""

JS_LINKS = """
return Array.from(document.querySelectorAll("a[href]")).map((a) => a.href);
"""

JS_HAS_ANCHOR = """
const id = arguments[0];
return Boolean(document.getElementById(id) || document.getElementsByName(id).length);
"""

# every <img> with its alt attribute (null when it has none)
JS_IMAGE_ALTS = """
return Array.from(document.images).map((img) => ({
  src: img.getAttribute("src"),
  alt: img.getAttribute("alt"),
}));
"""

# code listings wider than their column: each one's widths and its longest line
JS_WIDE_CODE = """
return Array.from(document.querySelectorAll("div.highlight pre"))
  .filter((pre) => pre.scrollWidth > pre.clientWidth + 1)
  .map((pre) => ({
    scroll_width: pre.scrollWidth,
    client_width: pre.clientWidth,
    line: pre.textContent.split("\\n").reduce((a, b) => (b.length > a.length ? b : a), ""),
  }));
"""

# run after axe.min.js is injected; each violation with its first node, or {error}.
# Transitions still running after a load (the theme fades sections and buttons in) are let
# finish first, at most 2 s: axe reads the colours and opacity of the moment
JS_AXE_RUN = """
const done = arguments[arguments.length - 1];
if (!window.axe) { done({error: "axe-core is not in the page"}); return; }
const finite = document.getAnimations()
  .filter((a) => a.effect && a.effect.getComputedTiming().endTime !== Infinity);
Promise.race([
  Promise.all(finite.map((a) => a.finished.catch(() => null))),
  new Promise((resolve) => setTimeout(resolve, 2000)),
]).then(() => window.axe.run(document, {resultTypes: ["violations"]})).then(
  (results) => done(results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.length,
    target: v.nodes.length ? v.nodes[0].target.flat(Infinity).join(" ") : null,
    html: v.nodes.length ? v.nodes[0].html : null,
  }))),
  (error) => done({error: String(error)}),
);
"""

# the theme's colour mode as the page shows it, and the colour behind its text
JS_MODE = """
const html = document.documentElement;
const clear = (colour) => colour === "transparent" || /^rgba\\(.*,\\s*0\\)$/.test(colour);
let background = getComputedStyle(document.body).backgroundColor;
if (clear(background)) background = getComputedStyle(html).backgroundColor;
if (clear(background)) background = "rgb(255, 255, 255)";  // the canvas of a plain page
return {
  themed: html.hasAttribute("data-theme"),
  theme: html.dataset.theme || null,
  mode: html.dataset.mode || null,
  background: background,
};
"""

JS_SET_MODE = """
localStorage.setItem("mode", arguments[0]);
localStorage.setItem("theme", arguments[0]);
"""

# every sampler widget on the page has started (sampler.js sets data-ready) or failed
JS_WAIT_SAMPLERS = """
const done = arguments[arguments.length - 1];
const roots = () => [...document.querySelectorAll(".charlm-sampler")];
const settled = () => roots().every((root) => root.dataset.ready);
const start = Date.now();
(function poll() {
  if (settled() || Date.now() - start > 20000) done(roots().map((r) => r.dataset.ready || ""));
  else setTimeout(poll, 50);
})();
"""

# the sampler page's own code (charlm-models.js) against torch's probabilities recorded at
# build (expected.json), and how long it takes to sample names from each model
JS_SAMPLER_CHECK = """
const done = arguments[arguments.length - 1];
(async () => {
  const M = window.charlmModels;
  const root = document.querySelector(".charlm-sampler");
  const base = new URL(root.dataset.models, document.baseURI);
  const listing = await (await fetch(base)).json();
  const expected = await (await fetch(new URL("expected.json", base))).json();
  const models = [];
  for (const entry of listing) {
    const model = M.loadModel(await (await fetch(new URL(entry.file, base))).arrayBuffer());
    const checks = expected.models[entry.key] || [];
    let diff = 0;
    for (const check of checks) {
      const p = M.probabilities(model.logits(M.contextOf(model, check.prefix)));
      for (let i = 0; i < p.length; i++) diff = Math.max(diff, Math.abs(p[i] - check.probs[i]));
    }
    const times = [];
    let first = null, same = true;
    for (let r = 0; r < 5; r++) {
      const began = performance.now();
      const names = M.sampleNames(model, { n: expected.timed_names, seed: 42 });
      times.push(performance.now() - began);
      if (first === null) first = names.join(",");
      else same = same && names.join(",") === first;
    }
    times.sort((a, b) => a - b);
    models.push({ key: entry.key, checks: checks.length, diff, same,
                  ms: times[2], low: times[0], high: times[4] });
  }
  return { tolerance: expected.tolerance, names: expected.timed_names, models };
})().then(done, (error) => done({ error: String(error) }));
"""

# the page's messages for bad input: a character outside the vocabulary, a word for a number
JS_SAMPLER_BAD_INPUT = """
const message = () => document.querySelector(".charlm-sampler .charlm-message").textContent;
const prefix = document.getElementById("charlm-prefix");
const temperature = document.getElementById("charlm-temperature");
prefix.value = "Zoe";
prefix.dispatchEvent(new Event("input"));
const forPrefix = message();
prefix.value = "";
prefix.dispatchEvent(new Event("input"));
temperature.value = "hot";
document.querySelector(".charlm-form").requestSubmit();
const forTemperature = message();
temperature.value = "1";
document.querySelector(".charlm-form").requestSubmit();
return { prefix: forPrefix, temperature: forTemperature, after: message() };
"""

SAMPLER_PAGE = "book/sampler.html"
SAMPLER_MS = 100  # the most sampling the page's timed names may take, per model (median)

JS_META_REFRESH = """
return Boolean(document.querySelector("meta[http-equiv='refresh' i]"));
"""

JS_SETTLE = """
const done = arguments[arguments.length - 1];
requestAnimationFrame(() => requestAnimationFrame(() => done(true)));
"""

# the element reaching farthest right, among those not inside a scrolling/clipping box
JS_WIDEST = """
const limit = window.innerWidth + 1;
const scrollWidth = document.documentElement.scrollWidth;
if (scrollWidth <= limit) return null;
const stop = new Set([document.body, document.documentElement]);
const clipped = (el) => {
  for (let p = el.parentElement; p && !stop.has(p); p = p.parentElement) {
    if (getComputedStyle(p).overflowX !== "visible") return true;
  }
  return false;
};
const describe = (el) => {
  let s = el.tagName.toLowerCase();
  if (el.id) s += "#" + el.id;
  Array.from(el.classList).slice(0, 3).forEach((c) => { s += "." + c; });
  return s;
};
const path = (el) => {
  const parts = [];
  for (let e = el; e && !stop.has(e) && parts.length < 4; e = e.parentElement) {
    parts.unshift(describe(e));
  }
  return parts.join(" > ");
};
let widest = null;
let count = 0;
for (const el of document.body.querySelectorAll("*")) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.right <= limit || clipped(el)) continue;
  count += 1;
  const further = !widest || r.right > widest.right + 0.5;
  const deeper = widest && Math.abs(r.right - widest.right) <= 0.5 && widest.el.contains(el);
  if (further || deeper) widest = {el: el, right: r.right};
}
return {
  scroll_width: scrollWidth,
  inner_width: window.innerWidth,
  overflowing: count,
  element: widest ? path(widest.el) : null,
  right: widest ? Math.round(widest.right) : null,
  text: widest ? widest.el.textContent.trim().replace(/\\s+/g, " ").slice(0, 60) : null,
};
"""


@dataclass
class PageResult:
    """What one page showed: counts of what was checked, and every failure found."""

    page: str  # path under the site root, e.g. "book/01_bigram.html"
    shown: str | None = None  # the page a redirect led to, if any
    failures: list[str] = field(default_factory=list)
    images: int = 0
    math: int = 0  # elements of class "math"
    internal_links: int = 0
    external_links: int = 0  # counted, never fetched
    # the page's background in each colour mode audited, e.g. {"light": "rgb(255, 255, 255)"}
    backgrounds: dict[str, str] = field(default_factory=dict)
    # axe-core's violations that do not fail the page: mode -> impact -> number of rules
    accessibility: dict[str, dict[str, int]] = field(default_factory=dict)
    accessibility_notes: list[str] = field(default_factory=list)  # each of those, described
    screenshots: list[str] = field(default_factory=list)
    # the sampler page: each model's largest difference from torch and its sampling time
    sampler: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """True when the page has no failures."""
        return not self.failures


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without logging every request to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve `root` on 127.0.0.1 on a free port in a background thread; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def browser() -> Iterator[webdriver.Chrome]:
    """Start headless Chromium with a fresh profile and its console log on; quit it after."""
    profile = tempfile.mkdtemp(prefix="check-site-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        try:
            driver.set_page_load_timeout(PAGE_TIMEOUT_S)
            driver.set_script_timeout(WAIT_TIMEOUT_S)
            # a reader whose system asks for light: the theme's "auto" mode is then light
            light = {"features": [{"name": "prefers-color-scheme", "value": "light"}]}
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", light)
            yield driver
        finally:
            driver.quit()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def find_pages(root: Path, only: Sequence[str] | None = None) -> list[str]:
    """The site's .html pages as paths relative to `root` (or `only`, checked to exist)."""
    if only:
        missing = [page for page in only if not (root / page).is_file()]
        if missing:
            raise SystemExit(f"check-site: no such page under {root}: {', '.join(missing)}")
        return list(only)
    pages = []
    for path in sorted(root.rglob("*.html")):
        relative = path.relative_to(root)
        if relative.parts[0] not in SKIP_DIRS:
            pages.append(relative.as_posix())
    return pages


def is_chapter(page: str) -> bool:
    """True for a page worth a screenshot (not the generated index or search page)."""
    return page not in NOT_CHAPTERS


def shot_name(page: str) -> str:
    """A screenshot file stem for `page`, unique across folders: book/index.html -> book-index."""
    return page.removesuffix(".html").replace("/", "-")


def set_viewport(driver: webdriver.Chrome, size: tuple[int, int]) -> None:
    """Make the page's viewport exactly `size` css pixels (as a desktop window, not a phone)."""
    width, height = size
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    driver.execute_async_script(JS_SETTLE)


def load(driver: webdriver.Chrome, url: str) -> str:
    """Open `url` (following a meta refresh), wait for it, its images and MathJax.

    Returns MathJax's status: "ok", "absent" (no math on the page), or what went wrong.
    """
    forget_visits(driver, url)
    driver.get(url)
    _wait_ready(driver)
    if driver.execute_script(JS_META_REFRESH):  # e.g. the root index.html of a Jupyter Book
        with contextlib.suppress(TimeoutException):
            WebDriverWait(driver, PAGE_TIMEOUT_S).until(lambda d: d.current_url != url)
        _wait_ready(driver)
    return _wait_rendered(driver)


def reload_in_mode(driver: webdriver.Chrome, mode: str) -> str:
    """Choose the theme's colour `mode` as a reader's toggle does (localStorage), and reload.

    Returns MathJax's status, as `load` does.
    """
    driver.execute_script(JS_SET_MODE, mode)
    driver.refresh()
    _wait_ready(driver)
    return _wait_rendered(driver)


def _wait_rendered(driver: webdriver.Chrome) -> str:
    """Wait for the loaded page's images, sampler widgets and MathJax; return MathJax's
    status."""
    with contextlib.suppress(TimeoutException):  # a hung image is reported by check_images
        driver.execute_async_script(JS_WAIT_IMAGES)
    with contextlib.suppress(TimeoutException):  # one that never starts: check_sampler says
        driver.execute_async_script(JS_WAIT_SAMPLERS)
    try:
        return driver.execute_async_script(JS_WAIT_MATHJAX)
    except TimeoutException:
        return f"still typesetting after {WAIT_TIMEOUT_S} s"


def forget_visits(driver: webdriver.Chrome, url: str) -> None:
    """Clear the site's cookies and local storage, so every load is a reader's first visit."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    clear = {"origin": origin, "storageTypes": "cookies,local_storage"}
    driver.execute_cdp_cmd("Storage.clearDataForOrigin", clear)


def _wait_ready(driver: webdriver.Chrome) -> None:
    """Wait until the current document has loaded (readyState "complete")."""
    WebDriverWait(driver, PAGE_TIMEOUT_S).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def short(url: str, base: str) -> str:
    """`url` relative to the served root, for messages: http://127.0.0.1:8000/a.html -> a.html."""
    return url.removeprefix(base) if url.startswith(base) else url


def console_errors(driver: webdriver.Chrome, base: str) -> list[str]:
    """The browser console's SEVERE messages since the last call (each once), minus favicon."""
    failures: dict[str, None] = {}  # ordered and unique: both loads of a page log the same
    for entry in driver.get_log("browser"):
        message = entry["message"]
        if entry["level"] != "SEVERE" or any(s in message for s in IGNORED_CONSOLE):
            continue
        failures[f"console error: {message.replace(base, '')}"] = None
    return list(failures)


def check_images(driver: webdriver.Chrome) -> tuple[int, list[str]]:
    """The page's number of <img>, and one failure per image that did not load."""
    count = driver.execute_script("return document.images.length")
    broken = driver.execute_script(JS_BROKEN_IMAGES)
    return count, [f"image did not load: <img src={src!r}>" for src in broken]


def check_alt_text(driver: webdriver.Chrome) -> list[str]:
    """A failure per <img> whose alt text is missing, empty, or a file name or path."""
    failures = []
    for image in driver.execute_script(JS_IMAGE_ALTS):
        src, alt = image["src"], image["alt"]
        if alt is None or not alt.strip():
            failures.append(f"image without alt text: <img src={src!r}>")
        elif alt.strip().lower().endswith(IMAGE_SUFFIXES) or "/_images/" in alt:
            failures.append(f"image alt text is a file name: <img src={src!r} alt={alt!r}>")
    return failures


def prose_text(driver: webdriver.Chrome, skip_code: bool) -> str:
    """The page's visible text outside <pre> and scripts (and outside <code> if `skip_code`)."""
    return driver.execute_script(JS_PROSE_TEXT, skip_code)


def check_math(driver: webdriver.Chrome, mathjax: str) -> tuple[int, list[str]]:
    """The number of math elements, and failures if any math source is left untypeset."""
    found = driver.execute_script(JS_MATH)
    raw = _find_all(r"\\\(|\\\[|\$\$", prose_text(driver, skip_code=True))
    failures = []
    if (found["math"] or raw) and not found["containers"]:
        failures.append(
            f"math not rendered: {found['math']} math elements and no <mjx-container> "
            f"(MathJax {mathjax})"
        )
    elif found["untypeset"]:
        failures.append(
            f"math not rendered: {found['untypeset']} of {found['math']} math elements "
            f"have no <mjx-container>, first: {found['first_untypeset']!r}"
        )
    if raw and found["containers"]:
        failures.append(f"math not rendered: raw TeX left in the text: {raw[0]!r}")
    failures += [f"math error: {message}" for message in found["errors"]]
    return found["math"], failures


def check_glue(driver: webdriver.Chrome) -> list[str]:
    """Failures for glued values that did not render, and for leftover system messages."""
    text = prose_text(driver, skip_code=False)
    failures = []
    for pattern in GLUE_PATTERNS:
        failures += [f"glue not rendered: {snippet!r}" for snippet in _find_all(pattern, text)]
    messages = driver.execute_script(JS_SYSTEM_MESSAGES)
    failures += [f"build message left in the page: {message!r}" for message in messages]
    return failures


def _find_all(pattern: str, text: str, context: int = 30) -> list[str]:
    """Each match of `pattern` in `text` with `context` characters around it."""
    return [
        " ".join(text[max(m.start() - context, 0) : m.end() + context].split())
        for m in re.finditer(pattern, text)
    ]


class _AnchorParser(HTMLParser):
    """Collects every id="..." and name="..." of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.anchors.update(value for key, value in attrs if key in ("id", "name") and value)


class LinkTargets:
    """Fetches each internal link target once (from the served site) and remembers it."""

    def __init__(self) -> None:
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._cache: dict[str, tuple[int, set[str]]] = {}

    def get(self, url: str) -> tuple[int, set[str]]:
        """The HTTP status of `url` and, for an HTML page, its ids and names."""
        if url not in self._cache:
            self._cache[url] = self._fetch(url)
        return self._cache[url]

    def _fetch(self, url: str) -> tuple[int, set[str]]:
        try:
            with self._opener.open(url, timeout=PAGE_TIMEOUT_S) as response:
                body = response.read()
                html = response.headers.get_content_type() == "text/html"
                status = response.status
        except urllib.error.HTTPError as error:
            error.close()
            return error.code, set()
        parser = _AnchorParser()
        if html:
            parser.feed(body.decode("utf-8", errors="replace"))
        return status, parser.anchors


def check_links(
    driver: webdriver.Chrome, page_url: str, base: str, targets: LinkTargets
) -> tuple[int, int, list[str]]:
    """Counts of internal and external links, and a failure per broken internal link."""
    internal = external = 0
    broken: Counter[str] = Counter()
    for href in driver.execute_script(JS_LINKS):
        parts = urlsplit(href)
        if parts.scheme == "mailto" or (
            parts.scheme in ("http", "https") and not href.startswith(base)
        ):
            external += 1
            continue
        if not href.startswith(base):  # javascript:, data:, tel: are not links to check
            continue
        internal += 1
        problem = _link_problem(driver, href, page_url, targets)
        if problem:
            broken[f"broken link {short(href, base)!r}: {problem}"] += 1
    failures = [m if n == 1 else f"{m} ({n} links)" for m, n in broken.items()]
    return internal, external, failures


def _link_problem(
    driver: webdriver.Chrome, href: str, page_url: str, targets: LinkTargets
) -> str | None:
    """Why an internal link does not resolve, or None when it does."""
    url, fragment = urldefrag(href)
    fragment = unquote(fragment)
    if url == page_url:  # same page: ids made by scripts count too
        if fragment and not driver.execute_script(JS_HAS_ANCHOR, fragment):
            return f"no element with id or name {fragment!r} on this page"
        return None
    status, anchors = targets.get(url)
    if status != 200:
        return f"HTTP {status}"
    if fragment and fragment not in anchors:
        return f"no element with id or name {fragment!r} in the target page"
    return None


def check_code_width(driver: webdriver.Chrome) -> list[str]:
    """A failure if a code block scrolls sideways at the current (desktop) width."""
    wide = driver.execute_script(JS_WIDE_CODE)
    if not wide:
        return []
    widest = max(wide, key=lambda block: block["scroll_width"] - block["client_width"])
    blocks = "a code block" if len(wide) == 1 else f"{len(wide)} code blocks"
    return [
        f"{blocks} wider than the column at {DESKTOP[0]} px; widest: "
        f"{widest['scroll_width']} px in {widest['client_width']} px, its longest line "
        f"{widest['line'].strip()[:60]!r}"
    ]


@functools.cache
def axe_source() -> str:
    """The text of axe.min.js, installed from tools/axe/package-lock.json."""
    if not AXE.is_file():
        raise SystemExit(
            f"check-site: no {AXE.relative_to(ROOT)}: run `bash tools/install-browser.sh` "
            "(it installs axe-core from tools/axe/package-lock.json)"
        )
    return AXE.read_text(encoding="utf-8")


def run_axe(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """axe-core's violations on the loaded page: id, impact, help, nodes, first target, html."""
    driver.execute_script(axe_source())
    driver.set_script_timeout(AXE_TIMEOUT_S)
    try:
        found = driver.execute_async_script(JS_AXE_RUN)
    except (JavascriptException, TimeoutException) as error:
        found = {"error": error.msg}
    finally:
        driver.set_script_timeout(WAIT_TIMEOUT_S)
    if isinstance(found, dict):
        raise RuntimeError(f"check-site: axe-core did not run: {found['error']}")
    return found


def luminance(colour: str) -> float:
    """Relative luminance (0 black, 1 white) of a CSS colour as computed: "rgb(18, 18, 18)"."""
    channels = [float(n) / 255 for n in re.findall(r"[\d.]+", colour)[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def audit_modes(driver: webdriver.Chrome, result: PageResult, stem: Path | None) -> list[str]:
    """Audit the loaded page with axe-core in each colour mode of the theme (reloading it in
    the next), photographing each if `stem`; the failures, the rest recorded in `result`."""
    failures = []
    violations = {}
    for mode in MODES:
        if mode != MODES[0]:
            reload_in_mode(driver, mode)
        shown = driver.execute_script(JS_MODE)
        result.backgrounds[mode] = shown["background"]
        dark = luminance(shown["background"]) < DARK_LUMINANCE
        if shown["themed"] and (shown["theme"] != mode or dark != (mode == "dark")):
            failures.append(  # an audit of the wrong colours would mislead
                f"{mode} mode did not apply: data-theme={shown['theme']!r}, "
                f"data-mode={shown['mode']!r}, background {shown['background']}"
            )
            continue
        violations[mode] = run_axe(driver)
        if stem:
            suffix = "" if mode == MODES[0] else f"-{mode}"
            name = f"{stem.name}-desktop{suffix}.png"
            result.screenshots.append(screenshot(driver, stem.with_name(name)))
        if not shown["themed"]:
            break  # a page without colour modes has one look, audited now
    return failures + check_accessibility(violations, result)


def check_accessibility(
    violations: dict[str, list[dict[str, Any]]], result: PageResult
) -> list[str]:
    """A failure per serious or critical axe violation (`violations` by mode, one line for a
    violation alike in every mode); the others are counted and described in `result`."""
    modes_of: dict[tuple, list[str]] = {}
    for mode, found in violations.items():
        counts = result.accessibility.setdefault(mode, {"moderate": 0, "minor": 0})
        for v in found:
            if v["impact"] not in FAILING_IMPACTS:
                counts[v["impact"]] = counts.get(v["impact"], 0) + 1
            key = (v["id"], v["impact"], v["help"], v["nodes"], v["target"], v["html"])
            modes_of.setdefault(key, []).append(mode)
    failures = []
    for (rule, impact, help_text, nodes, target, html), modes in modes_of.items():
        snippet = " ".join((html or "").split())
        snippet = snippet if len(snippet) <= 100 else snippet[:99] + "…"
        line = (
            f"accessibility ({', '.join(modes)}): {impact} {rule}: {help_text}; "
            f"{nodes} node{'s' if nodes != 1 else ''}, first: {target} ({snippet})"
        )
        if impact in FAILING_IMPACTS:
            failures.append(line)
        else:
            result.accessibility_notes.append(line)
    return failures


def check_phone_width(driver: webdriver.Chrome) -> list[str]:
    """A failure if the page scrolls sideways at the current (phone) width, naming the culprit."""
    widest = driver.execute_script(JS_WIDEST)
    if widest is None:
        return []
    culprit = (
        f"; widest: {widest['element']} reaches {widest['right']} px ({widest['text']!r}), "
        f"{widest['overflowing']} elements overflow"
        if widest["element"]
        else ""
    )
    return [
        f"horizontal scroll at {PHONE[0]} px: page is {widest['scroll_width']} px wide, "
        f"viewport {widest['inner_width']} px{culprit}"
    ]


def screenshot(driver: webdriver.Chrome, path: Path) -> str:
    """Save the viewport as a PNG at `path`; return the path as a string."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not driver.save_screenshot(str(path)):
        raise RuntimeError(f"check-site: could not write the screenshot {path}")
    return str(path)


def check_sampler(driver: webdriver.Chrome, result: PageResult) -> list[str]:
    """On the sampler page: the page's code computes torch's probabilities (within the
    recorded tolerance), a seed gives the same names each time, sampling is fast, and bad
    input gets a message. Fills in ``result.sampler``."""
    ready = driver.execute_script(
        "return [...document.querySelectorAll('.charlm-sampler')].map((r) => r.dataset.ready)"
    )
    if ready != ["true"]:
        text = driver.execute_script(
            "const r = document.querySelector('.charlm-sampler'); return r && r.textContent"
        )
        return [f"the sampler did not start (data-ready {ready}): {' '.join(str(text).split())}"]
    driver.set_script_timeout(AXE_TIMEOUT_S)
    try:
        found = driver.execute_async_script(JS_SAMPLER_CHECK)
    finally:
        driver.set_script_timeout(WAIT_TIMEOUT_S)
    if "error" in found:
        return [f"the sampler check could not run: {found['error']}"]
    result.sampler = found
    failures = []
    for model in found["models"]:
        if not model["checks"]:
            failures.append(f"sampler: no torch probabilities recorded for {model['key']}")
        if not model["diff"] <= found["tolerance"]:
            failures.append(
                f"sampler: {model['key']}'s probabilities differ from torch's by "
                f"{model['diff']:.2e} (at most {found['tolerance']:.0e})"
            )
        if not model["same"]:
            failures.append(f"sampler: {model['key']} drew different names with the same seed")
        if not model["ms"] < SAMPLER_MS:
            failures.append(
                f"sampler: {found['names']} names from {model['key']} took {model['ms']:.1f} ms "
                f"(median of 5; at most {SAMPLER_MS})"
            )
    messages = driver.execute_script(JS_SAMPLER_BAD_INPUT)
    if '"Z"' not in messages["prefix"]:
        failures.append(f"sampler: a prefix with Z got the message {messages['prefix']!r}")
    if "temperature" not in messages["temperature"].lower():
        failures.append(f"sampler: a temperature of 'hot' got {messages['temperature']!r}")
    if messages["after"]:
        failures.append(f"sampler: good input still shows {messages['after']!r}")
    return failures


def sampler_line(found: dict[str, Any]) -> str:
    """The sampler check in one line per model, for the report."""
    lines = [
        f"  {m['key']:<14} {m['checks']} contexts, largest difference from torch "
        f"{m['diff']:.1e}; {found['names']} names in {m['ms']:.1f} ms "
        f"({m['low']:.1f}-{m['high']:.1f}, 5 runs)"
        for m in found["models"]
    ]
    return "\n".join(lines)


def check_page(
    driver: webdriver.Chrome, base: str, page: str, targets: LinkTargets, shots: Path | None
) -> PageResult:
    """Open one page at desktop width (light, then reloaded dark), then afresh at phone width,
    and run every check."""
    result = PageResult(page)
    stem = shots / shot_name(page) if shots is not None and is_chapter(page) else None
    driver.get_log("browser")  # drop what earlier pages logged
    set_viewport(driver, DESKTOP)
    mathjax = load(driver, base + page)
    shown = short(driver.current_url.split("#")[0], base)
    result.shown = shown if shown != page else None
    result.failures += desktop_checks(driver, result, mathjax, base, targets)
    if page == SAMPLER_PAGE:
        result.failures += check_sampler(driver, result)
        load(driver, base + page)  # as a reader first sees it, for the audit and screenshots
    result.failures += audit_modes(driver, result, stem)
    # load again rather than resize: the theme animates its sidebars away on a resize
    set_viewport(driver, PHONE)
    load(driver, base + page)
    result.failures += check_phone_width(driver)
    if stem:
        result.screenshots.append(screenshot(driver, stem.with_name(f"{stem.name}-phone.png")))
    result.failures = console_errors(driver, base) + result.failures
    return result


def desktop_checks(
    driver: webdriver.Chrome, result: PageResult, mathjax: str, base: str, targets: LinkTargets
) -> list[str]:
    """Images and their alt text, math, glue, links and code widths of the loaded page; fills
    in `result`'s counts."""
    failures = []
    result.images, found = check_images(driver)
    failures += found
    failures += check_alt_text(driver)
    failures += check_code_width(driver)
    result.math, found = check_math(driver, mathjax)
    failures += found
    failures += check_glue(driver)
    page_url = driver.current_url.split("#")[0]
    result.internal_links, result.external_links, found = check_links(
        driver, page_url, base, targets
    )
    return failures + found


def check_site(
    root: Path, pages: Sequence[str] | None = None, shots: Path | None = None
) -> list[PageResult]:
    """Serve `root`, open every page (or `pages`) in headless Chromium, and check each."""
    if not (root / "index.html").is_file() and not pages:
        raise SystemExit(f"check-site: no {root}/index.html: run make book first")
    axe_source()  # missing: say so before starting a browser
    targets = LinkTargets()
    with serve(root) as base, browser() as driver:
        return [check_page(driver, base, page, targets, shots) for page in find_pages(root, pages)]


def summary_line(result: PageResult) -> str:
    """One line per page: its verdict and what was checked."""
    verdict = "ok  " if result.ok else "FAIL"
    counts = (
        f"{result.images} images, {result.math} math, {result.internal_links} internal and "
        f"{result.external_links} external links"
    )
    notes = len(result.accessibility_notes)
    if notes:
        counts += f", {notes} moderate/minor accessibility note{'s' if notes != 1 else ''}"
    problems = "" if result.ok else f"  -> {len(result.failures)} problem(s)"
    page = f"{result.page} -> {result.shown}" if result.shown else result.page
    return f"{verdict} {page}  ({counts}){problems}"


def report(results: Sequence[PageResult]) -> str:
    """The per-page lines, the failures page by page, and the total."""
    lines = []
    for result in results:
        lines.append(summary_line(result))
        if result.sampler:
            lines.append(sampler_line(result.sampler))
    failed = [result for result in results if not result.ok]
    for result in failed:
        lines.append(f"\n{result.page}:")
        lines += [f"  - {failure}" for failure in result.failures]
    total = sum(len(result.failures) for result in results)
    lines.append(
        f"\ncheck-site: {len(results)} pages, {len(results) - len(failed)} passed, "
        f"{len(failed)} failed ({total} failures)"
    )
    return "\n".join(lines)


def write_json(results: Sequence[PageResult], path: Path) -> None:
    """Write the results as JSON: every page with its counts, failures and screenshots."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "ok": all(result.ok for result in results),
        "pages": [asdict(result) | {"ok": result.ok} for result in results],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line: the site folder, where screenshots and the report go, which pages."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path, help="the built site, e.g. _build/html")
    parser.add_argument("--screenshots", type=Path, help="folder for the PNGs (none if unset)")
    parser.add_argument(
        "--report", type=Path, help="JSON report (default: site-check.json beside --screenshots)"
    )
    parser.add_argument("--pages", nargs="+", help="only these pages, relative to the site")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; print the summary; return 0 when every page passes, 1 otherwise."""
    args = parse_args(argv)
    results = check_site(args.site, args.pages, args.screenshots)
    print(report(results))
    json_path = args.report or (args.screenshots and args.screenshots.parent / "site-check.json")
    if json_path:
        write_json(results, json_path)
        print(f"check-site: report in {json_path}")
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
