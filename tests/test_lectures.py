"""Static checks of the lecture notebooks in notebooks/ (fast; no kernel is started).

nbval itself is not run here: CI runs
``pytest --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg notebooks/``
once per start method. These tests keep the notebooks honest between those runs:

* at least 80% of the code cells that have output are compared by nbval (not ignored);
* the first code cell imports ``mpcourse`` (it applies COURSE_START_METHOD and lets
  notebook-defined functions travel to child processes);
* no code cell is longer than 30 lines (a lecture cell is read, not scrolled).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
MIN_COMPARED = 0.8
MAX_CELL_LINES = 30
IGNORE_TAGS = {"nbval-ignore-output", "nbval-skip"}
IGNORE_COMMENTS = {"NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP", "PYTEST_VALIDATE_IGNORE_OUTPUT"}


def code_cells(nb) -> list:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def is_ignored(cell) -> bool:
    """True when nbval does not compare this cell's output (a tag, or a marker comment as nbval reads it)."""
    if IGNORE_TAGS & set(cell.get("metadata", {}).get("tags", [])):
        return True
    comments = (line.strip().lstrip("#").strip() for line in cell.source.splitlines()
                if line.strip().startswith("#"))
    return any(comment in IGNORE_COMMENTS for comment in comments)


def comparison_counts(nb) -> tuple[int, int]:
    """(code cells with output, of which ignored by nbval)."""
    with_output = [cell for cell in code_cells(nb) if cell.get("outputs")]
    return len(with_output), sum(is_ignored(cell) for cell in with_output)


def check_enough_compared(nb, name: str) -> None:
    with_output, ignored = comparison_counts(nb)
    if with_output == 0:
        return
    compared = with_output - ignored
    assert compared / with_output >= MIN_COMPARED, (
        f"{name}: only {compared} of {with_output} code cells with output are compared by nbval "
        f"({ignored} ignored); at least {MIN_COMPARED:.0%} must be compared")


def imports_mpcourse(source: str) -> bool:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "mpcourse" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "mpcourse":
            return True
    return False


def synthetic_notebook(n_compared: int, n_ignored: int):
    """A notebook whose cells all have output; ``n_ignored`` of them carry nbval-ignore-output."""
    nb = new_notebook()
    for i in range(n_compared + n_ignored):
        cell = new_code_cell(f"print({i})", execution_count=i + 1,
                             outputs=[new_output("stream", name="stdout", text=f"{i}\n")])
        if i >= n_compared:
            cell.metadata["tags"] = ["nbval-ignore-output"]
        nb.cells.append(cell)
    return nb


def test_there_are_lecture_notebooks():
    assert NOTEBOOKS, "no notebooks/*.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_most_outputs_are_compared(path):
    check_enough_compared(nbformat.read(path, as_version=4), path.name)


def test_the_comparison_check_fails_when_too_many_outputs_are_ignored():
    check_enough_compared(synthetic_notebook(8, 2), "8 compared, 2 ignored")      # 80%: fine
    with pytest.raises(AssertionError, match="only 7 of 10"):
        check_enough_compared(synthetic_notebook(7, 3), "7 compared, 3 ignored")
    nb = synthetic_notebook(1, 0)
    nb.cells.append(new_code_cell("# NBVAL_IGNORE_OUTPUT\nprint(2)", execution_count=2,
                                  outputs=[new_output("stream", name="stdout", text="2\n")]))
    assert comparison_counts(nb) == (2, 1)      # the comment marker counts as ignored too
    with pytest.raises(AssertionError):
        check_enough_compared(nb, "one of two ignored by comment")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_imports_mpcourse(path):
    cells = code_cells(nbformat.read(path, as_version=4))
    assert cells, f"{path.name} has no code cell"
    assert imports_mpcourse(cells[0].source), (
        f"{path.name}: the first code cell must import mpcourse (it applies COURSE_START_METHOD "
        "and lets notebook-defined functions reach child processes)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_code_cell_is_longer_than_30_lines(path):
    long_cells = [(i, len(cell.source.splitlines()))
                  for i, cell in enumerate(nbformat.read(path, as_version=4).cells)
                  if cell.cell_type == "code" and len(cell.source.splitlines()) > MAX_CELL_LINES]
    assert not long_cells, f"{path.name}: cells (index, lines) longer than {MAX_CELL_LINES} lines: {long_cells}"


CHECKLIST_HEADING = "## Review checklist"


def checklist_references(text: str) -> list[tuple[str, int, bool]]:
    """(notebook number, cell index, marked ✓) for every ``NN cM`` / ``cM ✓`` in the checklist.

    A bare ``cM`` belongs to the last notebook named before it on the same line.
    """
    found = []
    for line in text.split(CHECKLIST_HEADING, 1)[1].splitlines():
        notebook = None
        for match in re.finditer(r"\b(0[1-7]) c(\d+)( ✓)?|\bc(\d+)( ✓)?", line):
            if match.group(1):
                notebook = match.group(1)
                found.append((notebook, int(match.group(2)), bool(match.group(3))))
            elif notebook:
                found.append((notebook, int(match.group(4)), bool(match.group(5))))
    return found


def test_the_review_checklist_points_at_cells_that_exist_and_compared_cells_where_it_says_so():
    readme = (NOTEBOOKS[0].parent / "README.md").read_text(encoding="utf-8")
    references = checklist_references(readme)
    assert len(references) > 60, "the checklist in notebooks/README.md lost its cell references"
    notebooks = {path.name[:2]: nbformat.read(path, as_version=4) for path in NOTEBOOKS}
    for number, index, compared in references:
        cells = notebooks[number].cells
        assert index < len(cells), f"checklist: {number} c{index} does not exist"
        if compared:
            cell = cells[index]
            assert cell.cell_type == "code" and cell.get("outputs") and not is_ignored(cell), (
                f"checklist: {number} c{index} is marked ✓ (compared by nbval) but is not a compared code cell "
                "with output")


def test_the_checklist_parser_reads_notebook_and_bare_references():
    text = f"{CHECKLIST_HEADING}\n| a | 01 c25, c26 ✓ (x) | 04 c3 |\nno notebook: c9 ✓\n"
    assert checklist_references(text) == [("01", 25, False), ("01", 26, True), ("04", 3, False)]
