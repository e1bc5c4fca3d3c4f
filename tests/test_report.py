import pytest

from charlm.report import markdown_table


def test_rows_must_match_headers():
    with pytest.raises(ValueError, match="one cell per header"):
        markdown_table(["a", "b"], [[1]])


def test_cells_are_formatted():
    table = markdown_table(["x"], [[0.123456], [1234567], ["text"], [True]])
    assert table.splitlines()[2:] == ["| 0.1235 |", "| 1,234,567 |", "| text |", "| True |"]
