"""What crosses between the judge and the stage: plain data only, and the hand-over of answers.

The judge (trusted) never unpickles anything a student wrote. Everything it receives
from the stage or from a participant is a JSON document, decoded here into plain
Python values (None, bool, int, float, str, bytes, list, tuple, dict, set): an object
of any other type arrives as an ``Opaque`` that equals nothing. So a result whose
``__eq__`` always says True, or whose unpickling runs code, cannot reach a verdict.

The other direction, the student's objects, travels as pickle bytes that only the
stage (next to the student's own code) loads: ``handover_dumps`` pickles functions
and classes defined in notebook cells by value, and replaces multiprocessing objects
they capture (a cell-level ``LOCK = multiprocessing.Lock()``, a ``Queue``, a
``Value``) by a fresh object of the same kind, so every correct style can be graded.
"""
from __future__ import annotations

import base64
import io
import json
import math
import pickle

#: the largest message either side accepts (a megabyte-sized result, base64-encoded, several times)
MAX_MESSAGE = 64 * 2**20
_MAX_DEPTH = 40


class Opaque:
    """A value of a type the judge does not accept; it equals nothing but itself."""

    def __init__(self, type_name: str, text: str = ""):
        self.type_name = type_name
        self.text = text

    def __repr__(self) -> str:
        return self.text or f"<{self.type_name} object>"

    def __eq__(self, other) -> bool:
        return other is self

    __hash__ = object.__hash__


def encode(value, hook=None, _depth: int = 0):
    """A JSON-able form of ``value``; only exact built-in types keep their value.

    ``hook(value)`` (the judge's side only) may return the form of its own objects.
    """
    if hook is not None:
        special = hook(value)
        if special is not None:
            return special
    kind = type(value)
    if value is None or kind in (bool, str):
        return value
    if kind is int:
        return value if abs(value) < 2**53 else {"i": str(value)}
    if kind is float:
        return value if math.isfinite(value) else {"f": repr(value)}
    if _depth > _MAX_DEPTH:
        return {"?": kind.__name__, "r": "(nested too deep)"}
    if kind in (bytes, bytearray):
        return {"b": base64.b64encode(value).decode("ascii")}
    if kind is list:
        return [encode(v, hook, _depth + 1) for v in value]
    if kind is tuple:
        return {"t": [encode(v, hook, _depth + 1) for v in value]}
    if kind in (set, frozenset):
        return {"s": [encode(v, hook, _depth + 1) for v in value]}
    if kind is dict:
        return {"d": [[encode(k, hook, _depth + 1), encode(v, hook, _depth + 1)] for k, v in value.items()]}
    try:
        text = repr(value)[:80]
    except Exception:  # noqa: BLE001 (a student's __repr__ may raise anything)
        text = ""
    return {"?": getattr(kind, "__name__", "object")[:60], "r": text}


def decode(value, hook=None):
    """The inverse of ``encode``: plain values or ``Opaque``.

    ``hook`` (the stage's side only: what the judge sends is trusted) turns ``{"$": ...}``
    forms back into objects; the judge decodes without one, so a student cannot name them.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [decode(v, hook) for v in value]
    if hook is not None and isinstance(value, dict) and "$" in value:
        return hook(value)
    if isinstance(value, dict) and len(value) in (1, 2):
        if "b" in value:
            return base64.b64decode(value["b"])
        if "t" in value:
            return tuple(decode(v, hook) for v in value["t"])
        if "s" in value:
            items = [decode(v, hook) for v in value["s"]]
            try:
                return set(items)
            except TypeError:
                return Opaque("set", "a set")
        if "d" in value:
            out = {}
            for pair in value["d"]:
                key = decode(pair[0], hook)
                try:
                    out[key] = decode(pair[1], hook)
                except TypeError:
                    return Opaque("dict", "a dict with unhashable keys")
            return out
        if "i" in value:
            return int(value["i"])
        if "f" in value:
            return float(value["f"])
        if "?" in value:
            return Opaque(str(value["?"]), str(value.get("r", "")))
    return Opaque("unknown", "")


def dumps(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def loads(data: bytes) -> dict:
    message = json.loads(data)
    if not isinstance(message, dict):
        raise ValueError("a message must be a JSON object")
    return message


# ----------------------------------------------------------------------------------
# the hand-over of a student's objects (kernel -> stage)

def _fresh(kind: str, *args):
    """Rebuild a multiprocessing object of ``kind`` in the stage (a new one: state cannot travel)."""
    import multiprocessing

    ctx = multiprocessing.get_context()
    if kind in ("Value", "RawValue", "Array", "RawArray"):
        return getattr(ctx, kind)(*args)
    if kind == "Event":
        event = ctx.Event()
        if args and args[0]:
            event.set()
        return event
    if kind in ("Semaphore", "BoundedSemaphore"):
        return getattr(ctx, kind)(*args)
    if kind in ("thread.Lock", "thread.RLock"):
        import threading

        return threading.Lock() if kind == "thread.Lock" else threading.RLock()
    return getattr(ctx, kind)(*args)


def _fresh_reduction(obj):
    """(callable, args) that rebuild ``obj`` as a fresh object of its kind, or None for other objects."""
    import multiprocessing.queues
    import multiprocessing.sharedctypes
    import multiprocessing.synchronize as sync
    import threading

    if isinstance(obj, sync.Barrier):
        return _fresh, ("Barrier", obj.parties)
    if isinstance(obj, sync.Event):
        return _fresh, ("Event", obj.is_set())
    if isinstance(obj, sync.Condition):
        return _fresh, ("Condition",)
    if isinstance(obj, sync.RLock):
        return _fresh, ("RLock",)
    if isinstance(obj, sync.Lock):
        return _fresh, ("Lock",)
    if isinstance(obj, sync.BoundedSemaphore):
        return _fresh, ("BoundedSemaphore", _semaphore_value(obj))
    if isinstance(obj, sync.Semaphore):
        return _fresh, ("Semaphore", _semaphore_value(obj))
    if isinstance(obj, multiprocessing.queues.JoinableQueue):
        return _fresh, ("JoinableQueue", obj._maxsize)
    if isinstance(obj, multiprocessing.queues.Queue):
        return _fresh, ("Queue", obj._maxsize)
    if isinstance(obj, multiprocessing.queues.SimpleQueue):
        return _fresh, ("SimpleQueue",)
    shared = _shared_ctypes(obj)
    if shared is not None:
        return shared
    if isinstance(obj, type(threading.Lock())):
        return _fresh, ("thread.Lock",)
    if isinstance(obj, type(threading.RLock())):
        return _fresh, ("thread.RLock",)
    return None


def _semaphore_value(sem) -> int:
    try:
        return max(sem.get_value(), 0)
    except (NotImplementedError, AttributeError):      # macOS cannot tell
        return 1


def _shared_ctypes(obj):
    """Value/Array (synchronized or raw) as a fresh one with the same type and contents."""
    import ctypes
    import multiprocessing.sharedctypes as sc

    lock = None
    raw = obj
    if isinstance(obj, sc.SynchronizedBase):
        raw, lock = obj.get_obj(), True
    if not isinstance(raw, (ctypes._SimpleCData, ctypes.Array)) or not hasattr(raw, "_wrapper"):
        return None                      # only multiprocessing's shared ctypes carry a heap _wrapper
    if isinstance(raw, ctypes.Array):
        kind = "Array" if lock else "RawArray"
        return _fresh, (kind, raw._type_, list(raw))
    kind = "Value" if lock else "RawValue"
    return _fresh, (kind, type(raw), raw.value)


class _CannotHandOver(Exception):
    pass


def _refuse(obj):
    """A sentence for objects that cannot reach the grader, or None."""
    import multiprocessing.connection
    import multiprocessing.managers

    if isinstance(obj, multiprocessing.connection.Connection):
        return ("it uses a Pipe connection created outside the function (in another cell): create the Pipe "
                "inside the function that uses it, or pass the connection as an argument")
    if isinstance(obj, multiprocessing.managers.BaseProxy):
        return ("it uses a Manager object created in another cell: create the Manager inside the function "
                "(`with multiprocessing.Manager() as manager:`)")
    if isinstance(obj, multiprocessing.managers.BaseManager):
        return "it uses a Manager started in another cell: start the Manager inside the function"
    return None


def handover_dumps(objects: tuple) -> bytes:
    """Pickle a student's objects for the stage (functions by value, multiprocessing objects fresh)."""
    import cloudpickle

    class HandOver(cloudpickle.CloudPickler):
        def reducer_override(self, obj):
            reduction = _fresh_reduction(obj)
            if reduction is not None:
                return reduction
            why = _refuse(obj)
            if why is not None:
                raise _CannotHandOver(why)
            return super().reducer_override(obj)

    buffer = io.BytesIO()
    try:
        HandOver(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(objects)
    except _CannotHandOver as exc:
        raise ValueError(str(exc)) from None
    return buffer.getvalue()


def handover_loads(data: bytes) -> tuple:
    """In the stage only: the student's objects back (this runs their code, e.g. class bodies)."""
    return pickle.loads(data)
