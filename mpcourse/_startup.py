"""What importing the package changes in the interpreter: start method and transport.

Kept tiny and free of heavy imports: every spawned child that unpickles a course
function imports the package, and pays for whatever this module imports.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.process
import multiprocessing.reduction
import os
import pickle
import sys

START_METHOD_VARIABLE = "COURSE_START_METHOD"
_START_METHODS = ("fork", "spawn", "forkserver")


def apply_start_method() -> str:
    """Force the start method named by COURSE_START_METHOD; unset means the platform default."""
    wanted = os.environ.get(START_METHOD_VARIABLE, "").strip()
    if wanted:
        if wanted not in _START_METHODS:
            raise ValueError(f"{START_METHOD_VARIABLE}={wanted!r}: choose one of {', '.join(_START_METHODS)}")
        if wanted not in multiprocessing.get_all_start_methods():
            raise ValueError(f"{START_METHOD_VARIABLE}={wanted!r} is not available on {sys.platform}")
        if multiprocessing.get_start_method(allow_none=True) != wanted:
            multiprocessing.set_start_method(wanted, force=True)
    return multiprocessing.get_start_method()


def _main_is_importable() -> bool:
    """A child can re-import __main__ only when it is a script file, never in a notebook kernel."""
    main = sys.modules.get("__main__")
    if main is None or "ipykernel" in sys.modules or "IPython" in sys.modules and hasattr(main, "get_ipython"):
        return False
    return bool(getattr(main, "__file__", None))


def _findable_in_main(obj) -> bool:
    """Pickling by reference works: a child re-imports a script __main__ and finds obj in it."""
    if not _main_is_importable():
        return False
    return getattr(sys.modules["__main__"], getattr(obj, "__qualname__", ""), None) is obj


def _by_value(obj):
    """Reduce functions and classes that live in an unimportable __main__ to cloudpickle bytes."""
    is_code = isinstance(obj, type) or callable(obj) and hasattr(obj, "__code__")
    if is_code and getattr(obj, "__module__", None) == "__main__" and not _findable_in_main(obj):
        return pickle.loads, (dumps_by_value(obj),)
    return NotImplemented


def dumps_by_value(obj) -> bytes:
    """cloudpickle bytes of ``obj`` that keep multiprocessing's own reducers.

    A closure or a cell's global may hold a Lock, Queue, Barrier or Connection; plain
    cloudpickle does not know how multiprocessing sends those to a child (sockets and
    connections by handle), so it would fail under spawn and forkserver.
    """
    import collections
    import io

    import cloudpickle

    class _Pickler(cloudpickle.CloudPickler):
        dispatch_table = collections.ChainMap(multiprocessing.reduction.ForkingPickler._extra_reducers,
                                              cloudpickle.CloudPickler.dispatch_table)

    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


def install_by_value_transport() -> None:
    """Let multiprocessing pickle notebook-defined functions and classes by value.

    Under spawn and forkserver a child rebuilds its target by importing it; a function
    defined in a notebook cell lives in the kernel's __main__, which the child cannot
    import. ForkingPickler (used for Process objects, Queue and Pipe payloads) consults
    reducer_override for every object, so we hand such objects to cloudpickle.
    """
    multiprocessing.reduction.ForkingPickler.reducer_override = staticmethod(_by_value)  # type: ignore[attr-defined]


# --- stack reports from every process of a tree -------------------------------------
# A process that runs under a deadline (see runner.call_with_deadline) sets a dump
# folder; every process it starts then writes its Python stacks there on SIGUSR1.

_dump_dir: str | None = None


def enable_stack_dumps(folder: str) -> None:
    """Write this process's stacks to folder/<pid>.txt on SIGUSR1, and make children do the same."""
    global _dump_dir
    import faulthandler
    import signal

    if not hasattr(signal, "SIGUSR1"):      # Windows: no signal to ask a process for its stacks
        return
    _dump_dir = folder
    handle = open(os.path.join(folder, f"{os.getpid()}.txt"), "w")  # noqa: SIM115 (lives with the process)
    faulthandler.register(signal.SIGUSR1, file=handle, all_threads=True, chain=False)
    if not getattr(enable_stack_dumps, "_at_fork", False):
        os.register_at_fork(after_in_child=lambda: _dump_dir and enable_stack_dumps(_dump_dir))
        enable_stack_dumps._at_fork = True  # type: ignore[attr-defined]


class _ChildSetup:
    """Travels inside a pickled Process object; unpickling it sets the child up."""

    def __init__(self, dump_dir: str | None):
        self.dump_dir = dump_dir

    def __reduce__(self):
        return _setup_child, (self.dump_dir,)


def _setup_child(dump_dir: str | None) -> None:
    if dump_dir and os.path.isdir(dump_dir):
        enable_stack_dumps(dump_dir)


_original_start = multiprocessing.process.BaseProcess.start


def _start_with_setup(self) -> None:
    if _dump_dir is None:
        return _original_start(self)
    self._course_child_setup = _ChildSetup(_dump_dir)
    _original_start(self)
    write_process_name(_dump_dir, self.pid, self.name)


def write_process_name(folder: str, pid: int, name: str) -> None:
    """Stack reports name processes as multiprocessing does (Process-2), not only by pid."""
    try:
        with open(os.path.join(folder, f"{pid}.name"), "w", encoding="utf-8") as f:
            f.write(name)
    except OSError:
        pass


def install_child_setup() -> None:
    multiprocessing.process.BaseProcess.start = _start_with_setup  # type: ignore[method-assign]
