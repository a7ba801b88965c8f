"""Feedback a student can read: each lost point named by its exercise, sentences that wrap,
the timeline picture, and nothing of the hidden tests' code.

``nbgrader_config.py`` runs these preprocessors in ``nbgrader generate_feedback`` and renders
the result with the course's template (``templates/course_feedback/course_feedback.html.j2``), which extends
nbgrader's ``feedback`` template: its summary names each graded cell by its exercise
(``withdraw: hidden test``, not ``Test cell``) and its CSS wraps long lines.
"""
from __future__ import annotations

import os

import nbgrader
from nbgrader.preprocessors import ClearHiddenTests as _NbgraderClearHiddenTests
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List

TEMPLATE_NAME = "course_feedback"
#: not index.html.j2, so that its ``{% extends 'index.html.j2' %}`` finds nbgrader's feedback template
TEMPLATE_FILE = "course_feedback.html.j2"
HIDDEN_MARK = "BEGIN HIDDEN TESTS"


def template_dirs() -> list[str]:
    """Where ``course_feedback`` and the nbgrader ``feedback`` template it extends live."""
    nbgrader_templates = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader",
                                      "templates")
    return [os.path.join(os.path.dirname(__file__), "templates"), nbgrader_templates]


class _FeedbackPreprocessor(NbGraderPreprocessor):
    # nbconvert's HTMLExporter configures display_data_priority for every preprocessor;
    # nbgrader's base class declares it without config=True, so traitlets warns about it
    display_data_priority = List(NbGraderPreprocessor.display_data_priority.default_value).tag(config=True)


def _exercise(grade_id: str, answers: list[str]) -> str:
    owners = [a for a in answers if grade_id == a or grade_id.startswith(a + "_")]
    return max(owners, key=len) if owners else grade_id


class NameExercises(_FeedbackPreprocessor):
    """Label each graded cell with its exercise, and each timeline picture with its sentence.

    A test cell's grade_id starts with its answer's grade_id (``withdraw_hidden`` belongs to
    ``withdraw``); the template reads ``cell.metadata.mpcourse`` (``exercise``, ``label``).
    Runs before the hidden tests are cleared, which is how it tells hidden from visible.
    """

    def preprocess(self, nb, resources):
        answers = [cell.metadata.nbgrader["grade_id"] for cell in nb.cells
                   if cell.metadata.get("nbgrader", {}).get("solution")]
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade_id") and (meta.get("grade") or meta.get("solution") or meta.get("task")):
                cell.metadata["mpcourse"] = {"exercise": _exercise(meta["grade_id"], answers),
                                             "label": self._label(cell, meta, answers)}
            self._describe_pictures(cell)
        return nb, resources

    @staticmethod
    def _label(cell, meta, answers: list[str]) -> str:
        """``withdraw: your answer``, ``withdraw: test``, ``book_ticket: hidden test (queries)``."""
        grade_id = meta["grade_id"]
        name = _exercise(grade_id, answers)
        if meta.get("solution"):
            return f"{name}: your answer"
        if not (cell.cell_type == "code" and meta.get("grade")):
            return name
        rest = grade_id[len(name) + 1:].split("_") if grade_id.startswith(name + "_") else []
        detail = " ".join(word for word in rest if word not in {"test", "tests", "hidden"})
        kind = "hidden test" if HIDDEN_MARK in cell.source else "test"
        return f"{name}: {kind}" + (f" ({detail})" if detail else "")

    @staticmethod
    def _describe_pictures(cell) -> None:
        outputs = cell.get("outputs", [])
        sentence = next((o.get("evalue", "") for o in outputs if o.get("output_type") == "error"), "")
        for output in outputs:
            if "image/png" in output.get("data", {}):
                about = output.setdefault("metadata", {}).setdefault("image/png", {})
                about.setdefault("alt", f"Timeline of what the processes did. {sentence}".strip())


class HideHiddenTestTracebacks(_FeedbackPreprocessor):
    """A hidden test's error keeps its last line (the sentence), not the code around it.

    A traceback quotes the lines of the cell that raised, and ClearHiddenTests only
    clears the cell's source, so without this the hidden checks would show.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and HIDDEN_MARK in cell.source:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"\x1b[0;31m{output.get('ename')}\x1b[0m: {output.get('evalue')}"]
        return cell, resources


class ClearHiddenTests(_FeedbackPreprocessor, _NbgraderClearHiddenTests):
    """nbgrader's ClearHiddenTests (same name, same ``c.ClearHiddenTests`` settings), without the warning."""
