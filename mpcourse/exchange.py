"""nbgrader's exchange for this course: it carries notebooks, and only notebooks.

``nbgrader_config.py`` lists ``"*"`` in ``CourseDirectory.ignore`` so that
``generate_assignment`` and ``autograde`` copy no file but notebooks (a file a solution
cell wrote never reaches students). nbgrader's own exchange reads the same list to decide
what to copy, so with it Release, Fetch, Submit and Collect would all copy empty folders.
These classes drop the ``"*"`` while they copy and keep only notebooks instead; everything
else (paths, permissions, size limits, time stamps) is nbgrader's.
"""
from __future__ import annotations

from nbgrader.exchange.default import (
    ExchangeCollect, ExchangeFetchAssignment, ExchangeReleaseAssignment, ExchangeSubmit,
)


#: what the exchange copies: notebooks, and the submission's time stamp and secret that
#: nbgrader writes on Submit and reads after Collect (late penalties, feedback release)
KEPT = ["*.ipynb", "timestamp.txt", "submission_secret.txt"]


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
