"""Grade one answer through the real checks of its exercise's test cells, as ``scripts/determinism.py`` does."""
from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass

from determinism import namespace_of, test_cells


@dataclass
class Graded:
    caught: bool            # some test cell of the exercise failed
    cell: str = ""          # the first test cell that failed
    mistake: str = ""       # its mistake id
    message: str = ""       # its sentence


class _Answer:
    """A stand-in for a corpus ``Student``: the answer cells ``namespace_of`` should use."""

    def __init__(self, sections: dict[str, str]):
        self.sections = sections


def exercise_cells(assignment: str, exercise: str) -> list[tuple[str, str]]:
    """(grade_id, source) of the exercise's test cells, visible first (notebook order)."""
    return [(gid, source) for gid, source, _points in test_cells(assignment)
            if gid.startswith(exercise + "_")]


def _check_calls(source: str, namespace: dict):
    """(check function, argument values) of every check call in a test cell, in order."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        check_fn = eval(compile(ast.Expression(node.func), "<cell>", "eval"), namespace)       # noqa: S307
        if not hasattr(check_fn, "judge"):
            continue
        args = tuple(eval(compile(ast.Expression(a), "<cell>", "eval"), namespace) for a in node.args)  # noqa: S307
        yield check_fn, args


def ported(assignment: str) -> bool:
    """True when the assignment's checks run on the judge/stage grader (``judge_fn(judge, *refs)``)."""
    namespace = namespace_of(assignment, _Answer({}))
    for _gid, source, _points in test_cells(assignment):
        for check_fn, _args in _check_calls(source, namespace):
            if next(iter(inspect.signature(check_fn.judge).parameters), "") != "judge":
                return False
    return True


def grade(assignment: str, exercise: str, answer: str) -> Graded:
    """Run the exercise's test cells against ``answer`` (its answer cell; the others are the reference's)."""
    from mpcourse.checks import CheckFailed, handover
    from mpcourse.judge import run_check

    namespace = namespace_of(assignment, _Answer({exercise: answer}))
    for gid, source in exercise_cells(assignment, exercise):
        try:
            for check_fn, args in _check_calls(source, namespace):
                verdict = run_check(check_fn.judge, handover(check_fn.label or "answer", args),
                                    timeout=check_fn.timeout, name=check_fn.label or "answer")
                if not verdict.ok:
                    return Graded(True, gid, verdict.mistake, verdict.message)
        except NameError as exc:
            return Graded(True, gid, "answer/not-defined", str(exc))
        except (CheckFailed, AttributeError) as exc:
            return Graded(True, gid, "answer/not-handed-over", str(exc))
    return Graded(False)
