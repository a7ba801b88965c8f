"""nbgrader configuration for the multiprocessing course: grading that protects itself."""
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties, CheckCellMetadata, DeduplicateIds, GetGrades, IgnorePattern, LimitOutput,
    OverwriteCells, OverwriteKernelspec, SaveAutoGrades,
)

from mpcourse.grading import GradingExecute

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))

# Only notebooks travel from source/ to release/ and back: files that a solution cell
# wrote while the instructor ran it (%%writefile answer.py, data dumps) never reach students.
# (nbgrader copies notebooks on their own; "*" stops it copying any other file.)
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*"]

# Execute each student notebook in a sandbox of its own (bubblewrap; grading is refused without
# one unless MPCOURSE_UNSAFE_NO_SANDBOX=1), with per-cell timeouts keyed on grade_id and a time
# budget for the whole notebook, checks judged by trusted judges outside every sandbox, a
# kernel that dies or hangs restarted instead of the notebook being dropped, and the sandbox
# (so every process it started) destroyed afterwards (see docs/grading-safety.md).
#
# MPCOURSE_AUTOGRADE_PHASE splits autograde in two for `mpcourse-grade` (mpcourse/parallel.py):
# "execute" (a worker runs the notebooks into a private scratch gradebook) and "record" (the
# parent runs the remaining preprocessors over the executed notebooks, alone, against the real
# gradebook); unset, autograde does both, as nbgrader always does.
_EXECUTE = [GradingExecute]
_RECORD = [IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades, AssignLatePenalties,
           CheckCellMetadata]
_PHASE = os.environ.get("MPCOURSE_AUTOGRADE_PHASE", "")
if _PHASE == "execute":
    c.Autograde.autograde_preprocessors = _EXECUTE
elif _PHASE == "record":
    c.Autograde.sanitize_preprocessors = [DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata]
    c.Autograde.autograde_preprocessors = _RECORD
else:
    c.Autograde.autograde_preprocessors = _EXECUTE + _RECORD
c.Execute.interrupt_on_timeout = True
c.Execute.raise_on_iopub_timeout = False
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 60

# Grading limits; the MPCOURSE_* variables let tests and benchmarks use short timeouts.
c.GradingExecute.test_cell_timeout = int(os.environ.get("MPCOURSE_TEST_CELL_TIMEOUT", 90))
c.GradingExecute.other_cell_timeout = int(os.environ.get("MPCOURSE_OTHER_CELL_TIMEOUT", 30))
c.GradingExecute.max_processes = int(os.environ.get("MPCOURSE_MAX_PROCESSES", 100))

# ---------------------------------------------------------------------------------------
# What students see: feedback, nbgrader's exchange, their working copies (mpcourse/feedback.py,
# mpcourse/exchange.py, scripts/course_setup.py).
from mpcourse import feedback  # noqa: E402

# Feedback shows each failure's sentence (wrapped) and picture, names each graded cell by its
# exercise in the summary, and never shows the hidden tests' code.
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, feedback.NameExercises,
                                   feedback.HideHiddenTestTracebacks, feedback.ClearHiddenTests]
c.ClearHiddenTests.enforce_metadata = False
c.GenerateFeedback.HTMLExporter.template_name = feedback.TEMPLATE_NAME     # scoped: Formgrader keeps its own
c.GenerateFeedback.HTMLExporter.template_file = feedback.TEMPLATE_FILE
c.GenerateFeedback.HTMLExporter.extra_template_basedirs = feedback.template_dirs()

# The student's side: nbgrader's exchange (Assignment List: Fetch, Validate, Submit) and
# the students' working copies. On one machine the exchange is the folder exchange/ here
# (python scripts/course_setup.py releases every assignment into it); on JupyterHub point
# MPCOURSE_EXCHANGE (or Exchange.root) at the shared folder, e.g. /srv/nbgrader/exchange.
# Fetch puts a student's copy in py-multiprocessing/<assignment>/ next to this file, never
# in the committed release/.
COURSE_ID = "py-multiprocessing"
c.CourseDirectory.course_id = COURSE_ID
c.Exchange.root = os.environ.get("MPCOURSE_EXCHANGE", os.path.join(c.CourseDirectory.root, "exchange"))
c.Exchange.assignment_dir = c.CourseDirectory.root
c.Exchange.path_includes_course = True
# nbgrader's exchange copies what CourseDirectory.ignore lets through, and "*" above lets
# nothing through: these classes copy the notebooks and the submission's receipts
# (mpcourse/exchange.py).
c.ExchangeFactory.release_assignment = "mpcourse.exchange.ReleaseAssignment"
c.ExchangeFactory.fetch_assignment = "mpcourse.exchange.FetchAssignment"
c.ExchangeFactory.submit = "mpcourse.exchange.Submit"
c.ExchangeFactory.collect = "mpcourse.exchange.Collect"
c.ExchangeFactory.release_feedback = "mpcourse.exchange.ReleaseFeedback"
# Formgrader's "Current configuration" panel dumps the configuration as JSON, which fails on
# JupyterLab's own extension settings and logs "Formgrader config is not serializable".
c.FormgradeExtension.debug = False
