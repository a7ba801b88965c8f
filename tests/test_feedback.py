"""mpcourse.feedback on a small notebook: exercise names, hidden tests hidden, pictures described, no warnings."""
from __future__ import annotations

import logging

import nbformat
from mpcourse.feedback import ClearHiddenTests, HideHiddenTestTracebacks, NameExercises
from nbformat.v4 import new_code_cell, new_notebook, new_output
from traitlets.config import Config

HIDDEN = "# three at once\n### BEGIN HIDDEN TESTS\nlocks.check_secret(withdraw)\n### END HIDDEN TESTS"


def _cell(source: str, grade_id: str, solution: bool = False, outputs=()):
    cell = new_code_cell(source, outputs=list(outputs))
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": solution, "grade": not solution,
                                 "locked": not solution, "points": 0 if solution else 1, "schema_version": 3}
    return cell


def _notebook():
    picture = new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<timeline picture>"})
    failure = new_output("error", ename="CheckFailed", evalue="withdraw lost an update.",
                         traceback=["Traceback", "----> 3 locks.check_secret(withdraw)", "CheckFailed: ..."])
    return new_notebook(cells=[
        _cell("def withdraw(lock, account, amount): ...", "withdraw", solution=True),
        _cell("locks.check_withdraw(withdraw)", "withdraw_tests"),
        _cell(HIDDEN, "withdraw_hidden", outputs=[picture, failure]),
        _cell("def book_ticket(lock, db, name): ...", "book_ticket", solution=True),
        _cell(HIDDEN, "book_ticket_hidden_queries"),
    ])


def _feedback(nb, config=None):
    """The order nbgrader_config.py gives them (after GetGrades, which needs a gradebook)."""
    config = config or Config()
    resources = {}
    for preprocessor in (NameExercises(config=config), HideHiddenTestTracebacks(config=config),
                         ClearHiddenTests(config=config, enforce_metadata=False)):
        nb, resources = preprocessor.preprocess(nb, resources)
    return nb


def test_each_graded_cell_is_named_by_its_exercise():
    labels = [cell.metadata["mpcourse"]["label"] for cell in _feedback(_notebook()).cells]
    assert labels == ["withdraw: your answer", "withdraw: test", "withdraw: hidden test", "book_ticket: your answer",
                      "book_ticket: hidden test (queries)"]


def test_hidden_tests_stay_hidden_and_their_picture_keeps_the_sentence():
    hidden = _feedback(_notebook()).cells[2]
    text = nbformat.writes(nbformat.v4.new_notebook(cells=[hidden]))
    assert "check_secret" not in text
    assert hidden.outputs[1].traceback == ["\x1b[0;31mCheckFailed\x1b[0m: withdraw lost an update."]
    assert hidden.outputs[0].metadata["image/png"]["alt"].endswith("withdraw lost an update.")


def test_html_exporter_settings_raise_no_configuration_warning(caplog):
    """nbconvert's HTMLExporter sets display_data_priority for every preprocessor it runs."""
    config = Config({"NbConvertBase": {"display_data_priority": ["text/html", "image/png", "text/plain"]}})
    with caplog.at_level(logging.WARNING):
        _feedback(_notebook(), config)
    assert not [r for r in caplog.records if "not recognized" in r.getMessage()]
