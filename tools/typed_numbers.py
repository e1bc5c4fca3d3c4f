"""Numbers typed into the chapters' prose: ``python tools/typed_numbers.py [PAGE ...]``.

The book promises that every number its text states comes from the build (a ``glue``
role) or is an input the reader sees in the code beside it. This finds the others: every
number in a page's prose, outside

- code: code cells and every other fenced block (listings, figures' options), inline code;
- math: ``$...$``, ``$$...$$`` and the ``{math}`` role;
- roles whose text is not prose: ``{glue:...}``, ``{numref}``, ``{ref}``, ``{cite:...}``,
  ``{doc}``, ``{download}``, ``{eq}``;
- link targets, labels ``(name)=``, HTML comments and the front matter;

and results spelled out ("four times", "nine orders of magnitude", "twice as"); and accepts

- an input: a number written in the code the reader sees beside it (a code cell or a
  listing of the package, ``literalinclude`` with ``:pyobject:``, in its section, or the
  nearest one either side):
  ``200,000`` matches ``200_000`` or ``200000``, ``80%`` matches ``0.8``; a hidden cell's
  code, which the reader does not see, does not count;
- 0 and 1, chapter, part and lecture numbers, and years (``EVERYWHERE``);
- a phrase of a page's entry in ``ALLOWED``: a regular expression, with the reason it is
  not a result of the build (a figure the lectures printed, quoted as theirs).

Prints each typed number as ``book/PAGE.md:LINE: 'NUMBER' in ...context...`` and exits 1 if
there is any.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("0*.md"))

# accepted on every page: chapter, part and lecture numbers, headings' numbers, and years
EVERYWHERE = [
    r"\bChapters? \d+(\s*(–|-|and|to|,)\s*\d+)*",
    r"\b(Part|Lecture)s? \d+",
    r"^# \d+\.",  # the chapter's number in its title
    r"\b(19|20)\d\d\b",  # a year
    r"\b\d-D\b",  # a tensor's number of dimensions, as in "3-D input"
]

# per page: (pattern, why the numbers in its matches are not results of the build)
ALLOWED: dict[str, list[tuple[str, str]]] = {
    "06_fast": [
        (
            r"paid\s+half as often|With half as many updates|twice as large",
            "the first exercise's own change, half the steps: not a measurement",
        ),
    ],
}

NUMBER = re.compile(r"(?<![\w.])[−-]?\d[\d,]*(\.\d+)?(?!\w)%?")
# a result spelled out: "four times", "nine orders of magnitude", "twice as"
WORDS = "two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|hundred|thousand"
SPELLED = re.compile(
    rf"\b(({WORDS})\s+(times\b|orders?\s+of\s+magnitude)|twice\s+as|half\s+as)", re.I
)
ROLE_NOT_PROSE = re.compile(r"\{(glue(:\w+)?|numref|ref|cite(:\w+)?|doc|download|eq|math)\}`[^`]*`")
INLINE_CODE = re.compile(r"`[^`]*`")
DISPLAY_MATH = re.compile(r"\$\$.*?\$\$", re.S)
INLINE_MATH = re.compile(r"(?<!\\)\$[^$\n]+\$")
LINK_TARGET = re.compile(r"\]\([^)]*\)|<https?://[^>]*>|https?://\S+")
LABEL = re.compile(r"^\([\w-]+\)=\s*$", re.M)
COMMENT = re.compile(r"<!--.*?-->", re.S)
FENCE = re.compile(r"^\s*(`{3,}|:{3,})")
HIDDEN = re.compile(r"^:tags:.*\bremove-(cell|input)\b")  # code the reader never sees
# fenced blocks whose body is prose read as such (its option lines are not): a figure's
# caption, a note, an exercise
PROSE_BLOCKS = {"figure", "glue:figure", "note", "tip", "admonition", "exercise", "solution",
                "important", "warning", "seealso", "epigraph", "div", "margin"}  # fmt: skip


@dataclass(frozen=True)
class Found:
    """A number typed into a page's prose."""

    page: str  # the page's name, e.g. "01_bigram"
    line: int  # its line in the page's source, from 1
    number: str  # as typed
    context: str  # the number with a few words either side

    def __str__(self) -> str:
        return f"book/{self.page}.md:{self.line}: {self.number!r} in ...{self.context}..."


@dataclass(frozen=True)
class Cell:
    """A code cell the reader sees: its lines in the page's source, and its code."""

    first: int  # the line of its opening fence, from 1
    last: int  # the line of its closing fence
    code: str
    listing: bool = False  # a listing of the package's source, not a cell that runs


def blank(text: str, pattern: re.Pattern) -> str:
    """``text`` with every match of ``pattern`` replaced by spaces (newlines kept), so line
    numbers stay where they were."""
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def split_page(text: str) -> tuple[str, list[Cell]]:
    """The page's prose (everything else blanked out, lines in place) and its visible cells."""
    lines = text.split("\n")
    if lines and lines[0].strip() == "---":  # the front matter
        end = lines.index("---", 1)
        lines[: end + 1] = [""] * (end + 1)
    out: list[str] = []
    cells: list[Cell] = []
    fence = None  # (the fence's marks, its block's name, the index of its first line)
    for i, line in enumerate(lines):
        match = FENCE.match(line)
        if fence is None:
            if match:
                name = line[match.end() :].strip().strip("{").split("}")[0]
                fence = (match.group(1), name, i)
                out.append("")
            else:
                out.append(line)
            continue
        marks, name, first = fence
        if match and match.group(1) == marks and not line[match.end() :].strip():
            body = lines[first + 1 : i]
            if name == "code-cell" and not any(HIDDEN.match(b) for b in body):
                cells.append(Cell(first + 1, i + 1, "\n".join(body)))
            elif name == "literalinclude":
                cells.append(Cell(first + 1, i + 1, listing(lines[first], body), True))
            fence = None
            out.append("")
        elif name in PROSE_BLOCKS and not line.lstrip().startswith(":"):
            out.append(line)
        else:
            out.append("")
    prose = "\n".join(out)
    for pattern in (COMMENT, DISPLAY_MATH, ROLE_NOT_PROSE, INLINE_CODE, INLINE_MATH,
                    LINK_TARGET, LABEL):  # fmt: skip
        prose = blank(prose, pattern)
    return prose, cells


def listing(opening: str, options: list[str]) -> str:
    """The code a ``literalinclude`` shows: the object its ``:pyobject:`` names (all of the
    file without one)."""
    path = ROOT / "book" / opening.split("}", 1)[1].strip()
    source = path.read_text()
    names = [o.split(":", 2)[2].strip() for o in options if o.startswith(":pyobject:")]
    if not names:
        return source
    node: ast.AST = ast.parse(source)
    for name in names[0].split("."):
        node = next(n for n in ast.iter_child_nodes(node) if getattr(n, "name", None) == name)
    return ast.get_source_segment(source, node) or ""


def in_code(number: str, code: str) -> bool:
    """Whether ``number`` (as prose writes it) is written in ``code``."""
    plain = number.replace(",", "").replace("−", "-").lstrip("-")
    if plain.endswith("%"):  # 80% is written 0.8
        plain = f"{float(plain[:-1]) / 100:g}"
    forms = {plain}
    if "." not in plain and len(plain) > 3:  # 200000 is also written 200_000, or "200,000"
        forms |= {f"{int(plain):_}", f"{int(plain):,}"}
    return any(re.search(rf"(?<![\w.]){re.escape(f)}(?![\w])", code) for f in forms)


def beside(line: int, cells: list[Cell], headings: list[int]) -> list[Cell]:
    """The code the reader sees beside ``line``: every cell and listing of its section (from
    the heading before it to the next), and the nearest cell and listing either side."""
    start = max((h for h in headings if h <= line), default=0)
    end = min((h for h in headings if h > line), default=10**9)
    near = [c for c in cells if start < c.first and c.last < end]
    for kind in (False, True):
        before = [c for c in cells if c.last < line and c.listing is kind]
        after = [c for c in cells if c.first > line and c.listing is kind]
        near += before[-1:] + after[:1]
    return near


def typed_numbers(page: str, text: str) -> list[Found]:
    """Every number in ``text``'s prose that nothing above accepts."""
    prose, cells = split_page(text)
    headings = [i + 1 for i, line in enumerate(prose.split("\n")) if line.startswith("#")]
    patterns = EVERYWHERE + [p for p, _ in ALLOWED.get(page, [])]
    covered: set[int] = set()  # character positions inside an accepted phrase
    for pattern in patterns:
        for m in re.finditer(pattern, prose, re.M):
            covered.update(range(m.start(), m.end()))
    found = []
    for m in [*NUMBER.finditer(prose), *SPELLED.finditer(prose)]:
        number = m.group(0).rstrip(",")
        line = prose.count("\n", 0, m.start()) + 1
        if m.start() in covered or number.lstrip("−-") in ("0", "1", "0%"):
            continue
        near = beside(line, cells, headings)
        if number[0].isdigit() and any(in_code(number, c.code) for c in near):
            continue
        start, end = max(0, m.start() - 30), min(len(prose), m.end() + 30)
        found.append(Found(page, line, number, " ".join(prose[start:end].split())))
    return sorted(found, key=lambda f: f.line)


def main(paths: list[str]) -> int:
    pages = [Path(p) for p in paths] or CHAPTERS
    found = [f for path in pages for f in typed_numbers(path.stem, path.read_text())]
    for f in found:
        print(f)
    print(f"{len(found)} typed number(s) in {len(pages)} page(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
