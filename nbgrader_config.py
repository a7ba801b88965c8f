"""nbgrader configuration for the multiprocessing course: grading that protects itself."""
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties, CheckCellMetadata, ClearHiddenTests, GetGrades, IgnorePattern, LimitOutput,
    SaveAutoGrades,
)

from mpcourse.grading import GradingExecute, HideHiddenTestTracebacks

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))

# Only notebooks travel from source/ to release/ and back: files that a solution cell
# wrote while the instructor ran it (%%writefile answer.py, data dumps) never reach students.
# (nbgrader copies notebooks on their own; "*" stops it copying any other file.)
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*"]

# Execute student notebooks with per-cell timeouts keyed on grade_id, no notebook
# dropped on an IOPub timeout, and every leftover process killed afterwards.
c.Autograde.autograde_preprocessors = [
    GradingExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
    AssignLatePenalties, CheckCellMetadata,
]
c.Execute.interrupt_on_timeout = True
c.Execute.raise_on_iopub_timeout = False
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 60

# Feedback shows each failure's sentence and picture, never the hidden tests' code.
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, HideHiddenTestTracebacks,
                                   ClearHiddenTests]
c.ClearHiddenTests.enforce_metadata = False
