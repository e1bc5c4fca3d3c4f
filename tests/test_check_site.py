"""tools/check_site.py on tiny hand-written sites: a good one passes, each breakage is named.

These drive the real headless Chromium (Debian's chromium and chromium-driver, installed by
`bash tools/install-browser.sh`, as is axe-core) and are skipped, with that reason, where
either is missing. The pages switch colour mode the way the book's theme does (an attribute
data-theme on <html>, from localStorage), so each is audited in light and in dark mode.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import struct
import sys
import zlib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AXE = ROOT / "tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM.is_file() and CHROMEDRIVER.is_file() and AXE.is_file()),
        reason=f"no {CHROMIUM}, {CHROMEDRIVER} or axe-core: run `bash tools/install-browser.sh`",
    ),
]
pytest.importorskip("selenium", reason="selenium is not installed: make installs .[site]")

PAGE = """\
<!DOCTYPE html>
<html lang="en" data-theme="light">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title>
<script>document.documentElement.dataset.theme = localStorage.getItem("theme") || "light";</script>
<style>
html[data-theme="dark"] body {{ background: #121212; color: #e0e0e0; }}
html[data-theme="dark"] a {{ color: #8ab4f8; }}
</style></head>
<body>
<h1 id="top">{title}</h1>
{body}
</body>
</html>
"""

GOOD = {
    # the last paragraph fades in, as the theme's sections do: audited once it has
    "index.html": """
<style>
.fade { animation: fade-in 1.5s linear; }
@keyframes fade-in { from { opacity: 0.05; } to { opacity: 1; } }
</style>
<p><img src="dot.png" alt="a red dot"></p>
<p><a href="#top">top</a>, <a href="index.html#top">top again</a>, <a href="./">home</a></p>
<p><a href="https://example.org/">elsewhere</a>, <a href="mailto:someone@example.org">mail</a></p>
<p class="fade">faint at first</p>
""",
}

BROKEN = {
    "broken_image.html": '<p><img src="missing.png" alt="gone"></p>',
    "broken_link.html": """
<p><a href="nowhere.html">a page that does not exist</a></p>
<p><a href="index.html#no-such-anchor">a heading that does not exist</a></p>
<p><a href="#nope">nor here</a></p>
""",
    "broken_render.html": """
<div id="wide" style="width: 900px">a table far too wide for a phone</div>
<p>The loss is {glue:text}`final_loss`.</p>
<p>Its square is <span class="math notranslate nohighlight">\\(x^2\\)</span>.</p>
<script>console.error("boom");</script>
""",
    # axe-core: a button and a field with no name (critical in both modes), and text that
    # is faint on the dark background only (serious, in dark mode)
    "inaccessible.html": """
<style>html[data-theme="dark"] .faint { color: #333; }</style>
<p><button></button> <input type="text"></p>
<p class="faint">hard to read in the dark</p>
""",
    # axe-core takes these; the file names say nothing to a reader, and "" hides the image
    "bad_alt.html": """
<p><img src="dot.png" alt="../_images/dot.png"> <img src="dot.png" alt="dot.PNG"></p>
<p><img src="dot.png" alt=" "></p>
""",
    # the page says it is dark but stays white: its dark-mode audit would check the wrong colours
    "no_dark.html": '<style>html[data-theme="dark"] body { background: #fff; }</style>',
    # the column is narrower than the line: the block scrolls sideways at desktop width
    "wide_code.html": f"""
<div class="highlight" style="max-width: 600px"><pre style="overflow-x: auto">short = 1
long_line = {" + ".join(f"value_{i}" for i in range(40))}
</pre></div>
""",
}


def png(width: int, height: int) -> bytes:
    """A solid red RGB PNG, written with the standard library only."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG file, from its IHDR chunk."""
    return struct.unpack(">II", path.read_bytes()[16:24])


def make_site(root: Path, pages: dict[str, str]) -> Path:
    """Write `pages` (name -> body) and the image they use into `root`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dot.png").write_bytes(png(4, 4))
    for name, body in pages.items():
        (root / name).write_text(PAGE.format(title=name.removesuffix(".html"), body=body))
    return root


def run(check_site: ModuleType, args: list[str]) -> tuple[int, str]:
    """Run the command line; return its exit status and what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = check_site.main(args)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def check_site() -> ModuleType:
    """tools/check_site.py, imported from its path (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("check_site", ROOT / "tools" / "check_site.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_site"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def broken(check_site: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The check of a site with the good page and every broken one: status, output, report."""
    root = tmp_path_factory.mktemp("broken")
    site = make_site(root / "html", GOOD | BROKEN)
    code, out = run(check_site, [str(site), "--report", str(root / "report.json")])
    pages = json.loads((root / "report.json").read_text())["pages"]
    return {"code": code, "out": out, "pages": {page["page"]: page for page in pages}}


def test_a_good_site_passes_and_is_photographed(check_site: ModuleType, tmp_path: Path) -> None:
    site = make_site(tmp_path / "html", GOOD)
    shots = tmp_path / "screenshots"
    code, out = run(check_site, [str(site), "--screenshots", str(shots)])
    assert code == 0, out
    assert "ok   index.html" in out
    assert png_size(shots / "index-desktop.png") == (1280, 900)
    assert png_size(shots / "index-desktop-dark.png") == (1280, 900)
    assert png_size(shots / "index-phone.png") == (390, 844)
    report = json.loads((tmp_path / "site-check.json").read_text())  # beside the screenshots
    (page,) = report["pages"]
    assert report["ok"] and page["failures"] == []
    assert (page["images"], page["internal_links"], page["external_links"]) == (1, 3, 2)
    # audited in both colour modes, the dark one really dark
    assert page["backgrounds"] == {"light": "rgb(255, 255, 255)", "dark": "rgb(18, 18, 18)"}
    assert set(page["accessibility"]) == {"light", "dark"}


def test_a_page_without_colour_modes_is_audited_once(
    check_site: ModuleType, tmp_path: Path
) -> None:
    site = make_site(tmp_path / "html", {})
    plain = '<!DOCTYPE html><html lang="en"><title>plain</title><h1>plain</h1><p>one look</p>'
    (site / "index.html").write_text(plain)
    code, out = run(check_site, [str(site), "--report", str(tmp_path / "report.json")])
    assert code == 0, out
    (result,) = json.loads((tmp_path / "report.json").read_text())["pages"]
    assert list(result["backgrounds"]) == list(result["accessibility"]) == ["light"]


def test_without_axe_core_it_says_how_to_install_it(
    check_site: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = make_site(tmp_path / "html", GOOD)
    monkeypatch.setattr(check_site, "AXE", ROOT / "tools" / "axe" / "no-such-axe.min.js")
    check_site.axe_source.cache_clear()
    try:
        with pytest.raises(SystemExit, match=r"run `bash tools/install-browser.sh`"):
            check_site.main([str(site)])
    finally:
        check_site.axe_source.cache_clear()


def test_a_broken_site_exits_1_and_lists_its_failures(broken: dict) -> None:
    assert broken["code"] == 1
    assert "8 pages, 1 passed, 7 failed" in broken["out"]
    assert broken["pages"]["index.html"]["failures"] == []


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("broken_image.html", ["image did not load: <img src='missing.png'>"]),
        (
            "broken_link.html",
            [
                "broken link 'nowhere.html': HTTP 404",
                "broken link 'index.html#no-such-anchor': no element with id or name "
                "'no-such-anchor' in the target page",
                "broken link 'broken_link.html#nope': no element with id or name 'nope' "
                "on this page",
            ],
        ),
        (
            "broken_render.html",
            [
                "horizontal scroll at 390 px",
                "widest: div#wide reaches 9",
                "glue not rendered: '",
                "The loss is {glue:text}`final_loss`.",
                "math not rendered: 1 math elements and no <mjx-container>",
                "console error: broken_render.html",
                '"boom"',
            ],
        ),
        (
            "inaccessible.html",
            [
                "accessibility (light, dark): critical button-name: Buttons must have "
                "discernible text; 1 node, first: button (<button></button>)",
                "accessibility (light, dark): critical label: Form elements must have labels; "
                '1 node, first: input (<input type="text">)',
                "accessibility (dark): serious color-contrast:",
                "first: .faint",
            ],
        ),
        (
            "bad_alt.html",
            [
                "image alt text is a file name: <img src='dot.png' alt='../_images/dot.png'>",
                "image alt text is a file name: <img src='dot.png' alt='dot.PNG'>",
                "image without alt text: <img src='dot.png'>",
            ],
        ),
        (
            "no_dark.html",
            [
                "dark mode did not apply: data-theme='dark', data-mode=None, "
                "background rgb(255, 255, 255)"
            ],
        ),
        (
            "wide_code.html",
            [
                "a code block wider than the column at 1280 px; widest: ",
                "px in 600 px, its longest line 'long_line = value_0 + value_1 + value_2",
            ],
        ),
    ],
)
def test_each_broken_page_fails_naming_its_problem(
    broken: dict, page: str, expected: list[str]
) -> None:
    failures = "\n".join(broken["pages"][page]["failures"])
    for text in expected:
        assert text in failures
        assert text in broken["out"]


# --- the sampler page ----------------------------------------------------------------------

SAMPLER_BODY = """
<link rel="stylesheet" href="../_static/charlm.css">
<div class="charlm-sampler" data-models="../_static/sampler/data/models.json"
     data-names="../_static/sampler/data/names.json"><p>Loading the models.</p></div>
<script src="../_static/sampler/charlm-models.js"></script>
<script src="../_static/sampler/sampler.js"></script>
"""


def sampler_site(root: Path) -> Path:
    """The book's sampler page with two small models, published as the book's page does."""
    import shutil

    import torch

    from charlm.bigram import CountingNgram
    from charlm.bookbuild.records import TIMED_NAMES, TOLERANCE, load_models, record_model
    from charlm.data import build_dataset
    from charlm.recurrent import RecurrentConfig
    from charlm.vocab import Vocab

    words = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "zoe"]
    vocab = Vocab.from_words(words)
    records = root / "records"
    counts = CountingNgram(len(vocab)).fit(*build_dataset(words, vocab, 1))
    record_model(key="bigram", title="Bigram", chapter=1, model=counts, vocab=vocab,
                 kind="counts", config={"block_size": 1, "smoothing": 1.0}, trained_on="all",
                 folder=records)  # fmt: skip
    config = RecurrentConfig(cell="gru", vocab_size=len(vocab), n_embd=4, n_hidden=8,
                             block_size=9)  # fmt: skip
    gru = config.build(torch.Generator().manual_seed(0))
    record_model(key="gru", title="GRU", chapter=7, model=gru, vocab=vocab, kind="gru",
                 config=config, folder=records)  # fmt: skip
    site = make_site(root / "html", {})
    (site / "book").mkdir()
    (site / "book" / "sampler.html").write_text(PAGE.format(title="sampler", body=SAMPLER_BODY))
    static = site / "_static" / "sampler"
    shutil.copytree(ROOT / "book" / "_static" / "sampler", static)
    shutil.copy(ROOT / "book" / "_static" / "charlm.css", site / "_static")
    data = static / "data"
    data.mkdir()
    models = load_models(records)
    for record in models:
        shutil.copy(record["path"], data / record["file"])
    keys = ("key", "title", "chapter", "file", "trained_on")
    (data / "models.json").write_text(json.dumps([{k: r[k] for k in keys} for r in models]))
    (data / "names.json").write_text(json.dumps({"train": words[:6], "other": words[6:]}))
    expected = {"tolerance": TOLERANCE, "timed_names": TIMED_NAMES,
                "models": {r["key"]: r["checks"] for r in models}}  # fmt: skip
    (data / "expected.json").write_text(json.dumps(expected))
    return site


def test_the_sampler_page_computes_torchs_probabilities_and_a_perturbed_weight_fails(
    check_site: ModuleType, tmp_path: Path
) -> None:
    site = sampler_site(tmp_path)
    report = tmp_path / "report.json"
    code, out = run(
        check_site, [str(site), "--pages", "book/sampler.html", "--report", str(report)]
    )
    assert code == 0, out
    (page,) = json.loads(report.read_text())["pages"]
    found = {m["key"]: m for m in page["sampler"]["models"]}
    assert set(found) == {"bigram", "gru"}
    # "", "a", "emm" and a full window: the other starts need letters these names lack
    assert all(m["checks"] == 4 and m["diff"] < 1e-6 and m["same"] for m in found.values())
    assert "largest difference from torch" in out
    # one weight of the GRU moved by 0.01 (a float32 in the middle of its data): it shows
    path = site / "_static" / "sampler" / "data" / "gru.charlm"
    blob = bytearray(path.read_bytes())
    (size,) = struct.unpack("<I", blob[:4])
    header = json.loads(blob[4 : 4 + size])
    head = next(t for t in header["tensors"] if t["name"] == "head.weight")
    at = 4 + size + 4 * (head["offset"] + 1)
    (value,) = struct.unpack("<f", blob[at : at + 4])
    blob[at : at + 4] = struct.pack("<f", value + 0.01)
    path.write_bytes(bytes(blob))
    code, out = run(check_site, [str(site), "--pages", "book/sampler.html"])
    assert code == 1
    assert "gru's probabilities differ from torch's" in out and "bigram's" not in out
