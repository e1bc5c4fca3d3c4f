"""Tables for the book: formats the rows it is given and computes nothing (Chapter 2 on)."""

from __future__ import annotations

from collections.abc import Sequence


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; floats are shown with 4 decimals, ints with thousands separators.

    None (a value that does not exist, such as a split a model was not scored on) is "–".

    >>> print(markdown_table(["model", "loss"], [["mlp", 2.16549], ["params", 11897], ["x", None]]))
    | model | loss |
    |---|---|
    | mlp | 2.1655 |
    | params | 11,897 |
    | x | – |
    """
    if any(len(row) != len(headers) for row in rows):
        raise ValueError("every row needs one cell per header")

    def cell(value: object) -> str:
        if value is None:
            return "–"
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, float):
            return f"{value:.4f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
