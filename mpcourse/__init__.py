"""mpcourse: the helper package of the Python multiprocessing course.

Importing it (the first cell of every notebook does) makes multiprocessing work the
same way in a notebook under every start method:

* ``COURSE_START_METHOD=fork|spawn|forkserver`` forces that start method;
* functions and classes defined in notebook cells travel to children by value.

Public API (submodules load on first use, so a spawned child pays only for what it needs):

=========================  ======================================================
``call_with_deadline``     run a call in a child process tree with a deadline,
                           report where each process is stuck, kill the tree
``DeadlineExceeded``       raised by it, with a message a student understands
``Timeline``               record events from any process; ``.plot()`` draws them
``start_method``           the start method in force
``show_source``            show (highlighted) the code a child runs, in the notebook
=========================  ======================================================
"""
from __future__ import annotations

from . import _startup

__all__ = [
    "DeadlineExceeded", "Timeline", "call_with_deadline", "show_source", "start_method",
]

_startup.apply_start_method()
_startup.install_by_value_transport()
_startup.install_child_setup()

_LAZY = {
    "call_with_deadline": "runner", "DeadlineExceeded": "runner",
    "Timeline": "timeline",
    "show_source": "tasks",
}


def start_method() -> str:
    """The start method children of this process use."""
    import multiprocessing

    return multiprocessing.get_start_method()


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'mpcourse' has no attribute {name!r}")
