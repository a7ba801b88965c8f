"""Mutation testing of the grader: mutants of each reference answer, judged by a stress oracle and by the checks.

    python scripts/mutation.py                                  # every assignment, N=20 oracle runs per mutant
    python scripts/mutation.py --assignment 03_locks --n 10
    python scripts/mutation.py --exercise transfer --verbose    # one exercise, every mutant listed
    python scripts/mutation.py --list --assignment 07_sockets   # only print the mutants

Each answer section of ``tests/corpus/<assignment>/reference.py`` is mutated
(``scripts/mutants/mutator.py``: drop or narrow a ``with lock:``, move a statement out of it,
remove or swap statements, change a count or a timeout, swap a loop's iterable, ``start`` ->
``run``, ...). Every mutant is then

* run N times by its exercise's stress oracle (``scripts/mutants/oracles/``: real processes,
  random delays, sizes and splits; each trial in a process group that is killed after it):
  *observably wrong* if any run breaks the contract of COURSE_SPEC.md, *correct* otherwise;
* graded through the real checks of its exercise's test cells (visible and hidden), as
  ``scripts/determinism.py`` grades the corpus: *caught* if any of them fails.

The report gives, per exercise: mutants, observably wrong, caught by the grader (target: all
the wrong ones), correct mutants refused (target: none), then every escaped wrong mutant and
every refused correct one with its diff. An escaped mutant is re-run for the full N to say how
often the oracle sees it fail; a refused one is re-run 2N times to make sure it is correct.
Mutants the grader failed on with an internal error (``grader/...``) are listed too.
Assignments whose checks are not on the current grader yet get the oracle's verdicts only.
``--corpus`` instead runs the oracles on the hand-written corpus and lists every file whose
``# expect:`` the oracle disagrees with (a check of the oracles themselves).
Exits 1 on any disagreement. Outside CI: a full run takes tens of minutes.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from course import CORPUS, read_student  # noqa: E402
from mutants import oracles  # noqa: E402
from mutants.mutator import OPERATORS, mutants  # noqa: E402
from mutants.report import ExerciseReport, Outcome, disagreements, listing, table, to_json  # noqa: E402
from mutants.trials import run_trials  # noqa: E402
from tqdm import tqdm  # noqa: E402


def reference_sections(assignment: str) -> dict[str, str]:
    return read_student(CORPUS / assignment / "reference.py").sections


def program(sections: dict[str, str], exercise: str, answer: str) -> str:
    """Every answer cell of the assignment, the exercise's replaced by ``answer`` (what the oracle loads)."""
    return "\n\n".join(answer if gid == exercise else source for gid, source in sections.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", action="append", default=[], help="only these (repeatable)")
    parser.add_argument("--exercise", action="append", default=[], help="only these answer grade_ids (repeatable)")
    parser.add_argument("--operator", action="append", default=[], choices=sorted(OPERATORS),
                        help="only mutants of these operators (repeatable)")
    parser.add_argument("--n", type=int, default=20, help="oracle runs per mutant (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the oracles' random choices (default 0)")
    parser.add_argument("--start-method", default=None, help="start method for grading (default: the platform's)")
    parser.add_argument("--no-grade", action="store_true", help="only run the oracles")
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    parser.add_argument("--verbose", action="store_true", help="list every mutant's verdicts")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--corpus", action="store_true",
                        help="instead: run the oracles on the corpus files and compare with their `# expect:` lines")
    args = parser.parse_args(argv)

    if args.start_method:
        multiprocessing.set_start_method(args.start_method, force=True)
        os.environ["COURSE_START_METHOD"] = args.start_method
    assignments = args.assignment or sorted(oracles.MODULES)
    if args.corpus:
        return corpus_agreement(assignments, args)
    operators = {k: v for k, v in OPERATORS.items() if k in args.operator} if args.operator else None
    work, references = [], {}
    for assignment in assignments:
        sections = reference_sections(assignment)
        for exercise in oracles.exercises(assignment):
            if args.exercise and exercise not in args.exercise:
                continue
            references[(assignment, exercise)] = sections[exercise]
            work.append((assignment, exercise, sections, mutants(sections[exercise], operators)))
    if args.list:
        for _assignment, exercise, _sections, found in work:
            for i, m in enumerate(found, 1):
                print(f"{exercise}#{i:<4} [{m.operator}] {m.description}")
        return 0

    from mutants.grading import grade, ported

    started = time.monotonic()
    is_ported = {a: not args.no_grade and ported(a) for a in assignments}
    reports: list[ExerciseReport] = []
    total = sum(len(found) + 1 for *_rest, found in work)
    with tqdm(total=total, unit="mutant", disable=not sys.stderr.isatty()) as bar:
        for assignment, exercise, sections, found in work:
            report = ExerciseReport(assignment, exercise)
            reports.append(report)
            bar.set_description(f"{exercise} (reference)")
            check = run_trials(assignment, exercise, program(sections, exercise, sections[exercise]), args.n,
                               args.seed, stop_early=False)
            bar.update(1)
            if check.error or check.wrong:
                report.reference_ok = False
                report.reference_note = check.error or check.summary()
                bar.update(len(found))
                continue
            if is_ported[assignment]:
                report.reference_graded = not grade(assignment, exercise, sections[exercise]).caught
            for i, mutant in enumerate(found, 1):
                bar.set_description(f"{exercise}#{i}")
                report.outcomes.append(judge(assignment, exercise, sections, i, mutant, args, is_ported[assignment],
                                             grade))
                bar.update(1)
    took = time.monotonic() - started
    print(table(reports))
    for r in reports:
        if r.reference_note:
            print(f"  {r.exercise}: the oracle refused the reference answer: {r.reference_note}")
    print(disagreements(reports, references))
    if args.verbose:
        print(listing(reports, references))
    print(f"{sum(len(r.outcomes) for r in reports)} mutants, oracle N={args.n}, seed {args.seed}, "
          f"in {took:.0f} s")
    if args.json:
        args.json.write_text(to_json(reports))
    bad = any((o.wrong and o.caught is False) or (not o.wrong and o.caught) or o.mistake.startswith("grader/")
              for r in reports for o in r.outcomes)
    return 1 if bad or not all(r.reference_ok for r in reports) else 0


def corpus_agreement(assignments: list[str], args) -> int:
    """The oracles' verdicts on the hand-written corpus against its ``# expect:`` lines (a check of the oracles)."""
    from course import corpus

    cases = []
    for assignment in assignments:
        sections = reference_sections(assignment)
        for student in corpus(assignment):
            for exercise in oracles.exercises(assignment):
                if args.exercise and exercise not in args.exercise:
                    continue
                if exercise in student.sections or exercise in student.expect:
                    cases.append((assignment, exercise, sections, student))
    disagree = []
    started = time.monotonic()
    for assignment, exercise, sections, student in tqdm(cases, unit="case", disable=not sys.stderr.isatty()):
        answer = student.sections.get(exercise, sections[exercise])
        trials = run_trials(assignment, exercise, program(sections, exercise, answer), args.n, args.seed)
        expect = student.expect.get(exercise, "pass")
        wrong = trials.wrong or bool(trials.error)
        if wrong != (expect != "pass"):
            disagree.append(f"  {assignment}/{student.id} {exercise}: expect {expect}, the oracle says "
                            f"{'wrong: ' + (trials.summary() or trials.error[-200:]) if wrong else 'correct'}"
                            + (f" ({trials.violations[0]['detail']})" if trials.violations else "")
                            + f"\n      why: {student.why}")
    print(f"{len(cases)} corpus cases, oracle N={args.n}, in {time.monotonic() - started:.0f} s: "
          f"{len(disagree)} where the oracle disagrees with `# expect:`")
    print("\n".join(disagree))
    return 1 if disagree else 0


def judge(assignment, exercise, sections, number, mutant, args, graded, grade) -> Outcome:
    """The oracle's and the grader's verdicts on one mutant, re-running the oracle where they disagree."""
    source = program(sections, exercise, mutant.source)
    trials = run_trials(assignment, exercise, source, args.n, args.seed)
    outcome = Outcome(exercise, number, mutant, trials.wrong or bool(trials.error),
                      trials.summary() if trials.wrong else trials.error[-300:],
                      trials.violations[0]["detail"] if trials.violations else "")
    if not graded:
        return outcome
    verdict = grade(assignment, exercise, mutant.source)
    outcome.caught, outcome.cell, outcome.mistake, outcome.message = (verdict.caught, verdict.cell, verdict.mistake,
                                                                      verdict.message)
    if outcome.wrong and not verdict.caught:            # a grader bug, or a flaky oracle: how often does it fail?
        full = run_trials(assignment, exercise, source, args.n, args.seed, stop_early=False)
        outcome.oracle = full.summary() or f"no violation in a second run of {full.runs} (first: {outcome.oracle})"
    elif not outcome.wrong and verdict.caught:          # a strict grader, or an oracle that missed it: look harder
        more = run_trials(assignment, exercise, source, 2 * args.n, args.seed + 1)
        if more.wrong:
            outcome.wrong, outcome.oracle = True, f"{more.summary()} (seed {args.seed + 1})"
            outcome.first_violation = more.violations[0]["detail"]
        else:
            outcome.oracle = f"{args.n} + {more.runs} runs"
    return outcome


if __name__ == "__main__":
    sys.exit(main())
