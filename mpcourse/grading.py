"""The nbgrader side: per-cell timeouts and a kernel that leaves no process behind.

``nbgrader_config.py`` puts ``GradingExecute`` in place of nbgrader's ``Execute``.
"""
from __future__ import annotations

import os
import uuid

from nbgrader.preprocessors import Execute, NbGraderPreprocessor

from .runner import become_subreaper, kill_tree

KERNEL_TREE_VARIABLE = "MPCOURSE_KERNEL_TREE"

#: seconds a cell may run during grading, by grade_id (test cells restored from the
#: gradebook by nbgrader, so a student cannot change them); checks have their own,
#: shorter deadlines, so these are a backstop for code that hangs the kernel itself
CELL_TIMEOUTS: dict[str, int] = {}
TEST_CELL_TIMEOUT = 90
OTHER_CELL_TIMEOUT = 30


def cell_timeout(cell) -> int:
    """The timeout of one cell during grading, keyed on its grade_id."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    grade_id = meta.get("grade_id")
    if grade_id in CELL_TIMEOUTS:
        return CELL_TIMEOUTS[grade_id]
    return TEST_CELL_TIMEOUT if meta.get("grade") and not meta.get("solution") else OTHER_CELL_TIMEOUT


class GradingExecute(Execute):
    """nbgrader's Execute, made safe for unattended grading.

    * each cell's timeout comes from ``cell_timeout`` (by grade_id);
    * an IOPub timeout never aborts the notebook;
    * every process the kernel started is killed when the notebook is done: found by
      an environment tag set for this kernel, and (Linux) by making nbgrader a child
      subreaper so that orphans that left the kernel's session come back to us.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.timeout_func = cell_timeout
        self.raise_on_iopub_timeout = False
        become_subreaper()

    def preprocess(self, nb, resources=None, km=None):
        token = uuid.uuid4().hex
        before = _children()
        old = os.environ.get(KERNEL_TREE_VARIABLE)
        os.environ[KERNEL_TREE_VARIABLE] = token          # the kernel inherits it, and so do its children
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if old is None:
                os.environ.pop(KERNEL_TREE_VARIABLE, None)
            else:
                os.environ[KERNEL_TREE_VARIABLE] = old
            leftovers = kill_tree(token=token, variable=KERNEL_TREE_VARIABLE)
            for pid in _children() - before:               # orphans that cleared their environment
                leftovers += kill_tree(pid)
            if leftovers:
                self.log.warning("killed %d process(es) the submission left running", leftovers)


def _children() -> set[int]:
    import psutil

    try:
        return {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()


class HideHiddenTestTracebacks(NbGraderPreprocessor):
    """Feedback: a hidden test's error keeps its last line (the sentence), not the code around it.

    A traceback quotes the lines of the cell that raised, and ClearHiddenTests only
    clears the cell's source, so without this the hidden checks would show.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and "BEGIN HIDDEN TESTS" in cell.source:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"\x1b[0;31m{output.get('ename')}\x1b[0m: {output.get('evalue')}"]
        return cell, resources
