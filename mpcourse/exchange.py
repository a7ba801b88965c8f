"""nbgrader's exchange for this course: it carries notebooks and nbgrader's receipts, nothing else.

``nbgrader_config.py`` lists ``"*"`` in ``CourseDirectory.ignore`` so that
``generate_assignment`` and ``autograde`` copy no file but notebooks (a file a solution
cell wrote never reaches students). nbgrader's own exchange reads the same list to decide
what to copy, so with it Release, Fetch, Submit and Collect would all copy empty folders.
These classes drop the ``"*"`` while they copy and keep only notebooks (and nbgrader's
receipts) instead; everything else (paths, permissions, size limits) is nbgrader's.
"""
from __future__ import annotations

import glob
import os
import shutil

from nbgrader.exchange.default import (
    ExchangeCollect, ExchangeFetchAssignment, ExchangeReleaseAssignment, ExchangeReleaseFeedback, ExchangeSubmit,
)


#: the submission's time stamp and secret: nbgrader writes them on Submit and needs them
#: again to release feedback (late penalties, which student may fetch which feedback)
RECEIPTS = ["timestamp.txt", "submission_secret.txt"]
#: what the exchange copies
KEPT = ["*.ipynb", *RECEIPTS]


class _NotebooksOnly:
    def do_copy(self, src, dest, *args, **kwargs):
        # the course directory may be shared (Formgrader keeps one), so restore it even on error
        coursedir = self.coursedir
        saved = coursedir.ignore, coursedir.include
        coursedir.ignore = [pattern for pattern in coursedir.ignore if pattern != "*"]
        coursedir.include = KEPT
        try:
            return super().do_copy(src, dest, *args, **kwargs)
        finally:
            coursedir.ignore, coursedir.include = saved


class ReleaseAssignment(_NotebooksOnly, ExchangeReleaseAssignment):
    """``nbgrader release_assignment``: release/<assignment> -> the exchange's outbound folder."""


class FetchAssignment(_NotebooksOnly, ExchangeFetchAssignment):
    """Assignment List's *Fetch*: the outbound folder -> the student's working copy."""


class Submit(_NotebooksOnly, ExchangeSubmit):
    """Assignment List's *Submit*: the student's working copy -> the exchange's inbound folder."""


class Collect(_NotebooksOnly, ExchangeCollect):
    """``nbgrader collect``: the inbound folder -> submitted/<student>/<assignment>."""


class ReleaseFeedback(ExchangeReleaseFeedback):
    """``nbgrader release_feedback``: feedback/<student>/<assignment> -> the exchange.

    nbgrader looks for each submission's receipts beside its feedback, but with ``"*"``
    ignored they never leave submitted/ (autograde and generate_feedback copy only
    notebooks), so they are brought over from there first.
    """

    def copy_files(self):
        feedback = self.coursedir.format_path(self.coursedir.feedback_directory, "*", self.coursedir.assignment_id)
        for folder in glob.glob(feedback):
            student = os.path.basename(os.path.dirname(folder))
            submitted = self.coursedir.format_path(self.coursedir.submitted_directory, student,
                                                   self.coursedir.assignment_id)
            for name in RECEIPTS:
                if not os.path.exists(os.path.join(folder, name)) and os.path.exists(os.path.join(submitted, name)):
                    shutil.copyfile(os.path.join(submitted, name), os.path.join(folder, name))
        return super().copy_files()
