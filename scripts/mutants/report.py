"""What one mutation run found, per exercise, as a table and the list of disagreements."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from .mutator import Mutant, unified_diff


@dataclass
class Outcome:
    exercise: str
    number: int                 # the mutant's index within its exercise (``withdraw#3``)
    mutant: Mutant
    wrong: bool                 # the oracle saw the contract broken
    oracle: str                 # the clauses it saw violated, with how often ("loses an update 4/20")
    first_violation: str = ""   # the detail of the first violation
    caught: bool | None = None  # None: not graded (the assignment is not on the current grader yet)
    cell: str = ""
    mistake: str = ""
    message: str = ""

    @property
    def name(self) -> str:
        return f"{self.exercise}#{self.number}"


@dataclass
class ExerciseReport:
    assignment: str
    exercise: str
    reference_ok: bool = True           # the oracle passed the reference answer N times
    reference_graded: bool | None = None
    reference_note: str = ""
    outcomes: list[Outcome] = field(default_factory=list)

    def counts(self) -> dict[str, int | None]:
        wrong = [o for o in self.outcomes if o.wrong]
        right = [o for o in self.outcomes if not o.wrong]
        graded = all(o.caught is not None for o in self.outcomes)
        return {"mutants": len(self.outcomes), "wrong": len(wrong),
                "caught": sum(bool(o.caught) for o in wrong) if graded else None,
                "refused": sum(bool(o.caught) for o in right) if graded else None}


def table(reports: list[ExerciseReport]) -> str:
    lines = [f"{'assignment':<22}{'exercise':<19}{'mutants':>8}{'wrong':>7}{'caught':>8}{'refused':>9}",
             "-" * 73]
    for r in reports:
        c = r.counts()
        caught = "-" if c["caught"] is None else f"{c['caught']}/{c['wrong']}"
        refused = "-" if c["refused"] is None else f"{c['refused']}/{c['mutants'] - c['wrong']}"
        note = "" if r.reference_ok else "  (the oracle refused the reference: not judged)"
        if r.reference_graded is False:
            note += "  (the grader refused the reference)"
        if c["caught"] is None and r.reference_ok:
            note += "  (not graded: the assignment is not on the current grader)"
        lines.append(f"{r.assignment:<22}{r.exercise:<19}{c['mutants']:>8}{c['wrong']:>7}{caught:>8}{refused:>9}{note}")
    lines.append("wrong = observably wrong (the oracle saw a contract clause broken); caught = of those, graded "
                 "below full marks; refused = correct mutants (no violation) graded below full marks")
    return "\n".join(lines)


def _block(o: Outcome, reference: str, why: str) -> str:
    diff = "\n".join("      " + line for line in unified_diff(reference, o.mutant.source).splitlines())
    return f"  {o.name} [{o.mutant.operator}] {o.mutant.description}\n    {why}\n{diff}"


def disagreements(reports: list[ExerciseReport], references: dict[tuple[str, str], str]) -> str:
    escaped, refused, errors = [], [], []
    for r in reports:
        reference = references[(r.assignment, r.exercise)]
        for o in r.outcomes:
            if o.caught and o.mistake.startswith("grader/"):
                errors.append(_block(o, reference, f"oracle: {o.oracle or 'no violation'}; grader: {o.cell} "
                                                   f"failed with {o.mistake}: {o.message}"))
            if o.wrong and o.caught is False:
                escaped.append(_block(o, reference, f"oracle: {o.oracle} (first: {o.first_violation}); "
                                                    "the grader gave full marks"))
            elif not o.wrong and o.caught:
                refused.append(_block(o, reference, f"oracle: no violation in {o.oracle or 'every run'}; "
                                                    f"grader: {o.cell} failed with {o.mistake}: {o.message}"))
    out = [f"escaped wrong mutants (grader bugs): {len(escaped)}", *escaped,
           f"correct mutants refused: {len(refused)}", *refused,
           f"mutants the grader failed on with an internal error (grader/...) instead of naming a mistake: "
           f"{len(errors)}", *errors]
    return "\n".join(out)


def listing(reports: list[ExerciseReport], references: dict[tuple[str, str], str]) -> str:
    """Every mutant with its verdicts (``--verbose``)."""
    out = []
    for r in reports:
        for o in r.outcomes:
            graded = "not graded" if o.caught is None else f"caught by {o.mistake}" if o.caught else "full marks"
            out.append(f"{o.name:<22} {'WRONG' if o.wrong else 'ok   '} {graded:<42} {o.mutant.description}"
                       + (f"\n{'':<29}oracle: {o.oracle} ({o.first_violation})" if o.wrong else ""))
    return "\n".join(out)


def to_json(reports: list[ExerciseReport]) -> str:
    return json.dumps([{**{k: v for k, v in asdict(r).items() if k != "outcomes"}, "counts": r.counts(),
                        "outcomes": [{**asdict(o), "name": o.name} for o in r.outcomes]} for r in reports], indent=1)
